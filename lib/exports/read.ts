/** An export as the API and the event show it: the record with each page's job. */
import type { JobRecord } from '../jobs/model.js';
import { type ExportDeps, pageJobs } from './deps.js';
import { type ExportRecord, type PublicExport, type PublicPage, toPublicExport } from './model.js';

/** An export with its pages (each page's job, in page order). */
export async function readExport(
  deps: Pick<ExportDeps, 'exports' | 'jobs'>,
  exportId: string,
): Promise<PublicExport | undefined> {
  const e = await deps.exports.get(exportId);
  if (!e) return undefined;
  return toPublicExport(e, await pagesOf(deps, e));
}

export async function pagesOf(deps: Pick<ExportDeps, 'jobs'>, e: ExportRecord): Promise<PublicPage[]> {
  const jobs = await pageJobs(deps, e);
  return jobs.flatMap((j, i) => (j ? [publicPage(j, i + 1)] : []));
}

function publicPage(j: JobRecord, page: number): PublicPage {
  const p = j.parquet;
  return {
    page,
    job_id: j.job_id,
    status: j.status,
    records: j.records ?? null,
    s3: j.s3 ?? null,
    parquet: j.parquet_wanted
      ? {
          status: j.parquet_status ?? 'PENDING',
          bucket: p?.bucket ?? null,
          key: p?.key ?? null,
          bytes: p?.bytes ?? null,
          rows: p?.rows ?? null,
          row_groups: p?.row_groups ?? null,
        }
      : null,
  };
}
