/**
 * A snapshot (`POST /snapshots`): one export per module, under one `snapshot_id`, started as one unit.
 * Its item lives in the exports table (`kind: "snapshot"`, keyed `export_id` = the snapshot id, so the
 * `by-created` index lists snapshots newest first); it records which export is which module, and
 * nothing of their progress: the snapshot's status is derived from its exports when read.
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { MODULE_PATTERN } from '../exports/model.js';

/** `sn_` and a ULID: unique, and sorted by creation time. */
export const newSnapshotId = (now: number = Date.now()): string => `sn_${ulid(now)}`;
export const SNAPSHOT_ID_PATTERN = /^sn_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * At most this many modules in one snapshot: its item and every module's export are written in one
 * DynamoDB transaction (100 writes at most, one kept for the idempotency key).
 */
export const MAX_SNAPSHOT_MODULES = 98;

export const SNAPSHOT_MODES = ['full', 'incremental'] as const;

export interface SnapshotMember {
  module: string;
  export_id: string;
}

export interface SnapshotRecord {
  export_id: string;
  kind: 'snapshot';
  /** `full` (POST /snapshots); a multi-module schedule's run takes its mode (each export has its own). */
  mode: (typeof SNAPSHOT_MODES)[number];
  /** Who started it: absent for `POST /snapshots`, `schedule:<name>` for a schedule's run. */
  source?: `schedule:${string}`;
  modules: SnapshotMember[];
  created_at: string;
  updated_at: string;
  /** The once-only end (lib/snapshots/end.ts): who holds it and until when. */
  end_owner?: string;
  end_until?: number;
  /** Set once the manifest is written and the event published. */
  ended_at?: string;
  manifest?: { bucket: string; key: string } | null;
  expires_at?: number;
}

export const snapshotRecordSchema: z.ZodType<SnapshotRecord> = z.looseObject({
  export_id: z.string().regex(SNAPSHOT_ID_PATTERN),
  kind: z.literal('snapshot'),
  mode: z.enum(SNAPSHOT_MODES),
  source: z.templateLiteral(['schedule:', z.string()]).optional(),
  modules: z.array(
    z.strictObject({ module: z.string().regex(MODULE_PATTERN), export_id: z.string().min(1) }),
  ),
  created_at: z.string().min(1),
  updated_at: z.string().min(1),
  end_owner: z.string().optional(),
  end_until: z.number().finite().optional(),
  ended_at: z.string().optional(),
  manifest: z.looseObject({ bucket: z.string(), key: z.string() }).nullable().optional(),
  expires_at: z.number().finite().optional(),
});

export type SnapshotStatus = 'RUNNING' | 'COMPLETED' | 'FAILED';

/** One module as the snapshot JSON shows it. */
export interface PublicSnapshotModule {
  module: string;
  export_id: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  pages: number;
  records: number;
  bytes: number;
  error: { code: string; message: string } | null;
}

export interface PublicSnapshot {
  snapshot_id: string;
  status: SnapshotStatus;
  mode: SnapshotRecord['mode'];
  /** The modules whose export FAILED (the others still land). */
  failed_modules: string[];
  modules: PublicSnapshotModule[];
  totals: {
    modules: number;
    completed: number;
    failed: number;
    running: number;
    records: number;
    bytes: number;
  };
  created_at: string;
  completed_at: string | null;
  manifest: { bucket: string; key: string } | null;
}

/** The snapshot's status from its modules': RUNNING while one runs, then FAILED if one failed. */
export function snapshotView(s: SnapshotRecord, modules: PublicSnapshotModule[]): PublicSnapshot {
  const count = (st: PublicSnapshotModule['status']) => modules.filter((m) => m.status === st).length;
  const running = count('RUNNING');
  const failed = modules
    .filter((m) => m.status === 'FAILED')
    .map((m) => m.module)
    .sort();
  const status: SnapshotStatus = running > 0 ? 'RUNNING' : failed.length ? 'FAILED' : 'COMPLETED';
  return {
    snapshot_id: s.export_id,
    status,
    mode: s.mode,
    failed_modules: failed,
    modules,
    totals: {
      modules: modules.length,
      completed: count('COMPLETED'),
      failed: failed.length,
      running,
      records: modules.reduce((n, m) => n + m.records, 0),
      bytes: modules.reduce((n, m) => n + m.bytes, 0),
    },
    created_at: s.created_at,
    completed_at: status === 'RUNNING' ? null : (s.ended_at ?? null),
    manifest: s.manifest ?? null,
  };
}
