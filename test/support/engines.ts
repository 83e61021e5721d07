// Over 450 lines on purpose: four engines' readers, the CSV oracle and the one summary they are all compared by.
/**
 * Reads one Parquet file with four independent engines and reduces what each read to one comparable
 * summary, so a test can assert that they all agree with each other and with the source CSV:
 * DuckDB (C++), arrow-rs (Rust, through parquet-wasm), polars (Rust, its own reader, nodejs-polars)
 * and hyparquet (JS). Each engine's values are first brought to one canonical text per cell
 * (`canonical`), then summarized the same way (`summarize`), so only the reading differs.
 *
 * Canonical cell forms: string as is; int64 as its digits; double as JS prints it; decimal as exact
 * text with `scale` fraction digits; boolean `true`/`false`; date `YYYY-MM-DD`; timestamp epoch ms;
 * list the JSON array of its strings; NULL null.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import { parse as parseCsv } from 'csv-parse/sync';
import { type FileMetaData, parquetMetadata, parquetReadObjects, type SchemaElement } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import * as parquetWasm from 'parquet-wasm';
import { z } from 'zod';
import type { ColumnType, Compression, Lineage } from '../../lib/analytics/types.js';
import { LINEAGE_COLUMNS } from '../../lib/analytics/types.js';

export type EngineName = 'duckdb' | 'arrow-rs' | 'polars' | 'hyparquet';
export const ENGINES: readonly EngineName[] = ['duckdb', 'arrow-rs', 'polars', 'hyparquet'];

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
}

type Cell = string | null;

/** What one engine read: the type it saw per column (as our kind) and the canonical cells. */
export interface EngineRead {
  readonly rows: number;
  readonly columns: ReadonlyMap<string, { type: string; cells: Cell[] }>;
}

export interface ColumnDigest {
  /** Our kind as the engine saw it (`decimal(34,4)` with precision and scale). */
  type: string;
  nulls: number;
  count: number;
  /** sha256 of every cell in row order: equal digests mean equal values, row for row. */
  hash: string;
  /** Numbers, decimals (exact), timestamps (epoch ms): sum, min, max; dates: min, max. */
  sum?: string;
  min?: string;
  max?: string;
  /** Strings: total UTF-8 bytes; lists: elements and their total UTF-8 bytes. */
  bytes?: number;
  elements?: number;
}

export interface FileSummary {
  rows: number;
  columns: Record<string, ColumnDigest>;
}

export function kindName(t: ColumnType): string {
  return t.kind === 'decimal' ? `decimal(${t.precision},${t.scale})` : t.kind;
}

