/**
 * Starting an export: `POST /exports` and a schedule's run create the first Zoho job during the
 * request (`startExport`); `POST /jobs` registers a Zoho job made elsewhere as page 1 of a new export
 * (`registerJobExport`).
 */
import { newCallbackBinding } from '../callbacks/token.js';
import type { JobRecord } from '../jobs/model.js';
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

const storedQuery = (q: Omit<ExportQuery, 'module'>): StoredQuery => ({
  fields: q.fields ?? null,
  criteria: q.criteria ?? null,
  cvid: q.cvid ?? null,
});

/**
 * Starts an export: creates the first Zoho job, then records the export and its first page. Zoho's
 * refusal (a ZohoError) is thrown before anything is written. With an idempotency key, a retry of the
 * same request returns the same export (`created: false`) without asking Zoho again.
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
    // A concurrent request with the same key is creating it: wait for it (up to ~10 s).
    const maxWaitMs = deps.idempotencyWaitMs ?? 10_000;
    for (let waited = 0; ; waited += 250) {
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
      if (waited >= maxWaitMs) {
        throw new ExportRequestError(
          409,
          'IDEMPOTENCY_KEY_IN_PROGRESS',
          'a request with this Idempotency-Key is still creating its export; retry in a few seconds',
          2,
        );
      }
      await sleep(250);
    }
  }
  const version = deps.config.ZOHO_API_VERSION ?? 'v8';
  const { module, ...rest } = req.query;
  let created: { id: string };
  let callback: string | undefined;
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
    if (key !== undefined && owner) await deps.idempotency!.release(key, owner).catch(() => undefined);
    throw e;
  }
  const record = deps.exports.newExport({
    export_id: exportId,
    module,
    source: req.source,
    query: storedQuery(rest),
    api_version: version,
    formats: formatsOf(deps),
    mode: req.mode ?? 'full',
    since: req.since,
  });
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
  const ok = await deps.exports.create(
    record,
    job,
    key !== undefined && owner ? [deps.idempotency!.doneOp(key, owner)] : [],
  );
  if (!ok) {
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
