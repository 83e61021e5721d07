/**
 * `Idempotency-Key` on `POST /exports`: the same key and body within 24 h answer 200 with the same
 * export and ask Zoho nothing; the same key with another body is a 409; concurrent identical requests
 * create one Zoho job and all name the same export (201 once, 200 for the others).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { apiOf, creates, snapshot } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const Q = { module: 'Contacts', fields: ['Last_Name', 'Email'] };
const post = (hh: Harness, body: string, key?: string) =>
  apiOf(hh)('POST', '/exports', {
    body,
    ...(key !== undefined ? { headers: { 'Idempotency-Key': key } } : {}),
  });

describe('Idempotency-Key', () => {
  it('same key and body: 200 and the same export, no second Zoho create, for 24 h; then the key is free', async () => {
    h = await pipelineHarness();
    const key = 'a!~Z09-._:/"\'`key'; // visible ASCII of every kind
    const first = await post(h, JSON.stringify(Q), key);
    expect(first.status).toBe(201);
    expect(first.headers.location).toBe(`/exports/${first.body.export_id}`);
    expect(creates(h)).toHaveLength(1);
    const tables = await snapshot(h);

    // The same request again, also with the keys in another order and other whitespace.
    for (const body of [JSON.stringify(Q), ' {"fields": ["Last_Name","Email"],\n "module":"Contacts"} ']) {
      const again = await post(h, body, key);
      expect(again.status).toBe(200);
      expect(again.body.export_id).toBe(first.body.export_id);
      expect(again.body).toEqual(first.body);
    }
    // The key is matched whatever the header's case.
    const lower = await apiOf(h)('POST', '/exports', {
      body: JSON.stringify(Q),
      headers: { 'idempotency-key': key },
    });
    expect(lower.status).toBe(200);
    expect(lower.body.export_id).toBe(first.body.export_id);

    h.clock.advance(23 * 3600_000 + 59 * 60_000);
    expect((await post(h, JSON.stringify(Q), key)).body.export_id).toBe(first.body.export_id);
    expect(creates(h)).toHaveLength(1);
    expect(await snapshot(h)).toEqual(tables);

    // After 24 h the key stands for nothing any more: a new export.
    h.clock.advance(2 * 60_000);
    const later = await post(h, JSON.stringify(Q), key);
    expect(later.status).toBe(201);
    expect(later.body.export_id).not.toBe(first.body.export_id);
    expect(creates(h)).toHaveLength(2);
  });

  it('same key, different body: 409 IDEMPOTENCY_KEY_REUSED, no Zoho call, nothing written', async () => {
    h = await pipelineHarness();
    expect((await post(h, JSON.stringify(Q), 'key-1')).status).toBe(201);
    const before = await snapshot(h);
    const requests = h.fake.requests.length;
    for (const other of [
      { ...Q, module: 'Leads' },
      { ...Q, fields: ['Email', 'Last_Name'] }, // order matters: it is the file's column order
      { module: 'Contacts' },
      { ...Q, cvid: '123' },
      { ...Q, criteria: { api_name: 'Last_Name', comparator: 'equal', value: 'x' } },
    ]) {
      const r = await post(h, JSON.stringify(other), 'key-1');
      expect([r.status, r.body.error?.code], JSON.stringify(other)).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    }
    expect(h.fake.requests.slice(requests)).toEqual([]);
    expect(await snapshot(h)).toEqual(before);
    // Without a key, or with another key, the same request is a new export.
    expect((await post(h, JSON.stringify(Q))).status).toBe(201);
    expect((await post(h, JSON.stringify(Q), 'key-2')).status).toBe(201);
    expect(creates(h)).toHaveLength(3);
  });

  it('8 concurrent identical requests: one Zoho create, one 201 and seven 200, all the same export', async () => {
    h = await pipelineHarness();
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(h!, JSON.stringify(Q), 'burst')));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(answers.map((a) => a.body.export_id));
    expect(ids.size).toBe(1);
    expect(creates(h)).toHaveLength(1);
    const tables = await snapshot(h);
    expect(tables.exports).toHaveLength(1);
    expect(tables.jobs).toHaveLength(1);
    expect(tables.idempotency).toHaveLength(1);
    expect(tables.idempotency[0]).toMatchObject({ state: 'done', export_id: [...ids][0] });
  });

  it('concurrent requests with one key but different bodies: one export, the others 409 or 200', async () => {
    h = await pipelineHarness();
    const bodies = [Q, { module: 'Leads' }, Q, { module: 'Deals' }, Q];
    const answers = await Promise.all(bodies.map((b) => post(h!, JSON.stringify(b), 'mixed')));
    expect(creates(h)).toHaveLength(1);
    const winner = answers.find((a) => a.status === 201)!;
    expect(winner).toBeDefined();
    for (const [i, a] of answers.entries()) {
      if (a === winner) continue;
      if (a.status === 200) {
        expect(a.body.export_id).toBe(winner.body.export_id);
        expect(JSON.stringify(bodies[i])).toBe(JSON.stringify(Q));
        expect(winner.body.module).toBe('Contacts');
      } else expect([a.status, a.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    }
    expect((await snapshot(h)).exports).toHaveLength(1);
  });
});
