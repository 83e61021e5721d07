/**
 * A streaming RFC 4180 CSV parser working on bytes.
 *
 * - Fields are separated by `,`; a record ends at LF, CR or CRLF (also inside a chunk boundary).
 * - A quoted field may hold `,`, CR, LF and `""` (one quote). A quote inside an unquoted field, or
 *   anything but `,`/record end after a closing quote, is an error (`CSV_BAD_QUOTE`).
 * - A UTF-8 BOM at the start is skipped; a missing final newline is fine; an unterminated quote at
 *   the end is an error (`CSV_UNTERMINATED_QUOTE`).
 * - Bytes are never decoded until a whole field is known, so a multi-byte UTF-8 character cut by a
 *   chunk boundary is handled like any other byte.
 *
 * A chunk is scanned once per record; the unfinished record at the end of a chunk is kept and parsed
 * again when enough bytes have arrived (the wait doubles, so a record much larger than a chunk costs
 * linear time). One record may not exceed `maxRecordBytes`.
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

export type CsvErrorCode =
  | 'CSV_EMPTY'
  | 'CSV_UNTERMINATED_QUOTE'
  | 'CSV_BAD_QUOTE'
  | 'CSV_FIELD_COUNT'
  | 'CSV_RECORD_TOO_LARGE'
  | 'CSV_HEADER_INVALID';

export class CsvError extends Error {
  override readonly name = 'CsvError';
  constructor(
    readonly code: CsvErrorCode,
    message: string,
    /** 1-based record number (the header is record 1), when known. */
    readonly record?: number,
  ) {
    super(record === undefined ? message : `${message} (record ${record})`);
  }
}

export const FIELD_QUOTED = 1;
export const FIELD_ESCAPED = 2;

/**
 * One record, valid only during the `onRecord` callback (its arrays are reused). Field `i` spans
 * `buf[starts[i], ends[i])` without its enclosing quotes; `flags[i]` has FIELD_QUOTED and, when the
 * field holds `""`, FIELD_ESCAPED.
 */
export class CsvRecord {
  buf: Buffer = Buffer.alloc(0);
  count = 0;
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  flags = new Uint8Array(64);

  /** The field's text (UTF-8 decoded, `""` turned into `"`). */
  text(i: number): string {
    const s = this.buf.toString('utf8', this.starts[i], this.ends[i]);
    return (this.flags[i] ?? 0) & FIELD_ESCAPED ? s.replaceAll('""', '"') : s;
  }

  isEmpty(i: number): boolean {
    return this.ends[i] === this.starts[i];
  }

  /** All fields as strings. */
  values(): string[] {
    const out: string[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.text(i);
    return out;
  }

  push(start: number, end: number, flags: number): void {
    const i = this.count;
    if (i === this.starts.length) this.grow();
    this.starts[i] = start;
    this.ends[i] = end;
    this.flags[i] = flags;
    this.count = i + 1;
  }

  private grow(): void {
    const n = this.starts.length * 2;
    const s = new Int32Array(n);
    s.set(this.starts);
    const e = new Int32Array(n);
    e.set(this.ends);
    const f = new Uint8Array(n);
    f.set(this.flags);
    this.starts = s;
    this.ends = e;
    this.flags = f;
  }
}

export interface CsvParserOptions {
  /** Largest record, in bytes (default 64 MiB). */
  maxRecordBytes?: number;
}

const INCOMPLETE = -1;

export class CsvParser {
  private readonly record = new CsvRecord();
  private readonly maxRecordBytes: number;
  /** Bytes of the unfinished record, then chunks that arrived after it. */
  private tail: Buffer | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private started = false;
  private ended = false;
  /** Records seen so far (header included). */
  records = 0;
  bytes = 0;

  constructor(
    private readonly onRecord: (record: CsvRecord) => void,
    options: CsvParserOptions = {},
  ) {
    this.maxRecordBytes = options.maxRecordBytes ?? 64 * 1024 * 1024;
  }

  push(chunk: Uint8Array): void {
    if (this.ended) throw new Error('CsvParser: push after end');
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.tail) {
      this.pending.push(buf);
      this.pendingBytes += buf.length;
      // Wait until the new bytes are at least as many as the unfinished record: linear overall.
      if (this.pendingBytes < this.tail.length) {
        if (this.tail.length + this.pendingBytes > this.maxRecordBytes) this.tooLarge();
        return;
      }
      const joined = Buffer.concat([this.tail, ...this.pending]);
      this.tail = null;
      this.pending = [];
      this.pendingBytes = 0;
      this.parse(joined, false);
    } else {
      this.parse(buf, false);
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.tail) {
      const joined = Buffer.concat([this.tail, ...this.pending]);
      this.tail = null;
      this.pending = [];
      this.parse(joined, true);
    }
    if (this.records === 0) throw new CsvError('CSV_EMPTY', 'the CSV has no header row');
  }

