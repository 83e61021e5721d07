/**
 * An export's completion event (COMPLETED or FAILED), published after the state is recorded and
 * retried by the sweep until it goes out (lib/exports/events.ts).
 */
import { describeError } from '../observability.js';
import { endsSnapshot, snapshotMemberEnded } from '../snapshots/end.js';
import type { ExportDeps } from './deps.js';
import { exportEvent } from './events.js';
import { toPublicExport } from './model.js';
import { pagesOf } from './read.js';

/** How long one publisher holds an export's event: ample for one PutEvents call and its retries. */
const EVENT_LEASE_MS = 60_000;

/** Publishes the export's completion event if it is pending; a failure leaves it for the sweep. */
export async function publishEvent(deps: ExportDeps, exportId: string): Promise<boolean> {
  const e = await deps.exports.get(exportId);
  if (!e?.event_pending) return false;
  // This function may not end snapshots (lib/exports/deps.ts): the poller's sweep publishes this one.
  if (deps.endsSnapshots === false && (await endsSnapshot(deps, e))) return false;
  // No bus: a snapshot's end is still recorded (its manifest), once its last export has ended.
  if (!deps.events) {
    await snapshotMemberEnded(deps, e);
    return false;
  }
  // One publisher at a time: the finalizer and the sweep can both find the event pending.
  const owner = await deps.exports.claimEvent(exportId, EVENT_LEASE_MS);
  if (!owner) return false;
  const { pages, ...summary } = toPublicExport(e, await pagesOf(deps, e));
  try {
    await deps.events.publish(exportEvent(e, { ...summary, pages: pages.length }));
    // The export's end may be its snapshot's: a failure here leaves the export's event pending, so the
    // sweep publishes it (at least once) and checks the snapshot again.
    await snapshotMemberEnded(deps, e);
  } catch (err) {
    deps.logger.warn('export event not published yet; will retry', {
      export_id: exportId,
      error: describeError(err),
    });
    await deps.exports.releaseEvent(exportId, owner).catch((e2: unknown) =>
      deps.logger.warn('export event claim not released; it ends with its lease', {
        export_id: exportId,
        error: describeError(e2),
      }),
    );
    return false;
  }
  await deps.exports.eventPublished(exportId);
  return true;
}
