/**
 * A multi-module schedule's run (`modules`: "all" or a list): ONE snapshot (lib/snapshots/start.ts)
 * whose exports are planned per module. A module with a watermark (the start of its last COMPLETED
 * export) in an incremental schedule exports what changed since `watermark - 10 min` and lands its
 * deletions since then, as a single-module incremental run does; a subform (read whole: Zoho's
 * deleted-records API does not cover line items), a module without a watermark, and every module of a
 * full schedule export the whole module. The claim is lib/schedules/run.ts's; the end is
 * lib/schedules/snapshot-end.ts.
 */
import type { SnapshotMemberSpec } from '../snapshots/start.js';
import { resolveModules, startScheduleSnapshot } from '../snapshots/start.js';
import { startClaimedRun } from './claimed-run.js';
import type { ModulesScheduleDefinition } from './definitions.js';
import { incrementalCriteria, sinceOf } from './incremental.js';
import type { RunOptions, RunOutcome, ScheduleDeps } from './run.js';
import type { ScheduleState } from './store.js';
import { knownSubform } from './subforms.js';

/** Each module's export: full, or incremental from its own watermark. */
export async function planMembers(
  deps: Pick<ScheduleDeps, 'isSubform'>,
  mode: ModulesScheduleDefinition['mode'],
  modules: string[],
  watermarks: Record<string, string>,
): Promise<SnapshotMemberSpec[]> {
  const isSubform = deps.isSubform ?? knownSubform;
  return Promise.all(
    modules.map(async (module): Promise<SnapshotMemberSpec> => {
      const watermark = watermarks[module];
      if (mode !== 'incremental' || watermark === undefined || (await isSubform(module)))
        return { module, mode: 'full' };
      const sinceMs = sinceOf(watermark);
      return {
        module,
        mode: 'incremental',
        since: new Date(sinceMs).toISOString(),
        criteria: incrementalCriteria(undefined, sinceMs),
      };
    }),
  );
}

/** The claimed run of `def`: its snapshot started and recorded as the running one. */
export async function startSnapshotRun(
  deps: ScheduleDeps,
  def: ModulesScheduleDefinition,
  claimed: ScheduleState,
  token: string,
  opts: RunOptions,
): Promise<RunOutcome> {
  let members: SnapshotMemberSpec[] = [];
  const snapshot = await startClaimedRun(
    deps,
    { schedule: def.name, token },
    {
      start: async () => {
        const modules = await resolveModules(deps, def.modules, opts.signal);
        members = await planMembers(deps, def.mode, modules, claimed.watermarks ?? {});
        return startScheduleSnapshot(deps, {
          schedule: def.name,
          mode: def.mode,
          members,
          deadline: opts.deadline ?? 0,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      },
      record: (s) =>
        deps.schedules.snapshotStarted(def.name, token, { snapshotId: s.export_id, startedAt: s.created_at }),
      ids: (s) => ({ snapshot_id: s.export_id }),
      details: () => ({
        modules: members.length,
        incremental: members.filter((m) => m.mode === 'incremental').length,
      }),
      // Its COMPLETED modules still advance their watermarks (never backwards).
      lostClaim: 'its completed modules still advance their watermarks, but it does not hold the schedule',
    },
  );
  return { kind: 'snapshot', snapshot, members };
}
