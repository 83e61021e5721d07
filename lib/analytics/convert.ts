import { Readable } from 'node:stream';
import { defaultCompression } from './compression.js';
import { CsvError, CsvParser, type CsvRecord } from './csv.js';
import { hyparquetWriter } from './hyparquet-writer.js';
import {
  type CellValue,
  type ColumnPlan,
  type ColumnSummary,
  type ColumnType,
  type Compression,
  type ConversionStats,
  LINEAGE_COLUMNS,
  type Lineage,
} from './types.js';
import {
  INVALID,
  type Invalid,
  parseBoolean,
  parseDate,
  parseDecimal,
  parseDouble,
  parseInt64,
  parseList,
  parseTimestamp,
} from './values.js';
import type { ParquetRowGroupWriter, ParquetWriterFactory, RowGroup, WriterColumn } from './writer.js';

export interface ConvertOptions {
  /** The column plan, or a function that builds it from the CSV header (e.g. `h => planColumns(h, fields)`). */
  readonly columns: ColumnPlan | ((header: readonly string[]) => ColumnPlan);
  readonly lineage: Lineage;
  /** Most rows in one row group (default 100,000). */
  readonly rowGroupRows?: number;
  /** Most CSV bytes in one row group (default 24 MiB): what bounds memory with wide text. */
  readonly rowGroupBytes?: number;
  /** Default: ZSTD where Node has it (≥ 22.15), else SNAPPY. */
  readonly compression?: Compression;
  /** The Parquet encoder (default hyparquet-writer). */
  readonly writer?: ParquetWriterFactory;
  /** Largest CSV record in bytes (default 64 MiB). */
  readonly maxRecordBytes?: number;
}

export interface Conversion {
  /** The Parquet file, for `Upload({ Body })` or `pipeline(stream, file)`. */
  readonly stream: Readable;
  /** Resolves after the last byte was handed to `stream`; rejects with the error the stream failed with. */
  readonly done: Promise<ConversionStats>;
}

