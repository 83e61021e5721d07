// Over 450 lines on purpose: one poll tick (claim, check, dispatch, expiry, degraded callbacks, the sweep hand-off) read top to bottom.
/**
 * The poller: a scheduler over the job state machine (lib/jobs/store.ts). Each tick it walks the due
 * jobs through the `by-status` index and, with bounded concurrency towards Zoho, checks each PENDING
 * job (`checkJob`) and dispatches again each DOWNLOADING job whose lease ran out. Every write is a
 * named transition; every retry decision comes from lib/jobs/retry.ts.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import pLimit, { type LimitFunction } from 'p-limit';
import type { CallbackHealth } from '../callbacks/health.js';
import { DEGRADED_CALLBACK_CAP_FACTOR, type Timing } from '../config.js';
import { logCorrupt } from '../ddb/record.js';
import type { PageHooks } from '../exports/hooks.js';
import type { SweepOptions, SweepSummary } from '../exports/sweep.js';
import type { DownloadMessage, JobError, JobRecord } from '../jobs/model.js';
import { afterCheckError, backoffMs, isTokenProblem, withinMaxAge } from '../jobs/retry.js';
import type { Guard, JobStore, Observed } from '../jobs/store.js';
import { describeError, type MetricsSink } from '../observability.js';
import type { Settings } from '../settings.js';
import { versionOfDownloadUrl, type ZohoClient } from '../zoho/client.js';
import { API_VERSIONS, type ApiVersion } from '../zoho/data-centers.js';
import { freeJobSlot, type JobSlots, reclaimJobSlots } from '../zoho/job-slots.js';
import type { ZohoJob } from '../zoho/schemas.js';

/** Hands one download to the downloader (SQS in AWS, an in-process queue locally), after `delayMs`. */
export type Dispatch = (msg: DownloadMessage, delayMs?: number) => Promise<void>;

export interface PollDeps {
  config: Pick<Settings, 'POLL_CONCURRENCY' | 'ZOHO_API_VERSION' | 'MAX_DOWNLOAD_ATTEMPTS'>;
  timing: Timing;
  jobs: JobStore;
  zoho: ZohoClient;
  dispatch: Dispatch;
  logger: Logger;
  metrics: MetricsSink;
  /** What exports learn from the jobs (their pages). */
  pages?: PageHooks;
  /** Whether callbacks are degraded (lib/callbacks/health.ts): jobs with a callback are then polled sooner. */
  callbackHealth?: CallbackHealth;
  /**
   * The exports' safety net, run after the jobs of each tick; after a tick stopped for want of an
   * access token, only for what needs none (`withoutZoho`).
   */
  sweep?: (opts: SweepOptions) => Promise<SweepSummary>;
  /** The shared Zoho job slots: a job's is freed when Zoho says it ended (lib/zoho/job-slots.ts). */
  jobSlots?: JobSlots;
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
  exports?: SweepSummary;
}

/** What looking at one due job came to. */
export interface CheckOutcome {
  kind: 'pending' | 'dispatched' | 'redispatched' | 'failed' | 'expired' | 'retried' | 'skipped';
  /** Zoho answered a status call. */
  checked?: boolean;
  /** A follow-up page was created. */
  followUp?: boolean;
  /** No access token could be had: every other job would wait for the same reason. */
  tokenProblem?: JobError;
}
const outcome = (kind: CheckOutcome['kind'], extra: Omit<CheckOutcome, 'kind'> = {}): CheckOutcome => ({
  kind,
  ...extra,
});

const PAGE = 100;

const asVersion = (v: string | undefined): ApiVersion | undefined =>
  (API_VERSIONS as readonly string[]).includes(v ?? '') ? (v as ApiVersion) : undefined;

/** Runs Zoho calls at most `n` at a time (one limiter per tick, shared by every job of it). */
export const zohoLimiter = (n: number): LimitFunction => pLimit(n);

/** Dispatches a download and logs the outcome; a failed dispatch is retried when its lease runs out. */
async function dispatchLogged(deps: PollDeps, msg: DownloadMessage, what: string): Promise<boolean> {
  try {
    await deps.dispatch(msg);
    deps.logger.info(what, { job_id: msg.job_id });
    return true;
  } catch (e) {
    deps.logger.error('download dispatch failed; will retry', {
      job_id: msg.job_id,
      error: describeError(e),
    });
    return false;
  }
}

async function failJob(
  deps: PollDeps,
  job: JobRecord,
  guard: Guard,
  error: JobError,
  observed: Observed = {},
): Promise<boolean> {
  const ok = await deps.jobs.fail(job.job_id, guard, error, observed, !!job.export_id);
  if (ok) {
    await freeJobSlot(deps.jobSlots, job.job_id, deps.logger);
    deps.metrics.count('JobsFailed');
    deps.logger.warn('job failed', { job_id: job.job_id, error });
    await deps.pages?.failed(job, error).catch((e) =>
      deps.logger.error('export not told of a failed page; the sweep will', {
        job_id: job.job_id,
        error: describeError(e),
      }),
    );
  }
  return ok;
}

