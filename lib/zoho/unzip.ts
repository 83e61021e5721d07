import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { crc32, createInflateRaw } from 'node:zlib';
import { crc32Combine } from '../crc32.js';
import { classify, ZohoError } from './errors.js';
import { oauthErrorBody, parseErrorEnvelope } from './schemas.js';

/**
 * Streaming extraction of the single entry of a Zoho result ZIP.
 *
 * The archive is read front to back, once, in constant memory: the local header is parsed, the
 * deflate data goes through `zlib.createInflateRaw`, and the tail of the archive (data descriptor,
 * central directory, Zip64 records, end of central directory) is kept in a small ring so that, when
 * the body ends, the CRC-32, sizes and layout can be checked against what was inflated. Any
 * mismatch, a truncated body or trailing garbage fails the output stream, so a consumer that writes
 * the output to S3 aborts instead of completing an object.
 *
 * Handles local headers with data descriptors (general purpose bit 3, sizes 0) and Zip64 (sizes in
 * the Zip64 extra field and 8-byte data descriptors). Zoho always deflates (method 8); other methods
 * are refused with ZIP_UNSUPPORTED.
 */

const LOCAL_SIG = 0x04034b50;
const CD_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const DD_SIG = 0x08074b50;
const MAX_TAIL = 512 * 1024;
/**
 * Compressed bytes go to the inflater in pieces of at least 512 KiB, and it writes 1 MiB output
 * chunks. Inflate runs on the thread pool but hands every chunk back to the main thread; fewer, larger
 * steps let it work on the next piece while the main thread checksums, counts and uploads the last
 * one (64 KiB socket reads and 128 KiB chunks made the two threads take turns). Twice these sizes
 * gained about 5% more speed for about 15 MB more peak memory.
 */
const COALESCE = 512 * 1024;
const INFLATE_CHUNK = 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
const U32_MAX = 0xffffffff;

