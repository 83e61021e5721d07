import { crc32 } from 'node:zlib';
import { crc32Combine } from '../../crc32.js';

/** The CRC-32 of one fixed-size slice of a byte stream. */
export interface CrcSegment {
  /** 0 for the first `segmentSize` bytes, 1 for the next, ... */
  index: number;
  crc32: number;
  /** `segmentSize`, except for the last segment. */
  length: number;
}

/**
 * Hashes a byte stream once, in slices of `segmentSize` bytes, and combines the slices' CRCs into the
 * CRC-32 of the whole (`crc32Combine`): a consumer that cuts the stream at the same offsets (multipart
 * upload parts) gets each part's checksum without hashing it again.
 */
export class CrcSlicer {
  private combined = 0; // of the completed segments
  private bytes = 0;
  private readonly current = { index: 0, crc32: 0, length: 0 };

  constructor(readonly segmentSize: number = Number.MAX_SAFE_INTEGER) {
    if (!Number.isSafeInteger(segmentSize) || segmentSize <= 0)
      throw new RangeError('segmentSize must be > 0');
  }

  private close(): CrcSegment {
    const done = { ...this.current, crc32: this.current.crc32 >>> 0 };
    this.combined = crc32Combine(this.combined, done.crc32, done.length);
    this.current.index++;
    this.current.crc32 = 0;
    this.current.length = 0;
    return done;
  }

  /** Hashes one chunk (a chunk across a slice boundary in two pieces); returns the slices it completed. */
  push(chunk: Buffer): CrcSegment[] {
    const completed: CrcSegment[] = [];
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.segmentSize - this.current.length, chunk.length - off);
      this.current.crc32 = crc32(
        n === chunk.length ? chunk : chunk.subarray(off, off + n),
        this.current.crc32,
      );
      this.current.length += n;
      off += n;
      if (this.current.length === this.segmentSize) completed.push(this.close());
    }
    this.bytes += chunk.length;
    return completed;
  }

  /** Closes the last, shorter slice (or the single empty one of an empty stream), if there is one. */
  finish(): CrcSegment | undefined {
    return this.current.length > 0 || this.current.index === 0 ? this.close() : undefined;
  }

  /** CRC-32 of everything in completed slices (after `finish`: of the whole stream). */
  get crc(): number {
    return this.combined >>> 0;
  }

  get size(): number {
    return this.bytes;
  }
}
