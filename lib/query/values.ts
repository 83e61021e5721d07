/**
 * One rule for every query result, whatever ran it (Athena in AWS, DuckDB locally): a value becomes
 * the JS value that holds it exactly. Integers a double cannot hold (Zoho ids are INT64 > 2^53) and
 * every decimal stay strings; other numbers are numbers; booleans booleans; NULL null; dates
 * `YYYY-MM-DD` and timestamps ISO 8601 strings (UTC `Z`); lists arrays.
 */

export type QueryValue = string | number | boolean | null | QueryValue[] | { [key: string]: QueryValue };

/** What a column holds, as far as the mapping cares. */
export type ValueKind =
  | 'integer'
  | 'bigint'
  | 'decimal'
  | 'float'
  | 'boolean'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'string'
  | 'other';

export interface QueryColumn {
  name: string;
  /** The engine's own type name (Athena's `bigint`, DuckDB's `BIGINT`), for --verbose and errors. */
  type: string;
}

export interface QueryResult {
  columns: QueryColumn[];
  rows: QueryValue[][];
}

/** The kind of one of Athena's (Trino's) column types: `bigint`, `decimal(18,2)`, `timestamp(3)`, ... */
export function athenaKind(type: string): ValueKind {
  const t = type.trim().toLowerCase();
  if (/^(tinyint|smallint|integer|int)$/.test(t)) return 'integer';
  if (t === 'bigint') return 'bigint';
  if (t.startsWith('decimal')) return 'decimal';
  if (/^(float|real|double)$/.test(t)) return 'float';
  if (t === 'boolean') return 'boolean';
  if (t === 'date') return 'date';
  if (/^timestamp(\(\d+\))? with time zone$/.test(t)) return 'timestamptz';
  if (/^timestamp(\(\d+\))?$/.test(t)) return 'timestamp';
  if (/^(varchar|char|string)/.test(t)) return 'string';
  return 'other';
}

const SAFE_INT = /^[-+]?\d+$/;

/** An integer's text: a number when a double holds it exactly, else the digits as they are. */
export function integerValue(text: string): number | string {
  if (!SAFE_INT.test(text)) return text;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/** A float's text: a number; NaN and the infinities (which JSON cannot hold) as their names. */
export function floatValue(text: string): number | string {
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

/**
 * A timestamp's text (`2026-12-01 10:20:30.456`, Athena and DuckDB alike) as ISO 8601 UTC; one with a
 * zone (`... UTC`, `...+00`, `...+05:30`) with its offset. Text of another shape is kept as it is.
 */
export function timestampValue(text: string, withZone: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?(?:\s*(UTC|Z|[+-]\d\d(?::?\d\d)?))?$/.exec(
    text.trim(),
  );
  if (!m) return text;
  const [, day, time, frac = '', zone] = m;
  const fraction = frac.replace(/0+$/, '').replace(/^\.$/, '');
  let offset = 'Z';
  if (withZone && zone && zone !== 'UTC' && zone !== 'Z') {
    const z = zone.replace(':', '');
    const hhmm = z.length === 3 ? `${z}00` : z;
    offset = hhmm === '+0000' || hhmm === '-0000' ? 'Z' : `${hhmm.slice(0, 3)}:${hhmm.slice(3)}`;
  } else if (withZone && zone === undefined) {
    return text; // a named zone (Europe/Paris): not rewritten without a time zone database
  }
  return `${day}T${time}${fraction}${offset}`;
}

/** A scalar from its text form and kind (Athena gives every value as text). */
export function valueFromText(kind: ValueKind, text: string | null | undefined): QueryValue {
  if (text === null || text === undefined) return null;
  switch (kind) {
    case 'integer':
    case 'bigint':
      return integerValue(text);
    case 'float':
      return floatValue(text);
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'timestamp':
      return timestampValue(text, false);
    case 'timestamptz':
      return timestampValue(text, true);
    default:
      // decimal (exact as text), date (YYYY-MM-DD already), string, and Athena's text of arrays/maps/rows
      return text;
  }
}

/** Names that key the row objects: a repeated name gets `_2`, `_3`, ... so no column is lost. */
export function uniqueNames(columns: readonly QueryColumn[]): string[] {
  const seen = new Map<string, number>();
  return columns.map((c) => {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    return n === 1 ? c.name : `${c.name}_${n}`;
  });
}

export function rowObjects(result: QueryResult): Array<Record<string, QueryValue>> {
  const names = uniqueNames(result.columns);
  return result.rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i] ?? null])));
}
