import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  csvRecordCount,
  type FakeZoho,
  type FakeZohoOptions,
  startFakeZoho,
} from '../../local/fake-zoho/index.js';
import {
  authed,
  collect,
  createJob,
  extractVerified,
  hasUnzip,
  type Json,
  mintToken,
  parseZip,
  systemUnzip,
} from './helpers.js';

let fake: FakeZoho;
let token: string;
let t = 1_800_000_000_000;
const instant = { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 };

async function start(opts: FakeZohoOptions = {}): Promise<void> {
  fake = await startFakeZoho({ now: () => t, timeline: instant, ...opts });
  token = await mintToken(fake);
}
afterEach(async () => {
  await fake?.close();
});

function download(id: string, version = 'v8'): Promise<Response> {
  return fetch(`${fake.apiDomain}/crm/bulk/${version}/read/${id}/result`, { headers: authed(token) });
}

async function body(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

describe('download', () => {
  it('streams a ZIP holding <id>.csv with the documented headers', async () => {
    await start();
    const job = fake.addJob({ module: 'Leads', totalRecords: 1500 });
    const res = await download(job.id);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-download');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${job.id}.zip"`);
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const zip = await body(res);
    const { name, content } = extractVerified(zip);
    expect(name).toBe(`${job.id}.csv`);
    expect(content.equals(await collect(fake.csv(job.id)))).toBe(true);
    expect(await csvRecordCount(content)).toBe(1500);
    expect(fake.recordCount(job.id)).toBe(1500);
    if (hasUnzip) expect(systemUnzip(zip, '-p').equals(content)).toBe(true);
    expect(fake.stats().downloads).toBe(1);
  });

  it('serves zip64 archives and multi-page counts', async () => {
    await start({ perPage: 400 });
    const job = fake.addJob({ module: 'Deals', totalRecords: 1000, page: 3, zip64: true });
    const zip = await body(await download(job.id));
    expect(parseZip(zip).zip64).toBe(true);
    const { content } = extractVerified(zip);
    expect(await csvRecordCount(content)).toBe(200);
    if (hasUnzip) expect(systemUnzip(zip, '-t').toString()).toMatch(/No errors/);
  });

  it('rejects before completion (400), after expiry (404) and unknown ids (404)', async () => {
    await start({ resultTtlMs: 60_000 });
    const pending = fake.addJob({
      timeline: { queuedAfterMs: 10, inProgressAfterMs: 20, completedAfterMs: 1000 },
    });
    let r = await download(pending.id);
    expect(r.status).toBe(400);
    expect(((await r.json()) as Json).code).toBe('RESOURCE_NOT_FOUND');
    const failed = fake.addJob({ failWith: { code: 'INTERNAL_SERVER_ERROR', message: 'x' } });
    expect((await download(failed.id)).status).toBe(400);
    r = await download('3652397000011111111');
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({
      code: 'RESOURCE_NOT_FOUND',
      details: { resource: '3652397000011111111' },
    });
    const done = fake.addJob({});
    t += 60_001;
    r = await download(done.id);
    expect(r.status).toBe(404);
    expect(((await r.json()) as Json).code).toBe('RESOURCE_NOT_FOUND');
    expect(fake.stats().downloads).toBe(0);
  });

  it('clock-minute mode: N downloads per UTC minute, then 429 and a 60 s lock from the 429', async () => {
    t = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
    await start({ downloadsPerMinute: 3, downloadWindow: 'clock-minute', lockExtendsOnReject: false });
    const job = fake.addJob({ totalRecords: 5 });
    for (let i = 0; i < 3; i++) expect((await download(job.id)).status).toBe(200);
    t += 10_000;
    const r = await download(job.id);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBeNull();
    expect(await r.json()).toEqual({
      code: 'TOO_MANY_REQUESTS',
      details: {},
      message: 'Many requests fired in concurrent than the allowed limit',
      status: 'error',
    });
    expect(fake.stats()).toMatchObject({ downloads: 3, download429s: 1, lockUntil: t + 60_000 });
    t += 50_000; // a new clock minute, but the lock from the 429 still holds
    expect((await download(job.id)).status).toBe(429);
    t += 9_999;
    expect((await download(job.id)).status).toBe(429);
    t += 1;
    expect((await download(job.id)).status).toBe(200);
    expect(fake.stats()).toMatchObject({ downloads: 4, download429s: 3, lockUntil: null });
  });

  it('stops generating when the client goes away mid-download (huge job)', async () => {
    await start();
    const huge = fake.addJob({ module: 'Leads', totalRecords: 200_000, padding: 10_000 }); // ~2 GB of CSV
    const ac = new AbortController();
    const res = await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${huge.id}/result`, {
      headers: authed(token),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    ac.abort();
    await reader.cancel().catch(() => undefined);
    const small = fake.addJob({ totalRecords: 2 });
    const started = Date.now();
    expect(extractVerified(await body(await download(small.id))).content.length).toBeGreaterThan(0);
    // Generous for a loaded CI machine; still far below the ~10 s a still-running 2 GB generation takes.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('records every request with its kind, status and a masked token', async () => {
    await start();
    fake.clearRequests();
    const job = fake.addJob({ totalRecords: 3 });
    await (
      await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${job.id}`, { headers: authed(token) })
    ).arrayBuffer();
    await body(await download(job.id));
    await createJob(fake, token, { query: { module: { api_name: 'Leads' } } });
    await (await fetch(`${fake.url}/nope?x=1`)).arrayBuffer();
    expect(fake.requests.map((r) => [r.method, r.kind, r.status])).toEqual([
      ['GET', 'status', 200],
      ['GET', 'download', 200],
      ['POST', 'create', 201],
      ['GET', 'other', 404],
    ]);
    const first = fake.requests[0]!;
    expect(first.path).toBe(`/crm/bulk/v8/read/${job.id}`);
    expect(first.authorization).toBe(`Zoho-oauthtoken ${'*'.repeat(token.length - 4)}${token.slice(-4)}`);
    expect(fake.requests[3]!.query).toEqual({ x: '1' });
    expect(fake.stats()).toMatchObject({ statusCalls: 1, downloads: 1, creates: 1, mints: 1 });
  });
});

