/**
 * The safety net the poller runs each tick, over two sparse indexes (so it costs nothing when all is
 * well): exports needing attention (a wanted page whose time has come, an intent whose creator died,
 * taken over after the adoption window when callbacks are on, a reopened export whose conversion
 * requests did not all go out, an unpublished event), and jobs whose export did not take in their last
 * transition: the sweep runs the reaction stored on the job (lib/exports/reactions.ts). It pages through
 * both until the tick's deadline; an item it fails on moves back in its index with a backoff counted on
 * the item, so it never blocks the items behind it.
 */
import { type CorruptRecordError, logCorrupt } from '../ddb/record.js';
import type { JobRecord } from '../jobs/model.js';
import { backoffMs } from '../jobs/retry.js';
import { EXPORT_FOLLOW_THROUGH_MS } from '../jobs/store.js';
import { describeError } from '../observability.js';
import type { ExportDeps } from './deps.js';
import { finalizeFor, pageFailed } from './hooks.js';
import type { ExportRecord } from './model.js';
import { ADOPT_WINDOW_MS, createWantedPage, pageCompleted } from './pages.js';
import { publishEvent } from './publish.js';
import { exportAction, followThrough, reactionLater, type SweepAction, sweepAction } from './reactions.js';
import { resumeReconversion } from './reconvert.js';

export interface SweepSummary {
  /** Exports looked at (a page to create or retry, an event to publish). */
  exports: number;
  pagesCreated: number;
  completed: number;
  eventsPublished: number;
  /** Jobs whose export had not taken in their last transition (the function that moved them died). */
  followedThrough: number;
  /** Items (exports or jobs) the sweep failed on: each waits its backoff, the others go on. */
  failed: number;
}

/** Items read per query of each index; the sweep pages on until the tick's deadline. */
const SWEEP_PAGE = 50;

export interface SweepOptions {
  deadline: number;
  /**
   * No access token can be had this tick: do only what needs none (publish, finalize, conversion
   * dispatch) and leave what calls Zoho (creating or recovering a page) for a later tick.
   */
  withoutZoho?: boolean;
}

export async function sweepExports(deps: ExportDeps, opts: SweepOptions): Promise<SweepSummary> {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const summary: SweepSummary = {
    exports: 0,
    pagesCreated: 0,
    completed: 0,
    eventsPublished: 0,
    followedThrough: 0,
    failed: 0,
  };
  // One cut-off for the whole tick: an item pushed back (or looked at again) later in the tick is not
  // read a second time by a later page.
  const tickStart = now();
  /**
   * Runs one item; a failure pushes the item back with its backoff (counted on the item) so the next
   * tick reads the items behind it first, and never stops the sweep.
   */
  const guarded = async (
    what: Record<string, unknown>,
    failuresSoFar: number | undefined,
    f: () => Promise<void>,
    pushBack: (failures: number, at: number) => Promise<boolean>,
  ): Promise<void> => {
    try {
      await f();
    } catch (err) {
      summary.failed++;
      deps.metrics.count('SweepItemsFailed');
      const failures = (failuresSoFar ?? 0) + 1;
      const delay = backoffMs(failures - 1, deps.timing.baseMs, deps.timing.capMs, random);
      deps.logger.error('export sweep failed for one item; it waits its backoff', {
        ...what,
        failures,
        retry_in_ms: delay,
        error: describeError(err),
      });
      await pushBack(failures, now() + delay).catch((e: unknown) =>
        deps.logger.error('export sweep could not push a failed item back', {
          ...what,
          error: describeError(e),
        }),
      );
    }
  };
  // An item seen twice in one tick (a page boundary moved under a write) is done once.
  const seen = new Set<string>();
  /** Pages through one index until it is read or the deadline; false when the deadline came. */
  const sweepIndex = async <T>(
    read: (startKey: Record<string, unknown> | undefined) => Promise<{
      items: T[];
      corrupt: CorruptRecordError[];
      lastKey?: Record<string, unknown> | undefined;
    }>,
    item: (t: T) => { key: string; what: Record<string, unknown>; failures: number | undefined },
    run: (t: T) => Promise<void>,
    pushBack: (t: T, failures: number, at: number) => Promise<boolean>,
  ): Promise<boolean> => {
    let startKey: Record<string, unknown> | undefined;
    do {
      if (now() >= opts.deadline) return false;
      const page = await read(startKey);
      // An item that does not parse cannot be acted on: logged and counted, the sweep goes on.
      logCorrupt(deps.logger, page.corrupt, 'export sweep');
      summary.failed += page.corrupt.length;
      if (page.corrupt.length) deps.metrics.count('SweepItemsFailed', page.corrupt.length);
      for (const t of page.items) {
        if (now() >= opts.deadline) return false;
        const { key, what, failures } = item(t);
        if (seen.has(key)) continue;
        seen.add(key);
        await guarded(
          what,
          failures,
          () => run(t),
          (n, at) => pushBack(t, n, at),
        );
      }
      startKey = page.lastKey;
    } while (startKey);
    return true;
  };

  const exportsDone = await sweepIndex(
    async (k) => {
      const p = await deps.exports.needingAttention(tickStart, SWEEP_PAGE, k);
      return { items: p.exports, corrupt: p.corrupt, lastKey: p.lastKey };
    },
    (e) => ({
      key: `export:${e.export_id}`,
      what: { export_id: e.export_id },
      failures: e.attention_failures,
    }),
    (e) => {
      summary.exports++;
      return attendExport(deps, e, summary, opts);
    },
    (e, failures, at) => deps.exports.attentionFailed(e.export_id, failures, at),
  );
  if (!exportsDone) return summary;
  await sweepIndex(
    async (k) => {
      const p = await deps.jobs.exportDue(tickStart, SWEEP_PAGE, k);
      return { items: p.jobs, corrupt: p.corrupt, lastKey: p.lastKey };
    },
    (job) => ({
      key: `job:${job.job_id}`,
      what: { job_id: job.job_id, export_id: job.export_id },
      failures: job.export_failures,
    }),
    (job) => {
      summary.followedThrough++;
      return followUpJob(deps, job, summary, opts);
    },
    (job, failures, at) => deps.jobs.exportFailed(job.job_id, failures, at),
  );
  return summary;
}

