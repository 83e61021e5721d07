/**
 * The conversion stage: a page whose raw CSV has landed and been verified is read back from S3 and
 * written again as typed Parquet (lib/analytics), streamed into a multipart upload in bounded memory.
 * It runs after the raw landing and apart from it (its own queue and function), so a conversion
 * problem never blocks or corrupts the CSV, can be retried on its own, and can be run again for an
 * older export. The Parquet object is complete and verified (its row count is Zoho's count, its size
 * what was written) before the page says DONE.
 */
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { compressionOf } from '../analytics/compression.js';
import { convertCsvToParquet } from '../analytics/convert.js';
import type { ZohoField } from '../analytics/fields.js';
import type { ConversionStats } from '../analytics/types.js';
import { CodedError } from '../errors.js';
import type { JobError, JobRecord, ParquetFile } from '../jobs/model.js';
import { afterConversionError, logWillRetry } from '../jobs/retry.js';
import { describeError } from '../observability.js';
import type { Settings } from '../settings.js';
import type { ApiVersion } from '../zoho/data-centers.js';
import { ZohoError } from '../zoho/errors.js';
import { glueType, tableNameOf } from './catalog.js';
import type { ConvertMessage } from './convert-message.js';
import type { ExportDeps } from './deps.js';
import { pageHooks } from './hooks.js';
import { parquetKey } from './layout.js';
import { planUnderTable } from './schema.js';

/** Attempts of one page's conversion before it ends FAILED. */
export const MAX_CONVERSION_ATTEMPTS = 3;
/** How long a conversion holds its claim (the function's timeout is less). */
export const CONVERSION_LEASE_MS = 16 * 60_000;
/** Field metadata is fetched once per module and container for this long. */
const FIELDS_TTL_MS = 10 * 60_000;

export type ConvertDeps = ExportDeps & {
  /** The converter writes under the export prefix: required, never a silent ''. */
  config: ExportDeps['config'] & Pick<Settings, 'S3_PREFIX' | 'PARQUET_COMPRESSION'>;
  s3: NonNullable<ExportDeps['s3']>;
  partSize?: number;
  queueSize?: number;
};

export type ConvertOutcome =
  | { outcome: 'converted'; key: string; rows: number; bytes: number }
  | { outcome: 'retry'; code: string; retryAt: number }
  | { outcome: 'failed'; code: string }
  | { outcome: 'skipped'; reason: string };

/** The Parquet file does not hold the page's records: converting the same CSV again cannot help. */
export class ParquetRowMismatchError extends CodedError {
  override name = 'ParquetRowMismatchError';
  constructor(message: string) {
    super({ code: 'PARQUET_ROW_MISMATCH', kind: 'terminal', message });
  }
}

/** Why a module's columns are all STRING: no metadata (scope missing, or Zoho refused). */
export type FieldsResult = { fields: ZohoField[] } | { fields: null; reason: string };

/**
 * A module's field metadata, cached; without the `ZohoCRM.settings.fields.READ` scope (or any other
 * refusal by Zoho) the converter goes on with every column STRING and says why.
 */
export function fieldsCache(deps: Pick<ExportDeps, 'zoho' | 'logger'>, now: () => number = Date.now) {
  const cache = new Map<string, { at: number; value: FieldsResult }>();
  return async (module: string, version: ApiVersion): Promise<FieldsResult> => {
    const hit = cache.get(module);
    if (hit && now() - hit.at < FIELDS_TTL_MS) return hit.value;
    let value: FieldsResult;
    try {
      value = { fields: await deps.zoho.getFields(module, { version }) };
    } catch (e) {
      if (!(e instanceof ZohoError) || e.kind !== 'terminal' || e.stage === 'oauth') throw e;
      value = {
        fields: null,
        reason: `no field metadata (${e.code}): grant the scope ZohoCRM.settings.fields.READ to type the columns`,
      };
      deps.logger.warn('field metadata refused; columns are written as STRING', {
        module,
        error: describeError(e),
      });
    }
    cache.set(module, { at: now(), value });
    return value;
  };
}

function parquetFileOf(bucket: string, key: string, stats: ConversionStats): ParquetFile {
  return {
    bucket,
    key,
    bytes: stats.bytes,
    rows: stats.rows,
    row_groups: stats.rowGroups,
    compression: stats.compression,
    conversion_errors: stats.conversionErrors,
    columns: stats.columns.map((c) => ({
      name: c.name,
      zoho_field: c.zohoField,
      type: glueType(c.type),
      zoho_type: c.zohoType ?? null,
      metadata_type: c.metadataType ? glueType(c.metadataType) : null,
      reason: c.reason ?? null,
    })),
  };
}

