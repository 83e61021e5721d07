import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Config, Timing } from '../config.js';
import type { DownloadMessage, JobRecord } from '../jobs/model.js';
import type { JobStore } from '../jobs/store.js';
import { describeError, type MetricsSink } from '../observability.js';
import { type CreateJobQuery, versionOfDownloadUrl, type ZohoClient } from '../zoho/client.js';
import { API_VERSIONS, type ApiVersion, usesPageToken } from '../zoho/data-centers.js';
import { ZohoError } from '../zoho/errors.js';
import type { ZohoJob } from '../zoho/schemas.js';
import { backoffMs } from './backoff.js';

export interface PollDeps {
  config: Pick<Config, 'POLL_CONCURRENCY' | 'ZOHO_API_VERSION' | 'MAX_DOWNLOAD_ATTEMPTS'>;
  timing: Timing;
  jobs: JobStore;
  zoho: ZohoClient;
  /** Hands one download to the downloader (SQS in AWS, a direct call locally). */
  dispatch(msg: DownloadMessage): Promise<void>;
  logger: Logger;
  metrics: MetricsSink;
  now?: () => number;
  random?: () => number;
}

export interface PollSummary {
  checked: number;
  pending: number;
  dispatched: number;
  redispatched: number;
  failed: number;
  expired: number;
  retried: number;
  followUps: number;
  skipped: number;
  stoppedEarly: boolean;
}

const PAGE = 100;

const asVersion = (v: string | undefined): ApiVersion | undefined =>
  (API_VERSIONS as readonly string[]).includes(v ?? '') ? (v as ApiVersion) : undefined;

