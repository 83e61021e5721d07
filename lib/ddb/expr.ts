/**
 * Conditions and updates as data. Every state change in the product is a conditional write; writing
 * the condition as a small tree instead of an expression string means it is defined once and has two
 * interpreters: `compile*` turns it into a DynamoDB expression (with expression attribute names for
 * every attribute and values for every operand), `evaluate`/`applyUpdate` run it on an item in memory
 * (the in-memory table of the unit tests). A contract test runs the same operations against both.
 */

export type Scalar = string | number | boolean;
export type Item = Record<string, unknown>;

export type Cond =
  | { op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'; path: string; value: Scalar }
  | { op: 'exists' | 'missing'; path: string }
  | { op: 'and' | 'or'; conds: Cond[] }
  | { op: 'not'; cond: Cond };

export const eq = (path: string, value: Scalar): Cond => ({ op: 'eq', path, value });
export const ne = (path: string, value: Scalar): Cond => ({ op: 'ne', path, value });
export const lt = (path: string, value: Scalar): Cond => ({ op: 'lt', path, value });
export const le = (path: string, value: Scalar): Cond => ({ op: 'le', path, value });
export const gt = (path: string, value: Scalar): Cond => ({ op: 'gt', path, value });
export const ge = (path: string, value: Scalar): Cond => ({ op: 'ge', path, value });
export const exists = (path: string): Cond => ({ op: 'exists', path });
export const missing = (path: string): Cond => ({ op: 'missing', path });
export const and = (...conds: Cond[]): Cond => ({ op: 'and', conds });
export const or = (...conds: Cond[]): Cond => ({ op: 'or', conds });
export const not = (cond: Cond): Cond => ({ op: 'not', cond });

/** `SET` values, `REMOVE` names and `ADD` increments of one update. `undefined` values are skipped. */
export interface Update {
  set?: Record<string, unknown>;
  remove?: readonly string[];
  add?: Record<string, number>;
}

/** Accumulates expression attribute names and values while compiling. */
export class ExpressionBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;
  private v = 0;
  private readonly byName = new Map<string, string>();

  name(attr: string): string {
    let alias = this.byName.get(attr);
    if (!alias) {
      alias = `#n${this.n++}`;
      this.byName.set(attr, alias);
      this.names[alias] = attr;
    }
    return alias;
  }

  value(v: unknown): string {
    const alias = `:v${this.v++}`;
    this.values[alias] = v;
    return alias;
  }
}

const OPS = { eq: '=', ne: '<>', lt: '<', le: '<=', gt: '>', ge: '>=' } as const;

export function compileCond(c: Cond, b: ExpressionBuilder): string {
  switch (c.op) {
    case 'eq':
    case 'ne':
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      return `${b.name(c.path)} ${OPS[c.op]} ${b.value(c.value)}`;
    case 'exists':
      return `attribute_exists(${b.name(c.path)})`;
    case 'missing':
      return `attribute_not_exists(${b.name(c.path)})`;
    case 'and':
    case 'or':
      if (c.conds.length === 0) throw new Error(`empty ${c.op} condition`);
      return c.conds.length === 1
        ? compileCond(c.conds[0]!, b)
        : `(${c.conds.map((x) => compileCond(x, b)).join(c.op === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${compileCond(c.cond, b)})`;
  }
}

export function compileUpdate(u: Update, b: ExpressionBuilder): string {
  const sets: string[] = [];
  for (const [k, v] of Object.entries(u.set ?? {})) {
    if (v !== undefined) sets.push(`${b.name(k)} = ${b.value(v)}`);
  }
  const adds = Object.entries(u.add ?? {}).map(([k, v]) => `${b.name(k)} ${b.value(v)}`);
  const removes = (u.remove ?? []).map((k) => b.name(k));
  const parts: string[] = [];
  if (sets.length) parts.push(`SET ${sets.join(', ')}`);
  if (adds.length) parts.push(`ADD ${adds.join(', ')}`);
  if (removes.length) parts.push(`REMOVE ${removes.join(', ')}`);
  if (!parts.length) throw new Error('empty update');
  return parts.join(' ');
}

/** DynamoDB's ordering: numbers by value, strings by code unit; a type mismatch compares false. */
function compare(a: unknown, b: Scalar): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : undefined;
  return undefined;
}

export function evaluate(c: Cond, item: Item | undefined): boolean {
  const get = (p: string): unknown => item?.[p];
  switch (c.op) {
    case 'exists':
      return get(c.path) !== undefined;
    case 'missing':
      return get(c.path) === undefined;
    case 'and':
      return c.conds.every((x) => evaluate(x, item));
    case 'or':
      return c.conds.some((x) => evaluate(x, item));
    case 'not':
      return !evaluate(c.cond, item);
    case 'ne': {
      const r = compare(get(c.path), c.value);
      return r === undefined ? true : r !== 0;
    }
    default: {
      const r = compare(get(c.path), c.value);
      if (r === undefined) return false;
      if (c.op === 'eq') return r === 0;
      if (c.op === 'lt') return r < 0;
      if (c.op === 'le') return r <= 0;
      if (c.op === 'gt') return r > 0;
      return r >= 0;
    }
  }
}

/** Applies an update to a copy of `item` the way DynamoDB would. */
export function applyUpdate(item: Item, u: Update): Item {
  const out: Item = structuredClone(item);
  for (const [k, v] of Object.entries(u.set ?? {})) if (v !== undefined) out[k] = structuredClone(v);
  for (const [k, v] of Object.entries(u.add ?? {})) {
    const cur = out[k];
    out[k] = (typeof cur === 'number' ? cur : 0) + v;
  }
  for (const k of u.remove ?? []) delete out[k];
  return out;
}
