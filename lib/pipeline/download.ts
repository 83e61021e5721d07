/**
 * The downloader: one stream pipeline per COMPLETED job,
 *   GET download_url → unzip (CRC-32 in part-sized slices) → record counter → S3 multipart upload,
 * between two transitions of the job state machine: `claimDownload` before, and `exported`,
 * `retryDownload`, `deferDownload` or `fail` after. The upload completes only if the ZIP's CRC-32 and
 * sizes verify and the record count equals Zoho's `count`; otherwise it is aborted, so no partial
 * object is ever left under the final key.
 */
import type { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Timing } from '../config.js';
import { CodedError } from '../errors.js';
import type { PageHooks } from '../exports/hooks.js';
import { csvKey } from '../exports/layout.js';
import type { DownloadMessage, JobRecord } from '../jobs/model.js';
import { afterDownloadError, isDownloadThrottle, logWillRetry } from '../jobs/retry.js';
import type { Guard, JobStore } from '../jobs/store.js';
import { describeError, type MetricsSink } from '../observability.js';
import { type KnownCrc, usePartChecksums } from '../s3.js';
import type { Settings } from '../settings.js';
import type { ZohoClient } from '../zoho/client.js';
import { ZohoError } from '../zoho/errors.js';
import { VerifyingCounter } from './csv-count.js';
import type { DownloadBudget, Reservation } from './download-budget.js';
import type { Dispatch } from './poll.js';

export interface DownloadDeps {
  config: Pick<Settings, 'S3_PREFIX' | 'MAX_DOWNLOAD_ATTEMPTS'> & { BUCKET: string };
  timing: Timing;
  jobs: JobStore;
  zoho: ZohoClient;
  s3: S3Client;
  budget: DownloadBudget;
  /** Brings a deferred download back (a delayed SQS message in AWS). */
  dispatch: Dispatch;
  logger: Logger;
  metrics: MetricsSink;
  /** What exports learn from the jobs (their pages). */
  pages?: PageHooks;
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

/** Retryable: the object was deleted, and the next attempt uploads it again. */
export class StoredSizeMismatchError extends CodedError {
  override readonly name = 'StoredSizeMismatchError';
  constructor(message: string) {
    super({ code: 'S3_SIZE_MISMATCH', kind: 'retryable', message });
  }
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

/** Streams Zoho's ZIP through the unzipper and the counter into one multipart upload; verifies it. */
async function streamToS3(
  deps: DownloadDeps,
  job: JobRecord,
  key: string,
  signal: AbortSignal | undefined,
): Promise<{ bytes: number; records: number; crc32: string; header: string[] | null }> {
  const bucket = deps.config.BUCKET;
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
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (!job.download_url) {
      throw new ZohoError({ code: 'INVALID_RESPONSE', message: 'no download_url', kind: 'terminal' });
    }
    const result = await deps.zoho.downloadResult(job.download_url, {
      ...(signal && { signal }),
      segmentSize: partSize,
      onSegment: (s) => partCrcs.set(s.index, s),
    });
    source = result.stream;
    const counter = new VerifyingCounter(job.records ?? undefined);
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
          records: String(job.records ?? counter.counter.records),
        },
      },
    });
    await upload.done();
    const entry = await result.verified;
    await verifyStoredSize(deps.s3, bucket, key, counter.bytes);
    return {
      bytes: counter.bytes,
      records: counter.counter.records,
      crc32: entry.crc32.toString(16).padStart(8, '0'),
      header: counter.header(),
    };
  } catch (e) {
    source?.destroy();
    await upload?.abort().catch(() => undefined);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    releaseChecksums();
  }
}

/** Attempts of a write to the shared download budget after Zoho's 429, and the first pause between them. */
const BUDGET_WRITE_ATTEMPTS = 3;
const BUDGET_WRITE_PAUSE_MS = 100;

/**
 * A write to the shared download budget after Zoho's 429 (its lock, a new slot): retried a few times,
 * since a lock that is not written lets every other downloader run into Zoho's lock too; each failure
 * is logged. Undefined when every attempt failed (the caller then waits out the lock on its own).
 */
async function budgetWrite<T>(
  deps: Pick<DownloadDeps, 'logger'>,
  jobId: string,
  what: 'lock' | 'take',
  write: () => Promise<T>,
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (e) {
      const last = attempt >= BUDGET_WRITE_ATTEMPTS;
      deps.logger[last ? 'error' : 'warn'](
        last
          ? `download budget ${what} failed after Zoho's 429; waiting out the lock without it`
          : `download budget ${what} failed after Zoho's 429; trying again`,
        { job_id: jobId, attempt, error: describeError(e) },
      );
      if (last) return undefined;
      await new Promise((r) => setTimeout(r, BUDGET_WRITE_PAUSE_MS * attempt));
    }
  }
}

