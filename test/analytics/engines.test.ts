/**
 * Every Parquet file the converter writes here is read back by four engines (DuckDB, arrow-rs,
 * polars, hyparquet: test/support/engines.ts), on both codecs; each must read exactly what the
 * source CSV holds. ZSTD needs Node's zlib zstd (Node >= 22.15, the Lambda runtime): on Node 20 its
 * cases are skipped and say so, and `npm run test:node22` (run by .ci/run) runs them; with
 * EXPECT_ZSTD=1 / EXPECT_POLARS=1 (both set by CI) a missing codec or engine fails instead.
 */
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_BUILD } from '../../lib/analytics/created-by.js';
import {
  type Compression,
  type ConversionStats,
  convertCsvToParquet,
  parseFieldsResponse,
  planColumns,
  type ZohoField,
  zstdAvailable,
} from '../../lib/analytics/index.js';
import { csvChunks } from '../../local/fake-zoho/csv.js';
import { fieldsMetadata } from '../../local/fake-zoho/metadata.js';
import pkg from '../../package.json' with { type: 'json' };
import {
  type ColumnSpec,
  ENGINES,
  type EngineName,
  type EngineRead,
  expectedFromCsv,
  type FileSummary,
  firstDifference,
  footerOf,
  kindName,
  polarsUnavailable,
  readWith,
  summarize,
} from '../support/engines.js';
import { LINEAGE, prng, toCsv, ZOHO_FIELDS, ZOHO_HEADER, zohoRecord } from './helpers.js';

/** parquet-java's VersionParser (org.apache.parquet.VersionParser.FORMAT). */
const PARQUET_JAVA_VERSION = /^(.*?)\s+version\s*(?:([^(]*?)\s*(?:\(\s*build\s*([^)]*?)\s*\))?)?$/;

interface Fixture {
  name: string;
  csv: Buffer;
  fields: ZohoField[];
  rowGroupRows: number;
  /** Column kinds the plan must give (checked before the values). */
  kinds?: Record<string, string>;
}

const EDGE_FIELDS: ZohoField[] = [
  { api_name: 'Big_Amount', data_type: 'currency', json_type: 'double', decimal_place: 4, length: 30 },
  { api_name: 'Amount', data_type: 'currency', json_type: 'double', decimal_place: 2, length: 16 },
  { api_name: 'Score', data_type: 'double', json_type: 'double' },
  { api_name: 'Active', data_type: 'boolean', json_type: 'boolean' },
  { api_name: 'Born', data_type: 'date', json_type: 'string' },
  { api_name: 'Seen', data_type: 'datetime', json_type: 'string' },
  { api_name: 'Tags', data_type: 'multiselectpicklist', json_type: 'jsonarray' },
  { api_name: 'Name', data_type: 'text', json_type: 'string' },
  { api_name: 'Owner', data_type: 'ownerlookup', json_type: 'jsonobject' },
];

/** Hand-written edge cases: extremes of each type, NULLs, unicode, values that do not parse. */
function edgeFixture(): Fixture {
  const header = ['id', ...EDGE_FIELDS.map((f) => f.api_name)];
  const rows: string[][] = [
    // id                 Big_Amount (FLBA 16)                      Amount (INT64)          Score        Active   Born          Seen                               Tags                 Name                              Owner
    [
      '9007199254740993',
      '-12345678901234567890123456789.1234',
      '-92233720368547758.08',
      '-0.5',
      'TRUE',
      '1969-12-31',
      '2024-01-01T00:00:00.001+05:30',
      'a;;b',
      'Müller 日本語 😀👩‍👩‍👧',
      '9223372036854775807',
    ],
    [
      '9223372036854775807',
      '99999999999999999999999999999.9999',
      '92233720368547758.07',
      '1e300',
      'false',
      '2024-02-29',
      '1970-01-01T00:00:00Z',
      'Δ 😀',
      'say "hi",\nnext line',
      '-9223372036854775808',
    ],
    [
      '3652397000000000001',
      '0.0001',
      '0',
      '0',
      'False',
      '0001-01-01',
      '2038-01-19T03:14:08-07:00',
      ';',
      ' ',
      '',
    ],
    ['3652397000000000002', '', '', '', '', '', '', '', '', ''],
    [
      '3652397000000000003',
      '1.00000',
      '12.5',
      '123456.789',
      'yes',
      '2021-02-29',
      '2024-13-01T00:00:00Z',
      'x',
      '\r\ncr lf',
      '1',
    ],
    [
      '3652397000000000004',
      '1.00005',
      '1.005',
      'abc',
      'true',
      '1900-01-01',
      '1999-12-31T23:59:59.999+14:00',
      'tag with , comma',
      'ñ',
      '9223372036854775808',
    ],
  ];
  for (let i = 0; i < 9; i++) {
    rows.push([
      String(9007199254740993n + BigInt(i) * 1_000_003n),
      `${i}.${i}`,
      `-${i}.0${i}`,
      String(i / 7),
      i % 2 ? 'true' : 'false',
      `2000-0${1 + (i % 9)}-1${i}`,
      `2026-12-0${1 + (i % 9)}T1${i}:00:00+01:00`,
      ['α', 'β', 'γ'].slice(0, 1 + (i % 3)).join(';'),
      `row ${i} ${'é'.repeat(i)}`,
      String(3652397000000100000n + BigInt(i)),
    ]);
  }
  return {
    name: 'edge cases (hand-written)',
    csv: Buffer.from(toCsv([header, ...rows])),
    fields: EDGE_FIELDS,
    rowGroupRows: 4,
    kinds: {
      id: 'int64',
      Big_Amount: 'decimal(34,4)',
      Amount: 'decimal(18,2)',
      Score: 'double',
      Active: 'boolean',
      Born: 'date',
      Seen: 'timestamp',
      Tags: 'list',
      Name: 'string',
      Owner: 'int64',
    },
  };
}

