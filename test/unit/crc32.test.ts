import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32Base64, crc32Combine } from '../../lib/crc32.js';
import { type CrcSegment, unzipSingleEntry } from '../../lib/zoho/unzip.js';
import { zipSingleEntry } from '../../local/fake-zoho/zip.js';

describe('crc32Combine', () => {
  it('gives the CRC-32 of the concatenation (property, against zlib)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
      }),
      { numRuns: 300 },
    );
  });

  it('is associative for lengths far beyond 32 bits (the length is not truncated)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 2 ** 44 }),
        fc.integer({ min: 0, max: 2 ** 44 }),
        (a, b, c, lb, lc) => {
          const left = crc32Combine(crc32Combine(a, b, lb), c, lc);
          const right = crc32Combine(a, crc32Combine(b, c, lc), lb + lc);
          expect(left).toBe(right);
        },
      ),
    );
  });

  it('matches a real 6 MiB + 1 MiB split, and refuses a bad length', () => {
    const a = Buffer.alloc(6 * 1024 * 1024, 'ab');
    const b = Buffer.alloc(1024 * 1024 + 7, 'xyz');
    expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
    expect(() => crc32Combine(1, 2, -1)).toThrow(RangeError);
    expect(() => crc32Combine(1, 2, 1.5)).toThrow(RangeError);
  });

  it('encodes as S3 expects: 4 big-endian bytes in base64', () => {
    expect(crc32Base64(crc32(Buffer.from('123456789')))).toBe('y/Q5Jg==');
    expect(crc32Base64(0)).toBe('AAAAAA==');
  });
});

describe('unzipSingleEntry segments', () => {
  const text = (n: number): Buffer =>
    Buffer.from(Array.from({ length: n }, (_, i) => `row ${i},"value ${(i * 7919) % 1000}"\n`).join(''));

  async function run(csv: Buffer, segmentSize: number | undefined, chunkSize: number) {
    const zip = Readable.from(zipSingleEntry('x.csv', Readable.from([csv]), { chunkSize: 4096 }));
    const segments: CrcSegment[] = [];
    let seen = 0;
    const late: string[] = [];
    const out = unzipSingleEntry(zip, {
      chunkSize,
      ...(segmentSize !== undefined && { segmentSize }),
      onSegment: (s) => segments.push(s),
    });
    const chunks: Buffer[] = [];
    for await (const c of out as AsyncIterable<Buffer>) {
      seen += c.length;
      chunks.push(c);
      // Every slice that ends within what the consumer has now was reported before it got here.
      if (segmentSize !== undefined) {
        const whole = Math.floor(seen / segmentSize);
        if (segments.length < whole) late.push(`${segments.length} < ${whole} at ${seen}`);
      }
    }
    return { out: Buffer.concat(chunks), segments, late };
  }

  it('reports the CRC-32 of each slice, cut across chunk boundaries, and still verifies the ZIP', async () => {
    const csv = text(12_000);
    const size = 64 * 1024 + 1;
    const { out, segments, late } = await run(csv, size, 10_000);
    expect(out.equals(csv)).toBe(true);
    expect(late).toEqual([]);
    expect(segments.map((s) => s.index)).toEqual(segments.map((_, i) => i));
    expect(segments).toHaveLength(Math.ceil(csv.length / size));
    for (const s of segments) {
      const slice = csv.subarray(s.index * size, (s.index + 1) * size);
      expect(s.length).toBe(slice.length);
      expect(s.crc32).toBe(crc32(slice));
    }
  });

  it('one slice for the whole file by default, and one empty slice for an empty file', async () => {
    const csv = text(500);
    const whole = await run(csv, undefined, 1000);
    expect(whole.segments).toEqual([{ index: 0, crc32: crc32(csv), length: csv.length }]);
    const empty = await run(Buffer.alloc(0), 1024, 1000);
    expect(empty.out.length).toBe(0);
    expect(empty.segments).toEqual([{ index: 0, crc32: 0, length: 0 }]);
  });

  it('a file of exactly N slices has no trailing empty slice', async () => {
    const csv = text(3000);
    const size = csv.length / 2;
    expect(Number.isInteger(size)).toBe(true);
    const { segments } = await run(csv, size, 777);
    expect(segments.map((s) => s.length)).toEqual([size, size]);
  });

  it('refuses a slice size that is not a positive integer', () => {
    expect(() => unzipSingleEntry(Readable.from([]), { segmentSize: 0 })).toThrow(RangeError);
  });
});
