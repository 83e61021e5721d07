/**
 * The rule of lib/exports/recovery.ts as a pure function: what is re-created per API version after a
 * result, a job or a page token expired.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_RECOVERIES,
  PAGE_TOKEN_USABLE_MS,
  planRecovery,
  RECOVERY_BACKOFF_MS,
  recoveryDelayMs,
  triggerOf,
} from '../../lib/exports/recovery.js';

const base = { source: 'api', recoveries: 0 } as const;

describe('planRecovery', () => {
  it('registered jobs (source job) are never re-created, whatever the version', () => {
    for (const version of ['v2', 'v8'] as const)
      expect(planRecovery({ ...base, source: 'job', version, trigger: 'result-gone', page: 1 })).toEqual({
        kind: 'none',
        reason: 'registered-job',
      });
  });

  it('after MAX_RECOVERIES the export is not recovered again', () => {
    expect(
      planRecovery({ ...base, recoveries: MAX_RECOVERIES, version: 'v2', trigger: 'too-old', page: 1 }),
    ).toEqual({ kind: 'none', reason: 'exhausted' });
    expect(
      planRecovery({ ...base, recoveries: MAX_RECOVERIES - 1, version: 'v2', trigger: 'too-old', page: 1 })
        .kind,
    ).toBe('recreate');
  });

  it('v2 … v6: any page by its number, alone (no page is dropped); a token refusal cannot happen', () => {
    for (const version of ['v2', 'v2.1', 'v3', 'v4', 'v5', 'v6'] as const) {
      for (const page of [1, 2, 37, 500]) {
        expect(planRecovery({ ...base, version, trigger: 'result-gone', page })).toEqual({
          kind: 'recreate',
          page,
          by: 'query',
          dropLater: false,
        });
      }
      expect(planRecovery({ ...base, version, trigger: 'too-old', page: 501 })).toEqual({
        kind: 'none',
        reason: 'page-range',
      });
      expect(planRecovery({ ...base, version, trigger: 'token-refused', page: 2 }).kind).toBe('none');
    }
  });

  it('v7 / v8: page 1 by query; the pages after it are created again from it', () => {
    for (const version of ['v7', 'v8'] as const)
      for (const trigger of ['result-gone', 'too-old'] as const)
        expect(planRecovery({ ...base, version, trigger, page: 1 })).toEqual({
          kind: 'recreate',
          page: 1,
          by: 'query',
          dropLater: true,
        });
  });

  it('v7 / v8: page n > 1 with its parent’s token while it is young enough, else from page 1', () => {
    const young = PAGE_TOKEN_USABLE_MS - 1;
    expect(
      planRecovery({ ...base, version: 'v8', trigger: 'result-gone', page: 3, parentTokenAgeMs: young }),
    ).toEqual({ kind: 'recreate', page: 3, by: 'token', dropLater: true });
    const restart = { kind: 'recreate', page: 1, by: 'query', dropLater: true };
    expect(
      planRecovery({
        ...base,
        version: 'v7',
        trigger: 'too-old',
        page: 3,
        parentTokenAgeMs: PAGE_TOKEN_USABLE_MS,
      }),
    ).toEqual(restart);
    expect(planRecovery({ ...base, version: 'v8', trigger: 'result-gone', page: 2 })).toEqual(restart);
    // A refused token: never by token (not even a young one), restart from page 1.
    expect(
      planRecovery({ ...base, version: 'v8', trigger: 'token-refused', page: 2, parentTokenAgeMs: 0 }),
    ).toEqual(restart);
  });
});

describe('triggers and backoff', () => {
  it('RESOURCE_NOT_FOUND and EXPIRED are expiries; other errors are not', () => {
    expect(triggerOf({ code: 'RESOURCE_NOT_FOUND' })).toBe('result-gone');
    expect(triggerOf({ code: 'EXPIRED' })).toBe('too-old');
    for (const code of ['NO_PERMISSION', 'INTERNAL_SERVER_ERROR', 'CRC_MISMATCH', 'REPLACED'])
      expect(triggerOf({ code })).toBeUndefined();
  });

  it('the first recovery is immediate, the next ones back off (doubling)', () => {
    expect(recoveryDelayMs(0)).toBe(0);
    expect(recoveryDelayMs(1)).toBe(RECOVERY_BACKOFF_MS);
    expect(recoveryDelayMs(2)).toBe(2 * RECOVERY_BACKOFF_MS);
  });
});