function zohoLikeFixture(): Fixture {
  const rnd = prng(21);
  const rows = Array.from({ length: 700 }, (_, i) => zohoRecord(i, rnd));
  return {
    name: 'a Zoho-like module (test/analytics/helpers.ts)',
    csv: Buffer.from(toCsv([ZOHO_HEADER, ...rows])),
    fields: ZOHO_FIELDS,
    rowGroupRows: 256,
  };
}

/** A module of the fake Zoho: its CSV and field metadata as the fake serves them. */
function fakeZohoFixture(module: string): Fixture {
  return {
    name: `the fake Zoho's ${module}`,
    csv: Buffer.concat([...csvChunks({ jobId: `engines-${module}`, module, records: 300 })]),
    fields: parseFieldsResponse({ fields: fieldsMetadata({ opts: { padding: 0 } }, module) }),
    rowGroupRows: 128,
  };
}

async function convert(
  f: Fixture,
  compression: Compression,
): Promise<{ bytes: Buffer; stats: ConversionStats }> {
  const c = convertCsvToParquet(Readable.from([f.csv]), {
    columns: (h) => planColumns(h, f.fields),
    lineage: LINEAGE,
    rowGroupRows: f.rowGroupRows,
    compression,
  });
  const chunks: Buffer[] = [];
  for await (const chunk of c.stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return { bytes: Buffer.concat(chunks), stats: await c.done };
}

const ZSTD_SKIP = zstdAvailable()
  ? ''
  : ` (SKIPPED: Node ${process.versions.node} has no zlib zstd, which needs Node >= 22.15; ` +
    'these cases run under Node 22: npm run test:node22, and in .ci/run)';

const CODECS: { codec: Compression; skip: boolean; title: string }[] = [
  { codec: 'SNAPPY', skip: false, title: 'SNAPPY' },
  { codec: 'ZSTD', skip: !zstdAvailable(), title: `ZSTD${ZSTD_SKIP}` },
];

const FIXTURES: (() => Fixture)[] = [
  edgeFixture,
  zohoLikeFixture,
  () => fakeZohoFixture('Leads'),
  () => fakeZohoFixture('Deals'),
];

describe('where the codecs and engines are expected', () => {
  it('has zlib zstd when EXPECT_ZSTD=1 (CI under Node 22) or on Node >= 22.15', () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const expected = process.env.EXPECT_ZSTD === '1' || major > 22 || (major === 22 && minor >= 15);
    if (expected) expect(zstdAvailable(), `Node ${process.versions.node} should have zlib zstd`).toBe(true);
    else expect(zstdAvailable()).toBe(false);
  });

  it('loads polars when EXPECT_POLARS=1 (CI installs its native binary)', async () => {
    const missing = await polarsUnavailable();
    if (process.env.EXPECT_POLARS === '1') expect(missing).toBeUndefined();
  });
});

for (const { codec, skip, title } of CODECS) {
  describe.skipIf(skip)(`four engines read what the converter writes: ${title}`, () => {
    for (const make of FIXTURES) {
      const fixture = make();
      describe(fixture.name, () => {
        let bytes: Buffer;
        let stats: ConversionStats;
        let specs: ColumnSpec[];
        let expected: EngineRead;
        let expectedSummary: FileSummary;
        const summaries = new Map<EngineName, FileSummary>();

        beforeAll(async () => {
          ({ bytes, stats } = await convert(fixture, codec));
          const e = expectedFromCsv(
            fixture.csv,
            stats.columns.map((c) => ({ name: c.name, type: c.type })),
            LINEAGE,
          );
          specs = e.specs;
          expected = e.read;
          expectedSummary = summarize(expected, specs);
        }, 60_000);

        it(`is ${codec} in every column chunk, in several row groups, with a created_by that parquet-java parses`, () => {
          expect(stats.compression).toBe(codec);
          const footer = footerOf(bytes);
          expect([...footer.codecs]).toEqual([codec]);
          expect(stats.rowGroups).toBeGreaterThan(1);
          const [, app, version, build] = PARQUET_JAVA_VERSION.exec(footer.createdBy ?? '') ?? [];
          expect({ app, version, build }).toEqual({
            app: 'zoho-crm-bulk-export',
            version: pkg.version,
            build: UNKNOWN_BUILD, // the bundlers define the git commit; tests run the sources
          });
          if (fixture.kinds) {
            expect(Object.fromEntries(stats.columns.map((c) => [c.name, kindName(c.type)]))).toEqual(
              fixture.kinds,
            );
          }
        });

        for (const engine of ENGINES) {
          it(`${engine} reads every value the CSV holds`, async (ctx) => {
            if (engine === 'polars') {
              const missing = await polarsUnavailable();
              if (missing && process.env.EXPECT_POLARS !== '1') {
                console.warn(`polars comparison SKIPPED: ${missing}`);
                ctx.skip(missing);
              }
            }
            const read = await readWith(engine, bytes, specs);
            const summary = summarize(read, specs);
            expect(firstDifference(expected, read), `${engine}: first value that differs`).toBeUndefined();
            expect(summary).toEqual(expectedSummary);
            summaries.set(engine, summary);
          }, 60_000);
        }

        it('the engines that read it agree with each other', () => {
          const read = [...summaries.entries()];
          expect(read.length).toBeGreaterThanOrEqual(3);
          for (const [engine, s] of read) expect(s, engine).toEqual(read[0]?.[1]);
        });
      });
    }
  });
}
