/**
 * Column names from Zoho API names. Glue lower-cases column names and Athena matches Parquet columns
 * by name without regard to case, while DuckDB, Spark and polars are case sensitive: so the Parquet
 * files and the table use one lower-case name per Zoho field, unique regardless of case, and the
 * mapping (stored in the table, see lib/exports/schema.ts) never changes once a field has a column.
 */
import { LINEAGE_COLUMNS } from './types.js';

/** Longest column name Glue accepts. */
export const MAX_COLUMN_NAME = 255;

/** Names no Zoho field may take: the lineage columns and the partition. */
export const RESERVED_COLUMN_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(LINEAGE_COLUMNS),
  'export_date',
]);

/**
 * The column name a Zoho API name asks for, before collisions: lower case; `.` (a field of a related
 * record, `Owner.last_name`) becomes `__`; any other character outside [a-z0-9_] becomes `_`; a
 * leading digit (or nothing at all) gets `c_` in front; at most MAX_COLUMN_NAME characters.
 */
export function baseColumnName(apiName: string): string {
  const lower = apiName
    .toLowerCase()
    .replace(/\./g, '__')
    .replace(/[^a-z0-9_]/g, '_');
  const name = lower === '' || /^[0-9]/.test(lower) ? `c_${lower}` : lower;
  return name.slice(0, MAX_COLUMN_NAME);
}

/** `base_n`, `base` shortened so the whole stays within MAX_COLUMN_NAME. */
function suffixed(base: string, n: number): string {
  const tail = `_${n}`;
  return `${base.slice(0, MAX_COLUMN_NAME - tail.length)}${tail}`;
}

/**
 * Column names for `apiNames` (in order of first appearance). A name in `known` (API name → column,
 * the mapping the table already holds) is reused as it is; any other gets its base name, or
 * `base_2`, `base_3`… when that is taken (by `known`, `alsoTaken`, a reserved name or an earlier
 * API name). Returns the mapping of every API name in `apiNames`.
 */
export function assignColumnNames(
  apiNames: readonly string[],
  known: ReadonlyMap<string, string> = new Map(),
  alsoTaken: Iterable<string> = [],
): Map<string, string> {
  const taken = new Set<string>(RESERVED_COLUMN_NAMES);
  for (const c of known.values()) taken.add(c.toLowerCase());
  for (const c of alsoTaken) taken.add(c.toLowerCase());
  const out = new Map<string, string>();
  for (const api of apiNames) {
    if (out.has(api)) continue;
    const had = known.get(api);
    if (had !== undefined) {
      out.set(api, had.toLowerCase());
      continue;
    }
    const base = baseColumnName(api);
    let name = base;
    for (let n = 2; taken.has(name); n++) name = suffixed(base, n);
    taken.add(name);
    out.set(api, name);
  }
  return out;
}
