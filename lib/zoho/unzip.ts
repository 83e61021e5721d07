/**
 * Streaming extraction of the single entry of a Zoho result ZIP.
 *
 * The archive is read front to back, once, in constant memory: `ZipFront` parses the local header and
 * keeps the tail of the archive (data descriptor, central directory, Zip64 records, end of central
 * directory), the deflate data goes through `zlib.createInflateRaw`, and `CrcSlicer` hashes the output
 * once. When the body ends, the CRC-32, sizes and layout are checked against what was inflated. Any
 * mismatch, a truncated body or trailing garbage fails the output stream, so a consumer that writes the
 * output to S3 aborts instead of completing an object.
 *
 * Handles local headers with data descriptors (general purpose bit 3, sizes 0) and Zip64 (sizes in the
 * Zip64 extra field and 8-byte data descriptors). Zoho always deflates (method 8); other methods are
 * refused with ZIP_UNSUPPORTED.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { ZohoError } from './errors.js';
import { type CrcSegment, CrcSlicer } from './zip/crc-slices.js';
import { parseCentralDirectory, verifyDescriptor, type ZipEntryInfo, zipError } from './zip/format.js';
import { ZipFront } from './zip/front.js';

export type { CrcSegment, ZipEntryInfo };

/** Inflate output chunks of 1 MiB (zlib's 16 KiB default is far slower; see ZipFront's COALESCE). */
const INFLATE_CHUNK = 1024 * 1024;

export interface UnzipOptions {
  /** Output chunk size of the inflater (default 1 MiB). */
  chunkSize?: number;
  /**
   * The output is checksummed in slices of this many bytes, and the entry's CRC-32 is combined from
   * theirs, so every byte is hashed once. With `onSegment`, a consumer that cuts the output at the same
   * offsets (multipart upload parts) gets each slice's CRC-32 for free.
   */
  segmentSize?: number;
  /** Called as each slice completes (the last one, possibly shorter, once the archive verified). */
  onSegment?: (segment: CrcSegment) => void;
  /** Called once the archive has been verified, before the output stream ends. */
  onVerified?: (info: ZipEntryInfo) => void;
  /** Maps errors of the source (network, abort) to the error the output stream fails with. */
  mapSourceError?: (e: Error) => Error;
}

/**
 * Returns a stream of the uncompressed bytes of the single entry of the ZIP read from `source`.
 * The stream fails (and destroys `source`) if the archive is not a ZIP, is truncated, or its CRC-32
 * or sizes do not match. Errors are always ZohoErrors with a `ZIP_*` (or Zoho's own) code.
 */
export function unzipSingleEntry(source: Readable, options: UnzipOptions = {}): Readable {
  const front = new ZipFront();
  const inflate = createInflateRaw({ chunkSize: options.chunkSize ?? INFLATE_CHUNK });
  const slices = new CrcSlicer(options.segmentSize);
  const verifier = new Transform({
    destroy(err, cb) {
      if (!err) {
        cb(null);
        return;
      }
      const mapped = mapError(err);
      cb(mapped instanceof ZohoError || !options.mapSourceError ? mapped : options.mapSourceError(mapped));
    },
    transform(chunk: Buffer, _e, cb) {
      // zlib hands each output chunk over (push) before it starts inflating the next one, so whatever
      // runs synchronously downstream (checksum, record count, upload bookkeeping) would hold the
      // inflater idle. Deferring it to the next tick lets the thread pool inflate chunk N+1 while the
      // main thread works on chunk N.
      process.nextTick(() => {
        try {
          // Reported before the chunk moves on: a consumer has a slice's CRC once it has the slice.
          for (const s of slices.push(chunk)) options.onSegment?.(s);
        } catch (e) {
          cb(e as Error);
          return;
        }
        cb(null, chunk);
      });
    },
    flush(cb) {
      try {
        const h = front.header;
        if (!h) throw zipError('ZIP_TRUNCATED', 'the ZIP holds no data');
        const cd = parseCentralDirectory(front.tail());
        const consumed = inflate.bytesWritten;
        const last = slices.finish();
        if (cd.method !== h.method)
          throw zipError('ZIP_CORRUPT', 'ZIP local header and central directory disagree');
        if (consumed !== cd.compressedSize) {
          throw zipError(
            'ZIP_SIZE_MISMATCH',
            `ZIP compressed size mismatch: read ${consumed} bytes, central directory says ${cd.compressedSize}`,
          );
        }
        if (slices.size !== cd.uncompressedSize) {
          throw zipError(
            'ZIP_SIZE_MISMATCH',
            `ZIP size mismatch: inflated ${slices.size} bytes, central directory says ${cd.uncompressedSize}`,
          );
        }
        if (slices.crc !== cd.crc32) {
          throw zipError(
            'ZIP_CRC_MISMATCH',
            `ZIP CRC-32 mismatch: computed ${slices.crc.toString(16)}, expected ${cd.crc32.toString(16)}`,
          );
        }
        if (h.flags & 0x08) verifyDescriptor(front.tail(), h.length + consumed, cd);
        else if (h.crc32 !== cd.crc32) throw zipError('ZIP_CRC_MISMATCH', 'ZIP local header CRC-32 mismatch');
        if (last) options.onSegment?.(last);
        options.onVerified?.({
          name: cd.name,
          method: cd.method,
          crc32: cd.crc32,
          compressedSize: cd.compressedSize,
          uncompressedSize: cd.uncompressedSize,
        });
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  // The verifier is the output: errors from any stage reach the consumer through it, mapped to
  // ZohoErrors; a consumer that destroys it (an upload failed) makes the pipeline close the body.
  pipeline(source, front, inflate, verifier, () => undefined);
  return verifier;
}

function mapError(err: Error & { code?: string }): Error {
  if (err instanceof ZohoError) return err;
  if (typeof err.code === 'string' && err.code.startsWith('Z_')) {
    const code = err.code === 'Z_BUF_ERROR' ? 'ZIP_TRUNCATED' : 'ZIP_CORRUPT';
    return zipError(code, `ZIP data could not be inflated: ${err.message}`);
  }
  return err;
}
