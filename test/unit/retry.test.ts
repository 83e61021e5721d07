import { describe, expect, it } from 'vitest';
import { CsvError } from '../../lib/analytics/csv.js';
import { timingFrom } from '../../lib/config.js';
import { ParquetRowMismatchError } from '../../lib/exports/convert.js';
import {
  afterCheckError,
  afterConversionError,
  afterCreateError,
  afterDownloadError,
  backoffMs,
  CONVERSION_RETRY_BASE_MS,
  CONVERSION_RETRY_CAP_MS,
  isUncertainCreate,
  MAX_FOLLOW_UP_ATTEMPTS,
  RETRY_AFTER_CAP_FACTOR,
  withinMaxAge,
} from '../../lib/jobs/retry.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { MAX_RETRY_AFTER_MS, retryAfterMs } from '../../lib/zoho/http.js';

const timing = timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
const z = (
  code: string,
  kind: 'retryable' | 'terminal' | 'auth',
  extra: Partial<ConstructorParameters<typeof ZohoError>[0]> = {},
) => new ZohoError({ code, message: code, kind, ...extra });

describe('retry decisions', () => {
  it('backoff doubles from the base, is capped, and jitters between half and all of it', () => {
    expect(backoffMs(0, 1000, 10_000, () => 1)).toBe(1000);
    expect(backoffMs(3, 1000, 10_000, () => 1)).toBe(8000);
    expect(backoffMs(9, 1000, 10_000, () => 1)).toBe(10_000);
    expect(backoffMs(3, 1000, 10_000, () => 0)).toBe(4000);
  });

  it('status checks: terminal errors fail, token problems wait, the rest retry no sooner than Retry-After', () => {
    expect(afterCheckError(z('RESOURCE_NOT_FOUND', 'terminal'), 1, timing).kind).toBe('fail');
    expect(afterCheckError(z('invalid_code', 'terminal', { stage: 'oauth' }), 1, timing)).toMatchObject({
      kind: 'wait',
      why: 'no-token',
    });
    expect(afterCheckError(z('INTERNAL_ERROR', 'retryable'), 2, timing, () => 1)).toEqual({
      kind: 'retry',
      delayMs: 120_000,
    });
    expect(
      afterCheckError(z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 900_000 }), 1, timing).kind,
    ).toBe('retry');
    expect(
      afterCheckError(z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 500_000 }), 1, timing),
    ).toMatchObject({ delayMs: 500_000 });
    // Capped at ten poll intervals: a Retry-After of 15 minutes waits 10 at a 60 s poll interval.
    expect(
      afterCheckError(z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 900_000 }), 1, timing),
    ).toMatchObject({ delayMs: 600_000 });
    expect(afterCheckError(new Error('socket hang up'), 1, timing).kind).toBe('retry');
  });

  it('downloads: a 429 waits for the lock without counting, the attempt limit ends retries', () => {
    expect(
      afterDownloadError(z('TOO_MANY_REQUESTS', 'retryable', { httpStatus: 429 }), 5, 5, timing),
    ).toMatchObject({ kind: 'wait', why: 'download-lock' });
    expect(
      afterDownloadError(z('TOKEN_THROTTLED', 'retryable', { stage: 'oauth' }), 5, 5, timing),
    ).toMatchObject({ kind: 'wait', why: 'no-token' });
    expect(afterDownloadError(new Error('S3 is down'), 2, 5, timing).kind).toBe('retry');
    expect(afterDownloadError(new Error('S3 is down'), 5, 5, timing).kind).toBe('fail');
    expect(afterDownloadError(z('UNSAFE_DOWNLOAD_URL', 'terminal'), 1, 5, timing).kind).toBe('fail');
    expect(afterDownloadError(z('INVALID_TOKEN', 'auth'), 1, 5, timing).kind).toBe('retry');
  });

  it('follow-up creation: terminal fails, a lost answer waits for the callback (only with callbacks), the rest retry', () => {
    const on = { callbacks: true };
    const off = { callbacks: false };
    expect(afterCreateError(z('INVALID_REQUEST', 'terminal'), 1, timing, on).kind).toBe('fail');
    // A token problem is no refusal of the page: retried, even when terminal at the token endpoint.
    expect(afterCreateError(z('invalid_code', 'terminal', { stage: 'oauth' }), 1, timing, on).kind).toBe(
      'retry',
    );
    for (const code of ['TIMEOUT', 'NETWORK_ERROR', 'ABORTED']) {
      expect(afterCreateError(z(code, 'retryable'), 1, timing, on).kind).toBe('await-callback');
      expect(afterCreateError(z(code, 'retryable'), 1, timing, off).kind).toBe('retry');
      expect(afterCreateError(z(code, 'retryable', { stage: 'oauth' }), 1, timing, on).kind).toBe('retry');
    }
    expect(afterCreateError(z('INTERNAL_ERROR', 'retryable'), 3, timing, on, () => 1)).toEqual({
      kind: 'retry',
      delayMs: backoffMs(2, timing.baseMs, timing.capMs, () => 1),
    });
    expect(
      afterCreateError(z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 500_000 }), 1, timing, on),
    ).toEqual({ kind: 'retry', delayMs: 500_000 });
    expect(
      afterCreateError(z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 900_000 }), 1, timing, on),
    ).toEqual({ kind: 'retry', delayMs: 600_000 });
    expect(afterCreateError(new Error('socket hang up'), 1, timing, on).kind).toBe('retry');
  });

  it('an uncertain create: the request left and no answer came (not a refusal, not a token failure)', () => {
    for (const code of ['TIMEOUT', 'NETWORK_ERROR', 'ABORTED']) {
      expect(isUncertainCreate(z(code, 'retryable'))).toBe(true);
      expect(isUncertainCreate(z(code, 'retryable', { stage: 'oauth' }))).toBe(false);
    }
    expect(isUncertainCreate(z('INVALID_MODULE', 'terminal'))).toBe(false);
    expect(isUncertainCreate(z('INTERNAL_ERROR', 'retryable'))).toBe(false);
    expect(isUncertainCreate(z('TOO_MANY_REQUESTS', 'retryable'))).toBe(false);
    expect(isUncertainCreate(new Error('TIMEOUT'))).toBe(false);
    // No connection was made (fetch's TypeError wraps the socket error): Zoho saw nothing.
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const fetchFailed = new TypeError('fetch failed', { cause: refused });
    expect(isUncertainCreate(z('NETWORK_ERROR', 'retryable', { cause: fetchFailed }))).toBe(false);
    const reset = new TypeError('fetch failed', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    expect(isUncertainCreate(z('NETWORK_ERROR', 'retryable', { cause: reset }))).toBe(true);
  });

  it('conversion: a malformed CSV or a row mismatch fails at once, the rest retry up to the limit', () => {
    expect(afterConversionError(new CsvError('CSV_BAD_QUOTE', 'bad quote'), 1, 3).kind).toBe('fail');
    expect(afterConversionError(new ParquetRowMismatchError('rows differ'), 1, 3).kind).toBe('fail');
    expect(afterConversionError(z('INVALID_MODULE', 'terminal'), 1, 3).kind).toBe('fail');
    expect(afterConversionError(z('invalid_code', 'terminal', { stage: 'oauth' }), 1, 3).kind).toBe('retry');
    expect(afterConversionError(new Error('S3 is down'), 1, 3, () => 1)).toEqual({
      kind: 'retry',
      delayMs: CONVERSION_RETRY_BASE_MS,
    });
    expect(afterConversionError(new Error('S3 is down'), 2, 3, () => 1)).toEqual({
      kind: 'retry',
      delayMs: 2 * CONVERSION_RETRY_BASE_MS,
    });
    expect(afterConversionError(new Error('S3 is down'), 3, 3).kind).toBe('fail');
    expect(CONVERSION_RETRY_CAP_MS).toBe(10 * 60_000);
  });

  it("Zoho's Retry-After is capped at ten poll intervals and at the maximum job age, for every decision", () => {
    const huge = z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 30 * 86_400_000, httpStatus: 429 });
    const cap = RETRY_AFTER_CAP_FACTOR * timing.baseMs;
    expect(cap).toBe(600_000);
    expect(afterCheckError(huge, 1, timing, () => 1)).toEqual({ kind: 'retry', delayMs: cap });
    expect(afterCreateError(huge, 1, timing, { callbacks: false }, () => 1)).toEqual({
      kind: 'retry',
      delayMs: cap,
    });
    expect(afterDownloadError(huge, 1, 5, timing)).toMatchObject({ kind: 'wait', delayMs: cap });
    const tokenWait = z('TOKEN_THROTTLED', 'retryable', { stage: 'oauth', retryAfterMs: 86_400_000 });
    expect(afterCheckError(tokenWait, 1, timing, () => 1)).toMatchObject({ kind: 'wait', delayMs: cap });
    // A short maximum age caps it lower still.
    const short = { ...timing, maxAgeMs: 300_000 };
    expect(afterCheckError(huge, 1, short, () => 1)).toEqual({ kind: 'retry', delayMs: 300_000 });
  });

  it('a job is never scheduled past its maximum age', () => {
    expect(withinMaxAge(600_000, 0, timing)).toBe(600_000);
    expect(withinMaxAge(600_000, timing.maxAgeMs - 60_000, timing)).toBe(60_000);
    expect(withinMaxAge(600_000, timing.maxAgeMs + 1, timing)).toBe(0);
  });

  it('follow-up creation gives up after a bounded number of attempts (token trouble aside) or past the maximum job age', () => {
    const on = { callbacks: true };
    const flaky = z('INTERNAL_ERROR', 'retryable');
    expect(afterCreateError(flaky, MAX_FOLLOW_UP_ATTEMPTS - 1, timing, on).kind).toBe('retry');
    expect(afterCreateError(flaky, MAX_FOLLOW_UP_ATTEMPTS, timing, on)).toEqual({
      kind: 'give-up',
      why: 'attempts',
    });
    expect(afterCreateError(z('TIMEOUT', 'retryable'), MAX_FOLLOW_UP_ATTEMPTS, timing, on).kind).toBe(
      'give-up',
    );
    const noToken = z('TOKEN_THROTTLED', 'retryable', { stage: 'oauth' });
    expect(afterCreateError(noToken, MAX_FOLLOW_UP_ATTEMPTS + 5, timing, on).kind).toBe('retry');
    expect(afterCreateError(noToken, 1, timing, { ...on, wantedForMs: timing.maxAgeMs })).toEqual({
      kind: 'give-up',
      why: 'age',
    });
    expect(afterCreateError(flaky, 1, timing, { ...on, wantedForMs: timing.maxAgeMs - 1 }).kind).toBe(
      'retry',
    );
    // The pace (Zoho's TOO_MANY_REQUESTS, every shared job slot taken) slows a page down, never fails it.
    for (const pace of [
      z('TOO_MANY_REQUESTS', 'retryable', { httpStatus: 429 }),
      z('ZOHO_JOB_SLOTS_FULL', 'retryable'),
    ]) {
      expect(afterCreateError(pace, MAX_FOLLOW_UP_ATTEMPTS + 5, timing, on).kind).toBe('retry');
      expect(afterCreateError(pace, 1, timing, { ...on, wantedForMs: timing.maxAgeMs }).kind).toBe('give-up');
    }
    // Our own cap waits about one poll interval however often it was met; Zoho's 429 backs off.
    const slots = z('ZOHO_JOB_SLOTS_FULL', 'retryable');
    const late = afterCreateError(slots, 15, timing, on, () => 1);
    expect(late).toEqual({ kind: 'retry', delayMs: timing.baseMs });
    const zoho = afterCreateError(
      z('TOO_MANY_REQUESTS', 'retryable', { httpStatus: 429 }),
      15,
      timing,
      on,
      () => 1,
    );
    expect(zoho.kind === 'retry' && zoho.delayMs).toBeGreaterThan(timing.baseMs);
    // A refusal for good stays a refusal (the page-token recovery depends on it).
    expect(afterCreateError(z('INVALID_REQUEST', 'terminal'), MAX_FOLLOW_UP_ATTEMPTS, timing, on).kind).toBe(
      'fail',
    );
  });

  it('reads Retry-After in seconds or as a date, never below zero nor above a day', () => {
    const h = (v: string) => ({ headers: { get: (n: string) => (n === 'retry-after' ? v : null) } });
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(retryAfterMs(h('7'), now)).toBe(7000);
    expect(retryAfterMs(h(' 7 '), now)).toBe(7000);
    expect(retryAfterMs(h('-5'), now)).toBe(0);
    expect(retryAfterMs(h('99999999999'), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(h('Mon, 07 Dec 2026 10:01:00 GMT'), now)).toBe(60_000);
    expect(retryAfterMs(h('Fri, 07 Dec 2029 10:01:00 GMT'), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(h('soon'), now)).toBeUndefined();
    expect(retryAfterMs(h(''), now)).toBeUndefined();
  });
});