export interface ZipEntryInfo {
  name: string;
  method: number;
  /** CRC-32 of the uncompressed data, from the central directory. */
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** The CRC-32 of one fixed-size slice of the uncompressed output (see `UnzipOptions.segmentSize`). */
export interface CrcSegment {
  /** 0 for the first `segmentSize` bytes, 1 for the next, ... */
  index: number;
  crc32: number;
  /** `segmentSize`, except for the last segment. */
  length: number;
}

export interface UnzipOptions {
  /** Output chunk size of the inflater (default 1 MiB; zlib's 16 KiB default is far slower). */
  chunkSize?: number;
  /**
   * The output is checksummed in slices of this many bytes, and the entry's CRC-32 is combined from
   * theirs (`crc32Combine`), so every byte is hashed once. With `onSegment`, a consumer that cuts the
   * output at the same offsets (multipart upload parts) gets each slice's CRC-32 for free.
   */
  segmentSize?: number;
  /** Called as each slice completes (the last one, possibly shorter, once the archive verified). */
  onSegment?: (segment: CrcSegment) => void;
  /** Called once the archive has been verified, before the output stream ends. */
  onVerified?: (info: ZipEntryInfo) => void;
  /** Maps errors of the source (network, abort) to the error the output stream fails with. */
  mapSourceError?: (e: Error) => Error;
}

const zipError = (code: string, message: string): ZohoError =>
  new ZohoError({ code, message, kind: 'retryable' });

interface LocalHeader {
  length: number;
  flags: number;
  method: number;
  name: string;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

function parseZip64Extra(
  extra: Buffer,
  want: { uncompressed: boolean; compressed: boolean; offset: boolean },
): { uncompressed?: number; compressed?: number; offset?: number } {
  let p = 0;
  while (p + 4 <= extra.length) {
    const id = extra.readUInt16LE(p);
    const size = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      const out: { uncompressed?: number; compressed?: number; offset?: number } = {};
      let q = p + 4;
      const end = p + 4 + size;
      const take = (): number | undefined => {
        if (q + 8 > end || q + 8 > extra.length) return undefined;
        const v = Number(extra.readBigUInt64LE(q));
        q += 8;
        return v;
      };
      if (want.uncompressed) out.uncompressed = take();
      if (want.compressed) out.compressed = take();
      if (want.offset) out.offset = take();
      return out;
    }
    p += 4 + size;
  }
  return {};
}

function parseLocalHeader(buf: Buffer): LocalHeader | undefined {
  if (buf.length < 30) return undefined;
  const nameLen = buf.readUInt16LE(26);
  const extraLen = buf.readUInt16LE(28);
  const length = 30 + nameLen + extraLen;
  if (buf.length < length) return undefined;
  const flags = buf.readUInt16LE(6);
  let compressedSize = buf.readUInt32LE(18);
  let uncompressedSize = buf.readUInt32LE(22);
  if (compressedSize === U32_MAX || uncompressedSize === U32_MAX) {
    const z = parseZip64Extra(buf.subarray(30 + nameLen, length), {
      uncompressed: uncompressedSize === U32_MAX,
      compressed: compressedSize === U32_MAX,
      offset: false,
    });
    uncompressedSize = z.uncompressed ?? uncompressedSize;
    compressedSize = z.compressed ?? compressedSize;
  }
  return {
    length,
    flags,
    method: buf.readUInt16LE(8),
    name: buf.subarray(30, 30 + nameLen).toString('utf8'),
    crc32: buf.readUInt32LE(14),
    compressedSize,
    uncompressedSize,
  };
}

interface Tail {
  buf: Buffer;
  /** Absolute offset in the archive of tail.buf[0]. */
  start: number;
  total: number;
}

/** Parses EOCD (and Zip64 EOCD) plus the single central directory entry from the archive tail. */
function parseCentralDirectory(
  tail: Tail,
): ZipEntryInfo & { cdOffset: number; cdSize: number; entries: number } {
  const { buf, start, total } = tail;
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === EOCD_SIG && i + 22 + buf.readUInt16LE(i + 20) === buf.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0)
    throw zipError('ZIP_TRUNCATED', 'ZIP end of central directory not found: the download is truncated');
  let entries = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (entries === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== ZIP64_LOCATOR_SIG) {
      throw zipError('ZIP_CORRUPT', 'ZIP64 end of central directory locator missing');
    }
    const z64Abs = Number(buf.readBigUInt64LE(loc + 8));
    const z64 = z64Abs - start;
    if (z64 < 0 || z64 + 56 > buf.length || buf.readUInt32LE(z64) !== ZIP64_EOCD_SIG) {
      throw zipError('ZIP_CORRUPT', 'ZIP64 end of central directory record missing');
    }
    entries = Number(buf.readBigUInt64LE(z64 + 32));
    cdSize = Number(buf.readBigUInt64LE(z64 + 40));
    cdOffset = Number(buf.readBigUInt64LE(z64 + 48));
  }
  if (entries !== 1)
    throw zipError('ZIP_UNEXPECTED_ENTRIES', `expected one file in the ZIP, found ${entries}`);
  const cd = cdOffset - start;
  if (cd < 0 || cd + 46 > buf.length || buf.readUInt32LE(cd) !== CD_SIG) {
    throw zipError('ZIP_CORRUPT', 'ZIP central directory not found where the end record points');
  }
  if (cdOffset + cdSize > total)
    throw zipError('ZIP_CORRUPT', 'ZIP central directory runs past the end of the file');
  const nameLen = buf.readUInt16LE(cd + 28);
  const extraLen = buf.readUInt16LE(cd + 30);
  let compressedSize = buf.readUInt32LE(cd + 20);
  let uncompressedSize = buf.readUInt32LE(cd + 24);
  let localOffset = buf.readUInt32LE(cd + 42);
  const z = parseZip64Extra(buf.subarray(cd + 46 + nameLen, cd + 46 + nameLen + extraLen), {
    uncompressed: uncompressedSize === U32_MAX,
    compressed: compressedSize === U32_MAX,
    offset: localOffset === U32_MAX,
  });
  uncompressedSize = z.uncompressed ?? uncompressedSize;
  compressedSize = z.compressed ?? compressedSize;
  localOffset = z.offset ?? localOffset;
  if (localOffset !== 0)
    throw zipError('ZIP_CORRUPT', 'ZIP entry does not start at the beginning of the file');
  return {
    name: buf.subarray(cd + 46, cd + 46 + nameLen).toString('utf8'),
    method: buf.readUInt16LE(cd + 10),
    crc32: buf.readUInt32LE(cd + 16),
    compressedSize,
    uncompressedSize,
    cdOffset,
    cdSize,
    entries,
  };
}

