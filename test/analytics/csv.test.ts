import { parse as csvParse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvError, CsvParser, parseCsv } from '../../lib/analytics/csv.js';
import { chunked, quoteField } from './helpers.js';

function parseChunks(chunks: readonly Uint8Array[]): string[][] {
  const out: string[][] = [];
  const p = new CsvParser((r) => {
    out.push(r.values());
  });
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof CsvError ? e.code : `not a CsvError: ${String(e)}`;
  }
  return undefined;
}

describe('CsvParser', () => {
  it('parses quotes, escaped quotes, commas and newlines inside quotes', () => {
    expect(parseCsv('a,b,c\r\n"x, y","say ""hi""","l1\nl2\r\nl3"\r\n')).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'l1\nl2\r\nl3'],
    ]);
  });

  it('accepts LF, CR and CRLF record ends, a BOM and a missing final newline', () => {
    expect(parseCsv('\uFEFFa,b\n1,2\r3,4\r\n5,6')).toEqual([
      ['a', 'b'],
      ['1', '2'],
      ['3', '4'],
      ['5', '6'],
    ]);
  });

  it('keeps empty fields, quoted empty fields and a trailing empty field', () => {
    expect(parseCsv('a,b,c\n,"",\n1,2,')).toEqual([
      ['a', 'b', 'c'],
      ['', '', ''],
      ['1', '2', ''],
    ]);
  });

  it('handles a BOM and multi-byte characters cut by chunk boundaries (byte by byte)', () => {
    const text = '\uFEFFname,note\r\n"Müller, 😀","日本\n語"\r\nØ,"a""b"';
    const bytes = Buffer.from(text, 'utf8');
    expect(parseChunks(chunked(bytes, [1]))).toEqual(parseCsv(text));
    expect(parseChunks(chunked(bytes, [2, 3, 5]))).toEqual([
      ['name', 'note'],
      ['Müller, 😀', '日本\n語'],
      ['Ø', 'a"b'],
    ]);
  });

  it('keeps a CRLF cut between chunks as one record end', () => {
    expect(parseChunks([Buffer.from('a,b\r'), Buffer.from('\n1,2\r'), Buffer.from('\n')])).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('parses a record much larger than a chunk in linear passes', () => {
    const big = 'x'.repeat(3_000_000);
    const bytes = Buffer.from(`h\r\n"${big}"\r\n`);
    const rows = parseChunks(chunked(bytes, [4096]));
    expect(rows).toHaveLength(2);
    expect(rows[1]?.[0]).toHaveLength(3_000_000);
  });

  it('fails with clear codes on malformed input', () => {
    expect(codeOf(() => parseCsv('a,b\n"open,1\n'))).toBe('CSV_UNTERMINATED_QUOTE');
    expect(codeOf(() => parseCsv('a,b\n"x"y,1\n'))).toBe('CSV_BAD_QUOTE');
    expect(codeOf(() => parseCsv('a,b\nx"y,1\n'))).toBe('CSV_BAD_QUOTE');
    expect(codeOf(() => parseCsv(''))).toBe('CSV_EMPTY');
    const tiny = new CsvParser(() => {}, { maxRecordBytes: 100 });
    expect(
      codeOf(() => {
        tiny.push(Buffer.from(`a\n"${'x'.repeat(200)}`));
        tiny.push(Buffer.from('y'.repeat(200)));
      }),
    ).toBe('CSV_RECORD_TOO_LARGE');
  });

  it('property: any table, quoted or not, cut anywhere, round-trips (and agrees with csv-parse)', () => {
    const cell = fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', ';', 'é', '😀', ' ') }),
    );
    const table = fc
      .integer({ min: 1, max: 5 })
      .chain((cols) =>
        fc.array(fc.array(cell, { minLength: cols, maxLength: cols }), { minLength: 1, maxLength: 8 }),
      );
    fc.assert(
      fc.property(
        table,
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (rows, cuts, eol, bom, finalEol, forceQuotes) => {
          const lines = rows.map((r) =>
            r
              .map((v) => {
                // A lone empty unquoted field would be an empty line: quote it.
                const force = forceQuotes || (r.length === 1 && v === '');
                return quoteField(v, force);
              })
              .join(','),
          );
          const text = (bom ? '\uFEFF' : '') + lines.join(eol) + (finalEol ? eol : '');
          const bytes = Buffer.from(text, 'utf8');
          const parsed = parseChunks(chunked(bytes, cuts));
          expect(parsed).toEqual(rows);
          if (eol !== '\r') {
            const reference = csvParse(bytes, { bom: true, relax_column_count: true }) as string[][];
            expect(parsed).toEqual(reference);
          }
        },
      ),
      { numRuns: 600 },
    );
  });
});
