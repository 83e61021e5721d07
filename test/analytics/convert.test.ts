import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as arrow from 'apache-arrow';
import { parse as csvParse } from 'csv-parse/sync';
import * as parquetWasm from 'parquet-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { hyparquetWriter } from '../../bench/convert/hyparquet-writer.js';
import {
  convertCsvToParquet,
  planColumns,
  REASON_NO_METADATA,
  REASON_NOT_IN_METADATA,
  REASON_SYSTEM_FIELD,
  zstdAvailable,
} from '../../lib/analytics/index.js';
import {
  chunked,
  convertToFile,
  duck,
  LINEAGE,
  prng,
  sq,
  tempDir,
  toCsv,
  ZOHO_FIELDS,
  ZOHO_HEADER,
  zohoRecord,
} from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** "12.50" / "-3" → unscaled bigint at scale 2. */
function unscaled2(s: string): bigint {
  const neg = s.startsWith('-');
  const [i = '0', f = ''] = s.replace(/^[-+]/, '').split('.');
  const v = BigInt(i || '0') * 100n + BigInt(`${f}00`.slice(0, 2));
  return neg ? -v : v;
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('convertCsvToParquet', () => {
  it('converts a Zoho-like CSV: values byte-identical, ids exact, types, NULLs, errors, lineage, row groups', async () => {
    const rnd = prng(42);
    const records = Array.from({ length: 3000 }, (_, i) => zohoRecord(i, rnd));
    const csvText = `\uFEFF${toCsv([ZOHO_HEADER, ...records])}`;
    const csv = Buffer.from(csvText, 'utf8');
    const file = path.join(tmp.dir, 'zoho.parquet');
    const stats = await convertToFile(chunked(csv, [7, 1000, 65536, 3]), file, {
      fields: ZOHO_FIELDS,
      rowGroupRows: 500,
    });

    // The independent reader's view of the CSV.
    const expected = csvParse(csv, { bom: true }) as string[][];
    expect(expected[0]).toEqual(ZOHO_HEADER);
    const rows = expected.slice(1);
    expect(stats.rows).toBe(rows.length);
    expect(stats.header).toEqual(ZOHO_HEADER);
    expect(stats.rowGroups).toBe(6);

    const f = sq(file);
    const describe = await duck(`DESCRIBE SELECT * FROM read_parquet(${f})`);
    expect(Object.fromEntries(describe.map((r) => [r.column_name, r.column_type]))).toEqual({
      id: 'BIGINT',
      Owner: 'BIGINT',
      'Owner.last_name': 'VARCHAR',
      Full_Name: 'VARCHAR',
      Description: 'VARCHAR',
      Annual_Revenue: 'DECIMAL(18,2)',
      Rating: 'DOUBLE',
      Employees: 'BIGINT',
      Opt_Out: 'BOOLEAN',
      Birthday: 'DATE',
      Created_Time: 'TIMESTAMP WITH TIME ZONE',
      Tags_Multi: 'VARCHAR[]',
      Big_Number: 'BIGINT',
      Record_No: 'VARCHAR',
      Unlisted_Column: 'VARCHAR',
      _export_id: 'VARCHAR',
      _job_id: 'VARCHAR',
      _exported_at: 'TIMESTAMP WITH TIME ZONE',
      _zoho_conversion_errors: 'VARCHAR',
    });

    const got = await duck(
      `SELECT * EXCLUDE (file_row_number) REPLACE (
         CAST(Annual_Revenue AS VARCHAR) AS Annual_Revenue,
         CAST(Birthday AS VARCHAR) AS Birthday,
         epoch_ms(Created_Time) AS Created_Time,
         epoch_ms(_exported_at) AS _exported_at)
       FROM read_parquet(${f}, file_row_number = true) ORDER BY file_row_number`,
    );
    expect(got).toHaveLength(rows.length);
    const col = (name: string) => ZOHO_HEADER.indexOf(name);
    const errorCounts: Record<string, number> = {};
    rows.forEach((raw, r) => {
      const g = got[r] as Record<string, unknown>;
      const v = (name: string) => raw[col(name)] as string;
      const errs: Record<string, string> = {};
      const bad = (name: string) => {
        errs[name] = v(name);
        errorCounts[name] = (errorCounts[name] ?? 0) + 1;
        return null;
      };
      const orNull = <T>(name: string, f: (s: string) => T) => (v(name) === '' ? null : f(v(name)));
      // strings: byte-identical (compared as UTF-8 bytes), empty → NULL
      for (const name of ['Owner.last_name', 'Full_Name', 'Description', 'Record_No', 'Unlisted_Column']) {
        const want = orNull(name, (s) => s);
        expect(g[name], `${name} row ${r}`).toBe(want);
        if (want !== null) expect(Buffer.from(g[name] as string).equals(Buffer.from(want))).toBe(true);
      }
      // 19-digit ids and signed 64-bit numbers, exact (DuckDB's JSON gives them as strings)
      for (const name of ['id', 'Owner', 'Big_Number', 'Employees']) {
        expect(g[name], `${name} row ${r}`).toBe(orNull(name, (s) => BigInt(s).toString()));
      }
      expect(g.Annual_Revenue === null ? null : unscaled2(g.Annual_Revenue as string)).toBe(
        orNull('Annual_Revenue', (s) =>
          /^-?\d+(\.\d{1,2})?$/.test(s) ? unscaled2(s) : bad('Annual_Revenue'),
        ),
      );
      expect(g.Rating).toBe(orNull('Rating', Number));
      expect(g.Opt_Out).toBe(
        orNull('Opt_Out', (s) => (/^(true|false)$/i.test(s) ? s.toLowerCase() === 'true' : bad('Opt_Out'))),
      );
      expect(g.Birthday).toBe(
        orNull('Birthday', (s) =>
          Number.isNaN(Date.parse(`${s}T00:00:00Z`)) || s === '2021-02-29' ? bad('Birthday') : s,
        ),
      );
      expect(g.Created_Time).toBe(orNull('Created_Time', (s) => String(Date.parse(s))));
      expect(g.Tags_Multi).toEqual(orNull('Tags_Multi', (s) => s.split(';')));
      expect(g._export_id).toBe(LINEAGE.exportId);
      expect(g._job_id).toBe(LINEAGE.jobId);
      expect(g._exported_at).toBe(String(LINEAGE.exportedAt.getTime()));
      expect(
        g._zoho_conversion_errors === null ? null : JSON.parse(g._zoho_conversion_errors as string),
      ).toEqual(Object.keys(errs).length ? errs : null);
    });
    expect(Object.keys(errorCounts).sort()).toEqual(['Annual_Revenue', 'Birthday', 'Opt_Out']);
    expect(stats.conversionErrors).toEqual(errorCounts);
    const summary = Object.fromEntries(stats.columns.map((c) => [c.name, c]));
    expect(summary.Unlisted_Column?.reason).toBe(REASON_NOT_IN_METADATA);
    expect(summary.Description?.nulls).toBe(rows.filter((x) => x[col('Description')] === '').length);

    // Row groups and statistics as DuckDB sees them.
    const meta = await duck(
      `SELECT row_group_id, stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata(${f}) WHERE path_in_schema = 'id' ORDER BY row_group_id`,
    );
    expect(meta).toHaveLength(6);
    expect(meta[0]?.stats_min_value).toBe(rows[0]?.[0]);
    expect(meta[5]?.stats_max_value).toBe(rows.at(-1)?.[0]);
    expect(meta.every((m) => m.stats_null_count === '0')).toBe(true);

    // A second, independent reader (arrow-rs, through parquet-wasm) sees the same ids and text.
    const table = arrow.tableFromIPC(
      parquetWasm.readParquet(new Uint8Array(readFileSync(file))).intoIPCStream(),
    );
    expect(table.numRows).toBe(rows.length);
    const ids = table.getChild('id')?.toArray() as BigInt64Array;
    expect(Array.from(ids, String)).toEqual(rows.map((x) => x[0]));
    expect(table.getChild('Description')?.get(1)).toBe(rows[1]?.[col('Description')] || null);
  });

  it('writes every column as STRING, with the reason, when there is no field metadata, but the system fields', async () => {
    const file = path.join(tmp.dir, 'nometa.parquet');
    const csv = Buffer.from(
      'id,Amount,When,Modified_Time\r\n3652397000000646004,12.50,2021-07-25T02:13:17-07:00,2021-07-25T02:13:17-07:00\r\n',
    );
    const stats = await convertToFile(csv, file, { fields: null });
    expect(stats.columns.map((c) => [c.name, c.type.kind, c.reason])).toEqual([
      ['id', 'int64', REASON_SYSTEM_FIELD],
      ['Amount', 'string', REASON_NO_METADATA],
      ['When', 'string', REASON_NO_METADATA],
      ['Modified_Time', 'timestamp', REASON_SYSTEM_FIELD],
    ]);
    const d = await duck(`DESCRIBE SELECT id, Amount, "When", Modified_Time FROM read_parquet(${sq(file)})`);
    expect(d.map((r) => r.column_type)).toEqual(['BIGINT', 'VARCHAR', 'VARCHAR', 'TIMESTAMP WITH TIME ZONE']);
    const [row] = await duck(
      `SELECT CAST(id AS VARCHAR) AS id, Amount, "When", CAST(epoch_ms(Modified_Time) AS DOUBLE) AS ms FROM read_parquet(${sq(file)})`,
    );
    expect(row).toEqual({
      id: '3652397000000646004',
      Amount: '12.50',
      When: '2021-07-25T02:13:17-07:00',
      ms: Date.parse('2021-07-25T02:13:17-07:00'),
    });
  });

  it('writes a readable empty file for a header-only CSV, and skips blank lines', async () => {
    const empty = path.join(tmp.dir, 'empty.parquet');
    expect((await convertToFile(Buffer.from('id,Name\n'), empty, { fields: [] })).rows).toBe(0);
    expect(await duck(`SELECT count(*)::INT AS n FROM read_parquet(${sq(empty)})`)).toEqual([{ n: 0 }]);
    const blank = path.join(tmp.dir, 'blank.parquet');
    const s = await convertToFile(Buffer.from('id,Name\n1,a\n\n2,b\n'), blank, { fields: [] });
    expect([s.rows, s.blankLines]).toEqual([2, 1]);
  });

  it('records an invalid UTF-8 value as a conversion error instead of writing it', async () => {
    const file = path.join(tmp.dir, 'utf8.parquet');
    const csv = Buffer.concat([
      Buffer.from('id,Name\n1,ok é\n2,bad'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('\n'),
    ]);
    const stats = await convertToFile(csv, file, { fields: [{ api_name: 'Name', data_type: 'text' }] });
    expect(stats.conversionErrors).toEqual({ Name: 1 });
    const rows = await duck(`SELECT Name, _zoho_conversion_errors AS e FROM read_parquet(${sq(file)})`);
    expect(rows[0]).toEqual({ Name: 'ok é', e: null });
    expect(rows[1]?.Name).toBeNull();
    expect(JSON.parse(rows[1]?.e as string)).toEqual({ Name: 'bad\uFFFD\uFFFD' });
  });

  it('fails the stream and the promise with a code on a malformed CSV', async () => {
    const cases: [string, string][] = [
      ['id,Name\n1,"open\n2,b\n', 'CSV_UNTERMINATED_QUOTE'],
      ['id,Name\n1,a\n2,b,c\n', 'CSV_FIELD_COUNT'],
      ['id,Name\n1,a"b\n', 'CSV_BAD_QUOTE'],
      ['id,id\n1,2\n', 'CSV_HEADER_INVALID'],
      ['id,_job_id\n1,2\n', 'CSV_HEADER_INVALID'],
      ['', 'CSV_EMPTY'],
    ];
    for (const [text, code] of cases) {
      const c = convertCsvToParquet(Readable.from([Buffer.from(text)]), {
        columns: (h) => planColumns(h, []),
        lineage: LINEAGE,
      });
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      const streamError = await rejection(pipeline(c.stream, sink));
      expect((await rejection(c.done)).code, text).toBe(code);
      expect(streamError.code).toBe(code);
    }
    const mismatch = convertCsvToParquet(Readable.from([Buffer.from('a,b\n1,2\n')]), {
      columns: planColumns(['a', 'c'], []),
      lineage: LINEAGE,
    });
    mismatch.stream.on('error', () => {}).resume();
    expect((await rejection(mismatch.done)).code).toBe('CSV_HEADER_MISMATCH');
  });

  it('works with the hyparquet-writer candidate behind the same interface', async () => {
    const file = path.join(tmp.dir, 'hyparquet.parquet');
    const rnd = prng(7);
    const csv = Buffer.from(
      toCsv([ZOHO_HEADER, ...Array.from({ length: 200 }, (_, i) => zohoRecord(i, rnd))]),
    );
    await convertToFile(csv, file, { fields: ZOHO_FIELDS, writer: hyparquetWriter });
    const own = path.join(tmp.dir, 'own.parquet');
    await convertToFile(csv, own, { fields: ZOHO_FIELDS });
    const q = (f: string) => `SELECT * EXCLUDE (Created_Time, _exported_at) FROM read_parquet(${sq(f)})`;
    expect(await duck(q(file))).toEqual(await duck(q(own)));
  });

  it.runIf(zstdAvailable())('writes ZSTD pages that DuckDB reads (Node >= 22.15)', async () => {
    const rnd = prng(3);
    const csv = Buffer.from(
      toCsv([ZOHO_HEADER, ...Array.from({ length: 2000 }, (_, i) => zohoRecord(i, rnd))]),
    );
    const zstd = path.join(tmp.dir, 'zstd.parquet');
    const snappy = path.join(tmp.dir, 'snappy.parquet');
    await convertToFile(csv, zstd, { fields: ZOHO_FIELDS, compression: 'ZSTD', rowGroupRows: 300 });
    await convertToFile(csv, snappy, { fields: ZOHO_FIELDS, compression: 'SNAPPY', rowGroupRows: 300 });
    const codecs = await duck(`SELECT DISTINCT compression FROM parquet_metadata(${sq(zstd)})`);
    expect(codecs).toEqual([{ compression: 'ZSTD' }]);
    const q = (f: string) => `SELECT * FROM read_parquet(${sq(f)})`;
    expect(await duck(q(zstd))).toEqual(await duck(q(snappy)));
  });

  it.runIf(!zstdAvailable())('refuses ZSTD where Node has no zstd (Node 20)', async () => {
    const c = convertCsvToParquet(Readable.from([Buffer.from('a\n1\n')]), {
      columns: (h) => planColumns(h, []),
      lineage: LINEAGE,
      compression: 'ZSTD',
    });
    c.stream.on('error', () => {}).resume();
    expect((await rejection(c.done)).code).toBe('UNSUPPORTED_COMPRESSION');
  });

  it('stops reading the CSV while the Parquet stream is not read (backpressure)', async () => {
    let pulled = 0;
    let finished = false;
    const row = `${'x'.repeat(1000)},1\n`;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from('Text,N\n');
        for (let i = 0; i < 100_000; i++) {
          pulled++;
          yield Buffer.from(row.repeat(64)); // 64 KB
        }
      } finally {
        finished = true;
      }
    }
    const c = convertCsvToParquet(source(), {
      columns: (h) => planColumns(h, []),
      lineage: LINEAGE,
      rowGroupBytes: 1024 * 1024,
      compression: 'UNCOMPRESSED',
    });
    // Nobody reads `c.stream`: after the stream's buffer fills, the converter must stop pulling.
    let last = -1;
    for (let k = 0; k < 50 && pulled !== last; k++) {
      last = pulled;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(pulled).toBeLessThan(200); // < 13 MB of 6.4 GB
    c.stream.destroy();
    expect((await rejection(c.done)).code).toBe('OUTPUT_CLOSED');
    expect(finished).toBe(true);
  });
});
