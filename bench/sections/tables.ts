// Over 450 lines: the generator and the measurement share the record bookkeeping of one table.
/**
 * Section `tables`: what one query of `zoho_<module>_current` costs. In a temp dir, the Parquet of a
 * Leads table as the product lays it out (lib/exports/layout.ts `parquetKey`, the fake Zoho's record
 * generator, the product's converter typed by the fake's field metadata through lib/exports/schema.ts
 * `planUnderTable`): one OLDER full export, the full export `_current` starts from (1,000,000 records,
 * pages of 200,000), then 30 incremental exports, each 1 % of the records modified, 0.2 % created and
 * 0.1 % deleted (a deletions Parquet file as lib/schedules/deletions.ts lands it), each in its own
 * export_date partition. BENCH_QUICK: 100,000 records (pages of 25,000), 5 incremental exports.
 *
 * The query runs as `zoho-export query` runs it locally (lib/query/local.ts): each table a DuckDB view
 * over read_parquet(all its files, hive_partitioning, union_by_name), the `_current` view the SQL of
 * lib/tables/views.ts `currentView` as is (runLocalQuery itself fetches from S3 and opens a fresh
 * DuckDB per query, so the same construction is made here over the local files). Measured, median of
 * BENCH_REPEAT rotated runs after one untimed warm-up: count(*) and an aggregate (count and sum of
 * Annual_Revenue per owner) over `_current`, beside the same two over a table of the full export's
 * files alone, and over `_current` as it is while only the full export is committed; the files DuckDB
 * read (EXPLAIN ANALYZE's `Total Files Read` of each Parquet scan); the row count against the live
 * records the generator kept track of.
 */
import { createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { convertCsvToParquet, defaultCompression, parseFieldsResponse } from '../../lib/analytics/index.js';
import type { ColumnPlan } from '../../lib/analytics/types.js';
import { type CatalogColumn, glueType, tableNameOf, zohoComment } from '../../lib/exports/catalog.js';
import { parquetKey, parquetModuleLocation } from '../../lib/exports/layout.js';
import { planUnderTable } from '../../lib/exports/schema.js';
import { ident } from '../../lib/query/local.js';
import {
  DELETIONS_COLUMNS,
  deletionsCsv,
  deletionsParquetKey,
  deletionsParquetLocation,
  deletionsTableName,
} from '../../lib/schedules/deletions.js';
import { type CommittedExport, currentView } from '../../lib/tables/views.js';
import type { DeletedRecord } from '../../lib/zoho/deleted.js';
import { type CsvPlan, csvRows, planColumns as fakeColumns, seededSalt } from '../../local/fake-zoho/csv.js';
import { implicitTimes } from '../../local/fake-zoho/fields.js';
import { fieldsMetadata } from '../../local/fake-zoho/metadata.js';
import type { RecordView } from '../../local/fake-zoho/records.js';
import { createRng } from '../../local/fake-zoho/vocab.js';
import { MB, QUICK, REPEAT, tmp } from '../core/config.js';
import { onCleanup } from '../core/procs.js';
import { f0, f1, f2, log, notes, row, section, verdict } from '../core/report.js';
import { median, spread } from '../core/stats.js';

const MODULE = 'Leads';
const PREFIX = 'zoho-crm';
const DATABASE = 'zoho_crm';
const DAY = 86_400_000;
/** The older full export, then the baseline a month later, then one incremental export a day. */
const OLDER_AT = Date.parse('2024-05-01T02:00:00Z');
const BASELINE_AT = Date.parse('2024-06-01T02:00:00Z');

interface Sizes {
  records: number;
  perPage: number;
  runs: number;
  modified: number;
  created: number;
  deleted: number;
}

/** A whole number in [min, max] from the environment, or the default. */
function count(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name}=${raw}: a whole number from ${min} to ${max}`);
  }
  return n;
}

function sizes(): Sizes {
  const records = count('BENCH_TABLES_RECORDS', QUICK ? 100_000 : 1_000_000, 1_000, 20_000_000);
  const runs = count('BENCH_TABLES_RUNS', QUICK ? 5 : 30, 1, 1_000);
  return {
    records,
    perPage: QUICK ? 25_000 : 200_000,
    runs,
    modified: Math.round(records / 100),
    // More created than deleted: the live count then differs from the full export's, so the row
    // check fails if the increments or the deletions are ignored.
    created: Math.round(records / 500),
    deleted: Math.round(records / 1000),
  };
}

/** What the generator wrote, for the views and the correctness check. */
interface Written {
  exports: CommittedExport[];
  baseline: CommittedExport;
  older: CommittedExport;
  /** Parquet files per table, and per export id. */
  tableFiles: string[];
  deletionFiles: string[];
  filesOf: Map<string, string[]>;
  columns: CatalogColumn[];
  live: number;
  parquetBytes: number;
  versions: number;
}

const ms = (seconds: number): string => (seconds < 0.1 ? f1 : f0)(seconds * 1000);
const dateOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const isoSecond = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}+00:00`;

async function writeParquet(
  file: string,
  csv: Iterable<Buffer>,
  plan: (h: readonly string[]) => ColumnPlan,
  lineage: { exportId: string; jobId: string; exportedAt: Date },
) {
  mkdirSync(path.dirname(file), { recursive: true });
  const conversion = convertCsvToParquet(Readable.from(csv), {
    columns: plan,
    lineage,
    compression: defaultCompression(),
  });
  await Promise.all([pipeline(conversion.stream, createWriteStream(file)), conversion.done]);
  return conversion.done;
}

/** Generates every export of the table under `root` (the bucket), as the product would have landed them. */
async function generate(root: string, s: Sizes): Promise<Written> {
  const fields = parseFieldsResponse({ fields: fieldsMetadata({ opts: { padding: 0 } }, MODULE) });
  const planned = fakeColumns(MODULE, undefined, true);
  if ('unknown' in planned) throw new Error(`the fake has no ${MODULE} field ${planned.unknown}`);
  const csvPlan: CsvPlan = {
    module: MODULE,
    ...planned,
    salt: seededSalt('bench-tables', 1),
    padding: 0,
    lineEnding: '\n',
    chunkSize: 64 * 1024,
  };
  // Slots: the baseline's records, then those the incremental runs create, then those only the older
  // export has (deleted before the baseline, with no deletions file in `_current`'s scope).
  const createdFirst = s.records;
  const olderOnlyFirst = s.records + s.runs * s.created;
  const olderOnly = Math.round(s.records / 100);
  const slots = olderOnlyFirst + olderOnly;
  const alive = new Uint8Array(slots);
  const version = new Uint16Array(slots);
  const modifiedMs = new Float64Array(slots);
  const createdMs = new Float64Array(slots);
  for (let n = 0; n < slots; n++) {
    const t = implicitTimes(csvPlan.salt, n);
    createdMs[n] = t.createdMs;
    modifiedMs[n] = t.modifiedMs;
  }
  let table: CatalogColumn[] | undefined;
  const view: RecordView = { n: 0, id: '', version: 0, createdMs: 0, modifiedMs: 0 };
  const viewOf = (n: number): RecordView => {
    view.n = n;
    view.id = `3652397${String(n + 1).padStart(12, '0')}`;
    view.version = version[n]!;
    view.createdMs = createdMs[n]!;
    view.modifiedMs = modifiedMs[n]!;
    return view;
  };
  const exports: CommittedExport[] = [];
  const filesOf = new Map<string, string[]>();
  const tableFiles: string[] = [];
  const deletionFiles: string[] = [];
  let parquetBytes = 0;
  let versions = 0;

  /** One export's pages (records `ns`), `perPage` a page, under its own partition. */
  const exportPages = async (
    e: CommittedExport,
    ns: () => Iterable<number>,
    count: number,
  ): Promise<void> => {
    const list: string[] = [];
    const all = ns();
    const it = all[Symbol.iterator]();
    for (let page = 1; (page - 1) * s.perPage < count; page++) {
      const inPage = Math.min(s.perPage, count - (page - 1) * s.perPage);
      const jobId = `${e.export_id.slice(0, 8)}job${page}`;
      const key = parquetKey(PREFIX, {
        job_id: jobId,
        module: MODULE,
        created_at: e.created_at,
        page,
        export_id: e.export_id,
        export_date: e.export_date,
        export_source: 'schedule',
      });
      const file = path.join(root, key);
      function* records(): Generator<RecordView> {
        for (let i = 0; i < inPage; i++) {
          const next = it.next();
          if (next.done) return;
          yield viewOf(next.value);
        }
      }
      const stats = await writeParquet(
        file,
        csvRows(csvPlan, records()),
        (header) => planUnderTable(header, fields, undefined, table),
        { exportId: e.export_id, jobId, exportedAt: new Date(Date.parse(e.created_at) + 600_000) },
      );
      // The table as the first page makes it (finalize: catalogColumnOf), the lineage columns after.
      table ??= [
        ...stats.columns.map((c) => ({
          Name: c.name,
          Type: glueType(c.type),
          Comment: zohoComment(c.zohoField),
        })),
        { Name: '_export_id', Type: 'string' },
        { Name: '_job_id', Type: 'string' },
        { Name: '_exported_at', Type: 'timestamp' },
        { Name: '_zoho_conversion_errors', Type: 'string' },
      ];
      parquetBytes += stats.bytes;
      versions += stats.rows;
      list.push(file);
    }
    filesOf.set(e.export_id, list);
    tableFiles.push(...list);
    exports.push(e);
  };
  const exportAt = (i: number, mode: CommittedExport['mode'], at: number): CommittedExport => ({
    export_id: `${String(i).padStart(8, '0')}-bench-${mode}`,
    mode,
    export_date: dateOf(at),
    created_at: new Date(at).toISOString(),
    deletions: false,
  });

  // The older full export: the baseline's records and some that are gone by the baseline.
  const older = exportAt(0, 'full', OLDER_AT);
  log(`tables: writing the older full export (${(s.records + olderOnly).toLocaleString('en')} records)`);
  await exportPages(
    older,
    function* () {
      for (let n = 0; n < s.records; n++) yield n;
      for (let n = olderOnlyFirst; n < slots; n++) yield n;
    },
    s.records + olderOnly,
  );
  const baseline = exportAt(1, 'full', BASELINE_AT);
  log(`tables: writing the full export (${s.records.toLocaleString('en')} records)`);
  for (let n = 0; n < s.records; n++) alive[n] = 1;
  await exportPages(
    baseline,
    function* () {
      for (let n = 0; n < s.records; n++) yield n;
    },
    s.records,
  );

  const rng = createRng(0x7ab1e5);
  let nextCreated = createdFirst;
  const touched = new Uint8Array(slots);
  for (let run = 1; run <= s.runs; run++) {
    const at = BASELINE_AT + run * DAY;
    const from = at - DAY;
    const e: CommittedExport = { ...exportAt(run + 1, 'incremental', at), deletions: true };
    touched.fill(0);
    const changed: number[] = [];
    const pick = (): number => {
      for (;;) {
        const n = rng() % nextCreated;
        if (alive[n] && !touched[n]) {
          touched[n] = 1;
          return n;
        }
      }
    };
    // Times inside the run's window (after the previous export, before this one), whole seconds.
    const inWindow = (): number => from + 1000 * (1 + (rng() % (DAY / 1000 - 2)));
    for (let i = 0; i < s.modified; i++) {
      const n = pick();
      version[n] = version[n]! + 1;
      modifiedMs[n] = inWindow();
      changed.push(n);
    }
    for (let i = 0; i < s.created; i++) {
      const n = nextCreated++;
      alive[n] = 1;
      touched[n] = 1;
      createdMs[n] = inWindow();
      modifiedMs[n] = createdMs[n]!;
      changed.push(n);
    }
    // Deleted: live records this run did not touch, so the deletion is after their latest version.
    const gone: DeletedRecord[] = [];
    for (let i = 0; i < s.deleted; i++) {
      const n = pick();
      alive[n] = 0;
      gone.push({
        id: viewOf(n).id,
        type: 'recycle',
        deleted_time: isoSecond(inWindow()),
        deleted_by_name: 'Bench User',
        deleted_by_id: '3652397000000100001',
      });
    }
    changed.sort((a, b) => modifiedMs[a]! - modifiedMs[b]!);
    await exportPages(e, () => changed, changed.length);
    const dfile = path.join(root, deletionsParquetKey(PREFIX, e, MODULE));
    await writeParquet(
      dfile,
      [deletionsCsv(gone)],
      () =>
        DELETIONS_COLUMNS.map((name) => ({
          name,
          type: name === 'deleted_time' ? { kind: 'timestamp' } : { kind: 'string' },
        })),
      { exportId: e.export_id, jobId: 'deleted-records', exportedAt: new Date(at + 600_000) },
    );
    deletionFiles.push(dfile);
    filesOf.get(e.export_id)!.push(dfile);
    if (run % 10 === 0 || run === s.runs) log(`tables: ${run} of ${s.runs} incremental exports written`);
  }
  let live = 0;
  for (let n = 0; n < slots; n++) live += alive[n]!;
  if (!table) throw new Error('no page written');
  return {
    exports,
    baseline,
    older,
    tableFiles,
    deletionFiles,
    filesOf,
    columns: table,
    live,
    parquetBytes,
    versions,
  };
}

/** Every `Total Files Read: n` of the plan's Parquet scans, summed (DuckDB's own count, not an estimate). */
async function filesRead(con: DuckDBConnection, sql: string): Promise<number> {
  const reader = await con.runAndReadAll(`EXPLAIN ANALYZE ${sql}`);
  const text = reader
    .getRowsJson()
    .map((r) => r.map(String).join('\n'))
    .join('\n');
  if (process.env.BENCH_TABLES_PLAN) process.stderr.write(`${text}\n`);
  const counts = [...text.matchAll(/Total Files Read:\s*(\d+)/g)].map((m) => Number(m[1]));
  if (!counts.length) throw new Error(`EXPLAIN ANALYZE shows no "Total Files Read":\n${text.slice(0, 2000)}`);
  return counts.reduce((a, b) => a + b, 0);
}

async function timed(con: DuckDBConnection, sql: string): Promise<{ seconds: number; rows: unknown[][] }> {
  const t0 = performance.now();
  const reader = await con.runAndReadAll(sql);
  const rows = reader.getRowsJson();
  return { seconds: (performance.now() - t0) / 1000, rows };
}

export async function tablesSection(): Promise<void> {
  const s = sizes();
  const root = path.join(tmp, 'tables');
  const unregister = onCleanup(async () => rmSync(root, { recursive: true, force: true }));
  try {
    const t0 = performance.now();
    const w = await generate(root, s);
    const genSeconds = (performance.now() - t0) / 1000;
    const table = tableNameOf(MODULE);
    const dtable = deletionsTableName(MODULE);
    const current = currentView({
      database: DATABASE,
      table,
      deletionsTable: dtable,
      columns: w.columns,
      exports: w.exports,
    });
    if (!current) throw new Error('no _current view: no full export');
    // Every file under the table's location, as lib/query/local.ts lists them.
    const under = (loc: string): string[] =>
      readdirSync(path.join(root, loc), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.parquet'))
        .map((f) => path.join(root, loc, f))
        .sort();
    const tableFiles = under(parquetModuleLocation(PREFIX, MODULE));
    const deletionFiles = under(deletionsParquetLocation(PREFIX, MODULE));
    if (tableFiles.length !== w.tableFiles.length || deletionFiles.length !== w.deletionFiles.length) {
      throw new Error('the files under the table locations are not those written');
    }

    const duck = await import('@duckdb/node-api');
    const db = await duck.DuckDBInstance.create(':memory:');
    const con = await db.connect();
    try {
      const lit = (x: string) => `'${x.replaceAll("'", "''")}'`;
      const parquetView = (files: string[]) =>
        `SELECT * FROM read_parquet([${files.map(lit).join(', ')}], hive_partitioning = true, union_by_name = true)`;
      const q = (name: string) => `${ident(DATABASE)}.${ident(name)}`;
      await con.run("SET TimeZone = 'UTC'");
      await con.run(`CREATE SCHEMA ${ident(DATABASE)}`);
      await con.run(`CREATE VIEW ${q(table)} AS ${parquetView(tableFiles)}`);
      await con.run(`CREATE VIEW ${q(dtable)} AS ${parquetView(deletionFiles)}`);
      await con.run(`SET search_path = ${lit(DATABASE)}`);
      await con.run(`CREATE VIEW ${q(current.name)} AS ${current.sql}`);
      const fullFiles = w.filesOf.get(w.baseline.export_id)!;
      await con.run(`CREATE VIEW ${q('full_alone')} AS ${parquetView(fullFiles)}`);

      const countSql = (from: string) => `SELECT count(*) FROM ${q(from)}`;
      const aggSql = (from: string) =>
        `SELECT "owner", count(*) AS n, sum("annual_revenue") AS revenue FROM ${q(from)} GROUP BY "owner" ORDER BY "owner"`;
      // Two baselines: the plain query over the full export's files (what a table without the views
      // answers), and `_current` as it stands when only the full export is committed (the same
      // dedup, none of the incremental exports): the second isolates what 30 increments add.
      const baseOnly = currentView({
        database: DATABASE,
        table,
        deletionsTable: dtable,
        columns: w.columns,
        exports: [w.baseline],
      });
      if (!baseOnly) throw new Error('no _current view of the full export alone');
      await con.run(`CREATE VIEW ${q('full_alone_current')} AS ${baseOnly.sql}`);
      const queries = [
        { what: 'count(*)', sql: countSql },
        { what: 'count, sum(annual_revenue) per owner', sql: aggSql },
      ];
      const targets = [current.name, 'full_alone', 'full_alone_current'] as const;
      const threads = (await con.runAndReadAll("SELECT current_setting('threads')")).getRowsJson()[0]?.[0];
      section(
        `tables: ${MODULE} ${s.records.toLocaleString('en')} records + ${s.runs} incremental exports of 1 % (${s.modified.toLocaleString('en')} modified, ${s.created.toLocaleString('en')} created, ${s.deleted.toLocaleString('en')} deleted each), DuckDB ${threads} threads, median of ${REPEAT} rotated runs`,
      );
      let counted: number | undefined;
      for (const query of queries) {
        // warm-up: Parquet footers and the OS cache, for all alike
        for (const t of targets) await timed(con, query.sql(t));
        const times = new Map<string, number[]>(targets.map((t) => [t, []]));
        for (let k = 0; k < REPEAT; k++) {
          // rotate which runs first, so that each meets the same drift in the machine's load
          for (let j = 0; j < targets.length; j++) {
            const t = targets[(j + k) % targets.length]!;
            const r = await timed(con, query.sql(t));
            times.get(t)!.push(r.seconds);
            if (t === current.name && query.what === 'count(*)') counted = Number(r.rows[0]?.[0]);
          }
        }
        const [cur, plain, dedup] = targets.map((t) => times.get(t)!);
        const c = median(cur!);
        const p = median(plain!);
        const d = median(dedup!);
        row({
          measurement: `tables: ${query.what} over _current`,
          figure: `${ms(c)} ms`,
          baseline: `full export's files alone ${ms(p)} ms`,
          ratio: `${f1(c / p)}x`,
          target: 'info (dedup)',
        });
        row({
          measurement: `tables: ${query.what} over _current`,
          figure: `${ms(c)} ms`,
          baseline: `_current of the full export alone ${ms(d)} ms`,
          ratio: `${f2(c / d)}x`,
          target: '<= 2x',
          pass: verdict(c / d <= 2),
        });
        notes.push(
          `tables ${query.what}: _current ${spread(cur!, ms)} ms; full export's files alone ${spread(plain!, ms)} ms; _current of the full export alone ${spread(dedup!, ms)} ms`,
        );
      }
      const read = await filesRead(con, aggSql(current.name));
      const readBase = await filesRead(con, aggSql('full_alone'));
      const olderFiles = w.filesOf.get(w.older.export_id)!.length;
      const inScope = tableFiles.length + deletionFiles.length - olderFiles;
      row({
        measurement: 'tables: Parquet files read by _current (incl. deletions)',
        figure: `${read}`,
        baseline: `${tableFiles.length + deletionFiles.length} under the tables`,
        ratio: `${f2(read / (tableFiles.length + deletionFiles.length))}x`,
        target: `= ${inScope} (all but the older full export's ${olderFiles})`,
        pass: verdict(read === inScope),
      });
      row({
        measurement: 'tables: Parquet files read by the full export alone',
        figure: `${readBase}`,
        target: 'info',
      });
      row({
        measurement: 'tables: rows of _current',
        figure: (counted ?? Number.NaN).toLocaleString('en'),
        baseline: `${w.live.toLocaleString('en')} live records`,
        target: '= live records',
        pass: verdict(counted === w.live),
      });
      notes.push(
        `tables: ${w.versions.toLocaleString('en')} record versions in ${tableFiles.length} table files + ${deletionFiles.length} deletions files, ${f0(w.parquetBytes / MB)} MB of Parquet (${defaultCompression()}), written in ${f1(genSeconds)} s (untimed); the older full export (${olderFiles} files, ${w.older.export_date}) holds ${Math.round(s.records / 100).toLocaleString('en')} records the baseline no longer has, so reading it would change the count`,
      );
    } finally {
      con.closeSync();
      db.closeSync();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    unregister();
  }
}
