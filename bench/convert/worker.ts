/**
 * The conversion worker: ONE measurement per process (`node worker.mjs worker '<json>'`), so that its
 * peak RSS (VmHWM) is that of the measured code only. Bundled with esbuild (ESM, like a Lambda) by
 * bench/convert/bundle.ts; prints one JSON line. Modes:
 *
 *   floor              the idle bundled worker (its static imports only)
 *   product            the product path as it ships: convertCsvToParquet with its defaults (writer
 *                      lib/analytics/parquet.ts, compression defaultCompression(), row group bounds)
 *   duckdb-copy        the baseline: `COPY (SELECT * FROM read_csv(csv)) TO out`, one DuckDB thread
 *   duckdb-copy-codec  the same with the run's codec
 *   own / hyparquet / duckdb-writer / parquet-wasm   lib/analytics with each candidate writer
 *   parse-only         lib/analytics' parser and typing, every row group dropped
 *   own-parser / csv-parse                            the parsers alone
 *   count              rows of a Parquet file, read by DuckDB (a check of each output)
 */
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  type Compression,
  CsvParser,
  convertCsvToParquet,
  type ParquetWriterFactory,
  parquetWriter,
  planColumns,
} from '../../lib/analytics/index.js';
import { duckdbWriterFactory, parquetWasmWriterFactory } from './candidates.js';
import { FIELDS } from './csv.js';
import { hyparquetWriter } from './hyparquet-writer.js';

export interface WorkerArgs {
  mode: string;
  csv: string;
  out: string;
  workDir: string;
  compression: Compression;
  rowGroupRows?: number;
  rowGroupBytes?: number;
}

export interface WorkerResult {
  seconds: number;
  peakRss: number;
  outBytes: number;
  rows: number;
  rowGroups?: number;
}

function peakRss(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

async function worker(args: WorkerArgs): Promise<WorkerResult> {
  const lineage = {
    exportId: 'bench',
    jobId: '3652397000000646004',
    exportedAt: new Date('2026-12-01T00:00:00Z'),
  };
  const input = () => createReadStream(args.csv, { highWaterMark: 256 * 1024 });
  if (args.mode === 'floor') return { seconds: 0, peakRss: peakRss(), outBytes: 0, rows: 0 };
  if (args.mode === 'count') {
    // rows of args.csv read as Parquet (the file to check), by DuckDB
    const duck = await import('@duckdb/node-api');
    const db = await duck.DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const r = await con.runAndReadAll(
      `SELECT count(*)::VARCHAR AS n FROM read_parquet('${args.csv.replaceAll("'", "''")}')`,
    );
    const rows = Number(r.getRowObjectsJson()[0]?.n);
    con.closeSync();
    return { seconds: 0, peakRss: peakRss(), outBytes: statSync(args.csv).size, rows };
  }
  if (args.mode === 'product') {
    // Exactly what the product calls: no writer, no codec, no row group bounds given.
    const t0 = performance.now();
    const c = convertCsvToParquet(input(), { columns: (h) => planColumns(h, FIELDS), lineage });
    await pipeline(c.stream, createWriteStream(args.out));
    const s = await c.done;
    return {
      seconds: (performance.now() - t0) / 1000,
      peakRss: peakRss(),
      outBytes: s.bytes,
      rows: s.rows,
      rowGroups: s.rowGroups,
    };
  }
  if (args.mode === 'duckdb-copy' || args.mode === 'duckdb-copy-codec') {
    // The baseline: DuckDB's own CSV reader and Parquet writer, one thread. `duckdb-copy` is the
    // plain statement (DuckDB's default codec, SNAPPY); `duckdb-copy-codec` uses the run's codec.
    const duck = await import('@duckdb/node-api');
    const db = await duck.DuckDBInstance.create(':memory:');
    const con = await db.connect();
    await con.run('SET threads=1');
    const codec =
      args.mode === 'duckdb-copy-codec'
        ? ` (FORMAT parquet, COMPRESSION ${args.compression.toLowerCase()})`
        : '';
    const t0 = performance.now();
    await con.run(`COPY (SELECT * FROM read_csv('${args.csv}')) TO '${args.out}'${codec}`);
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, peakRss: peakRss(), outBytes: statSync(args.out).size, rows: -1 };
  }
  if (args.mode === 'parse-only') {
    // The library's parser and typing, no Parquet writer: a writer that drops every row group.
    const discard: ParquetWriterFactory = () => ({ writeRowGroup: async () => {}, finish: async () => {} });
    const t0 = performance.now();
    const c = convertCsvToParquet(input(), {
      columns: (h) => planColumns(h, FIELDS),
      lineage,
      writer: discard,
      compression: args.compression,
      rowGroupRows: args.rowGroupRows,
      rowGroupBytes: args.rowGroupBytes,
    });
    c.stream.resume();
    const s = await c.done;
    return { seconds: (performance.now() - t0) / 1000, peakRss: peakRss(), outBytes: 0, rows: s.rows };
  }
  if (args.mode === 'csv-parse' || args.mode === 'own-parser') {
    // Parsers alone, values as strings: the npm library against lib/analytics/csv.ts.
    const t0 = performance.now();
    let rows = 0;
    let chars = 0;
    if (args.mode === 'csv-parse') {
      const { parse } = await import('csv-parse');
      const p = input().pipe(parse({ bom: true, relax_column_count: false }));
      for await (const rec of p as AsyncIterable<string[]>) {
        rows++;
        chars += rec.length;
      }
    } else {
      const parser = new CsvParser((r) => {
        rows++;
        for (let i = 0; i < r.count; i++) chars += r.text(i).length > 0 ? 1 : 0;
      });
      for await (const chunk of input()) parser.push(chunk as Buffer);
      parser.end();
    }
    return {
      seconds: (performance.now() - t0) / 1000,
      peakRss: peakRss(),
      outBytes: chars * 0,
      rows: rows - 1,
    };
  }
  const writers: Record<string, () => Promise<ParquetWriterFactory>> = {
    own: async () => parquetWriter,
    hyparquet: async () => hyparquetWriter,
    'duckdb-writer': () => duckdbWriterFactory(args.workDir),
    'parquet-wasm': () => parquetWasmWriterFactory(),
  };
  const make = writers[args.mode];
  if (!make) throw new Error(`unknown mode ${args.mode}`);
  const writer = await make();
  const t0 = performance.now();
  const c = convertCsvToParquet(input(), {
    columns: (h) => planColumns(h, FIELDS),
    lineage,
    writer,
    compression: args.compression,
    rowGroupRows: args.rowGroupRows,
    rowGroupBytes: args.rowGroupBytes,
  });
  await pipeline(c.stream, createWriteStream(args.out));
  const s = await c.done;
  return {
    seconds: (performance.now() - t0) / 1000,
    peakRss: peakRss(),
    outBytes: s.bytes,
    rows: s.rows,
    rowGroups: s.rowGroups,
  };
}

if (process.argv[2] === 'worker') {
  worker(JSON.parse(process.argv[3] ?? '{}') as WorkerArgs).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
