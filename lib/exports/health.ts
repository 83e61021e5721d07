/**
 * Export health, measured by the poller each tick: how long the oldest RUNNING export has been running
 * (`OldestRunningExportAgeSeconds`, 0 when none is), which the stuck-export alarm compares with
 * `stuckExportHours`. It reads the exports table's `by-status` index (partition `RUNNING`, sorted by
 * `export_id`, a ULID, so oldest first), never a scan, and usually reads a single item.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { type CorruptRecordError, parseRecords } from '../ddb/record.js';
import { keyOf, type Table } from '../ddb/table.js';
import { describeError, type MetricsSink } from '../observability.js';
import { EXPORT_INDEXES } from '../tables.js';
import type { ExportRecord } from './model.js';

/** Items read per query page, and at most this many pages per tick. */
const PAGE_SIZE = 25;
const MAX_PAGES = 20;

type Started = Pick<ExportRecord, 'created_at' | 'reopened_at'>;
/** What the walk reads of an export record: only when it started (the rest is not its business). */
const started: z.ZodType<Started> = z.looseObject({
  created_at: z.string().refine((t) => Number.isFinite(Date.parse(t)), 'not an ISO time'),
  reopened_at: z.string().optional(),
});

/** When an export started running: when it was reopened (re-conversion), else when it was created. */
export function runningSince(e: Started): number {
  const created = Date.parse(e.created_at);
  const reopened = e.reopened_at ? Date.parse(e.reopened_at) : Number.NaN;
  return Number.isFinite(reopened) ? Math.max(created, reopened) : created;
}

/**
 * Seconds since the oldest RUNNING export started running (0 when there is none). The index yields
 * exports in creation order, and no later export can have started before it was created, so the walk
 * stops at the first export created after the earliest start seen so far: one item, unless the oldest
 * ones were reopened. An item that does not parse goes to `onCorrupt` (by default the walk fails).
 */
export async function oldestRunningExportAgeSeconds(
  exportsTable: Table,
  now: number,
  onCorrupt: (e: CorruptRecordError) => void = (e) => {
    throw e;
  },
): Promise<number> {
  let earliest = Number.POSITIVE_INFINITY;
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await exportsTable.query({
      index: EXPORT_INDEXES.byStatus,
      partition: 'RUNNING',
      limit: PAGE_SIZE,
      startKey,
    });
    const { records, corrupt } = parseRecords(started, result.items, exportsTable.name, (i) =>
      keyOf(exportsTable.definition, i),
    );
    for (const e of corrupt) onCorrupt(e);
    for (const item of records) {
      const created = Date.parse(item.created_at);
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
    // A corrupt export is logged and left out: the others still say how old the oldest is.
    const age = await oldestRunningExportAgeSeconds(deps.exportsTable, (deps.now ?? Date.now)(), (e) =>
      deps.logger.error('an export record is corrupt; left out of the health measure', {
        error: describeError(e),
      }),
    );
    deps.metrics.count('OldestRunningExportAgeSeconds', age);
    return age;
  } catch (e) {
    deps.logger.error('could not measure the oldest running export', { error: describeError(e) });
    return undefined;
  }
}
