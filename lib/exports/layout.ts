/**
 * Where everything lands in S3 (the README's "S3 layout" describes the same):
 *
 *   {prefix}/module={Module}/export_date={YYYY-MM-DD}/{export_id}-{page:05}-{job_id}.csv   exports
 *   {prefix}/module={Module}/export_date={YYYY-MM-DD}/{job_id}.csv                          registered jobs
 *   {prefix}/parquet/module={Module}/export_date={YYYY-MM-DD}/{same name}.parquet              typed copies
 *   {prefix}/_manifests/{export_id}.json                                                     one per COMPLETED export
 *
 * `export_date` is the UTC date the export was created, the same for every page, whenever each page
 * finishes. Two exports of a module on one day share a partition but never a file: every file name
 * carries its export id (registered jobs keep the name they always had), the data itself carries it
 * (Parquet's `_export_id`), and a manifest lists exactly one export's files.
 */
import type { JobRecord } from '../jobs/model.js';

const safeModule = (m: string | null | undefined): string =>
  (m ?? 'unknown').replace(/[^A-Za-z0-9_$-]/g, '_') || 'unknown';
const join = (prefix: string, rest: string): string => (prefix ? `${prefix}/${rest}` : rest);

export type KeyedJob = Pick<
  JobRecord,
  'job_id' | 'module' | 'created_at' | 'page' | 'export_id' | 'export_date' | 'export_source'
>;

/** The partition a page lands in: `module=…/export_date=…`. */
export function partitionOf(job: KeyedJob): string {
  return `module=${safeModule(job.module)}/export_date=${job.export_date ?? job.created_at.slice(0, 10)}`;
}

/** The key of a page's raw CSV. */
export function csvKey(prefix: string, job: KeyedJob): string {
  if (!job.export_id || job.export_source === 'job')
    return join(prefix, `${partitionOf(job)}/${job.job_id}.csv`);
  const page = String(job.page ?? 1).padStart(5, '0');
  return join(prefix, `${partitionOf(job)}/${job.export_id}-${page}-${job.job_id}.csv`);
}

/** The key of a page's Parquet file: the CSV's name, under `parquet/` (one Glue table per module). */
export function parquetKey(prefix: string, job: KeyedJob): string {
  const csv = csvKey('', job);
  return join(prefix, `parquet/${csv.replace(/\.csv$/, '.parquet')}`);
}

/** Where a module's Parquet files are: the location of its Glue table. */
export function parquetModuleLocation(prefix: string, module: string): string {
  return join(prefix, `parquet/module=${safeModule(module)}/`);
}

export function manifestsLocation(prefix: string): string {
  return join(prefix, '_manifests/');
}

export function manifestKey(prefix: string, exportId: string): string {
  return join(prefix, `_manifests/${exportId}.json`);
}
