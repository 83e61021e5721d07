import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { ColumnBuilder, constantColumn } from './columns.js';
import { defaultCompression } from './compression.js';
import { CsvError, CsvParser, type CsvRecord } from './csv.js';
import { parquetWriter } from './parquet.js';
import {
  type ColumnPlan,
  type ColumnSummary,
  type ColumnType,
  type Compression,
  type ConversionStats,
  LINEAGE_COLUMNS,
  type Lineage,
} from './types.js';
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
  /** The Parquet encoder (default: `parquetWriter`, lib/analytics/parquet.ts). */
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

/** The length of `b` without a UTF-8 sequence cut at its end (at most 3 bytes are held back). */
function utf8Boundary(b: Buffer): number {
  const n = b.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const c = b[n - k] as number;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: look further back
    if (c < 0x80) return n;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return need > k ? n - k : n;
  }
  return n;
}

/**
 * Converts a Zoho Bulk Read CSV (a byte stream) into one typed Parquet file (a byte stream), in
 * bounded memory: rows are gathered into row groups of at most `rowGroupRows` rows and
 * `rowGroupBytes` CSV bytes, each encoded and pushed out as soon as it is full; reading the CSV
 * waits while the consumer of `stream` does not keep up.
 *
 * Output columns: the CSV columns, ordered as in the header and named as the plan says (the header
 * name unless the plan renames it, lib/analytics/names.ts), then `_export_id`,
 * `_job_id` (STRING), `_exported_at` (TIMESTAMP UTC) and `_zoho_conversion_errors` (STRING: a
 * JSON object `{"Zoho_Field":"raw text"}` (keyed by the header name) of the values of that row that did not parse, else NULL).
 * An empty CSV value (`` or `""``) is NULL in every column type.
 *
 * A malformed CSV (see `CsvError` codes) fails `stream` and `done`: an `Upload` reading it aborts,
 * so no object is written.
 */
