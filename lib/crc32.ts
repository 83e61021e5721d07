/**
 * CRC-32 (the ZIP / gzip / S3 `CRC32` polynomial) arithmetic that Node's `zlib.crc32` lacks:
 * combining the CRCs of two adjacent byte ranges into the CRC of their concatenation, without
 * reading the bytes again. A port of zlib's `crc32_combine` (multiplication modulo the CRC
 * polynomial, x^(2^k) from a table), so the downloader hashes every byte once and still gets both
 * the whole file's CRC (checked against the ZIP) and each upload part's CRC (checked by S3).
 */

const POLY = 0xedb88320; // reflected 0x04C11DB7

/** a(x) * b(x) modulo the CRC polynomial, in zlib's reflected bit order. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let bb = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= bb;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    bb = bb & 1 ? (bb >>> 1) ^ POLY : bb >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: number[] = (() => {
  const table: number[] = [];
  let p = 0x40000000; // x^1
  table.push(p);
  for (let k = 1; k < 32; k++) {
    p = multModP(p, p);
    table.push(p);
  }
  return table;
})();

/** x^(n * 2^k) modulo the polynomial; n may be any safe integer. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  let rest = n;
  let kk = k;
  while (rest > 0) {
    if (rest % 2 === 1) p = multModP(X2N[kk & 31] as number, p);
    rest = Math.floor(rest / 2);
    kk++;
  }
  return p;
}

/**
 * The CRC-32 of A followed by B, given crc(A), crc(B) and B's length in bytes:
 * `crc32Combine(crc32(a), crc32(b), b.length) === crc32(Buffer.concat([a, b]))`.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (!Number.isSafeInteger(lengthB) || lengthB < 0) throw new RangeError(`bad length ${lengthB}`);
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}

/** A CRC-32 as its 4 big-endian bytes (the digest S3 checksums are made of). */
export function crc32Bytes(crc: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, crc >>> 0, false);
  return out;
}

/** A CRC-32 as S3 wants it in `x-amz-checksum-crc32`: the 4 big-endian bytes, base64. */
export function crc32Base64(crc: number): string {
  return Buffer.from(crc32Bytes(crc)).toString('base64');
}
