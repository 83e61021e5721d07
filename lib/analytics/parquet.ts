// Over 450 lines on purpose: one encoder (pages, dictionary, statistics, footer) that is read and tuned as a whole on the hot path.
/**
 * A small Parquet encoder for the typed columns of lib/analytics/columns.ts, written for the
 * converter's data: it encodes the column builders' typed arrays as they are (no JS value per
 * cell), which is what makes it several times faster than a general writer (see bench/convert.ts).
 *
 * Only the most widely read parts of the format (parquet-format 2.x, readable by parquet-mr/Spark,
 * Trino/Athena, Hive, DuckDB, Arrow):
 * - data pages v1, PLAIN values, RLE/bit-packed hybrid repetition and definition levels;
 * - the constant lineage columns: a one-value dictionary page and RLE_DICTIONARY data pages;
 * - BYTE_ARRAY + STRING (UTF8), INT64, DOUBLE, BOOLEAN, INT32 + DATE, INT64 + TIMESTAMP(MILLIS, UTC),
 *   DECIMAL on INT64 (precision ≤ 18) or FIXED_LEN_BYTE_ARRAY(16), and 3-level LIST of STRING;
 * - every column OPTIONAL; column-chunk statistics: null_count, and min/max for numbers and dates;
 *   TypeDefinedOrder column orders;
 * - SNAPPY (snappyjs), ZSTD (node:zlib, Node ≥ 22.15) or no compression, per page.
 */
import { ByteBuffer } from './bytes.js';
import type { ColumnData } from './columns.js';
import { type PageCompressor, snappyPageCompressor, zstdPageCompressor } from './compression.js';
import { CREATED_BY } from './created-by.js';
import { T_STRUCT, ThriftWriter } from './thrift.js';
import type { ColumnType, Compression } from './types.js';
import type { ParquetRowGroupWriter, ParquetWriterFactory, RowGroup, WriterColumn } from './writer.js';

const MAGIC = Buffer.from('PAR1', 'latin1');

// parquet.thrift enums
const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;
const REP = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
const CONVERTED = { UTF8: 0, LIST: 3, DECIMAL: 5, DATE: 6, TIMESTAMP_MILLIS: 9 } as const;
const ENC = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const CODEC = { UNCOMPRESSED: 0, SNAPPY: 1, ZSTD: 6 } as const;
const PAGE = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;

/** Target uncompressed bytes of one data page. */
const PAGE_BYTES = 1024 * 1024;

interface Leaf {
  readonly name: string;
  readonly type: ColumnType;
  readonly physical: number;
  readonly typeLength?: number;
  readonly path: string[];
  readonly maxDef: number;
  readonly maxRep: number;
}

interface ChunkMeta {
  readonly leaf: Leaf;
  readonly encodings: number[];
  readonly numValues: number;
  readonly uncompressed: number;
  readonly compressed: number;
  readonly dataPageOffset: number;
  readonly dictionaryPageOffset?: number;
  readonly fileOffset: number;
  readonly nulls: number;
  readonly min?: Buffer;
  readonly max?: Buffer;
}

interface RowGroupMeta {
  readonly chunks: ChunkMeta[];
  readonly rows: number;
  readonly uncompressed: number;
  readonly compressed: number;
  readonly fileOffset: number;
}

function leafOf(c: WriterColumn): Leaf {
  const { name, type } = c;
  switch (type.kind) {
    case 'string':
      return { name, type, physical: TYPE.BYTE_ARRAY, path: [name], maxDef: 1, maxRep: 0 };
    case 'list':
      return { name, type, physical: TYPE.BYTE_ARRAY, path: [name, 'list', 'element'], maxDef: 3, maxRep: 1 };
    case 'int64':
    case 'timestamp':
      return { name, type, physical: TYPE.INT64, path: [name], maxDef: 1, maxRep: 0 };
    case 'decimal':
      return type.precision <= 18
        ? { name, type, physical: TYPE.INT64, path: [name], maxDef: 1, maxRep: 0 }
        : {
            name,
            type,
            physical: TYPE.FIXED_LEN_BYTE_ARRAY,
            typeLength: 16,
            path: [name],
            maxDef: 1,
            maxRep: 0,
          };
    case 'double':
      return { name, type, physical: TYPE.DOUBLE, path: [name], maxDef: 1, maxRep: 0 };
    case 'date':
      return { name, type, physical: TYPE.INT32, path: [name], maxDef: 1, maxRep: 0 };
    case 'boolean':
      return { name, type, physical: TYPE.BOOLEAN, path: [name], maxDef: 1, maxRep: 0 };
  }
}

