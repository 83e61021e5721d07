/**
 * Formula refreshes in the views (SQL pieces for lib/tables/views.ts). Zoho recomputes a formula field
 * without touching `Modified_Time`, so an incremental run never sees the new value; a `formula_refresh`
 * export reads `id`, `Modified_Time` and the formula fields of every record again. Its files live in the
 * module's table (a subset of its columns, of the table's types), named by the manifests, and are never
 * a version of their own:
 *
 *   a refresh row applies to the version it read: same id AND same Modified_Time (a record edited since
 *   then waits for that edit's export, which brings its own formula values);
 *   _current   the formula values of the newest refresh of the version in force that landed after the
 *              version's own copy (`_exported_at`), else the version's own;
 *   _history   every observation of a version's formula values (its copies and the refreshes), in
 *              landing order; one that differs from the one before starts a new row at its
 *              `_exported_at`, an unchanged one adds nothing. Other columns: the version's.
 *
 * The formula fields are the newest refresh's (its manifest's query fields, lower-cased as the table's
 * columns); a refresh counts only if it read all of them (an older one, from before a formula was
 * added, would otherwise read as NULL).
 */
import { baseColumnName } from '../analytics/names.js';
import { byCreation, type CommittedExport, quote, rowsOf, type Shape } from './sql.js';

export interface FormulaPlan {
  /** The refreshes that count, in creation order. */
  refreshes: CommittedExport[];
  /** The formula columns (lower-case names of the table's columns). */
  columns: string[];
}

const isRefresh = (e: CommittedExport): boolean => e.mode === 'formula_refresh';

/** The exports that are versions of the module (everything but the formula refreshes). */
export const versionExports = (exports: CommittedExport[]): CommittedExport[] =>
  exports.filter((e) => !isRefresh(e));

/**
 * The refreshes created after `after` (undefined: all) and the formula columns, or undefined when
 * none counts (then the views are exactly as without refreshes).
 */
export function formulaPlan(
  shape: Shape,
  exports: CommittedExport[],
  after?: CommittedExport,
): FormulaPlan | undefined {
  const all = exports.filter(isRefresh).sort(byCreation);
  const newest = all.at(-1);
  if (!newest) return undefined;
  const names = new Set(shape.columns.map((c) => c.Name));
  const keys = new Set([shape.id, shape.modified]);
  const columns = [...new Set((newest.fields ?? []).map(baseColumnName))].filter(
    (c) => names.has(c) && !keys.has(quote(c)) && !c.startsWith('_'),
  );
  if (columns.length === 0) return undefined;
  const refreshes = all.filter((r) => {
    if (after && byCreation(r, after) <= 0) return false;
    const own = new Set((r.fields ?? []).map(baseColumnName));
    return columns.every((c) => own.has(c));
  });
  return refreshes.length ? { refreshes, columns } : undefined;
}

const f = (i: number): string => `"_f${i}"`;

// ------------------------------------------------------------------------------------------ _current

/** `"refreshed"`: per (id, Modified_Time), its newest refresh row (`"_rn"` = 1). */
export function refreshedCte(table: string, shape: Shape, plan: FormulaPlan): string[] {
  const cols = plan.columns.map((c, i) => `r.${quote(c)} AS ${f(i)}`).join(', ');
  return [
    ', "refreshed" AS (',
    `  SELECT r.${shape.id} AS "_rid", r.${shape.modified} AS "_rmod", r."_exported_at" AS "_rat", ${cols},`,
    `    row_number() OVER (PARTITION BY r.${shape.id}, r.${shape.modified} ORDER BY r."_exported_at" DESC, r."_export_id" DESC) AS "_rrn"`,
    `  ${rowsOf(table, 'r', plan.refreshes)}`,
    ')',
  ];
}

/** Joins the version in force `v` to its newest refresh, when that landed after the version's copy. */
export const refreshJoin = (shape: Shape): string =>
  `LEFT JOIN "refreshed" r ON r."_rid" = v.${shape.id} AND r."_rmod" = v.${shape.modified} AND r."_rrn" = 1 AND r."_rat" > v."_exported_at"`;

/** A formula column of `_current`: the refresh's value (NULL included) when one applies. */
export function refreshedPick(plan: FormulaPlan, column: string): string | undefined {
  const i = plan.columns.indexOf(column);
  return i < 0 ? undefined : `CASE WHEN r."_rid" IS NULL THEN v.${quote(column)} ELSE r.${f(i)} END`;
}

// ------------------------------------------------------------------------------------------ _history

/**
 * `"formula_states"`: the observations of each version's formula values (rows of `versions` and of the
 * refreshes) that differ from the observation before them, the first always; `"_snext"` is the next
 * state's time. Trino has no named windows: each window is spelled out.
 */
export function historyStates(
  table: string,
  shape: Shape,
  plan: FormulaPlan,
  versions: CommittedExport[],
): string[] {
  const win = 'OVER (PARTITION BY s."_oid", s."_omod" ORDER BY s."_oat", s."_oexp")';
  const cols = plan.columns.map((c, i) => `o.${quote(c)} AS ${f(i)}`).join(', ');
  const lags = plan.columns.map((_, i) => `lag(s.${f(i)}) ${win} AS "_p${i}"`).join(', ');
  const changed = plan.columns.map((_, i) => `c.${f(i)} IS DISTINCT FROM c."_p${i}"`).join(' OR ');
  return [
    ', "observed" AS (',
    `  SELECT o.${shape.id} AS "_oid", o.${shape.modified} AS "_omod", o."_exported_at" AS "_oat", o."_export_id" AS "_oexp", ${cols}`,
    `  ${rowsOf(table, 'o', [...versions, ...plan.refreshes])}`,
    '), "formula_changes" AS (',
    `  SELECT s.*, row_number() ${win} AS "_k", ${lags}`,
    '  FROM "observed" s',
    '), "formula_states" AS (',
    '  SELECT c.*, lead(c."_oat") OVER (PARTITION BY c."_oid", c."_omod" ORDER BY c."_oat", c."_oexp") AS "_snext"',
    `  FROM "formula_changes" c WHERE c."_k" = 1 OR ${changed}`,
    ')',
  ];
}

/**
 * The final SELECT of `_history` with refreshes: one row per state of each version (`s`: the versions
 * with their end `end`, a column of `s`). The first state starts at the version's Modified_Time, a
 * later one at its observation; a state ends at the next one or at the version's end, whichever is
 * first; states observed after the version ended are left out.
 */
export function statesSelect(
  shape: Shape,
  plan: FormulaPlan,
  out: string[],
  from: string,
  end: string,
): string[] {
  const select = out
    .map((c) => {
      const i = plan.columns.indexOf(c);
      return `${i < 0 ? `s.${quote(c)}` : `g.${f(i)}`} AS ${quote(c)}`;
    })
    .join(', ');
  const to = `CASE WHEN g."_snext" IS NOT NULL AND (s.${end} IS NULL OR g."_snext" < s.${end}) THEN g."_snext" ELSE s.${end} END`;
  return [
    `SELECT ${select}, CASE WHEN g."_k" = 1 THEN s.${shape.modified} ELSE g."_oat" END AS "_valid_from", ${to} AS "_valid_to", (g."_snext" IS NULL AND s.${end} IS NULL) AS "_is_current"`,
    `FROM ${from} s`,
    `JOIN "formula_states" g ON g."_oid" = s.${shape.id} AND g."_omod" = s.${shape.modified}`,
    `WHERE g."_k" = 1 OR s.${end} IS NULL OR g."_oat" < s.${end}`,
  ];
}
