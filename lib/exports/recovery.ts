/**
 * Recovery from expiry (issue 11 §3). Zoho keeps a job's result for one day and a page token for at
 * most 24 h (Zoho's Bulk Read docs: download result, create job). When a page of an export the exporter created itself (source
 * `api` or `schedule:…`, whose query it knows: module, fields, criteria, cvid) can no longer be had,
 * the exporter re-creates the Zoho job it needs, at most MAX_RECOVERIES times per export, and the
 * export then completes with exact data. Registered jobs (`POST /jobs`, source `job`) are not ours to
 * re-create: they end FAILED as before.
 *
 * Triggers:
 *   - result gone: a page's job fails with RESOURCE_NOT_FOUND (the download of a COMPLETED job after
 *     Zoho dropped its file, or a status check of a job Zoho no longer knows);
 *   - too old: a page's job passes its maximum age (EXPIRED, lib/pipeline/poll.ts);
 *   - token refused: creating a follow-up page with `page_token` answers INVALID_REQUEST (v7/v8).
 *
 * What can be re-created, per API version (the rule `planRecovery` implements):
 *   - v2 … v6: every page is "the query + `page` n" (≤ 500). A page is re-created by its number, alone;
 *     the other pages stay (they never depended on each other).
 *   - v7 / v8: only the first 200,000 records (page 1) can be asked for by query; every later page needs
 *     the `next_page_token` of the page before ("To fetch more than 200,000 records, you must include
 *     the page_token key"; whether v7+ accept `page` > 1 is unverified, so it is never relied on). The
 *     pages of one export form one token chain, so a re-created page starts a new chain and every page
 *     after it is dropped and created again from it. Page n > 1 is re-created with its parent's token
 *     if that token is younger than PAGE_TOKEN_USABLE_MS (and Zoho takes it); otherwise the export
 *     restarts from page 1: page 1 re-created by query, every landed page after it dropped (its files
 *     deleted, its job marked `replaced_by`) and created again, so the manifest lists only the final
 *     set: no duplicates, no gaps.
 *
 * A function that may not delete (`ExportDeps.mayDelete` false: the internet-facing callback function)
 * never runs a recovery that drops pages other than the failed one: it makes it due now instead, and
 * the poller's sweep runs it whole with its own delete grant.
 *
 * Each recovery is one conditional write (ExportStore.recover) that loses to any concurrent change of
 * the export's pages; the replaced job keeps its status and error and gains `replaced_by`, the new one
 * `replaces`. The second and later recoveries of an export wait RECOVERY_BACKOFF_MS × 2^(n-1) after the
 * one before. When the limit is reached the export ends FAILED with Zoho's code and a message saying
 * recovery was exhausted.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { newCallbackBinding } from '../callbacks/token.js';
import type { JobError, JobRecord } from '../jobs/model.js';
import { describeError } from '../observability.js';
import type { CreateJobQuery } from '../zoho/client.js';
import { type ApiVersion, usesPageToken } from '../zoho/data-centers.js';
import { ZohoError } from '../zoho/errors.js';
import { asVersion, type ExportDeps, exportPageJob } from './deps.js';
import type { ExportRecord } from './model.js';
import type { IntentClaim } from './store.js';

/** Re-creations per export before it ends FAILED. */
export const MAX_RECOVERIES = 3;
/** The wait before the second recovery of an export; it doubles for each one after. */
export const RECOVERY_BACKOFF_MS = 60_000;
export const RECOVERY_BACKOFF_CAP_MS = 30 * 60_000;
/** Zoho's page-token lifetime ("active for a maximum of 24 hours"). */
export const PAGE_TOKEN_TTL_MS = 24 * 3_600_000;
/** A token older than this is not tried (its age is only known from below): restart from page 1. */
export const PAGE_TOKEN_USABLE_MS = PAGE_TOKEN_TTL_MS - 3_600_000;
/** Zoho's largest `page` (v2 … v6). */
export const MAX_ZOHO_PAGE = 500;

export type RecoveryTrigger = 'result-gone' | 'too-old' | 'token-refused';

