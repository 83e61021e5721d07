import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  type ConversionStats,
  type ConvertOptions,
  convertCsvToParquet,
  planColumns,
  type ZohoField,
} from '../../lib/analytics/index.js';

export const LINEAGE = {
  exportId: 'exp-2026-12-01',
  jobId: '3652397000000646004',
  exportedAt: new Date('2026-12-01T10:20:30.456Z'),
};

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'analytics-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** RFC 4180 quoting where needed (or always, with `force`). */
export function quoteField(s: string, force = false): string {
  return force || /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(rows: readonly (readonly string[])[], eol = '\r\n'): string {
  return rows.map((r) => r.map((v) => quoteField(v)).join(',')).join(eol) + eol;
}

/** Splits `buf` into chunks at the given cut points (any byte, UTF-8 sequences included). */
export function chunked(buf: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let k = 0;
  while (i < buf.length) {
    const n = Math.max(1, sizes.length > 0 ? (sizes[k++ % sizes.length] as number) : buf.length);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

export async function convertToFile(
  csv: Buffer | Buffer[] | AsyncIterable<Buffer>,
  file: string,
  options: Partial<ConvertOptions> & { fields?: ZohoField[] | null } = {},
): Promise<ConversionStats> {
  const source = Buffer.isBuffer(csv) ? Readable.from([csv]) : Array.isArray(csv) ? Readable.from(csv) : csv;
  const { fields, ...rest } = options;
  const c = convertCsvToParquet(source, {
    columns: (h) => planColumns(h, fields === undefined ? [] : fields),
    lineage: LINEAGE,
    ...rest,
  });
  await pipeline(c.stream, createWriteStream(file));
  return c.done;
}

export type JsonRow = Record<string, unknown>;

export async function duck(sql: string): Promise<JsonRow[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    await con.run("SET TimeZone='UTC'");
    const r = await con.runAndReadAll(sql);
    return r.getRowObjectsJson() as JsonRow[];
  } finally {
    con.closeSync();
  }
}

export const sq = (s: string): string => `'${s.replaceAll("'", "''")}'`;
export const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const ZOHO_FIELDS: ZohoField[] = [
  { api_name: 'Owner', data_type: 'ownerlookup', json_type: 'jsonobject' },
  { api_name: 'Full_Name', data_type: 'text', json_type: 'string' },
  { api_name: 'Description', data_type: 'textarea', json_type: 'string' },
  { api_name: 'Annual_Revenue', data_type: 'currency', json_type: 'double', decimal_place: 2, length: 16 },
  { api_name: 'Rating', data_type: 'double', json_type: 'double' },
  { api_name: 'Employees', data_type: 'integer', json_type: 'integer' },
  { api_name: 'Opt_Out', data_type: 'boolean', json_type: 'boolean' },
  { api_name: 'Birthday', data_type: 'date', json_type: 'string' },
  { api_name: 'Created_Time', data_type: 'datetime', json_type: 'string' },
  { api_name: 'Tags_Multi', data_type: 'multiselectpicklist', json_type: 'jsonarray' },
  { api_name: 'Big_Number', data_type: 'bigint', json_type: 'string' },
  { api_name: 'Record_No', data_type: 'autonumber', json_type: 'string' },
];

export const ZOHO_HEADER = [
  'id',
  'Owner',
  'Owner.last_name',
  'Full_Name',
  'Description',
  'Annual_Revenue',
  'Rating',
  'Employees',
  'Opt_Out',
  'Birthday',
  'Created_Time',
  'Tags_Multi',
  'Big_Number',
  'Record_No',
  'Unlisted_Column',
];

const TEXTS = [
  'plain',
  'comma, inside',
  'say "hi"',
  '""',
  'line1\nline2',
  'crlf\r\nnext',
  'cr\ronly',
  'Müller Øster Nguyễn',
  '日本語テキスト',
  'emoji 😀🚀👩‍👩‍👧',
  ' leading and trailing ',
  ';semi;colons;',
  '\t tab',
];

/**
 * One Zoho-like record (raw CSV values, unquoted) per index: every type, empty values, and a few
 * values that do not parse (row i % 37 === 3: revenue; i % 41 === 5: birthday; i % 43 === 7: bool).
 */
export function zohoRecord(i: number, rnd: () => number): string[] {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;
  const two = (n: number) => String(n).padStart(2, '0');
  const empty = (p: number) => rnd() < p;
  return [
    String(3652397000000000000n + BigInt(i) * 7919n),
    empty(0.1) ? '' : String(3652397000000100000n + BigInt(Math.floor(rnd() * 1000))),
    empty(0.1) ? '' : pick(TEXTS),
    empty(0.05) ? '' : `${pick(TEXTS)} ${i}`,
    empty(0.3) ? '' : `${pick(TEXTS)}\n${pick(TEXTS)}\r\n${'x'.repeat(Math.floor(rnd() * 50))}`,
    i % 37 === 3
      ? '12,5'
      : empty(0.1)
        ? ''
        : `${rnd() < 0.2 ? '-' : ''}${Math.floor(rnd() * 1e9)}.${two(Math.floor(rnd() * 100))}`,
    empty(0.1) ? '' : String(Math.round(rnd() * 1e6) / 1e3),
    empty(0.1) ? '' : String(Math.floor(rnd() * 2e6) - 1e6),
    i % 43 === 7 ? 'yes' : empty(0.1) ? '' : pick(['true', 'false', 'TRUE', 'False']),
    i % 41 === 5
      ? '2021-02-29'
      : empty(0.2)
        ? ''
        : `${1900 + Math.floor(rnd() * 200)}-${two(1 + Math.floor(rnd() * 12))}-${two(1 + Math.floor(rnd() * 28))}`,
    empty(0.1)
      ? ''
      : `20${10 + Math.floor(rnd() * 20)}-${two(1 + Math.floor(rnd() * 12))}-${two(1 + Math.floor(rnd() * 28))}T${two(
          Math.floor(rnd() * 24),
        )}:${two(Math.floor(rnd() * 60))}:${two(Math.floor(rnd() * 60))}${pick(['-07:00', '+05:30', 'Z', '+00:00'])}`,
    empty(0.3) ? '' : [pick(['A', 'B', 'Ç', 'Δ 😀']), pick(['x', 'y z', ''])].join(';'),
    empty(0.1)
      ? ''
      : String(
          BigInt(Math.floor(rnd() * 2 ** 53)) * 1000n +
            BigInt(i % 1000) -
            (rnd() < 0.3 ? 9n * 10n ** 18n : 0n),
        ),
    `ACC-${String(i).padStart(6, '0')}`,
    empty(0.5) ? '' : pick(TEXTS),
  ];
}
