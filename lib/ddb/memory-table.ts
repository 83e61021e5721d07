import { keyAttributes, type TableDefinition } from '../tables.js';
import { applyUpdate, type Cond, evaluate, type Item, type Scalar, type Update } from './expr.js';
import {
  keyOf,
  type Page,
  type QueryInput,
  type SortCondition,
  type Table,
  type TransactOp,
  toItem,
} from './table.js';

/** Every attribute a condition names. */
function condPaths(c: Cond): string[] {
  switch (c.op) {
    case 'and':
    case 'or':
      return c.conds.flatMap(condPaths);
    case 'not':
      return condPaths(c.cond);
    default:
      return [c.path];
  }
}

const cmp = (a: unknown, b: unknown): number => {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

function sortMatches(v: unknown, s: SortCondition): boolean {
  if (v === undefined) return false;
  const c = cmp(v, s.value);
  switch (s.op) {
    case 'eq':
      return c === 0;
    case 'lt':
      return c < 0;
    case 'le':
      return c <= 0;
    case 'gt':
      return c > 0;
    case 'ge':
      return c >= 0;
    case 'begins_with':
      return typeof v === 'string' && v.startsWith(String(s.value));
    case 'between':
      return c >= 0 && cmp(v, s.to) <= 0;
  }
}

/**
 * An in-memory table with DynamoDB's semantics for what the product uses: conditional put, update and
 * delete, queries on the table or a GSI (sparse: items without the index keys are not in it) with a
 * sort-key condition, order, limit, cursor and filter, scans, and all-or-nothing transactions.
 */
export class MemoryTable implements Table {
  private readonly items = new Map<string, Item>();

  constructor(
    readonly name: string,
    readonly definition: TableDefinition,
  ) {}

  id(key: Item): string {
    return JSON.stringify(keyOf(this.definition, key));
  }

  async get(key: Item): Promise<Item | undefined> {
    const it = this.items.get(this.id(key));
    return it ? structuredClone(it) : undefined;
  }

  /** Every item (tests). */
  all(): Item[] {
    return [...this.items.values()].map((i) => structuredClone(i));
  }

  private check(op: TransactOp): boolean {
    const key = op.type === 'put' ? toItem(op.item) : op.key;
    return !op.condition || evaluate(op.condition, this.items.get(this.id(key)));
  }

  /** DynamoDB refuses a key or index-key attribute of the wrong type (null included). */
  private validate(item: Item): void {
    for (const a of keyAttributes(this.definition)) {
      const v = item[a.name];
      if (v === undefined) continue;
      if (a.type === 'S' ? typeof v !== 'string' : typeof v !== 'number') {
        throw new Error(
          `Type mismatch for Index Key ${a.name} Expected: ${a.type} Actual: ${v === null ? 'NULL' : typeof v}`,
        );
      }
    }
  }

  private apply(op: TransactOp): Item | undefined {
    const key = op.type === 'put' ? toItem(op.item) : op.key;
    const id = this.id(key);
    if (op.type === 'put') {
      this.validate(key);
      this.items.set(id, structuredClone(key));
      return key;
    }
    if (op.type === 'delete') {
      this.items.delete(id);
      return undefined;
    }
    if (op.type === 'update') {
      const next = applyUpdate(
        { ...(this.items.get(id) ?? {}), ...keyOf(this.definition, op.key) },
        op.update,
      );
      this.items.set(id, next);
      return next;
    }
    return undefined;
  }

  async put(item: object, condition?: Cond): Promise<boolean> {
    const op: TransactOp = { type: 'put', table: this, item, ...(condition ? { condition } : {}) };
    if (!this.check(op)) return false;
    this.apply(op);
    return true;
  }

  async update(key: Item, update: Update, condition?: Cond): Promise<Item | false> {
    const op: TransactOp = { type: 'update', table: this, key, update, ...(condition ? { condition } : {}) };
    if (!this.check(op)) return false;
    return structuredClone(this.apply(op)!);
  }

  async delete(key: Item, condition?: Cond): Promise<boolean> {
    const op: TransactOp = { type: 'delete', table: this, key, ...(condition ? { condition } : {}) };
    if (!this.check(op)) return false;
    this.apply(op);
    return true;
  }

  async query(q: QueryInput): Promise<Page> {
    const def = q.index ? this.definition.indexes.find((i) => i.name === q.index) : this.definition;
    if (!def) throw new Error(`table ${this.name} has no index ${q.index}`);
    const pk = def.partitionKey.name;
    const sk = def.sortKey?.name;
    if (q.filter && condPaths(q.filter).some((p) => p === pk || p === sk)) {
      throw new Error('Filter Expression can only contain non-primary key attributes (as DynamoDB says)');
    }
    const tableKey = (i: Item): string => this.id(i);
    let rows = [...this.items.values()].filter(
      (i) =>
        i[pk] === q.partition && (!sk || i[sk] !== undefined) && (!q.sort || sortMatches(i[sk!], q.sort)),
    );
    rows.sort((a, b) => (sk ? cmp(a[sk], b[sk]) : 0) || cmp(tableKey(a), tableKey(b)));
    if (q.descending) rows.reverse();
    if (q.startKey) {
      const at = rows.findIndex((r) => tableKey(r) === tableKey(q.startKey!));
      rows = at >= 0 ? rows.slice(at + 1) : rows;
    }
    const page = rows.slice(0, q.limit);
    const more = rows.length > q.limit;
    const last = page[page.length - 1];
    const lastKey = more && last ? this.cursorOf(last, def) : undefined;
    const items = (q.filter ? page.filter((i) => evaluate(q.filter!, i)) : page).map((i) =>
      structuredClone(i),
    );
    return { items, lastKey };
  }

  private cursorOf(item: Item, index: { partitionKey: { name: string }; sortKey?: { name: string } }): Item {
    const k: Item = keyOf(this.definition, item);
    k[index.partitionKey.name] = item[index.partitionKey.name];
    if (index.sortKey) k[index.sortKey.name] = item[index.sortKey.name] as Scalar;
    return k;
  }

  async scan(input: { limit: number; startKey?: Item | undefined }): Promise<Page> {
    let rows = [...this.items.entries()].sort(([a], [b]) => cmp(a, b));
    if (input.startKey) {
      const id = this.id(input.startKey);
      rows = rows.filter(([k]) => cmp(k, id) > 0);
    }
    const page = rows.slice(0, input.limit).map(([, v]) => structuredClone(v));
    const last = page[page.length - 1];
    return {
      items: page,
      lastKey: rows.length > input.limit && last ? keyOf(this.definition, last) : undefined,
    };
  }

  async transact(ops: TransactOp[]): Promise<boolean> {
    const targets = new Set<string>();
    for (const op of ops) {
      if (!(op.table instanceof MemoryTable)) throw new Error('a transaction mixes table kinds');
      const target = `${op.table.name}:${op.table.id(op.type === 'put' ? toItem(op.item) : op.key)}`;
      if (targets.has(target))
        throw new Error('Transaction request cannot include multiple operations on one item');
      targets.add(target);
    }
    // Synchronous from here on: nothing else can run between the checks and the writes.
    if (!ops.every((op) => (op.table as MemoryTable).check(op))) return false;
    for (const op of ops) (op.table as MemoryTable).apply(op);
    return true;
  }
}