  private tooLarge(): never {
    throw new CsvError(
      'CSV_RECORD_TOO_LARGE',
      `a record exceeds ${this.maxRecordBytes} bytes (unbalanced quote?)`,
      this.records + 1,
    );
  }

  private parse(input: Buffer, last: boolean): void {
    let b = input;
    if (!this.started) {
      // A BOM (EF BB BF) may be cut by the first chunk boundary: wait for 3 bytes.
      if (b.length < 3 && !last && b[0] === 0xef && (b.length < 2 || b[1] === 0xbb)) {
        this.tail = b;
        return;
      }
      this.started = true;
      if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    }
    const n = b.length;
    let i = 0;
    while (i < n) {
      const next = this.parseRecord(b, i, last);
      if (next === INCOMPLETE) {
        if (n - i > this.maxRecordBytes) this.tooLarge();
        this.tail = b.subarray(i);
        return;
      }
      this.records++;
      this.onRecord(this.record);
      i = next;
    }
  }

  /** Parses the record starting at `i` into `this.record`; returns where the next one starts. */
  private parseRecord(b: Buffer, start: number, last: boolean): number {
    const rec = this.record;
    rec.buf = b;
    rec.count = 0;
    const n = b.length;
    let i = start;
    for (;;) {
      // At the start of a field.
      if (i >= n) {
        // Only reached after a comma (a record never starts at n).
        if (!last) return INCOMPLETE;
        rec.push(i, i, 0);
        return i;
      }
      if (b[i] === QUOTE) {
        const open = i + 1;
        let j = open;
        let flags = FIELD_QUOTED;
        let close: number;
        for (;;) {
          const q = b.indexOf(QUOTE, j);
          if (q < 0) {
            if (last) {
              throw new CsvError(
                'CSV_UNTERMINATED_QUOTE',
                'the CSV ends inside a quoted value',
                this.records + 1,
              );
            }
            return INCOMPLETE;
          }
          if (q + 1 >= n) {
            if (!last) return INCOMPLETE; // `""` may be cut by the boundary
            close = q;
            break;
          }
          if (b[q + 1] === QUOTE) {
            flags |= FIELD_ESCAPED;
            j = q + 2;
            continue;
          }
          close = q;
          break;
        }
        rec.push(open, close, flags);
        i = close + 1;
        if (i >= n) {
          if (!last) return INCOMPLETE;
          return i;
        }
        const c = b[i];
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === LF) return i + 1;
        if (c === CR) {
          if (i + 1 >= n) return last ? i + 1 : INCOMPLETE;
          return b[i + 1] === LF ? i + 2 : i + 1;
        }
        throw new CsvError(
          'CSV_BAD_QUOTE',
          `unexpected byte 0x${(c ?? 0).toString(16)} after a closing quote (field ${rec.count})`,
          this.records + 1,
        );
      }
      // Unquoted field.
      let j = i;
      let c = 0;
      while (j < n) {
        c = b[j] as number;
        if (c === COMMA || c === LF || c === CR || c === QUOTE) break;
        j++;
      }
      if (j >= n) {
        if (!last) return INCOMPLETE;
        rec.push(i, n, 0);
        return n;
      }
      if (c === QUOTE) {
        throw new CsvError(
          'CSV_BAD_QUOTE',
          `a quote inside an unquoted value (field ${rec.count + 1})`,
          this.records + 1,
        );
      }
      rec.push(i, j, 0);
      if (c === COMMA) {
        i = j + 1;
        continue;
      }
      if (c === LF) return j + 1;
      // CR
      if (j + 1 >= n) return last ? j + 1 : INCOMPLETE;
      return b[j + 1] === LF ? j + 2 : j + 1;
    }
  }
}

/** Parses a whole CSV in memory (tests, small inputs). */
export function parseCsv(input: Uint8Array | string): string[][] {
  const out: string[][] = [];
  const p = new CsvParser((r) => {
    out.push(r.values());
  });
  p.push(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
  p.end();
  return out;
}
