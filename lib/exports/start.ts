/**
 * Starting an export: `POST /exports` and a schedule's run create the first Zoho job during the
 * request (`startExport`); `POST /jobs` registers a Zoho job made elsewhere as page 1 of a new export
 * (`registerJobExport`).
 */
import { newCallbackBinding } from '../callbacks/token.js';
import type { TransactOp } from '../ddb/table.js';
import type { JobRecord } from '../jobs/model.js';
import { isSlotWait, isUncertainCreate } from '../jobs/retry.js';
import { describeError } from '../observability.js';
import type { ZohoError } from '../zoho/errors.js';
import { type ExportDeps, formatsOf, sleep } from './deps.js';
import { ExportRequestError } from './errors.js';
import { requestHash } from './idempotency.js';
import {
  type ExportQuery,
  type ExportRecord,
  type ExportSource,
  newExportId,
  type StoredQuery,
} from './model.js';
import { ADOPT_WINDOW_MS, rememberRefusal } from './pages.js';
import { publishEvent } from './publish.js';

/**
 * The code of an export whose first create got no answer from Zoho: the job may exist at Zoho, and
 * without a callback nothing can find it.
 */
export const ZOHO_CREATE_UNCERTAIN = 'ZOHO_CREATE_UNCERTAIN';

const storedQuery = (q: Omit<ExportQuery, 'module'>): StoredQuery => ({
  fields: q.fields ?? null,
  criteria: q.criteria ?? null,
  cvid: q.cvid ?? null,
});

/**
 * Starts an export: creates the first Zoho job, then records the export and its first page. Zoho's
 * refusal (a ZohoError) is thrown before anything is written. With an idempotency key, a retry of the
 * same request returns the same export (`created: false`) without asking Zoho again.
 *
 * A create that got no answer (Zoho may have made the job) is never followed by a second create for
 * the same request: with callbacks, the export is recorded RUNNING with page 1 awaiting the job's
 * callback (no page yet); without, an export with a key is recorded FAILED `ZOHO_CREATE_UNCERTAIN` (the
 * key answers it from then on) and one without a key is refused (504) with nothing written.
 */