/** Converts one EXPORTED page to Parquet. Retried with backoff up to MAX_CONVERSION_ATTEMPTS. */
export async function convertPage(
  deps: ConvertDeps,
  msg: ConvertMessage,
  opts: { signal?: AbortSignal; fields: ReturnType<typeof fieldsCache> },
): Promise<ConvertOutcome> {
  const now = deps.now ?? Date.now;
  const { jobs, logger } = deps;
  const job = await jobs.get(msg.job_id);
  if (job?.status !== 'EXPORTED' || !job.parquet_wanted || !job.s3) {
    return { outcome: 'skipped', reason: !job ? 'unknown job' : `job is ${job.status}` };
  }
  const owner = await jobs.claimConversion(job.job_id, now() + CONVERSION_LEASE_MS);
  if (!owner) return { outcome: 'skipped', reason: `conversion is ${job.parquet_status ?? 'not wanted'}` };
  const attempts = (job.parquet_attempts ?? 0) + 1;
  const key = parquetKey(deps.config.S3_PREFIX, job);
  const bucket = job.s3.bucket;
  let upload: Upload | undefined;
  let converted: { outcome: 'converted'; key: string; rows: number; bytes: number; parquet: ParquetFile };
  try {
    const meta = job.module
      ? await opts.fields(job.module, (job.api_version ?? 'v8') as ApiVersion)
      : ({ fields: null, reason: 'the module is not known' } as const);
    const csv = await deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: job.s3.key }));
    if (!(csv.Body instanceof Readable)) throw new Error('S3 returned no stream for the CSV');
    const exportedAt = new Date(job.exported_at ?? job.updated_at);
    const reason = meta.fields === null ? meta.reason : undefined;
    // The table governs: its columns keep their names and types (lib/exports/schema.ts).
    const table = job.module ? await deps.catalog?.getColumns(tableNameOf(job.module)) : undefined;
    const conversion = convertCsvToParquet(csv.Body, {
      columns: (header) => planUnderTable(header, meta.fields, reason, table),
      lineage: { exportId: job.export_id ?? '', jobId: job.job_id, exportedAt },
      compression: compressionOf(deps.config.PARQUET_COMPRESSION),
    });
    opts.signal?.addEventListener('abort', () => void upload?.abort(), { once: true });
    upload = new Upload({
      client: deps.s3,
      partSize: deps.partSize ?? 8 * 1024 * 1024,
      queueSize: deps.queueSize ?? 2,
      leavePartsOnError: false,
      params: {
        Bucket: bucket,
        Key: key,
        Body: conversion.stream,
        ContentType: 'application/vnd.apache.parquet',
        Metadata: { 'zoho-job-id': job.job_id, 'export-id': job.export_id ?? '' },
      },
    });
    await upload.done();
    const stats = await conversion.done;
    const head = await deps.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    if (stats.rows !== job.records || head.ContentLength !== stats.bytes) {
      await deps.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      throw new ParquetRowMismatchError(
        `the Parquet file holds ${stats.rows} rows (${head.ContentLength} bytes stored of ${stats.bytes}) but the page has ${job.records} records; it was deleted`,
      );
    }
    const parquet = parquetFileOf(bucket, key, stats);
    if (!(await jobs.converted(job.job_id, owner, parquet))) {
      logger.warn('page converted, but the claim was lost meanwhile', { job_id: job.job_id, key });
      return { outcome: 'skipped', reason: 'claim lost' };
    }
    deps.metrics.count('PagesConverted');
    const errors = Object.values(stats.conversionErrors).reduce((a, b) => a + b, 0);
    if (errors) deps.metrics.count('ConversionErrors', errors);
    deps.metrics.count(
      'ConversionLagSeconds',
      Math.max(0, Math.round((now() - exportedAt.getTime()) / 1000)),
    );
    logger.info('page converted to Parquet', {
      job_id: job.job_id,
      export_id: job.export_id,
      key,
      rows: stats.rows,
      bytes: stats.bytes,
      conversion_errors: errors,
    });
    converted = { outcome: 'converted', key, rows: stats.rows, bytes: stats.bytes, parquet };
  } catch (e) {
    await upload?.abort().catch(() => undefined);
    const error: JobError = describeError(e);
    const decision = afterConversionError(e, attempts, MAX_CONVERSION_ATTEMPTS, deps.random);
    if (decision.kind !== 'retry') {
      await jobs.conversionFailed(job.job_id, owner, error);
      deps.metrics.count('ConversionsFailed');
      logger.error('conversion failed for good', { job_id: job.job_id, error, attempts });
      await finishExport(deps, { ...job, parquet_status: 'FAILED', parquet_error: error });
      return { outcome: 'failed', code: error.code };
    }
    const retryAt = now() + decision.delayMs;
    await jobs.conversionRetry(job.job_id, owner, error, retryAt);
    await deps.convert?.({ job_id: job.job_id }, retryAt - now()).catch(() => undefined);
    logWillRetry(logger, 'conversion', job.job_id, { error, attempts, retryAt });
    return { outcome: 'retry', code: error.code, retryAt };
  }
  // Outside the conversion's try: a Glue or S3 failure while finishing the export is no conversion
  // failure (the page is DONE); the page stays flagged and the sweep finalizes again.
  const { parquet, ...outcome } = converted;
  await finishExport(deps, { ...job, parquet_status: 'DONE', parquet });
  return outcome;
}

/** Tells the page's export the conversion ended; a failure is logged and left to the sweep. */
async function finishExport(deps: ConvertDeps, job: JobRecord): Promise<void> {
  await pageHooks(deps)
    .converted(job)
    .catch((err) =>
      deps.logger.error('export not finalized now; the sweep will', {
        job_id: job.job_id,
        error: describeError(err),
      }),
    );
}
