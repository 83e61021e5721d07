/**
 * The ZIP format as far as a Zoho result needs it: the local header, the central directory, the end
 * records (Zip64 included) and the data descriptor of a single deflated entry.
 */
import { ZohoError } from '../errors.js';

export const LOCAL_SIG = 0x04034b50;
export const CD_SIG = 0x02014b50;
export const EOCD_SIG = 0x06054b50;
export const ZIP64_EOCD_SIG = 0x06064b50;
export const ZIP64_LOCATOR_SIG = 0x07064b50;
export const DD_SIG = 0x08074b50;
export const U32_MAX = 0xffffffff;

export interface ZipEntryInfo {
  name: string;
  method: number;
  /** CRC-32 of the uncompressed data, from the central directory. */
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

/** ZIP problems are retryable: a download can be broken in transit; the attempt limit ends it. */
export const zipError = (code: string, message: string): ZohoError =>
  new ZohoError({ code, message, kind: 'retryable' });

export interface LocalHeader {
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

export function parseLocalHeader(buf: Buffer): LocalHeader | undefined {
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

export interface Tail {
  buf: Buffer;
  /** Absolute offset in the archive of tail.buf[0]. */
  start: number;
  total: number;
}

/** Parses EOCD (and Zip64 EOCD) plus the single central directory entry from the archive tail. */
export function parseCentralDirectory(
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

export function verifyDescriptor(
  tail: Tail,
  absOffset: number,
  cd: ZipEntryInfo & { cdOffset: number },
): void {
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
