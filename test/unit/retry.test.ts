import { describe, expect, it } from 'vitest';
import { timingFrom } from '../../lib/config.js';
import { afterCheckError, afterDownloadError, backoffMs } from '../../lib/jobs/retry.js';
import { ZohoError } from '../../lib/zoho/errors.js';

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
      afterCheckError(z('TOO_MANY_REQUESTS', 'retryable', { retryAfterMs: 900_000 }), 1, timing),
    ).toMatchObject({ delayMs: 900_000 });
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
});