export interface RecoveryInput {
  source: string;
  version: ApiVersion;
  trigger: RecoveryTrigger;
  /** The export's page (1-based) that could not be had (for token-refused: the follow-up page). */
  page: number;
  /** Recoveries the export made so far. */
  recoveries: number;
  /** v7/v8, page > 1: a lower bound of the age of the parent's `next_page_token`, if it has one. */
  parentTokenAgeMs?: number | undefined;
}

export type RecoveryPlan =
  | {
      kind: 'recreate';
      /** The page whose Zoho job is created again. */
      page: number;
      /** By the query and the page number (`page` sent for pages > 1), or by the parent's page token. */
      by: 'query' | 'token';
      /** The pages after it are dropped and created again from it (v7/v8: one token chain). */
      dropLater: boolean;
    }
  | { kind: 'none'; reason: 'registered-job' | 'exhausted' | 'page-range' | 'not-applicable' };

/** Which trigger a page's failure is, if any. */
export function triggerOf(error: Pick<JobError, 'code'>): RecoveryTrigger | undefined {
  if (error.code === 'RESOURCE_NOT_FOUND') return 'result-gone';
  if (error.code === 'EXPIRED') return 'too-old';
  return undefined;
}

/** Zoho refused a follow-up's page token (expired, or another user's): INVALID_REQUEST on `page_token`. */
export function isPageTokenRefusal(err: unknown): boolean {
  return err instanceof ZohoError && err.stage !== 'oauth' && err.code === 'INVALID_REQUEST';
}

/** The rule above, as a pure function: what to re-create for a page that could not be had. */
export function planRecovery(i: RecoveryInput): RecoveryPlan {
  if (i.source === 'job') return { kind: 'none', reason: 'registered-job' };
  if (i.recoveries >= MAX_RECOVERIES) return { kind: 'none', reason: 'exhausted' };
  if (!usesPageToken(i.version)) {
    // No page tokens: a refused token cannot happen; every page is its number.
    if (i.trigger === 'token-refused') return { kind: 'none', reason: 'not-applicable' };
    if (i.page > MAX_ZOHO_PAGE) return { kind: 'none', reason: 'page-range' };
    return { kind: 'recreate', page: i.page, by: 'query', dropLater: false };
  }
  if (
    i.trigger !== 'token-refused' &&
    i.page > 1 &&
    i.parentTokenAgeMs !== undefined &&
    i.parentTokenAgeMs < PAGE_TOKEN_USABLE_MS
  ) {
    return { kind: 'recreate', page: i.page, by: 'token', dropLater: true };
  }
  // Page 1 itself, or a later page whose chain is broken: from page 1, by query.
  return { kind: 'recreate', page: 1, by: 'query', dropLater: true };
}

/** The wait before recovery number `n + 1` of an export (none before the first). */
export function recoveryDelayMs(n: number): number {
  return n <= 0 ? 0 : Math.min(RECOVERY_BACKOFF_CAP_MS, RECOVERY_BACKOFF_MS * 2 ** (n - 1));
}

export type RecoveryOutcome =
  /** A new Zoho job was created and recorded as the page. */
  | { kind: 'recovered'; jobId: string }
  /** Nothing to do: the job is no longer a page of its export (someone recovered it already). */
  | { kind: 'handled' }
  /** A recovery is due later (its backoff, or Zoho could not create the job now). */
  | { kind: 'deferred'; at: number }
  /** No recovery: the export fails, with `error` if it should say more than the page's error. */
  | { kind: 'fail'; error?: JobError };

/**
 * A page's job ended FAILED with `error`: re-creates it if the rule allows (see the top of the file).
 * 'fail' means the export must fail as before.
 */
export async function recoverPage(
  deps: ExportDeps,
  job: JobRecord,
  error: JobError,
): Promise<RecoveryOutcome> {
  if (!job.export_id || job.export_source === 'job') return { kind: 'fail' };
  const trigger = triggerOf(error);
  if (!trigger) return { kind: 'fail' };
  const e = await deps.exports.get(job.export_id);
  if (e?.status !== 'RUNNING' || e.source === 'job') return { kind: 'fail' };
  const at = e.page_jobs.indexOf(job.job_id);
  if (at < 0) return { kind: 'handled' };
  return recover(deps, e, { page: at + 1, trigger, error, failed: job });
}

