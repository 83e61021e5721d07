import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { callbackJobId } from '../../lib/callbacks/handler.js';
import {
  callbackToken,
  callbackUrls,
  keyFromSecret,
  verifyCallbackToken,
} from '../../lib/callbacks/token.js';

const EX = 'ex_01JDZ7ABCDEFGHJKMNPQRSTVWX';
const key = randomBytes(32);

describe('callback tokens', () => {
  it('name the export and page, and verify only under their key', () => {
    const t = callbackToken(key, EX, 3);
    expect(t).toMatch(/^ex_[0-9A-Z]{26}\.3\.[A-Za-z0-9_-]{22}$/);
    expect(verifyCallbackToken(key, t)).toEqual({ exportId: EX, page: 3 });
    expect(verifyCallbackToken(randomBytes(32), t)).toBeUndefined();
    // The MAC binds the page: the same MAC with another page (or export) is refused.
    expect(verifyCallbackToken(key, t.replace('.3.', '.4.'))).toBeUndefined();
    expect(verifyCallbackToken(key, t.replace(EX, 'ex_01JDZ7ABCDEFGHJKMNPQRSTVWY'))).toBeUndefined();
    for (const bad of ['', 'x', `${EX}.3`, `${EX}.0.${t.split('.')[2]}`, `${t}x`]) {
      expect(verifyCallbackToken(key, bad), bad).toBeUndefined();
    }
  });

  it('make URLs under the base, and refuse short keys', () => {
    expect(callbackUrls('https://api.example.com/x/', key)(EX, 1)).toBe(
      `https://api.example.com/x/callbacks/zoho/${callbackToken(key, EX, 1)}`,
    );
    expect(() => callbackToken(Buffer.alloc(8), EX, 1)).toThrow(/at least 32 bytes/);
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