/** A body that is not a ZIP: a JSON error envelope becomes the ZohoError it describes. */
function errorFromBody(body: Buffer): ZohoError {
  const text = body.toString('utf8');
  try {
    const json: unknown = JSON.parse(text);
    const env = parseErrorEnvelope(json);
    if (env) {
      return new ZohoError({
        code: env.code,
        message: `download answered with an error instead of a ZIP: ${env.message ?? env.code}`,
        kind: classify(env.code),
      });
    }
    const oauth = oauthErrorBody.safeParse(json);
    if (oauth.success) {
      const denied = oauth.data.error.toLowerCase() === 'access denied';
      return new ZohoError({
        code: denied ? 'ACCESS_DENIED' : oauth.data.error.toUpperCase(),
        message: `download answered with an error instead of a ZIP: ${oauth.data.error}`,
        kind: denied ? 'retryable' : 'terminal',
      });
    }
  } catch {
    // not JSON: fall through
  }
  return zipError('NOT_A_ZIP', 'the download is not a ZIP archive (no PK\\x03\\x04 signature)');
}

/** The front half: strips the local header, passes compressed bytes on, keeps the tail. */
class ZipFront extends Transform {
  header: LocalHeader | undefined;
  private pend: Buffer[] = [];
  private pendLen = 0;
  private head: Buffer[] = [];
  private headLen = 0;
  private jsonBody = false;
  total = 0;
  private tailChunks: Buffer[] = [];
  private tailLen = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.total += chunk.length;
    this.keepTail(chunk);
    if (this.header) {
      this.pend.push(chunk);
      this.pendLen += chunk.length;
      if (this.pendLen >= COALESCE) {
        this.push(this.pend.length === 1 ? this.pend[0] : Buffer.concat(this.pend, this.pendLen));
        this.pend = [];
        this.pendLen = 0;
      }
      cb();
      return;
    }
    this.head.push(chunk);
    this.headLen += chunk.length;
    const buf = Buffer.concat(this.head, this.headLen);
    if (
      this.jsonBody ||
      (buf.length > 0 && buf[0] === 0x7b) ||
      /^\s*\{/.test(buf.subarray(0, 16).toString('latin1'))
    ) {
      this.jsonBody = true;
      if (buf.length > MAX_ERROR_BODY) {
        cb(zipError('NOT_A_ZIP', 'the download is not a ZIP archive'));
        return;
      }
      this.head = [buf];
      cb();
      return;
    }
    if (buf.length >= 4 && buf.readUInt32LE(0) !== LOCAL_SIG) {
      cb(errorFromBody(buf.subarray(0, Math.min(buf.length, MAX_ERROR_BODY))));
      return;
    }
    const h = parseLocalHeader(buf);
    if (!h) {
      this.head = [buf];
      cb();
      return;
    }
    if (h.method !== 8) {
      cb(zipError('ZIP_UNSUPPORTED', `unsupported ZIP compression method ${h.method} (Zoho deflates)`));
      return;
    }
    if (h.flags & 0x01) {
      cb(zipError('ZIP_UNSUPPORTED', 'encrypted ZIP entries are not supported'));
      return;
    }
    this.header = h;
    this.head = [];
    const rest = buf.subarray(h.length);
    if (rest.length > 0) this.push(rest);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.header) {
      if (this.pendLen) this.push(Buffer.concat(this.pend, this.pendLen));
      cb();
      return;
    }
    const buf = Buffer.concat(this.head);
    if (buf.length === 0) cb(zipError('EMPTY_DOWNLOAD', 'the download body is empty'));
    else if (this.jsonBody || buf.length < 4 || buf.readUInt32LE(0) !== LOCAL_SIG) cb(errorFromBody(buf));
    else cb(zipError('ZIP_TRUNCATED', 'the download ended inside the ZIP local header'));
  }

  private keepTail(chunk: Buffer): void {
    this.tailChunks.push(chunk);
    this.tailLen += chunk.length;
    while (this.tailChunks.length > 1 && this.tailLen - (this.tailChunks[0]?.length ?? 0) >= MAX_TAIL) {
      this.tailLen -= this.tailChunks.shift()?.length ?? 0;
    }
  }

  tail(): Tail {
    let buf = Buffer.concat(this.tailChunks, this.tailLen);
    if (buf.length > MAX_TAIL) buf = buf.subarray(buf.length - MAX_TAIL);
    return { buf, start: this.total - buf.length, total: this.total };
  }
}

