import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { callbackJobId } from '../../lib/callbacks/handler.js';
import {
  type CallbackBinding,
  callbackToken,
  callbackTokenV1,
  callbackUrls,
  keyFromSecret,
  keyId,
  keyRingFromSecret,
  newCallbackBinding,
  TOKEN_MARGIN_MS,
  verifyCallbackToken,
} from '../../lib/callbacks/token.js';

const EX = 'ex_01JDZ7ABCDEFGHJKMNPQRSTVWX';
const key = randomBytes(32);
const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;
const binding: CallbackBinding = { nonce: 'AAAAAAAAAAAAAAAA', expiresAt: NOW + 48 * HOUR };

describe('callback tokens (v2)', () => {
  it('name the export, page and attempt, and verify only under their key', () => {
    const t = callbackToken(key, EX, 3, binding);
    expect(t).toMatch(
      /^ex_[0-9A-Z]{26}\.3\.[A-Za-z0-9_-]{16}\.[0-9a-z]+\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{22}$/,
    );
    // URL-safe as it is, and short.
    expect(encodeURIComponent(t)).toBe(t);
    expect(callbackToken(key, EX, 999_999, binding).length).toBeLessThan(120);
    expect(verifyCallbackToken(key, t, NOW)).toEqual({
      ok: true,
      target: { exportId: EX, page: 3, version: 2, nonce: binding.nonce },
    });
    expect(verifyCallbackToken(randomBytes(32), t, NOW)).toEqual({ ok: false, reason: 'unknown key id' });
    // The MAC binds every field: another page, export, nonce, expiry or key id is refused.
    const [, , nonce, exp, kid] = t.split('.').slice(0);
    for (const forged of [
      t.replace('.3.', '.4.'),
      t.replace(EX, 'ex_01JDZ7ABCDEFGHJKMNPQRSTVWY'),
      t.replace(`.${nonce}.`, '.BBBBBBBBBBBBBBBB.'),
      t.replace(`.${exp}.`, `.${(Number.parseInt(exp!, 36) + 3600).toString(36)}.`),
    ]) {
      expect(verifyCallbackToken(key, forged, NOW), forged).toEqual({ ok: false, reason: 'bad mac' });
    }
    expect(kid).toBe(keyId(key));
    for (const bad of ['', 'x', `${EX}.3`, `${EX}.0.${t.split('.')[2]}`, `${t}x`]) {
      expect(verifyCallbackToken(key, bad, NOW).ok, bad).toBe(false);
    }
  });

  it("expire: the job's maximum age plus a margin after the URL was made", () => {
    const b = newCallbackBinding(24 * HOUR, NOW);
    expect(b.expiresAt).toBe(NOW + 24 * HOUR + TOKEN_MARGIN_MS);
    const t = callbackToken(key, EX, 1, b);
    expect(verifyCallbackToken(key, t, b.expiresAt - 1_000).ok).toBe(true);
    expect(verifyCallbackToken(key, t, b.expiresAt)).toEqual({ ok: false, reason: 'token expired' });
    // Each attempt its own nonce.
    expect(newCallbackBinding(24 * HOUR, NOW).nonce).not.toBe(b.nonce);
  });

  it('verify under the previous key after a rotation; new ones are signed with the current key', () => {
    const old = randomBytes(48);
    const fresh = randomBytes(48);
    const before = callbackToken(old, EX, 2, binding);
    const ring = keyRingFromSecret(
      JSON.stringify({ current: fresh.toString('base64'), previous: old.toString('base64') }),
    );
    expect(verifyCallbackToken(ring, before, NOW)).toMatchObject({ ok: true, target: { page: 2 } });
    const after = callbackToken(ring, EX, 2, binding);
    expect(after.split('.')[4]).toBe(keyId(fresh));
    expect(verifyCallbackToken(fresh, after, NOW).ok).toBe(true);
    // The previous key removed: its tokens are refused.
    expect(verifyCallbackToken(fresh, before, NOW)).toEqual({ ok: false, reason: 'unknown key id' });
    // One key per line (the first signs), and the single-key secret of before.
    const lines = keyRingFromSecret(`${fresh.toString('base64')}\n${old.toString('base64')}\n`);
    expect(lines.keys.map(keyId)).toEqual([keyId(fresh), keyId(old)]);
    expect(keyRingFromSecret(old.toString('base64')).keys.map(keyId)).toEqual([keyId(old)]);
    expect(() => keyRingFromSecret('{"current": 1}')).toThrow(/current/);
    expect(() => keyRingFromSecret('{"current": "short"}')).toThrow(/at least 32 bytes/);
  });

  it('v1 tokens (made before v2) still verify, as version 1 without a nonce', () => {
    const t = callbackTokenV1(key, EX, 3);
    expect(t).toMatch(/^ex_[0-9A-Z]{26}\.3\.[A-Za-z0-9_-]{22}$/);
    expect(verifyCallbackToken(key, t, NOW)).toEqual({
      ok: true,
      target: { exportId: EX, page: 3, version: 1 },
    });
    expect(verifyCallbackToken({ keys: [randomBytes(32), key] }, t, NOW).ok).toBe(true);
    expect(verifyCallbackToken(randomBytes(32), t, NOW)).toEqual({ ok: false, reason: 'bad mac' });
    expect(verifyCallbackToken(key, t.replace('.3.', '.4.'), NOW).ok).toBe(false);
  });

  it('make URLs under the base, and refuse short keys', () => {
    expect(callbackUrls('https://api.example.com/x/', key)(EX, 1, binding)).toBe(
      `https://api.example.com/x/callbacks/zoho/${callbackToken(key, EX, 1, binding)}`,
    );
    expect(() => callbackToken(Buffer.alloc(8), EX, 1, binding)).toThrow(/at least 32 bytes/);
    expect(() => callbackToken(key, EX, 1, { ...binding, nonce: 'short' })).toThrow(/nonce/);
    expect(keyFromSecret(randomBytes(48).toString('base64')).length).toBe(48);
    expect(() => keyFromSecret('short')).toThrow();
  });
});

describe('callbackJobId', () => {
  const detail = { data: [{ id: '3652397000000646004', state: 'COMPLETED' }] };
  it.each([
    ['JSON', JSON.stringify(detail), 'application/json', '3652397000000646004'],
    ['JSON with charset', JSON.stringify(detail), 'application/json; charset=utf-8', '3652397000000646004'],
    [
      'form',
      `data=${encodeURIComponent(JSON.stringify(detail.data))}`,
      'application/x-www-form-urlencoded',
      '3652397000000646004',
    ],
    ['a numeric id (digits kept as a string)', '{"data":[{"id":12345}]}', 'application/json', '12345'],
    ['top-level job_id', '{"job_id":"3652397000000646004"}', undefined, '3652397000000646004'],
    ['no data', '{"data":[]}', 'application/json', undefined],
    ['a non-digit id', '{"data":[{"id":"12a"}]}', 'application/json', undefined],
    ['a 20-digit id', '{"data":[{"id":"12345678901234567890"}]}', 'application/json', undefined],
    ['not JSON', 'nope', 'application/json', undefined],
  ])('%s', (_n, body, ct, want) => {
    expect(callbackJobId(body, ct)).toBe(want);
  });
});
