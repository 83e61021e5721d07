/**
 * Retry decisions, made in one place from the error (a ZohoError's kind, stage and code, a CodedError's
 * kind, or anything else): a status check, a download, the creation of a follow-up page and a page's
 * Parquet conversion each ask one function here. Every retry has a backoff and a limit, and a wait that
 * is nobody's fault (no access token, the shared download lock) is not counted against the job.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Timing } from '../config.js';
import { CodedError } from '../errors.js';
import { describeError } from '../observability.js';
import { ZohoError } from '../zoho/errors.js';

/** Exponential backoff with jitter between half and all of the delay, capped. */
export function backoffMs(
  step: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(step, 0), 20));
  return Math.round(raw / 2 + random() * (raw / 2));
}

export type RetryDecision =
  /** Give up: the job ends FAILED with this error. */
  | { kind: 'fail' }
  /** Try again after `delayMs`; the attempt counts. */
  | { kind: 'retry'; delayMs: number }
  /** Not this job's fault (no access token, Zoho's download lock): wait `delayMs`, do not count it. */
  | { kind: 'wait'; delayMs: number; why: 'no-token' | 'download-lock' };

/** The token broker could not give us a token: not the job's fault. */
export const isTokenProblem = (e: unknown): e is ZohoError => e instanceof ZohoError && e.stage === 'oauth';

/**
 * A create held back by the pace, not refused: Zoho's TOO_MANY_REQUESTS (429) or every shared job slot
 * taken (lib/zoho/job-slots.ts: `ZOHO_JOB_SLOTS_FULL`, `ZOHO_JOB_SLOTS_BUSY`). It slows a page down and
 * never fails it: only the maximum job age bounds it.
 */
export const isPaceLimit = (e: unknown): e is ZohoError =>
  e instanceof ZohoError &&
  e.kind === 'retryable' &&
  (e.code === 'TOO_MANY_REQUESTS' || e.httpStatus === 429 || isSlotWait(e));

/** Every one of our Zoho job slots is taken (or the slot item is contended): our cap, not Zoho's answer. */
export const isSlotWait = (e: unknown): e is ZohoError =>
  e instanceof ZohoError && e.kind === 'retryable' && e.code.startsWith('ZOHO_JOB_SLOTS_');

/** Zoho's download rate limit (HTTP 429 or TOO_MANY_REQUESTS on a download). */
export const isDownloadThrottle = (e: unknown): e is ZohoError =>
  e instanceof ZohoError && (e.code === 'TOO_MANY_REQUESTS' || e.httpStatus === 429);

/** The longest wait Zoho's Retry-After may ask of us, in poll intervals. */
export const RETRY_AFTER_CAP_FACTOR = 10;

/**
 * Zoho's Retry-After, capped at ten poll intervals and at the maximum job age: a job is never put to
 * sleep past its end, however far off a header (or a clock) says.
 */
export const retryAfter = (e: unknown, timing: Pick<Timing, 'baseMs' | 'maxAgeMs'>): number =>
  e instanceof ZohoError
    ? Math.min(e.retryAfterMs ?? 0, RETRY_AFTER_CAP_FACTOR * timing.baseMs, timing.maxAgeMs)
    : 0;

/**
 * `delayMs`, cut so the job is looked at again no later than its maximum age (then it expires at once
 * rather than sleeping past it); `ageMs` is the job's age now.
 */
export const withinMaxAge = (delayMs: number, ageMs: number, timing: Pick<Timing, 'maxAgeMs'>): number =>
  Math.max(0, Math.min(delayMs, timing.maxAgeMs - ageMs));

/** After a failed status check (or follow-up creation) of a PENDING job; `consecutive` counts this one. */
export function afterCheckError(
  e: unknown,
  consecutive: number,
  timing: Timing,
  random: () => number = Math.random,
): RetryDecision {
  const backoff = backoffMs(consecutive - 1, timing.baseMs, timing.capMs, random);
  if (isTokenProblem(e))
    return { kind: 'wait', delayMs: Math.max(retryAfter(e, timing), backoff), why: 'no-token' };
  if (e instanceof ZohoError && e.kind === 'terminal') return { kind: 'fail' };
  return { kind: 'retry', delayMs: Math.max(retryAfter(e, timing), backoff) };
}

/** After a failed download attempt; `attempts` counts this one. */
export function afterDownloadError(
  e: unknown,
  attempts: number,
  maxAttempts: number,
  timing: Timing,
  random: () => number = Math.random,
): RetryDecision {
  if (isDownloadThrottle(e)) {
    return {
      kind: 'wait',
      delayMs: Math.max(timing.downloadLockMs, retryAfter(e, timing)),
      why: 'download-lock',
    };
  }
  if (isTokenProblem(e))
    return { kind: 'wait', delayMs: Math.max(retryAfter(e, timing), timing.baseMs), why: 'no-token' };
  // Everything else (S3 errors, count mismatches, broken transfers) is worth another try, up to the limit.
  if ((e instanceof ZohoError && e.kind === 'terminal') || attempts >= maxAttempts) return { kind: 'fail' };
  return { kind: 'retry', delayMs: backoffMs(attempts - 1, timing.baseMs, timing.capMs, random) };
}

/** Failures after which Zoho may have created the job all the same: the request left, no answer came. */
const UNCERTAIN_CODES: ReadonlySet<string> = new Set(['TIMEOUT', 'NETWORK_ERROR', 'ABORTED']);

/** Socket errors raised before a request is sent: no connection was made, so Zoho saw nothing. */
const NOT_SENT_CAUSES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'BAD_PORT',
]);

