/**
 * One item per schedule in the state table (`pk = "schedule#<name>"`): its watermark, its last run and
 * the export running now. Every change is a conditional write, so a schedule never runs twice at once:
 *
 *   claim ──▶ (run_token: a run is starting, for CLAIM_LEASE_MS) ──started──▶ (running_export_id)
 *     │                                  └──release (the start failed)          │
 *     └─ refused while a run is starting or running: the run is skipped      ended ──▶ idle
 *                                                                  (COMPLETED: the watermark advances)
 */
import { z } from 'zod';
import { and, eq, exists, lt, missing, or } from '../ddb/expr.js';
import { parseOptionalRecord, parseRecord } from '../ddb/record.js';
import type { Table } from '../ddb/table.js';
import { EXPORT_STATUSES, type ExportStatus } from '../exports/model.js';

/** A claim whose starter died (before its export was recorded) may be taken over after this. */
export const CLAIM_LEASE_MS = 2 * 60_000;

export interface LastRun {
  export_id: string;
  status: ExportStatus;
  started_at: string;
}

export interface ScheduleState {
  pk: string;
  name: string;
  /** The start (created_at) of the last COMPLETED run. */
  watermark?: string;
  last_run?: LastRun;
  /** The export of the run in progress. */
  running_export_id?: string;
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
    .looseObject({ export_id: z.string(), status: z.enum(EXPORT_STATUSES), started_at: z.string() })
    .optional(),
  running_export_id: z.string().optional(),
  run_since: z.string().optional(),
  run_token: z.string().optional(),
  run_claimed_at: z.number().finite().optional(),
  skipped_runs: z.number().int().nonnegative().optional(),
  last_skipped_at: z.string().optional(),
  last_skip_reason: z.string().optional(),
  updated_at: z.string().optional(),
});

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
    return parseOptionalRecord(scheduleStateSchema, await this.table.get(key), {
      table: this.table.name,
      key,
    });
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
      and(missing('running_export_id'), or(missing('run_token'), lt('run_claimed_at', now - CLAIM_LEASE_MS))),
    );
    return r === false ? undefined : parseRecord(scheduleStateSchema, r, { table: this.table.name, key });
  }

  /** The claimed run's export exists: it is the running one. */
  async started(
    name: string,
    token: string,
    run: { exportId: string; startedAt: string; since?: string | undefined },
  ): Promise<boolean> {
    return (
      (await this.table.update(
        scheduleKey(name),
        {
          set: {
            running_export_id: run.exportId,
            last_run: { export_id: run.exportId, status: 'RUNNING', started_at: run.startedAt },
            ...(run.since ? { run_since: run.since } : {}),
            updated_at: this.iso(),
          },
          remove: ['run_token', 'run_claimed_at', ...(run.since ? [] : ['run_since'])],
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