/** An unscaled decimal as exact text with `scale` fraction digits (`-50n`, 2 → `-0.50`). */
export function decimalText(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  const digits = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${neg ? '-' : ''}${int}${frac}`;
}

function decimalUnscaled(text: string, scale: number): bigint {
  const neg = text.startsWith('-');
  const [i = '0', f = ''] = text.replace(/^[-+]/, '').split('.');
  const v = BigInt(i + f.padEnd(scale, '0'));
  return neg ? -v : v;
}

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The least and the greatest of a non-empty list of bigints or ISO dates. */
function extremes<T extends bigint | string>(vals: readonly T[]): [T, T] {
  let min = vals[0] as T;
  let max = min;
  for (const v of vals) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

export function summarize(read: EngineRead, specs: readonly ColumnSpec[]): FileSummary {
  const columns: Record<string, ColumnDigest> = {};
  for (const spec of specs) {
    const col = read.columns.get(spec.name);
    if (!col) throw new Error(`column ${spec.name} was not read`);
    const present = col.cells.filter((c): c is string => c !== null);
    const d: ColumnDigest = {
      type: col.type,
      nulls: col.cells.length - present.length,
      count: present.length,
      hash: createHash('sha256').update(JSON.stringify(col.cells)).digest('hex').slice(0, 16),
    };
    const t = spec.type;
    if (present.length > 0 && (t.kind === 'int64' || t.kind === 'timestamp' || t.kind === 'decimal')) {
      const scale = t.kind === 'decimal' ? t.scale : 0;
      const vals = present.map((s) => (t.kind === 'decimal' ? decimalUnscaled(s, scale) : BigInt(s)));
      const text = (v: bigint) => (t.kind === 'decimal' ? decimalText(v, scale) : v.toString());
      d.sum = text(vals.reduce((a, b) => a + b, 0n));
      const [min, max] = extremes(vals);
      d.min = text(min);
      d.max = text(max);
    } else if (present.length > 0 && t.kind === 'double') {
      const vals = present.map(Number);
      d.sum = String(vals.reduce((a, b) => a + b, 0));
      d.min = String(Math.min(...vals));
      d.max = String(Math.max(...vals));
    } else if (present.length > 0 && t.kind === 'date') {
      [d.min, d.max] = extremes(present);
    } else if (t.kind === 'string') {
      d.bytes = present.reduce((n, s) => n + Buffer.byteLength(s), 0);
    } else if (t.kind === 'list') {
      const lists = present.map((s) => z.array(z.string()).parse(JSON.parse(s)));
      d.elements = lists.reduce((n, l) => n + l.length, 0);
      d.bytes = lists.reduce((n, l) => n + l.reduce((m, s) => m + Buffer.byteLength(s), 0), 0);
    }
    columns[spec.name] = d;
  }
  return { rows: read.rows, columns };
}

/** The first row where two engines' cells differ, for a readable failure. */
export function firstDifference(a: EngineRead, b: EngineRead): string | undefined {
  for (const [name, col] of a.columns) {
    const other = b.columns.get(name);
    if (!other) return `${name}: missing`;
    const n = Math.max(col.cells.length, other.cells.length);
    for (let i = 0; i < n; i++) {
      if (col.cells[i] !== other.cells[i]) {
        return `${name} row ${i}: ${JSON.stringify(col.cells[i])} vs ${JSON.stringify(other.cells[i])}`;
      }
    }
  }
  return undefined;
}

// ------------------------------------------------------------------------------- the expected values

/**
 * The canonical cells the source CSV should give, computed here from the CSV text and the column
 * plan by rules written apart from the converter's (a value that does not parse is NULL). The
 * lineage columns are the given values; `_zoho_conversion_errors` is compared as the engines read it
 * only if `conversionErrors` is given (the JSON text of each row).
 */
export function expectedFromCsv(
  csv: Buffer,
  planned: readonly ColumnSpec[],
  lineage: Lineage,
): { read: EngineRead; specs: ColumnSpec[] } {
  const records = z
    .array(z.array(z.string()))
    .parse(parseCsv(csv, { bom: true, relax_column_count: false, skip_empty_lines: true }));
  const [header = [], ...rows] = records;
  const columns = new Map<string, { type: string; cells: Cell[] }>();
  const errors: (Record<string, string> | null)[] = rows.map(() => null);
  planned.forEach((spec, j) => {
    if (header[j] !== spec.name) throw new Error(`CSV column ${j} is ${header[j]}, planned ${spec.name}`);
    const cells = rows.map((r, i) => {
      const raw = r[j] ?? '';
      if (raw === '') return null;
      const v = parseExpected(raw, spec.type);
      if (v === null) errors[i] = { ...(errors[i] ?? {}), [spec.name]: raw };
      return v;
    });
    columns.set(spec.name, { type: kindName(spec.type), cells });
  });
  const constant = (v: string) => rows.map(() => v);
  columns.set(LINEAGE_COLUMNS.exportId, { type: 'string', cells: constant(lineage.exportId) });
  columns.set(LINEAGE_COLUMNS.jobId, { type: 'string', cells: constant(lineage.jobId) });
  columns.set(LINEAGE_COLUMNS.exportedAt, {
    type: 'timestamp',
    cells: constant(String(lineage.exportedAt.getTime())),
  });
  columns.set(LINEAGE_COLUMNS.conversionErrors, {
    type: 'string',
    cells: errors.map((e) => (e ? JSON.stringify(e) : null)),
  });
  return { read: { rows: rows.length, columns }, specs: [...planned, ...LINEAGE_SPECS] };
}

export const LINEAGE_SPECS: readonly ColumnSpec[] = [
  { name: LINEAGE_COLUMNS.exportId, type: { kind: 'string' } },
  { name: LINEAGE_COLUMNS.jobId, type: { kind: 'string' } },
  { name: LINEAGE_COLUMNS.exportedAt, type: { kind: 'timestamp' } },
  { name: LINEAGE_COLUMNS.conversionErrors, type: { kind: 'string' } },
];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function parseExpected(raw: string, t: ColumnType): Cell {
  switch (t.kind) {
    case 'string':
      return raw;
    case 'int64': {
      if (!/^-?\d+$/.test(raw)) return null;
      const v = BigInt(raw);
      return v < INT64_MIN || v > INT64_MAX ? null : v.toString();
    }
    case 'double': {
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) return null;
      return String(Number(raw));
    }
    case 'decimal': {
      const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(raw);
      if (!m) return null;
      const frac = m[3] ?? '';
      if (/[1-9]/.test(frac.slice(t.scale))) return null; // never rounded
      const unscaled = BigInt(`${m[2]}${frac.slice(0, t.scale).padEnd(t.scale, '0')}`);
      if (unscaled.toString().length > t.precision) return null;
      return decimalText(m[1] === '-' ? -unscaled : unscaled, t.scale);
    }
    case 'boolean':
      return /^true$/i.test(raw) ? 'true' : /^false$/i.test(raw) ? 'false' : null;
    case 'date': {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(raw)) return null;
      const ms = Date.parse(`${raw}T00:00:00Z`);
      return Number.isNaN(ms) || isoDay(ms) !== raw ? null : raw;
    }
    case 'timestamp': {
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/.test(raw)) return null;
      const ms = Date.parse(raw);
      return Number.isNaN(ms) ? null : String(ms);
    }
    case 'list':
      return JSON.stringify(raw.split(';'));
  }
}

// ------------------------------------------------------------------------------------------ engines

/**
 * nodejs-polars loads its native binary (nodejs-polars-linux-x64-gnu here) when imported. npm skips
 * that optional package under Node < 22 (its `engines`), although it runs on Node 20: .ci/run installs
 * with Node 22's npm so CI has it. Returns the reason when it cannot load.
 */
export async function polarsUnavailable(): Promise<string | undefined> {
  try {
    await import('nodejs-polars');
    return undefined;
  } catch (e) {
    return (
      `polars cannot load (${e instanceof Error ? e.message.split('\n')[0] : String(e)}): its native ` +
      "binary nodejs-polars-linux-x64-gnu is skipped by Node 20's npm (engines: node >= 22); " +
      'install with Node 22\'s npm as .ci/run does (PATH="$(dirname "$NODE22"):$PATH" npm ci)'
    );
  }
}

export async function readWith(
  engine: EngineName,
  bytes: Buffer,
  specs: readonly ColumnSpec[],
): Promise<EngineRead> {
  switch (engine) {
    case 'duckdb':
      return readDuckdb(bytes, specs);
    case 'arrow-rs':
      return readArrow(bytes, specs);
    case 'polars':
      return readPolars(bytes, specs);
    case 'hyparquet':
      return readHyparquet(bytes, specs);
  }
}

const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;

async function readDuckdb(bytes: Buffer, specs: readonly ColumnSpec[]): Promise<EngineRead> {
  const dir = mkdtempSync(path.join(tmpdir(), 'engines-'));
  const file = path.join(dir, 'f.parquet');
  writeFileSync(file, bytes);
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const src = `read_parquet('${file.replaceAll("'", "''")}')`;
    const described = await con.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`);
    const types = new Map(
      described.getRowObjectsJson().map((r) => [String(r.column_name), duckKind(String(r.column_type))]),
    );
    const select = specs.map((s) => {
      const c = ident(s.name);
      switch (s.type.kind) {
        case 'string':
        case 'double':
          return c;
        case 'timestamp':
          return `CAST(epoch_ms(${c}) AS VARCHAR)`;
        case 'list':
          return `CAST(to_json(${c}) AS VARCHAR)`;
        default:
          return `CAST(${c} AS VARCHAR)`;
      }
    });
    const result = await con.runAndReadAll(`SELECT ${select.join(', ')} FROM ${src}`);
    const rows = result.getRowsJS();
    const columns = new Map<string, { type: string; cells: Cell[] }>();
    specs.forEach((s, j) => {
      const cells = rows.map((r) => canonical(s.type, r[j], 'duckdb'));
      columns.set(s.name, { type: types.get(s.name) ?? 'missing', cells });
    });
    return { rows: rows.length, columns };
  } finally {
    con.closeSync();
    db.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}

function duckKind(t: string): string {
  const dec = /^DECIMAL\((\d+),(\d+)\)$/.exec(t);
  if (dec) return `decimal(${dec[1]},${dec[2]})`;
  const map: Record<string, string> = {
    VARCHAR: 'string',
    BIGINT: 'int64',
    DOUBLE: 'double',
    BOOLEAN: 'boolean',
    DATE: 'date',
    'TIMESTAMP WITH TIME ZONE': 'timestamp',
    'VARCHAR[]': 'list',
  };
  return map[t] ?? `duckdb ${t}`;
}

function readArrow(bytes: Buffer, specs: readonly ColumnSpec[]): EngineRead {
  const table = arrow.tableFromIPC(parquetWasm.readParquet(new Uint8Array(bytes)).intoIPCStream());
  const columns = new Map<string, { type: string; cells: Cell[] }>();
  for (const s of specs) {
    const field = table.schema.fields.find((f) => f.name === s.name);
    const vec = table.getChild(s.name);
    if (!field || !vec) continue;
    const cells: Cell[] = [];
    for (let i = 0; i < vec.length; i++) cells.push(arrowCell(s.type, vec.get(i)));
    columns.set(s.name, { type: arrowKind(field.type), cells });
  }
  return { rows: table.numRows, columns };
}

function arrowKind(t: arrow.DataType): string {
  if (arrow.DataType.isDecimal(t)) return `decimal(${t.precision},${t.scale})`;
  if (arrow.DataType.isUtf8(t) || arrow.DataType.isLargeUtf8(t)) return 'string';
  if (arrow.DataType.isInt(t) && t.bitWidth === 64 && t.isSigned) return 'int64';
  if (arrow.DataType.isFloat(t) && t.precision === arrow.Precision.DOUBLE) return 'double';
  if (arrow.DataType.isBool(t)) return 'boolean';
  if (arrow.DataType.isDate(t) && t.unit === arrow.DateUnit.DAY) return 'date';
  if (arrow.DataType.isTimestamp(t) && t.unit === arrow.TimeUnit.MILLISECOND && t.timezone === 'UTC') {
    return 'timestamp';
  }
  if (arrow.DataType.isList(t) && t.children[0] && arrow.DataType.isUtf8(t.children[0].type)) return 'list';
  return `arrow ${String(t)}`;
}

function arrowCell(t: ColumnType, v: unknown): Cell {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'decimal':
      return decimalText(BigInt(String(v)), t.scale); // arrow's DecimalBigNum prints its unscaled value
    case 'date':
      return isoDay(z.number().parse(v));
    case 'list':
      return v instanceof arrow.Vector ? JSON.stringify(z.array(z.string()).parse(v.toArray())) : badCell(v);
    default:
      return canonical(t, v, 'arrow-rs');
  }
}

async function readPolars(bytes: Buffer, specs: readonly ColumnSpec[]): Promise<EngineRead> {
  // Loaded on demand: importing it without its native binary throws (polarsUnavailable says why).
  const pl = (await import('nodejs-polars')).default;
  const df = pl.readParquet(bytes);
  const columns = new Map<string, { type: string; cells: Cell[] }>();
  const schema = df.schema;
  // polars hands INT64 to JS as a number (inexact past 2^53) and refuses DECIMAL: both are cast to
  // text inside polars, timestamps to their i64 milliseconds first.
  const exprs = specs.map((s) => {
    const c = pl.col(s.name);
    switch (s.type.kind) {
      case 'int64':
      case 'decimal':
      case 'date':
        return c.cast(pl.Utf8);
      case 'timestamp':
        return c.cast(pl.Int64).cast(pl.Utf8);
      default:
        return c;
    }
  });
  const out = df.select(...exprs);
  for (const s of specs) {
    const values: unknown[] = out.getColumn(s.name).toArray();
    const cells = values.map((v) =>
      s.type.kind === 'list' && Array.isArray(v)
        ? JSON.stringify(z.array(z.string()).parse(v))
        : canonical(s.type, v, 'polars'),
    );
    columns.set(s.name, { type: polarsKind(String(schema[s.name])), cells });
  }
  return { rows: df.height, columns };
}

function polarsKind(shown: string): string {
  const t = /^DataType\((.*)\)$/.exec(shown)?.[1] ?? shown; // String(dtype) is `DataType(Int64)`
  const dec = /^Decimal\((\d+),\s*(\d+)\)$/.exec(t);
  if (dec) return `decimal(${dec[1]},${dec[2]})`;
  const map: Record<string, string> = {
    String: 'string',
    Int64: 'int64',
    Float64: 'double',
    Bool: 'boolean',
    Date: 'date',
    'Datetime(ms,UTC)': 'timestamp',
    'List(DataType(String))': 'list',
  };
  return map[t] ?? `polars ${t}`;
}

async function readHyparquet(bytes: Buffer, specs: readonly ColumnSpec[]): Promise<EngineRead> {
  const file = arrayBufferOf(bytes);
  const metadata = parquetMetadata(file);
  const kinds = new Map(metadata.schema.map((e) => [e.name, hyparquetKind(e)]));
  // hyparquet turns DECIMAL into a JS number (inexact): read the unscaled values instead by
  // dropping the annotation from the schema it is given, and scale them here.
  const plain: FileMetaData = {
    ...metadata,
    schema: metadata.schema.map((e) =>
      e.converted_type === 'DECIMAL' ? { ...e, converted_type: undefined, logical_type: undefined } : e,
    ),
  };
  const rows = await parquetReadObjects({ file, metadata: plain, compressors });
  const columns = new Map<string, { type: string; cells: Cell[] }>();
  for (const s of specs) {
    const cells = rows.map((r) => hyparquetCell(s.type, r[s.name]));
    columns.set(s.name, { type: kinds.get(s.name) ?? 'missing', cells });
  }
  return { rows: rows.length, columns };
}

function hyparquetKind(e: SchemaElement): string {
  const lt = e.logical_type;
  if (lt?.type === 'DECIMAL') return `decimal(${lt.precision},${lt.scale})`;
  if (lt?.type === 'STRING' && e.type === 'BYTE_ARRAY') return 'string';
  if (lt?.type === 'DATE' && e.type === 'INT32') return 'date';
  if (lt?.type === 'TIMESTAMP' && lt.unit === 'MILLIS' && lt.isAdjustedToUTC) return 'timestamp';
  if (lt?.type === 'LIST') return 'list';
  if (!lt && e.type === 'INT64') return 'int64';
  if (!lt && e.type === 'DOUBLE') return 'double';
  if (!lt && e.type === 'BOOLEAN') return 'boolean';
  return `hyparquet ${e.type} ${lt?.type ?? e.converted_type ?? ''}`;
}

function hyparquetCell(t: ColumnType, v: unknown): Cell {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'decimal': {
      if (typeof v === 'bigint') return decimalText(v, t.scale);
      if (v instanceof Uint8Array) return decimalText(bigEndianSigned(v), t.scale);
      return badCell(v);
    }
    case 'date':
    case 'timestamp': {
      if (!(v instanceof Date)) return badCell(v);
      return t.kind === 'date' ? isoDay(v.getTime()) : String(v.getTime());
    }
    case 'list':
      return JSON.stringify(z.array(z.string()).parse(v));
    default:
      return canonical(t, v, 'hyparquet');
  }
}

/** A copy of `bytes` as an ArrayBuffer of its own (hyparquet's input). */
function arrayBufferOf(bytes: Buffer): ArrayBuffer {
  const ab = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(ab).set(bytes);
  return ab;
}

/** A FIXED_LEN_BYTE_ARRAY decimal: big-endian two's complement. */
function bigEndianSigned(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return b.length > 0 && (b[0] ?? 0) & 0x80 ? v - (1n << BigInt(b.length * 8)) : v;
}

function badCell(v: unknown): never {
  throw new Error(`unexpected cell value ${String(v)} (${typeof v})`);
}

/** The canonical text of a cell that an engine gave as a JS primitive. */
function canonical(t: ColumnType, v: unknown, engine: EngineName): Cell {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'string':
      return z.string().parse(v);
    case 'double':
      return String(z.number().parse(v));
    case 'boolean':
      return typeof v === 'boolean' ? String(v) : z.enum(['true', 'false']).parse(v);
    case 'int64':
    case 'timestamp':
      return typeof v === 'bigint' || typeof v === 'number'
        ? String(v)
        : z
            .string()
            .regex(/^-?\d+$/)
            .parse(v);
    case 'decimal':
      return z
        .string()
        .regex(/^-?\d+(\.\d+)?$/)
        .parse(v);
    case 'date':
      return z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}$/)
        .parse(v);
    case 'list': {
      // DuckDB's to_json text; escapes differ between engines, the parsed strings do not.
      return JSON.stringify(z.array(z.string()).parse(JSON.parse(z.string().parse(v))));
    }
  }
  return badCell(`${engine}: ${String(v)}`);
}

// ----------------------------------------------------------------------------------- the footer

/** Codecs of every column chunk, and the footer's created_by (read by hyparquet from the footer). */
export function footerOf(bytes: Buffer): { codecs: Set<string>; createdBy: string | undefined } {
  const md = parquetMetadata(arrayBufferOf(bytes));
  const codecs = new Set<string>();
  for (const g of md.row_groups) for (const c of g.columns) if (c.meta_data) codecs.add(c.meta_data.codec);
  return { codecs, createdBy: md.created_by };
}

export const PARQUET_CODEC: Record<Exclude<Compression, 'UNCOMPRESSED'>, string> = {
  ZSTD: 'ZSTD',
  SNAPPY: 'SNAPPY',
};