const ageOf = (deps: PollDeps, job: JobRecord): number =>
  (deps.now ?? Date.now)() - Date.parse(job.created_at);

function tooOld(deps: PollDeps, job: JobRecord): boolean {
  return ageOf(deps, job) > deps.timing.maxAgeMs;
}

async function expire(deps: PollDeps, job: JobRecord): Promise<CheckOutcome> {
  const hours = Math.round(deps.timing.maxAgeMs / 360_000) / 10;
  const ok = await failJob(
    deps,
    job,
    { kind: 'seen', status: job.status, nextCheckAt: job.next_check_at },
    {
      code: 'EXPIRED',
      message: `the job did not finish within its maximum age of ${hours} h (last Zoho state: ${job.zoho_state ?? 'unknown'})`,
    },
  );
  return outcome(ok ? 'expired' : 'skipped');
}

/**
 * Checks one due PENDING job with Zoho and moves it on: still pending (backoff), COMPLETED (follow-up
 * page, then DOWNLOADING and a dispatched download), FAILURE or a terminal error (FAILED), a retryable
 * error (backoff), too old (EXPIRED).
 */
export async function checkJob(
  deps: PollDeps,
  job: JobRecord,
  opts: { limit: LimitFunction; signal?: AbortSignal | undefined },
): Promise<CheckOutcome> {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { jobs, timing } = deps;
  if (tooOld(deps, job)) return expire(deps, job);
  const claim = await jobs.claimCheck(job, now() + timing.checkLeaseMs);
  if (!claim) return outcome('skipped');

  const onError = async (e: unknown): Promise<CheckOutcome> => {
    const error = describeError(e);
    const consecutive = (job.consecutive_errors ?? 0) + 1;
    const decision = afterCheckError(e, consecutive, timing, random);
    if (decision.kind === 'fail')
      return outcome((await failJob(deps, job, claim, error)) ? 'failed' : 'skipped');
    // Never past the job's maximum age: then it expires on time instead of sleeping past it.
    const delay = withinMaxAge(decision.delayMs, ageOf(deps, job), timing);
    await jobs.checkFailed(job.job_id, claim, error, consecutive, now() + delay);
    deps.logger.warn('status check failed; will retry', {
      job_id: job.job_id,
      error,
      retry_in_ms: delay,
    });
    return outcome('retried', isTokenProblem(e) ? { tokenProblem: error } : {});
  };

  const version = asVersion(job.api_version) ?? deps.config.ZOHO_API_VERSION;
  let z: ZohoJob;
  try {
    z = await opts.limit(() => deps.zoho.getJob(job.job_id, { version, signal: opts.signal }));
    deps.metrics.count('StatusChecks');
  } catch (e) {
    return onError(e);
  }
  const observed: Observed = {
    zoho_state: z.rawState,
    module: z.module ?? job.module,
    page: z.result?.page ?? z.query?.page ?? job.page ?? null,
    checks: (job.checks ?? 0) + 1,
  };
  if (!job.module && z.module) await deps.pages?.observed(job, z);

  if (z.failed) {
    const error = z.error ?? { code: 'FAILURE', message: 'Zoho reported FAILURE' };
    return outcome((await failJob(deps, job, claim, error, observed)) ? 'failed' : 'skipped', {
      checked: true,
    });
  }
  if (!z.completed) {
    // ADDED, QUEUED, IN PROGRESS or a state we do not know: check again later.
    // A job Zoho will call back about is only polled as a fallback: its backoff grows further, unless
    // callbacks are degraded (then it is polled sooner than any other).
    const cap = job.callback ? await callbackCapMs(deps) : timing.capMs;
    const delay = withinMaxAge(
      backoffMs((observed.checks ?? 1) - 1, timing.baseMs, cap, random),
      ageOf(deps, job),
      timing,
    );
    const ok = await jobs.stillPending(job.job_id, claim, observed, now() + delay);
    return outcome(ok ? 'pending' : 'skipped', { checked: true });
  }

  // COMPLETED, and no callback made it due (the handler's checks come after makeDue): it was lost.
  if (job.callback && job.made_due_at === undefined) await callbackMissing(deps, job);

  const downloadUrl = z.result?.downloadUrl;
  const count = z.result?.count;
  if (!downloadUrl || count === undefined) {
    const error = {
      code: 'INVALID_RESPONSE',
      message: 'Zoho reported COMPLETED without download_url or count',
    };
    return outcome((await failJob(deps, job, claim, error, observed)) ? 'failed' : 'skipped', {
      checked: true,
    });
  }
  const createVersion = versionOfDownloadUrl(downloadUrl) ?? version;
  const dispatchId = await jobs.startDownload(
    job.job_id,
    claim,
    observed,
    {
      records: count,
      download_url: downloadUrl,
      api_version: createVersion,
      more_records: z.result?.moreRecords ?? false,
      next_page_token: z.result?.nextPageToken,
    },
    now() + timing.dispatchGraceMs,
    !!job.export_id,
  );
  if (!dispatchId) return outcome('skipped', { checked: true });
  await freeJobSlot(deps.jobSlots, job.job_id, deps.logger);
  await dispatchLogged(
    deps,
    { job_id: job.job_id, dispatch_id: dispatchId },
    'job completed at Zoho; download dispatched',
  );
  // The next page (if Zoho has more records): its failure never holds this page's download back.
  let followUp = false;
  try {
    followUp =
      (await deps.pages?.completed({
        ...job,
        ...observed,
        status: 'DOWNLOADING',
        more_records: z.result?.moreRecords ?? false,
        next_page_token: z.result?.nextPageToken,
        api_version: createVersion,
      })) ?? false;
  } catch (e) {
    deps.logger.error('follow-up page not created now; the sweep will retry', {
      job_id: job.job_id,
      error: describeError(e),
    });
  }
  return outcome('dispatched', { checked: true, followUp });
}

