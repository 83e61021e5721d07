/**
 * An export's completion event (COMPLETED or FAILED), published after the state is recorded and
 * retried by the sweep until it goes out (lib/exports/events.ts).
 */
import { describeError } from '../observability.js';
import type { ExportDeps } from './deps.js';
import { exportEvent } from './events.js';
import { toPublicExport } from './model.js';
import { pagesOf } from './read.js';

/** Publishes the export's completion event if it is pending; a failure leaves it for the sweep. */
export async function publishEvent(deps: ExportDeps, exportId: string): Promise<boolean> {
  if (!deps.events) return false;
  const e = await deps.exports.get(exportId);
  if (!e?.event_pending) return false;
  const { pages, ...summary } = toPublicExport(e, await pagesOf(deps, e));
  try {
    await deps.events.publish(exportEvent(e, { ...summary, pages: pages.length }));
  } catch (err) {
    deps.logger.warn('export event not published yet; will retry', {
      export_id: exportId,
      error: describeError(err),
    });
    return false;
  }
  await deps.exports.eventPublished(exportId);
  return true;
}
