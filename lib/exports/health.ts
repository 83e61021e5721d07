/**
 * Export health, measured by the poller each tick: how long the oldest RUNNING export has been running
 * (`OldestRunningExportAgeSeconds`, 0 when none is), which the stuck-export alarm compares with
 * `stuckExportHours`. It reads the exports table's `by-status` index (partition `RUNNING`, sorted by
 * `export_id`, a ULID, so oldest first), never a scan, and usually reads a single item.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Table } from '../ddb/table.js';
import { describeError, type MetricsSink } from '../observability.js';
import { EXPORT_INDEXES } from '../tables.js';
import type { ExportRecord } from './model.js';

/** Items read per query page, and at most this many pages per tick. */
const PAGE_SIZE = 25;
const MAX_PAGES = 20;

/** When an export started running: when it was reopened (re-conversion), else when it was created. */
export function runningSince(e: Pick<ExportRecord, 'created_at' | 'reopened_at'>): number {
  const created = Date.parse(e.created_at);
  const reopened = e.reopened_at ? Date.parse(e.reopened_at) : Number.NaN;
  return Number.isFinite(reopened) ? Math.max(created, reopened) : created;
}

/**
 * Seconds since the oldest RUNNING export started running (0 when there is none). The index yields
 * exports in creation order, and no later export can have started before it was created, so the walk
 * stops at the first export created after the earliest start seen so far: one item, unless the oldest
 * ones were reopened.
 */
export async function oldestRunningExportAgeSeconds(exportsTable: Table, now: number): Promise<number> {
  let earliest = Number.POSITIVE_INFINITY;
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await exportsTable.query({
      index: EXPORT_INDEXES.byStatus,
      partition: 'RUNNING',
      limit: PAGE_SIZE,
      startKey,
    });
    for (const item of result.items as unknown as ExportRecord[]) {
      const created = Date.parse(item.created_at);
      if (!Number.isFinite(created)) continue;
      if (created >= earliest) return ageSeconds(earliest, now);
      earliest = Math.min(earliest, runningSince(item));
    }
    startKey = result.lastKey;
    if (!startKey) break;
  }
  return ageSeconds(earliest, now);
}

const ageSeconds = (since: number, now: number): number =>
  Number.isFinite(since) ? Math.max(0, Math.floor((now - since) / 1000)) : 0;

/**
 * Emits `OldestRunningExportAgeSeconds` for this tick. A failed read is logged and emits nothing
 * (the stuck-export alarm treats a missing point as not breaching; the poller's own alarms cover a
 * poller that fails or stops).
 */
export async function emitExportHealth(deps: {
  exportsTable: Table;
  metrics: MetricsSink;
  logger: Logger;
  now?: () => number;
}): Promise<number | undefined> {
  try {
    const age = await oldestRunningExportAgeSeconds(deps.exportsTable, (deps.now ?? Date.now)());
    deps.metrics.count('OldestRunningExportAgeSeconds', age);
    return age;
  } catch (e) {
    deps.logger.error('could not measure the oldest running export', { error: describeError(e) });
    return undefined;
  }
}