/** The backoff cap of a job with our callback: long while callbacks work, short while degraded. */
async function callbackCapMs(deps: PollDeps): Promise<number> {
  const { timing } = deps;
  try {
    if (await deps.callbackHealth?.degraded())
      return Math.min(timing.capMs, timing.baseMs * DEGRADED_CALLBACK_CAP_FACTOR);
  } catch (e) {
    // The state table unreadable: the short cap costs a few status calls, the long one may cost 30 min.
    deps.logger.warn('callback health unknown; polling as if degraded', { error: describeError(e) });
    return Math.min(timing.capMs, timing.baseMs * DEGRADED_CALLBACK_CAP_FACTOR);
  }
  return timing.callbackCapMs;
}

/** A job with our callback was found COMPLETED by polling: its callback did not come through. */
async function callbackMissing(deps: PollDeps, job: JobRecord): Promise<void> {
  if (!deps.callbackHealth) return;
  try {
    if (await deps.callbackHealth.degrade())
      deps.logger.warn('a job completed without its callback; callbacks deemed degraded', {
        job_id: job.job_id,
      });
  } catch (e) {
    deps.logger.warn('callback health not recorded', { job_id: job.job_id, error: describeError(e) });
  }
}

/**
 * Once per degraded period: the PENDING jobs with a callback that wait longer than the degraded cap
 * (their backoff was set while callbacks worked) are made due now, so none of them waits out a long
 * backoff for a callback that may never come. The caller checks them in this tick.
 */
async function pullInCallbackJobs(deps: PollDeps, shouldStop: () => boolean): Promise<number> {
  const health = deps.callbackHealth;
  if (!health) return 0;
  const now = (deps.now ?? Date.now)();
  const state = await health.degraded();
  if (!state || state.pulledIn === state.since || !(await health.claimPullIn(state))) return 0;
  const cap = deps.timing.baseMs * DEGRADED_CALLBACK_CAP_FACTOR;
  let pulled = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    if (shouldStop()) break;
    const page = await deps.jobs.due(
      'PENDING',
      now + deps.timing.callbackCapMs + deps.timing.baseMs,
      PAGE,
      startKey,
    );
    logCorrupt(deps.logger, page.corrupt, 'callback pull-in');
    for (const j of page.jobs) {
      if (j.callback && j.next_check_at > now + cap && (await deps.jobs.pullIn(j, now))) pulled++;
    }
    startKey = page.lastKey;
  } while (startKey);
  if (pulled)
    deps.logger.warn('callbacks degraded: jobs waiting for their callback are checked now', { jobs: pulled });
  return pulled;
}

/** A DOWNLOADING job whose lease ran out: dispatch it again, or end it (too old, out of attempts). */
async function checkDownloading(deps: PollDeps, job: JobRecord): Promise<CheckOutcome> {
  if (tooOld(deps, job)) return expire(deps, job);
  const seen: Guard = { kind: 'seen', status: 'DOWNLOADING', nextCheckAt: job.next_check_at };
  if ((job.attempts ?? 0) >= deps.config.MAX_DOWNLOAD_ATTEMPTS) {
    const error = job.last_error ?? { code: 'DOWNLOAD_TIMEOUT', message: 'the download did not finish' };
    return outcome((await failJob(deps, job, seen, error)) ? 'failed' : 'skipped');
  }
  const dispatchId = await deps.jobs.redispatch(job, (deps.now ?? Date.now)() + deps.timing.dispatchGraceMs);
  if (!dispatchId) return outcome('skipped');
  await dispatchLogged(deps, { job_id: job.job_id, dispatch_id: dispatchId }, 'download dispatched again');
  return outcome('redispatched');
}

