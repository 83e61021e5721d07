/**
 * The deletions file of an incremental export: every record Zoho lists as deleted from the module
 * since the run's window start (`GET /crm/{version}/{module}/deleted?type=all`, every page, with
 * `If-Modified-Since`), landed in the export before it completes:
 *
 *   {prefix}/deletions/module={Module}/export_date={D}/{export_id}.csv                (always)
 *   {prefix}/parquet/deletions/module={Module}/export_date={D}/{export_id}.parquet     (Parquet on)
 *
 * Columns: id, type (recycle | permanent), deleted_time (ISO 8601 with offset, as Zoho gives it),
 * deleted_by_name, deleted_by_id. The Parquet copy types deleted_time as a timestamp, adds the lineage
 * columns, and has its own Glue table `zoho_<module>_deletions` (created beside the module's table).
 * The manifest lists both under `deletions`.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { convertCsvToParquet } from '../analytics/convert.js';
import type { ColumnPlan, Compression } from '../analytics/types.js';
import type { Catalog, TableChange, TableInput } from '../exports/catalog.js';
import { glueType, LINEAGE_CATALOG_COLUMNS, projectedParquetTable } from '../exports/catalog.js';
import type { ExportRecord } from '../exports/model.js';
import { deletionsTableName, tableNameOf } from '../exports/table-names.js';
import { backoffMs } from '../jobs/retry.js';
import { describeError } from '../observability.js';
import type { ZohoClient } from '../zoho/client.js';
import type { DeletedRecord } from '../zoho/deleted.js';
import { ZohoError } from '../zoho/errors.js';

export const DELETIONS_COLUMNS = ['id', 'type', 'deleted_time', 'deleted_by_name', 'deleted_by_id'] as const;
/** Tries of the whole landing (fetch every page, write the files) before the export fails. */
export const DELETIONS_ATTEMPTS = 4;
const DELETIONS_BACKOFF_MS = 1_000;
const DELETIONS_BACKOFF_CAP_MS = 8_000;
/** A bound on pages (200 records each): two million deletions in one window. */
const MAX_PAGES = 10_000;

export interface DeletionsFile {
  bucket: string;
  key: string;
  bytes: number;
  records: number;
}

/** The manifest's `deletions` entry. */
export interface ManifestDeletions {
  /** Deleted after this instant (ISO): the run's window start. */
  since: string;
  /**
   * ... and at or before this one: the export's start. Later deletions belong to the next run, so the
   * file is the same whichever finalizer writes it and however late.
   */
  until: string;
  csv: DeletionsFile;
  parquet?: DeletionsFile;
  catalog?: TableChange;
}

const safeModule = (m: string): string => m.replace(/[^A-Za-z0-9_$-]/g, '_') || 'unknown';
const join = (prefix: string, rest: string): string => (prefix ? `${prefix}/${rest}` : rest);

export const deletionsCsvKey = (
  prefix: string,
  e: Pick<ExportRecord, 'export_id' | 'export_date'>,
  module: string,
) => join(prefix, `deletions/module=${safeModule(module)}/export_date=${e.export_date}/${e.export_id}.csv`);
export const deletionsParquetLocation = (prefix: string, module: string) =>
  join(prefix, `parquet/deletions/module=${safeModule(module)}/`);
export const deletionsParquetKey = (
  prefix: string,
  e: Pick<ExportRecord, 'export_id' | 'export_date'>,
  module: string,
) => `${deletionsParquetLocation(prefix, module)}export_date=${e.export_date}/${e.export_id}.parquet`;
export { deletionsTableName };

const cell = (v: string | null): string => {
  if (v === null) return '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
};

export function deletionsCsv(records: readonly DeletedRecord[]): Buffer {
  const lines = [DELETIONS_COLUMNS.join(',')];
  for (const r of records) lines.push(DELETIONS_COLUMNS.map((c) => cell(r[c])).join(','));
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}

const PLAN: ColumnPlan = DELETIONS_COLUMNS.map((name) => ({
  name,
  type: name === 'deleted_time' ? { kind: 'timestamp' } : { kind: 'string' },
}));

/** The deletions table: Parquet, `export_date` projected, like the module tables. */
export function deletionsTableInput(opts: { bucket: string; prefix: string; module: string }): TableInput {
  return projectedParquetTable({
    name: deletionsTableName(opts.module),
    description: `Zoho CRM ${opts.module}: records deleted at Zoho, as each incremental export found them (apply them to ${tableNameOf(opts.module)})`,
    location: `s3://${opts.bucket}/${deletionsParquetLocation(opts.prefix, opts.module)}`,
    module: opts.module,
    columns: [...PLAN.map((c) => ({ Name: c.name, Type: glueType(c.type) })), ...LINEAGE_CATALOG_COLUMNS],
  });
}