/**
 * Exports one COMPLETED job. Waits for a slot of the shared download budget (a deferral is not an
 * attempt); failures send the job back for a retry with backoff, up to MAX_DOWNLOAD_ATTEMPTS.
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
  const claim: Guard | undefined = await jobs.claimDownload(
    job.job_id,
    msg.dispatch_id,
    now() + timing.downloadLeaseMs,
  );
  if (!claim) {
    logger.info('download already claimed', { job_id: job.job_id });
    return { outcome: 'skipped', reason: 'already claimed' };
  }
  const attempts = (job.attempts ?? 0) + 1;

  /** Gives the job back, not counting this attempt, with a message that brings it back at `at`. */
  const defer = async (at: number, why: string, slot?: Reservation): Promise<DownloadOutcome> => {
    const dispatchId = await jobs.deferDownload(job.job_id, claim, at, timing.dispatchGraceMs);
    if (dispatchId) {
      await deps
        .dispatch(
          {
            job_id: job.job_id,
            dispatch_id: dispatchId,
            ...(slot ? { slot: slot.at, slot_token: slot.token } : {}),
          },
          Math.max(0, at - now()),
        )
        .catch((e) =>
          logger.error('deferred dispatch failed; the poller will retry', {
            job_id: job.job_id,
            error: describeError(e),
          }),
        );
    }
    deps.metrics.count('DownloadsDeferred');
    logger.info('download deferred', { job_id: job.job_id, why, retry_at: new Date(at).toISOString() });
    return { outcome: 'deferred', retryAt: at };
  };

  const slot = await deps.budget.take(
    msg.slot !== undefined && msg.slot_token ? { at: msg.slot, token: msg.slot_token } : undefined,
  );
  if (!slot.ok) return defer(slot.at, 'waiting for a download slot', slot);

  const key = csvKey(deps.config.S3_PREFIX, job);
  try {
    const { bytes, records, crc32, header } = await streamToS3(deps, job, key, opts.signal);
    const file = { crc32, ...(header ? { header } : {}), parquet: !!job.parquet_wanted };
    const ok = await jobs.exported(job.job_id, claim, { bucket, key, bytes }, records, file, !!job.export_id);
    if (ok) {
      // Counted once the page is EXPORTED: a download whose claim was lost is another's to count.
      deps.metrics.count('Downloads');
      deps.metrics.count('JobsExported');
      deps.metrics.count('BytesLanded', bytes);
      logger.info('job exported', {
        job_id: job.job_id,
        export_id: job.export_id,
        bucket,
        key,
        bytes,
        records,
        crc32,
      });
      // The export may be complete now (a failure here is left for the sweep).
      await deps.pages
        ?.exported({
          ...job,
          status: 'EXPORTED',
          s3: { bucket, key, bytes },
          records,
          crc32,
          ...(header ? { header } : {}),
        })
        .catch((e) =>
          logger.error('export not finalized now; the sweep will', {
            job_id: job.job_id,
            error: describeError(e),
          }),
        );
    } else {
      logger.warn('job exported, but the claim was lost meanwhile', { job_id: job.job_id, key });
    }
    return { outcome: 'exported', bucket, key, bytes, records };
  } catch (e) {
    const error = describeError(e);
    const decision = afterDownloadError(e, attempts, deps.config.MAX_DOWNLOAD_ATTEMPTS, timing, random);
    if (decision.kind === 'wait') {
      if (isDownloadThrottle(e)) {
        // Zoho locks every download for a minute: tell every downloader, then queue after the lock.
        deps.metrics.count('DownloadThrottled');
        const locked = await budgetWrite(deps, job.job_id, 'lock', () => deps.budget.lock(now()));
        const until = locked ?? now() + decision.delayMs;
        // Without the shared lock, a slot would be free at once (into Zoho's lock): wait it out instead.
        const next =
          locked === undefined
            ? undefined
            : await budgetWrite(deps, job.job_id, 'take', () => deps.budget.take());
        logger.warn('download throttled by Zoho; waiting for its lock to end', { job_id: job.job_id });
        if (!next) return defer(until, error.code);
        return defer(next.ok ? now() : next.at, error.code, next.ok ? undefined : next);
      }
      return defer(now() + decision.delayMs, error.code);
    }
    if (decision.kind === 'fail') {
      if (!(await jobs.fail(job.job_id, claim, error, {}, !!job.export_id))) {
        logger.warn('download failed, but the claim was lost meanwhile', { job_id: job.job_id, error });
        return { outcome: 'skipped', reason: 'claim lost' };
      }
      await deps.pages?.failed(job, error).catch((err) =>
        logger.error('export not told of a failed page; the sweep will', {
          job_id: job.job_id,
          error: describeError(err),
        }),
      );
      deps.metrics.count('JobsFailed');
      logger.error('download failed for good', { job_id: job.job_id, error, attempts });
      return { outcome: 'failed', code: error.code };
    }
    const retryAt = now() + decision.delayMs;
    if (!(await jobs.retryDownload(job.job_id, claim, error, retryAt))) {
      logger.warn('download failed, but the claim was lost meanwhile', { job_id: job.job_id, error });
      return { outcome: 'skipped', reason: 'claim lost' };
    }
    deps.metrics.count('DownloadRetries');
    logWillRetry(logger, 'download', job.job_id, { error, attempts, retryAt });
    return { outcome: 'retry', code: error.code, retryAt };
  }
}
