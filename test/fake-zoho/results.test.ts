import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type FakeZoho, type FakeZohoOptions, startFakeZoho } from '../../local/fake-zoho/index.js';
import {
  authed,
  collect,
  createdId,
  createJob,
  extractVerified,
  getJson,
  type Json,
  mintToken,
} from './helpers.js';

let fake: FakeZoho | undefined;
let token: string;
let t = 1_800_000_000_000;
const instant = { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 };
const dirs: string[] = [];
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(opts: FakeZohoOptions = {}): Promise<FakeZoho> {
  t = 1_800_000_000_000;
  fake = await startFakeZoho({ now: () => t, timeline: instant, ...opts });
  token = await mintToken(fake);
  return fake;
}

async function download(f: FakeZoho, id: string): Promise<{ status: number; body: Buffer; json?: Json }> {
  const res = await fetch(`${f.apiDomain}/crm/bulk/v8/read/${id}/result`, { headers: authed(token) });
  const body = Buffer.from(await res.arrayBuffer());
  const json = res.headers.get('content-type')?.includes('json') ? JSON.parse(body.toString()) : undefined;
  return { status: res.status, body, json };
}

describe('results that expire', () => {
  it('expireResult: the download answers 404 RESOURCE_NOT_FOUND, the status stays COMPLETED', async () => {
    const f = await start();
    const job = f.addJob({ totalRecords: 5 });
    expect((await download(f, job.id)).status).toBe(200);
    f.expireResult(job.id);
    const r = await download(f, job.id);
    expect([r.status, r.json]).toEqual([
      404,
      {
        code: 'RESOURCE_NOT_FOUND',
        details: { resource: job.id },
        message: "The requested resource doesn't exist.",
        status: 'error',
      },
    ]);
    const st = await getJson(`${f.apiDomain}/crm/bulk/v8/read/${job.id}`, token);
    expect(st.json.data[0].state).toBe('COMPLETED');
    expect(f.jobInfo(job.id).resultExpired).toBe(true);
    expect(f.stats().downloads).toBe(1);
  });

  it('expirePageTokens: a create with an issued token answers INVALID_REQUEST', async () => {
    const f = await start({ perPage: 10, moduleRecords: { Leads: 25 } });
    const id = await createdId(f, token, { query: { module: { api_name: 'Leads' } } });
    const pt = (await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id}`, token)).json.data[0].result
      .next_page_token;
    f.expirePageTokens();
    const r = await createJob(f, token, { query: { page_token: pt } });
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_REQUEST']);
    // and by age: pageTokenTtlMs
    f.setOptions({ pageTokenTtlMs: 1000 });
    const id2 = await createdId(f, token, { query: { module: { api_name: 'Leads' } } });
    const pt2 = (await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id2}`, token)).json.data[0].result
      .next_page_token;
    t += 1001;
    expect((await createJob(f, token, { query: { page_token: pt2 } })).json.code).toBe('INVALID_REQUEST');
  });
});

describe('job timing', () => {
  it('processingMsPerRecord: bigger pages take longer; jobInfo and addJob expose the completion time', async () => {
    const f = await start({
      timeline: { queuedAfterMs: 100, inProgressAfterMs: 200, completedAfterMs: 1000 },
      processingMsPerRecord: 2,
      moduleRecords: { Deals: 300 },
    });
    const small = f.addJob({ totalRecords: 100 });
    const big = f.addJob({ totalRecords: 500 });
    expect(small.completedAt).toBe(t + 1000 + 200);
    expect(f.jobInfo(big.id)).toMatchObject({ completedAt: t + 1000 + 1000, count: 500, source: 'seeded' });
    const store = await createdId(f, token, { query: { module: { api_name: 'Deals' } } });
    expect(f.jobInfo(store).completedAt).toBe(t + 1000 + 600);
    t += 1199;
    expect([f.stateOf(small.id), f.stateOf(big.id)]).toEqual(['IN PROGRESS', 'IN PROGRESS']);
    t += 1;
    expect(f.stateOf(small.id)).toBe('COMPLETED');
    t += 399;
    expect(f.stateOf(store)).toBe('IN PROGRESS');
    t += 1;
    expect(f.stateOf(store)).toBe('COMPLETED');
    t += 400;
    expect(f.stateOf(big.id)).toBe('COMPLETED');
    expect(f.jobInfo(store)).toMatchObject({ source: 'store', snapshot: { seq: 1, at: 1_800_000_000_000 } });
  });
});

describe('result cache', () => {
  const cacheDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'fake-zoho-cache-'));
    dirs.push(d);
    return d;
  };

  it('writes the ZIP on the first download and serves the same bytes from disk afterwards', async () => {
    const dir = cacheDir();
    const f = await start({ resultCacheDir: dir });
    const job = f.addJob({ module: 'Leads', totalRecords: 3000 });
    const first = await download(f, job.id);
    expect(first.status).toBe(200);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^${job.id}-[0-9a-f]{20}\\.zip$`));
    const second = await download(f, job.id);
    expect(second.body.equals(first.body)).toBe(true);
    expect(f.stats()).toMatchObject({ downloads: 2, cacheHits: 1 });
    expect(extractVerified(second.body).content.equals(await collect(f.csv(job.id)))).toBe(true);

    // a fault that changes the bytes bypasses the cache; truncation cuts the cached bytes
    f.inject({ kind: 'download', action: { type: 'corrupt', what: 'crc' } });
    const corrupt = await download(f, job.id);
    expect(corrupt.body.equals(first.body)).toBe(false);
    expect(() => extractVerified(corrupt.body)).toThrow(/crc/);
    f.inject({ kind: 'download', action: { type: 'truncate', afterBytes: 1000 } });
    const cut = await download(f, job.id);
    expect(cut.body.equals(first.body.subarray(0, 1000))).toBe(true);
    expect(f.stats().cacheHits).toBe(2); // the second download and the truncated one

    f.expireResult(job.id);
    expect(readdirSync(dir)).toHaveLength(0);
  });

  it('makes its folder when it does not exist yet (as npm start gives it a path under LOCAL_DATA_DIR)', async () => {
    const dir = join(cacheDir(), 'fake-zoho', 'results');
    const f = await start({ resultCacheDir: dir });
    const job = f.addJob({ totalRecords: 10 });
    await download(f, job.id);
    await download(f, job.id);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(f.stats()).toMatchObject({ downloads: 2, cacheHits: 1 });
  });

  it('never leaves a partial file when the client goes away mid-download', async () => {
    const dir = cacheDir();
    const f = await start({ resultCacheDir: dir });
    const huge = f.addJob({ module: 'Contacts', totalRecords: 200_000, padding: 2000 }); // ~450 MB of CSV
    const ac = new AbortController();
    const res = await fetch(`${f.apiDomain}/crm/bulk/v8/read/${huge.id}/result`, {
      headers: authed(token),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    const writing = () => readdirSync(dir).some((n) => n.includes('.tmp-'));
    for (let i = 0; i < 100 && !writing(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(writing()).toBe(true); // the cache file is being written next to the response
    ac.abort();
    await reader.cancel().catch(() => undefined);
    for (let i = 0; i < 100 && readdirSync(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(dir)).toEqual([]);
    // the next download generates it again
    const small = f.addJob({ totalRecords: 3 });
    expect((await download(f, small.id)).status).toBe(200);
    expect(readdirSync(dir)).toHaveLength(1);
  });
});