/**
 * One poller tick: checks every due PENDING job with Zoho (bounded concurrency) and re-dispatches
 * DOWNLOADING jobs whose lease ran out. Stops taking new work at `deadline`, on `signal`, or when no
 * access token can be had (every job would wait for the same reason); one job's failure never affects
 * another's.
 */
export async function pollOnce(
  deps: PollDeps,
  opts: { deadline: number; signal?: AbortSignal },
): Promise<PollSummary> {
  const now = deps.now ?? Date.now;
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
  let tokenTrouble = false;
  const shouldStop = (): boolean => {
    if (stop) return true;
    if (opts.signal?.aborted) stop = 'aborted';
    else if (now() >= opts.deadline) stop = 'deadline';
    return stop !== undefined;
  };
  const limit = zohoLimiter(deps.config.POLL_CONCURRENCY);

  async function* due(): AsyncGenerator<JobRecord> {
    for (const status of ['PENDING', 'DOWNLOADING'] as const) {
      let startKey: Record<string, unknown> | undefined;
      const tickStart = now();
      do {
        if (shouldStop()) return;
        const page = await deps.jobs.due(status, tickStart, PAGE, startKey);
        // A job that does not parse cannot be checked: logged, and the tick goes on with the others.
        logCorrupt(deps.logger, page.corrupt, 'poller');
        for (const j of page.jobs) yield j;
        startKey = page.lastKey;
      } while (startKey);
    }
  }

  const record = (o: CheckOutcome): void => {
    summary[o.kind]++;
    if (o.checked) summary.checked++;
    if (o.followUp) summary.followUps++;
    if (o.tokenProblem) {
      if (!stop) deps.metrics.count('ZohoTokenErrors');
      stop = `no access token: ${o.tokenProblem.code}`;
      tokenTrouble = true;
    }
  };

  try {
    await pullInCallbackJobs(deps, shouldStop);
  } catch (e) {
    // Their own backoff still brings them; the next tick tries again (the claim is per period).
    deps.logger.error('jobs waiting for their callback not pulled in', { error: describeError(e) });
  }
  await reclaimJobSlots(deps.jobSlots, deps.jobs, deps.logger);
  const source = due();
  const worker = async (): Promise<void> => {
    for (;;) {
      if (shouldStop()) return;
      const { value: job, done } = await source.next();
      if (done) return;
      try {
        record(
          job.status === 'PENDING'
            ? await checkJob(deps, job, { limit, signal: opts.signal })
            : await checkDownloading(deps, job),
        );
      } catch (e) {
        // DynamoDB trouble on one job: its claim runs out and a later tick takes it again.
        deps.logger.error('job check failed', { job_id: job.job_id, error: describeError(e) });
      }
    }
  };
  // Twice as many workers as Zoho slots: while some wait on DynamoDB (claims, results), the others keep
  // every Zoho slot busy. Zoho never sees more than POLL_CONCURRENCY calls at once.
  await Promise.all(Array.from({ length: deps.config.POLL_CONCURRENCY * 2 }, worker));
  if (stop) {
    summary.stoppedEarly = true;
    deps.logger.warn('poller stopped taking new work', { reason: stop });
  }
  // Token trouble stops the checks, not the work that needs no token (publishing, finalizing,
  // dispatching conversions): the sweep still does that. Out of time or aborted, nothing more.
  if (deps.sweep && (!stop || (tokenTrouble && !opts.signal?.aborted))) {
    try {
      summary.exports = await deps.sweep({
        deadline: opts.deadline,
        ...(tokenTrouble ? { withoutZoho: true } : {}),
      });
    } catch (e) {
      deps.logger.error('export sweep failed', { error: describeError(e) });
    }
  }
  return summary;
}

/**
 * The tick's export-health gauge (lib/exports/health.ts), never the tick's failure: a throw would fail
 * the invocation and EventBridge would run the whole tick again. A gauge that could not be measured
 * or sent is logged and counted (HealthMetricErrors).
 */
export async function emitHealthGuarded(
  deps: Pick<PollDeps, 'logger' | 'metrics'>,
  emit: () => Promise<number | undefined>,
): Promise<number | undefined> {
  try {
    const age = await emit();
    // health.ts logged why: only count it.
    if (age === undefined) deps.metrics.count('HealthMetricErrors');
    return age;
  } catch (e) {
    deps.metrics.count('HealthMetricErrors');
    deps.logger.error('export health gauge failed; the tick goes on', { error: describeError(e) });
    return undefined;
  }
}
