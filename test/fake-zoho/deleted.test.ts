import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_CLIENT,
  type FakeZoho,
  recordId,
  startFakeZoho,
  USERS,
} from '../../local/fake-zoho/index.js';
import { type Json, mintFor, mintToken } from './helpers.js';

let fake: FakeZoho | undefined;
let token: string;
let t = 1_800_000_000_000;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(): Promise<FakeZoho> {
  t = 1_800_000_000_000;
  fake = await startFakeZoho({
    now: () => t,
    moduleRecords: { Leads: 400 },
    clients: [
      DEFAULT_CLIENT,
      { clientId: 'c2', clientSecret: 's2', refreshToken: 'r2', scopes: ['ZohoCRM.modules.Contacts.READ'] },
    ],
  });
  token = await mintToken(fake);
  return fake;
}

async function deleted(
  f: FakeZoho,
  module: string,
  query = '',
  headers: Record<string, string> = {},
  tk = token,
): Promise<{ status: number; text: string; json: Json }> {
  const res = await fetch(`${f.apiDomain}/crm/v8/${module}/deleted${query}`, {
    headers: { authorization: `Zoho-oauthtoken ${tk}`, ...headers },
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}

describe('deleted records API', () => {
  it('pages 200 at a time, newest deletion first, until more_records is false, then 204', async () => {
    const f = await start();
    const t0 = t;
    // 250 deletions, one second apart: indexes 0..249; every fifth permanently.
    for (let i = 0; i < 250; i++) {
      t = t0 + i * 1000;
      f.deleteRecords(
        'Leads',
        { indexes: [i] },
        { type: i % 5 === 0 ? 'permanent' : 'recycle', by: USERS[1]!.id },
      );
    }
    const p1 = await deleted(f, 'Leads', '?type=all');
    expect(p1.status).toBe(200);
    expect(p1.json.info).toEqual({ per_page: 200, count: 200, page: 1, more_records: true });
    expect(p1.json.data[0]).toEqual({
      id: recordId('Leads', 249),
      display_name: expect.any(String),
      type: 'recycle',
      deleted_by: { id: USERS[1]!.id, name: 'Amelia Burrows' },
      deleted_time: '2027-01-15T01:04:09-07:00',
      created_by: { id: expect.stringMatching(/^\d{19}$/), name: expect.any(String) },
    });
    expect(Date.parse(p1.json.data[0].deleted_time)).toBe(t0 + 249_000);
    expect(p1.json.data[0].display_name).toMatch(/\S \S/);
    const p2 = await deleted(f, 'Leads', '?page=2');
    expect(p2.json.info).toEqual({ per_page: 200, count: 50, page: 2, more_records: false });
    const ids = [...p1.json.data, ...p2.json.data].map((d: Json) => d.id);
    expect(ids).toEqual(Array.from({ length: 250 }, (_, i) => recordId('Leads', 249 - i)));
    const p3 = await deleted(f, 'Leads', '?page=3');
    expect([p3.status, p3.text]).toEqual([204, '']);
    const small = await deleted(f, 'Leads', '?per_page=100&page=3');
    expect(small.json.info).toEqual({ per_page: 100, count: 50, page: 3, more_records: false });
  });

  it('filters by type and If-Modified-Since (HTTP date or ISO 8601)', async () => {
    const f = await start();
    const t0 = t;
    for (let i = 0; i < 10; i++) {
      t = t0 + i * 60_000;
      f.deleteRecords('Leads', { ids: [recordId('Leads', i)] }, { type: i < 4 ? 'permanent' : 'recycle' });
    }
    const perm = await deleted(f, 'Leads', '?type=permanent');
    expect(perm.json.data.map((d: Json) => d.type)).toEqual(Array(4).fill('permanent'));
    expect((await deleted(f, 'Leads', '?type=recycle')).json.info.count).toBe(6);
    const since = t0 + 6 * 60_000; // records deleted strictly after it: 7, 8, 9
    const http = await deleted(f, 'Leads', '', { 'If-Modified-Since': new Date(since).toUTCString() });
    expect(http.json.data.map((d: Json) => d.id)).toEqual([9, 8, 7].map((i) => recordId('Leads', i)));
    const iso = await deleted(f, 'Leads', '?type=all', { 'If-Modified-Since': '2027-01-15T00:05:59-08:00' });
    expect(iso.json.data.map((d: Json) => d.id)).toEqual([9, 8, 7, 6].map((i) => recordId('Leads', i)));
    expect(
      (await deleted(f, 'Leads', '', { 'If-Modified-Since': new Date(t + 1000).toUTCString() })).status,
    ).toBe(204);
    expect(f.stats().creates).toBe(0);
    expect(f.requests.filter((r) => r.kind === 'deleted')).toHaveLength(5);
  });

  it('answers 204 with an empty body when nothing was deleted, and validates its input', async () => {
    const f = await start();
    const none = await deleted(f, 'Contacts');
    expect([none.status, none.text]).toEqual([204, '']);
    expect((await deleted(f, 'Leads', '?type=trash')).json.code).toBe('INVALID_DATA');
    expect((await deleted(f, 'Leads', '?per_page=201')).json).toMatchObject({
      code: 'INVALID_DATA',
      details: { api_name: 'per_page' },
    });
    expect((await deleted(f, 'Leads', '?page=0')).status).toBe(400);
    expect((await deleted(f, 'Widgets')).json.code).toBe('INVALID_MODULE');
    expect((await deleted(f, 'Leads', '', { 'If-Modified-Since': 'yesterday-ish' })).status).toBe(400);
  });

  it('needs the module scope', async () => {
    const f = await start();
    const { token: narrow } = await mintFor(f, { clientId: 'c2', clientSecret: 's2', refreshToken: 'r2' });
    const r = await deleted(f, 'Leads', '', {}, narrow);
    expect([r.status, r.json.code]).toEqual([401, 'OAUTH_SCOPE_MISMATCH']);
    expect((await deleted(f, 'Contacts', '', {}, narrow)).status).toBe(204);
    const bad = await deleted(f, 'Leads', '', {}, 'nope');
    expect([bad.status, bad.json.code]).toEqual([401, 'INVALID_TOKEN']);
  });

  it('restores a recycle-bin record (live again, same Modified_Time, gone from the list); refuses the rest', async () => {
    const f = await start();
    const before = f.records('Leads', { from: 3, limit: 1 })[0]!;
    f.deleteRecords('Leads', { indexes: [3] }, { type: 'recycle' });
    f.deleteRecords('Leads', { indexes: [4] }, { type: 'permanent' });
    expect((await deleted(f, 'Leads')).json.info.count).toBe(2);
    t += 60_000;
    expect(f.restoreRecords('Leads', { indexes: [3] })).toEqual([recordId('Leads', 3)]);
    const after = f.records('Leads', { from: 3, limit: 1 })[0]!;
    expect(after.deleted).toBeUndefined();
    expect([after.version, after.modifiedMs]).toEqual([before.version, before.modifiedMs]);
    expect(f.moduleInfo('Leads').deleted).toBe(1);
    expect((await deleted(f, 'Leads')).json.data.map((d: Json) => d.id)).toEqual([recordId('Leads', 4)]);
    expect(() => f.restoreRecords('Leads', { indexes: [4] })).toThrow(/permanently/);
    expect(() => f.restoreRecords('Leads', { indexes: [3] })).toThrow(/not deleted/);
    // Live again: it can be modified (and deleted) like any record.
    expect(f.modifyRecords('Leads', { indexes: [3] })).toEqual([recordId('Leads', 3)]);
  });
});
