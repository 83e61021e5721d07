// Over 450 lines on purpose: one builder per Parquet column type, each on the hot path, kept side by side so they stay alike.
/**
 * Column builders: CSV field bytes → typed arrays, one builder per column and row group, no JS
 * value per cell. What a row group hands to a Parquet writer is `ColumnData`.
 *
 * Layouts (values are dense: NULLs take no value slot; `defined[row]` is 1 where a value exists):
 * - string: `bytes` holds, per value, a 4-byte little-endian length and the UTF-8 bytes (the Parquet
 *   PLAIN layout of BYTE_ARRAY); `ends[row]` is where the row's value ends in `bytes`.
 * - list: the same for the elements; `lengths[row]` is the element count (-1 for NULL).
 * - int64, decimal (precision ≤ 18), timestamp: `words` holds two little-endian 32-bit words per value
 *   (low, high: the Parquet PLAIN layout of INT64 on a little-endian machine).
 * - decimal (precision > 18): `bytes` holds 16-byte big-endian two's complement values.
 * - double: `f64`; date: `i32` (days since 1970-01-01); boolean: `u8` (0/1).
 * - constant (the lineage columns): `constant` holds the one value for every row.
 */
import { isUtf8 } from 'node:buffer';
import { ByteBuffer } from './bytes.js';
import { FIELD_ESCAPED } from './csv.js';
import type { CellValue, ColumnType } from './types.js';

export interface ColumnStats {
  nulls: number;
  /** Min/max as signed comparable numbers (int64: high word signed, low word unsigned). */
  hasMinMax: boolean;
  min: number;
  max: number;
  minLo: number;
  maxLo: number;
}

export interface ColumnData {
  readonly type: ColumnType;
  readonly rows: number;
  /** Values present (rows minus NULLs; for a list, elements). */
  readonly count: number;
  readonly defined: Uint8Array;
  readonly stats: ColumnStats;
  readonly bytes?: Buffer;
  readonly ends?: Int32Array;
  readonly lengths?: Int32Array;
  readonly words?: Uint32Array;
  readonly f64?: Float64Array;
  readonly i32?: Int32Array;
  readonly u8?: Uint8Array;
  /** A constant column: this value (PLAIN-encoded like `bytes` for strings, words for timestamps). */
  readonly constant?: CellValue;
}

const TWO32 = 4294967296;

function newStats(): ColumnStats {
  return { nulls: 0, hasMinMax: false, min: 0, max: 0, minLo: 0, maxLo: 0 };
}

/** Scratch for decimal digits (at most 38 significant, plus padding). */
const digitScratch = new Uint8Array(128);

/**
 * Writes the 64-bit two's complement of ±(H·10^9 + L) (H < 10^10, L < 10^9) into words[2k], words[2k+1].
 * Returns false when it does not fit a signed 64-bit integer.
 */
function putInt64(words: Uint32Array, k: number, negative: boolean, H: number, L: number): boolean {
  const aHi = Math.floor(H / 1048576);
  const aLo = H - aHi * 1048576;
  const X = aHi * 1e9; // < 2^44
  const Y = aLo * 1e9 + L; // < 2^50
  const yHi = Math.floor(Y / TWO32);
  const sumLo = (X % 4096) * 1048576 + (Y - yHi * TWO32);
  const carry = sumLo >= TWO32 ? 1 : 0;
  let lo = sumLo - carry * TWO32;
  let hi = Math.floor(X / 4096) + yHi + carry;
  if (negative) {
    if (hi > 0x80000000 || (hi === 0x80000000 && lo !== 0)) return false;
    if (lo === 0) {
      hi = (TWO32 - hi) % TWO32;
    } else {
      lo = TWO32 - lo;
      hi = TWO32 - 1 - hi;
    }
  } else if (hi > 0x7fffffff) {
    return false;
  }
  words[2 * k] = lo;
  words[2 * k + 1] = hi;
  return true;
}

/**
 * Appends a length-prefixed value to a column's arena: the field `src[s, e)`, with `""` → `"` when
 * escaped.
 */
