/**
 * One item per schedule in the state table (`pk = "schedule#<name>"`): its watermark, its last run and
 * the export running now. Every change is a conditional write, so a schedule never runs twice at once:
 *
 *   claim ──▶ (run_token: a run is starting, for CLAIM_LEASE_MS) ──started──▶ (running_export_id)
 *     │                                  └──release (the start failed)          │
 *     └─ refused while a run is starting or running: the run is skipped      ended ──▶ idle
 *                                                                  (COMPLETED: the watermark advances)
 *
 * A multi-module schedule runs a snapshot instead (`running_snapshot_id`, `snapshotStarted`,
 * `snapshotEnded`); its watermarks are one attribute per module, `watermark#<Module>`, each advanced on
 * its own (`moduleWatermark`) when that module's export COMPLETES, and never moved backwards.
 */
import { z } from 'zod';
import { and, eq, exists, lt, missing, or } from '../ddb/expr.js';
import { parseOptionalRecord, parseRecord } from '../ddb/record.js';
import type { Table } from '../ddb/table.js';
import { EXPORT_STATUSES, type ExportStatus } from '../exports/model.js';

/** A claim whose starter died (before its export was recorded) may be taken over after this. */
export const CLAIM_LEASE_MS = 2 * 60_000;

/** The last run: its export (single-module schedules) or its snapshot (multi-module schedules). */
export interface LastRun {
  export_id?: string;
  snapshot_id?: string;
  status: ExportStatus;
  started_at: string;
  /** A snapshot run's modules whose export FAILED (their watermark did not move). */
  failed_modules?: string[];
}

/** The attribute of one module's watermark (a multi-module schedule's). */
export const moduleWatermarkAttr = (module: string): string => `watermark#${module}`;

export interface ScheduleState {
  pk: string;
  name: string;
  /** The start (created_at) of the last COMPLETED run. */
  watermark?: string;
  last_run?: LastRun;
  /** The export of the run in progress. */
  running_export_id?: string;
  /** The snapshot of the run in progress (a multi-module schedule). */
  running_snapshot_id?: string;
  /** Per module, the start of its last COMPLETED export (from the `watermark#<Module>` attributes). */
  watermarks?: Record<string, string>;
  /** Where that run's incremental window starts (ISO), when it is incremental. */
  run_since?: string;
  run_token?: string;
  run_claimed_at?: number;
  skipped_runs?: number;
  last_skipped_at?: string;
  /** Why the last run was skipped, when not because the previous one was still running. */
  last_skip_reason?: string;
  updated_at?: string;
}

/** The schedule item as read back (loose: attributes this release does not name pass through). */
export const scheduleStateSchema: z.ZodType<ScheduleState> = z.looseObject({
  pk: z.string().startsWith('schedule#'),
  name: z.string().min(1),
  watermark: z.string().optional(),
  last_run: z
    .looseObject({
      export_id: z.string().optional(),
      snapshot_id: z.string().optional(),
      status: z.enum(EXPORT_STATUSES),
      started_at: z.string(),
      failed_modules: z.array(z.string()).optional(),
    })
    .optional(),
  running_export_id: z.string().optional(),
  running_snapshot_id: z.string().optional(),
  run_since: z.string().optional(),
  run_token: z.string().optional(),
  run_claimed_at: z.number().finite().optional(),
  skipped_runs: z.number().int().nonnegative().optional(),
  last_skipped_at: z.string().optional(),
  last_skip_reason: z.string().optional(),
  updated_at: z.string().optional(),
});

const WATERMARK_PREFIX = 'watermark#';

/** The state as read, with its per-module watermarks gathered (each a string, else the item is refused). */
function withWatermarks(s: ScheduleState, context: { table: string; key: object }): ScheduleState {
  const watermarks: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) {
    if (!k.startsWith(WATERMARK_PREFIX)) continue;
    if (typeof v !== 'string')
      throw new Error(`${context.table} ${JSON.stringify(context.key)}: ${k} is not a string`);
    watermarks[k.slice(WATERMARK_PREFIX.length)] = v;
  }
  return Object.keys(watermarks).length ? { ...s, watermarks } : s;
}

export const scheduleKey = (name: string): { pk: string } => ({ pk: `schedule#${name}` });

