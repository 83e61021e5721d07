/**
 * The fault matrix of test/pipeline/faults.test.ts, the scenarios that involve downloads, run against a
 * fake Zoho counting downloads `mode` ("sliding": any 60 s; "clock-minute": per UTC minute). The
 * scenarios are copied (faults.test.ts stays as it is); each ends with every job EXPORTED with exactly
 * the right bytes or FAILED with the right code, no partial object under a final key, no job stuck, and
 * no Zoho download 429 beyond the ones injected. One test file per mode keeps each file short.
 */
import { CreateMultipartUploadCommand, HeadObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { csvKey as objectKey } from '../../lib/exports/layout.js';
import type { JobRecord } from '../../lib/jobs/model.js';
import { downloadJob } from '../../lib/pipeline/download.js';
import type { DownloadWindow } from '../../local/fake-zoho/types.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { maxInWindow } from './helpers.js';

async function objectExists(hh: Harness, key: string): Promise<boolean> {
  try {
    await hh.aws.s3.send(new HeadObjectCommand({ Bucket: hh.aws.bucket, Key: key }));
    return true;
  } catch (e) {
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

/** Seeds `n` jobs that are COMPLETED at Zoho and registers them. */
async function completedJobs(hh: Harness, n: number, spec: Parameters<Harness['fake']['addJob']>[0] = {}) {
  const seeded = Array.from({ length: n }, (_, i) => hh.fake.addJob({ totalRecords: 300 + i, ...spec }));
  for (const s of seeded) {
    hh.fake.completeNow(s.id);
    await hh.register(s.id);
  }
  return seeded;
}

const finished = (jobs: JobRecord[]) => jobs.every((j) => j.status === 'EXPORTED' || j.status === 'FAILED');

/**
 * Download 429s the fake's rate limiter (or lock) answered: the budget should make them impossible.
 * (An injected `error` fault is not counted by the fake's stats.)
 */
const limiter429s = (hh: Harness): number => hh.fake.stats().download429s;

export function faultMatrix(mode: DownloadWindow): void {
  let h: Harness | undefined;
  afterEach(async () => {
    if (h) {
      expect(h.fake.options().downloadWindow).toBe(mode);
      expect(limiter429s(h)).toBe(0);
    }
    await h?.close();
    h = undefined;
  });

  describe(`fault matrix, fake Zoho counting downloads per ${mode}`, () => {
    it('Zoho 5xx bursts, 429 throttles and the HTTP 400 "Access Denied" throttle on status and download', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const seeded = await completedJobs(h, 6);
      const [a, b, c, d, e, f] = seeded.map((s) => s.id);
      h.fake.inject({
        kind: 'status',
        jobId: a,
        times: 4,
        action: { type: 'error', code: 'INTERNAL_ERROR' },
      });
      h.fake.inject({
        kind: 'status',
        jobId: b,
        times: 3,
        action: { type: 'error', code: 'TOO_MANY_REQUESTS' },
      });
      h.fake.inject({
        kind: 'status',
        jobId: c,
        times: 2,
        action: {
          type: 'http',
          status: 400,
          body: {
            error: 'Access Denied',
            error_description: 'You have made too many requests continuously.',
          },
        },
      });
      h.fake.inject({
        kind: 'download',
        jobId: d,
        times: 2,
        action: { type: 'error', code: 'INTERNAL_ERROR' },
      });
      h.fake.inject({
        kind: 'download',
        jobId: e,
        times: 1,
        action: { type: 'http', status: 503, body: 'Service Unavailable' },
      });
      h.fake.inject({ kind: 'download', jobId: f, times: 1, action: { type: 'access-denied' } });
      const jobs = await h.settle();
      for (const j of jobs) await h.expectExportedExactly(j);
      expect(jobs.find((j) => j.job_id === d)?.attempts).toBe(3);
    });

    it('an access token expired or revoked while jobs run', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const seeded = Array.from({ length: 8 }, () => h!.fake.addJob({ totalRecords: 100 }));
      for (const s of seeded) await h.register(s.id);
      await h.tick();
      h.fake.expireTokens();
      await h.tick();
      h.fake.revokeTokens();
      const jobs = await h.settle();
      for (const j of jobs) await h.expectExportedExactly(j);
      expect(h.fake.stats().mints).toBe(3);
      const refused = h.fake.requests.filter((r) => r.status === 401);
      expect(refused.length).toBeGreaterThan(0);
    });

    it('more than 10 downloads due in one minute: paced by the shared budget, never a Zoho 429', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const start = h.clock.now();
      await completedJobs(h, 25);
      const jobs = await h.settle();
      for (const j of jobs) await h.expectExportedExactly(j);
      const downloads = h.fake.requests.filter((r) => r.kind === 'download');
      expect(downloads.filter((r) => r.status === 429)).toHaveLength(0);
      expect(downloads.filter((r) => r.status === 200)).toHaveLength(25);
      // At most 10 in any clock minute.
      const perMinute = new Map<number, number>();
      for (const r of downloads)
        perMinute.set(Math.floor(r.at / 60_000), (perMinute.get(Math.floor(r.at / 60_000)) ?? 0) + 1);
      expect(Math.max(...perMinute.values())).toBeLessThanOrEqual(10);
      // And in any 60 s (the stricter reading, which the sliding fake enforces).
      expect(maxInWindow(downloads.map((r) => r.at))).toBeLessThanOrEqual(10);
      expect(h.clock.now() - start).toBeGreaterThanOrEqual(2 * 60_000);
    });

    it('a Zoho download 429 locks everyone out for at least a minute', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const [s] = await completedJobs(h, 1);
      h.fake.inject({ kind: 'download', jobId: s!.id, action: { type: 'error', code: 'TOO_MANY_REQUESTS' } });
      await h.poll();
      const [outcome] = await h.deliver();
      expect(outcome?.outcome).toBe('deferred');
      const j = await h.jobs.get(s!.id);
      expect(j!.next_check_at - h.clock.now()).toBeGreaterThanOrEqual(60_000);
      expect(j!.attempts).toBe(0);
      const [done] = await h.settle();
      await h.expectExportedExactly(done!);
    });

    it.each([
      [
        'a connection reset in the middle of a download',
        { type: 'reset', afterBytes: 40_000 } as const,
        'NETWORK_ERROR',
      ],
      ['a truncated ZIP', { type: 'truncate', afterBytes: 30_000 } as const, 'ZIP_TRUNCATED'],
      ['a ZIP with a CRC mismatch', { type: 'corrupt', what: 'crc' } as const, 'ZIP_CRC_MISMATCH'],
      [
        "a CSV whose record count differs from Zoho's count",
        { type: 'csv-extra-record' } as const,
        'RECORD_COUNT_MISMATCH',
      ],
    ])('%s: no object under the final key, then a retry exports it', async (_n, action, code) => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const [s] = await completedJobs(h, 1, { totalRecords: 5000 });
      h.fake.inject({ kind: 'download', jobId: s!.id, action });
      await h.poll();
      const [first] = await h.deliver();
      expect(first).toMatchObject({ outcome: 'retry', code });
      const j = (await h.jobs.get(s!.id))!;
      expect(j.status).toBe('DOWNLOADING');
      expect(j.last_error?.code).toBe(code);
      expect(await objectExists(h, objectKey(h.config.S3_PREFIX, j))).toBe(false);
      const [done] = await h.settle();
      await h.expectExportedExactly(done!);
      expect(done!.attempts).toBe(2);
    });

    it('a persistent CRC mismatch ends FAILED with that code after the attempt limit, with no object', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode }, config: { MAX_DOWNLOAD_ATTEMPTS: '3' } });
      const [s] = await completedJobs(h, 1);
      h.fake.inject({
        kind: 'download',
        jobId: s!.id,
        times: Number.POSITIVE_INFINITY,
        action: { type: 'corrupt', what: 'crc' },
      });
      const [j] = await h.settle();
      expect(j?.status).toBe('FAILED');
      expect(j?.error?.code).toBe('ZIP_CRC_MISMATCH');
      expect(j?.attempts).toBe(3);
      expect(await h.objectKeys()).toEqual([]);
      expect(h.metrics.counts.JobsFailed).toBe(1);
    });

    it('a download_url pointing at another host ends FAILED without a request', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const s = h.fake.addJob({ totalRecords: 3 });
      await h.register(s.id);
      h.fake.inject({
        kind: 'status',
        jobId: s.id,
        action: {
          type: 'http',
          status: 200,
          body: {
            data: [
              {
                id: s.id,
                operation: 'read',
                state: 'COMPLETED',
                query: { module: { api_name: 'Leads', id: '1' }, page: 1 },
                result: {
                  page: 1,
                  count: 3,
                  per_page: 200000,
                  more_records: false,
                  download_url: 'http://169.254.169.254/latest/meta-data/iam',
                },
              },
            ],
          },
        },
      });
      const [j] = await h.settle();
      expect(j?.status).toBe('FAILED');
      expect(j?.error?.code).toBe('UNSAFE_DOWNLOAD_URL');
      expect(h.fake.requests.filter((r) => r.kind === 'download')).toHaveLength(0);
    });

    it('the downloader killed in the middle of an upload (Lambda timeout), then retried', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const [s] = await completedJobs(h, 1, { totalRecords: 20_000, padding: 500 });
      await h.poll();
      const msg = h.queue.shift()!;
      // What a killed Lambda leaves: the job claimed by a downloader that will never finish, and an
      // open multipart upload with a part under the final key. No catch block runs.
      const job = (await h.jobs.get(s!.id))!;
      const key = objectKey(h.config.S3_PREFIX, job);
      const mpu = await h.aws.s3.send(new CreateMultipartUploadCommand({ Bucket: h.aws.bucket, Key: key }));
      await h.aws.s3.send(
        new UploadPartCommand({
          Bucket: h.aws.bucket,
          Key: key,
          UploadId: mpu.UploadId,
          PartNumber: 1,
          Body: Buffer.alloc(5 * 1024 * 1024, 65),
        }),
      );
      const claimed = await h.jobs.claimDownload(
        job.job_id,
        msg.dispatch_id,
        h.clock.now() + h.pollDeps.timing.downloadLeaseMs,
      );
      expect(claimed).toBeDefined();
      expect(await objectExists(h, key)).toBe(false);
      // SQS redelivers the same message while the dead claim is still leased: nothing happens.
      expect((await downloadJob(h.downloadDeps, msg)).outcome).toBe('skipped');
      // Once the lease runs out, the poller dispatches it again and it is exported.
      const [done] = await h.settle(60);
      await h.expectExportedExactly(done!);
      expect(done!.attempts).toBe(2);
    });

    it('the downloader stopped by its AbortSignal (timeout coming) aborts the upload and the job is retried', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const [s] = await completedJobs(h, 1, { totalRecords: 100_000, padding: 300 });
      await h.poll();
      const msg = h.queue.shift()!;
      // The signal fires while the multipart upload is under way (at its second part), as middy's
      // does shortly before the Lambda timeout.
      const ac = new AbortController();
      let parts = 0;
      h.aws.s3.middlewareStack.add(
        (next, ctx) => async (args) => {
          if (ctx.commandName === 'UploadPartCommand' && ++parts === 2) ac.abort();
          return next(args);
        },
        { step: 'initialize', name: 'abort-mid-upload' },
      );
      const out = await downloadJob(h.downloadDeps, msg, { signal: ac.signal });
      expect(parts).toBeGreaterThanOrEqual(2);
      expect(out.outcome).toBe('retry');
      const job = (await h.jobs.get(s!.id))!;
      expect(await objectExists(h, objectKey(h.config.S3_PREFIX, job))).toBe(false);
      const [done] = await h.settle();
      await h.expectExportedExactly(done!);
    });

    it('S3 storing fewer bytes than were uploaded: the object is deleted and the job retried', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const [s] = await completedJobs(h, 1, { totalRecords: 2000 });
      let lies = 1;
      h.aws.s3.middlewareStack.add(
        (next, ctx) => async (args) => {
          const out = await next(args);
          if (ctx.commandName === 'HeadObjectCommand' && lies-- > 0) {
            (out.output as { ContentLength?: number }).ContentLength = 5 * 1024 * 1024; // as if a part went missing
          }
          return out;
        },
        { step: 'initialize', name: 'short-object' },
      );
      await h.poll();
      const [first] = await h.deliver();
      expect(first).toMatchObject({ outcome: 'retry', code: 'S3_SIZE_MISMATCH' });
      const j = (await h.jobs.get(s!.id))!;
      expect(await objectExists(h, objectKey(h.config.S3_PREFIX, j))).toBe(false);
      const [done] = await h.settle();
      await h.expectExportedExactly(done!);
    });

    it('DynamoDB throttling an update: the job is picked up again and nothing is lost', async () => {
      h = await pipelineHarness({ fake: { downloadWindow: mode } });
      const seeded = await completedJobs(h, 4);
      // Throttle every 3rd UpdateItem on the jobs table for a while, beyond the SDK's own retries. (The
      // harness's clock only moves between ticks, so a throttled token lease could not expire in it.)
      let updates = 0;
      let throttling = true;
      const jobsTable = h.aws.jobsTable;
      h.aws.ddb.middlewareStack.add(
        (next, ctx) => async (args) => {
          const table = (args.input as { TableName?: string }).TableName;
          if (
            throttling &&
            table === jobsTable &&
            /^Update(Item)?Command$/.test(ctx.commandName ?? '') &&
            ++updates % 3 === 0
          ) {
            const e = new Error('Rate of requests exceeds the allowed throughput.');
            e.name = 'ProvisionedThroughputExceededException';
            throw e;
          }
          return next(args);
        },
        { step: 'initialize', name: 'throttle-updates' },
      );
      for (let i = 0; i < 10; i++) await h.tick();
      throttling = false;
      expect(updates).toBeGreaterThan(6); // the throttle really hit
      const jobs = await h.settle(100);
      expect(jobs).toHaveLength(seeded.length);
      for (const j of jobs) await h.expectExportedExactly(j);
      expect(finished(jobs)).toBe(true);
    });
  });
}