/** Writes the schema elements of one column (three for a LIST). */
function writeSchema(w: ThriftWriter, leaf: Leaf): void {
  const t = leaf.type;
  const el = (body: (w: ThriftWriter) => void): void => {
    w.beginStruct();
    body(w);
    w.endStruct();
  };
  const stringLeaf = (name: string) =>
    el((w) => {
      w.i32(1, TYPE.BYTE_ARRAY).i32(3, REP.OPTIONAL).string(4, name).i32(6, CONVERTED.UTF8);
      w.struct(10, (w) => w.struct(1, () => {}));
    });
  switch (t.kind) {
    case 'string':
      stringLeaf(leaf.name);
      return;
    case 'list':
      el((w) => {
        w.i32(3, REP.OPTIONAL).string(4, leaf.name).i32(5, 1).i32(6, CONVERTED.LIST);
        w.struct(10, (w) => w.struct(3, () => {}));
      });
      el((w) => {
        w.i32(3, REP.REPEATED).string(4, 'list').i32(5, 1);
      });
      stringLeaf('element');
      return;
    case 'int64':
    case 'double':
    case 'boolean':
      el((w) => {
        w.i32(1, leaf.physical).i32(3, REP.OPTIONAL).string(4, leaf.name);
      });
      return;
    case 'decimal':
      el((w) => {
        w.i32(1, leaf.physical);
        if (leaf.typeLength) w.i32(2, leaf.typeLength);
        w.i32(3, REP.OPTIONAL)
          .string(4, leaf.name)
          .i32(6, CONVERTED.DECIMAL)
          .i32(7, t.scale)
          .i32(8, t.precision);
        w.struct(10, (w) => w.struct(5, (w) => w.i32(1, t.scale).i32(2, t.precision)));
      });
      return;
    case 'date':
      el((w) => {
        w.i32(1, TYPE.INT32).i32(3, REP.OPTIONAL).string(4, leaf.name).i32(6, CONVERTED.DATE);
        w.struct(10, (w) => w.struct(6, () => {}));
      });
      return;
    case 'timestamp':
      el((w) => {
        w.i32(1, TYPE.INT64).i32(3, REP.OPTIONAL).string(4, leaf.name).i32(6, CONVERTED.TIMESTAMP_MILLIS);
        // TimestampType { isAdjustedToUTC: true, unit: MILLIS }
        w.struct(10, (w) => w.struct(8, (w) => w.bool(1, true).struct(2, (w) => w.struct(1, () => {}))));
      });
      return;
  }
}

/**
 * RLE/bit-packed hybrid encoding of `levels[0, n)` at `bitWidth` (1 or 2), preceded by its 4-byte
 * length (the v1 data page layout). Runs of 8 or more equal values are RLE runs; the rest is
 * bit-packed in groups of 8 (the last group padded with zeros).
 */
function writeLevels(out: ByteBuffer, levels: Uint8Array, n: number, bitWidth: number): void {
  const lenAt = out.pos;
  out.ensure(4);
  out.pos += 4;
  let i = 0;
  while (i < n) {
    const v = levels[i] as number;
    let j = i + 1;
    while (j < n && levels[j] === v) j++;
    if (j - i >= 8) {
      out.varint((j - i) * 2);
      out.u8(v);
      i = j;
      continue;
    }
    // Bit-pack groups of 8 until a run of 8 equal values starts at a group boundary.
    const start = i;
    let groups = 0;
    for (;;) {
      groups++;
      i += 8;
      if (i >= n) break;
      const u = levels[i] as number;
      let r = i + 1;
      while (r < n && r - i < 8 && levels[r] === u) r++;
      if (r - i >= 8) break;
    }
    out.varint(groups * 2 + 1);
    out.ensure(groups * bitWidth);
    for (let g = 0; g < groups; g++) {
      let acc = 0;
      for (let k = 0; k < 8; k++) {
        const idx = start + g * 8 + k;
        const lv = idx < n ? (levels[idx] as number) : 0;
        acc |= lv << (k * bitWidth);
      }
      for (let b = 0; b < bitWidth; b++) out.buf[out.pos++] = (acc >>> (8 * b)) & 0xff;
    }
  }
  out.buf.writeUInt32LE(out.pos - lenAt - 4, lenAt);
}

