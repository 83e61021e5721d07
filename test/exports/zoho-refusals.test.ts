/**
 * `POST /exports` creates the first Zoho job during the request, so Zoho's answer is the API's: a
 * refusal is a 4xx whose `error.code` is Zoho's code; Zoho unreachable or throttling is a 503 with
 * `Retry-After`. Either way nothing is written (exports, jobs, idempotency keys), and a key used on a
 * refused request is free again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Fault } from '../../local/fake-zoho/types.js';
import { apiOf, creates, snapshot } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { brokerFor, clientFor, FAKE_CREDENTIALS } from '../support/zoho.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const post = (hh: Harness, b: unknown, headers: Record<string, string> = {}) =>
  apiOf(hh)('POST', '/exports', { body: JSON.stringify(b), headers });

/** Posts `b` and expects a refusal that wrote nothing; returns the answer. */
async function refused(hh: Harness, b: unknown, headers: Record<string, string> = {}) {
  const before = await snapshot(hh);
  const r = await post(hh, b, headers);
  expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
  expect(Object.keys(r.body)).toEqual(['error']);
  expect(typeof r.body.error.message).toBe('string');
  expect(r.headers.location).toBeUndefined();
  expect(await snapshot(hh)).toEqual(before);
  return r;
}

describe('Zoho refuses the first job: a 4xx with Zoho’s code, nothing written', () => {
  it.each([
    ['an unknown module', { module: 'Not_A_Module' }, 'INVALID_MODULE'],
    ['Notes', { module: 'Notes' }, 'MODULE_NOT_SUPPORTED'],
    ['Attachments', { module: 'Attachments' }, 'MODULE_NOT_SUPPORTED'],
    ['Emails', { module: 'Emails' }, 'MODULE_NOT_SUPPORTED'],
    ['an unknown field', { module: 'Contacts', fields: ['Last_Name', 'No_Such_Field'] }, 'INVALID_DATA'],
    ['an unknown lookup field', { module: 'Contacts', fields: ['Account_Name.Nope'] }, 'INVALID_DATA'],
  ])('%s → %s', async (_n, b, code) => {
    h = await pipelineHarness();
    const r = await refused(h, b, { 'idempotency-key': `k-${code}` });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(creates(h)).toHaveLength(1);
    expect(creates(h)[0]!.status).toBe(400);
  });

  it('the daily job limit used up (fake option dailyJobLimit) → LIMIT_EXCEEDED; a fault too', async () => {
    h = await pipelineHarness({ fake: { dailyJobLimit: 1 } });
    expect((await post(h, { module: 'Contacts' })).status).toBe(201);
    const r = await refused(h, { module: 'Leads' });
    expect([r.status, r.body.error.code]).toEqual([400, 'LIMIT_EXCEEDED']);
    h.fake.setOptions({ dailyJobLimit: 100 });
    h.fake.inject({ kind: 'create', action: { type: 'error', code: 'LIMIT_EXCEEDED' } });
    const f = await refused(h, { module: 'Leads' });
    expect([f.status, f.body.error.code]).toEqual([400, 'LIMIT_EXCEEDED']);
    expect((await post(h, { module: 'Leads' })).status).toBe(201);
    expect(creates(h).map((c) => c.status)).toEqual([201, 400, 400, 201]);
  });

  it('a refresh token without the module’s scope → OAUTH_SCOPE_MISMATCH (4xx), a module it has works', async () => {
    h = await pipelineHarness({
      fake: {
        clients: [{ ...FAKE_CREDENTIALS, scopes: ['ZohoCRM.bulk.read', 'ZohoCRM.modules.Leads.READ'] }],
      },
    });
    const r = await refused(h, { module: 'Contacts' }, { 'idempotency-key': 'scope-1' });
    expect(r.status).toBeLessThan(500);
    expect(r.body.error.code).toBe('OAUTH_SCOPE_MISMATCH');
    expect(r.body.error.message).toMatch(/scope/i);
    const ok = await post(h, { module: 'Leads' });
    expect(ok.status).toBe(201);
  });
});

describe('Zoho unreachable or throttling: 503 with Retry-After, nothing written, the key stays usable', () => {
  const cases: Array<[string, Fault]> = [
    [
      '429 TOO_MANY_REQUESTS',
      { kind: 'create', action: { type: 'error', code: 'TOO_MANY_REQUESTS', status: 429 } },
    ],
    [
      'HTTP 429 with Retry-After: 7',
      {
        kind: 'create',
        action: {
          type: 'http',
          status: 429,
          body: { code: 'TOO_MANY_REQUESTS' },
          headers: { 'Retry-After': '7' },
        },
      },
    ],
    [
      '500 INTERNAL_ERROR',
      { kind: 'create', action: { type: 'error', code: 'INTERNAL_ERROR', status: 500 } },
    ],
    [
      '502 HTML from a proxy',
      { kind: 'create', action: { type: 'http', status: 502, body: '<html>Bad Gateway</html>' } },
    ],
    ['503', { kind: 'create', action: { type: 'http', status: 503, body: 'Service Unavailable' } }],
    ['the "Access Denied" throttle', { kind: 'create', action: { type: 'access-denied' } }],
    [
      'the accounts server failing',
      { kind: 'token', times: 5, action: { type: 'http', status: 500, body: 'down' } },
    ],
  ];
  it.each(cases)('%s', async (name, fault) => {
    h = await pipelineHarness();
    h.fake.inject(fault);
    const key = `retry-${name.length}`;
    const r = await refused(h, { module: 'Contacts' }, { 'idempotency-key': key });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    if (name.includes('Retry-After: 7')) expect(r.headers['retry-after']).toBe('7');
    // Once Zoho is back, the same request with the same key creates the export.
    h.clock.advance(60_000);
    h.fake.clearFaults();
    const again = await post(h, { module: 'Contacts' }, { 'idempotency-key': key });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(creates(h).filter((c) => c.status === 201)).toHaveLength(1);
  });

  it('Zoho’s API host unreachable (connection refused)', async () => {
    h = await pipelineHarness();
    const broker = brokerFor(h.fake, h.aws, { now: h.clock.now });
    h.exportDeps.zoho = clientFor(broker, { apiDomain: 'http://127.0.0.1:9', requestTimeoutMs: 2000 });
    const r = await refused(h, { module: 'Contacts' }, { 'idempotency-key': 'unreachable' });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(creates(h)).toHaveLength(0);
  });
});
