/**
 * One run of a schedule: what EventBridge Scheduler invokes (functions/run-schedule.ts), what the
 * local stack's timer calls, and what `POST /schedules/{name}/runs` does.
 *
 *   1. claim the schedule (lib/schedules/store.ts): refused while its previous export is RUNNING (or
 *      another start holds a live claim): the run is skipped and recorded (ScheduleRunsSkipped);
 *   2. full mode, or the first run of an incremental schedule: the schedule's query as it is;
 *      incremental with a watermark: its criteria AND `Modified_Time > watermark - 10 min`
 *      (lib/schedules/incremental.ts), and its deletions since then are landed with the export;
 *      formula_refresh: `id`, `Modified_Time` and the module's formula fields (lib/schedules/formulas.ts);
 *      a module without formula fields has nothing to refresh: the run is recorded as skipped;
 *   3. start the export exactly as `POST /exports` does (`source: "schedule:<name>"`);
 *   4. record it as the running export. When it ends (lib/exports/end.ts) the schedule is free,
 *      and a COMPLETED run's start becomes the watermark.
 *
 * A multi-module schedule (`modules`) starts a snapshot instead: lib/schedules/snapshot-run.ts.
 *
 * A schedule whose running export (or snapshot) already ended (its end was not recorded: the function
 * died) is repaired here before the claim, so a lost update never blocks a schedule for good.
 */
import { randomUUID } from 'node:crypto';
import type { ExportDeps } from '../exports/deps.js';
import type { ExportQuery, ExportRecord } from '../exports/model.js';
import { startExport } from '../exports/start.js';
import type { SnapshotRecord } from '../snapshots/model.js';
import type { SnapshotMemberSpec } from '../snapshots/start.js';
import { startClaimedRun } from './claimed-run.js';
import {
  isModulesSchedule,
  type ModuleScheduleDefinition,
  type ModulesScheduleDefinition,
  type ScheduleDefinition,
} from './definitions.js';
import { formulaRefreshQuery } from './formulas.js';
import { incrementalCriteria, sinceOf } from './incremental.js';
import { settleSnapshotRun } from './snapshot-end.js';
import { startSnapshotRun } from './snapshot-run.js';
import type { LastRun, ScheduleState, ScheduleStore } from './store.js';
import { knownSubform } from './subforms.js';

export type ScheduleDeps = ExportDeps & {
  schedules: ScheduleStore;
  /**
   * Subform modules (default: the known line-item modules). Module discovery plugs in here to name
   * custom subforms, which the schedule configuration cannot know (lib/wiring.ts).
   */
  isSubform?: (module: string) => boolean | Promise<boolean>;
};

/** When a run starts: a snapshot run creates first pages until `deadline` (the sweep creates the rest). */
export interface RunOptions {
  deadline?: number;
  signal?: AbortSignal;
}

export type RunOutcome =
  | { kind: 'started'; record: ExportRecord; mode: ExportRecord['mode']; since?: string }
  | { kind: 'snapshot'; snapshot: SnapshotRecord; members: SnapshotMemberSpec[] }
  | { kind: 'skipped'; runningExportId: string | undefined; runningSnapshotId?: string | undefined }
  /** Nothing to export (a formula refresh of a module without formula fields): recorded as skipped. */
  | { kind: 'nothing'; reason: string };

interface PublicScheduleBase {
  name: string;
  mode: ScheduleDefinition['mode'];
  schedule: string;
  timezone: string;
  running: boolean;
  last_run: LastRun | null;
  skipped_runs: number;
  last_skipped_at: string | null;
}

/** `GET /schedules`: one entry per configured schedule. */
export type PublicSchedule =
  | (PublicScheduleBase & {
      module: string;
      fields: string[] | null;
      criteria: ModuleScheduleDefinition['criteria'] | null;
      cvid: string | null;
      /** The start of the last COMPLETED run (incremental runs export what changed after it, minus 10 min). */
      watermark: string | null;
      running_export_id: string | null;
    })
  | (PublicScheduleBase & {
      modules: ModulesScheduleDefinition['modules'];
      /** Per module, the start of its last COMPLETED export (every listed module; for "all", those run). */
      watermarks: Record<string, string | null>;
      running_snapshot_id: string | null;
    });

export const findSchedule = (
  deps: Pick<ExportDeps, 'scheduleDefinitions'>,
  name: string,
): ScheduleDefinition | undefined => deps.scheduleDefinitions?.find((d) => d.name === name);

/** Frees a schedule whose running export has ended without the schedule hearing of it. */
async function repair(deps: ScheduleDeps, name: string, state: ScheduleState | undefined): Promise<boolean> {
  if (state?.running_snapshot_id) {
    const ok = await settleSnapshotRun(deps, name, state.running_snapshot_id);
    if (ok)
      deps.logger.warn('schedule freed: its last run had ended unrecorded', {
        schedule: name,
        snapshot_id: state.running_snapshot_id,
      });
    return ok;
  }
  const running = state?.running_export_id;
  if (!running) return false;
  const e = await deps.exports.get(running);
  if (e?.status === 'RUNNING') return false;
  const status = e?.status ?? 'FAILED';
  const ok = await deps.schedules.ended(
    name,
    running,
    status,
    e?.created_at ?? state.last_run?.started_at ?? '',
  );
  if (ok)
    deps.logger.warn('schedule freed: its last run had ended unrecorded', {
      schedule: name,
      export_id: running,
      status,
    });
  return ok;
}