function putField(arena: ByteBuffer, src: Buffer, s: number, e: number, escaped: boolean): void {
  arena.ensure(4 + e - s);
  const b = arena.buf;
  const at = arena.pos;
  let p = at + 4;
  if (!escaped) {
    if (e - s < 16) for (let i = s; i < e; i++) b[p++] = src[i] as number;
    else p += src.copy(b, p, s, e);
  } else {
    for (let i = s; i < e; i++) {
      const c = src[i] as number;
      b[p++] = c;
      if (c === 0x22) i++; // skip the second quote of a pair
    }
  }
  b.writeUInt32LE(p - at - 4, at);
  arena.pos = p;
}

/** Appends a length-prefixed JS string to a column's arena, as UTF-8. */
function putString(arena: ByteBuffer, s: string): void {
  arena.ensure(4 + Buffer.byteLength(s, 'utf8'));
  const n = arena.buf.write(s, arena.pos + 4, 'utf8');
  arena.buf.writeUInt32LE(n, arena.pos);
  arena.pos += 4 + n;
}

/** A column's value arena: at least 1 KiB, so that tiny hints do not grow in many small steps. */
const newArena = (capacity: number): ByteBuffer => new ByteBuffer(Math.max(1024, capacity));

/** 1 when `c` is a sign (`+` or `-`) before a number's digits, else 0. */
const signWidth = (c: number | undefined): number => (c === 0x2d || c === 0x2b ? 1 : 0);

