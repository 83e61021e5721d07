/**
 * The one owner of the protocol by which an export reacts to its pages' jobs.
 *
 * A job transition its export must take in stores the reaction it needs on the job, atomically with
 * the transition (`export_reaction`, with `export_pending: "yes"` and `export_due` for the sparse
 * index; JobStore.exportFlag writes them). The function that made the transition runs the reaction at
 * once through `PageHooks` (lib/exports/hooks.ts) and clears it (`reactionDone`). If it died first, the
 * poller's sweep (lib/exports/sweep.ts) finds the job once `export_due` has passed and runs what
 * `sweepAction` says for the stored reaction. The table (transition, reaction, who runs it first, what
 * the sweep does) is in docs/architecture.md.
 *
 * Backward compatibility: a job written before reactions were stored has the flag but no
 * `export_reaction`; `reactionOf` then derives it from the job's state, as the sweep always did
 * (`legacyReaction`). Such items drain within a sweep or two of the upgrade.
 *
 * The export side of the protocol (`attention` / `attention_at` on the export: a follow-up page to
 * create, an intent whose creator died, a reopened export's conversions, an unpublished event) is
 * written by ExportStore and read here by `exportAction`.
 */
import type { ExportReaction, JobRecord } from '../jobs/model.js';
import type { ExportDeps } from './deps.js';
import type { ExportRecord } from './model.js';

export type { ExportReaction } from '../jobs/model.js';

/** The reaction a flagged job waits for: the stored one, or for an item of the old code, the derived one. */
export function reactionOf(job: JobRecord): ExportReaction {
  return job.export_reaction ?? legacyReaction(job);
}

/** What the sweep guessed from the job's state before reactions were stored (items written by old code). */
export function legacyReaction(job: JobRecord): ExportReaction {
  if (job.status === 'FAILED') return 'page_failed';
  if (job.status !== 'EXPORTED') return 'page_completed';
  if (!job.parquet_wanted) return 'page_exported';
  if (job.parquet_status === 'DONE') return 'page_converted';
  if (job.parquet_status === 'FAILED') return 'page_conversion_failed';
  return job.parquet_status === 'CONVERTING' ? 'page_converting' : 'page_exported';
}

/** What the sweep does for a job whose reaction was left pending. */
export type SweepAction =
  /** page_completed: want the next page and create it. */
  | { kind: 'want-next-page' }
  /** page_failed: recover the page (lib/exports/recovery.ts) or fail the export. */
  | { kind: 'recover-or-fail' }
  /** The page's conversion stalled (or its message was lost): dispatch it again, look again at `lookAgainAt`. */
  | { kind: 'convert'; lookAgainAt: number; wantNextPage: boolean }
  /** A converter holds the page until `until`: look again then. */
  | { kind: 'wait'; until: number }
  /** The export may be complete (or failed, by a failed conversion): finalize it. */
  | { kind: 'finalize'; wantNextPage: boolean };

/**
 * The sweep's dispatch on the stored reaction. `wantNextPage`: a page_exported reaction overwrote the
 * page_completed one of the same job (its download landed before the poller, which died, had wanted
 * the next page), so the next page is made sure of first.
 */
export function sweepAction(job: JobRecord, now: number, followThroughMs: number): SweepAction {
  const reaction = reactionOf(job);
  switch (reaction) {
    case 'page_completed':
      return { kind: 'want-next-page' };
    case 'page_failed':
      return { kind: 'recover-or-fail' };
    case 'page_converted':
    case 'page_conversion_failed':
      return { kind: 'finalize', wantNextPage: false };
    case 'page_exported':
    case 'page_converting': {
      const wantNextPage = reaction === 'page_exported' && !!job.more_records;
      if (!job.parquet_wanted || job.parquet_status === 'DONE' || job.parquet_status === 'FAILED')
        return { kind: 'finalize', wantNextPage };
      if (job.parquet_status === 'CONVERTING' && (job.parquet_until ?? 0) > now)
        return { kind: 'wait', until: job.parquet_until ?? now };
      return { kind: 'convert', lookAgainAt: now + followThroughMs, wantNextPage };
    }
  }
}

/** The job's export has done its reaction: the flag goes (a no-op for a job that was not flagged). */
export async function reactionDone(deps: Pick<ExportDeps, 'jobs'>, job: JobRecord): Promise<void> {
  if (job.export_id) await deps.jobs.exportHandled(job.job_id);
}

/** The reaction stays pending; the sweep looks at the job again at `at`. */
export async function reactionLater(
  deps: Pick<ExportDeps, 'jobs'>,
  job: JobRecord,
  at: number,
): Promise<void> {
  await deps.jobs.deferExportDue(job.job_id, at);
}

/** Runs a reaction, then clears the job's flag (when the transition set one). A throw leaves it for the sweep. */
export async function followThrough<T>(
  deps: Pick<ExportDeps, 'jobs'>,
  job: JobRecord,
  flagged: boolean,
  work: () => Promise<T>,
): Promise<T> {
  const r = await work();
  if (flagged) await reactionDone(deps, job);
  return r;
}

/** What the sweep does for an export in the attention index. */
export type ExportAction =
  | { kind: 'publish-event' }
  /** A reopened export whose conversion requests did not all go out: request them (again). */
  | { kind: 'resume-reconversion' }
  | { kind: 'create-wanted-page' }
  /** An intent whose creator died: wait for its job's callback until `until`, then take it over. */
  | { kind: 'await-callback'; until: number }
  | { kind: 'take-over-intent' }
  | { kind: 'none' };

/** The sweep's dispatch for an export that needs attention. */
export function exportAction(
  e: ExportRecord,
  now: number,
  opts: { callbacks: boolean; adoptWindowMs: number },
): ExportAction {
  if (e.reconvert_pending && e.status === 'RUNNING') return { kind: 'resume-reconversion' };
  if (e.event_pending) return { kind: 'publish-event' };
  if (e.intent_page === undefined || e.status !== 'RUNNING') return { kind: 'none' };
  if (e.intent_state === 'wanted') return { kind: 'create-wanted-page' };
  // "creating" with its lease over: the attempt died, maybe after Zoho created the job. With
  // callbacks, that job's callback can still adopt it: wait for it before creating the page again.
  const adoptUntil = (e.intent_tried_at ?? e.intent_since ?? 0) + opts.adoptWindowMs;
  if (opts.callbacks && now < adoptUntil) return { kind: 'await-callback', until: adoptUntil };
  return { kind: 'take-over-intent' };
}
