/**
 * Retry decisions, made in one place from the error (a ZohoError's kind, stage and code, or anything
 * else): every retry has a backoff and a limit, and a wait that is nobody's fault (no access token, the
 * shared download lock) is not counted against the job.
 */
import type { Timing } from '../config.js';
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

/** Zoho's download rate limit (HTTP 429 or TOO_MANY_REQUESTS on a download). */
export const isDownloadThrottle = (e: unknown): e is ZohoError =>
  e instanceof ZohoError && (e.code === 'TOO_MANY_REQUESTS' || e.httpStatus === 429);

const retryAfter = (e: unknown): number => (e instanceof ZohoError ? (e.retryAfterMs ?? 0) : 0);

/** After a failed status check (or follow-up creation) of a PENDING job; `consecutive` counts this one. */
export function afterCheckError(
  e: unknown,
  consecutive: number,
  timing: Timing,
  random: () => number = Math.random,
): RetryDecision {
  const backoff = backoffMs(consecutive - 1, timing.baseMs, timing.capMs, random);
  if (isTokenProblem(e)) return { kind: 'wait', delayMs: Math.max(retryAfter(e), backoff), why: 'no-token' };
  if (e instanceof ZohoError && e.kind === 'terminal') return { kind: 'fail' };
  return { kind: 'retry', delayMs: Math.max(retryAfter(e), backoff) };
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
    return { kind: 'wait', delayMs: Math.max(timing.downloadLockMs, retryAfter(e)), why: 'download-lock' };
  }
  if (isTokenProblem(e))
    return { kind: 'wait', delayMs: Math.max(retryAfter(e), timing.baseMs), why: 'no-token' };
  // Everything else (S3 errors, count mismatches, broken transfers) is worth another try, up to the limit.
  if ((e instanceof ZohoError && e.kind === 'terminal') || attempts >= maxAttempts) return { kind: 'fail' };
  return { kind: 'retry', delayMs: backoffMs(attempts - 1, timing.baseMs, timing.capMs, random) };
}
