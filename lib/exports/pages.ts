/**
 * The pages of an export: a page COMPLETED at Zoho with more records wants the next one
 * (`pageCompleted`), which is recorded as an intent before Zoho is asked to create it
 * (`createWantedPage`, retried by the sweep), or adopted from its callback when its creator died after
 * Zoho answered (`adoptPageJob`). A registered job's first status names its export's module
 * (`pageObserved`).
 */
import type { JobRecord } from '../jobs/model.js';
import { afterCreateError } from '../jobs/retry.js';
import { describeError } from '../observability.js';
import type { CreateJobQuery } from '../zoho/client.js';
import { type ApiVersion, usesPageToken } from '../zoho/data-centers.js';
import type { ZohoJob } from '../zoho/schemas.js';
import { asVersion, type ExportDeps } from './deps.js';
import { failExport } from './end.js';
import type { ExportRecord, StoredQuery } from './model.js';
import { isPageTokenRefusal, recoverFollowUp } from './recovery.js';

/** How long one attempt to create a follow-up page holds its intent. */
export const INTENT_LEASE_MS = 2 * 60_000;
/**
 * How long an intent whose creator died waits for the callback of the job Zoho may have created
 * before it is taken over (and the page created again). Without callbacks it is taken over as soon
 * as its lease runs out.
 */
export const ADOPT_WINDOW_MS = 60 * 60_000;

/**
 * A page's job is COMPLETED at Zoho and on its way to S3 (`job` as just recorded): if Zoho has more
 * records, record the next page as wanted and create it now (a failure leaves the intent for the
 * sweep to retry). True when a page was created.
 */
export async function pageCompleted(deps: ExportDeps, job: JobRecord): Promise<boolean> {
  if (!job.more_records || !job.export_id) return false;
  const e = await deps.exports.get(job.export_id);
  const at = e?.page_jobs.indexOf(job.job_id) ?? -1;
  if (!e || at < 0) return false;
  // The next page exists already (this is the page's download making sure of it: lib/exports/hooks.ts).
  if (e.page_jobs.length > at + 1) return false;
  const version = asVersion(job.api_version) ?? asVersion(e.api_version) ?? 'v8';
  const token = usesPageToken(version) ? job.next_page_token : undefined;
  await deps.exports.wantPage(e.export_id, at + 2, job.job_id, token, e.recoveries);
  return createWantedPage(deps, e.export_id);
}

/** The first status of a registered job names its module and query: the export learns them. */
export async function pageObserved(deps: ExportDeps, job: JobRecord, z: ZohoJob): Promise<void> {
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
export async function createWantedPage(
  deps: ExportDeps,
  exportId: string,
  takeOver = false,
): Promise<boolean> {
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
    const attempts = (e.intent_attempts ?? 0) + 1;
    const wantedForMs = now() - (e.intent_since ?? now());
    const decision = afterCreateError(
      err,
      attempts,
      deps.timing,
      { callbacks: !!deps.callbackUrl, wantedForMs },
      deps.random,
    );
    if (decision.kind === 'give-up') {
      const minutes = Math.round(wantedForMs / 60_000);
      error = {
        code: 'FOLLOW_UP_NOT_CREATED',
        message:
          decision.why === 'age'
            ? `page ${page} was not created within the maximum job age (${minutes} min, ${attempts} attempts); Zoho's last answer: ${error.code}: ${error.message}`
            : `page ${page} was not created after ${attempts} attempts (${minutes} min); Zoho's last answer: ${error.code}: ${error.message}`,
      };
    }
    if (decision.kind === 'fail' || decision.kind === 'give-up') {
      // A page token that expired: the export restarts from page 1 (lib/exports/recovery.ts).
      if (decision.kind === 'fail' && q.pageToken !== undefined && isPageTokenRefusal(err)) {
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
    if (decision.kind === 'await-callback') {
      // Its callback names the job Zoho may have made and adopts it (adoptPageJob); until the window
      // closes, no second job.
      await deps.exports.uncertainIntent(claim, error, now() + ADOPT_WINDOW_MS);
      deps.logger.warn('follow-up page may have been created; waiting for its callback before asking again', {
        export_id: exportId,
        page,
        error,
      });
      return false;
    }
    await deps.exports.retryIntent(claim, error, now() + decision.delayMs);
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
