/**
 * Module record stores: what jobs created over HTTP export, and what the deleted-records API lists.
 *
 * A store is an append-only change log per module:
 *   reset  n records, never modified (Created_Time / Modified_Time implicit, see implicitTimes)
 *   create k records at the end (Created_Time = Modified_Time = the creation time)
 *   modify records: version + 1, Modified_Time = the modification time, every value regenerated
 *   recompute records: their formula fields get new values; version and Modified_Time stay (Zoho
 *     recomputes a formula, e.g. one using Now(), without touching Modified_Time)
 *   delete records: they leave the store and appear in the deleted-records API
 *   restore records: recycle-bin deletions undone; the record is live again with the version and
 *     Modified_Time it had (the fake's choice: a restore is no edit), and leaves the deleted-records API
 * Record i (0-based) has the id recordId(module, i), so id order is index order. A job remembers the
 * log position (`seq`) when it was created; replaying the log up to there gives its snapshot, so
 * snapshots stay a number, never a copy of the rows. Times are kept to the second (Zoho's datetimes
 * have no milliseconds).
 */
import {
  ITEMS_PER_PARENT,
  implicitTimes,
  moduleSalt,
  recordId,
  recordIndex,
  rowParentModule,
} from './fields.js';
import type { ModuleInfo, RecordInfo, RecordTarget } from './types.js';
import { orgDateTime } from './vocab.js';

export type ChangeOp =
  | { op: 'reset'; at: number; count: number }
  /** `parent`: the parent record of line items created in a subform module (subforms.ts). */
  | { op: 'create'; at: number; count: number; parent?: string }
  | { op: 'modify'; at: number; indexes: number[] }
  | { op: 'recompute'; at: number; indexes: number[] }
  | { op: 'delete'; at: number; indexes: number[]; type: 'recycle' | 'permanent'; by: string }
  | { op: 'restore'; at: number; indexes: number[] };

export interface DeletedInfo {
  at: number;
  type: 'recycle' | 'permanent';
  by: string;
}

/** The store replayed up to a log position. */
export interface StoreState {
  seq: number;
  /** Record slots: indexes 0..slots-1 (live or deleted). */
  slots: number;
  /** Indexes below this have implicit times unless modified. */
  initial: number;
  created: Map<number, number>;
  mods: Map<number, { version: number; at: number }>;
  deleted: Map<number, DeletedInfo>;
  /** Parents of line items created after the reset (subform modules; reset items: ITEMS_PER_PARENT). */
  parents: Map<number, string>;
  /** Formula recomputations of each record's current version (absent: none). */
  formulas: Map<number, number>;
}

/** One record as the CSV writer and the criteria see it (reused between records). */
export interface RecordView {
  n: number;
  id: string;
  version: number;
  createdMs: number;
  modifiedMs: number;
  /** The parent record's id (subform modules only). */
  parent?: string;
  /** How often the version's formula fields were recomputed (absent or 0: never). */
  formulaGen?: number;
}

export class StoreError extends Error {}

const toSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

export class ModuleStore {
  readonly salt: number;
  /** The parent module when this is a line-item (subform) or field-tracker module. */
  readonly parentModule: string | undefined;
  private latest: StoreState;
  private readonly cache = new Map<number, StoreState>();

  constructor(
    readonly module: string,
    readonly log: ChangeOp[],
  ) {
    this.salt = moduleSalt(module);
    this.parentModule = rowParentModule(module);
    this.latest = this.replay(log.length);
  }

  get seq(): number {
    return this.log.length;
  }

  /** The state at log position `seq` (default: now). */
  state(seq = this.log.length): StoreState {
    if (seq === this.latest.seq) return this.latest;
    const hit = this.cache.get(seq);
    if (hit) return hit;
    const s = this.replay(seq);
    if (this.cache.size >= 8) this.cache.delete(this.cache.keys().next().value as number);
    this.cache.set(seq, s);
    return s;
  }

  private replay(seq: number): StoreState {
    const s: StoreState = {
      seq,
      slots: 0,
      initial: 0,
      created: new Map(),
      mods: new Map(),
      deleted: new Map(),
      parents: new Map(),
      formulas: new Map(),
    };
    for (let i = 0; i < seq; i++) apply(s, this.log[i]!);
    s.seq = seq;
    return s;
  }

  private append(op: ChangeOp): void {
    this.log.push(op);
    // The latest state is mutated in place; older snapshots are replayed from the log when needed.
    apply(this.latest, op);
    this.latest.seq = this.log.length;
  }

