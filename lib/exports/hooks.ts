/**
 * What the poller, the downloader and the converter tell exports about pages (`PageHooks`), so the job
 * pipeline knows nothing of exports. Each hook runs the export's reaction to one job transition at
 * once and clears the job's flag (lib/exports/reactions.ts); if the function dies first, the sweep
 * (lib/exports/sweep.ts) runs it later.
 */
import type { JobError, JobRecord } from '../jobs/model.js';
import type { ZohoJob } from '../zoho/schemas.js';
import type { ExportDeps } from './deps.js';
import { failExport } from './end.js';
import { type FinalizeOutcome, finalizeExport } from './finalize.js';
import { pageCompleted, pageObserved } from './pages.js';
import { followThrough, reactionDone, reactionLater } from './reactions.js';
import { recoverPage } from './recovery.js';

/** What the poller and the downloader tell exports about pages. */
export interface PageHooks {
  /** A status check of the job answered (a registered job's export learns its module and query). */
  observed(job: JobRecord, z: ZohoJob): Promise<void>;
  /** The job is COMPLETED at Zoho and DOWNLOADING here; true when a follow-up page was created. */
  completed(job: JobRecord): Promise<boolean>;
  /** The page's CSV landed: convert it (Parquet) or complete the export. */
  exported(job: JobRecord): Promise<void>;
  /** The page's Parquet file is written (or its conversion failed for good). */
  converted(job: JobRecord): Promise<void>;
  failed(job: JobRecord, error: JobError): Promise<void>;
}

/**
 * Finalizes the job's export, then clears the job's flag; while another finalizer holds the claim the
 * flag stays, due when that claim runs out (in case its holder died).
 */
export async function finalizeFor(deps: ExportDeps, job: JobRecord): Promise<FinalizeOutcome> {
  if (!job.export_id) return { kind: 'not-ready' };
  const r = await finalizeExport(deps, job.export_id);
  if (r.kind === 'busy') await reactionLater(deps, job, r.until);
  else await reactionDone(deps, job);
  return r;
}

/**
 * The page's CSV is in: a page also written as Parquet goes to the converter; otherwise the export may
 * be complete. A page with more records makes sure its next page is wanted first: this transition
 * replaced the page_completed reaction if the poller died before taking it in.
 */
export async function pageExported(deps: ExportDeps, job: JobRecord): Promise<void> {
  if (!job.export_id) return;
  if (job.more_records) await pageCompleted(deps, job);
  if (job.parquet_wanted) {
    if (!deps.convert) throw new Error('no converter to hand the page to');
    // The job stays flagged until its conversion ends: a lost message is dispatched again by the sweep.
    await deps.convert({ job_id: job.job_id });
    return;
  }
  await finalizeFor(deps, job);
}

/**
 * The page's job ended FAILED. An expired result or job of an export of ours is re-created
 * (lib/exports/recovery.ts); a deferred recovery keeps the job flagged, so the sweep brings it back
 * when it is due. Otherwise the export fails.
 */
export async function pageFailed(deps: ExportDeps, job: JobRecord, error: JobError): Promise<void> {
  const r = await recoverPage(deps, job, error);
  if (r.kind === 'deferred') return;
  await followThrough(deps, job, true, async () => {
    if (job.export_id && r.kind === 'fail')
      await failExport(deps, job.export_id, {
        ...(r.error ?? error),
        page: job.page ?? 1,
        job_id: job.job_id,
      });
  });
}

export function pageHooks(deps: ExportDeps): PageHooks {
  return {
    observed: (job: JobRecord, z: ZohoJob) => pageObserved(deps, job, z),
    completed: (job) => followThrough(deps, job, !!job.more_records, () => pageCompleted(deps, job)),
    exported: (job) => pageExported(deps, job),
    converted: async (job) => {
      await finalizeFor(deps, job);
    },
    failed: (job, error) => pageFailed(deps, job, error),
  };
}
