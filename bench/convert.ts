/**
 * `npx tsx bench/convert.ts`: CSV → typed Parquet, lib/analytics with each candidate Parquet writer,
 * beside DuckDB's own single-threaded CSV → Parquet COPY of the same CSV, in the same run. (The
 * product path alone, against the same baseline, is the `convert` section of `npm run bench`.)
 *
 * 1. Generates a deterministic Zoho-like CSV per size (bench/convert/csv.ts).
 * 2. Bundles bench/convert/worker.ts with esbuild (ESM, like a Lambda) and runs every measurement in
 *    its own child process (`node worker.mjs worker '<json>'`), which prints its wall time and peak RSS
 *    (VmHWM).
 * 3. Checks every output with DuckDB (row count) and prints one table.
 *
 * Environment:
 *   BENCH_SIZES_MB=512,1536   CSV sizes (default; BENCH_QUICK=1: 64,192)
 *   BENCH_MODES=a,b           subset of: floor,duckdb-copy,duckdb-copy-codec,own-parser,csv-parse,parse-only,own,product,hyparquet,duckdb-writer,parquet-wasm
 *   BENCH_REPEAT=n            passes (best time, highest RSS; default 1); the machine may be shared: the
 *                             1-minute load average at each run is printed
 *   BENCH_REPEAT_MODES=a,b    modes run in every pass (default: the baselines, own-parser, parse-only, own)
 *   BENCH_COMPRESSION=ZSTD    codec of every mode, DuckDB's COPY included (default SNAPPY; ZSTD needs Node >= 22.15)
 *   BENCH_NODE=/path/to/node  node binary for the workers (e.g. a Node 22 to measure the Lambda runtime)
 *   BENCH_DIR=/path           keep generated CSVs there and reuse them (default: a temp dir, removed)
 *   BENCH_ROW_GROUP_ROWS / BENCH_ROW_GROUP_BYTES  row group bounds for the library modes
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import type { Compression } from '../lib/analytics/index.js';
import { bundleConvertWorker } from './convert/bundle.js';
import { generateCsv } from './convert/csv.js';
import type { WorkerArgs, WorkerResult } from './convert/worker.js';

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const sizes = (process.env.BENCH_SIZES_MB ?? (quick ? '64,192' : '512,1536')).split(',').map(Number);
  const modes = (
    process.env.BENCH_MODES ??
    'floor,duckdb-copy,duckdb-copy-codec,own-parser,csv-parse,parse-only,own,hyparquet,duckdb-writer,parquet-wasm'
  ).split(',');
  const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1) || 1);
  const repeatModes = new Set(
    (process.env.BENCH_REPEAT_MODES ?? 'floor,duckdb-copy,duckdb-copy-codec,own-parser,parse-only,own').split(
      ',',
    ),
  );
  const keep = process.env.BENCH_DIR !== undefined;
  const dir = process.env.BENCH_DIR ?? mkdtempSync(path.join(tmpdir(), 'zoho-parquet-bench-'));
  mkdirSync(dir, { recursive: true });
  const compression = (process.env.BENCH_COMPRESSION ?? 'SNAPPY') as Compression;
  const nodeBin = process.env.BENCH_NODE ?? process.execPath;
  const rowGroupRows = process.env.BENCH_ROW_GROUP_ROWS
    ? Number(process.env.BENCH_ROW_GROUP_ROWS)
    : undefined;
  const rowGroupBytes = process.env.BENCH_ROW_GROUP_BYTES
    ? Number(process.env.BENCH_ROW_GROUP_BYTES)
    : undefined;

  const { file: bundle } = await bundleConvertWorker();

  const cleanup = (): void => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  console.log(
    `workers on node ${spawnSync(nodeBin, ['--version'], { encoding: 'utf8' }).stdout.trim()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), compression ${compression}, load ${loadavg()[0]?.toFixed(1)}`,
  );
  const table: string[][] = [];
  try {
    for (const mb of sizes) {
      const csv = path.join(dir, `zoho-${mb}mb.csv`);
      if (!existsSync(csv) || statSync(csv).size < mb * MiB) {
        const t0 = performance.now();
        const rows = generateCsv(csv, mb * MiB);
        console.log(
          `generated ${csv}: ${(statSync(csv).size / MiB).toFixed(0)} MiB, ${rows} records, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
      }
      const csvBytes = statSync(csv).size;
      // Passes over all modes (interleaved, so each mode meets the same machine load); modes in
      // BENCH_REPEAT_MODES run `repeat` passes, the others one. Best time per mode, highest RSS.
      const best = new Map<string, WorkerResult & { load: number }>();
      const failed = new Set<string>();
      for (let k = 0; k < repeat; k++) {
        for (const mode of modes) {
          if (failed.has(mode) || (k > 0 && !repeatModes.has(mode))) continue;
          const out = path.join(dir, `out-${mode}.parquet`);
          const args: WorkerArgs = { mode, csv, out, workDir: dir, compression, rowGroupRows, rowGroupBytes };
          const load = loadavg()[0] ?? 0;
          const r = spawnSync(nodeBin, [bundle, 'worker', JSON.stringify(args)], {
            encoding: 'utf8',
            maxBuffer: 16 * MiB,
            env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          });
          const last = r.stdout.trim().split('\n').at(-1) ?? '';
          if (r.status !== 0 || !last.startsWith('{')) {
            console.log(`${mode} ${mb} MiB: FAILED (exit ${r.status})\n${r.stderr.slice(-2000)}`);
            failed.add(mode);
            continue;
          }
          const res = JSON.parse(last) as WorkerResult;
          if (existsSync(out) && mode !== 'floor') res.rows = countRows(nodeBin, bundle, out, res.rows);
          rmSync(out, { force: true });
          rmSync(path.join(dir, 'writer.duckdb'), { force: true });
          rmSync(path.join(dir, 'writer.duckdb.wal'), { force: true });
          console.log(
            `  pass ${k + 1} ${mode} ${mb} MiB: ${res.seconds.toFixed(1)} s, ${(res.peakRss / MiB).toFixed(0)} MiB RSS, load ${load.toFixed(1)}`,
          );
          const prev = best.get(mode);
          if (!prev || res.seconds < prev.seconds)
            best.set(mode, { ...res, load, peakRss: Math.max(res.peakRss, prev?.peakRss ?? 0) });
          else prev.peakRss = Math.max(prev.peakRss, res.peakRss);
        }
      }
      const baseline = best.get('duckdb-copy');
      const baseMibs = baseline && baseline.seconds > 0 ? csvBytes / MiB / baseline.seconds : 0;
      for (const mode of modes) {
        const b = best.get(mode);
        if (!b) continue;
        const mibs = b.seconds > 0 ? csvBytes / MiB / b.seconds : 0;
        const row = [
          mode,
          (csvBytes / MiB).toFixed(0),
          b.seconds.toFixed(1),
          mibs ? mibs.toFixed(1) : '-',
          (b.peakRss / MiB).toFixed(0),
          b.outBytes ? (b.outBytes / MiB).toFixed(0) : '-',
          b.rowGroups === undefined ? '-' : String(b.rowGroups),
          String(b.rows),
          baseMibs && mibs && mode !== 'duckdb-copy' ? `${(mibs / baseMibs).toFixed(2)}x` : '-',
          b.load.toFixed(1),
        ];
        table.push(row);
        console.log(row.join('\t'));
      }
    }
  } finally {
    cleanup();
  }
  const head = [
    'mode',
    'CSV MiB',
    's',
    'MiB/s',
    'peak RSS MiB',
    'out MiB',
    'row groups',
    'rows',
    'vs duckdb-copy',
    'load (1 min)',
  ];
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of table) console.log(`| ${r.join(' | ')} |`);
}

/** Rows in a Parquet file, read by DuckDB in a worker (a check that each output is readable and complete). */
function countRows(nodeBin: string, bundle: string, file: string, expected: number): number {
  const args = { mode: 'count', csv: file, out: '', workDir: '', compression: 'SNAPPY' } satisfies WorkerArgs;
  const r = spawnSync(nodeBin, [bundle, 'worker', JSON.stringify(args)], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !last.startsWith('{'))
    throw new Error(`counting ${file} failed: ${r.stderr.slice(-2000)}`);
  const n = (JSON.parse(last) as WorkerResult).rows;
  if (expected >= 0 && n !== expected)
    throw new Error(`${file}: DuckDB reads ${n} rows, the converter wrote ${expected}`);
  return n;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