/** One RLE run of `n` copies of `v` with its 4-byte length (all-defined levels). */
function writeLevelRun(out: ByteBuffer, n: number, v: number): void {
  const lenAt = out.pos;
  out.ensure(4);
  out.pos += 4;
  if (n > 0) {
    out.varint(n * 2);
    out.u8(v);
  }
  out.buf.writeUInt32LE(out.pos - lenAt - 4, lenAt);
}

function compressorFor(compression: Compression): { codec: number; compressor: PageCompressor | null } {
  switch (compression) {
    case 'SNAPPY':
      return { codec: CODEC.SNAPPY, compressor: snappyPageCompressor() };
    case 'ZSTD':
      return { codec: CODEC.ZSTD, compressor: zstdPageCompressor() };
    case 'UNCOMPRESSED':
      return { codec: CODEC.UNCOMPRESSED, compressor: null };
  }
}

/** Pages being compressed at once (in order); with ZSTD they overlap the encoding of the next. */
const PAGES_IN_FLIGHT = 4;

/** A page whose body is being compressed; its header is written once the size is known. */
interface PendingPage {
  readonly type: number;
  readonly subHeader: (w: ThriftWriter) => void;
  readonly bodyLength: number;
  readonly data: Promise<Buffer> | Buffer;
}

/** Sizes and offsets of the pages of one column chunk, as they are emitted. */
interface ChunkSizes {
  uncompressed: number;
  firstOffset: number[];
}

function int64Bytes(hi: number, lo: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32LE(lo >>> 0, 0);
  b.writeInt32LE(hi | 0, 4);
  return b;
}

/** Encodes `value` (a constant) in PLAIN for its leaf. */
function plainConstant(leaf: Leaf, value: string | number): Buffer {
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8');
    const b = Buffer.allocUnsafe(4 + s.length);
    b.writeUInt32LE(s.length, 0);
    s.copy(b, 4);
    return b;
  }
  if (leaf.physical === TYPE.INT64) {
    const hi = Math.floor(value / 4294967296);
    return int64Bytes(hi, value - hi * 4294967296);
  }
  throw new Error(`parquet: no constant encoding for ${leaf.type.kind}`);
}

export class ParquetFileWriter implements ParquetRowGroupWriter {
  private readonly leaves: Leaf[];
  private readonly codec: number;
  private readonly compressor: PageCompressor | null;
  private readonly out: ParquetWriterOptionsOut;
  private readonly metadata: Readonly<Record<string, string>> | undefined;
  private readonly groups: RowGroupMeta[] = [];
  private offset = 0;
  private started = false;
  /** Page bodies, reused page after page. */
  private readonly scratch = new ByteBuffer(PAGE_BYTES * 2);
  private levels = new Uint8Array(1024);
  private rows = 0;
  /** Pieces of the file not yet handed to `out`. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(options: {
    columns: readonly WriterColumn[];
    compression: Compression;
    out: ParquetWriterOptionsOut;
    metadata?: Readonly<Record<string, string>>;
  }) {
    this.leaves = options.columns.map(leafOf);
    const c = compressorFor(options.compression);
    this.codec = c.codec;
    this.compressor = c.compressor;
    this.out = options.out;
    this.metadata = options.metadata;
  }

  private emit(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.offset += b.length;
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunk = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    await this.out.write(chunk);
  }

  async writeRowGroup(group: RowGroup): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.emit(MAGIC);
    }
    if (group.rows === 0) return;
    const start = this.offset;
    const chunks: ChunkMeta[] = [];
    let uncompressed = 0;
    for (let c = 0; c < this.leaves.length; c++) {
      const leaf = this.leaves[c] as Leaf;
      const col = group.columns[c] as ColumnData;
      if (col.rows !== group.rows)
        throw new Error(`parquet: column ${leaf.name} has ${col.rows} rows, not ${group.rows}`);
      const meta =
        col.constant !== undefined ? await this.constantChunk(leaf, col) : await this.chunk(leaf, col);
      chunks.push(meta);
      uncompressed += meta.uncompressed;
      // Hand each column chunk on as it is done: the consumer's backpressure applies per chunk.
      if (this.pendingBytes >= 4 * 1024 * 1024) await this.flush();
    }
    await this.flush();
    this.groups.push({
      chunks,
      rows: group.rows,
      uncompressed,
      compressed: this.offset - start,
      fileOffset: start,
    });
    this.rows += group.rows;
  }

  /**
   * Starts one page: its body (in the reused scratch buffer) is compressed, or copied when there is
   * no compression. `subHeader` writes the page's own header struct (field 5 or 7).
   */
  private startPage(type: number, subHeader: (w: ThriftWriter) => void, body: Buffer): PendingPage {
    const data = this.compressor ? this.compressor.compress(body) : Buffer.from(body);
    return { type, subHeader, bodyLength: body.length, data };
  }

