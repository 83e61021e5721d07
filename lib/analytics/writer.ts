import type { ColumnData } from './columns.js';
import type { ColumnType, Compression } from './types.js';

/**
 * The seam between the conversion and a Parquet encoder: the converter hands over one bounded row
 * group at a time, the writer encodes it and passes the bytes on to `out`. Swapping the Parquet
 * library means writing another `ParquetWriterFactory`.
 */
export interface WriterColumn {
  readonly name: string;
  readonly type: ColumnType;
}

export interface RowGroup {
  readonly rows: number;
  /** One column per `WriterColumn`, in order, each `rows` long (`toCellValues` turns one into JS values). */
  readonly columns: readonly ColumnData[];
}

/** Where the writer puts the file's bytes. A returned promise means: wait before sending more. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void> | undefined;
}

export interface ParquetRowGroupWriter {
  writeRowGroup(group: RowGroup): Promise<void>;
  /** Writes the footer. */
  finish(): Promise<void>;
}

export interface ParquetWriterOptions {
  readonly columns: readonly WriterColumn[];
  readonly compression: Compression;
  readonly out: ByteSink;
  /** Key/value metadata for the footer. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export type ParquetWriterFactory = (options: ParquetWriterOptions) => ParquetRowGroupWriter;
