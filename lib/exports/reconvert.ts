/**
 * `POST /exports/{id}/convert`: writes every page of a finished export as Parquet (again), e.g. after
 * a failed conversion, an upgrade of the converter, or for an export made CSV-only. The export is
 * reopened (RUNNING) until its pages are converted, then COMPLETED with a new manifest and event.
 */
import type { JobRecord } from '../jobs/model.js';
import { type ExportDeps, pageJobs } from './deps.js';
import { ExportRequestError } from './errors.js';
import type { ExportRecord } from './model.js';

/** Every page's CSV must have landed. */
export async function reconvertExport(deps: ExportDeps, exportId: string): Promise<ExportRecord> {
  const e = await deps.exports.get(exportId);
  if (!e) throw new ExportRequestError(404, 'EXPORT_NOT_FOUND', `no export ${exportId}`);
  if (e.status === 'RUNNING') {
    throw new ExportRequestError(
      409,
      'EXPORT_RUNNING',
      'the export is still running; convert it once it is COMPLETED or FAILED',
    );
  }
  const jobs = await pageJobs(deps, e);
  const missing = jobs.findIndex((j) => j?.status !== 'EXPORTED');
  if (missing >= 0 || jobs.length === 0) {
    throw new ExportRequestError(
      409,
      'PAGES_NOT_EXPORTED',
      `page ${missing + 1} of this export has no CSV in S3 (its job is ${jobs[missing]?.status ?? 'unknown'}); only an export whose every page landed can be converted`,
    );
  }
  if (!deps.convert) throw new Error('no converter to hand the pages to');
  const formats: ExportRecord['formats'] = ['csv', 'parquet'];
  // The reopen marks the export for the sweep: if what follows fails midway, the sweep finishes it.
  if (!(await deps.exports.reopen(exportId, formats))) {
    throw new ExportRequestError(
      409,
      'EXPORT_RUNNING',
      'the export changed meanwhile; read it and try again',
    );
  }
  await requestConversions(
    deps,
    exportId,
    jobs.filter((j): j is JobRecord => j !== undefined),
  );
  deps.logger.info('export conversion requested', { export_id: exportId, pages: jobs.length });
  return (await deps.exports.get(exportId)) ?? e;
}

/**
 * Requests and dispatches the conversion of each of `jobs`, then clears the reopen's mark. A throw
 * leaves the mark, so the sweep comes back (`resumeReconversion`).
 */
async function requestConversions(deps: ExportDeps, exportId: string, jobs: JobRecord[]): Promise<void> {
  if (!deps.convert) throw new Error('no converter to hand the pages to');
  for (const j of jobs) {
    // Each request flags the page (reaction page_exported): a lost message is dispatched by the sweep.
    await deps.jobs.requestConversion(j.job_id);
    await deps.convert({ job_id: j.job_id });
  }
  await deps.exports.reconversionRequested(exportId);
}

/**
 * The sweep's half: a reopened export whose requests did not all go out. The pages requested since
 * the reopen (written since, and PENDING, CONVERTING or DONE) are left alone; the others are
 * requested now.
 */
export async function resumeReconversion(deps: ExportDeps, e: ExportRecord): Promise<void> {
  const reopenedAt = Date.parse(e.reopened_at ?? '') || 0;
  const todo = (await pageJobs(deps, e)).filter(
    (j): j is JobRecord =>
      j?.status === 'EXPORTED' &&
      !(
        Date.parse(j.updated_at) >= reopenedAt &&
        (j.parquet_status === 'PENDING' || j.parquet_status === 'CONVERTING' || j.parquet_status === 'DONE')
      ),
  );
  deps.logger.warn('reconversion requests resumed by the sweep', {
    export_id: e.export_id,
    pages: todo.length,
  });
  await requestConversions(deps, e.export_id, todo);
}