  /** Writes a started page (header, then data) once its compressed body is there. */
  private async emitPage(p: PendingPage, sizes: ChunkSizes): Promise<void> {
    const data = await p.data;
    const h = ThriftWriter.struct((w) => {
      w.i32(1, p.type).i32(2, p.bodyLength).i32(3, data.length);
      p.subHeader(w);
    });
    sizes.firstOffset.push(this.offset);
    this.emit(h);
    this.emit(data);
    sizes.uncompressed += h.length + p.bodyLength;
  }

  /** Starts a page, and writes the oldest started one when too many are in flight. */
  private async queuePage(window: PendingPage[], sizes: ChunkSizes, page: PendingPage): Promise<void> {
    window.push(page);
    if (window.length >= PAGES_IN_FLIGHT) await this.emitPage(window.shift() as PendingPage, sizes);
  }

  private async drainPages(window: PendingPage[], sizes: ChunkSizes): Promise<void> {
    while (window.length > 0) await this.emitPage(window.shift() as PendingPage, sizes);
  }

  private dataPage(numValues: number, encoding: number, body: Buffer): PendingPage {
    return this.startPage(
      PAGE.DATA_PAGE,
      (w) => w.struct(5, (w) => w.i32(1, numValues).i32(2, encoding).i32(3, ENC.RLE).i32(4, ENC.RLE)),
      body,
    );
  }

  private async chunk(leaf: Leaf, col: ColumnData): Promise<ChunkMeta> {
    const chunkStart = this.offset;
    const s = this.scratch;
    const rows = col.rows;
    const sizes: ChunkSizes = { uncompressed: 0, firstOffset: [] };
    const window: PendingPage[] = [];
    let numValues = 0;
    let r0 = 0;
    let k0 = 0; // values before r0
    const fixed = fixedWidth(leaf);
    while (r0 < rows) {
      // Choose the page's rows [r0, r1) by value bytes.
      let r1: number;
      let k1: number;
      if (fixed > 0) {
        const maxValues = Math.max(8, Math.floor(PAGE_BYTES / fixed));
        r1 = r0;
        k1 = k0;
        const def = col.defined;
        while (r1 < rows && k1 - k0 < maxValues) {
          k1 += def[r1] as number;
          r1++;
        }
      } else {
        const ends = col.ends as Int32Array;
        const base = r0 > 0 ? (ends[r0 - 1] as number) : 0;
        r1 = r0 + 1;
        while (r1 < rows && (ends[r1 - 1] as number) - base < PAGE_BYTES) r1++;
        k1 = k0; // unused for byte arrays
      }
      s.pos = 0;
      let pageValues: number;
      if (leaf.maxRep > 0) {
        pageValues = this.listLevels(col, r0, r1);
      } else {
        pageValues = r1 - r0;
        let allDefined = true;
        const def = col.defined;
        for (let r = r0; r < r1; r++) {
          if (def[r] === 0) {
            allDefined = false;
            break;
          }
        }
        if (allDefined) writeLevelRun(s, pageValues, 1);
        else writeLevels(s, def.subarray(r0, r1), pageValues, 1);
      }
      this.values(leaf, col, r0, r1, k0, k1);
      await this.queuePage(window, sizes, this.dataPage(pageValues, ENC.PLAIN, s.view()));
      numValues += pageValues;
      r0 = r1;
      k0 = k1;
    }
    await this.drainPages(window, sizes);
    const { min, max } = statsBytes(leaf, col);
    return {
      leaf,
      encodings: [ENC.PLAIN, ENC.RLE],
      numValues,
      uncompressed: sizes.uncompressed,
      compressed: this.offset - chunkStart,
      dataPageOffset: chunkStart,
      fileOffset: chunkStart,
      nulls: col.stats.nulls,
      min,
      max,
    };
  }

