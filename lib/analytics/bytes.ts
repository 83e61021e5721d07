/**
 * The one growable byte buffer of the encoder: column value arenas (columns.ts), page bodies
 * (parquet.ts) and Thrift headers (thrift.ts). A Buffer, so that `copy`, `set` and `write` are native.
 * It is a single class with no subclasses on purpose: every call site stays monomorphic in V8.
 */
export class ByteBuffer {
  buf: Buffer;
  /** Bytes written so far; callers may reset it to 0 to reuse the memory. */
  pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** Room for `n` more bytes: doubles the capacity until they fit, copying only the bytes written. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Unsigned LEB128 varint of a non-negative integer < 2^53 (numbers, not bigints). */
  varint(v: number): void {
    this.ensure(10);
    let x = v;
    while (x >= 0x80) {
      this.buf[this.pos++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.pos++] = x;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** The bytes written so far, without a copy (valid until the next write or reset). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
