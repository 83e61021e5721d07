/**
 * What exports do, on top of the export and job state machines: start one (the first Zoho job is
 * created during the request), follow every page (an intent recorded before each follow-up is
 * created), finish one (manifest, COMPLETED, event), and a sweep the poller runs as the safety net.
 * The poller and the downloader reach it through `PageHooks`, so the job pipeline knows nothing of
 * exports.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { LINEAGE_COLUMNS } from '../analytics/types.js';
import type { Timing } from '../config.js';
import type { JobError, JobRecord } from '../jobs/model.js';
import { backoffMs } from '../jobs/retry.js';
import type { JobStore } from '../jobs/store.js';
import { EXPORT_FOLLOW_THROUGH_MS } from '../jobs/store.js';
import { describeError, type MetricsSink } from '../observability.js';
import type { ScheduleDefinition } from '../schedules/definitions.js';
import { landDeletions, type ManifestDeletions } from '../schedules/deletions.js';
import type { ScheduleStore } from '../schedules/store.js';
import type { Settings } from '../settings.js';
import type { CreateJobQuery, ZohoClient } from '../zoho/client.js';
import { API_VERSIONS, type ApiVersion, usesPageToken } from '../zoho/data-centers.js';
import { ZohoError } from '../zoho/errors.js';
import type { ZohoJob } from '../zoho/schemas.js';
import { type Catalog, type CatalogColumn, moduleTableInput, type TableChange } from './catalog.js';
import type { ConvertMessage } from './convert-message.js';
import { type EventPublisher, exportEvent } from './events.js';
import { type IdempotencyStore, requestHash } from './idempotency.js';
import { manifestKey } from './layout.js';
import { buildManifest, writeManifest } from './manifest.js';
import {
  type ExportQuery,
  type ExportRecord,
  type ExportSource,
  newExportId,
  type PublicExport,
  type PublicPage,
  type StoredQuery,
  toPublicExport,
} from './model.js';
import { isPageTokenRefusal, recoverFollowUp, recoverPage } from './recovery.js';
import type { ExportStore } from './store.js';

/** How long one attempt to create a follow-up page holds its intent. */
export const INTENT_LEASE_MS = 2 * 60_000;
/**
 * How long an intent whose creator died waits for the callback of the job Zoho may have created
 * before it is taken over (and the page created again). Without callbacks it is taken over as soon
 * as its lease runs out.
 */
export const ADOPT_WINDOW_MS = 60 * 60_000;

/** Failures after which Zoho may have created the job all the same: the request left, no answer came. */
const UNCERTAIN_CODES = new Set(['TIMEOUT', 'NETWORK_ERROR', 'ABORTED']);

export type ConvertDispatch = (msg: ConvertMessage, delayMs?: number) => Promise<void>;

/** The callback URL for a page's Zoho job, or none. */
export type CallbackUrl = (exportId: string, page: number) => Promise<string>;

export interface ExportDeps {
  exports: ExportStore;
  jobs: JobStore;
  zoho: ZohoClient;
  /** The API version and formats of new exports (the API needs them), where manifests go (finalizing needs them). */
  config: Partial<Pick<Settings, 'ZOHO_API_VERSION' | 'S3_PREFIX' | 'OUTPUT_FORMATS'>> & { BUCKET?: string };
  /** Hands a page to the Parquet converter (SQS in AWS, a worker process locally), after `delayMs`. */
  convert?: ConvertDispatch;
  /** Where the module tables go when an export with Parquet completes. */
  catalog?: Catalog;
  timing: Timing;
  logger: Logger;
  metrics: MetricsSink;
  idempotency?: IdempotencyStore;
  /** How long a start waits for a concurrent request with the same Idempotency-Key (default 10 s). */
  idempotencyWaitMs?: number;
  /** The schedules' state (watermarks, running runs): a schedule's export ending frees it. */
  schedules?: ScheduleStore;
  /** The configured schedules (the API lists and runs them). */
  scheduleDefinitions?: ScheduleDefinition[];
  s3?: S3Client;
  events?: EventPublisher;
  callbackUrl?: CallbackUrl;
  now?: () => number;
  random?: () => number;
}