  /** Repetition and definition levels of the list rows [r0, r1); returns their count. */
  private listLevels(col: ColumnData, r0: number, r1: number): number {
    const lengths = col.lengths as Int32Array;
    let n = 0;
    for (let r = r0; r < r1; r++) n += Math.max(1, lengths[r] as number);
    if (this.levels.length < n) this.levels = new Uint8Array(Math.max(n, this.levels.length * 2));
    const lv = this.levels;
    // repetition: 0 at the first entry of a row, 1 after
    let p = 0;
    for (let r = r0; r < r1; r++) {
      const len = Math.max(1, lengths[r] as number);
      lv[p++] = 0;
      for (let j = 1; j < len; j++) lv[p++] = 1;
    }
    writeLevels(this.scratch, lv, n, 1);
    // definition: 0 for a NULL list, 3 for each element (no empty lists or NULL elements are built)
    p = 0;
    for (let r = r0; r < r1; r++) {
      const len = lengths[r] as number;
      if (len < 0) lv[p++] = 0;
      else if (len === 0) lv[p++] = 1;
      else for (let j = 0; j < len; j++) lv[p++] = 3;
    }
    writeLevels(this.scratch, lv, n, 2);
    return n;
  }

  /** PLAIN values of rows [r0, r1) (values [k0, k1) for fixed-width types). */
  private values(leaf: Leaf, col: ColumnData, r0: number, r1: number, k0: number, k1: number): void {
    const s = this.scratch;
    if (leaf.physical === TYPE.BYTE_ARRAY) {
      const ends = col.ends as Int32Array;
      const from = r0 > 0 ? (ends[r0 - 1] as number) : 0;
      const to = ends[r1 - 1] as number;
      s.bytes((col.bytes as Buffer).subarray(from, to));
      return;
    }
    switch (leaf.physical) {
      case TYPE.INT64: {
        const w = col.words as Uint32Array;
        s.bytes(new Uint8Array(w.buffer, w.byteOffset + k0 * 8, (k1 - k0) * 8));
        return;
      }
      case TYPE.DOUBLE: {
        const f = col.f64 as Float64Array;
        s.bytes(new Uint8Array(f.buffer, f.byteOffset + k0 * 8, (k1 - k0) * 8));
        return;
      }
      case TYPE.INT32: {
        const a = col.i32 as Int32Array;
        s.bytes(new Uint8Array(a.buffer, a.byteOffset + k0 * 4, (k1 - k0) * 4));
        return;
      }
      case TYPE.FIXED_LEN_BYTE_ARRAY:
        s.bytes((col.bytes as Buffer).subarray(k0 * 16, k1 * 16));
        return;
      case TYPE.BOOLEAN: {
        const u = col.u8 as Uint8Array;
        const n = k1 - k0;
        s.ensure((n + 7) >> 3);
        for (let i = 0; i < n; i += 8) {
          let acc = 0;
          for (let b = 0; b < 8 && i + b < n; b++) acc |= (u[k0 + i + b] as number) << b;
          s.buf[s.pos++] = acc;
        }
        return;
      }
    }
  }

  /** A constant column: a one-value dictionary page, then all rows as index 0 (one RLE run). */
  private async constantChunk(leaf: Leaf, col: ColumnData): Promise<ChunkMeta> {
    const chunkStart = this.offset;
    const sizes: ChunkSizes = { uncompressed: 0, firstOffset: [] };
    const dict = plainConstant(leaf, col.constant as string | number);
    await this.emitPage(
      this.startPage(PAGE.DICTIONARY_PAGE, (w) => w.struct(7, (w) => w.i32(1, 1).i32(2, ENC.PLAIN)), dict),
      sizes,
    );
    const s = this.scratch;
    s.pos = 0;
    writeLevelRun(s, col.rows, 1);
    s.u8(1); // bit width of the indexes
    s.varint(col.rows * 2); // one RLE run of index 0
    s.u8(0);
    await this.emitPage(this.dataPage(col.rows, ENC.RLE_DICTIONARY, s.view()), sizes);
    const dataPageOffset = sizes.firstOffset[1] as number;
    const uncompressed = sizes.uncompressed;
    const { min, max } = statsBytes(leaf, col);
    return {
      leaf,
      encodings: [ENC.PLAIN, ENC.RLE, ENC.RLE_DICTIONARY],
      numValues: col.rows,
      uncompressed,
      compressed: this.offset - chunkStart,
      dataPageOffset,
      dictionaryPageOffset: chunkStart,
      fileOffset: chunkStart,
      nulls: 0,
      min,
      max,
    };
  }

