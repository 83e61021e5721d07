/**
 * The SQL pieces the views (lib/tables/views.ts) and their formula-refresh part (lib/tables/formulas.ts)
 * share: the committed export, quoting, literal bounds, the table's shape.
 */
import { CodedError } from '../errors.js';

export interface TableColumn {
  Name: string;
  /** Hive/Glue type (`string`, `bigint`, `decimal(12,2)`, `array<string>`, `timestamp` …). */
  Type: string;
}

/** A committed export of the module, as its manifest says. */
export interface CommittedExport {
  export_id: string;
  /**
   * `formula_refresh`: `id`, `Modified_Time` and the module's formula fields, read again (Zoho
   * recomputes a formula without touching `Modified_Time`); never a version of its own
   * (lib/tables/formulas.ts).
   */
  mode: 'full' | 'incremental' | 'formula_refresh';
  /** `YYYY-MM-DD`: the partition of every file of the export. */
  export_date: string;
  /** ISO instant the export was created: orders the exports. */
  created_at: string;
  /** The export landed a Parquet deletions file (`zoho_<module>_deletions`). */
  deletions: boolean;
  /**
   * A full export with criteria (a filtered one) holds only some records: it adds versions like an
   * incremental one but is never the baseline `_current` starts from. Absent: unfiltered.
   */
  filtered?: boolean;
  /** The field API names the export read (a formula refresh: `id`, `Modified_Time`, the formulas). */
  fields?: string[];
}

/** The module's table cannot have the views (a field they need is not exported, or not typed). */
export class ViewsError extends CodedError {
  constructor(message: string) {
    super({ code: 'VIEWS_UNSUPPORTED', kind: 'terminal', message });
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
// Every output column is aliased to its lower-case name: DuckDB would otherwise answer the file's case.
export const quote = (name: string): string => `"${name.toLowerCase().replace(/"/g, '""')}"`;
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;
export const list = (xs: string[]): string => xs.map(literal).join(', ');
export const dateLiteral = (d: string): string => {
  if (!DATE.test(d)) throw new ViewsError(`export_date ${JSON.stringify(d)} is not YYYY-MM-DD`);
  return `DATE '${d}'`;
};
export const minDate = (xs: CommittedExport[]): string => xs.map((x) => x.export_date).sort()[0]!;
export const byCreation = (a: CommittedExport, b: CommittedExport): number =>
  a.created_at.localeCompare(b.created_at) || a.export_id.localeCompare(b.export_id);

export interface Shape {
  id: string;
  /** The SQL type of the table's id (`BIGINT`, or `VARCHAR` for a table created untyped long ago). */
  idType: 'BIGINT' | 'VARCHAR';
  modified: string;
  /** Every table column, lower-cased, in table order. */
  columns: TableColumn[];
}

/** The rows of `exports` in `table` (its partitions from the earliest export's date on). */
export const rowsOf = (table: string, alias: string, exports: CommittedExport[]): string =>
  `FROM ${table} ${alias}\n  WHERE ${alias}."export_date" >= ${dateLiteral(minDate(exports))} AND ${alias}."_export_id" IN (${list(exports.map((e) => e.export_id))})`;
