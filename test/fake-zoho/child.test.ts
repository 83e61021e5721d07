import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type ChildOptions,
  DEFAULT_CLIENT,
  FakeZohoAdminError,
  type FakeZohoChild,
  startFakeZohoChild,
} from '../../local/fake-zoho/index.js';
import { extractVerified, type Json, parseCsv } from './helpers.js';

const dirs: string[] = [];
const children: FakeZohoChild[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function child(options: ChildOptions): Promise<FakeZohoChild> {
  const c = await startFakeZohoChild(options);
  children.push(c);
  return c;
}

async function mint(url: string): Promise<string> {
  const res = await fetch(`${url}/oauth/v2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      client_id: DEFAULT_CLIENT.clientId,
      client_secret: DEFAULT_CLIENT.clientSecret,
      refresh_token: DEFAULT_CLIENT.refreshToken,
      grant_type: 'refresh_token',
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function api(
  url: string,
  token: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Zoho-oauthtoken ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function zipOf(url: string, token: string, id: string): Promise<Buffer> {
  const res = await fetch(`${url}/crm/bulk/v8/read/${id}/result`, {
    headers: { authorization: `Zoho-oauthtoken ${token}` },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const T0 = 1_800_000_000_000;

describe('fake Zoho in a child process', () => {
  it('is driven through the admin API and keeps every job byte-identical across a restart', async () => {
    const stateDir = tmp('fake-zoho-state-');
    const cacheDir = tmp('fake-zoho-cache-');
    const options: ChildOptions = {
      frozenClockAt: T0,
      timeline: { queuedAfterMs: 0, inProgressAfterMs: 1000, completedAfterMs: 2000 },
      perPage: 200,
      moduleRecords: { Leads: 300 },
      stateDir,
      resultCacheDir: cacheDir,
    };
    let c = await child(options);
    expect(c.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(c.pid).not.toBe(process.pid);
    const { admin } = c;
    expect(await admin.health()).toEqual({ ok: true, url: c.url });
    expect(await admin.now()).toBe(T0);

    // seeded and store jobs
    const seeded = await admin.addJob({ module: 'Deals', totalRecords: 450, page: 2 });
    expect(seeded).toMatchObject({ module: 'Deals', totalRecords: 450, page: 2, completedAt: T0 + 2000 });
    const token = await mint(c.url);
    const created = await api(c.url, token, '/crm/bulk/v8/read', {
      query: {
        module: { api_name: 'Leads' },
        fields: ['Last_Name', 'Email', 'Modified_Time'],
        criteria: { field: { api_name: 'id' }, comparator: 'not_equal', value: '3652397101000000003' },
      },
    });
    expect(created.status).toBe(201);
    const storeJob = created.json.data[0].details.id as string;
    const modified = await admin.modifyRecords('Leads', { indexes: [0, 1] }, T0);
    const deleted = await admin.deleteRecords('Leads', { indexes: [10] }, { type: 'permanent' });
    expect((await admin.createRecords('Leads', 2)).length).toBe(2);
    expect(await admin.moduleInfo('Leads')).toMatchObject({ count: 301, slots: 302, deleted: 1 });
    const second = (
      await api(c.url, token, '/crm/bulk/v8/read', { query: { module: { api_name: 'Leads' } } })
    ).json.data[0].details.id as string;

    expect(await admin.stateOf(storeJob)).toBe('QUEUED');
    expect(await admin.advanceClock(1500)).toBe(T0 + 1500);
    expect(await admin.stateOf(storeJob)).toBe('IN PROGRESS');
    await admin.completeNow(second);
    await admin.setState(storeJob, 'COMPLETED');
    await admin.advanceClock(1000); // the seeded job completes by its timeline

    const before = {
      seeded: await admin.csv(seeded.id),
      store: await admin.csv(storeJob),
      second: await admin.csv(second),
    };
    expect(await admin.recordCount(seeded.id)).toBe(200);
    expect(await admin.recordCount(storeJob)).toBe(200);
    expect(await admin.recordCount(second)).toBe(200);
    expect(parseCsv(before.store.toString())[0]).toEqual(['id', 'Last_Name', 'Email', 'Modified_Time']);
    const status = await api(c.url, token, `/crm/bulk/v8/read/${storeJob}`);
    expect(status.json.data[0].result).toMatchObject({ count: 200, more_records: true });
    const pageToken = status.json.data[0].result.next_page_token as string;
    const zips = {
      seeded: await zipOf(c.url, token, seeded.id),
      store: await zipOf(c.url, token, storeJob),
    };
    expect(extractVerified(zips.store).content.equals(before.store)).toBe(true);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.zip'))).toHaveLength(2);

    // faults, logs, options over the admin API
    await admin.inject({
      kind: 'status',
      jobId: seeded.id,
      times: Number.POSITIVE_INFINITY,
      action: { type: 'error', code: 'INTERNAL_ERROR' },
    });
    expect((await api(c.url, token, `/crm/bulk/v8/read/${seeded.id}`)).status).toBe(500);
    expect((await api(c.url, token, `/crm/bulk/v8/read/${seeded.id}`)).status).toBe(500);
    await admin.clearFaults();
    expect((await api(c.url, token, `/crm/bulk/v8/read/${seeded.id}`)).status).toBe(200);
    const requests = await admin.requests();
    expect(requests.map((r) => r.kind)).toContain('download');
    expect(requests.filter((r) => r.kind === 'status' && r.status === 500)).toHaveLength(2);
    expect(await admin.stats()).toMatchObject({
      creates: 2,
      downloads: 2,
      mints: 1,
      download429s: 0,
      lockUntil: null,
    });
    await admin.clearRequests();
    expect(await admin.requests()).toEqual([]);
    expect(await admin.callbacks()).toEqual([]);
    expect(
      await admin.setOptions({ downloadWindow: 'clock-minute', callbackEncoding: 'form' }),
    ).toMatchObject({
      downloadWindow: 'clock-minute',
      callbackEncoding: 'form',
    });
    await expect(admin.setOptions({ port: 1 } as never)).rejects.toThrow(/not a run-time option/);
    await expect(admin.jobInfo('3652397000000000999')).rejects.toBeInstanceOf(FakeZohoAdminError);
    const recs = await admin.records('Leads', { from: 0, limit: 11 });
    expect(recs.map((r) => r.version).slice(0, 3)).toEqual([1, 1, 0]);
    expect(recs[10]!.deleted).toMatchObject({ type: 'permanent' });
    expect(modified).toEqual([recs[0]!.id, recs[1]!.id]);
    expect(deleted).toEqual([recs[10]!.id]);
    expect((await admin.fields('Deals')).some((f) => f.data_type === 'autonumber')).toBe(true);

    // restart on the same state folder
    await c.stop();
    children.length = 0;
    for (const f of ['jobs.json', 'records.json', 'oauth.json', 'meta.json']) {
      expect(existsSync(join(stateDir, f)), f).toBe(true);
      expect(() => JSON.parse(readFileSync(join(stateDir, f), 'utf8'))).not.toThrow();
    }
    expect(readdirSync(stateDir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const records = JSON.parse(readFileSync(join(stateDir, 'records.json'), 'utf8'));
    expect(JSON.stringify(records).length).toBeLessThan(2000); // a change log, not rows

    c = await child(options);
    const a2 = c.admin;
    expect(await a2.now()).toBe(T0 + 2500);
    expect((await a2.csv(seeded.id)).equals(before.seeded)).toBe(true);
    expect((await a2.csv(storeJob)).equals(before.store)).toBe(true);
    expect((await a2.csv(second)).equals(before.second)).toBe(true);
    expect(await a2.stateOf(seeded.id)).toBe('COMPLETED');
    expect(await a2.moduleInfo('Leads')).toMatchObject({ count: 301, slots: 302, deleted: 1 });
    // the token issued before the restart still works; downloads come from the cache, same bytes
    expect((await zipOf(c.url, token, storeJob)).equals(zips.store)).toBe(true);
    expect((await zipOf(c.url, token, seeded.id)).equals(zips.seeded)).toBe(true);
    expect(await a2.stats()).toMatchObject({ cacheHits: 2, mints: 0 });
    // and so does the page token
    const next = await api(c.url, token, '/crm/bulk/v8/read', { query: { page_token: pageToken } });
    expect(next.status).toBe(201);
    const info = await a2.jobInfo(next.json.data[0].details.id);
    expect(info).toMatchObject({ page: 2, count: 100, source: 'store' }); // 301 live, minus id ...003: 300 - 200
    // options changed at run time are not state: a restart starts from the given options
    expect((await a2.options()).downloadWindow).toBe('sliding');
  });

  it('rejects when the child cannot start, and stops when the parent disconnects', async () => {
    await expect(startFakeZohoChild({ downloadWindow: 'weekly' as never })).rejects.toThrow(
      /exited|downloadWindow/,
    );
    const c = await child({});
    const exited = new Promise((r) => c.child.once('exit', r));
    c.child.disconnect();
    await exited;
    await expect(c.admin.health()).rejects.toThrow();
  });
});