/** At most `n` calls of `fn` at once. */
export function semaphore(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let free = n;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (free > 0) free--;
    else await new Promise<void>((r) => waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/**
 * One poller tick: checks every due PENDING job with Zoho (bounded concurrency) and re-dispatches
 * DOWNLOADING jobs whose download lease ran out. Stops taking new work at `deadline`; one job's
 * failure never affects another's.
 */
export async function pollOnce(
  deps: PollDeps,
  opts: { deadline: number; signal?: AbortSignal },
): Promise<PollSummary> {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { timing, jobs, logger } = deps;
  const summary: PollSummary = {
    checked: 0,
    pending: 0,
    dispatched: 0,
    redispatched: 0,
    failed: 0,
    expired: 0,
    retried: 0,
    followUps: 0,
    skipped: 0,
    stoppedEarly: false,
  };
  let stop: string | undefined;
  const shouldStop = (): boolean => {
    if (stop) return true;
    if (opts.signal?.aborted) stop = 'aborted';
    else if (now() >= opts.deadline) stop = 'deadline';
    return stop !== undefined;
  };

  const zohoSlot = semaphore(deps.config.POLL_CONCURRENCY);
  const tooOld = (job: JobRecord): boolean => now() - Date.parse(job.created_at) > timing.maxAgeMs;
  const retention = timing.retentionSeconds;

  async function expire(job: JobRecord): Promise<void> {
    const hours = Math.round(timing.maxAgeMs / 360_000) / 10;
    const ok = await failJob(
      job,
      {
        code: 'EXPIRED',
        message: `the job did not finish within its maximum age of ${hours} h (last Zoho state: ${job.zoho_state ?? 'unknown'})`,
      },
      '#status = :s AND #next_check_at = :old',
      { ':s': job.status, ':old': job.next_check_at },
    );
    if (ok) summary.expired++;
  }

  /** COMPLETED with more records: create and register the next page, linked both ways. */
  async function followUp(job: JobRecord, z: ZohoJob, version: ApiVersion): Promise<string | undefined> {
    if (!z.result?.moreRecords || job.next_job_id) return job.next_job_id;
    const page = (z.result.page ?? z.query?.page ?? job.page ?? 1) + 1;
    const q: CreateJobQuery = {};
    if (usesPageToken(version) && z.result.nextPageToken) {
      q.pageToken = z.result.nextPageToken;
    } else {
      q.module = z.module;
      if (z.query?.fields?.length) q.fields = z.query.fields;
      if (z.query?.criteria !== undefined) q.criteria = z.query.criteria;
      if (typeof z.query?.cvid === 'string') q.cvid = z.query.cvid;
      q.page = page;
    }
    const created = await zohoSlot(() => deps.zoho.createJob(q, { version }));
    await jobs.register(created.id, {
      previous_job_id: job.job_id,
      module: z.module ?? job.module,
      page,
      api_version: version,
    });
    summary.followUps++;
    logger.info('follow-up page registered', { job_id: job.job_id, next_job_id: created.id, page });
    return created.id;
  }

  async function checkPending(job: JobRecord): Promise<void> {
    if (tooOld(job)) {
      await expire(job);
      return;
    }
    const token = randomUUID();
    if (!(await jobs.claimCheck(job, token, now() + timing.checkLeaseMs))) {
      summary.skipped++;
      return;
    }
    const claimed = '#status = :pending AND poll_token = :tok';
    const claimValues = { ':pending': 'PENDING', ':tok': token };
    const version = asVersion(job.api_version) ?? deps.config.ZOHO_API_VERSION;
    let z: ZohoJob;
    try {
      z = await zohoSlot(() => deps.zoho.getJob(job.job_id, { version, signal: opts.signal }));
      summary.checked++;
      deps.metrics.count('StatusChecks');
    } catch (e) {
      await onCheckError(job, e, claimed, claimValues);
      return;
    }
    const observed = {
      zoho_state: z.rawState,
      module: z.module ?? job.module,
      page: z.result?.page ?? z.query?.page ?? job.page ?? null,
      checks: (job.checks ?? 0) + 1,
      consecutive_errors: 0,
    };
    if (z.completed) {
      const downloadUrl = z.result?.downloadUrl;
      if (!downloadUrl || z.result?.count === undefined) {
        await failJob(
          job,
          { code: 'INVALID_RESPONSE', message: 'Zoho reported COMPLETED without download_url or count' },
          claimed,
          claimValues,
        );
        return;
      }
      let nextJobId: string | undefined;
      let followUpError: { code: string; message: string } | undefined;
      const createVersion = versionOfDownloadUrl(downloadUrl) ?? version;
      try {
        nextJobId = await followUp(job, z, createVersion);
      } catch (e) {
        if (e instanceof ZohoError && e.kind !== 'terminal') {
          // Try again next tick (the status check is repeated, the download waits).
          await onCheckError(job, e, claimed, claimValues);
          return;
        }
        followUpError = describeError(e);
        // This page is still exported, but the module's export is incomplete: alarm like a failed job.
        deps.metrics.count('JobsFailed');
        logger.error('follow-up page could not be created', { job_id: job.job_id, error: followUpError });
      }
      const dispatchId = randomUUID();
      const ok = await jobs.update(job.job_id, {
        set: {
          ...observed,
          status: 'DOWNLOADING',
          records: z.result.count,
          download_url: downloadUrl,
          api_version: createVersion,
          more_records: z.result.moreRecords,
          ...(z.result.nextPageToken ? { next_page_token: z.result.nextPageToken } : {}),
          ...(nextJobId ? { next_job_id: nextJobId } : {}),
          ...(followUpError ? { follow_up_error: followUpError } : {}),
          dispatch_id: dispatchId,
          next_check_at: now() + timing.dispatchGraceMs,
        },
        remove: ['poll_token', 'last_error'],
        condition: claimed,
        values: claimValues,
      });
      if (!ok) {
        summary.skipped++;
        return;
      }
      try {
        await deps.dispatch({ job_id: job.job_id, dispatch_id: dispatchId });
        summary.dispatched++;
        logger.info('job completed at Zoho; download dispatched', {
          job_id: job.job_id,
          records: z.result.count,
          module: observed.module,
        });
      } catch (e) {
        // The lease runs out and the next tick dispatches again.
        logger.error('download dispatch failed; will retry', { job_id: job.job_id, error: describeError(e) });
      }
      return;
    }
    if (z.failed) {
      await failJob(
        job,
        z.error ?? { code: 'FAILURE', message: 'Zoho reported FAILURE' },
        claimed,
        claimValues,
        observed,
      );
      return;
    }
    // ADDED, QUEUED, IN PROGRESS or a state we do not know: check again later.
    const delay = backoffMs(observed.checks - 1, timing.baseMs, timing.capMs, random);
    const ok = await jobs.update(job.job_id, {
      set: { ...observed, next_check_at: now() + delay },
      remove: ['poll_token', 'last_error'],
      condition: claimed,
      values: claimValues,
    });
    if (ok) summary.pending++;
    else summary.skipped++;
  }

  async function failJob(
    job: JobRecord,
    error: { code: string; message: string },
    condition: string,
    values: Record<string, unknown>,
    observed: Partial<JobRecord> = {},
  ): Promise<boolean> {
    const ok = await jobs.fail(job.job_id, error, condition, values, retention, observed);
    if (ok) {
      summary.failed++;
      deps.metrics.count('JobsFailed');
      logger.warn('job failed', { job_id: job.job_id, error });
    }
    return ok;
  }

  async function onCheckError(
    job: JobRecord,
    e: unknown,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<void> {
    const error = describeError(e);
    if (e instanceof ZohoError && e.kind === 'terminal' && e.stage !== 'oauth') {
      await failJob(job, error, condition, values);
      return;
    }
    // Retryable (or a token problem that is not this job's fault): back off and try again.
    const consecutive = (job.consecutive_errors ?? 0) + 1;
    const retryAfter = e instanceof ZohoError ? (e.retryAfterMs ?? 0) : 0;
    const delay = Math.max(retryAfter, backoffMs(consecutive - 1, timing.baseMs, timing.capMs, random));
    await jobs.update(job.job_id, {
      set: { consecutive_errors: consecutive, last_error: error, next_check_at: now() + delay },
      remove: ['poll_token'],
      condition,
      values,
    });
    summary.retried++;
    logger.warn('status check failed; will retry', { job_id: job.job_id, error, retry_in_ms: delay });
    if (e instanceof ZohoError && e.stage === 'oauth') {
      if (!stop) deps.metrics.count('ZohoTokenErrors');
      stop = `no access token: ${error.code}`;
    }
  }

  async function checkDownloading(job: JobRecord): Promise<void> {
    if (tooOld(job)) {
      await expire(job);
      return;
    }
    if ((job.attempts ?? 0) >= deps.config.MAX_DOWNLOAD_ATTEMPTS) {
      await failJob(
        job,
        job.last_error ?? { code: 'DOWNLOAD_TIMEOUT', message: 'the download did not finish' },
        '#status = :s AND #next_check_at = :old',
        { ':s': 'DOWNLOADING', ':old': job.next_check_at },
      );
      return;
    }
    const dispatchId = randomUUID();
    const ok = await jobs.update(job.job_id, {
      set: { dispatch_id: dispatchId, next_check_at: now() + timing.dispatchGraceMs },
      remove: ['download_owner'],
      condition: '#status = :s AND #next_check_at = :old',
      values: { ':s': 'DOWNLOADING', ':old': job.next_check_at },
    });
    if (!ok) {
      summary.skipped++;
      return;
    }
    try {
      await deps.dispatch({ job_id: job.job_id, dispatch_id: dispatchId });
      summary.redispatched++;
      logger.info('download dispatched again', { job_id: job.job_id, attempts: job.attempts });
    } catch (e) {
      logger.error('download dispatch failed; will retry', { job_id: job.job_id, error: describeError(e) });
    }
  }

  async function* due(): AsyncGenerator<JobRecord> {
    for (const status of ['PENDING', 'DOWNLOADING'] as const) {
      let startKey: Record<string, unknown> | undefined;
      const tickStart = now();
      do {
        if (shouldStop()) return;
        const page = await jobs.due(status, tickStart, PAGE, startKey);
        for (const j of page.jobs) yield j;
        startKey = page.lastKey;
      } while (startKey);
    }
  }

  const source = due();
  const worker = async (): Promise<void> => {
    for (;;) {
      if (shouldStop()) return;
      const { value: job, done } = await source.next();
      if (done) return;
      try {
        if (job.status === 'PENDING') await checkPending(job);
        else await checkDownloading(job);
      } catch (e) {
        // DynamoDB trouble on one job: its claim runs out and a later tick takes it again.
        logger.error('job check failed', { job_id: job.job_id, error: describeError(e) });
      }
    }
  };
  // Twice as many workers as Zoho slots: while some wait on DynamoDB (claims, results), the others keep
  // every Zoho slot busy. Zoho never sees more than POLL_CONCURRENCY calls at once.
  await Promise.all(Array.from({ length: deps.config.POLL_CONCURRENCY * 2 }, worker));
  if (stop && stop !== 'done') {
    summary.stoppedEarly = true;
    logger.warn('poller stopped taking new work', { reason: stop });
  }
  return summary;
}
