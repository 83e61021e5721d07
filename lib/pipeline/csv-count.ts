import { Transform, type TransformCallback } from 'node:stream';
import { CodedError } from '../errors.js';

const QUOTE = 0x22;
const LF = 0x0a;
const HEADER_BYTES = 128 * 1024;

/**
 * The fields of the first record of an RFC 4180 CSV (a UTF-8 BOM and a CR before the LF are dropped),
 * or null if `buf` ends inside it.
 */
export function parseFirstRecord(buf: Buffer): string[] | null {
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const fields: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n') {
      fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
      return fields;
    } else field += c;
    i++;
  }
  return null;
}

/**
 * Counts CSV records as bytes pass, per RFC 4180: a newline inside a quoted value is not a record
 * break (`""` inside quotes toggles twice, so it needs no special case). CRLF and LF both work.
 * Scans with `indexOf`, so it keeps up with inflate.
 */
export class CsvRecordCounter {
  private inQuotes = false;
  private lines = 0;
  private pending = false; // bytes seen since the last record break

  /**
   * Outside quotes, only two bytes matter: `"` and LF. Each is looked up with `indexOf` once and the
   * position is reused while it lies ahead, so a chunk is scanned in linear time whatever the mix
   * (a per-line rescan for a far-away quote made long unquoted files quadratic in the chunk size).
   */
  push(buf: Buffer): void {
    const n = buf.length;
    if (n === 0) return;
    let i = 0;
    let nextQuote = -2; // -2: not looked up yet; -1: none left in this chunk
    let nextLf = -2;
    while (i < n) {
      if (this.inQuotes) {
        const q = buf.indexOf(QUOTE, i);
        if (q < 0) {
          this.pending = true;
          return;
        }
        this.inQuotes = false;
        this.pending = true;
        i = q + 1;
        nextQuote = -2;
        continue;
      }
      if (nextQuote === -2 || (nextQuote >= 0 && nextQuote < i)) nextQuote = buf.indexOf(QUOTE, i);
      if (nextLf === -2 || (nextLf >= 0 && nextLf < i)) nextLf = buf.indexOf(LF, i);
      if (nextQuote >= 0 && (nextLf < 0 || nextQuote < nextLf)) {
        this.inQuotes = true;
        this.pending = true;
        i = nextQuote + 1;
        nextQuote = -2;
        continue;
      }
      if (nextLf < 0) {
        this.pending = true;
        return;
      }
      this.lines++;
      this.pending = false;
      i = nextLf + 1;
    }
  }

  /** Records, including the header row. */
  get rows(): number {
    return this.lines + (this.pending ? 1 : 0);
  }

  /** Data records: rows minus the header. */
  get records(): number {
    return Math.max(0, this.rows - 1);
  }

  get insideQuotes(): boolean {
    return this.inQuotes;
  }
}

/** Retryable: a download cut short (or a bad read) is the likely cause, and a new download may fix it. */
export class RecordCountMismatchError extends CodedError {
  override readonly name = 'RecordCountMismatchError';
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super({
      code: 'RECORD_COUNT_MISMATCH',
      kind: 'retryable',
      message: `the CSV holds ${actual} records but Zoho reported ${expected}`,
    });
  }
}

/** Retryable for the same reason: a CSV cut short ends inside a quoted value. */
export class CsvUnterminatedQuoteError extends CodedError {
  override readonly name = 'CsvUnterminatedQuoteError';
  constructor() {
    super({
      code: 'CSV_UNTERMINATED_QUOTE',
      kind: 'retryable',
      message: 'the CSV ends inside a quoted value',
    });
  }
}

/**
 * A pass-through that counts records and bytes and, at the end, fails the stream unless the
 * record count equals `expected`: a consumer that uploads the stream then aborts instead of
 * completing a wrong object.
 */
export class VerifyingCounter extends Transform {
  readonly counter = new CsvRecordCounter();
  bytes = 0;
  /** The first bytes of the file, enough for the header row (200 field names of 100 characters). */
  private readonly head: Buffer[] = [];
  private headBytes = 0;

  constructor(private readonly expected: number | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.counter.push(chunk);
    this.bytes += chunk.length;
    if (this.headBytes < HEADER_BYTES) {
      const part = chunk.subarray(0, HEADER_BYTES - this.headBytes);
      this.head.push(Buffer.from(part));
      this.headBytes += part.length;
    }
    cb(null, chunk);
  }

  /** The header row's field names, in file order (null if it is longer than HEADER_BYTES). */
  header(): string[] | null {
    return parseFirstRecord(Buffer.concat(this.head, this.headBytes));
  }

  override _flush(cb: TransformCallback): void {
    if (this.counter.insideQuotes) cb(new CsvUnterminatedQuoteError());
    else if (this.expected !== undefined && this.counter.records !== this.expected) {
      cb(new RecordCountMismatchError(this.expected, this.counter.records));
    } else cb();
  }
}