/**
 * Zoho refused the page token of follow-up page `claim.page` (INVALID_REQUEST): restarts the export
 * from page 1 if the rule allows. 'fail' means the export must fail as before.
 */
export function recoverFollowUp(
  deps: ExportDeps,
  e: ExportRecord,
  claim: IntentClaim,
  error: JobError,
): Promise<RecoveryOutcome> {
  return recover(deps, e, { page: claim.page, trigger: 'token-refused', error, claim });
}

async function recover(
  deps: ExportDeps,
  e: ExportRecord,
  r: {
    page: number;
    trigger: RecoveryTrigger;
    error: JobError;
    failed?: JobRecord;
    claim?: IntentClaim;
  },
): Promise<RecoveryOutcome> {
  const now = deps.now ?? Date.now;
  const version = asVersion(e.api_version) ?? deps.config.ZOHO_API_VERSION ?? 'v8';
  const recoveries = e.recoveries ?? 0;
  let parent: JobRecord | undefined;
  if (usesPageToken(version) && r.page > 1 && r.trigger !== 'token-refused') {
    const parentId = e.page_jobs[r.page - 2];
    parent = parentId ? await deps.jobs.get(parentId) : undefined;
  }
  // The token was issued before the parent's last write: its age is at least this.
  const parentTokenAgeMs = parent?.next_page_token ? now() - Date.parse(parent.updated_at) : undefined;
  const plan = planRecovery({
    source: e.source,
    version,
    trigger: r.trigger,
    page: r.page,
    recoveries,
    parentTokenAgeMs,
  });
  const where = { export_id: e.export_id, page: r.page, trigger: r.trigger, recoveries };
  if (plan.kind === 'none') {
    if (plan.reason !== 'exhausted') return { kind: 'fail' };
    deps.logger.warn('page not recovered: recovery exhausted', { ...where, error: r.error });
    return {
      kind: 'fail',
      error: {
        code: r.error.code,
        message: `${r.error.message} (recovery exhausted: the page's Zoho job was re-created ${recoveries} times, the most an export may)`,
      },
    };
  }
  const due = (e.recovered_at ?? 0) + recoveryDelayMs(recoveries);
  if (now() < due) return defer(deps, r, due, r.error);
  const replaced = e.page_jobs[plan.page - 1];
  // The pages this recovery drops besides the failed page it replaces (that one keeps its record).
  const othersDropped = (pages: string[]): string[] =>
    plan.dropLater
      ? pages.slice(plan.page - 1).filter((id) => !(id === r.failed?.job_id && id === replaced))
      : [];
  // A function that may not delete (the callback) does not half-apply a recovery that drops pages
  // (their files must go): it leaves it, due now, to the poller's sweep, which may.
  if (deps.mayDelete === false && othersDropped(e.page_jobs).length > 0) {
    deps.logger.info('recovery drops pages: left to the poller', where);
    return defer(deps, r, now(), r.error);
  }

  const q: CreateJobQuery = {};
  if (plan.by === 'token' && parent?.next_page_token) q.pageToken = parent.next_page_token;
  else {
    if (!e.module) return { kind: 'fail' };
    q.module = e.module;
    if (e.query.fields) q.fields = e.query.fields;
    if (e.query.criteria) q.criteria = e.query.criteria;
    if (e.query.cvid) q.cvid = e.query.cvid;
    if (plan.page > 1) q.page = plan.page;
  }
  let created: { id: string };
  let callback: string | undefined;
  // The re-created page's own nonce: the replaced job's token does not name it.
  const binding = newCallbackBinding(deps.timing.maxAgeMs, now());
  try {
    callback = await deps.callbackUrl?.(e.export_id, plan.page, binding);
    created = await deps.zoho.createJob(q, { version, ...(callback ? { callback: { url: callback } } : {}) });
  } catch (err) {
    const error = describeError(err);
    if (err instanceof ZohoError && err.kind === 'terminal' && err.stage !== 'oauth') {
      deps.logger.error('page could not be re-created', { ...where, error });
      return { kind: 'fail', error };
    }
    deps.logger.warn('page not re-created yet; will retry', { ...where, error });
    return defer(deps, r, now() + RECOVERY_BACKOFF_MS, error);
  }
  const previous = plan.page > 1 ? e.page_jobs[plan.page - 2] : undefined;
  const job = exportPageJob(deps, e, {
    jobId: created.id,
    page: plan.page,
    previousJobId: previous,
    module: e.module ?? null,
    version,
    callbackNonce: callback !== undefined ? binding.nonce : undefined,
  });
  if (replaced) job.replaces = replaced;
  let dropped = plan.dropLater ? e.page_jobs.slice(plan.page - 1) : [];
  const record = {
    page: plan.page,
    job,
    dropLater: plan.dropLater,
    ...(r.failed && r.failed.job_id === replaced ? { failedJobId: r.failed.job_id } : {}),
    ...(r.claim ? { claim: r.claim } : {}),
  };
  // Another page recorded meanwhile (a follow-up, say): record on the pages as they are now, as long
  // as the page is still the one this recovery replaces.
  let ok = await deps.exports.recover(e, record);
  for (let i = 0; !ok && i < 3; i++) {
    const fresh = await deps.exports.get(e.export_id);
    if (fresh?.status !== 'RUNNING' || fresh.page_jobs[plan.page - 1] !== replaced) break;
    if (r.claim && fresh.intent_owner !== r.claim.owner) break;
    if ((fresh.recoveries ?? 0) !== recoveries) break;
    if (deps.mayDelete === false && othersDropped(fresh.page_jobs).length > 0) {
      // A page landed meanwhile that this function may not drop: the poller's sweep recovers again.
      deps.logger.warn('page re-created at Zoho but left to the poller (pages to drop)', {
        ...where,
        orphan_job_id: created.id,
      });
      return defer(deps, r, now(), r.error);
    }
    dropped = plan.dropLater ? fresh.page_jobs.slice(plan.page - 1) : [];
    ok = await deps.exports.recover(fresh, record);
  }
  if (!ok) {
    deps.logger.error('page re-created at Zoho but not recorded (the export changed meanwhile)', {
      ...where,
      orphan_job_id: created.id,
    });
    // Whoever changed it decides; the page's failure (if still its page) comes back through the sweep.
    return { kind: 'handled' };
  }
  deps.metrics.count('PagesRecovered');
  deps.logger.warn('page re-created after an expiry', {
    ...where,
    recreated_page: plan.page,
    by: plan.by,
    old_job_id: replaced ?? null,
    new_job_id: created.id,
    failed_job_id: r.failed?.job_id ?? null,
    dropped_pages: Math.max(0, dropped.length - 1),
  });
  // Every other job of the dropped pages: marked replaced, stopped, its landed files deleted.
  for (const id of dropped) {
    if (id === r.failed?.job_id && id === replaced) continue;
    await dropPage(deps, id, created.id).catch((err) =>
      deps.logger.error('a dropped page could not be marked or cleaned up', {
        export_id: e.export_id,
        job_id: id,
        error: describeError(err),
      }),
    );
  }
  return { kind: 'recovered', jobId: created.id };
}

/** Waits for `at`: the failed job's follow-through, or the follow-up intent, comes back then. */
async function defer(
  deps: ExportDeps,
  r: { failed?: JobRecord; claim?: IntentClaim },
  at: number,
  error: JobError,
): Promise<RecoveryOutcome> {
  if (r.claim) await deps.exports.retryIntent(r.claim, error, at);
  else if (r.failed) await deps.jobs.deferExportDue(r.failed.job_id, at);
  return { kind: 'deferred', at };
}

async function dropPage(deps: ExportDeps, jobId: string, byJobId: string): Promise<void> {
  const job = await deps.jobs.get(jobId);
  if (!job || job.replaced_by) return;
  await deps.jobs.supersede(job, byJobId);
  // Its files are no page of the export any more: a module's table must not read them twice.
  if (deps.s3 && deps.mayDelete !== false) {
    for (const loc of [job.s3, job.parquet]) {
      if (loc) await deps.s3.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: loc.key }));
    }
  }
}
