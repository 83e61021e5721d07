/**
 * A slow Zoho create on `POST /exports` (the fake's `delay` fault, longer than the Zoho request timeout
 * the exports use): Zoho makes the job after the request gave up on it, so the outcome is uncertain.
 * The answer is the export or a clear error, and one key never leaves two Zoho jobs:
 *
 * - callbacks on: 202 with the export RUNNING and page 1 pending; the job's callback adopts it and the
 *   export completes; a retry with the key is the same export and no create;
 * - callbacks off: 504 ZOHO_CREATE_UNCERTAIN, the export recorded FAILED with the key done; a retry
 *   with the key answers the same and creates nothing; without a key, 504 and nothing written;
 * - a definitive refusal (or a token failure: the create never left) still writes nothing;
 * - EXPORT_CONFLICT (the export write lost after Zoho's answer) frees the key at once.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createCallbackHandler } from '../../lib/callbacks/http.js';
import { cachedKey, callbackWiring } from '../../lib/callbacks/token.js';
import { ADOPT_WINDOW_MS } from '../../lib/exports/pages.js';
import type { FetchFn } from '../../lib/zoho/http.js';
import { apiEventOf } from '../support/api-event.js';
import { apiOf, creates, expectCompleted, finish, snapshot } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { brokerFor, clientFor } from '../support/zoho.js';

/** The Zoho request timeout the exports get here, and the fake's delay on a create (longer). */
const REQUEST_TIMEOUT_MS = 300;
const CREATE_DELAY_MS = 1_200;

let h: Harness | undefined;
let server: Server | undefined;
/** Set: every callback is lost (the receiver answers 503; Zoho gives up after its retries). */
const receiver = { lost: false };
afterEach(async () => {
  await h?.close();
  h = undefined;
  receiver.lost = false;
  const s = server;
  server = undefined;
  if (s) await new Promise<void>((ok) => s.close(() => ok()));
});

/** A harness whose export path's Zoho requests time out after REQUEST_TIMEOUT_MS. */
async function harness(callbacks: boolean): Promise<Harness> {
  let hh: Harness;
  if (callbacks) {
    // Zoho's callbacks reach the callback handler through a local HTTP server.
    let handle: ((e: APIGatewayProxyEventV2) => Promise<{ statusCode?: number; body?: string }>) | undefined;
    const srv = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (receiver.lost) {
          res.writeHead(503).end();
          return;
        }
        const event = apiEventOf(req, Buffer.concat(chunks).toString('utf8'));
        handle!(event).then(
          (r) => res.writeHead(r.statusCode ?? 500, { 'content-type': 'application/json' }).end(r.body),
          () => res.writeHead(500).end(),
        );
      });
    });
    server = srv;
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const key = randomBytes(32);
    const wiring = callbackWiring(
      base,
      cachedKey(async () => key),
    );
    hh = await pipelineHarness({
      fake: { perPage: 200, moduleRecords: { Contacts: 300 }, callbackRetryDelayMs: 20 },
      exportDeps: { callbackUrl: wiring.url },
    });
    handle = createCallbackHandler({ exports: hh.exportDeps, poll: hh.pollDeps, verify: wiring.verify });
  } else {
    hh = await pipelineHarness({ fake: { perPage: 200, moduleRecords: { Contacts: 300 } } });
  }
  hh.exportDeps.zoho = clientFor(brokerFor(hh.fake, hh.aws, { now: hh.clock.now }), {
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    fetch: answerLost,
  });
  return hh;
}

/**
 * A network on which a request that times out has reached Zoho all the same: the caller gives up at
 * its timeout, while the request goes on to Zoho, which makes the job after the delay (the fake reads
 * a request's body only after a `delay` fault, so a request the caller cut off would never arrive).
 */
const answerLost: FetchFn = (input, init = {}) => {
  const { signal, ...rest } = init;
  const sent = globalThis.fetch(input, rest);
  if (!signal) return sent;
  return new Promise<Response>((resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    sent.then(resolve, reject);
  });
};

const post = (hh: Harness, key?: string) =>
  apiOf(hh)('POST', '/exports', {
    body: JSON.stringify({ module: 'Contacts' }),
    ...(key !== undefined ? { headers: { 'Idempotency-Key': key } } : {}),
  });

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The job the fake made for the delayed create, once the delay is over. */
async function delayedJob(hh: Harness): Promise<string> {
  await until('the delayed create', () => creates(hh).some((c) => c.jobId !== undefined));
  return creates(hh).find((c) => c.jobId !== undefined)!.jobId!;
}

