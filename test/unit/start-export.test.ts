/**
 * startExport's decisions after a Zoho create without an answer, and around the idempotency wait, on
 * in-memory tables: what is recorded, what the key says afterwards, and that Zoho is asked once.
 */
import { describe, expect, it } from 'vitest';
import { requestHash } from '../../lib/exports/idempotency.js';
import { toPublicExport } from '../../lib/exports/model.js';
import { ADOPT_WINDOW_MS, adoptPageJob } from '../../lib/exports/pages.js';
import { exportAction } from '../../lib/exports/reactions.js';
import { startExport, ZOHO_CREATE_UNCERTAIN } from '../../lib/exports/start.js';
import type { CreateJobOptions, CreateJobQuery } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryExportDeps } from '../support/memory.js';

const query = { module: 'Contacts' };
const hash = requestHash({ query, source: 'api' });

/** Deps whose Zoho create fails with `err` (or answers job 111), counting the calls. */
function depsFailing(err: unknown | undefined, extra: Parameters<typeof memoryExportDeps>[0] = {}) {
  const calls: Array<{ query: CreateJobQuery; opts: CreateJobOptions | undefined }> = [];
  const deps = memoryExportDeps(extra);
  deps.zoho = {
    ...deps.zoho,
    createJob: async (q, opts) => {
      calls.push({ query: q, opts });
      if (err !== undefined) throw err;
      return { id: '111', state: 'ADDED' };
    },
  };
  return { deps, calls };
}

const timeout = () => new ZohoError({ code: 'TIMEOUT', kind: 'retryable', message: 'create timed out' });
const callbackUrl = async (id: string, page: number) => `https://cb.example/${id}/${page}`;

describe('an uncertain first create with callbacks', () => {
  it('records the export RUNNING with page 1 awaiting its callback; the key returns it; the callback adopts', async () => {
    const { deps, calls } = depsFailing(timeout(), { callbackUrl });
    const t0 = Date.now();
    const first = await startExport(deps, { query, source: 'api', idempotencyKey: 'k1' });
    expect(first.created).toBe(true);
    const id = first.record.export_id;
    expect(calls).toHaveLength(1);
    expect(calls[0]!.opts?.callback?.url).toBe(await callbackUrl(id, 1));
    const rec = (await deps.exports.get(id))!;
    expect(rec).toMatchObject({
      status: 'RUNNING',
      page_jobs: [],
      pages_created: 0,
      intent_page: 1,
      intent_state: 'creating',
      intent_attempts: 1,
      intent_error: { code: 'TIMEOUT' },
    });
    expect(rec.intent_owner).toBeUndefined();
    // The sweep waits for the callback for the adoption window, then asks Zoho again.
    const opts = { callbacks: true, adoptWindowMs: ADOPT_WINDOW_MS };
    expect(exportAction(rec, t0 + 60_000, opts).kind).toBe('await-callback');
    expect(exportAction(rec, (rec.intent_tried_at ?? 0) + ADOPT_WINDOW_MS + 1, opts).kind).toBe(
      'take-over-intent',
    );
    expect(toPublicExport(rec, []).pending_page).toMatchObject({ page: 1, code: ZOHO_CREATE_UNCERTAIN });
    expect(toPublicExport(rec, []).pending_page?.message).toMatch(/\(TIMEOUT\).*\(1 h\)/);
    expect(ADOPT_WINDOW_MS).toBe(3_600_000); // the message says 1 h

    const again = await startExport(deps, { query, source: 'api', idempotencyKey: 'k1' });
    expect(again).toMatchObject({ created: false, record: { export_id: id } });
    expect(calls).toHaveLength(1);

    // Adoption asks Zoho for the job's status: the job Zoho made for this request (module, page 1, made
    // after the intent).
    deps.zoho = {
      ...deps.zoho,
      getJob: async (jobId) => ({
        id: jobId,
        operation: 'read',
        state: 'IN PROGRESS',
        rawState: 'IN PROGRESS',
        completed: false,
        failed: false,
        module: 'Contacts',
        moduleId: undefined,
        query: { module: 'Contacts', page: 1 },
        createdBy: undefined,
        createdTime: new Date((rec.intent_tried_at ?? t0) + 1_000).toISOString(),
        fileType: 'csv',
        result: undefined,
        error: undefined,
      }),
    };
    expect(await adoptPageJob(deps, id, 1, '222')).toBe(true);
    const adopted = (await deps.exports.get(id))!;
    expect(adopted).toMatchObject({ page_jobs: ['222'], pages_created: 1 });
    expect(adopted.intent_page).toBeUndefined();
    expect(await deps.jobs.get('222')).toMatchObject({ page: 1, export_id: id, callback: true });
    expect(toPublicExport(adopted, []).pending_page).toBeUndefined();
  });

  it('without a key too (a schedule run): the export is recorded, nothing to release', async () => {
    const { deps } = depsFailing(
      new ZohoError({ code: 'NETWORK_ERROR', kind: 'retryable', message: 'socket hang up' }),
      { callbackUrl },
    );
    const r = await startExport(deps, { query, source: 'schedule:nightly' });
    expect(r.record).toMatchObject({ status: 'RUNNING', page_jobs: [], intent_page: 1 });
  });
});

