/**
 * How an export ends, whichever way: a FAILED export (`failExport`), and what follows every end
 * (`scheduleRunEnded`: the schedule is free again; the event is published by lib/exports/publish.ts).
 */
import { describeError } from '../observability.js';
import { snapshotRunMemberEnded } from '../schedules/snapshot-end.js';
import type { ExportDeps } from './deps.js';
import type { ExportRecord } from './model.js';
import { publishEvent } from './publish.js';

/** A page's job ended FAILED (or its follow-up could not be created): so does its export. */
export async function failExport(
  deps: ExportDeps,
  exportId: string,
  error: NonNullable<ExportRecord['error']>,
): Promise<void> {
  if (await deps.exports.fail(exportId, error)) {
    deps.metrics.count('ExportsFailed');
    deps.logger.warn('export failed', { export_id: exportId, error });
    await scheduleRunEnded(deps, exportId, 'FAILED');
    await publishEvent(deps, exportId);
  }
}

/** The schedule of `source` (`schedule:<name>`), if any. */
export const scheduleOf = (source: string | undefined): string | undefined =>
  source?.startsWith('schedule:') ? source.slice('schedule:'.length) : undefined;

/**
 * A schedule's export ended: the schedule is free for its next run, and a COMPLETED run's start
 * becomes its watermark (a multi-module schedule's: that module's, and free once its snapshot ended). A failure here is repaired by the schedule's next run (lib/schedules/run.ts),
 * so it never fails the export.
 */
export async function scheduleRunEnded(
  deps: ExportDeps,
  exportId: string,
  status: 'COMPLETED' | 'FAILED',
): Promise<void> {
  if (!deps.schedules) return;
  try {
    const e = await deps.exports.get(exportId);
    const name = scheduleOf(e?.source);
    if (!e || !name) return;
    if (e.snapshot_id) {
      // A module of a multi-module schedule's run (a snapshot): lib/schedules/snapshot-end.ts.
      await snapshotRunMemberEnded(
        { ...deps, schedules: deps.schedules },
        name,
        { ...e, snapshot_id: e.snapshot_id },
        status,
      );
      return;
    }
    if (await deps.schedules.ended(name, exportId, status, e.created_at)) {
      if (status === 'FAILED') deps.metrics.count('ScheduleRunsFailed');
      deps.logger.info('schedule run ended', { schedule: name, export_id: exportId, status });
    }
  } catch (err) {
    deps.logger.warn('schedule state not updated; its next run repairs it', {
      export_id: exportId,
      error: describeError(err),
    });
  }
}
