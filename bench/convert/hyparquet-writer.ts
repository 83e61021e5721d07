import zlib from 'node:zlib';
import { ByteWriter, ParquetWriter, type SchemaElement } from 'hyparquet-writer';
import {
  type ColumnType,
  type ParquetRowGroupWriter,
  type ParquetWriterFactory,
  type RowGroup,
  toCellValues,
  UnsupportedCompressionError,
  type WriterColumn,
} from '../../lib/analytics/index.js';

type DecodedArray = Parameters<ParquetWriter['write']>[0]['columnData'][number]['data'];

/**
 * Parquet schema elements for one column (a LIST is three: the group, the repeated `list`, the
 * `element`). Standard annotations only: UTF8/STRING, DECIMAL, DATE, TIMESTAMP(MILLIS, UTC), LIST.
 */
export function schemaElements(name: string, type: ColumnType): SchemaElement[] {
  const optional = 'OPTIONAL' as const;
  switch (type.kind) {
    case 'string':
      return [
        {
          name,
          type: 'BYTE_ARRAY',
          converted_type: 'UTF8',
          logical_type: { type: 'STRING' },
          repetition_type: optional,
        },
      ];
    case 'int64':
      return [{ name, type: 'INT64', repetition_type: optional }];
    case 'double':
      return [{ name, type: 'DOUBLE', repetition_type: optional }];
    case 'boolean':
      return [{ name, type: 'BOOLEAN', repetition_type: optional }];
    case 'decimal': {
      const { precision, scale } = type;
      const decimal = {
        name,
        converted_type: 'DECIMAL' as const,
        logical_type: { type: 'DECIMAL' as const, precision, scale },
        precision,
        scale,
        repetition_type: optional,
      };
      if (precision <= 18) return [{ ...decimal, type: 'INT64' }];
      return [{ ...decimal, type: 'FIXED_LEN_BYTE_ARRAY', type_length: decimalBytes(precision) }];
    }
    case 'date':
      return [
        {
          name,
          type: 'INT32',
          converted_type: 'DATE',
          logical_type: { type: 'DATE' },
          repetition_type: optional,
        },
      ];
    case 'timestamp':
      return [
        {
          name,
          type: 'INT64',
          converted_type: 'TIMESTAMP_MILLIS',
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
          repetition_type: optional,
        },
      ];
    case 'list':
      return [
        {
          name,
          converted_type: 'LIST',
          logical_type: { type: 'LIST' },
          repetition_type: optional,
          num_children: 1,
        },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        {
          name: 'element',
          type: 'BYTE_ARRAY',
          converted_type: 'UTF8',
          logical_type: { type: 'STRING' },
          repetition_type: optional,
        },
      ];
  }
}

/** Bytes of a big-endian two's complement integer that holds `precision` decimal digits. */
function decimalBytes(precision: number): number {
  let bytes = 1;
  while (2n ** BigInt(8 * bytes - 1) <= 10n ** BigInt(precision)) bytes++;
  return bytes;
}

export function parquetSchema(columns: readonly WriterColumn[]): SchemaElement[] {
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  for (const c of columns) schema.push(...schemaElements(c.name, c.type));
  return schema;
}

/**
 * The writer built on hyparquet-writer (pure JS, MIT, one dependency; a candidate measured by
 * bench/convert.ts, not the default): each row group is encoded
 * into a ByteWriter, whose bytes are handed to `out` after the group (and at the end); a promise
 * from `out` (backpressure) is awaited before the next group is encoded.
 */
export const hyparquetWriter: ParquetWriterFactory = ({ columns, compression, out, metadata }) => {
  const bytes = new ByteWriter(1 << 20);
  const drain = (): Promise<void> | undefined => {
    if (bytes.index === 0) return undefined;
    // Copy: the ByteWriter's buffer is reused for the next group.
    const chunk = new Uint8Array(bytes.buffer.slice(0, bytes.index));
    bytes.index = 0;
    return out.write(chunk);
  };
  const writer = Object.assign(bytes, { flush: drain });
  const compressors: Record<string, (b: Uint8Array) => Uint8Array> = {};
  if (compression === 'ZSTD') {
    // hyparquet-writer takes synchronous compressors only.
    const sync = (zlib as unknown as Record<string, unknown>).zstdCompressSync;
    if (typeof sync !== 'function') throw new UnsupportedCompressionError('ZSTD');
    compressors.ZSTD = sync as (b: Uint8Array) => Uint8Array;
  }
  const pw = new ParquetWriter({
    writer,
    schema: parquetSchema(columns),
    codec: compression,
    compressors,
    statistics: true,
    kvMetadata: metadata ? Object.entries(metadata).map(([key, value]) => ({ key, value })) : undefined,
    createdBy: 'zoho-crm-bulk-export (hyparquet-writer 0.17.0)',
  });
  const names = columns.map((c) => c.name);
  const w: ParquetRowGroupWriter = {
    async writeRowGroup(group: RowGroup): Promise<void> {
      if (group.rows === 0) return;
      const columnData = group.columns.map((data, i) => ({
        name: names[i] as string,
        data: toCellValues(data) as DecodedArray,
        // Page indexes are optional; statistics in the column chunks are kept.
        offsetIndex: false,
      }));
      await pw.write({ columnData, rowGroupSize: group.rows });
    },
    async finish(): Promise<void> {
      pw.finish();
      await drain();
    },
  };
  return w;
};