type NumberArray = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** `a` if it holds `n` values, else a copy of it with room for max(n, 2 × its length) values. */
function grow<T extends NumberArray>(a: T, n: number): T {
  if (n <= a.length) return a;
  // A typed array's constructor builds the same kind of array.
  const b = new (a.constructor as new (length: number) => T)(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

/**
 * Builds one column of one row group. `add` returns false when the field does not parse as the
 * column's type (the row is then NULL here, and the caller records the raw text).
 */
export class ColumnBuilder {
  rows = 0;
  count = 0;
  private defined: Uint8Array;
  private stats = newStats();
  private arena: ByteBuffer | null = null;
  private ends: Int32Array | null = null;
  private lengths: Int32Array | null = null;
  private words: Uint32Array | null = null;
  private f64: Float64Array | null = null;
  private i32: Int32Array | null = null;
  private u8: Uint8Array | null = null;
  /** Validate UTF-8 of each string value (set once the input had invalid UTF-8 somewhere). */
  checkUtf8 = false;

  constructor(
    readonly type: ColumnType,
    rowsHint: number,
    bytesHint: number,
  ) {
    const rows = Math.max(16, rowsHint);
    this.defined = new Uint8Array(rows);
    switch (type.kind) {
      case 'string':
        this.arena = newArena(bytesHint);
        this.ends = new Int32Array(rows);
        break;
      case 'list':
        this.arena = newArena(bytesHint);
        this.ends = new Int32Array(rows);
        this.lengths = new Int32Array(rows);
        break;
      case 'int64':
      case 'timestamp':
        this.words = new Uint32Array(2 * rows);
        break;
      case 'decimal':
        if (type.precision <= 18) this.words = new Uint32Array(2 * rows);
        else this.arena = newArena(16 * rows);
        break;
      case 'double':
        this.f64 = new Float64Array(rows);
        break;
      case 'date':
        this.i32 = new Int32Array(rows);
        break;
      case 'boolean':
        this.u8 = new Uint8Array(rows);
        break;
    }
  }

  /** Empties the builder for the next row group, keeping its buffers (the last group must be written). */
  reset(): void {
    this.rows = 0;
    this.count = 0;
    this.stats = newStats();
    if (this.arena) this.arena.pos = 0;
  }

  /** Bytes this builder holds (for the row group byte bound). */
  get size(): number {
    return (this.arena?.pos ?? 0) + this.count * 8 + this.rows;
  }

  addNull(): void {
    const r = this.rows;
    if (r === this.defined.length) this.growRows();
    this.defined[r] = 0;
    if (this.ends) this.ends[r] = this.arena?.pos ?? 0;
    if (this.lengths) this.lengths[r] = -1;
    this.stats.nulls++;
    this.rows = r + 1;
  }

  private growRows(): void {
    const n = this.defined.length * 2;
    this.defined = grow(this.defined, n);
    if (this.ends) this.ends = grow(this.ends, n);
    if (this.lengths) this.lengths = grow(this.lengths, n);
  }

  private defineRow(): void {
    const r = this.rows;
    if (r === this.defined.length) this.growRows();
    this.defined[r] = 1;
    this.rows = r + 1;
  }

  /** Adds the CSV field `buf[s, e)` (non-empty); flags from the parser. */
  add(buf: Buffer, s: number, e: number, flags: number): boolean {
    const t = this.type;
    switch (t.kind) {
      case 'string':
        return this.addString(buf, s, e, flags);
      case 'list':
        return this.addList(buf, s, e, flags);
      case 'int64':
        return this.addInt64(buf, s, e, flags);
      case 'decimal':
        return this.addDecimal(buf, s, e, flags, t.precision, t.scale);
      case 'double':
        return this.addDouble(buf, s, e, flags);
      case 'date':
        return this.addDate(buf, s, e);
      case 'timestamp':
        return this.addTimestamp(buf, s, e, flags);
      case 'boolean':
        return this.addBoolean(buf, s, e);
    }
  }

  private addString(buf: Buffer, s: number, e: number, flags: number): boolean {
    if (this.checkUtf8 && !isUtf8(buf.subarray(s, e))) return false;
    const arena = this.arena as ByteBuffer;
    putField(arena, buf, s, e, (flags & FIELD_ESCAPED) !== 0);
    const r = this.rows;
    this.defineRow();
    (this.ends as Int32Array)[r] = arena.pos;
    this.count++;
    return true;
  }

  private addList(buf: Buffer, s: number, e: number, flags: number): boolean {
    if (this.checkUtf8 && !isUtf8(buf.subarray(s, e))) return false;
    const arena = this.arena as ByteBuffer;
    const escaped = (flags & FIELD_ESCAPED) !== 0;
    let n = 0;
    let from = s;
    for (;;) {
      const semi = buf.indexOf(0x3b, from);
      const to = semi < 0 || semi >= e ? e : semi;
      putField(arena, buf, from, to, escaped);
      n++;
      if (to === e) break;
      from = to + 1;
    }
    const r = this.rows;
    this.defineRow();
    (this.ends as Int32Array)[r] = arena.pos;
    (this.lengths as Int32Array)[r] = n;
    this.count += n;
    return true;
  }

  private track(hi: number, lo: number): void {
    const st = this.stats;
    if (!st.hasMinMax) {
      st.hasMinMax = true;
      st.min = st.max = hi;
      st.minLo = st.maxLo = lo;
      return;
    }
    if (hi < st.min || (hi === st.min && lo < st.minLo)) {
      st.min = hi;
      st.minLo = lo;
    }
    if (hi > st.max || (hi === st.max && lo > st.maxLo)) {
      st.max = hi;
      st.maxLo = lo;
    }
  }

  private pushWords(): number {
    const k = this.count;
    this.words = grow(this.words as Uint32Array, 2 * k + 2);
    return k;
  }

  private commitWords(k: number): void {
    const w = this.words as Uint32Array;
    this.track((w[2 * k + 1] as number) | 0, w[2 * k] as number);
    this.count = k + 1;
    this.defineRow();
  }

  /** `[+-]?digits` (at most 19), within the signed 64-bit range. Quotes around it are allowed. */
  private addInt64(buf: Buffer, s: number, e: number, flags: number): boolean {
    if (flags & FIELD_ESCAPED) return false;
    const negative = buf[s] === 0x2d;
    const i = s + signWidth(buf[s]);
    const n = e - i;
    if (n < 1 || n > 19) return false;
    let H = 0;
    let L = 0;
    const split = e - 9; // digits before `split` go to H
    for (let j = i; j < e; j++) {
      const d = (buf[j] as number) - 0x30;
      if (d < 0 || d > 9) return false;
      if (j < split) H = H * 10 + d;
      else L = L * 10 + d;
    }
    const k = this.pushWords();
    if (!putInt64(this.words as Uint32Array, k, negative, H, L)) return false;
    this.commitWords(k);
    return true;
  }

  /**
   * `[+-]?digits[.digits]` → the unscaled integer at `scale`, exact. Fractional digits beyond the
   * scale must be zeros (no rounding); at most `precision` significant digits.
   */
  private addDecimal(
    buf: Buffer,
    s: number,
    e: number,
    flags: number,
    precision: number,
    scale: number,
  ): boolean {
    if (flags & FIELD_ESCAPED) return false;
    const negative = buf[s] === 0x2d;
    const i = s + signWidth(buf[s]);
    const dg = digitScratch;
    let nd = 0;
    let intDigits = 0;
    let fracDigits = 0;
    let seenDot = false;
    for (let j = i; j < e; j++) {
      const c = buf[j] as number;
      if (c === 0x2e) {
        if (seenDot) return false;
        seenDot = true;
        continue;
      }
      const d = c - 0x30;
      if (d < 0 || d > 9) return false;
      if (seenDot) {
        if (fracDigits >= scale) {
          if (d !== 0) return false; // would need rounding
          fracDigits++;
          continue;
        }
        fracDigits++;
      } else {
        intDigits++;
      }
      if (nd === 0 && d === 0) continue; // leading zero
      if (nd >= 64) return false;
      dg[nd++] = d;
    }
    if (intDigits === 0 && fracDigits === 0) return false;
    const kept = Math.min(fracDigits, scale);
    for (let p = kept; p < scale; p++) {
      if (nd === 0) continue; // zero stays zero
      if (nd >= 64) return false;
      dg[nd++] = 0;
    }
    if (nd > precision) return false;
    if (precision <= 18) {
      let H = 0;
      let L = 0;
      const split = nd - 9;
      for (let j = 0; j < nd; j++) {
        if (j < split) H = H * 10 + (dg[j] as number);
        else L = L * 10 + (dg[j] as number);
      }
      const k = this.pushWords();
      if (!putInt64(this.words as Uint32Array, k, negative && nd > 0, H, L)) return false;
      this.commitWords(k);
      return true;
    }
    // Up to 38 digits: a 16-byte big-endian two's complement (rare: built with BigInt).
    let v = 0n;
    for (let j = 0; j < nd; j++) v = v * 10n + BigInt(dg[j] as number);
    if (negative) v = -v;
    const arena = this.arena as ByteBuffer;
    arena.ensure(16);
    let x = BigInt.asUintN(128, v);
    for (let b = 15; b >= 0; b--) {
      arena.buf[arena.pos + b] = Number(x & 0xffn);
      x >>= 8n;
    }
    arena.pos += 16;
    this.count++;
    this.defineRow();
    return true;
  }

  private addDouble(buf: Buffer, s: number, e: number, flags: number): boolean {
    if (flags & FIELD_ESCAPED) return false;
    const text = buf.toString('latin1', s, e);
    if (!DOUBLE_RE.test(text)) return false;
    const v = Number(text);
    if (!Number.isFinite(v)) return false;
    const k = this.count;
    this.f64 = grow(this.f64 as Float64Array, k + 1);
    this.f64[k] = v;
    this.count = k + 1;
    const st = this.stats;
    if (!st.hasMinMax) {
      st.hasMinMax = true;
      st.min = st.max = v;
    } else {
      if (v < st.min || (v === 0 && st.min === 0 && Object.is(v, -0))) st.min = v;
      if (v > st.max) st.max = v;
    }
    this.defineRow();
    return true;
  }

  private addDate(buf: Buffer, s: number, e: number): boolean {
    if (e - s !== 10 || buf[s + 4] !== 0x2d || buf[s + 7] !== 0x2d) return false;
    const y = digits(buf, s, 4);
    const mo = digits(buf, s + 5, 2);
    const d = digits(buf, s + 8, 2);
    if (y < 0 || mo < 0 || d < 0 || !validDate(y, mo, d)) return false;
    const days = daysFromCivil(y, mo, d);
    this.putI32(days);
    return true;
  }

  private putI32(v: number): void {
    const k = this.count;
    this.i32 = grow(this.i32 as Int32Array, k + 1);
    this.i32[k] = v;
    this.count = k + 1;
    this.trackNumber(v);
    this.defineRow();
  }

  private trackNumber(v: number): void {
    const st = this.stats;
    if (!st.hasMinMax) {
      st.hasMinMax = true;
      st.min = st.max = v;
    } else {
      if (v < st.min) st.min = v;
      if (v > st.max) st.max = v;
    }
  }

  /** ISO 8601 with an offset (see `parseTimestampBytes`) → milliseconds UTC, stored as INT64. */
  private addTimestamp(buf: Buffer, s: number, e: number, flags: number): boolean {
    if (flags & FIELD_ESCAPED) return false;
    const ms = parseTimestampBytes(buf, s, e);
    if (ms === null) return false;
    const k = this.pushWords();
    const w = this.words as Uint32Array;
    const hi = Math.floor(ms / TWO32);
    w[2 * k] = ms - hi * TWO32;
    w[2 * k + 1] = hi >>> 0;
    this.track(hi, ms - hi * TWO32);
    this.count = k + 1;
    this.defineRow();
    return true;
  }

  private addBoolean(buf: Buffer, s: number, e: number): boolean {
    const n = e - s;
    let v: number;
    if (
      n === 4 &&
      ((buf[s] as number) | 0x20) === 0x74 &&
      ((buf[s + 1] as number) | 0x20) === 0x72 &&
      ((buf[s + 2] as number) | 0x20) === 0x75 &&
      ((buf[s + 3] as number) | 0x20) === 0x65
    ) {
      v = 1;
    } else if (
      n === 5 &&
      ((buf[s] as number) | 0x20) === 0x66 &&
      ((buf[s + 1] as number) | 0x20) === 0x61 &&
      ((buf[s + 2] as number) | 0x20) === 0x6c &&
      ((buf[s + 3] as number) | 0x20) === 0x73 &&
      ((buf[s + 4] as number) | 0x20) === 0x65
    ) {
      v = 0;
    } else {
      return false;
    }
    const k = this.count;
    this.u8 = grow(this.u8 as Uint8Array, k + 1);
    this.u8[k] = v;
    this.count = k + 1;
    this.defineRow();
    return true;
  }

  /** Appends a JS string value (the errors column). */
  addText(s: string): void {
    const arena = this.arena as ByteBuffer;
    putString(arena, s);
    const r = this.rows;
    this.defineRow();
    (this.ends as Int32Array)[r] = arena.pos;
    this.count++;
  }

  finish(): ColumnData {
    const stats = this.stats;
    return {
      type: this.type,
      rows: this.rows,
      count: this.count,
      defined: this.defined,
      stats,
      bytes: this.arena?.buf,
      ends: this.ends ?? undefined,
      lengths: this.lengths ?? undefined,
      words: this.words ?? undefined,
      f64: this.f64 ?? undefined,
      i32: this.i32 ?? undefined,
      u8: this.u8 ?? undefined,
    };
  }
}

/** A column holding one value in every row (lineage). */
export function constantColumn(type: ColumnType, rows: number, value: string | number): ColumnData {
  const defined = new Uint8Array(rows).fill(1);
  const stats = newStats();
  if (typeof value === 'number') {
    const hi = Math.floor(value / TWO32);
    stats.hasMinMax = rows > 0;
    stats.min = stats.max = hi;
    stats.minLo = stats.maxLo = value - hi * TWO32;
  }
  return { type, rows, count: rows, defined, stats, constant: value };
}

const DOUBLE_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function digits(buf: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = (buf[i] as number) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  if (d <= 28) return true;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = mo === 2 ? (leap ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
  return d <= dim;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(y0: number, m: number, d: number): number {
  const y = m <= 2 ? y0 - 1 : y0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]](Z|±HH:MM|±HHMM|±HH)` → ms since the epoch (UTC), or null.
 * Fractions beyond milliseconds are truncated. No offset: null (the instant would be ambiguous).
 */
export function parseTimestampBytes(buf: Buffer, s: number, e: number): number | null {
  const n = e - s;
  if (n < 17) return null;
  if (buf[s + 4] !== 0x2d || buf[s + 7] !== 0x2d || buf[s + 13] !== 0x3a) return null;
  const sep = buf[s + 10];
  if (sep !== 0x54 && sep !== 0x20 && sep !== 0x74) return null;
  const y = digits(buf, s, 4);
  const mo = digits(buf, s + 5, 2);
  const d = digits(buf, s + 8, 2);
  const h = digits(buf, s + 11, 2);
  const mi = digits(buf, s + 14, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || !validDate(y, mo, d) || h > 23 || mi > 59) return null;
  let i = s + 16;
  let sec = 0;
  let ms = 0;
  if (buf[i] === 0x3a) {
    sec = digits(buf, i + 1, 2);
    if (sec < 0 || sec > 59 || i + 3 > e) return null;
    i += 3;
    if (buf[i] === 0x2e || buf[i] === 0x2c) {
      i++;
      let nf = 0;
      while (i < e && (buf[i] as number) >= 0x30 && (buf[i] as number) <= 0x39) {
        if (nf < 3) ms = ms * 10 + ((buf[i] as number) - 0x30);
        nf++;
        i++;
      }
      if (nf === 0 || nf > 9) return null;
      for (let k = nf; k < 3; k++) ms *= 10;
    }
  }
  if (i >= e) return null;
  let offsetMin = 0;
  const z = buf[i];
  if (z === 0x5a || z === 0x7a) {
    if (i + 1 !== e) return null;
  } else if (z === 0x2b || z === 0x2d) {
    const rest = e - i - 1;
    const oh = digits(buf, i + 1, 2);
    let om = 0;
    if (rest === 5 && buf[i + 3] === 0x3a) om = digits(buf, i + 4, 2);
    else if (rest === 4) om = digits(buf, i + 3, 2);
    else if (rest !== 2) return null;
    if (oh < 0 || om < 0 || oh > 18 || om > 59) return null;
    offsetMin = (z === 0x2d ? -1 : 1) * (oh * 60 + om);
  } else {
    return null;
  }
  const days = daysFromCivil(y, mo, d);
  return ((days * 24 + h) * 60 + mi - offsetMin) * 60_000 + sec * 1000 + ms;
}

/** The column's values as JS values (for writers that take arrays, and for tests). */
export function toCellValues(col: ColumnData): CellValue[] {
  const out: CellValue[] = new Array(col.rows);
  if (col.constant !== undefined) return out.fill(col.constant);
  const t = col.type;
  let k = 0;
  let pos = 0;
  const bytes = col.bytes;
  for (let r = 0; r < col.rows; r++) {
    if (!col.defined[r]) {
      out[r] = null;
      continue;
    }
    switch (t.kind) {
      case 'string': {
        const b = bytes as Buffer;
        const len = b.readUInt32LE(pos);
        out[r] = b.toString('utf8', pos + 4, pos + 4 + len);
        pos += 4 + len;
        break;
      }
      case 'list': {
        const b = bytes as Buffer;
        const n = (col.lengths as Int32Array)[r] as number;
        const items: string[] = [];
        for (let j = 0; j < n; j++) {
          const len = b.readUInt32LE(pos);
          items.push(b.toString('utf8', pos + 4, pos + 4 + len));
          pos += 4 + len;
        }
        out[r] = items;
        break;
      }
      case 'int64':
      case 'timestamp':
      case 'decimal': {
        if (t.kind === 'decimal' && t.precision > 18) {
          const b = bytes as Buffer;
          let v = 0n;
          for (let j = 0; j < 16; j++) v = (v << 8n) | BigInt(b[pos + j] as number);
          out[r] = BigInt.asIntN(128, v);
          pos += 16;
          break;
        }
        const w = col.words as Uint32Array;
        const v = (BigInt((w[2 * k + 1] as number) | 0) << 32n) | BigInt(w[2 * k] as number);
        out[r] = t.kind === 'timestamp' ? Number(v) : v;
        break;
      }
      case 'double':
        out[r] = (col.f64 as Float64Array)[k] as number;
        break;
      case 'date':
        out[r] = (col.i32 as Int32Array)[k] as number;
        break;
      case 'boolean':
        out[r] = (col.u8 as Uint8Array)[k] === 1;
        break;
    }
    k++;
  }
  return out;
}