describe('faults', () => {
  it('http, error (plain and wrapped), access-denied and delay actions', async () => {
    await start();
    const job = fake.addJob({ totalRecords: 3 });
    const statusUrl = `${fake.apiDomain}/crm/bulk/v8/read/${job.id}`;
    fake.inject({ kind: 'status', action: { type: 'http', status: 500, body: { code: 'INTERNAL_ERROR' } } });
    fake.inject({
      kind: 'status',
      jobId: job.id,
      action: { type: 'error', code: 'NO_PERMISSION', wrapped: true },
    });
    fake.inject({ kind: 'any', action: { type: 'error', code: 'TOO_MANY_REQUESTS' } });
    fake.inject({ kind: 'status', action: { type: 'access-denied' } });
    fake.inject({ kind: 'status', action: { type: 'delay', ms: 100 } });
    const r1 = await fetch(statusUrl, { headers: authed(token) });
    expect([r1.status, await r1.json()]).toEqual([500, { code: 'INTERNAL_ERROR' }]);
    const r2 = await fetch(statusUrl, { headers: authed(token) });
    expect(r2.status).toBe(403);
    expect(await r2.json()).toEqual({
      data: [{ code: 'NO_PERMISSION', details: {}, message: 'permission denied', status: 'error' }],
    });
    const r3 = await fetch(statusUrl, { headers: authed(token) });
    expect(r3.status).toBe(429);
    const r4 = await fetch(statusUrl, { headers: authed(token) });
    expect([r4.status, ((await r4.json()) as Json).error]).toEqual([200, 'Access Denied']);
    const before = Date.now();
    const r5 = await fetch(statusUrl, { headers: authed(token) });
    expect(r5.status).toBe(200);
    expect(Date.now() - before).toBeGreaterThanOrEqual(90);
    const r6 = await fetch(statusUrl, { headers: authed(token) });
    expect(r6.status).toBe(200);
    await r6.arrayBuffer();
  });

  it('times: Infinity, job filters, token faults and clearFaults', async () => {
    await start();
    const a = fake.addJob({});
    const b = fake.addJob({});
    fake.inject({
      kind: 'status',
      jobId: a.id,
      times: Number.POSITIVE_INFINITY,
      action: { type: 'error', code: 'INTERNAL_ERROR' },
    });
    for (let i = 0; i < 3; i++) {
      expect(
        (await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${a.id}`, { headers: authed(token) })).status,
      ).toBe(500);
    }
    expect(
      (await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${b.id}`, { headers: authed(token) })).status,
    ).toBe(200);
    fake.clearFaults();
    expect(
      (await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${a.id}`, { headers: authed(token) })).status,
    ).toBe(200);
    fake.inject({ kind: 'token', action: { type: 'access-denied' } });
    await expect(mintToken(fake)).rejects.toThrow(/Access Denied/);
    await expect(mintToken(fake)).resolves.toMatch(/^1000\./);
  });

  it('download faults: reset, truncate, corrupt, extra record, JSON error with 200', async () => {
    await start();
    const job = fake.addJob({ module: 'Contacts', totalRecords: 20000 });
    const csv = await collect(fake.csv(job.id));

    fake.inject({ kind: 'download', action: { type: 'reset', afterBytes: 5000 } });
    const reset = await download(job.id);
    expect(reset.status).toBe(200);
    await expect(reset.arrayBuffer()).rejects.toThrow();

    fake.inject({ kind: 'download', jobId: job.id, action: { type: 'truncate', afterBytes: 5000 } });
    const truncated = await body(await download(job.id));
    expect(truncated.length).toBe(5000);
    expect(() => parseZip(truncated)).toThrow();

    fake.inject({ kind: 'download', action: { type: 'corrupt', what: 'crc' } });
    const crcZip = await body(await download(job.id));
    expect(() => extractVerified(crcZip)).toThrow(/crc/);
    fake.inject({ kind: 'download', action: { type: 'corrupt', what: 'size' } });
    const sizeZip = await body(await download(job.id));
    expect(() => extractVerified(sizeZip)).toThrow(/size/);

    fake.inject({ kind: 'download', action: { type: 'csv-extra-record' } });
    const extra = extractVerified(await body(await download(job.id))).content;
    expect(await csvRecordCount(extra)).toBe(20001);
    expect(extra.subarray(0, csv.length).equals(csv)).toBe(true);

    fake.inject({ kind: 'download', action: { type: 'json-error-200' } });
    const j = await download(job.id);
    expect(j.status).toBe(200);
    expect(j.headers.get('content-type')).toMatch(/application\/json/);
    expect(((await j.json()) as Json).status).toBe('error');

    // back to normal
    expect(extractVerified(await body(await download(job.id))).content.equals(csv)).toBe(true);
  });
});

describe('callback', () => {
  it('POSTs the job details to callback.url on completion', async () => {
    const received: Json[] = [];
    const sink = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        received.push({ ct: req.headers['content-type'], body: JSON.parse(Buffer.concat(parts).toString()) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    try {
      fake = await startFakeZoho({
        timeline: { queuedAfterMs: 0, inProgressAfterMs: 10, completedAfterMs: 50 },
      });
      token = await mintToken(fake);
      const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/cb?secret=s1`;
      const r = await createJob(fake, token, {
        callback: { url, method: 'post' },
        query: { module: { api_name: 'Leads' } },
      });
      const id = (r.json as Json).data[0].details.id;
      // The sink sees the POST before the fake has read the answer and logged its status: wait for both.
      for (let i = 0; i < 100 && (received.length === 0 || fake.callbacks[0]?.status === undefined); i++) {
        await new Promise((res) => setTimeout(res, 20));
      }
      expect(received).toHaveLength(1);
      expect(received[0].ct).toBe('application/json');
      expect(received[0].body.data[0]).toMatchObject({ id, state: 'COMPLETED', result: { count: 1000 } });
      expect(fake.callbacks[0]).toMatchObject({ jobId: id, status: 200, attempt: 1 });
    } finally {
      await new Promise((r) => sink.close(r));
    }
  });
});
