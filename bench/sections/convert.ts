/**
 * Section `convert`: CSV -> Parquet of a generated Zoho-like CSV (bench/convert/csv.ts) of 512 MiB and
 * 1,536 MiB (BENCH_QUICK: 64 and 192 MiB) with the product's converter as it ships
 * (`convertCsvToParquet` with its defaults), beside DuckDB's single-threaded
 * `COPY (SELECT * FROM read_csv(csv)) TO 'x.parquet'` of the same file. Each run is its own process
 * (the bundled bench/convert/worker.ts), so its peak RSS (VmHWM) is that of the measured code only;
 * the two alternate (A B, B A, ...) BENCH_REPEAT times per size and the medians are compared. DuckDB
 * reads every Parquet file the product wrote back (row count). bench/convert.ts keeps the comparison of
 * the candidate writers.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { defaultCompression } from '../../lib/analytics/index.js';
import { bundleConvertWorker } from '../convert/bundle.js';
import { generateCsv } from '../convert/csv.js';
import type { WorkerArgs, WorkerResult } from '../convert/worker.js';
import { MB, MiB, QUICK, REPEAT, tmp } from '../core/config.js';
import { onCleanup, runNodeJson } from '../core/procs.js';
import { f1, f2, log, notes, row, section, verdict } from '../core/report.js';
import { max, median, spread } from '../core/stats.js';

export async function convertSection(): Promise<void> {
  const sizesMiB = (process.env.BENCH_CONVERT_SIZES_MB ?? (QUICK ? '64,192' : '512,1536'))
    .split(',')
    .map(Number);
  const dir = process.env.BENCH_CONVERT_DIR ?? path.join(tmp, 'convert');
  const { file: bundle, remove } = await bundleConvertWorker(`bench-convert-${process.pid}`);
  const unregister = onCleanup(async () => remove());
  const run = (mode: string, csv: string, out: string): Promise<WorkerResult> =>
    runNodeJson<WorkerResult>(
      [
        bundle,
        'worker',
        JSON.stringify({ mode, csv, out, workDir: dir, compression: 'SNAPPY' } satisfies WorkerArgs),
      ],
      `convert worker (${mode})`,
    );
  try {
    const floor = await run('floor', '', '');
    const codec = defaultCompression();
    section('convert: memory floor');
    row({
      measurement: 'peak RSS of the idle bundled convert worker',
      figure: `${f1(floor.peakRss / MB)} MB`,
      target: 'info',
    });
    for (const mib of sizesMiB) {
      const csv = path.join(dir, `zoho-${mib}mib.csv`);
      if (!existsSync(csv) || statSync(csv).size < mib * MiB) {
        log(`convert: generating a ${mib} MiB CSV (untimed)`);
        mkdirSync(dir, { recursive: true });
        const t0 = performance.now();
        const records = generateCsv(csv, mib * MiB);
        notes.push(
          `convert ${Math.round(statSync(csv).size / MB)} MB: CSV ${statSync(csv).size.toLocaleString('en')} bytes, ${records.toLocaleString('en')} records (generated in ${f1((performance.now() - t0) / 1000)} s)`,
        );
      }
      const csvMiB = statSync(csv).size / MiB;
      const label = `${Math.round(statSync(csv).size / MB)} MB`;
      const product: WorkerResult[] = [];
      const duck: WorkerResult[] = [];
      const loads: string[] = [];
      for (let k = 0; k < REPEAT; k++) {
        // alternate which runs first, so that both meet the same drift in the machine's load
        const order =
          k % 2 === 0 ? (['duckdb-copy', 'product'] as const) : (['product', 'duckdb-copy'] as const);
        for (const mode of order) {
          const out = path.join(dir, `out-${mode}.parquet`);
          loads.push(loadavg()[0]!.toFixed(1));
          log(`convert ${label}: ${mode} (run ${k + 1} of ${REPEAT})`);
          const r = await run(mode, csv, out);
          if (mode === 'product') {
            const check = await run('count', out, '');
            if (check.rows !== r.rows) {
              throw new Error(
                `convert ${label}: DuckDB reads ${check.rows} rows, the converter wrote ${r.rows}`,
              );
            }
            product.push({ ...r, outBytes: statSync(out).size });
          } else {
            duck.push({ ...r, outBytes: statSync(out).size });
          }
          rmSync(out, { force: true });
        }
      }
      const pRate = product.map((r) => csvMiB / r.seconds);
      const dRate = duck.map((r) => csvMiB / r.seconds);
      const p = median(pRate);
      const d = median(dRate);
      const pRss = max(product.map((r) => r.peakRss));
      const dRss = max(duck.map((r) => r.peakRss));
      section(
        `convert ${label} CSV (${f1(csvMiB)} MiB) -> Parquet, product codec ${codec}, DuckDB default (SNAPPY), median of ${REPEAT} alternated runs`,
      );
      row({
        measurement: `convert ${label}: convertCsvToParquet`,
        figure: `${f1(p)} MiB/s`,
        baseline: `DuckDB COPY 1 thread ${f1(d)}`,
        ratio: `${f2(p / d)}x`,
        target: '>= 0.5x',
        pass: verdict(p / d >= 0.5),
      });
      row({
        measurement: `convert ${label}: convertCsvToParquet peak RSS`,
        figure: `${f1(pRss / MB)} MB`,
        baseline: `DuckDB ${f1(dRss / MB)} MB`,
        ratio: `${f2(pRss / dRss)}x`,
        target: '<= 300 MB',
        pass: verdict(pRss <= 300 * MB),
      });
      row({
        measurement: `convert ${label}: Parquet size`,
        figure: `${f1(median(product.map((r) => r.outBytes)) / MB)} MB`,
        baseline: `DuckDB ${f1(median(duck.map((r) => r.outBytes)) / MB)} MB`,
        ratio: `${f2(median(product.map((r) => r.outBytes)) / median(duck.map((r) => r.outBytes)))}x`,
        target: 'info',
      });
      notes.push(
        `convert ${label}: product ${spread(pRate, f1)} MiB/s, ${product[0]?.rows.toLocaleString('en')} rows in ${product[0]?.rowGroups} row groups (DuckDB reads the same count back); DuckDB ${spread(dRate, f1)} MiB/s; 1-min load at each run ${loads.join(', ')}`,
      );
      if (!process.env.BENCH_CONVERT_DIR) rmSync(csv, { force: true });
    }
  } finally {
    unregister();
    remove();
  }
}