/** One export of the attention index: what `exportAction` says. */
async function attendExport(
  deps: ExportDeps,
  e: ExportRecord,
  summary: SweepSummary,
  opts: SweepOptions,
): Promise<void> {
  const now = deps.now ?? Date.now;
  const action = exportAction(e, now(), { callbacks: !!deps.callbackUrl, adoptWindowMs: ADOPT_WINDOW_MS });
  if (opts.withoutZoho && (action.kind === 'create-wanted-page' || action.kind === 'take-over-intent'))
    return;
  switch (action.kind) {
    case 'publish-event':
      if (await publishEvent(deps, e.export_id)) summary.eventsPublished++;
      return;
    case 'resume-reconversion':
      await resumeReconversion(deps, e);
      return;
    case 'create-wanted-page':
      if (await createWantedPage(deps, e.export_id)) summary.pagesCreated++;
      return;
    case 'await-callback':
      await deps.exports.deferAttention(e.export_id, action.until);
      return;
    case 'take-over-intent':
      if (await createWantedPage(deps, e.export_id, true)) summary.pagesCreated++;
      return;
    case 'none':
      return;
  }
}

/** One flagged job whose reaction was left pending: the stored reaction's `sweepAction`, run now. */
async function followUpJob(
  deps: ExportDeps,
  job: JobRecord,
  summary: SweepSummary,
  opts: SweepOptions,
): Promise<void> {
  const now = deps.now ?? Date.now;
  // A flag on a job of no export: nothing to react to (a job never flagged so, but never stuck either).
  if (!job.export_id) {
    await deps.jobs.exportHandled(job.job_id);
    return;
  }
  const action = sweepAction(job, now(), EXPORT_FOLLOW_THROUGH_MS);
  if (opts.withoutZoho && needsZoho(action)) return;
  switch (action.kind) {
    case 'want-next-page':
      if (await followThrough(deps, job, true, () => pageCompleted(deps, job))) summary.pagesCreated++;
      return;
    case 'recover-or-fail':
      await pageFailed(deps, job, job.error ?? { code: 'FAILED', message: 'the page failed' });
      return;
    case 'wait':
      await reactionLater(deps, job, action.until);
      return;
    case 'convert':
      if (action.wantNextPage && (await pageCompleted(deps, job))) summary.pagesCreated++;
      await deps.convert?.({ job_id: job.job_id });
      await reactionLater(deps, job, action.lookAgainAt);
      return;
    case 'finalize': {
      if (action.wantNextPage && (await pageCompleted(deps, job))) summary.pagesCreated++;
      const r = await finalizeFor(deps, job);
      if (r.kind === 'completed') summary.completed++;
      return;
    }
  }
}

/** A job reaction that may call Zoho: creating the next page, or recovering a failed one. */
function needsZoho(action: SweepAction): boolean {
  switch (action.kind) {
    case 'want-next-page':
    case 'recover-or-fail':
      return true;
    case 'convert':
    case 'finalize':
      return action.wantNextPage;
    case 'wait':
      return false;
  }
}
