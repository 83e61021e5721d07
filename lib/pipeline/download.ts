import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Config, Timing } from '../config.js';
import type { DownloadMessage, JobRecord } from '../jobs/model.js';
import type { JobStore } from '../jobs/store.js';
import { describeError, type MetricsSink } from '../observability.js';
import { type KnownCrc, usePartChecksums } from '../s3.js';
import type { ZohoClient } from '../zoho/client.js';
import { ZohoError } from '../zoho/errors.js';
import { backoffMs } from './backoff.js';
import { VerifyingCounter } from './csv-count.js';
import type { DownloadBudget } from './download-budget.js';

export interface DownloadDeps {
  config: Pick<Config, 'BUCKET' | 'S3_PREFIX' | 'MAX_DOWNLOAD_ATTEMPTS'>;
  timing: Timing;
  jobs: JobStore;
  zoho: ZohoClient;
  s3: S3Client;
  budget: DownloadBudget;
  logger: Logger;
  metrics: MetricsSink;
  /**
   * Multipart settings: 5 MiB parts (S3's minimum), 2 in flight, about 3 x 5 MiB of part buffers;
   * 10,000 parts make the largest object 48.8 GiB, far above a 200,000-record page.
   */
  partSize?: number;
  queueSize?: number;
  now?: () => number;
  random?: () => number;
}

export type DownloadOutcome =
  | { outcome: 'exported'; bucket: string; key: string; bytes: number; records: number }
  | { outcome: 'retry'; code: string; retryAt: number }
  | { outcome: 'failed'; code: string }
  | { outcome: 'deferred'; retryAt: number }
  | { outcome: 'skipped'; reason: string };

/** `zoho-crm/module=Contacts/export_date=2026-11-28/3652397000000646004.csv` */
export function objectKey(prefix: string, job: Pick<JobRecord, 'job_id' | 'module' | 'created_at'>): string {
  const mod = (job.module ?? 'unknown').replace(/[^A-Za-z0-9_$-]/g, '_') || 'unknown';
  const date = job.created_at.slice(0, 10);
  return `${prefix ? `${prefix}/` : ''}module=${mod}/export_date=${date}/${job.job_id}.csv`;
}

export class StoredSizeMismatchError extends Error {
  override readonly name = 'StoredSizeMismatchError';
  readonly code = 'S3_SIZE_MISMATCH';
}

/**
 * The last check before a job is EXPORTED: S3 must hold exactly the bytes that passed the counter.
 * If not (a lost part), the object is deleted, so nothing wrong stays under the final key.
 */
async function verifyStoredSize(s3: S3Client, bucket: string, key: string, bytes: number): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (head.ContentLength === bytes) return;
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  throw new StoredSizeMismatchError(
    `S3 stored ${head.ContentLength ?? 'no'} bytes for ${key}, but ${bytes} were uploaded; the object was deleted`,
  );
}

/** Codes worth another try: throttles, network trouble, a broken or short transfer. */
const retryableCode = (e: unknown): boolean => {
  if (e instanceof ZohoError) return e.kind !== 'terminal' || e.stage === 'oauth';
  return true; // S3 errors, count mismatches, aborted streams: limited by MAX_DOWNLOAD_ATTEMPTS
};

/**
 * Exports one COMPLETED job: streams Zoho's ZIP through the unzipper and a record counter into a
 * multipart upload. The upload completes only if the ZIP's CRC-32 and sizes verify and the record
 * count equals Zoho's `count`; otherwise it is aborted, so no partial object is ever left under the
 * final key. Failures send the job back for a retry with backoff, up to MAX_DOWNLOAD_ATTEMPTS.
 */
