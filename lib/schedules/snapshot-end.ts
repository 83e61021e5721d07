/**
 * The end of a multi-module schedule's run (a snapshot, lib/schedules/snapshot-run.ts). Each module's
 * export ending is heard on its own (lib/exports/end.ts `scheduleRunEnded`): a COMPLETED one advances
 * that module's watermark to its start (never backwards); a FAILED one leaves it, so the next run reads
 * that module again from its old watermark. Once every export of the snapshot has ended, the schedule
 * is free. `settleSnapshotRun` is also the repair (lib/schedules/run.ts) of a run whose end went unheard.
 */
import type { ExportDeps } from '../exports/deps.js';
import type { ExportRecord } from '../exports/model.js';
import { snapshotStore } from '../snapshots/store.js';
import type { ScheduleStore } from './store.js';

type Deps = ExportDeps & { schedules: ScheduleStore };

/**
 * Frees the schedule of snapshot `snapshotId` if every export of it has ended, advancing each COMPLETED
 * module's watermark on the way (again: a write lost before is made here; one already made is a no-op).
 * True when this call freed it.
 */
export async function settleSnapshotRun(deps: Deps, name: string, snapshotId: string): Promise<boolean> {
  const s = await snapshotStore(deps).get(snapshotId);
  const members = await Promise.all(
    (s?.modules ?? []).map(async (m) => ({ ...m, record: await deps.exports.get(m.export_id) })),
  );
  if (members.some((m) => m.record?.status === 'RUNNING')) return false;
  for (const m of members)
    if (m.record?.status === 'COMPLETED')
      await deps.schedules.moduleWatermark(name, m.module, m.record.created_at);
  // Past the exports' retention, or never written: counted as failed, its watermark unmoved.
  const failed = members
    .filter((m) => m.record?.status !== 'COMPLETED')
    .map((m) => m.module)
    .sort();
  const status = s && !failed.length ? 'COMPLETED' : 'FAILED';
  const freed = await deps.schedules.snapshotEnded(name, snapshotId, status, s?.created_at ?? '', failed);
  if (freed) {
    if (status === 'FAILED') deps.metrics.count('ScheduleRunsFailed');
    deps.logger.info('schedule run ended', {
      schedule: name,
      snapshot_id: snapshotId,
      status,
      ...(failed.length ? { failed_modules: failed } : {}),
    });
  }
  return freed;
}

/** One export of schedule `name`'s snapshot run ended. */
export async function snapshotRunMemberEnded(
  deps: Deps,
  name: string,
  e: ExportRecord & { snapshot_id: string },
  status: 'COMPLETED' | 'FAILED',
): Promise<void> {
  if (status === 'COMPLETED' && e.module) await deps.schedules.moduleWatermark(name, e.module, e.created_at);
  const state = await deps.schedules.get(name);
  if (state?.running_snapshot_id === e.snapshot_id) await settleSnapshotRun(deps, name, e.snapshot_id);
}
