/**
 * The snapshot items of the exports table (lib/snapshots/model.ts): written with their exports in one
 * transaction, read with zod, listed newest first through the `by-created` index (partition
 * `snapshot`), and ended once (`claimEnd` / `ended`, a leased claim like the exports' `claimEvent`).
 */
import { randomUUID } from 'node:crypto';
import { decodeCursor, encodeCursor, readKeyShape } from '../ddb/cursor.js';
import { and, eq, exists, lt, missing, or } from '../ddb/expr.js';
import { getRecord, parseAllRecords } from '../ddb/record.js';
import { keyOf, type Table, type TransactOp } from '../ddb/table.js';
import { EXPORT_INDEXES, TABLES } from '../tables.js';
import { type SnapshotRecord, snapshotRecordSchema } from './model.js';

/** The snapshots of the exports' table, on the exports' clock. */
export const snapshotStore = (deps: {
  exports: { table: Table };
  now?: (() => number) | undefined;
}): SnapshotStore => new SnapshotStore(deps.exports.table, deps.now ?? Date.now);

const LIST_KEY = readKeyShape(TABLES.exports, EXPORT_INDEXES.all);

export class SnapshotStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => number = Date.now,
  ) {}

  private key(id: string): { export_id: string } {
    return { export_id: id };
  }

  /** The put of a new snapshot (fails if the id exists), for the transaction that writes its exports. */
  createOp(s: SnapshotRecord): TransactOp {
    return { type: 'put', table: this.table, item: s, condition: missing('export_id') };
  }

  async get(id: string): Promise<SnapshotRecord | undefined> {
    return getRecord(this.table, snapshotRecordSchema, this.key(id));
  }

  /** Newest first; a cursor of another listing is refused (400 INVALID_CURSOR). */
  async list(opts: {
    limit: number;
    cursor?: string;
  }): Promise<{ snapshots: SnapshotRecord[]; next: string | null }> {
    const page = await this.table.query({
      index: EXPORT_INDEXES.all,
      partition: 'snapshot',
      limit: opts.limit,
      startKey: opts.cursor ? decodeCursor(opts.cursor, LIST_KEY) : undefined,
      descending: true,
    });
    const snapshots = parseAllRecords(snapshotRecordSchema, page.items, this.table.name, (i) =>
      keyOf(this.table.definition, i),
    );
    return { snapshots, next: encodeCursor(page.lastKey) };
  }

  /**
   * Takes the snapshot's end for `leaseMs` (writing its manifest, publishing its event): one taker at a
   * time, never after it has ended; a taker that dies is replaced when its lease runs out.
   */
  async claimEnd(id: string, leaseMs: number): Promise<string | undefined> {
    const now = this.now();
    const owner = randomUUID();
    const ok = await this.table.update(
      this.key(id),
      { set: { end_owner: owner, end_until: now + leaseMs, updated_at: new Date(now).toISOString() } },
      and(eq('kind', 'snapshot'), missing('ended_at'), or(missing('end_until'), lt('end_until', now))),
    );
    return ok !== false ? owner : undefined;
  }

  /** The end could not be finished: given back at once, for the next export event's retry. */
  async releaseEnd(id: string, owner: string): Promise<boolean> {
    return (
      (await this.table.update(
        this.key(id),
        { remove: ['end_owner', 'end_until'] },
        eq('end_owner', owner),
      )) !== false
    );
  }

  /** The manifest is written and the event published: the snapshot has ended, for good. */
  async ended(
    id: string,
    owner: string,
    manifest: { bucket: string; key: string },
    /** When its last export expires (epoch s): the snapshot goes with them. */
    expiresAt: number | undefined,
  ): Promise<boolean> {
    const at = new Date(this.now()).toISOString();
    const set = {
      ended_at: at,
      updated_at: at,
      manifest,
      ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
    };
    const r = await this.table.update(
      this.key(id),
      { set, remove: ['end_owner', 'end_until'] },
      and(eq('end_owner', owner), exists('end_until'), missing('ended_at')),
    );
    return r !== false;
  }
}
