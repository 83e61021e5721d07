import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvRecordCounter } from '../../lib/pipeline/csv-count.js';
import { csvEscape } from '../../local/fake-zoho/index.js';

function count(chunks: Buffer[]): number {
  const c = new CsvRecordCounter();
  for (const ch of chunks) c.push(ch);
  return c.records;
}

/** Splits a buffer at the given cut points. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('CsvRecordCounter (RFC 4180)', () => {
  it.each([
    ['', 0],
    ['id\n', 0],
    ['id', 0],
    ['id\n1\n2\n', 2],
    ['id\n1\n2', 2],
    ['id,name\r\n1,"a\r\nb"\r\n2,"say ""hi"""\r\n', 2],
    ['id,d\n1,"line1\nline2\nline3"\n2,x\n', 2],
    ['id,d\n1,""\n2,"""\n"""\n', 2],
    ['id,d\n1,"a,b"\n', 1],
  ])('%j has %i records', (csv, n) => {
    expect(count([Buffer.from(csv)])).toBe(n);
  });

  it('property: any table of values, escaped and cut anywhere, counts its rows', () => {
    const value = fc.oneof(fc.string(), fc.constantFrom('"', '""', '\n', '\r\n', ',', 'é', '日本語', ''));
    fc.assert(
      fc.property(
        // Every Zoho row starts with its record id, so no row is empty.
        fc.array(fc.tuple(fc.stringMatching(/^[0-9]{1,19}$/), fc.array(value, { maxLength: 4 })), {
          maxLength: 30,
        }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        (rows, cuts, eol, trailing) => {
          const lines = [['id', 'x'], ...rows.map(([id, rest]) => [id, ...rest])].map((r) =>
            r.map(csvEscape).join(','),
          );
          const text = lines.join(eol) + (trailing ? eol : '');
          const buf = Buffer.from(text, 'utf8');
          expect(count(split(buf, cuts))).toBe(rows.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
