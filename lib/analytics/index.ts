export {
  ColumnBuilder,
  type ColumnData,
  type ColumnStats,
  constantColumn,
  daysFromCivil,
  parseTimestampBytes,
  toCellValues,
} from './columns.js';
export {
  compressionOf,
  defaultCompression,
  type PageCompressor,
  snappyPageCompressor,
  UnsupportedCompressionError,
  zstdAvailable,
  zstdPageCompressor,
} from './compression.js';
export {
  type Conversion,
  ConversionError,
  type ConvertOptions,
  convertCsvToParquet,
  DEFAULT_ROW_GROUP_BYTES,
  DEFAULT_ROW_GROUP_ROWS,
} from './convert.js';
export { CsvError, type CsvErrorCode, CsvParser, type CsvParserOptions, CsvRecord, parseCsv } from './csv.js';
export {
  columnTypeOf,
  planColumns,
  REASON_NO_METADATA,
  REASON_NOT_IN_METADATA,
  REASON_SYSTEM_FIELD,
  type ZohoField,
} from './fields.js';
export { parseFieldsResponse } from './fields-response.js';
export { ParquetFileWriter, parquetWriter } from './parquet.js';
export * from './types.js';
export type {
  ByteSink,
  ParquetRowGroupWriter,
  ParquetWriterFactory,
  ParquetWriterOptions,
  RowGroup,
  WriterColumn,
} from './writer.js';