/**
 * The codes of the error's causes (fetch wraps the socket's error), a few levels deep; fetch's own
 * refusal of a blocked port (the Fetch standard's "bad port", never sent) counts as `BAD_PORT`.
 */
function causeCodes(e: unknown): string[] {
  const codes: string[] = [];
  let c: unknown = e instanceof Error ? e.cause : undefined;
  for (let i = 0; i < 4 && c && typeof c === 'object'; i++) {
    const { code, message } = c as { code?: unknown; message?: unknown };
    if (typeof code === 'string') codes.push(code);
    if (message === 'bad port') codes.push('BAD_PORT');
    c = (c as { cause?: unknown }).cause;
  }
  return codes;
}

/**
 * A create whose outcome is unknown: the request went to Zoho and no answer came. A token failure
 * (`stage: 'oauth'`) or a connection never made did not send it; a refusal is an answer.
 */
export const isUncertainCreate = (e: unknown): e is ZohoError =>
  e instanceof ZohoError &&
  e.stage !== 'oauth' &&
  e.kind !== 'terminal' &&
  UNCERTAIN_CODES.has(e.code) &&
  !causeCodes(e).some((c) => NOT_SENT_CAUSES.has(c));

/**
 * Attempts after which a follow-up page Zoho keeps refusing (for a reason worth a retry) fails its
 * export: with the default poll interval the backoff reaches its cap after five, so this is about
 * two and a half hours of trying. Token trouble and the pace (`isPaceLimit`) are not counted (nobody's
 * fault); the maximum job age bounds every case.
 */
export const MAX_FOLLOW_UP_ATTEMPTS = 20;

export type CreateDecision =
  /** Zoho refused the page for good: the export fails (or recovers, for a refused page token). */
  | { kind: 'fail' }
  /**
   * Tried too often, or for longer than a job may live: the export fails with FOLLOW_UP_NOT_CREATED
   * (Zoho's last answer in its message).
   */
  | { kind: 'give-up'; why: 'attempts' | 'age' }
  /**
   * The request went out and no answer came: Zoho may have made the job. With callbacks on, its
   * callback names it and adopts it, so no second job is asked for until the adoption window closes.
   */
  | { kind: 'await-callback' }
  /** Ask again after `delayMs`; the attempt counts. */
  | { kind: 'retry'; delayMs: number };

/**
 * After a failed creation of an export's follow-up page; `attempts` counts this one, `wantedForMs` is
 * how long the page has been wanted (unset: not bounded by age).
 */
export function afterCreateError(
  e: unknown,
  attempts: number,
  timing: Timing,
  opts: { callbacks: boolean; wantedForMs?: number },
  random: () => number = Math.random,
): CreateDecision {
  if (e instanceof ZohoError && e.stage !== 'oauth' && e.kind === 'terminal') return { kind: 'fail' };
  if ((opts.wantedForMs ?? 0) >= timing.maxAgeMs) return { kind: 'give-up', why: 'age' };
  if (!isTokenProblem(e) && !isPaceLimit(e) && attempts >= MAX_FOLLOW_UP_ATTEMPTS)
    return { kind: 'give-up', why: 'attempts' };
  if (opts.callbacks && isUncertainCreate(e)) return { kind: 'await-callback' };
  // Our own cap is full: a slot frees when one of our jobs ends, which the poller sees each tick, and
  // asking again costs a read of our own table, not a Zoho credit. So about one poll interval, never
  // the growing backoff that Zoho's throttling earns (an idle slot for minutes would slow a snapshot).
  if (isSlotWait(e))
    return { kind: 'retry', delayMs: Math.round(timing.baseMs / 2 + random() * (timing.baseMs / 2)) };
  return {
    kind: 'retry',
    delayMs: Math.max(retryAfter(e, timing), backoffMs(attempts - 1, timing.baseMs, timing.capMs, random)),
  };
}

/** The first wait after a failed conversion attempt, and its cap. */
export const CONVERSION_RETRY_BASE_MS = 30_000;
export const CONVERSION_RETRY_CAP_MS = 10 * 60_000;

/** A malformed CSV (lib/analytics/csv.ts, lib/pipeline/csv-count.ts) or a row-count mismatch: converting again cannot help. */
const CONVERSION_TERMINAL_CODES = /^CSV_|^PARQUET_ROW/;

/** After a failed Parquet conversion attempt of a page; `attempts` counts this one. */
export function afterConversionError(
  e: unknown,
  attempts: number,
  maxAttempts: number,
  random: () => number = Math.random,
): RetryDecision {
  // Zoho or S3 trouble is worth another try; a malformed CSV or a row mismatch is not.
  const terminal =
    e instanceof ZohoError
      ? e.kind === 'terminal' && e.stage !== 'oauth'
      : (e instanceof CodedError && e.kind === 'terminal') ||
        CONVERSION_TERMINAL_CODES.test(describeError(e).code);
  if (terminal || attempts >= maxAttempts) return { kind: 'fail' };
  return {
    kind: 'retry',
    delayMs: backoffMs(attempts - 1, CONVERSION_RETRY_BASE_MS, CONVERSION_RETRY_CAP_MS, random),
  };
}

/** The log line of a failed download or conversion attempt that will be tried again at `retryAt`. */
export function logWillRetry(
  logger: Pick<Logger, 'warn'>,
  what: 'download' | 'conversion',
  jobId: string,
  fields: { error: unknown; attempts: number; retryAt: number },
): void {
  logger.warn(`${what} failed; will retry`, {
    job_id: jobId,
    error: fields.error,
    attempts: fields.attempts,
    retry_at: new Date(fields.retryAt).toISOString(),
  });
}