export class ConversionError extends Error {
  override readonly name = 'ConversionError';
  constructor(
    readonly code: 'CSV_HEADER_MISMATCH' | 'OUTPUT_CLOSED',
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_ROW_GROUP_ROWS = 100_000;
export const DEFAULT_ROW_GROUP_BYTES = 24 * 1024 * 1024;

type ByteSource = Readable | AsyncIterable<Uint8Array | string>;

/** Turns one CSV field into a value of its column's type. */
type FieldParser = (text: string) => CellValue | Invalid;

function fieldParser(type: ColumnType): FieldParser | null {
  switch (type.kind) {
    case 'string':
      return null;
    case 'int64':
      return parseInt64;
    case 'double':
      return parseDouble;
    case 'decimal': {
      const { precision, scale } = type;
      return (s) => parseDecimal(s, precision, scale);
    }
    case 'boolean':
      return parseBoolean;
    case 'date':
      return parseDate;
    case 'timestamp':
      return parseTimestamp;
    case 'list':
      return parseList;
  }
}

/**
 * Converts a Zoho Bulk Read CSV (a byte stream) into one typed Parquet file (a byte stream), in
 * bounded memory: rows are gathered into row groups of at most `rowGroupRows` rows and
 * `rowGroupBytes` CSV bytes, each encoded and pushed out as soon as it is full; reading the CSV
 * waits while the consumer of `stream` does not keep up.
 *
 * Output columns: the CSV columns, named and ordered as in the header, then `_export_id`,
 * `_job_id` (STRING), `_exported_at` (TIMESTAMP UTC) and `_zoho_conversion_errors` (STRING: a
 * JSON object `{"Field":"raw text"}` of the values of that row that did not parse, else NULL).
 * An empty CSV value (`` or `""``) is NULL in every column type.
 *
 * A malformed CSV (see `CsvError` codes) fails `stream` and `done`: an `Upload` reading it aborts,
 * so no object is written.
 */
export function convertCsvToParquet(source: ByteSource, options: ConvertOptions): Conversion {
  const rowGroupRows = Math.max(1, options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS);
  const rowGroupBytes = Math.max(1, options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES);
  const compression = options.compression ?? defaultCompression();
  const makeWriter = options.writer ?? hyparquetWriter;

  let waiting: (() => void) | null = null;
  let closed: Error | null = null;
  let outBytes = 0;
  const wake = (): void => {
    const w = waiting;
    waiting = null;
    w?.();
  };
  const stream = new Readable({
    highWaterMark: 1024 * 1024,
    read: wake,
    destroy(err, cb) {
      closed ??= err ?? new ConversionError('OUTPUT_CLOSED', 'the Parquet stream was closed before the end');
      wake();
      cb(err);
    },
  });
  const out = {
    write(bytes: Uint8Array): Promise<void> | undefined {
      if (closed) throw closed;
      outBytes += bytes.length;
      if (stream.push(bytes)) return undefined;
      return new Promise<void>((resolve) => {
        waiting = resolve;
      });
    },
  };

  const run = async (): Promise<ConversionStats> => {
    let plan: ColumnPlan | null = null;
    let header: string[] = [];
    let parsers: (FieldParser | null)[] = [];
    let ncols = 0;
    let writer: ParquetRowGroupWriter | null = null;
    let nulls: number[] = [];
    let errors: number[] = [];
    let rows = 0;
    let rowGroups = 0;
    let blankLines = 0;

    const exportedAt = options.lineage.exportedAt.getTime();
    const { exportId, jobId } = options.lineage;

    // The row group being filled, and those sealed but not yet written.
    let cols: CellValue[][] = [];
    let errorCol: (string | null)[] = [];
    let groupRows = 0;
    let groupBytes = 0;
    const sealed: RowGroup[] = [];

    const newGroup = (): void => {
      cols = [];
      for (let i = 0; i < ncols; i++) cols.push([]);
      errorCol = [];
      groupRows = 0;
      groupBytes = 0;
    };
    const seal = (): void => {
      if (groupRows === 0) return;
      const n = groupRows;
      const same = <T>(v: T): T[] => new Array<T>(n).fill(v);
      sealed.push({
        rows: n,
        columns: [
          ...cols,
          same<CellValue>(exportId),
          same<CellValue>(jobId),
          same<CellValue>(exportedAt),
          errorCol,
        ],
      });
      newGroup();
    };

    const onHeader = (rec: CsvRecord): void => {
      header = rec.values();
      const seen = new Set<string>();
      for (const name of header) {
        if (name === '') throw new CsvError('CSV_HEADER_INVALID', 'the header has an empty column name', 1);
        if (seen.has(name))
          throw new CsvError('CSV_HEADER_INVALID', `the header repeats the column ${name}`, 1);
        if (Object.values(LINEAGE_COLUMNS).includes(name as never)) {
          throw new CsvError('CSV_HEADER_INVALID', `the header uses the reserved column name ${name}`, 1);
        }
        seen.add(name);
      }
      plan = typeof options.columns === 'function' ? options.columns(header) : options.columns;
      if (plan.length !== header.length || plan.some((c, i) => c.name !== header[i])) {
        throw new ConversionError('CSV_HEADER_MISMATCH', 'the column plan does not match the CSV header');
      }
      ncols = header.length;
      parsers = plan.map((c) => fieldParser(c.type));
      nulls = new Array<number>(ncols).fill(0);
      errors = new Array<number>(ncols).fill(0);
      const writerColumns: WriterColumn[] = [
        ...plan.map((c) => ({ name: c.name, type: c.type })),
        { name: LINEAGE_COLUMNS.exportId, type: { kind: 'string' } },
        { name: LINEAGE_COLUMNS.jobId, type: { kind: 'string' } },
        { name: LINEAGE_COLUMNS.exportedAt, type: { kind: 'timestamp' } },
        { name: LINEAGE_COLUMNS.conversionErrors, type: { kind: 'string' } },
      ];
      writer = makeWriter({
        columns: writerColumns,
        compression,
        out,
        metadata: {
          'zoho.export_id': exportId,
          'zoho.job_id': jobId,
          'zoho.columns': JSON.stringify(
            plan.map((c) => ({ name: c.name, type: c.type, zoho_type: c.zohoType, reason: c.reason })),
          ),
        },
      });
      newGroup();
    };

    const onRecord = (rec: CsvRecord): void => {
      if (plan === null) {
        onHeader(rec);
        return;
      }
      const count = rec.count;
      if (count !== ncols) {
        if (count === 1 && ncols > 1 && rec.isEmpty(0)) {
          blankLines++;
          return;
        }
        throw new CsvError(
          'CSV_FIELD_COUNT',
          `a record has ${count} fields, the header has ${ncols}`,
          rows + blankLines + 2,
        );
      }
      const starts = rec.starts;
      const ends = rec.ends;
      let rowErrors: Record<string, string> | null = null;
      let bytes = count;
      for (let i = 0; i < count; i++) {
        const col = cols[i] as CellValue[];
        const len = (ends[i] as number) - (starts[i] as number);
        if (len === 0) {
          col.push(null);
          nulls[i] = (nulls[i] ?? 0) + 1;
          continue;
        }
        bytes += len;
        const text = rec.text(i);
        const parse = parsers[i];
        if (!parse) {
          col.push(text);
          continue;
        }
        const v = parse(text);
        if (v === INVALID) {
          col.push(null);
          nulls[i] = (nulls[i] ?? 0) + 1;
          errors[i] = (errors[i] ?? 0) + 1;
          rowErrors ??= {};
          rowErrors[header[i] as string] = text;
        } else {
          col.push(v);
        }
      }
      errorCol.push(rowErrors ? JSON.stringify(rowErrors) : null);
      rows++;
      groupRows++;
      groupBytes += bytes;
      if (groupRows >= rowGroupRows || groupBytes >= rowGroupBytes) seal();
    };

    const parser = new CsvParser(onRecord, { maxRecordBytes: options.maxRecordBytes });
    const flushSealed = async (): Promise<void> => {
      while (sealed.length > 0) {
        const group = sealed.shift() as RowGroup;
        if (closed) throw closed;
        await (writer as ParquetRowGroupWriter).writeRowGroup(group);
        rowGroups++;
      }
    };
    for await (const chunk of source) {
      if (closed) throw closed;
      parser.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
      if (sealed.length > 0) await flushSealed();
    }
    parser.end();
    seal();
    await flushSealed();
    if (closed) throw closed;
    await (writer as ParquetRowGroupWriter | null)?.finish();
    stream.push(null);

    const finalPlan = plan as ColumnPlan | null;
    const columns: ColumnSummary[] = (finalPlan ?? []).map((c, i) => ({
      name: c.name,
      type: c.type,
      zohoType: c.zohoType,
      reason: c.reason,
      nulls: nulls[i] ?? 0,
      conversionErrors: errors[i] ?? 0,
    }));
    const conversionErrors: Record<string, number> = {};
    for (const c of columns) if (c.conversionErrors > 0) conversionErrors[c.name] = c.conversionErrors;
    return {
      rows,
      rowGroups,
      bytes: outBytes,
      csvBytes: parser.bytes,
      header,
      blankLines,
      conversionErrors,
      columns,
      compression,
    };
  };

  const done = run().catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!stream.destroyed) stream.destroy(e);
    throw e;
  });
  // The caller may watch only `stream` (e.g. through Upload): never an unhandled rejection.
  done.catch(() => undefined);
  return { stream, done };
}