describe('a slow Zoho create with callbacks: 202 and the export, adopted from the callback', () => {
  it('one Zoho create; the callback adopts page 1; the export completes; the key returns the same export', async () => {
    h = await harness(true);
    h.fake.inject({ kind: 'create', action: { type: 'delay', ms: CREATE_DELAY_MS } });
    const r = await post(h, 'slow-1');
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id: string = r.body.export_id;
    expect(r.headers.location).toBe(`/exports/${id}`);
    expect(r.body).toMatchObject({ status: 'RUNNING', pages: [], error: null });
    expect(r.body.pending_page).toMatchObject({ page: 1, code: 'ZOHO_CREATE_UNCERTAIN' });
    expect(r.body.pending_page.message).toMatch(/awaits Zoho's confirmation/);
    const tables = await snapshot(h);
    expect(tables.jobs).toEqual([]);
    expect(tables.idempotency).toEqual([expect.objectContaining({ state: 'done', export_id: id })]);

    // Zoho made the job after all; the sweep waits for its callback instead of asking again.
    const jobId = await delayedJob(h);
    await h.tick();
    expect(creates(h)).toHaveLength(1);

    // A retry with the key: the same export, no second create.
    const again = await post(h, 'slow-1');
    expect(again.status).toBe(200);
    expect(again.body.export_id).toBe(id);
    expect(creates(h)).toHaveLength(1);

    // The job finishes; its callback names it as page 1 of this export: adopted, then exported.
    h.fake.setState(jobId, 'COMPLETED');
    await until('the callback', () => h!.fake.callbacks.some((c) => c.jobId === jobId && c.status === 200));
    // Adopted as page 1 (its status check, COMPLETED with more records, went on to page 2).
    expect((await h.exports.get(id))?.page_jobs[0]).toBe(jobId);
    const shown = await apiOf(h)('GET', `/exports/${id}`);
    expect(shown.body.pending_page).toBeUndefined();
    expect(shown.body.pages[0]).toMatchObject({ page: 1, job_id: jobId });

    expect((await finish(h, id)).status).toBe('COMPLETED');
    await expectCompleted(h, id, { pages: 2, records: 300, version: 'v8' });
    // Page 1's one job and page 2's: never a second job for page 1.
    expect(creates(h)).toHaveLength(2);
    expect(h.fake.jobInfo(creates(h)[1]!.jobId!).page).toBe(2);
    expect((await post(h, 'slow-1')).body).toMatchObject({ export_id: id, status: 'COMPLETED' });
    expect(creates(h)).toHaveLength(2);
  });

  it('no callback within the adoption window: page 1 is asked for again once, and the export completes', async () => {
    h = await harness(true);
    receiver.lost = true; // the delayed job's callback never arrives
    h.fake.inject({ kind: 'create', action: { type: 'delay', ms: CREATE_DELAY_MS } });
    const r = await post(h, 'slow-2');
    expect(r.status).toBe(202);
    const id: string = r.body.export_id;
    const orphan = await delayedJob(h);
    h.fake.setState(orphan, 'COMPLETED');
    await until('the lost callback', () => h!.fake.callbacks.some((c) => c.jobId === orphan));
    await h.tick();
    expect(creates(h)).toHaveLength(1);
    h.clock.advance(ADOPT_WINDOW_MS - 2 * 60_000);
    await h.tick();
    expect(creates(h)).toHaveLength(1);
    h.clock.advance(3 * 60_000);
    await h.tick();
    expect(creates(h)).toHaveLength(2);
    const page1 = creates(h)[1]!.jobId!;
    expect(h.fake.jobInfo(page1).page).toBe(1);
    expect((await finish(h, id)).status).toBe('COMPLETED');
    await expectCompleted(h, id, { pages: 2, records: 300, version: 'v8' });
    expect((await h.exports.get(id))?.page_jobs[0]).toBe(page1);
    expect(creates(h)).toHaveLength(3); // the orphan, page 1 again, page 2
  });
});

describe('a slow Zoho create without callbacks: 504 ZOHO_CREATE_UNCERTAIN, never a second create', () => {
  it('with a key: the export is FAILED and the key done; a retry answers the same and creates nothing', async () => {
    h = await harness(false);
    h.fake.inject({ kind: 'create', action: { type: 'delay', ms: CREATE_DELAY_MS } });
    const r = await post(h, 'slow-3');
    expect(r.status, JSON.stringify(r.body)).toBe(504);
    expect(r.body.error.code).toBe('ZOHO_CREATE_UNCERTAIN');
    expect(r.body.error.message).toMatch(/did not answer .* within \d+ s \(TIMEOUT\)/);
    expect(r.body.error.message).toMatch(/may exist at Zoho/);
    expect(r.body.error.message).toMatch(/new Idempotency-Key/);
    const tables = await snapshot(h);
    expect(tables.exports).toHaveLength(1);
    const id = String(tables.exports[0]!.export_id);
    expect(r.body.error.message).toContain(id);
    expect(tables.exports[0]).toMatchObject({
      status: 'FAILED',
      page_jobs: [],
      error: { code: 'ZOHO_CREATE_UNCERTAIN', page: 1 },
    });
    expect(tables.jobs).toEqual([]);
    expect(tables.idempotency).toEqual([expect.objectContaining({ state: 'done', export_id: id })]);
    // One "Export Failed" event that says why, as for any failed export.
    expect(h.events.published).toHaveLength(1);
    expect(h.events.published[0]).toMatchObject({
      detailType: 'Export Failed',
      detail: { export_id: id, status: 'FAILED', error: { code: 'ZOHO_CREATE_UNCERTAIN' } },
    });

    await delayedJob(h);
    const again = await post(h, 'slow-3');
    expect([again.status, again.body.error.code]).toEqual([504, 'ZOHO_CREATE_UNCERTAIN']);
    expect(again.body.error.message).toBe(r.body.error.message);
    expect(creates(h)).toHaveLength(1);
    expect((await apiOf(h)('GET', `/exports/${id}`)).body).toMatchObject({ status: 'FAILED', pages: [] });
  });

  it('without a key: 504 ZOHO_CREATE_UNCERTAIN and nothing written', async () => {
    h = await harness(false);
    const before = await snapshot(h);
    h.fake.inject({ kind: 'create', action: { type: 'delay', ms: CREATE_DELAY_MS } });
    const r = await post(h);
    expect([r.status, r.body.error.code]).toEqual([504, 'ZOHO_CREATE_UNCERTAIN']);
    expect(r.body.error.message).not.toMatch(/Idempotency-Key/);
    expect(await snapshot(h)).toEqual(before);
    expect(h.events.published).toEqual([]);
  });
});

describe('what the create surely did not do still writes nothing', () => {
  it('a definitive refusal after a delay (INVALID_MODULE): 400, nothing written, the key free', async () => {
    h = await harness(false);
    const before = await snapshot(h);
    h.fake.inject({ kind: 'create', action: { type: 'delay', ms: 100 } });
    const r = await apiOf(h)('POST', '/exports', {
      body: JSON.stringify({ module: 'Not_A_Module' }),
      headers: { 'Idempotency-Key': 'refused' },
    });
    expect([r.status, r.body.error.code]).toEqual([400, 'INVALID_MODULE']);
    expect(await snapshot(h)).toEqual(before);
  });

  it('no access token (the create never left): 503, nothing written, the key usable again', async () => {
    h = await harness(true);
    const before = await snapshot(h);
    h.fake.inject({ kind: 'token', times: 5, action: { type: 'http', status: 500, body: 'down' } });
    const r = await post(h, 'no-token');
    expect(r.status).toBe(503);
    expect(await snapshot(h)).toEqual(before);
    expect(creates(h)).toHaveLength(0);
    h.fake.clearFaults();
    h.clock.advance(60_000);
    expect((await post(h, 'no-token')).status).toBe(201);
  });
});

describe('EXPORT_CONFLICT', () => {
  it('Zoho answers with a job already registered: 409, and the key is free at once', async () => {
    h = await harness(false);
    const seeded = h.fake.addJob({ module: 'Contacts' });
    await h.register(seeded.id);
    const zoho = h.exportDeps.zoho;
    let answerSeeded = true;
    h.exportDeps.zoho = Object.assign(Object.create(zoho), {
      async createJob(...args: Parameters<typeof zoho.createJob>) {
        const real = await zoho.createJob(...args);
        return answerSeeded ? { ...real, id: seeded.id } : real;
      },
    });
    const r = await post(h, 'conflict');
    expect([r.status, r.body.error.code]).toEqual([409, 'EXPORT_CONFLICT']);
    expect((await snapshot(h)).idempotency).toEqual([]);
    // The key is not held "creating" until its lease runs out: a retry goes ahead at once.
    answerSeeded = false;
    const t0 = performance.now();
    const again = await post(h, 'conflict');
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
