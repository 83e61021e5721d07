/**
 * The poller's tick on in-memory tables: token trouble stops the status checks but not the exports'
 * sweep of what needs no token, and a job is never scheduled past its maximum age, whatever Zoho's
 * Retry-After says.
 */
import { describe, expect, it, vi } from 'vitest';
import { timingFrom } from '../../lib/config.js';
import type { SweepOptions, SweepSummary } from '../../lib/exports/sweep.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { emitHealthGuarded, type PollDeps, pollOnce } from '../../lib/pipeline/poll.js';
import { stores } from '../../lib/runtime.js';
import type { ZohoClient } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryTables } from '../support/memory.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const EMPTY: SweepSummary = {
  exports: 0,
  pagesCreated: 0,
  completed: 0,
  eventsPublished: 0,
  followedThrough: 0,
  failed: 0,
};

function harness(getJob: ZohoClient['getJob']) {
  const tables = memoryTables();
  let t = T0;
  const now = () => t;
  const timing = timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
  const s = stores(tables, timing, now);
  const sweeps: SweepOptions[] = [];
  const unreachable = (): never => {
    throw new Error('not in this test');
  };
  const deps: PollDeps = {
    config: { POLL_CONCURRENCY: 2, ZOHO_API_VERSION: 'v8', MAX_DOWNLOAD_ATTEMPTS: 3 },
    timing,
    jobs: s.jobs,
    zoho: {
      apiVersion: 'v8',
      getJob,
      createJob: unreachable,
      downloadResult: unreachable,
      getFields: unreachable,
      getDeletedRecords: unreachable,
      listModules: unreachable,
    },
    dispatch: async () => undefined,
    logger: createLogger('test', 'SILENT'),
    metrics: memoryMetrics(),
    sweep: async (o) => {
      sweeps.push(o);
      return EMPTY;
    },
    now,
    random: () => 1,
  };
  return {
    deps,
    sweeps,
    tables,
    jobs: s.jobs,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

const noToken = () =>
  Promise.reject(
    new ZohoError({
      code: 'TOKEN_THROTTLED',
      message: 'no token (test)',
      kind: 'retryable',
      stage: 'oauth',
      retryAfterMs: 600_000,
    }),
  );

describe('pollOnce', () => {
  it('token trouble stops the checks but still runs the sweep, for what needs no token', async () => {
    const h = harness(noToken);
    for (const id of ['7000000000000000001', '7000000000000000002', '7000000000000000003'])
      await h.tables.jobs.put({ ...h.jobs.newJob(id) });
    const summary = await pollOnce(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(summary.stoppedEarly).toBe(true);
    expect(h.sweeps).toEqual([{ deadline: Number.MAX_SAFE_INTEGER, withoutZoho: true }]);
    expect(summary.exports).toEqual(EMPTY);
  });

  it('a tick that is not in trouble sweeps with Zoho; one out of time or aborted does not sweep', async () => {
    const h = harness(noToken);
    await pollOnce(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(h.sweeps).toEqual([{ deadline: Number.MAX_SAFE_INTEGER }]);
    await pollOnce(h.deps, { deadline: 0 });
    const aborted = new AbortController();
    aborted.abort();
    await pollOnce(h.deps, { deadline: Number.MAX_SAFE_INTEGER, signal: aborted.signal });
    expect(h.sweeps).toHaveLength(1);
  });

  it('a stored job that does not parse is logged and skipped; the due jobs behind it are checked', async () => {
    const asked: string[] = [];
    const h = harness(async (id) => {
      asked.push(id);
      throw new ZohoError({
        code: 'INTERNAL_ERROR',
        message: 'busy (test)',
        kind: 'retryable',
        httpStatus: 500,
      });
    });
    const bad = '7000000000000000001';
    const good = '7000000000000000002';
    await h.tables.jobs.put({ ...h.jobs.newJob(bad), checks: 'several' });
    await h.tables.jobs.put(h.jobs.newJob(good));
    const error = vi.spyOn(h.deps.logger, 'error');
    const summary = await pollOnce(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(asked).toEqual([good]);
    expect(summary).toMatchObject({ retried: 1 });
    const logged = JSON.stringify(error.mock.calls);
    expect(logged).toContain(bad);
    expect(logged).toContain('CORRUPT_RECORD');
  });

  it("Zoho's Retry-After never puts a job to sleep past its maximum age", async () => {
    const h = harness(() =>
      Promise.reject(
        new ZohoError({
          code: 'TOO_MANY_REQUESTS',
          message: 'slow down (test)',
          kind: 'retryable',
          httpStatus: 429,
          retryAfterMs: 86_400_000,
        }),
      ),
    );
    const id = '7000000000000000001';
    await h.tables.jobs.put({ ...h.jobs.newJob(id) });
    // Two minutes before its end: the next check is at its end, not ten minutes (or a day) later.
    h.advance(h.deps.timing.maxAgeMs - 120_000);
    expect((await pollOnce(h.deps, { deadline: Number.MAX_SAFE_INTEGER })).retried).toBe(1);
    expect((await h.jobs.get(id))?.next_check_at).toBe(T0 + h.deps.timing.maxAgeMs);
    h.advance(120_001);
    expect((await pollOnce(h.deps, { deadline: Number.MAX_SAFE_INTEGER })).expired).toBe(1);
    expect((await h.jobs.get(id))?.status).toBe('FAILED');
  });
});

describe('emitHealthGuarded', () => {
  it('a failing health gauge is logged and counted, never thrown (the tick is not run again)', async () => {
    const metrics = memoryMetrics();
    const logger = createLogger('test', 'SILENT');
    const errors: string[] = [];
    logger.error = (message: unknown, ..._rest: never[]) => {
      errors.push(String(message));
    };
    await expect(
      emitHealthGuarded({ logger, metrics }, () => Promise.reject(new Error('DynamoDB is down (test)'))),
    ).resolves.toBeUndefined();
    expect(metrics.counts.HealthMetricErrors).toBe(1);
    expect(errors).toEqual(['export health gauge failed; the tick goes on']);
    // Not measured (health.ts logged why): counted as well; measured: nothing.
    expect(await emitHealthGuarded({ logger, metrics }, async () => undefined)).toBeUndefined();
    expect(await emitHealthGuarded({ logger, metrics }, async () => 42)).toBe(42);
    expect(metrics.counts.HealthMetricErrors).toBe(2);
  });
});