export function convertCsvToParquet(source: ByteSource, options: ConvertOptions): Conversion {
  const rowGroupRows = Math.max(1, options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS);
  const rowGroupBytes = Math.max(1, options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES);
  const compression = options.compression ?? defaultCompression();
  const makeWriter = options.writer ?? parquetWriter;

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
    let ncols = 0;
    let writer: ParquetRowGroupWriter | null = null;
    let nulls: number[] = [];
    let errors: number[] = [];
    let rows = 0;
    let rowGroups = 0;
    let blankLines = 0;
    let checkUtf8 = false;

    const exportedAt = options.lineage.exportedAt.getTime();
    const { exportId, jobId } = options.lineage;
    const STRING: ColumnType = { kind: 'string' };
    const TIMESTAMP: ColumnType = { kind: 'timestamp' };

    // The row group being filled (a set of builders), and those sealed but not yet written. A set
    // goes back to the pool once its group is written and is then reused: no new buffers per group.
    interface BuilderSet {
      cols: ColumnBuilder[];
      errors: ColumnBuilder;
    }
    const pool: BuilderSet[] = [];
    let current: BuilderSet = { cols: [], errors: new ColumnBuilder(STRING, 16, 1024) };
    let builders: ColumnBuilder[] = current.cols;
    let errorBuilder = current.errors;
    let groupRows = 0;
    let groupBytes = 0;
    const sealed: { group: RowGroup; set: BuilderSet }[] = [];

    const newGroup = (): void => {
      const set = pool.pop() ?? {
        cols: (plan ?? []).map((c) => new ColumnBuilder(c.type, 1024, 64 * 1024)),
        errors: new ColumnBuilder(STRING, 1024, 1024),
      };
      for (const b of set.cols) {
        b.reset();
        b.checkUtf8 = checkUtf8;
      }
      set.errors.reset();
      current = set;
      builders = set.cols;
      errorBuilder = set.errors;
      groupRows = 0;
      groupBytes = 0;
    };
    const seal = (): void => {
      if (groupRows === 0) return;
      const n = groupRows;
      sealed.push({
        set: current,
        group: {
          rows: n,
          columns: [
            ...builders.map((b) => b.finish()),
            constantColumn(STRING, n, exportId),
            constantColumn(STRING, n, jobId),
            constantColumn(TIMESTAMP, n, exportedAt),
            errorBuilder.finish(),
          ],
        },
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
      const p = typeof options.columns === 'function' ? options.columns(header) : options.columns;
      if (p.length !== header.length || p.some((c, i) => (c.zohoField ?? c.name) !== header[i])) {
        throw new ConversionError('CSV_HEADER_MISMATCH', 'the column plan does not match the CSV header');
      }
      const names = new Set(p.map((c) => c.name));
      if (names.size !== p.length || Object.values(LINEAGE_COLUMNS).some((n) => names.has(n))) {
        throw new ConversionError('CSV_HEADER_MISMATCH', 'the column plan repeats or reserves a column name');
      }
      plan = p;
      ncols = header.length;
      nulls = new Array<number>(ncols).fill(0);
      errors = new Array<number>(ncols).fill(0);
      const writerColumns: WriterColumn[] = [
        ...p.map((c) => ({ name: c.name, type: c.type })),
        { name: LINEAGE_COLUMNS.exportId, type: STRING },
        { name: LINEAGE_COLUMNS.jobId, type: STRING },
        { name: LINEAGE_COLUMNS.exportedAt, type: TIMESTAMP },
        { name: LINEAGE_COLUMNS.conversionErrors, type: STRING },
      ];
      writer = makeWriter({
        columns: writerColumns,
        compression,
        out,
        metadata: {
          'zoho.export_id': exportId,
          'zoho.job_id': jobId,
          'zoho.columns': JSON.stringify(
            p.map((c) => ({
              name: c.name,
              zoho_field: c.zohoField ?? c.name,
              type: c.type,
              zoho_type: c.zohoType,
              reason: c.reason,
            })),
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
      const { buf, starts, ends, flags } = rec;
      let rowErrors: Record<string, string> | null = null;
      for (let i = 0; i < count; i++) {
        const b = builders[i] as ColumnBuilder;
        const s = starts[i] as number;
        const e = ends[i] as number;
        if (e === s) {
          b.addNull();
          nulls[i] = (nulls[i] ?? 0) + 1;
          continue;
        }
        if (!b.add(buf, s, e, flags[i] as number)) {
          b.addNull();
          nulls[i] = (nulls[i] ?? 0) + 1;
          errors[i] = (errors[i] ?? 0) + 1;
          rowErrors ??= {};
          rowErrors[header[i] as string] = rec.text(i);
        }
      }
      if (rowErrors) errorBuilder.addText(JSON.stringify(rowErrors));
      else errorBuilder.addNull();
      rows++;
      groupRows++;
      groupBytes += (ends[count - 1] as number) - (starts[0] as number) + 2;
      if (groupRows >= rowGroupRows || groupBytes >= rowGroupBytes) seal();
    };

    const parser = new CsvParser(onRecord, { maxRecordBytes: options.maxRecordBytes });
    const flushSealed = async (): Promise<void> => {
      while (sealed.length > 0) {
        const { group, set } = sealed.shift() as { group: RowGroup; set: BuilderSet };
        if (closed) throw closed;
        await (writer as ParquetRowGroupWriter).writeRowGroup(group);
        pool.push(set);
        rowGroups++;
      }
    };
    let utf8Tail: Buffer | null = null;
    for await (const input of source) {
      if (closed) throw closed;
      const chunk = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
      if (!checkUtf8) {
        // The CSV's structure is ASCII, so the whole file is valid UTF-8 iff every value is: check
        // the bytes in bulk and, after the first invalid byte, every string value on its own.
        const joined: Buffer = utf8Tail
          ? Buffer.concat([utf8Tail, chunk])
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
        const cut = utf8Boundary(joined);
        utf8Tail = cut < joined.length ? Buffer.from(joined.subarray(cut)) : null;
        if (!isUtf8(joined.subarray(0, cut))) {
          checkUtf8 = true;
          for (const b of builders) b.checkUtf8 = true;
        }
      }
      parser.push(chunk);
      if (sealed.length > 0) await flushSealed();
    }
    if (utf8Tail && !isUtf8(utf8Tail)) {
      checkUtf8 = true;
      for (const b of builders) b.checkUtf8 = true;
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
      zohoField: c.zohoField ?? c.name,
      type: c.type,
      metadataType: c.metadataType,
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
