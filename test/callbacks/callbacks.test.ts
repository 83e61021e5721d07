/**
 * Zoho callbacks as the fast path, polling as the safety net, against the fake Zoho (which posts the
 * callbacks itself, as JSON or form-encoded, and retries a non-2xx), DynamoDB Local and s3rver. The
 * callback route is served over real HTTP by the same handler the Lambda and the local stack use.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createCallbackHandler } from '../../lib/callbacks/http.js';
import { cachedKey, callbackToken, callbackWiring } from '../../lib/callbacks/token.js';
import { CALLBACK_BACKOFF_CAP_FACTOR } from '../../lib/config.js';
import type { JobRecord } from '../../lib/jobs/model.js';
import type { FakeZohoOptions } from '../../local/fake-zoho/index.js';
import { apiEventOf } from '../support/api-event.js';
import { apiOf, expectCompleted, finish } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

interface Setup {
  h: Harness;
  base: string;
  key: Buffer;
  /** How the receiver answers (default: the handler). */
  mode: { answer?: number };
  post(path: string, body: string, contentType?: string): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

let s: Setup | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function setup(fake: FakeZohoOptions = {}, modules: Record<string, number> = { Contacts: 300 }) {
  const key = randomBytes(32);
  const mode: Setup['mode'] = {};
  let handle: ((e: APIGatewayProxyEventV2) => Promise<{ statusCode?: number; body?: string }>) | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (mode.answer) {
        res.writeHead(mode.answer).end();
        return;
      }
      const event = apiEventOf(req, Buffer.concat(chunks).toString('utf8'));
      handle!(event).then(
        (r) => res.writeHead(r.statusCode ?? 500, { 'content-type': 'application/json' }).end(r.body),
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let now = Date.now;
  const wiring = callbackWiring(
    base,
    cachedKey(async () => key),
    () => now(),
  );
  const h = await pipelineHarness({
    fake: { perPage: 200, moduleRecords: modules, callbackRetryDelayMs: 20, ...fake },
    exportDeps: { callbackUrl: wiring.url },
  });
  now = h.clock.now;
  handle = createCallbackHandler({ exports: h.exportDeps, poll: h.pollDeps, verify: wiring.verify });
  const setupObj: Setup = {
    h,
    base,
    key,
    mode,
    async post(path, body, contentType = 'application/json') {
      const r = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    async close() {
      await h.close();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
  return setupObj;
}

async function startExport(h: Harness, module = 'Contacts'): Promise<{ id: string; job: string }> {
  const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module }) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { id: r.body.export_id, job: r.body.pages[0].job_id };
}

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const statusCalls = (h: Harness, job: string) =>
  h.fake.requests.filter((r) => r.kind === 'status' && r.jobId === job).length;
const job = async (h: Harness, id: string) => (await h.jobs.get(id)) as JobRecord;
/** The token Zoho was given for page `page` of `exportId`, whose job is `jobId` (its nonce is on the job). */
const tokenOf = async (h: Harness, key: Buffer, exportId: string, page: number, jobId: string) =>
  callbackToken(key, exportId, page, {
    nonce: (await job(h, jobId)).callback_nonce!,
    expiresAt: h.clock.now() + h.pollDeps.timing.maxAgeMs,
  });

describe('callbacks', () => {
  it.each([
    ['json', undefined],
    ['form-encoded', 'form'],
  ] as const)(
    'a %s callback for a COMPLETED job dispatches its download at once, without a poll',
    async (_n, enc) => {
      s = await setup(enc ? { callbackEncoding: enc } : {});
      const { h } = s;
      const { id, job: jobId } = await startExport(h);
      // Zoho was given our callback URL for this page, and the job knows it.
      const create = h.fake.requests.find((r) => r.kind === 'create');
      expect(create).toBeDefined();
      expect((await job(h, jobId)).callback).toBe(true);
      await h.poll(); // one status check: not finished yet
      expect((await job(h, jobId)).status).toBe('PENDING');
      const before = statusCalls(h, jobId);
      h.fake.setState(jobId, 'COMPLETED');
      await until('the callback', () => h.fake.callbacks.some((c) => c.jobId === jobId && c.status === 200));
      expect(h.fake.callbacks.find((c) => c.jobId === jobId)?.contentType).toContain(
        enc === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
      );
      // The handler checked the job once with the normal status call and dispatched it: no poll ran.
      expect(statusCalls(h, jobId)).toBe(before + 1);
      const j = await job(h, jobId);
      expect(j.status).toBe('DOWNLOADING');
      expect(h.queue.map((m) => m.job_id)).toEqual([jobId]);
      expect(h.metrics.counts.CallbackAccepted).toBe(1);
      await h.deliver();
      expect((await job(h, jobId)).status).toBe('EXPORTED');
      expect((await finish(h, id)).status).toBe('COMPLETED');
      await expectCompleted(h, id, { pages: 2, records: 300, version: 'v8' });
    },
  );

  it('forged callbacks never download early or elsewhere, and change nothing', async () => {
    s = await setup({}, { Contacts: 300, Leads: 300 });
    const { h, key } = s;
    const a = await startExport(h, 'Contacts');
    const b = await startExport(h, 'Leads');
    const snapshot = async () => [await job(h, a.job), await job(h, b.job)];
    const before = await snapshot();
    const body = (id: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        data: [{ id, state: 'COMPLETED', result: { download_url: 'https://evil.example/x.zip' }, ...extra }],
      });

    // A token with a wrong MAC, a token of another key, garbage, a missing job id.
    const validToken = await tokenOf(h, key, a.id, 1, a.job);
    const wrongMac = `${validToken.slice(0, -4)}AAAA`;
    const otherKey = await tokenOf(h, randomBytes(32), a.id, 1, a.job);
    for (const path of [
      `/callbacks/zoho/${wrongMac}`,
      `/callbacks/zoho/${otherKey}`,
      '/callbacks/zoho/nonsense',
      `/callbacks/zoho/${a.id}.1`,
    ]) {
      const r = await s.post(path, body(a.job));
      expect(r.status, path).toBe(404);
      expect(r.body).toEqual({ error: { code: 'CALLBACK_NOT_FOUND', message: 'no such callback' } });
    }
    const valid = `/callbacks/zoho/${validToken}`;
    expect((await s.post(valid, JSON.stringify({ data: [] }))).status).toBe(404);
    expect((await s.post(valid, 'not json')).status).toBe(404);
    // A valid token for another job (export a's page 1) with export b's job id; and page 2 of a.
    expect((await s.post(valid, body(b.job))).status).toBe(404);
    expect(
      (await s.post(`/callbacks/zoho/${await tokenOf(h, key, a.id, 2, a.job)}`, body(a.job))).status,
    ).toBe(404);
    expect(await snapshot()).toEqual(before);
    expect(h.queue).toEqual([]);
    expect(h.metrics.counts.CallbackRejected).toBe(8);
    expect(h.metrics.counts.CallbackAccepted ?? 0).toBe(0);

    // A COMPLETED body (with a poisoned download_url) for a job Zoho still runs: checked, still PENDING.
    const r = await s.post(valid, body(a.job));
    expect(r.status).toBe(200);
    expect((await job(h, a.job)).status).toBe('PENDING');
    expect(h.queue).toEqual([]);

    // Once Zoho has finished it, the download URL is Zoho's own (the status answer), never the body's.
    // The fake posts its own callback for the state change too. Both come within the check lease of
    // the callback above, so neither calls Zoho (a replayed token costs one status call per lease):
    // the job is due at the lease's end instead, and the poll then dispatches the download.
    h.fake.setState(a.job, 'COMPLETED');
    const calls = statusCalls(h, a.job);
    const again = await s.post(valid, body(a.job));
    expect(again.status).toBe(200);
    await until("the fake's own callback", () =>
      h.fake.callbacks.some((c) => c.jobId === a.job && c.status === 200),
    );
    expect(statusCalls(h, a.job)).toBe(calls);
    const lease = h.pollDeps.timing.checkLeaseMs;
    expect((await job(h, a.job)).next_check_at).toBeLessThanOrEqual(h.clock.now() + lease);
    h.clock.advance(lease);
    await h.poll();
    const j = await job(h, a.job);
    expect(j.status).toBe('DOWNLOADING');
    expect(h.queue.map((m) => m.job_id)).toEqual([a.job]);
    // Zoho's own path for this job (the downloader resolves it against the configured API domain).
    expect(j.download_url).toMatch(new RegExp(`^(${h.fake.apiDomain})?/crm/bulk/v8/read/${a.job}/result$`));
    expect(JSON.stringify(j)).not.toContain('evil');
    expect((await job(h, b.job)).status).toBe('PENDING');
  });

  it('a duplicated callback (Zoho retries) downloads once', async () => {
    s = await setup();
    const { h, key } = s;
    const { id, job: jobId } = await startExport(h);
    h.fake.setState(jobId, 'COMPLETED');
    await until('the callback', () => h.fake.callbacks.some((c) => c.status === 200));
    const path = `/callbacks/zoho/${await tokenOf(h, key, id, 1, jobId)}`;
    const detail = JSON.stringify({ data: [{ id: jobId, state: 'COMPLETED' }] });
    const answers = await Promise.all([s.post(path, detail), s.post(path, detail)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(h.queue.map((m) => m.job_id)).toEqual([jobId]);
    await h.deliver();
    await h.deliver();
    expect(h.fake.requests.filter((r) => r.kind === 'download' && r.jobId === jobId)).toHaveLength(1);
    const after = await s.post(path, detail);
    expect(after.body).toMatchObject({ job_id: jobId, status: 'EXPORTED' });
    expect(h.queue).toEqual([]);
    expect((await finish(h, id)).status).toBe('COMPLETED');
    await expectCompleted(h, id, { pages: 2, records: 300, version: 'v8' });
  });

  it('a valid token replayed 50 times while its job is PENDING costs at most 2 Zoho status calls', async () => {
    s = await setup({ timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 1e12 } });
    const { h, key } = s;
    const { id, job: jobId } = await startExport(h);
    await h.poll();
    const before = statusCalls(h, jobId);
    const path = `/callbacks/zoho/${await tokenOf(h, key, id, 1, jobId)}`;
    const detail = JSON.stringify({ data: [{ id: jobId, state: 'COMPLETED' }] });
    for (let i = 0; i < 40; i++) expect((await s.post(path, detail)).status).toBe(200);
    const burst = await Promise.all(Array.from({ length: 10 }, () => s!.post(path, detail)));
    expect(burst.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(statusCalls(h, jobId) - before).toBeGreaterThanOrEqual(1);
    expect(statusCalls(h, jobId) - before).toBeLessThanOrEqual(2);
    expect((await job(h, jobId)).status).toBe('PENDING');
  });

  it('callbacks lost entirely (the receiver answers 503): every page still exports through polling', async () => {
    s = await setup({}, { Contacts: 500 });
    const { h } = s;
    s.mode.answer = 503;
    const { id } = await startExport(h);
    const e = await finish(h, id);
    expect(e.status).toBe('COMPLETED');
    expect(e.pages).toHaveLength(3);
    // The fake tried each callback (and retried it) and got nowhere.
    expect(h.fake.callbacks.length).toBeGreaterThanOrEqual(3);
    expect(h.fake.callbacks.every((c) => c.status === 503)).toBe(true);
    await expectCompleted(h, id, { pages: 3, records: 500, version: 'v8' });
  });

  it(`a job with our callback is polled at most every ${CALLBACK_BACKOFF_CAP_FACTOR} poll intervals; registered jobs every 10`, async () => {
    s = await setup({ timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 1e12 } });
    const { h } = s;
    const { job: ours } = await startExport(h);
    const registered = (
      await apiOf(h)('POST', '/jobs', {
        body: JSON.stringify({ job_id: h.fake.addJob({ module: 'Contacts', totalRecords: 5 }).id }),
      })
    ).body.job_id as string;
    const gaps: Record<string, number[]> = { [ours]: [], [registered]: [] };
    for (let i = 0; i < 400; i++) {
      await h.poll();
      for (const id of [ours, registered]) {
        const j = await job(h, id);
        const gap = j.next_check_at! - h.clock.now();
        if (gap > 0 && gaps[id]!.at(-1) !== j.next_check_at) gaps[id]!.push(j.next_check_at!);
      }
      h.clock.advance(60_000);
    }
    const maxGap = (at: number[]) => Math.max(...at.slice(1).map((t, i) => t - at[i]!));
    const base = h.config.POLL_INTERVAL_SECONDS * 1000;
    expect(maxGap(gaps[registered]!)).toBeLessThanOrEqual(10 * base + base);
    expect(maxGap(gaps[ours]!)).toBeGreaterThan(10 * base + base);
    expect(maxGap(gaps[ours]!)).toBeLessThanOrEqual(CALLBACK_BACKOFF_CAP_FACTOR * base + base);
    expect(statusCalls(h, ours)).toBeLessThan(statusCalls(h, registered));
  });
});