export async function startExport(
  deps: ExportDeps,
  req: {
    query: ExportQuery;
    source: ExportSource;
    mode?: ExportRecord['mode'];
    /** Incremental: where the window starts (ISO); its deletions are landed before the manifest. */
    since?: string | undefined;
    idempotencyKey?: string | undefined;
    signal?: AbortSignal;
  },
): Promise<{ created: boolean; record: ExportRecord }> {
  const now = deps.now ?? Date.now;
  let exportId = newExportId(now());
  let owner: string | undefined;
  const key = req.idempotencyKey;
  if (key !== undefined) {
    if (!deps.idempotency) throw new Error('idempotency store not configured');
    const hash = requestHash({ query: req.query, source: req.source });
    // A concurrent request with the same key is creating it: wait for it, on the wall clock (the
    // claims take time too), up to the function's idempotency wait: lib/wiring.ts budgetFor keeps
    // wait + token wait + Zoho request within the Lambda's timeout, so the create that follows fits.
    const maxWaitMs = deps.idempotencyWaitMs ?? 10_000;
    const waitStart = performance.now();
    for (;;) {
      const c = await deps.idempotency.claim(key, hash, exportId);
      if (c.kind === 'reused') {
        throw new ExportRequestError(
          409,
          'IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used with a different request in the last 24 h; use a new key for a new export',
        );
      }
      if (c.kind === 'done') {
        const existing = await deps.exports.get(c.exportId);
        if (existing) return { created: false, record: existing };
        throw new Error(`export ${c.exportId} of an idempotency key vanished`);
      }
      if (c.kind === 'claimed') {
        owner = c.owner;
        exportId = c.exportId;
        break;
      }
      if (performance.now() - waitStart >= maxWaitMs || req.signal?.aborted) throw keyInProgress();
      await sleep(250);
    }
    // The request's time ran out while it waited (the API's signal fires 2 s before the Lambda's
    // end): a create started now could not answer; the key is free for the client's retry.
    if (req.signal?.aborted) {
      await deps.idempotency.release(key, owner).catch(() => undefined);
      throw keyInProgress();
    }
  }
  const version = deps.config.ZOHO_API_VERSION ?? 'v8';
  const { module, ...rest } = req.query;
  let created: { id: string };
  let callback: string | undefined;
  const keyDone = (): TransactOp[] =>
    key !== undefined && owner ? [deps.idempotency!.doneOp(key, owner)] : [];
  const releaseKey = async (): Promise<void> => {
    if (key !== undefined && owner) await deps.idempotency!.release(key, owner).catch(() => undefined);
  };
  const newRecord = (): ExportRecord =>
    deps.exports.newExport({
      export_id: exportId,
      module,
      source: req.source,
      query: storedQuery(rest),
      api_version: version,
      formats: formatsOf(deps),
      mode: req.mode ?? 'full',
      since: req.since,
    });
  const asked = performance.now();
  // Page 1's nonce: its token names this attempt only (stored on the job record below).
  const binding = newCallbackBinding(deps.timing.maxAgeMs, now());
  try {
    callback = await deps.callbackUrl?.(exportId, 1, binding);
    created = await deps.zoho.createJob(
      {
        module,
        ...(rest.fields ? { fields: rest.fields } : {}),
        ...(rest.criteria ? { criteria: rest.criteria } : {}),
        ...(rest.cvid ? { cvid: rest.cvid } : {}),
      },
      {
        version,
        ...(callback ? { callback: { url: callback } } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      },
    );
  } catch (e) {
    // Every one of our Zoho job slots is taken (lib/zoho/job-slots.ts): nothing was asked of Zoho. The
    // export is recorded with page 1 wanted, as a snapshot's modules are, and the sweep creates it when
    // a slot frees: a caller is not turned away for a wait that is ours to keep.
    if (isSlotWait(e))
      return queueFirstPage(deps, { e, record: newRecord(), keyDone: keyDone(), releaseKey });
    // A refusal, or a failure before the request left (no token): nothing exists at Zoho.
    if (!isUncertainCreate(e)) {
      await releaseKey();
      await rememberRefusal(deps, module, e);
      throw e;
    }
    const seconds = Math.max(1, Math.round((performance.now() - asked) / 1000));
    const uncertain = {
      e,
      seconds,
      record: newRecord(),
      keyDone: keyDone(),
      releaseKey,
      nonce: binding.nonce,
    };
    return callback !== undefined
      ? awaitFirstPage(deps, uncertain)
      : failUncertain(deps, { ...uncertain, keyed: key !== undefined });
  }
  const record = newRecord();
  const job = deps.jobs.newJob(created.id, {
    module,
    page: 1,
    api_version: version,
    export_id: exportId,
    export_date: record.export_date,
    export_source: req.source,
    parquet_wanted: record.formats.includes('parquet'),
    callback: callback !== undefined,
    ...(callback !== undefined ? { callback_nonce: binding.nonce } : {}),
  });
  const ok = await deps.exports.create(record, job, keyDone());
  if (!ok) {
    // Not left "creating" until its lease runs out (the client would wait, then create again anyway).
    await releaseKey();
    throw new ExportRequestError(
      409,
      'EXPORT_CONFLICT',
      `Zoho job ${created.id} is already registered here, or the request took too long; list the exports before retrying`,
    );
  }
  deps.metrics.count('ExportsStarted');
  deps.logger.info('export started', { export_id: exportId, module, source: req.source, job_id: created.id });
  return { created: true, record: { ...record, page_jobs: [created.id], pages_created: 1 } };
}

/** 409 IDEMPOTENCY_KEY_IN_PROGRESS: another request with the key is still creating its export. */
const keyInProgress = (): ExportRequestError =>
  new ExportRequestError(
    409,
    'IDEMPOTENCY_KEY_IN_PROGRESS',
    'a request with this Idempotency-Key is still creating its export; retry in a few seconds',
    2,
  );

/** A first create that got no answer: what `startExport` knows when it records the outcome. */
interface UncertainStart {
  e: ZohoError;
  /** How long Zoho was waited for. */
  seconds: number;
  /** The new export, not written. */
  record: ExportRecord;
  /** The idempotency key's "done" (empty without a key). */
  keyDone: TransactOp[];
  releaseKey: () => Promise<void>;
  /** The nonce in page 1's callback token (its callback adopts the job only with it). */
  nonce: string;
}

/** The export could not be written after an uncertain create (its id or the key's claim is taken). */
async function notRecorded(u: UncertainStart): Promise<never> {
  await u.releaseKey();
  throw new ExportRequestError(
    409,
    'EXPORT_CONFLICT',
    `Zoho did not answer within ${u.seconds} s and the export could not be recorded; list the exports before retrying`,
  );
}

/**
 * Every Zoho job slot is taken: the export is recorded RUNNING with page 1 wanted and due for the sweep
 * now (it asks for a slot each tick, lib/jobs/retry.ts afterCreateError); the caller gets it at once
 * (`202`, `pending_page`). No job exists at Zoho, so there is nothing to adopt (no nonce).
 */
async function queueFirstPage(
  deps: ExportDeps,
  q: Pick<UncertainStart, 'e' | 'record' | 'keyDone' | 'releaseKey'>,
): Promise<{ created: boolean; record: ExportRecord }> {
  const error = describeError(q.e);
  if (!(await deps.exports.table.transact([deps.exports.queuedOp(q.record, error), ...q.keyDone]))) {
    await q.releaseKey();
    throw new ExportRequestError(
      409,
      'EXPORT_CONFLICT',
      'the export could not be recorded (its id or its Idempotency-Key is taken); list the exports before retrying',
    );
  }
  deps.metrics.count('ExportsStarted');
  deps.logger.info('export started; page 1 waits for a Zoho job slot', {
    export_id: q.record.export_id,
    module: q.record.module,
    source: q.record.source,
  });
  const stored = await deps.exports.get(q.record.export_id);
  return { created: true, record: stored ?? q.record };
}

/**
 * Callbacks on: Zoho was given page 1's callback URL, so if it made the job, its callback adopts it
 * (adoptPageJob). The export is recorded RUNNING with page 1 as an intent whose attempt is over; the
 * sweep asks Zoho again only after the adoption window, as for a follow-up page.
 */
async function awaitFirstPage(
  deps: ExportDeps,
  u: UncertainStart,
): Promise<{ created: boolean; record: ExportRecord }> {
  const now = deps.now ?? Date.now;
  const error = describeError(u.e);
  if (
    !(await deps.exports.createAwaitingFirstPage(
      u.record,
      error,
      now() + ADOPT_WINDOW_MS,
      u.keyDone,
      u.nonce,
    ))
  )
    return notRecorded(u);
  deps.metrics.count('ExportsStarted');
  deps.logger.warn('export started; page 1 may have been created, waiting for its callback', {
    export_id: u.record.export_id,
    module: u.record.module,
    source: u.record.source,
    error,
  });
  const stored = await deps.exports.get(u.record.export_id);
  return { created: true, record: stored ?? u.record };
}

/**
 * Callbacks off: nothing can find the job Zoho may have made, and creating it again could make two.
 * With a key, the export is recorded FAILED with the key done (a retry answers it, never a second
 * create), its event published as `failExport` does; without one, nothing is written and the caller
 * is told (504).
 */
async function failUncertain(
  deps: ExportDeps,
  u: UncertainStart & { keyed: boolean },
): Promise<{ created: boolean; record: ExportRecord }> {
  const message =
    `Zoho did not answer the creation of the export's first job within ${u.seconds} s (${u.e.code}); ` +
    'the job may exist at Zoho, so it is not asked for again; start a new export' +
    (u.keyed ? ' with a new Idempotency-Key' : '');
  if (!u.keyed) throw new ExportRequestError(504, ZOHO_CREATE_UNCERTAIN, message);
  const error = { code: ZOHO_CREATE_UNCERTAIN, message, page: 1 };
  if (!(await deps.exports.createFailed(u.record, error, u.keyDone))) return notRecorded(u);
  deps.metrics.count('ExportsFailed');
  deps.logger.warn('export failed: its first create got no answer', {
    export_id: u.record.export_id,
    error: describeError(u.e),
  });
  await publishEvent(deps, u.record.export_id);
  const stored = await deps.exports.get(u.record.export_id);
  return { created: true, record: stored ?? u.record };
}

/**
 * `POST /jobs`: registers a Zoho job made elsewhere, as page 1 of a new export (`source: "job"`) that
 * will own its follow-up pages. Registering it again returns the job as it is.
 */
export async function registerJobExport(
  deps: Pick<ExportDeps, 'exports' | 'jobs' | 'config' | 'logger' | 'metrics' | 'now'>,
  jobId: string,
): Promise<{ created: boolean; job: JobRecord }> {
  const existing = await deps.jobs.get(jobId);
  if (existing) return { created: false, job: existing };
  const now = deps.now ?? Date.now;
  const record = deps.exports.newExport({
    export_id: newExportId(now()),
    module: null,
    source: 'job',
    query: { fields: null, criteria: null, cvid: null },
    api_version: deps.config.ZOHO_API_VERSION ?? 'v8',
    formats: formatsOf(deps),
  });
  const job = deps.jobs.newJob(jobId, {
    export_id: record.export_id,
    export_date: record.export_date,
    export_source: 'job',
    parquet_wanted: record.formats.includes('parquet'),
  });
  if (await deps.exports.create(record, job)) {
    deps.metrics.count('ExportsStarted');
    deps.logger.info('job registered', { job_id: jobId, export_id: record.export_id });
    return { created: true, job };
  }
  const raced = await deps.jobs.get(jobId);
  if (raced) return { created: false, job: raced };
  throw new Error(`job ${jobId} could not be registered`);
}
