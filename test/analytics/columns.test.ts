import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ColumnBuilder, parseTimestampBytes, toCellValues } from '../../lib/analytics/columns.js';
import { FIELD_ESCAPED, FIELD_QUOTED } from '../../lib/analytics/csv.js';
import type { CellValue, ColumnType } from '../../lib/analytics/types.js';

/** Adds each text to a builder of `type` (empty → NULL, invalid → NULL) and reads the values back. */
function roundTrip(
  type: ColumnType,
  texts: readonly string[],
  flags = 0,
): { values: CellValue[]; ok: boolean[] } {
  const b = new ColumnBuilder(type, 2, 16);
  const ok: boolean[] = [];
  for (const t of texts) {
    const buf = Buffer.from(t, 'utf8');
    if (buf.length === 0) {
      b.addNull();
      ok.push(true);
      continue;
    }
    const good = b.add(buf, 0, buf.length, flags);
    if (!good) b.addNull();
    ok.push(good);
  }
  return { values: toCellValues(b.finish()), ok };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

describe('ColumnBuilder', () => {
  it('int64: exact for any value in range, parsed without a JS number', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), { maxLength: 50 }), (vs) => {
        const { values, ok } = roundTrip({ kind: 'int64' }, vs.map(String));
        expect(ok.every(Boolean)).toBe(true);
        expect(values).toEqual(vs);
      }),
      { numRuns: 300 },
    );
    const ids = ['3652397000000646004', '9223372036854775807', '-9223372036854775808', '+42', '007'];
    expect(roundTrip({ kind: 'int64' }, ids).values).toEqual([
      3652397000000646004n,
      INT64_MAX,
      INT64_MIN,
      42n,
      7n,
    ]);
  });

  it('int64: rejects out of range and non-integers', () => {
    const bad = [
      '9223372036854775808',
      '-9223372036854775809',
      '12345678901234567890',
      '1.5',
      '1e3',
      ' 1',
      'x',
      '-',
    ];
    const { values, ok } = roundTrip({ kind: 'int64' }, bad);
    expect(ok).toEqual(bad.map(() => false));
    expect(values).toEqual(bad.map(() => null));
  });

  it('decimal: the unscaled value is exact, no rounding', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.bigInt({ min: -(10n ** 18n) + 1n, max: 10n ** 18n - 1n }),
        (scale, unscaled) => {
          const abs = unscaled < 0n ? -unscaled : unscaled;
          const digits = abs.toString().padStart(scale + 1, '0');
          const text = `${unscaled < 0n ? '-' : ''}${scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits}`;
          const { values, ok } = roundTrip({ kind: 'decimal', precision: 18, scale }, [text]);
          expect(ok[0]).toBe(true);
          expect(values[0]).toBe(unscaled);
        },
      ),
      { numRuns: 300 },
    );
    const t = { kind: 'decimal', precision: 18, scale: 2 } as const;
    expect(roundTrip(t, ['12.5', '12', '.5', '-0.00', '1.500', '007.10']).values).toEqual([
      1250n,
      1200n,
      50n,
      0n,
      150n,
      710n,
    ]);
    expect(roundTrip(t, ['1.005', '12,5', '1e3', '1.2.3', '.', '-', '1234567890123456789']).ok).toEqual(
      new Array(7).fill(false),
    );
    const wide = { kind: 'decimal', precision: 38, scale: 4 } as const;
    expect(roundTrip(wide, ['-12345678901234567890123456789012.3456']).values).toEqual([
      -123456789012345678901234567890123456n,
    ]);
  });

  it('double, boolean, date', () => {
    expect(
      roundTrip({ kind: 'double' }, ['1.5', '-2', '1e-3', '.5', 'NaN', 'Infinity', '0x10', '1,5']).values,
    ).toEqual([1.5, -2, 0.001, 0.5, null, null, null, null]);
    expect(roundTrip({ kind: 'boolean' }, ['true', 'FALSE', 'True', 'yes', '1']).values).toEqual([
      true,
      false,
      true,
      null,
      null,
    ]);
    const days = (s: string) =>
      Date.UTC(Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1, Number(s.slice(8))) / 86400000;
    expect(
      roundTrip({ kind: 'date' }, ['1970-01-01', '2020-02-29', '1899-12-31', '2021-02-29', '2021-1-01'])
        .values,
    ).toEqual([0, days('2020-02-29'), days('1899-12-31'), null, null]);
  });

  it('timestamp: ISO 8601 with offset, to UTC milliseconds', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1800-01-01T00:00:00Z'),
          max: new Date('2200-01-01T00:00:00Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: -12 * 60, max: 14 * 60 }),
        (d, offsetMin) => {
          const local = new Date(d.getTime() + offsetMin * 60_000).toISOString().slice(0, 23);
          const sign = offsetMin < 0 ? '-' : '+';
          const abs = Math.abs(offsetMin);
          const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          const text = `${local}${off}`;
          expect(parseTimestampBytes(Buffer.from(text), 0, text.length)).toBe(d.getTime());
        },
      ),
      { numRuns: 300 },
    );
    const t = (s: string) => parseTimestampBytes(Buffer.from(s), 0, s.length);
    expect(t('2021-07-25T02:13:17-07:00')).toBe(Date.parse('2021-07-25T09:13:17Z'));
    expect(t('2021-07-25T02:13:17Z')).toBe(Date.parse('2021-07-25T02:13:17Z'));
    expect(t('2021-07-25T02:13:17.123456+0530')).toBe(Date.parse('2021-07-25T02:13:17.123+05:30'));
    expect(t('2021-07-25T02:13-07:00')).toBe(Date.parse('2021-07-25T09:13:00Z'));
    for (const bad of [
      '2021-07-25T02:13:17',
      '2021-07-25',
      '2021-02-30T00:00:00Z',
      '2021-07-25T24:00:00Z',
      'x',
    ]) {
      expect(t(bad)).toBeNull();
    }
  });

  it('string: bytes kept as they are, "" unescaped; list: split on ";" and kept byte for byte', () => {
    const raw = Buffer.from('say ""hi"" 😀');
    const b = new ColumnBuilder({ kind: 'string' }, 1, 1);
    b.add(raw, 0, raw.length, FIELD_QUOTED | FIELD_ESCAPED);
    expect(toCellValues(b.finish())).toEqual(['say "hi" 😀']);
    expect(roundTrip({ kind: 'list' }, ['a;b', 'solo', ';x;', 'Δ 😀;y z', '']).values).toEqual([
      ['a', 'b'],
      ['solo'],
      ['', 'x', ''],
      ['Δ 😀', 'y z'],
      null,
    ]);
  });

  it('string: with UTF-8 checking on, an invalid value is refused (the caller records it)', () => {
    const b = new ColumnBuilder({ kind: 'string' }, 1, 1);
    b.checkUtf8 = true;
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    expect(b.add(bad, 0, 3, 0)).toBe(false);
    expect(b.add(Buffer.from('ok'), 0, 2, 0)).toBe(true);
  });
});