/**
 * Returns a stream of the uncompressed bytes of the single entry of the ZIP read from `source`.
 * The stream fails (and destroys `source`) if the archive is not a ZIP, is truncated, or its CRC-32
 * or sizes do not match. Errors are always ZohoErrors with a `ZIP_*` (or Zoho's own) code.
 */
export function unzipSingleEntry(source: Readable, options: UnzipOptions = {}): Readable {
  const front = new ZipFront();
  const inflate = createInflateRaw({ chunkSize: options.chunkSize ?? INFLATE_CHUNK });
  const segmentSize = options.segmentSize ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(segmentSize) || segmentSize <= 0) throw new RangeError('segmentSize must be > 0');
  let crc = 0; // of the completed segments
  let size = 0;
  const segment = { index: 0, crc32: 0, length: 0 };
  const closeSegment = (): CrcSegment => {
    const done = { ...segment, crc32: segment.crc32 >>> 0 };
    crc = crc32Combine(crc, done.crc32, done.length);
    segment.index++;
    segment.crc32 = 0;
    segment.length = 0;
    return done;
  };
  /** Hashes one output chunk (one pass per byte: a chunk across a slice boundary is hashed in two pieces). */
  const checksum = (chunk: Buffer): CrcSegment[] => {
    const completed: CrcSegment[] = [];
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(segmentSize - segment.length, chunk.length - off);
      segment.crc32 = crc32(n === chunk.length ? chunk : chunk.subarray(off, off + n), segment.crc32);
      segment.length += n;
      off += n;
      if (segment.length === segmentSize) completed.push(closeSegment());
    }
    size += chunk.length;
    return completed;
  };
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
          for (const s of checksum(chunk)) options.onSegment?.(s);
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
        const last = segment.length > 0 || segment.index === 0 ? closeSegment() : undefined;
        if (cd.method !== h.method)
          throw zipError('ZIP_CORRUPT', 'ZIP local header and central directory disagree');
        if (consumed !== cd.compressedSize) {
          throw zipError(
            'ZIP_SIZE_MISMATCH',
            `ZIP compressed size mismatch: read ${consumed} bytes, central directory says ${cd.compressedSize}`,
          );
        }
        if (size !== cd.uncompressedSize) {
          throw zipError(
            'ZIP_SIZE_MISMATCH',
            `ZIP size mismatch: inflated ${size} bytes, central directory says ${cd.uncompressedSize}`,
          );
        }
        if (crc >>> 0 !== cd.crc32) {
          throw zipError(
            'ZIP_CRC_MISMATCH',
            `ZIP CRC-32 mismatch: computed ${(crc >>> 0).toString(16)}, expected ${cd.crc32.toString(16)}`,
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

function verifyDescriptor(tail: Tail, absOffset: number, cd: ZipEntryInfo & { cdOffset: number }): void {
  const p = absOffset - tail.start;
  if (p < 0) return; // outside the kept tail (cannot happen for one entry); CD checks already passed
  const b = tail.buf;
  let q = p;
  if (q + 4 <= b.length && b.readUInt32LE(q) === DD_SIG) q += 4;
  if (q + 12 > b.length) throw zipError('ZIP_TRUNCATED', 'ZIP data descriptor missing');
  const crc = b.readUInt32LE(q);
  const span = cd.cdOffset - absOffset - (q - p) - 4;
  let comp: number;
  let uncomp: number;
  if (span >= 16) {
    comp = Number(b.readBigUInt64LE(q + 4));
    uncomp = Number(b.readBigUInt64LE(q + 12));
  } else {
    comp = b.readUInt32LE(q + 4);
    uncomp = b.readUInt32LE(q + 8);
  }
  if (crc !== cd.crc32) throw zipError('ZIP_CRC_MISMATCH', 'ZIP data descriptor CRC-32 mismatch');
  if (comp !== cd.compressedSize || uncomp !== cd.uncompressedSize) {
    throw zipError('ZIP_SIZE_MISMATCH', 'ZIP data descriptor sizes do not match the central directory');
  }
}

export const _internals = { parseLocalHeader, parseCentralDirectory };