describe('an uncertain first create without callbacks', () => {
  it('with a key: FAILED ZOHO_CREATE_UNCERTAIN, the key done, its event published', async () => {
    const published: unknown[] = [];
    const { deps, calls } = depsFailing(timeout(), {
      events: { publish: async (e) => void published.push(e) },
    });
    const r = await startExport(deps, { query, source: 'api', idempotencyKey: 'k2' });
    expect(r.record).toMatchObject({
      status: 'FAILED',
      page_jobs: [],
      error: { code: ZOHO_CREATE_UNCERTAIN, page: 1 },
    });
    expect(r.record.error?.message).toMatch(
      /within \d+ s \(TIMEOUT\).*may exist at Zoho.*new Idempotency-Key/,
    );
    expect(published).toEqual([
      expect.objectContaining({
        detailType: 'Export Failed',
        detail: expect.objectContaining({ status: 'FAILED' }),
      }),
    ]);
    expect((await deps.idempotency!.claim('k2', hash, 'ex_x')).kind).toBe('done');
    const again = await startExport(deps, { query, source: 'api', idempotencyKey: 'k2' });
    expect(again).toMatchObject({
      created: false,
      record: { export_id: r.record.export_id, status: 'FAILED' },
    });
    expect(calls).toHaveLength(1);
  });

  it('without a key: 504 ZOHO_CREATE_UNCERTAIN and nothing written', async () => {
    const { deps } = depsFailing(timeout());
    await expect(startExport(deps, { query, source: 'api' })).rejects.toMatchObject({
      status: 504,
      code: ZOHO_CREATE_UNCERTAIN,
    });
    expect((await deps.exports.list({ limit: 10 })).exports).toEqual([]);
  });
});

describe('a create that surely made nothing frees the key', () => {
  it.each([
    ['a refusal', new ZohoError({ code: 'INVALID_MODULE', kind: 'terminal', message: 'no such module' })],
    [
      'a token failure (aborted while waiting for the token)',
      new ZohoError({ code: 'ABORTED', kind: 'retryable', message: 'aborted', stage: 'oauth' }),
    ],
  ])('%s', async (_n, err) => {
    const { deps } = depsFailing(err, { callbackUrl });
    await expect(startExport(deps, { query, source: 'api', idempotencyKey: 'k3' })).rejects.toBe(err);
    expect((await deps.exports.list({ limit: 10 })).exports).toEqual([]);
    expect((await deps.idempotency!.claim('k3', hash, 'ex_y')).kind).toBe('claimed');
  });
});

describe('the idempotency wait and the request deadline', () => {
  it('stops waiting when the request is out of time: 409 IDEMPOTENCY_KEY_IN_PROGRESS with Retry-After', async () => {
    const { deps, calls } = depsFailing(undefined, { idempotencyWaitMs: 5_000 });
    await deps.idempotency!.claim('k4', hash, 'ex_other');
    const t0 = performance.now();
    await expect(
      startExport(deps, { query, source: 'api', idempotencyKey: 'k4', signal: AbortSignal.timeout(100) }),
    ).rejects.toMatchObject({ status: 409, code: 'IDEMPOTENCY_KEY_IN_PROGRESS', retryAfterSeconds: 2 });
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect(calls).toHaveLength(0);
  });

  it('a key claimed when no time is left: no create, 409, and the key free again', async () => {
    const { deps, calls } = depsFailing(undefined);
    const signal = AbortSignal.abort();
    await expect(
      startExport(deps, { query, source: 'api', idempotencyKey: 'k5', signal }),
    ).rejects.toMatchObject({ status: 409, code: 'IDEMPOTENCY_KEY_IN_PROGRESS' });
    expect(calls).toHaveLength(0);
    expect((await deps.idempotency!.claim('k5', hash, 'ex_z')).kind).toBe('claimed');
  });
});