export async function downloadJob(
  deps: DownloadDeps,
  msg: DownloadMessage,
  opts: { signal?: AbortSignal } = {},
): Promise<DownloadOutcome> {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { jobs, logger, timing } = deps;
  const bucket = deps.config.BUCKET;
  if (!bucket) throw new Error('BUCKET is not configured');

  const job = await jobs.get(msg.job_id);
  if (job?.status !== 'DOWNLOADING' || job.dispatch_id !== msg.dispatch_id) {
    const reason = !job
      ? 'unknown job'
      : job.status !== 'DOWNLOADING'
        ? `job is ${job.status}`
        : 'stale dispatch';
    logger.info('download message ignored', { job_id: msg.job_id, reason });
    return { outcome: 'skipped', reason };
  }
  // Claim: one downloader per dispatch; a duplicate delivery finds the claim taken.
  const owner = randomUUID();
  const claimed = await jobs.update(job.job_id, {
    set: { download_owner: owner, next_check_at: now() + timing.downloadLeaseMs },
    add: { attempts: 1 },
    condition:
      '#status = :s AND dispatch_id = :d AND (attribute_not_exists(download_owner) OR #next_check_at < :now)',
    values: { ':s': 'DOWNLOADING', ':d': msg.dispatch_id, ':now': now() },
  });
  if (!claimed) {
    logger.info('download already claimed', { job_id: job.job_id });
    return { outcome: 'skipped', reason: 'already claimed' };
  }
  const attempts = (job.attempts ?? 0) + 1;
  const mine = '#status = :s AND download_owner = :o';
  const mineValues = { ':s': 'DOWNLOADING', ':o': owner };

  /** Gives the job back for a later try, without counting this attempt. */
  const defer = async (retryAt: number, why: string): Promise<DownloadOutcome> => {
    await jobs.update(job.job_id, {
      set: { next_check_at: retryAt, attempts: attempts - 1 },
      remove: ['download_owner', 'dispatch_id'],
      condition: mine,
      values: mineValues,
    });
    logger.info('download deferred', { job_id: job.job_id, why, retry_at: new Date(retryAt).toISOString() });
    return { outcome: 'deferred', retryAt };
  };

  const slot = await deps.budget.take();
  if (!slot.ok)
    return defer(slot.retryAt + Math.round(random() * 5000), 'download budget for this minute used');

  const key = objectKey(deps.config.S3_PREFIX, job);
  const expected = job.records ?? undefined;
  const partSize = deps.partSize ?? 5 * 1024 * 1024;
  // The unzipper's CRC-32 of each part-sized slice becomes that part's S3 checksum: one hash per byte.
  const partCrcs = new Map<number, KnownCrc>();
  const releaseChecksums = usePartChecksums(deps.s3, { Bucket: bucket, Key: key }, partCrcs);
  let upload: Upload | undefined;
  let source: Readable | undefined;
  const onAbort = (): void => {
    void upload?.abort();
    source?.destroy(
      new ZohoError({ code: 'ABORTED', message: 'the download was stopped', kind: 'retryable' }),
    );
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (!job.download_url)
      throw new ZohoError({ code: 'INVALID_RESPONSE', message: 'no download_url', kind: 'terminal' });
    const result = await deps.zoho.downloadResult(job.download_url, {
      ...(opts.signal && { signal: opts.signal }),
      segmentSize: partSize,
      onSegment: (s) => partCrcs.set(s.index, s),
    });
    source = result.stream;
    const counter = new VerifyingCounter(expected);
    source.on('error', (e) => counter.destroy(e));
    source.pipe(counter);
    upload = new Upload({
      client: deps.s3,
      partSize,
      queueSize: deps.queueSize ?? 2,
      leavePartsOnError: false,
      params: {
        Bucket: bucket,
        Key: key,
        Body: counter,
        ContentType: 'text/csv; charset=utf-8',
        Metadata: {
          'zoho-job-id': job.job_id,
          'zoho-module': job.module ?? 'unknown',
          'zoho-page': String(job.page ?? 1),
          records: String(expected ?? counter.counter.records),
        },
      },
    });
    await upload.done();
    const entry = await result.verified;
    await verifyStoredSize(deps.s3, bucket, key, counter.bytes);
    const records = counter.counter.records;
    const bytes = counter.bytes;
    const ok = await jobs.update(job.job_id, {
      set: {
        status: 'EXPORTED',
        s3: { bucket, key, bytes },
        records,
        next_check_at: now(),
        expires_at: Math.floor(now() / 1000) + timing.retentionSeconds,
      },
      remove: ['download_owner', 'dispatch_id', 'last_error', 'consecutive_errors'],
      condition: mine,
      values: mineValues,
    });
    deps.metrics.count('Downloads');
    if (ok) {
      deps.metrics.count('JobsExported');
      logger.info('job exported', { job_id: job.job_id, bucket, key, bytes, records, crc32: entry.crc32 });
    } else {
      logger.warn('job exported, but the claim was lost meanwhile', { job_id: job.job_id, key });
    }
    return { outcome: 'exported', bucket, key, bytes, records };
  } catch (e) {
    source?.destroy();
    await upload?.abort().catch(() => undefined);
    const error = describeError(e);
    if (e instanceof ZohoError && (e.code === 'TOO_MANY_REQUESTS' || e.httpStatus === 429)) {
      // Zoho locks every download for the rest of the minute: tell the other downloaders.
      await deps.budget.exhaust().catch(() => undefined);
      const wait = Math.max(timing.downloadLockMs, e.retryAfterMs ?? 0);
      logger.warn('download throttled by Zoho; waiting at least a minute', { job_id: job.job_id });
      return defer(now() + wait + Math.round(random() * 5000), error.code);
    }
    if (e instanceof ZohoError && e.stage === 'oauth') {
      return defer(now() + Math.max(e.retryAfterMs ?? 0, timing.baseMs), error.code);
    }
    if (!retryableCode(e) || attempts >= deps.config.MAX_DOWNLOAD_ATTEMPTS) {
      await jobs.fail(job.job_id, error, mine, mineValues, timing.retentionSeconds);
      deps.metrics.count('JobsFailed');
      logger.error('download failed for good', { job_id: job.job_id, error, attempts });
      return { outcome: 'failed', code: error.code };
    }
    const retryAt = now() + backoffMs(attempts - 1, timing.baseMs, timing.capMs, random);
    await jobs.update(job.job_id, {
      set: { next_check_at: retryAt, last_error: error },
      remove: ['download_owner', 'dispatch_id'],
      condition: mine,
      values: mineValues,
    });
    deps.metrics.count('DownloadRetries');
    logger.warn('download failed; will retry', {
      job_id: job.job_id,
      error,
      attempts,
      retry_at: new Date(retryAt).toISOString(),
    });
    return { outcome: 'retry', code: error.code, retryAt };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    releaseChecksums();
  }
}
