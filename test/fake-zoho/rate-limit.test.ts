import { afterEach, describe, expect, it } from 'vitest';
import { type FakeZoho, type FakeZohoOptions, startFakeZoho } from '../../local/fake-zoho/index.js';
import { authed, type Json, mintToken } from './helpers.js';

let fake: FakeZoho | undefined;
let token: string;
let t = 0;
const instant = { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 };
/** A UTC minute boundary. */
const BOUNDARY = 1_800_000_000_000 - (1_800_000_000_000 % 60_000) + 60_000 * 7;

async function start(opts: FakeZohoOptions = {}): Promise<FakeZoho> {
  t = BOUNDARY - 120_000; // jobs and tokens are created before every download below
  fake = await startFakeZoho({ now: () => t, timeline: instant, ...opts });
  token = await mintToken(fake);
  return fake;
}
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function download(f: FakeZoho, id: string): Promise<number> {
  const res = await fetch(`${f.apiDomain}/crm/bulk/v8/read/${id}/result`, { headers: authed(token) });
  await res.arrayBuffer();
  return res.status;
}

/** 20 downloads in 3 s (one per 150 ms) starting 1.5 s before a clock-minute boundary. */
async function burstAcrossBoundary(f: FakeZoho, id: string): Promise<{ at: number; status: number }[]> {
  const out: { at: number; status: number }[] = [];
  for (let i = 0; i < 20; i++) {
    t = BOUNDARY - 1500 + i * 150;
    out.push({ at: t, status: await download(f, id) });
  }
  return out;
}

describe('download rate limit', () => {
  it('sliding (default): the 11th download within 60 s gets 429 even across a clock-minute boundary', async () => {
    const f = await start();
    expect(f.options().downloadWindow).toBe('sliding');
    const job = f.addJob({ totalRecords: 3 });
    const burst = await burstAcrossBoundary(f, job.id);
    expect(burst.slice(0, 10).every((r) => r.status === 200)).toBe(true);
    expect(burst[10]).toEqual({ at: BOUNDARY, status: 429 });
    expect(burst.slice(10).every((r) => r.status === 429)).toBe(true);
    expect(f.stats()).toMatchObject({ downloads: 10, download429s: 10 });
  });

  it('clock-minute: 10 per UTC minute, so the same burst is never refused', async () => {
    const f = await start({ downloadWindow: 'clock-minute' });
    const job = f.addJob({ totalRecords: 3 });
    const burst = await burstAcrossBoundary(f, job.id);
    expect(burst.map((r) => r.status)).toEqual(Array(20).fill(200));
    // The 21st in the second minute is refused.
    t = BOUNDARY + 2000;
    expect(await download(f, job.id)).toBe(429);
    expect(f.stats()).toMatchObject({ downloads: 20, download429s: 1, lockUntil: BOUNDARY + 62_000 });
  });

  it('sliding: a start leaves the window exactly 60 s later', async () => {
    const f = await start({ downloadsPerMinute: 2 });
    const job = f.addJob({ totalRecords: 3 });
    t = BOUNDARY;
    expect(await download(f, job.id)).toBe(200);
    t = BOUNDARY + 30_000;
    expect(await download(f, job.id)).toBe(200);
    t = BOUNDARY + 60_000; // the first start is no longer in (t - 60 s, t]
    expect(await download(f, job.id)).toBe(200);
  });

  for (const mode of ['sliding', 'clock-minute'] as const) {
    it(`${mode}: the lock after a 429 holds for 60 s from the 429 (lockExtendsOnReject off)`, async () => {
      const f = await start({ downloadWindow: mode, downloadsPerMinute: 10, lockExtendsOnReject: false });
      const job = f.addJob({ totalRecords: 3 });
      t = BOUNDARY + 40_000;
      for (let i = 0; i < 10; i++) expect(await download(f, job.id)).toBe(200);
      t = BOUNDARY + 50_000;
      expect(await download(f, job.id)).toBe(429);
      const lockedAt = t;
      expect(f.stats().lockUntil).toBe(lockedAt + 60_000);
      // The next clock minute starts at BOUNDARY + 60 s, but the lock holds on.
      for (const dt of [10_001, 30_000, 59_999]) {
        t = lockedAt + dt;
        expect(await download(f, job.id)).toBe(429);
      }
      expect(f.stats().lockUntil).toBe(lockedAt + 60_000);
      t = lockedAt + 60_000;
      expect(await download(f, job.id)).toBe(200);
      expect(f.stats().lockUntil).toBeNull();
      // The request log proves that no download got through before the lock ended.
      const ok = f.requests.filter((r) => r.kind === 'download' && r.status === 200);
      expect(ok.filter((r) => r.at > lockedAt && r.at < lockedAt + 60_000)).toHaveLength(0);
      expect(ok.at(-1)).toMatchObject({ at: lockedAt + 60_000, jobId: job.id, status: 200 });
    });
  }

  it('strict default: a request during the lock extends it to its own time + 60 s', async () => {
    const f = await start({ downloadsPerMinute: 1 });
    const job = f.addJob({ totalRecords: 3 });
    t = BOUNDARY;
    expect(await download(f, job.id)).toBe(200);
    t += 1000;
    expect(await download(f, job.id)).toBe(429); // lock until +61 s
    t += 30_000;
    expect(await download(f, job.id)).toBe(429); // extends to +91 s
    expect(f.stats().lockUntil).toBe(t + 60_000);
    t += 59_999;
    expect(await download(f, job.id)).toBe(429);
    t += 60_000;
    expect(await download(f, job.id)).toBe(200);
  });

  it('every download is refused during the lock, even for an unknown job; status calls are not', async () => {
    const f = await start();
    const job = f.addJob({ totalRecords: 3 });
    t = BOUNDARY;
    f.inject({ kind: 'download', action: { type: 'download-lock' } });
    expect(await download(f, job.id)).toBe(429);
    expect(f.stats()).toMatchObject({ download429s: 1, lockUntil: BOUNDARY + 60_000, downloads: 0 });
    const res = await fetch(`${f.apiDomain}/crm/bulk/v8/read/3652397000099999999/result`, {
      headers: authed(token),
    });
    expect(res.status).toBe(429);
    expect(((await res.json()) as Json).code).toBe('TOO_MANY_REQUESTS');
    const st = await fetch(`${f.apiDomain}/crm/bulk/v8/read/${job.id}`, { headers: authed(token) });
    expect(st.status).toBe(200);
    await st.arrayBuffer();
  });

  it('a download-lock fault can set its own duration, and Retry-After can be switched on', async () => {
    const f = await start({ retryAfterHeader: true, lockExtendsOnReject: false });
    const job = f.addJob({ totalRecords: 3 });
    t = BOUNDARY;
    f.inject({ kind: 'download', jobId: job.id, action: { type: 'download-lock', ms: 5000 } });
    const res = await fetch(`${f.apiDomain}/crm/bulk/v8/read/${job.id}/result`, { headers: authed(token) });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    await res.arrayBuffer();
    t += 4999;
    expect(await download(f, job.id)).toBe(429);
    t += 1;
    expect(await download(f, job.id)).toBe(200);
  });

  it('the window mode can be switched at run time', async () => {
    const f = await start();
    f.setOptions({ downloadWindow: 'clock-minute', downloadsPerMinute: 3 });
    expect(f.options()).toMatchObject({ downloadWindow: 'clock-minute', downloadsPerMinute: 3 });
    expect(() => f.setOptions({ downloadWindow: 'hourly' as never })).toThrow(/downloadWindow/);
  });
});
