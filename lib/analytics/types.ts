/**
 * Column types of the typed Parquet output, independent of the Parquet writer behind them.
 *
 * In-memory value of each kind (what a column batch holds, `null` for NULL):
 * - `string`    → JS string (UTF-8 on disk, byte-identical to the CSV value)
 * - `int64`     → bigint (parsed from the text, never through a JS number)
 * - `double`    → number
 * - `decimal`   → bigint: the unscaled value (`12.50` at scale 2 is `1250n`), exact
 * - `boolean`   → boolean
 * - `date`      → number: days since 1970-01-01
 * - `timestamp` → number: milliseconds since the epoch, UTC (`isAdjustedToUTC = true`)
 * - `list`      → string[]: a LIST of STRING
 */
export type ColumnType =
  | { readonly kind: 'string' }
  | { readonly kind: 'int64' }
  | { readonly kind: 'double' }
  | { readonly kind: 'decimal'; readonly precision: number; readonly scale: number }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'date' }
  | { readonly kind: 'timestamp' }
  | { readonly kind: 'list' };

export type ColumnKind = ColumnType['kind'];

export type CellValue = string | bigint | number | boolean | string[] | null;

/** One CSV column and the type it is written as. */
export interface PlannedColumn {
  /** The Parquet column name (lib/analytics/names.ts); the CSV header name when `zohoField` is absent. */
  readonly name: string;
  /** The CSV header name (Zoho's API name) the column holds, when the column is named otherwise. */
  readonly zohoField?: string | undefined;
  readonly type: ColumnType;
  /** The type Zoho's metadata asks for, when the column is written with another (the table's). */
  readonly metadataType?: ColumnType | undefined;
  /** Zoho `data_type` the type came from (undefined when the metadata does not list the column). */
  readonly zohoType?: string | undefined;
  /** Why the column is STRING although it may hold something else (unknown column, no metadata…). */
  readonly reason?: string | undefined;
}

/** The CSV header, in order, with a type per column. */
export type ColumnPlan = readonly PlannedColumn[];

export type Compression = 'ZSTD' | 'SNAPPY' | 'UNCOMPRESSED';

export interface Lineage {
  readonly exportId: string;
  /** Zoho's bulk read job id: written as STRING (an identifier, never used as a number). */
  readonly jobId: string;
  readonly exportedAt: Date;
}

/** Names of the columns appended after the CSV columns. */
export const LINEAGE_COLUMNS = {
  exportId: '_export_id',
  jobId: '_job_id',
  exportedAt: '_exported_at',
  conversionErrors: '_zoho_conversion_errors',
} as const;

export interface ColumnSummary {
  readonly name: string;
  /** The CSV header name (Zoho's API name). */
  readonly zohoField: string;
  readonly type: ColumnType;
  readonly metadataType?: ColumnType | undefined;
  readonly zohoType?: string | undefined;
  readonly reason?: string | undefined;
  /** NULLs written: empty CSV values plus conversion errors. */
  readonly nulls: number;
  /** Values that did not parse as the column's type (written as NULL, kept in `_zoho_conversion_errors`). */
  readonly conversionErrors: number;
}

export interface ConversionStats {
  /** Data records (the header is not counted). */
  readonly rows: number;
  readonly rowGroups: number;
  /** Bytes of Parquet written to the output stream. */
  readonly bytes: number;
  /** Bytes of CSV read (including a BOM). */
  readonly csvBytes: number;
  readonly header: string[];
  /** Empty lines between records, skipped (only when the header has more than one column). */
  readonly blankLines: number;
  /** Conversion errors per CSV column (only columns with at least one). */
  readonly conversionErrors: Record<string, number>;
  readonly columns: ColumnSummary[];
  readonly compression: Compression;
}