  async finish(): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.emit(MAGIC);
    }
    const footer = this.footer();
    this.emit(footer);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(footer.length, 0);
    this.emit(len);
    this.emit(MAGIC);
    await this.flush();
    this.compressor?.close();
  }

  private footer(): Buffer {
    const leaves = this.leaves;
    return ThriftWriter.struct((w) => {
      w.i32(1, 1);
      // schema: the root, then each column's elements (three for a LIST)
      const schemaCount = 1 + leaves.reduce((n, l) => n + (l.maxRep > 0 ? 3 : 1), 0);
      w.list(2, T_STRUCT, schemaCount);
      w.beginStruct();
      w.string(4, 'schema').i32(5, leaves.length);
      w.endStruct();
      for (const leaf of leaves) writeSchema(w, leaf);
      w.i64(3, this.rows);
      w.structs(4, this.groups, (w, g) => {
        w.structs(1, g.chunks, (w, c) => {
          w.i64(2, c.fileOffset);
          w.struct(3, (w) => {
            w.i32(1, c.leaf.physical);
            w.i32s(2, c.encodings);
            w.strings(3, c.leaf.path);
            w.i32(4, this.codec);
            w.i64(5, c.numValues).i64(6, c.uncompressed).i64(7, c.compressed).i64(9, c.dataPageOffset);
            if (c.dictionaryPageOffset !== undefined) w.i64(11, c.dictionaryPageOffset);
            w.struct(12, (w) => {
              w.i64(3, c.nulls);
              if (c.max && c.min) w.binary(5, c.max).binary(6, c.min);
            });
          });
        });
        w.i64(2, g.uncompressed).i64(3, g.rows).i64(5, g.fileOffset).i64(6, g.compressed);
      });
      const kv = Object.entries(this.metadata ?? {});
      if (kv.length > 0) w.structs(5, kv, (w, [k, v]) => w.string(1, k).string(2, v));
      w.string(6, CREATED_BY);
      // column_orders: TypeDefinedOrder for every leaf
      w.structs(7, leaves, (w) => w.struct(1, () => {}));
    });
  }
}

type ParquetWriterOptionsOut = { write(bytes: Uint8Array): Promise<void> | undefined };

function fixedWidth(leaf: Leaf): number {
  switch (leaf.physical) {
    case TYPE.INT64:
    case TYPE.DOUBLE:
      return 8;
    case TYPE.INT32:
      return 4;
    case TYPE.FIXED_LEN_BYTE_ARRAY:
      return 16;
    case TYPE.BOOLEAN:
      return 1;
    default:
      return 0;
  }
}

function statsBytes(leaf: Leaf, col: ColumnData): { min?: Buffer; max?: Buffer } {
  const st = col.stats;
  if (!st.hasMinMax) return {};
  switch (leaf.physical) {
    case TYPE.INT64:
      if (col.type.kind === 'decimal' || col.type.kind === 'int64' || col.type.kind === 'timestamp') {
        return { min: int64Bytes(st.min, st.minLo), max: int64Bytes(st.max, st.maxLo) };
      }
      return {};
    case TYPE.DOUBLE: {
      const min = Buffer.allocUnsafe(8);
      const max = Buffer.allocUnsafe(8);
      // Parquet: a zero min is written as -0, a zero max as +0.
      min.writeDoubleLE(st.min === 0 ? -0 : st.min, 0);
      max.writeDoubleLE(st.max === 0 ? 0 : st.max, 0);
      return { min, max };
    }
    case TYPE.INT32: {
      const min = Buffer.allocUnsafe(4);
      const max = Buffer.allocUnsafe(4);
      min.writeInt32LE(st.min, 0);
      max.writeInt32LE(st.max, 0);
      return { min, max };
    }
    default:
      return {};
  }
}

/** The writer factory for `convertCsvToParquet({ writer })` (the default). */
export const parquetWriter: ParquetWriterFactory = (options) => new ParquetFileWriter(options);
