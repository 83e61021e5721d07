/**
 * The downloader's bookkeeping on in-memory tables: after Zoho's 429 the shared budget's lock is
 * retried and every failure logged (it used to be swallowed), and the counters and logs tell only
 * what happened (no `Downloads` or "will retry" for a claim that was lost).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { timingFrom } from '../../lib/config.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { type DownloadDeps, downloadJob } from '../../lib/pipeline/download.js';
import { DownloadBudget } from '../../lib/pipeline/download-budget.js';
import { stores } from '../../lib/runtime.js';
import type { ZohoClient } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryTables } from '../support/memory.js';

const JOB = '7000000000000000001';

/** A budget whose first `failures` lock writes fail (DynamoDB trouble). */
class FlakyBudget extends DownloadBudget {
  locks = 0;
  constructor(...args: [...ConstructorParameters<typeof DownloadBudget>, failures: number]) {
    const [table, opts, failures] = args;
    super(table, opts);
    this.failures = failures;
  }
  private failures: number;
  override lock(at?: number): Promise<number> {
    this.locks++;
    if (this.failures-- > 0) return Promise.reject(new Error('DynamoDB is throttling (test)'));
    return super.lock(at);
  }
}

async function harness(opts: { lockFailures?: number; downloadResult: ZohoClient['downloadResult'] }) {
  const tables = memoryTables();
  const timing = timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
  const s = stores(tables, timing);
  const budget = new FlakyBudget(tables.state, { perMinute: 10 }, opts.lockFailures ?? 0);
  const logs: Array<{ level: string; message: string }> = [];
  const logger = createLogger('test', 'SILENT');
  for (const level of ['info', 'warn', 'error'] as const) {
    const original = logger[level].bind(logger);
    logger[level] = (message: unknown, ...rest: never[]) => {
      logs.push({ level, message: String(message) });
      original(message as string, ...rest);
    };
  }
  const unreachable = (): never => {
    throw new Error('not in this test');
  };
  const metrics = memoryMetrics();
  const deps: DownloadDeps = {
    config: { S3_PREFIX: 'zoho-crm', MAX_DOWNLOAD_ATTEMPTS: 3, BUCKET: 'exports' },
    timing,
    jobs: s.jobs,
    zoho: {
      apiVersion: 'v8',
      getJob: unreachable,
      createJob: unreachable,
      downloadResult: opts.downloadResult,
      getFields: unreachable,
      getDeletedRecords: unreachable,
      listModules: unreachable,
    },
    s3: new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } }),
    budget,
    dispatch: async () => undefined,
    logger,
    metrics,
  };
  await tables.jobs.put({
    ...s.jobs.newJob(JOB, { module: 'Contacts', page: 1 }),
    status: 'DOWNLOADING',
    dispatch_id: 'd-1',
    download_url: 'https://www.zohoapis.com/crm/bulk/v8/read/1/result',
    records: 1,
  });
  return { deps, budget, logs, metrics, tables, jobs: s.jobs };
}

const throttled = () =>
  Promise.reject(
    new ZohoError({ code: 'TOO_MANY_REQUESTS', message: '429 (test)', kind: 'retryable', httpStatus: 429 }),
  );

describe("downloadJob after Zoho's 429", () => {
  it('retries a failed budget lock, logging each failure, and still locks every downloader out', async () => {
    const h = await harness({ lockFailures: 2, downloadResult: throttled });
    const r = await downloadJob(h.deps, { job_id: JOB, dispatch_id: 'd-1' });
    expect(r.outcome).toBe('deferred');
    expect(h.budget.locks).toBe(3);
    expect(await h.budget.lockedUntil()).toBeDefined();
    expect(h.logs.filter((l) => l.message.includes('budget lock failed')).map((l) => l.level)).toEqual([
      'warn',
      'warn',
    ]);
  });

  it('a lock that keeps failing is logged as an error, and the job waits out the lock on its own', async () => {
    const h = await harness({ lockFailures: 10, downloadResult: throttled });
    const r = await downloadJob(h.deps, { job_id: JOB, dispatch_id: 'd-1' });
    expect(r.outcome).toBe('deferred');
    expect(h.budget.locks).toBe(3);
    expect(h.logs.filter((l) => l.message.includes('budget lock failed')).map((l) => l.level)).toEqual([
      'warn',
      'warn',
      'error',
    ]);
    if (r.outcome !== 'deferred') throw new Error('not deferred');
    expect(r.retryAt).toBeGreaterThanOrEqual(Date.now() + 50_000);
  });
});

describe('downloadJob counters and logs', () => {
  it('a failed attempt whose claim was lost meanwhile neither counts a retry nor says it will retry', async () => {
    const h = await harness({
      downloadResult: async () => {
        // Another downloader takes the job over while this one is stuck (its lease ran out).
        const j = await h.jobs.get(JOB);
        await h.tables.jobs.put({ ...j, download_owner: 'someone-else' });
        throw new ZohoError({ code: 'INTERNAL_ERROR', message: 'broken (test)', kind: 'retryable' });
      },
    });
    const r = await downloadJob(h.deps, { job_id: JOB, dispatch_id: 'd-1' });
    expect(r).toEqual({ outcome: 'skipped', reason: 'claim lost' });
    expect(h.metrics.counts.DownloadRetries).toBeUndefined();
    expect(h.logs.some((l) => l.message.includes('will retry'))).toBe(false);
    expect(h.logs.some((l) => l.message.includes('claim was lost'))).toBe(true);
  });
});