  reset(count: number, at: number): void {
    if (!Number.isInteger(count) || count < 0 || count > 999_999_999)
      throw new StoreError(`invalid record count ${count}`);
    this.append({ op: 'reset', at: toSecond(at), count });
  }

  create(count: number, at: number, parent?: string): string[] {
    if (!Number.isInteger(count) || count < 1) throw new StoreError(`invalid count ${count}`);
    const first = this.latest.slots;
    if (first + count > 999_999_999) throw new StoreError('store full');
    this.append({ op: 'create', at: toSecond(at), count, ...(parent !== undefined ? { parent } : {}) });
    return Array.from({ length: count }, (_, i) => recordId(this.module, first + i));
  }

  /** Live record indexes of a target; throws on unknown or deleted records. */
  resolve(target: RecordTarget): number[] {
    const s = this.latest;
    const out = new Set<number>();
    for (const id of target.ids ?? []) {
      const n = recordIndex(this.module, String(id));
      if (n === undefined || n >= s.slots) throw new StoreError(`no record ${id} in ${this.module}`);
      out.add(n);
    }
    for (const n of target.indexes ?? []) {
      if (!Number.isInteger(n) || n < 0 || n >= s.slots)
        throw new StoreError(`no record at index ${n} in ${this.module}`);
      out.add(n);
    }
    for (const n of out) {
      if (s.deleted.has(n)) throw new StoreError(`record ${recordId(this.module, n)} is deleted`);
    }
    return [...out].sort((a, b) => a - b);
  }

  modify(target: RecordTarget, at: number): string[] {
    const indexes = this.resolve(target);
    if (indexes.length === 0) return [];
    this.append({ op: 'modify', at: toSecond(at), indexes });
    return indexes.map((n) => recordId(this.module, n));
  }

  /** Recomputes the formula fields of records: new values, same version and Modified_Time. */
  recompute(target: RecordTarget, at: number): string[] {
    const indexes = this.resolve(target);
    if (indexes.length === 0) return [];
    this.append({ op: 'recompute', at: toSecond(at), indexes });
    return indexes.map((n) => recordId(this.module, n));
  }

  delete(target: RecordTarget, at: number, type: 'recycle' | 'permanent', by: string): string[] {
    const indexes = this.resolve(target);
    if (indexes.length === 0) return [];
    this.append({ op: 'delete', at: toSecond(at), indexes, type, by });
    return indexes.map((n) => recordId(this.module, n));
  }

  /** Undoes recycle-bin deletions (Zoho's restore); a live or permanently deleted record is refused. */
  restore(target: RecordTarget, at: number): string[] {
    const s = this.latest;
    const indexes = new Set<number>();
    for (const id of target.ids ?? []) {
      const n = recordIndex(this.module, String(id));
      if (n === undefined || n >= s.slots) throw new StoreError(`no record ${id} in ${this.module}`);
      indexes.add(n);
    }
    for (const n of target.indexes ?? []) {
      if (!Number.isInteger(n) || n < 0 || n >= s.slots)
        throw new StoreError(`no record at index ${n} in ${this.module}`);
      indexes.add(n);
    }
    for (const n of indexes) {
      const d = s.deleted.get(n);
      if (!d) throw new StoreError(`record ${recordId(this.module, n)} is not deleted`);
      if (d.type !== 'recycle')
        throw new StoreError(
          `record ${recordId(this.module, n)} was deleted permanently: it cannot be restored`,
        );
    }
    if (indexes.size === 0) return [];
    const sorted = [...indexes].sort((a, b) => a - b);
    this.append({ op: 'restore', at: toSecond(at), indexes: sorted });
    return sorted.map((n) => recordId(this.module, n));
  }

  info(): ModuleInfo {
    const s = this.latest;
    return {
      module: this.module,
      count: s.slots - s.deleted.size,
      slots: s.slots,
      deleted: s.deleted.size,
      seq: s.seq,
    };
  }

  /** The parent record id of line item `n` (undefined outside subform modules). */
  parentOf(s: StoreState, n: number): string | undefined {
    if (!this.parentModule) return undefined;
    return s.parents.get(n) ?? recordId(this.parentModule, Math.floor(n / ITEMS_PER_PARENT));
  }

  /** Fills `r` with record `n` of state `s` (which must not be deleted there). */
  view(s: StoreState, n: number, r: RecordView): RecordView {
    r.n = n;
    r.id = recordId(this.module, n);
    const mod = s.mods.get(n);
    const created = s.created.get(n);
    if (created !== undefined) {
      r.createdMs = created;
      r.modifiedMs = created;
    } else {
      const t = implicitTimes(this.salt, n);
      r.createdMs = t.createdMs;
      r.modifiedMs = t.modifiedMs;
    }
    r.version = 0;
    r.formulaGen = s.formulas.get(n) ?? 0;
    if (this.parentModule) r.parent = this.parentOf(s, n);
    if (mod) {
      r.version = mod.version;
      r.modifiedMs = Math.max(r.createdMs, mod.at);
    }
    return r;
  }