export class ScheduleStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => number = Date.now,
  ) {}

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  async get(name: string): Promise<ScheduleState | undefined> {
    const key = scheduleKey(name);
    const s = parseOptionalRecord(scheduleStateSchema, await this.table.get(key), {
      table: this.table.name,
      key,
    });
    return s && withWatermarks(s, { table: this.table.name, key });
  }

  /**
   * Takes the schedule for one run: only when no run is running and no other start holds a live
   * claim. Returns the state after the claim (its watermark), or undefined.
   */
  async claim(name: string, token: string): Promise<ScheduleState | undefined> {
    const now = this.now();
    const key = scheduleKey(name);
    const r = await this.table.update(
      key,
      { set: { name, run_token: token, run_claimed_at: now, updated_at: this.iso() } },
      and(
        missing('running_export_id'),
        missing('running_snapshot_id'),
        or(missing('run_token'), lt('run_claimed_at', now - CLAIM_LEASE_MS)),
      ),
    );
    if (r === false) return undefined;
    const context = { table: this.table.name, key };
    return withWatermarks(parseRecord(scheduleStateSchema, r, context), context);
  }

  /** The claimed run's export exists: it is the running one. */
  started(
    name: string,
    token: string,
    run: { exportId: string; startedAt: string; since?: string | undefined },
  ): Promise<boolean> {
    return this.running(name, token, {
      set: {
        running_export_id: run.exportId,
        last_run: { export_id: run.exportId, status: 'RUNNING', started_at: run.startedAt },
        ...(run.since ? { run_since: run.since } : {}),
      },
      keepSince: run.since !== undefined,
    });
  }

  /** The claimed run's snapshot exists (a multi-module schedule): it is the running one. */
  snapshotStarted(
    name: string,
    token: string,
    run: { snapshotId: string; startedAt: string },
  ): Promise<boolean> {
    return this.running(name, token, {
      set: {
        running_snapshot_id: run.snapshotId,
        last_run: { snapshot_id: run.snapshotId, status: 'RUNNING', started_at: run.startedAt },
      },
      keepSince: false,
    });
  }

  /** The claim (`token`) becomes the running run: `set`, and the claim's attributes go. */
  private async running(
    name: string,
    token: string,
    r: { set: Record<string, unknown>; keepSince: boolean },
  ): Promise<boolean> {
    return (
      (await this.table.update(
        scheduleKey(name),
        {
          set: { ...r.set, updated_at: this.iso() },
          remove: ['run_token', 'run_claimed_at', ...(r.keepSince ? [] : ['run_since'])],
        },
        eq('run_token', token),
      )) !== false
    );
  }

  /** The claimed run could not start (Zoho refused the job): the schedule is free again. */
  async release(name: string, token: string): Promise<boolean> {
    return (
      (await this.table.update(
        scheduleKey(name),
        { set: { updated_at: this.iso() }, remove: ['run_token', 'run_claimed_at'] },
        eq('run_token', token),
      )) !== false
    );
  }

  /**
   * The running export ended: its status becomes the last run's, and a COMPLETED run's start becomes
   * the watermark. Only for the export that is running (a second call does nothing).
   */
  async ended(
    name: string,
    exportId: string,
    status: Exclude<ExportStatus, 'RUNNING'>,
    startedAt: string,
  ): Promise<boolean> {
    return (
      (await this.table.update(
        scheduleKey(name),
        {
          set: {
            last_run: { export_id: exportId, status, started_at: startedAt },
            ...(status === 'COMPLETED' ? { watermark: startedAt } : {}),
            updated_at: this.iso(),
          },
          remove: ['running_export_id', 'run_since'],
        },
        eq('running_export_id', exportId),
      )) !== false
    );
  }

  /**
   * One module of a snapshot run COMPLETED: its watermark becomes that export's start, unless it is
   * already as late (a second call, or a late end of an older run, never moves it backwards).
   */
  async moduleWatermark(name: string, module: string, startedAt: string): Promise<boolean> {
    const attr = moduleWatermarkAttr(module);
    return (
      (await this.table.update(
        scheduleKey(name),
        { set: { [attr]: startedAt, updated_at: this.iso() } },
        and(exists('pk'), or(missing(attr), lt(attr, startedAt))),
      )) !== false
    );
  }

  /**
   * The running snapshot ended (every module's export has): the schedule is free. Its modules'
   * watermarks were advanced one by one (`moduleWatermark`). Only for the snapshot that is running.
   */
  async snapshotEnded(
    name: string,
    snapshotId: string,
    status: Exclude<ExportStatus, 'RUNNING'>,
    startedAt: string,
    failedModules: string[],
  ): Promise<boolean> {
    return (
      (await this.table.update(
        scheduleKey(name),
        {
          set: {
            last_run: {
              snapshot_id: snapshotId,
              status,
              started_at: startedAt,
              failed_modules: failedModules,
            },
            updated_at: this.iso(),
          },
          remove: ['running_snapshot_id'],
        },
        eq('running_snapshot_id', snapshotId),
      )) !== false
    );
  }

  /** A run was skipped: the previous one was still running, or `reason` (nothing to export). */
  async skipped(name: string, reason?: string): Promise<boolean> {
    return (
      (await this.table.update(
        scheduleKey(name),
        {
          set: {
            last_skipped_at: this.iso(),
            updated_at: this.iso(),
            ...(reason ? { last_skip_reason: reason } : {}),
          },
          add: { skipped_runs: 1 },
          ...(reason ? {} : { remove: ['last_skip_reason'] }),
        },
        exists('pk'),
      )) !== false
    );
  }
}
