import { describe, expect, it } from 'vitest';
import { duckType, viewSql } from '../../lib/query/local.js';
import { cellText, toCsv, toJson, toTable } from '../../lib/query/output.js';
import {
  athenaKind,
  type QueryResult,
  timestampValue,
  uniqueNames,
  valueFromText,
} from '../../lib/query/values.js';

describe('query values: one mapping for Athena text and DuckDB', () => {
  it('integers: a number when a double holds it exactly, else the digits (Zoho ids)', () => {
    expect(valueFromText('bigint', '42')).toBe(42);
    expect(valueFromText('bigint', '-9007199254740991')).toBe(-9007199254740991);
    expect(valueFromText('bigint', '9007199254740993')).toBe('9007199254740993');
    expect(valueFromText('bigint', '3652397000000646004')).toBe('3652397000000646004');
    expect(valueFromText('integer', '7')).toBe(7);
  });

  it('decimals stay exact strings; floats are numbers, NaN and infinities their names', () => {
    expect(valueFromText('decimal', '12.50')).toBe('12.50');
    expect(valueFromText('float', '1.5')).toBe(1.5);
    expect(valueFromText('float', '1.0E10')).toBe(1e10);
    expect(valueFromText('float', 'NaN')).toBe('NaN');
    expect(valueFromText('float', 'Infinity')).toBe('Infinity');
  });

  it('booleans, NULL, empty strings', () => {
    expect(valueFromText('boolean', 'true')).toBe(true);
    expect(valueFromText('boolean', 'false')).toBe(false);
    expect(valueFromText('string', undefined)).toBeNull();
    expect(valueFromText('bigint', null)).toBeNull();
    expect(valueFromText('string', '')).toBe('');
  });

  it('dates as they are; timestamps ISO 8601 in UTC', () => {
    expect(valueFromText('date', '2026-12-01')).toBe('2026-12-01');
    expect(valueFromText('timestamp', '2026-12-01 10:20:30.456')).toBe('2026-12-01T10:20:30.456Z');
    expect(valueFromText('timestamp', '2026-12-01 10:20:30.000')).toBe('2026-12-01T10:20:30Z');
    expect(valueFromText('timestamp', '2026-12-01 10:20:30')).toBe('2026-12-01T10:20:30Z');
    expect(valueFromText('timestamptz', '2026-12-01 10:20:30.456 UTC')).toBe('2026-12-01T10:20:30.456Z');
    expect(timestampValue('2026-12-01 10:20:30.456+00', true)).toBe('2026-12-01T10:20:30.456Z');
    expect(timestampValue('2026-12-01 10:20:30+05:30', true)).toBe('2026-12-01T10:20:30+05:30');
    expect(timestampValue('2026-12-01 10:20:30 Europe/Paris', true)).toBe('2026-12-01 10:20:30 Europe/Paris');
  });

  it("Athena's type names", () => {
    expect(athenaKind('bigint')).toBe('bigint');
    expect(athenaKind('decimal(18,2)')).toBe('decimal');
    expect(athenaKind('integer')).toBe('integer');
    expect(athenaKind('double')).toBe('float');
    expect(athenaKind('timestamp(3)')).toBe('timestamp');
    expect(athenaKind('timestamp(3) with time zone')).toBe('timestamptz');
    expect(athenaKind('varchar')).toBe('string');
    expect(athenaKind('array(varchar)')).toBe('other');
  });

  it('repeated column names are kept apart', () => {
    expect(
      uniqueNames([
        { name: 'a', type: 'x' },
        { name: 'a', type: 'x' },
        { name: 'b', type: 'x' },
      ]),
    ).toEqual(['a', 'a_2', 'b']);
  });

  it("Glue types as DuckDB's, and Athena's view text", () => {
    expect(duckType('bigint')).toBe('BIGINT');
    expect(duckType('decimal(18,2)')).toBe('DECIMAL(18,2)');
    expect(duckType('array<string>')).toBe('VARCHAR[]');
    expect(duckType('struct<pages:int,records:bigint>')).toBe('STRUCT("pages" INTEGER, "records" BIGINT)');
    expect(duckType('array<struct<page:int,csv:struct<key:string>>>')).toBe(
      'STRUCT("page" INTEGER, "csv" STRUCT("key" VARCHAR))[]',
    );
    const text = `/* Presto View: ${Buffer.from(JSON.stringify({ originalSql: 'SELECT 1', catalog: 'awsdatacatalog' })).toString('base64')} */`;
    expect(viewSql(text)).toBe('SELECT 1');
    expect(() => viewSql('SELECT 1')).toThrow(/Presto View/);
  });
});

const result: QueryResult = {
  columns: [
    { name: 'id', type: 'bigint' },
    { name: 'name', type: 'varchar' },
    { name: 'amount', type: 'decimal(18,2)' },
    { name: 'tags', type: 'array(varchar)' },
    { name: 'ok', type: 'boolean' },
  ],
  rows: [
    ['3652397000000646004', 'Doe, "Jane"', '12.50', ['a', 'b'], true],
    [7, 'line\nbreak', null, null, false],
  ],
};

describe('query output', () => {
  it('--json: ONE array of row objects keyed by column name, exact values', () => {
    const text = toJson(result);
    const parsed = JSON.parse(text) as unknown[];
    expect(parsed).toEqual([
      { id: '3652397000000646004', name: 'Doe, "Jane"', amount: '12.50', tags: ['a', 'b'], ok: true },
      { id: 7, name: 'line\nbreak', amount: null, tags: null, ok: false },
    ]);
    expect(toJson({ columns: result.columns, rows: [] })).toBe('[]\n');
  });

  it('--csv: RFC 4180 (header, CRLF, quotes doubled, fields with , " or line breaks quoted, NULL empty)', () => {
    expect(toCsv(result)).toBe(
      'id,name,amount,tags,ok\r\n' +
        '3652397000000646004,"Doe, ""Jane""",12.50,"[""a"",""b""]",true\r\n' +
        '7,"line\nbreak",,,false\r\n',
    );
  });

  it('table: aligned, NULL shown, line breaks escaped, a row count', () => {
    const lines = toTable(result).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^id\s+name\s+amount\s+tags\s+ok$/);
    expect(lines[1]).toMatch(/^-+\s+-+/);
    expect(lines[2]).toMatch(/^3652397000000646004\s+Doe, "Jane"\s+12\.50\s+\["a","b"\]\s+true$/);
    expect(lines[3]).toMatch(/^7\s+line\\nbreak\s+NULL\s+NULL\s+false$/);
    expect(lines[4]).toBe('(2 rows)');
    expect(lines[0]!.indexOf('name')).toBe(lines[2]!.indexOf('Doe'));
    expect(cellText(null)).toBe('');
  });
});