  /** Live records of state `s` matching `pred`, in id order, after skipping `skip` matches. */
  *select(
    s: StoreState,
    pred: ((r: RecordView) => boolean) | undefined,
    skip = 0,
    take = Number.POSITIVE_INFINITY,
  ): Generator<RecordView> {
    const r: RecordView = { n: 0, id: '', version: 0, createdMs: 0, modifiedMs: 0 };
    let skipped = 0;
    let taken = 0;
    if (!pred && s.deleted.size === 0) {
      for (let n = skip; n < s.slots && taken < take; n++, taken++) yield this.view(s, n, r);
      return;
    }
    for (let n = 0; n < s.slots && taken < take; n++) {
      if (s.deleted.has(n)) continue;
      this.view(s, n, r);
      if (pred && !pred(r)) continue;
      if (skipped < skip) {
        skipped++;
        continue;
      }
      taken++;
      yield r;
    }
  }

  /** Number of live records of state `s` matching `pred`. */
  count(s: StoreState, pred: ((r: RecordView) => boolean) | undefined): number {
    if (!pred) return s.slots - s.deleted.size;
    let c = 0;
    for (const _ of this.select(s, pred)) c++;
    return c;
  }

  records(range: { from?: number; limit?: number } = {}): RecordInfo[] {
    const s = this.latest;
    const from = Math.max(0, range.from ?? 0);
    const to = Math.min(s.slots, from + (range.limit ?? s.slots));
    const r: RecordView = { n: 0, id: '', version: 0, createdMs: 0, modifiedMs: 0 };
    const out: RecordInfo[] = [];
    for (let n = from; n < to; n++) {
      this.view(s, n, r);
      const info: RecordInfo = {
        index: n,
        id: r.id,
        version: r.version,
        createdTime: orgDateTime(r.createdMs),
        modifiedTime: orgDateTime(r.modifiedMs),
        createdMs: r.createdMs,
        modifiedMs: r.modifiedMs,
      };
      if (r.parent !== undefined) info.parentId = r.parent;
      const d = s.deleted.get(n);
      if (d) info.deleted = { ...d };
      out.push(info);
    }
    return out;
  }
}

function apply(s: StoreState, op: ChangeOp): void {
  switch (op.op) {
    case 'reset':
      s.slots = op.count;
      s.initial = op.count;
      s.created = new Map();
      s.mods = new Map();
      s.deleted = new Map();
      s.parents = new Map();
      s.formulas = new Map();
      return;
    case 'create':
      for (let i = 0; i < op.count; i++) {
        s.created.set(s.slots + i, op.at);
        if (op.parent !== undefined) s.parents.set(s.slots + i, op.parent);
      }
      s.slots += op.count;
      return;
    case 'modify':
      for (const n of op.indexes) {
        const prev = s.mods.get(n);
        s.mods.set(n, { version: (prev?.version ?? 0) + 1, at: op.at });
        // A new version computes its formulas afresh.
        s.formulas.delete(n);
      }
      return;
    case 'recompute':
      for (const n of op.indexes) s.formulas.set(n, (s.formulas.get(n) ?? 0) + 1);
      return;
    case 'delete':
      for (const n of op.indexes) s.deleted.set(n, { at: op.at, type: op.type, by: op.by });
      return;
    case 'restore':
      for (const n of op.indexes) s.deleted.delete(n);
      return;
  }
}

/** Every module's store, created on first use with the configured record count. */
export class RecordStores {
  readonly stores = new Map<string, ModuleStore>();

  constructor(
    private readonly initialCount: (module: string) => number,
    private readonly onChange: () => void,
  ) {}

  get(module: string): ModuleStore {
    let s = this.stores.get(module);
    if (!s) {
      s = new ModuleStore(module, [{ op: 'reset', at: 0, count: this.initialCount(module) }]);
      this.stores.set(module, s);
      this.onChange();
    }
    return s;
  }

  toJSON(): Record<string, ChangeOp[]> {
    const out: Record<string, ChangeOp[]> = {};
    for (const [m, s] of this.stores) out[m] = s.log;
    return out;
  }

  load(data: Record<string, ChangeOp[]>): void {
    this.stores.clear();
    for (const [m, log] of Object.entries(data)) this.stores.set(m, new ModuleStore(m, log));
  }
}