/** A request the exporter refuses (the API turns it into a 4xx). */
export class ExportRequestError extends Error {
  override readonly name = 'ExportRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const asVersion = (v: string | undefined): ApiVersion | undefined =>
  (API_VERSIONS as readonly string[]).includes(v ?? '') ? (v as ApiVersion) : undefined;

const storedQuery = (q: Omit<ExportQuery, 'module'>): StoredQuery => ({
  fields: q.fields ?? null,
  criteria: q.criteria ?? null,
  cvid: q.cvid ?? null,
});

/** What new exports are written as: the configured formats (csv always). */
const formatsOf = (deps: Pick<ExportDeps, 'config'>): ExportRecord['formats'] =>
  deps.config.OUTPUT_FORMATS ?? ['csv'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------- start

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
    // A concurrent request with the same key is creating it: wait for it (within the function's budget).
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
  try {
    callback = await deps.callbackUrl?.(exportId, 1);
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

// ---------------------------------------------------------------------------------------- read

/** An export with its pages (each page's job, in page order). */
export async function readExport(
  deps: Pick<ExportDeps, 'exports' | 'jobs'>,
  exportId: string,
): Promise<PublicExport | undefined> {
  const e = await deps.exports.get(exportId);
  if (!e) return undefined;
  return toPublicExport(e, await pagesOf(deps, e));
}

async function pageJobs(
  deps: Pick<ExportDeps, 'jobs'>,
  e: ExportRecord,
): Promise<Array<JobRecord | undefined>> {
  const limit = pLimit(10);
  return Promise.all(
    e.page_jobs.map((id) => limit(() => (id ? deps.jobs.get(id) : Promise.resolve(undefined)))),
  );
}

export async function pagesOf(deps: Pick<ExportDeps, 'jobs'>, e: ExportRecord): Promise<PublicPage[]> {
  const jobs = await pageJobs(deps, e);
  return jobs.flatMap((j, i) => (j ? [publicPage(j, i + 1)] : []));
}

function publicPage(j: JobRecord, page: number): PublicPage {
  const p = j.parquet;
  return {
    page,
    job_id: j.job_id,
    status: j.status,
    records: j.records ?? null,
    s3: j.s3 ?? null,
    parquet: j.parquet_wanted
      ? {
          status: j.parquet_status ?? 'PENDING',
          bucket: p?.bucket ?? null,
          key: p?.key ?? null,
          bytes: p?.bytes ?? null,
          rows: p?.rows ?? null,
          row_groups: p?.row_groups ?? null,
        }
      : null,
  };
}

// ---------------------------------------------------------------------------------------- pages

/**
 * A page's job is COMPLETED at Zoho and on its way to S3 (`job` as just recorded): if Zoho has more
 * records, record the next page as wanted and create it now (a failure leaves the intent for the
 * sweep to retry). True when a page was created.
 */
async function pageCompleted(deps: ExportDeps, job: JobRecord): Promise<boolean> {
  if (!job.more_records || !job.export_id) return false;
  const e = await deps.exports.get(job.export_id);
  const at = e?.page_jobs.indexOf(job.job_id) ?? -1;
  if (!e || at < 0) return false;
  const version = asVersion(job.api_version) ?? asVersion(e.api_version) ?? 'v8';
  const token = usesPageToken(version) ? job.next_page_token : undefined;
  await deps.exports.wantPage(e.export_id, at + 2, job.job_id, token, e.recoveries);
  return createWantedPage(deps, e.export_id);
}

/** The first status of a registered job names its module and query: the export learns them. */
async function pageObserved(deps: ExportDeps, job: JobRecord, z: ZohoJob): Promise<void> {
  if (!job.export_id || job.export_source !== 'job' || !z.module) return;
  const q = z.query;
  const query: StoredQuery = {
    fields: q?.fields?.length ? q.fields : null,
    criteria: (q?.criteria as StoredQuery['criteria']) ?? null,
    cvid: typeof q?.cvid === 'string' ? q.cvid : null,
  };
  await deps.exports.learn(job.export_id, z.module, query);
}

/**
 * Takes the export's wanted page (or one whose creator died, with `takeOver`), asks Zoho to create
 * it, and records it. True when a page was created.
 */
async function createWantedPage(deps: ExportDeps, exportId: string, takeOver = false): Promise<boolean> {
  const now = deps.now ?? Date.now;
  const e = await deps.exports.get(exportId);
  if (e?.status !== 'RUNNING' || e.intent_page === undefined) return false;
  const claim = await deps.exports.claimIntent(e, INTENT_LEASE_MS, takeOver);
  if (!claim) return false;
  const page = claim.page;
  const parentId = e.page_jobs[page - 2];
  const parent = parentId ? await deps.jobs.get(parentId) : undefined;
  const version =
    asVersion(parent?.api_version) ?? asVersion(e.api_version) ?? deps.config.ZOHO_API_VERSION ?? 'v8';
  const q: CreateJobQuery = {};
  if (e.intent_page_token && usesPageToken(version)) q.pageToken = e.intent_page_token;
  else {
    if (!e.module) {
      await deps.exports.fail(exportId, {
        code: 'UNKNOWN_MODULE',
        message: 'the module of this export is not known',
        page,
      });
      return false;
    }
    q.module = e.module;
    if (e.query.fields) q.fields = e.query.fields;
    if (e.query.criteria) q.criteria = e.query.criteria;
    if (e.query.cvid) q.cvid = e.query.cvid;
    // Zoho's page number: the parent's plus one (a registered job need not be page 1 at Zoho).
    q.page = (parent?.page ?? page - 1) + 1;
  }
  let created: { id: string };
  let callback: string | undefined;
  try {
    callback = await deps.callbackUrl?.(exportId, page);
    created = await deps.zoho.createJob(q, { version, ...(callback ? { callback: { url: callback } } : {}) });
  } catch (err) {
    let error = describeError(err);
    if (err instanceof ZohoError && err.kind === 'terminal' && err.stage !== 'oauth') {
      // A page token that expired: the export restarts from page 1 (lib/exports/recovery.ts).
      if (q.pageToken !== undefined && isPageTokenRefusal(err)) {
        const r = await recoverFollowUp(deps, e, claim, error);
        if (r.kind !== 'fail') return r.kind === 'recovered';
        error = r.error ?? error;
      }
      deps.logger.error('follow-up page could not be created; the export failed', {
        export_id: exportId,
        page,
        error,
      });
      // The page before stays exported; its job says why the export stops there.
      if (parentId) await deps.jobs.followUpFailed(parentId, error);
      deps.metrics.count('JobsFailed'); // JobsFailedAlarm: the module's export is incomplete
      await failExport(deps, exportId, { ...error, page });
      return false;
    }
    // The request went out and no answer came back: Zoho may have made the job. With callbacks, its
    // callback names it and adopts it (adoptPageJob); until the window closes, no second job.
    if (
      deps.callbackUrl &&
      err instanceof ZohoError &&
      err.stage !== 'oauth' &&
      UNCERTAIN_CODES.has(err.code)
    ) {
      await deps.exports.uncertainIntent(claim, error, now() + ADOPT_WINDOW_MS);
      deps.logger.warn('follow-up page may have been created; waiting for its callback before asking again', {
        export_id: exportId,
        page,
        error,
      });
      return false;
    }
    const attempts = (e.intent_attempts ?? 0) + 1;
    const retryAt =
      now() +
      Math.max(
        err instanceof ZohoError ? (err.retryAfterMs ?? 0) : 0,
        backoffMs(attempts - 1, deps.timing.baseMs, deps.timing.capMs, deps.random),
      );
    await deps.exports.retryIntent(claim, error, retryAt);
    deps.logger.warn('follow-up page not created yet; will retry', { export_id: exportId, page, error });
    return false;
  }
  const child = pageJobOf(deps, e, parent, page, created.id, version, callback !== undefined);
  if (await deps.exports.recordPage(e, claim, child)) {
    deps.logger.info('follow-up page registered', {
      export_id: exportId,
      job_id: parentId,
      next_job_id: created.id,
      page,
    });
    return true;
  }
  deps.logger.error('follow-up page created at Zoho but not recorded (the intent was taken over)', {
    export_id: exportId,
    page,
    orphan_job_id: created.id,
  });
  return false;
}

/** The job record of an export's page `page` (1-based), Zoho's job `jobId`, after `parent`. */
function pageJobOf(
  deps: Pick<ExportDeps, 'jobs'>,
  e: ExportRecord,
  parent: JobRecord | undefined,
  page: number,
  jobId: string,
  version: ApiVersion,
  callback: boolean,
): JobRecord {
  return deps.jobs.newJob(jobId, {
    module: e.module ?? parent?.module ?? null,
    page: (parent?.page ?? page - 1) + 1,
    previous_job_id: parent?.job_id,
    api_version: version,
    export_id: e.export_id,
    export_date: e.export_date,
    export_source: e.source,
    parquet_wanted: (e.formats ?? []).includes('parquet'),
    callback,
  });
}

/**
 * Zoho named job `jobId` as page `page` of an export (its callback carries both) while that page is
 * still an intent: the creator died after Zoho answered, or its answer was lost. Records the job as the
 * page, atomically with clearing the intent, so no second job is created. False when the page is not
 * (or no longer) wanted, or was recorded meanwhile.
 */
export async function adoptPageJob(
  deps: ExportDeps,
  exportId: string,
  page: number,
  jobId: string,
): Promise<boolean> {
  const e = await deps.exports.get(exportId);
  if (e?.status !== 'RUNNING' || e.intent_page !== page || e.page_jobs.length !== page - 1) return false;
  const parentId = e.page_jobs[page - 2];
  const parent = parentId ? await deps.jobs.get(parentId) : undefined;
  if (page > 1 && !parent) return false;
  const version =
    asVersion(parent?.api_version) ?? asVersion(e.api_version) ?? deps.config.ZOHO_API_VERSION ?? 'v8';
  const adopted = await deps.exports.adoptPage(
    e,
    page,
    pageJobOf(deps, e, parent, page, jobId, version, true),
  );
  if (adopted)
    deps.logger.info('follow-up page adopted from its callback', {
      export_id: exportId,
      page,
      job_id: jobId,
    });
  return adopted;
}

/** A page's job ended FAILED: so does its export. */
async function failExport(
  deps: ExportDeps,
  exportId: string,
  error: NonNullable<ExportRecord['error']>,
): Promise<void> {
  if (await deps.exports.fail(exportId, error)) {
    deps.metrics.count('ExportsFailed');
    deps.logger.warn('export failed', { export_id: exportId, error });
    await scheduleRunEnded(deps, exportId, 'FAILED');
    await publishEvent(deps, exportId);
  }
}

/** The schedule of `source` (`schedule:<name>`), if any. */
export const scheduleOf = (source: string | undefined): string | undefined =>
  source?.startsWith('schedule:') ? source.slice('schedule:'.length) : undefined;

/**
 * A schedule's export ended: the schedule is free for its next run, and a COMPLETED run's start
 * becomes its watermark. A failure here is repaired by the schedule's next run (lib/schedules/run.ts),
 * so it never fails the export.
 */
async function scheduleRunEnded(
  deps: ExportDeps,
  exportId: string,
  status: 'COMPLETED' | 'FAILED',
): Promise<void> {
  if (!deps.schedules) return;
  try {
    const e = await deps.exports.get(exportId);
    const name = scheduleOf(e?.source);
    if (!e || !name) return;
    if (await deps.schedules.ended(name, exportId, status, e.created_at)) {
      if (status === 'FAILED') deps.metrics.count('ScheduleRunsFailed');
      deps.logger.info('schedule run ended', { schedule: name, export_id: exportId, status });
    }
  } catch (err) {
    deps.logger.warn('schedule state not updated; its next run repairs it', {
      export_id: exportId,
      error: describeError(err),
    });
  }
}

/**
 * An incremental export's deletions file (lib/schedules/deletions.ts), landed before its manifest.
 * Undefined for a full export; throws (the export fails) when Zoho's deleted records cannot be read.
 */
async function exportDeletions(
  deps: ExportDeps,
  e: ExportRecord,
  parquet: boolean,
): Promise<ManifestDeletions | undefined> {
  if (e.mode !== 'incremental' || !e.since || !e.module) return undefined;
  return landDeletions(
    {
      zoho: deps.zoho,
      s3: deps.s3!,
      bucket: deps.config.BUCKET!,
      prefix: deps.config.S3_PREFIX!,
      catalog: parquet ? deps.catalog : undefined,
      logger: deps.logger,
      now: deps.now ?? Date.now,
      sleep,
      ...(deps.random ? { random: deps.random } : {}),
    },
    e,
    e.since,
    parquet,
  );
}

/**
 * Completes an export whose every page is EXPORTED (and converted, when it is written as Parquet) and
 * whose last page has no more records: creates or widens the module's table in the catalog (Parquet),
 * writes the manifest (the commit point), then marks it COMPLETED, then publishes the event. An export
 * with a FAILED page (or a failed conversion) is failed. Anything not ready yet is left for a later
 * call; calling it twice does no harm.
 */
export async function finalizeExport(deps: ExportDeps, exportId: string): Promise<boolean> {
  const now = deps.now ?? Date.now;
  const e = await deps.exports.get(exportId);
  if (e?.status !== 'RUNNING' || e.intent_page !== undefined || e.page_jobs.length === 0) return false;
  const jobs = await pageJobs(deps, e);
  for (const [i, j] of jobs.entries()) {
    // Normally the page's failure already failed the export; this is the safety net.
    const error =
      j?.status === 'FAILED' ? j.error : j?.parquet_status === 'FAILED' ? j.parquet_error : undefined;
    if (j && error !== undefined) {
      if (j.status === 'FAILED' && (await recoverPage(deps, j, error)).kind !== 'fail') return false;
      await failExport(deps, exportId, {
        ...(error ?? { code: 'FAILED', message: 'a page failed' }),
        page: i + 1,
        job_id: j.job_id,
      });
      return false;
    }
  }
  if (!jobs.every((j): j is JobRecord => j?.status === 'EXPORTED')) return false;
  if (jobs[jobs.length - 1]?.more_records) return false; // the next page is still to be wanted
  const parquet = (e.formats ?? []).includes('parquet');
  if (parquet && !jobs.every((j) => j.parquet_status === 'DONE' && j.parquet)) return false;
  if (!deps.s3 || !deps.config.BUCKET || deps.config.S3_PREFIX === undefined)
    throw new Error('finalizing an export needs S3');
  let catalog: TableChange | undefined;
  if (parquet && e.module) {
    if (!deps.catalog) throw new Error('finalizing a Parquet export needs the catalog');
    catalog = await deps.catalog.ensureModuleTable(
      moduleTableInput({
        bucket: deps.config.BUCKET,
        prefix: deps.config.S3_PREFIX,
        module: e.module,
        columns: catalogColumns(jobs),
      }),
    );
    for (const c of catalog.type_changes) {
      deps.metrics.count('CatalogTypeChanges');
      deps.logger.warn('a column changed type; the table keeps its first type', {
        export_id: exportId,
        table: catalog.table,
        ...c,
      });
    }
  }
  let deletions: ManifestDeletions | undefined;
  try {
    deletions = await exportDeletions(deps, e, parquet);
  } catch (err) {
    const error = describeError(err);
    deps.logger.error("Zoho's deleted records could not be landed; the export failed", {
      export_id: exportId,
      error,
    });
    await failExport(deps, exportId, {
      code: error.code === 'INTERNAL_ERROR' ? 'DELETIONS_FAILED' : error.code,
      message: `deleted records not landed: ${error.message}`,
    });
    return false;
  }
  const completedAt = new Date(now()).toISOString();
  const manifest = buildManifest(e, jobs, completedAt, catalog, deletions);
  const location = { bucket: deps.config.BUCKET, key: manifestKey(deps.config.S3_PREFIX, exportId) };
  await writeManifest(deps.s3, location, manifest);
  if (!(await deps.exports.complete(e, location))) return false;
  deps.metrics.count('ExportsCompleted');
  deps.metrics.count('ExportRecords', manifest.totals.records);
  deps.metrics.count(
    'ExportDurationSeconds',
    Math.max(0, Math.round((now() - Date.parse(e.created_at)) / 1000)),
  );
  deps.logger.info('export completed', {
    export_id: exportId,
    records: manifest.totals.records,
    pages: manifest.totals.pages,
    ...(deletions ? { deletions: deletions.csv.records } : {}),
  });
  await scheduleRunEnded(deps, exportId, 'COMPLETED');
  await publishEvent(deps, exportId);
  return true;
}

/** The table's columns: every page's columns in order of first appearance, then the lineage columns. */
function catalogColumns(jobs: JobRecord[]): CatalogColumn[] {
  const seen = new Map<string, CatalogColumn>();
  for (const j of jobs) {
    for (const c of j.parquet?.columns ?? []) {
      if (!seen.has(c.name.toLowerCase())) seen.set(c.name.toLowerCase(), { Name: c.name, Type: c.type });
    }
  }
  return [
    ...seen.values(),
    { Name: LINEAGE_COLUMNS.exportId, Type: 'string' },
    { Name: LINEAGE_COLUMNS.jobId, Type: 'string' },
    { Name: LINEAGE_COLUMNS.exportedAt, Type: 'timestamp' },
    { Name: LINEAGE_COLUMNS.conversionErrors, Type: 'string' },
  ];
}

/** Publishes the export's completion event if it is pending; a failure leaves it for the sweep. */
export async function publishEvent(deps: ExportDeps, exportId: string): Promise<boolean> {
  if (!deps.events) return false;
  const e = await deps.exports.get(exportId);
  if (!e?.event_pending) return false;
  const { pages, ...summary } = toPublicExport(e, await pagesOf(deps, e));
  try {
    await deps.events.publish(exportEvent(e, { ...summary, pages: pages.length }));
  } catch (err) {
    deps.logger.warn('export event not published yet; will retry', {
      export_id: exportId,
      error: describeError(err),
    });
    return false;
  }
  await deps.exports.eventPublished(exportId);
  return true;
}

/**
 * `POST /exports/{id}/convert`: writes every page of a finished export as Parquet (again), e.g. after
 * a failed conversion, an upgrade of the converter, or for an export made CSV-only. Every page's CSV
 * must have landed. The export is RUNNING until the pages are converted, then COMPLETED with a new
 * manifest (and a new event).
 */
export async function reconvertExport(deps: ExportDeps, exportId: string): Promise<ExportRecord> {
  const e = await deps.exports.get(exportId);
  if (!e) throw new ExportRequestError(404, 'EXPORT_NOT_FOUND', `no export ${exportId}`);
  if (e.status === 'RUNNING') {
    throw new ExportRequestError(
      409,
      'EXPORT_RUNNING',
      'the export is still running; convert it once it is COMPLETED or FAILED',
    );
  }
  const jobs = await pageJobs(deps, e);
  const missing = jobs.findIndex((j) => j?.status !== 'EXPORTED');
  if (missing >= 0 || jobs.length === 0) {
    throw new ExportRequestError(
      409,
      'PAGES_NOT_EXPORTED',
      `page ${missing + 1} of this export has no CSV in S3 (its job is ${jobs[missing]?.status ?? 'unknown'}); only an export whose every page landed can be converted`,
    );
  }
  if (!deps.convert) throw new Error('no converter to hand the pages to');
  const formats: ExportRecord['formats'] = ['csv', 'parquet'];
  if (!(await deps.exports.reopen(exportId, formats))) {
    throw new ExportRequestError(
      409,
      'EXPORT_RUNNING',
      'the export changed meanwhile; read it and try again',
    );
  }
  for (const j of jobs as JobRecord[]) {
    await deps.jobs.requestConversion(j.job_id);
    await deps.convert({ job_id: j.job_id });
  }
  deps.logger.info('export conversion requested', { export_id: exportId, pages: jobs.length });
  return (await deps.exports.get(exportId)) ?? e;
}

/** What the poller and the downloader tell exports about pages. */
export interface PageHooks {
  /** A status check of the job answered (a registered job's export learns its module and query). */
  observed(job: JobRecord, z: ZohoJob): Promise<void>;
  /** The job is COMPLETED at Zoho and DOWNLOADING here; true when a follow-up page was created. */
  completed(job: JobRecord): Promise<boolean>;
  /** The page's CSV landed: convert it (Parquet) or complete the export. */
  exported(job: JobRecord): Promise<void>;
  /** The page's Parquet file is written (or its conversion failed for good). */
  converted(job: JobRecord): Promise<void>;
  failed(job: JobRecord, error: JobError): Promise<void>;
}

/** Runs what the export must do after a transition of `job`, then clears the job's flag (if it set one). */
async function followThrough<T>(
  deps: ExportDeps,
  job: JobRecord,
  flagged: boolean,
  work: () => Promise<T>,
): Promise<T> {
  const r = await work();
  if (flagged && job.export_id) await deps.jobs.exportHandled(job.job_id);
  return r;
}

/** The page's CSV is in: a page also written as Parquet goes to the converter; otherwise the export may be complete. */
async function pageExported(deps: ExportDeps, job: JobRecord): Promise<void> {
  if (!job.export_id) return;
  if (job.parquet_wanted) {
    if (!deps.convert) throw new Error('no converter to hand the page to');
    // The job stays flagged until its conversion ends: a lost message is dispatched again by the sweep.
    await deps.convert({ job_id: job.job_id });
    return;
  }
  await followThrough(deps, job, true, () => finalizeExport(deps, job.export_id!));
}

export function pageHooks(deps: ExportDeps): PageHooks {
  return {
    observed: (job, z) => pageObserved(deps, job, z),
    completed: (job) => followThrough(deps, job, !!job.more_records, () => pageCompleted(deps, job)),
    exported: (job) => pageExported(deps, job),
    converted: (job) =>
      followThrough(deps, job, true, async () => {
        if (job.export_id) await finalizeExport(deps, job.export_id);
      }),
    failed: async (job, error) => {
      // An expired result or job of an export of ours is re-created (lib/exports/recovery.ts); a
      // deferred recovery keeps the job flagged, so the sweep brings it back when it is due.
      const r = await recoverPage(deps, job, error);
      if (r.kind === 'deferred') return;
      await followThrough(deps, job, true, async () => {
        if (job.export_id && r.kind === 'fail')
          await failExport(deps, job.export_id, {
            ...(r.error ?? error),
            page: job.page ?? 1,
            job_id: job.job_id,
          });
      });
    },
  };
}

// ---------------------------------------------------------------------------------------- sweep

export interface SweepSummary {
  /** Exports looked at (a page to create or retry, an event to publish). */
  exports: number;
  pagesCreated: number;
  completed: number;
  eventsPublished: number;
  /** Jobs whose export had not taken in their last transition (the function that moved them died). */
  followedThrough: number;
}

/**
 * The safety net the poller runs each tick, over two sparse indexes (so it costs nothing when all is
 * well): exports needing attention (a wanted page whose time has come, an intent whose creator died,
 * taken over after the adoption window when callbacks are on, an unpublished event), and jobs whose
 * export did not take in their last transition (then it does now).
 */
export async function sweepExports(deps: ExportDeps, opts: { deadline: number }): Promise<SweepSummary> {
  const now = deps.now ?? Date.now;
  const summary: SweepSummary = {
    exports: 0,
    pagesCreated: 0,
    completed: 0,
    eventsPublished: 0,
    followedThrough: 0,
  };
  const guarded = async (what: Record<string, unknown>, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (err) {
      deps.logger.error('export sweep failed for one item', { ...what, error: describeError(err) });
    }
  };
  for (const e of await deps.exports.needingAttention(now(), 50)) {
    if (now() >= opts.deadline) return summary;
    summary.exports++;
    await guarded({ export_id: e.export_id }, async () => {
      if (e.event_pending) {
        if (await publishEvent(deps, e.export_id)) summary.eventsPublished++;
        return;
      }
      if (e.intent_page === undefined || e.status !== 'RUNNING') return;
      if (e.intent_state === 'wanted') {
        if (await createWantedPage(deps, e.export_id)) summary.pagesCreated++;
        return;
      }
      // "creating" with its lease over: the attempt died, maybe after Zoho created the job. With
      // callbacks, that job's callback can still adopt it: wait for it before creating the page again.
      const adoptUntil = (e.intent_tried_at ?? e.intent_since ?? 0) + ADOPT_WINDOW_MS;
      if (deps.callbackUrl && now() < adoptUntil) {
        await deps.exports.deferAttention(e.export_id, adoptUntil);
        return;
      }
      if (await createWantedPage(deps, e.export_id, true)) summary.pagesCreated++;
    });
  }
  for (const job of await deps.jobs.exportDue(now(), 50)) {
    if (now() >= opts.deadline) return summary;
    summary.followedThrough++;
    await guarded({ job_id: job.job_id }, async () => {
      const hooks = pageHooks(deps);
      if (job.status === 'FAILED')
        await hooks.failed(job, job.error ?? { code: 'FAILED', message: 'the page failed' });
      else if (
        job.status === 'EXPORTED' &&
        job.parquet_wanted &&
        job.parquet_status !== 'DONE' &&
        job.parquet_status !== 'FAILED'
      ) {
        // A conversion to (re)start: dispatch it, and look again when its lease would have run out.
        if (job.parquet_status === 'CONVERTING' && (job.parquet_until ?? 0) > now()) {
          await deps.jobs.deferExportDue(job.job_id, job.parquet_until ?? now());
          return;
        }
        await deps.convert?.({ job_id: job.job_id });
        await deps.jobs.deferExportDue(job.job_id, now() + EXPORT_FOLLOW_THROUGH_MS);
      } else if (job.status === 'EXPORTED') {
        await (job.parquet_wanted
          ? hooks.converted(job)
          : followThrough(deps, job, true, () => finalizeExport(deps, job.export_id!)));
        if ((await deps.exports.get(job.export_id ?? ''))?.status === 'COMPLETED') summary.completed++;
      } else if (await hooks.completed(job)) summary.pagesCreated++;
    });
  }
  return summary;
}