export interface DeletionsDeps {
  zoho: ZohoClient;
  s3: S3Client;
  bucket: string;
  prefix: string;
  catalog?: Catalog | undefined;
  logger: Logger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  /** The Parquet codec (the PARQUET_COMPRESSION setting); unset: the converter's default. */
  compression?: Compression | undefined;
}

async function put(s3: S3Client, bucket: string, key: string, body: Buffer, type: string, exportId: string) {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: type,
      ContentMD5: createHash('md5').update(body).digest('base64'),
      Metadata: { 'export-id': exportId },
    }),
  );
}

/** Every deleted record since `since`, all pages. */
export async function fetchDeletions(
  zoho: ZohoClient,
  module: string,
  since: string,
  version?: string,
): Promise<DeletedRecord[]> {
  const out: DeletedRecord[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const r = await zoho.getDeletedRecords(module, {
      since,
      page,
      ...(version ? { version: version as never } : {}),
    });
    out.push(...r.records);
    if (!r.more || r.records.length === 0) return out;
  }
  throw new ZohoError({
    code: 'TOO_MANY_DELETIONS',
    message: `more than ${MAX_PAGES} pages of deleted records`,
    kind: 'terminal',
  });
}

async function landOnce(
  deps: DeletionsDeps,
  e: ExportRecord,
  module: string,
  since: string,
  parquet: boolean,
): Promise<ManifestDeletions> {
  const until = Date.parse(e.created_at);
  const records = (await fetchDeletions(deps.zoho, module, since, e.api_version)).filter((r) => {
    const at = Date.parse(r.deleted_time);
    return Number.isNaN(at) || at <= until; // a time Zoho wrote oddly is kept, never dropped
  });
  const csv = deletionsCsv(records);
  const csvKey = deletionsCsvKey(deps.prefix, e, module);
  await put(deps.s3, deps.bucket, csvKey, csv, 'text/csv; charset=utf-8', e.export_id);
  const out: ManifestDeletions = {
    since,
    until: e.created_at,
    csv: { bucket: deps.bucket, key: csvKey, bytes: csv.length, records: records.length },
  };
  if (!parquet) return out;
  const conversion = convertCsvToParquet(Readable.from([csv]), {
    columns: PLAN,
    lineage: { exportId: e.export_id, jobId: 'deleted-records', exportedAt: new Date(deps.now()) },
    ...(deps.compression ? { compression: deps.compression } : {}),
  });
  const chunks: Buffer[] = [];
  for await (const c of conversion.stream) chunks.push(Buffer.from(c as Uint8Array));
  await conversion.done;
  const body = Buffer.concat(chunks);
  const key = deletionsParquetKey(deps.prefix, e, module);
  await put(deps.s3, deps.bucket, key, body, 'application/vnd.apache.parquet', e.export_id);
  out.parquet = { bucket: deps.bucket, key, bytes: body.length, records: records.length };
  if (deps.catalog) {
    out.catalog = await deps.catalog.ensureModuleTable(
      deletionsTableInput({ bucket: deps.bucket, prefix: deps.prefix, module }),
    );
  }
  return out;
}

/**
 * Lands the deletions file(s), retrying a failure with backoff up to DELETIONS_ATTEMPTS times (Zoho's
 * terminal refusals are not retried). Throws the last error: the caller fails the export with it.
 */
export async function landDeletions(
  deps: DeletionsDeps,
  e: ExportRecord,
  since: string,
  parquet: boolean,
): Promise<ManifestDeletions> {
  if (!e.module) throw new Error('an export without a module has no deletions');
  for (let attempt = 1; ; attempt++) {
    try {
      return await landOnce(deps, e, e.module, since, parquet);
    } catch (err) {
      const terminal = err instanceof ZohoError && err.kind === 'terminal' && err.stage !== 'oauth';
      if (terminal || attempt >= DELETIONS_ATTEMPTS) throw err;
      const delay = backoffMs(attempt - 1, DELETIONS_BACKOFF_MS, DELETIONS_BACKOFF_CAP_MS, deps.random);
      deps.logger.warn('deleted records not landed yet; retrying', {
        export_id: e.export_id,
        attempt,
        delay_ms: delay,
        error: describeError(err),
      });
      await deps.sleep(delay);
    }
  }
}