/** Runs schedule `def` once (or skips it: its previous run is still running). */
export async function runSchedule(
  deps: ScheduleDeps,
  def: ScheduleDefinition,
  opts: RunOptions = {},
): Promise<RunOutcome> {
  const token = randomUUID();
  let claimed = await deps.schedules.claim(def.name, token);
  if (!claimed && (await repair(deps, def.name, await deps.schedules.get(def.name))))
    claimed = await deps.schedules.claim(def.name, token);
  if (!claimed) {
    const state = await deps.schedules.get(def.name);
    await deps.schedules.skipped(def.name);
    deps.metrics.count('ScheduleRunsSkipped');
    deps.logger.warn('schedule run skipped: the previous run is still running', {
      schedule: def.name,
      running_export_id: state?.running_export_id,
      running_snapshot_id: state?.running_snapshot_id,
    });
    return {
      kind: 'skipped',
      runningExportId: state?.running_export_id,
      ...(state?.running_snapshot_id ? { runningSnapshotId: state.running_snapshot_id } : {}),
    };
  }
  if (isModulesSchedule(def)) return startSnapshotRun(deps, def, claimed, token, opts);
  return startExportRun(deps, def, claimed, token);
}

/** A single-module schedule's run: one export. */
async function startExportRun(
  deps: ScheduleDeps,
  def: ModuleScheduleDefinition,
  claimed: ScheduleState,
  token: string,
): Promise<RunOutcome> {
  let refresh: ExportQuery | undefined;
  if (def.mode === 'formula_refresh') {
    try {
      refresh = await formulaRefreshQuery(deps, def.module);
    } catch (err) {
      await deps.schedules.release(def.name, token).catch(() => undefined);
      deps.metrics.count('ScheduleRunsFailed');
      throw err;
    }
    if (!refresh) {
      const reason = `module ${def.module} has no formula field (field metadata: no data_type "formula"): nothing to refresh`;
      await deps.schedules.release(def.name, token);
      await deps.schedules.skipped(def.name, reason);
      deps.metrics.count('ScheduleRunsSkipped');
      deps.logger.warn('schedule run skipped', { schedule: def.name, reason });
      return { kind: 'nothing', reason };
    }
  }
  let since: string | undefined;
  const record = await startClaimedRun(
    deps,
    { schedule: def.name, token },
    {
      start: async (): Promise<ExportRecord> => {
        // A subform the configuration could not refuse (a custom one, known from discovery only) is still
        // read whole: an incremental run would keep its removed line items for ever (lib/schedules/subforms.ts).
        const subform = def.mode === 'incremental' && (await (deps.isSubform ?? knownSubform)(def.module));
        if (subform)
          deps.logger.warn('schedule of a subform module runs as a full export', {
            schedule: def.name,
            module: def.module,
          });
        const incremental = def.mode === 'incremental' && !subform && claimed.watermark !== undefined;
        const sinceMs = incremental ? sinceOf(claimed.watermark!) : undefined;
        since = sinceMs !== undefined ? new Date(sinceMs).toISOString() : undefined;
        const criteria = sinceMs !== undefined ? incrementalCriteria(def.criteria, sinceMs) : def.criteria;
        const { record } = await startExport(deps, {
          query: refresh ?? {
            module: def.module,
            ...(def.fields ? { fields: def.fields } : {}),
            ...(criteria ? { criteria } : {}),
            ...(def.cvid ? { cvid: def.cvid } : {}),
          },
          source: `schedule:${def.name}`,
          mode: refresh ? 'formula_refresh' : incremental ? 'incremental' : 'full',
          since,
        });
        return record;
      },
      record: (r) =>
        deps.schedules.started(def.name, token, { exportId: r.export_id, startedAt: r.created_at, since }),
      ids: (r) => ({ export_id: r.export_id }),
      details: (r) => ({ mode: r.mode, ...(since ? { since } : {}) }),
      lostClaim: 'it will not advance the watermark',
    },
  );
  return { kind: 'started', record, mode: record.mode, ...(since ? { since } : {}) };
}

/** Every configured schedule with its state. */
export async function listSchedules(deps: ScheduleDeps): Promise<PublicSchedule[]> {
  const defs = deps.scheduleDefinitions ?? [];
  return Promise.all(
    defs.map(async (d): Promise<PublicSchedule> => {
      const s = await deps.schedules.get(d.name);
      const base = {
        name: d.name,
        mode: d.mode,
        schedule: d.schedule,
        timezone: d.timezone,
        running: s?.running_export_id !== undefined || s?.running_snapshot_id !== undefined,
        last_run: s?.last_run ?? null,
        skipped_runs: s?.skipped_runs ?? 0,
        last_skipped_at: s?.last_skipped_at ?? null,
      };
      if (isModulesSchedule(d)) {
        const listed = d.modules === 'all' ? [] : d.modules;
        const watermarks: Record<string, string | null> = Object.fromEntries(listed.map((m) => [m, null]));
        for (const [m, w] of Object.entries(s?.watermarks ?? {}))
          if (d.modules === 'all' || m in watermarks) watermarks[m] = w;
        return {
          ...base,
          modules: d.modules,
          watermarks,
          running_snapshot_id: s?.running_snapshot_id ?? null,
        };
      }
      return {
        ...base,
        module: d.module,
        fields: d.fields ?? null,
        criteria: d.criteria ?? null,
        cvid: d.cvid ?? null,
        watermark: s?.watermark ?? null,
        running_export_id: s?.running_export_id ?? null,
      };
    }),
  );
}
