import { beforeEach, describe, expect, it } from 'vitest';
import type { QueryInput, Table } from '../../lib/ddb/table.js';
import { emitExportHealth, oldestRunningExportAgeSeconds } from '../../lib/exports/health.js';
import { newExportId } from '../../lib/exports/model.js';
import { ExportStore } from '../../lib/exports/store.js';
import { JobStore } from '../../lib/jobs/store.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { EXPORT_INDEXES } from '../../lib/tables.js';
import { freshAws } from '../support/aws.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-30T00:00:00.000Z');

/** The exports table of DynamoDB Local, with every query recorded and scans refused. */
function watched(table: Table): { table: Table; queries: QueryInput[] } {
  const queries: QueryInput[] = [];
  const proxy: Table = Object.create(table);
  proxy.query = (input) => {
    queries.push(input);
    return table.query(input);
  };
  proxy.scan = () => {
    throw new Error('the health check must never scan');
  };
  return { table: proxy, queries };
}

describe('OldestRunningExportAgeSeconds (DynamoDB Local)', () => {
  let clock: number;
  let exports: ExportStore;
  let jobs: JobStore;
  let table: Table;
  let queries: QueryInput[];
  let jobSeq = 0;

  /** A RUNNING export with its first page, created at `at`. */
  async function startAt(at: number): Promise<string> {
    clock = at;
    const record = exports.newExport({
      export_id: newExportId(at),
      module: 'Contacts',
      source: 'api',
      query: { fields: null, criteria: null, cvid: null },
      api_version: 'v8',
      formats: ['csv'],
    });
    jobSeq++;
    const job = jobs.newJob(`36523970000${String(jobSeq).padStart(8, '0')}`, { export_id: record.export_id });
    expect(await exports.create(record, job)).toBe(true);
    return record.export_id;
  }

  const fail = async (id: string, at: number) => {
    clock = at;
    expect(await exports.fail(id, { code: 'TEST', message: 'failed by the test' })).toBe(true);
  };
  const reopen = async (id: string, at: number) => {
    clock = at;
    expect(await exports.reopen(id, ['csv', 'parquet'])).toBe(true);
  };

  beforeEach(async () => {
    const aws = await freshAws();
    const w = watched(aws.tables.exports);
    table = w.table;
    queries = w.queries;
    clock = T0;
    jobs = new JobStore(aws.tables.jobs, () => clock);
    exports = new ExportStore(table, jobs, () => clock);
  });

  it('is 0 when no export is RUNNING, and never scans', async () => {
    expect(await oldestRunningExportAgeSeconds(table, T0)).toBe(0);
    const id = await startAt(T0);
    await fail(id, T0 + HOUR);
    expect(await oldestRunningExportAgeSeconds(table, T0 + 2 * HOUR)).toBe(0);
    expect(queries.every((q) => q.index === EXPORT_INDEXES.byStatus && q.partition === 'RUNNING')).toBe(true);
  });

  it('is the age of the oldest RUNNING export, reading one item', async () => {
    const first = await startAt(T0);
    await startAt(T0 + HOUR);
    await startAt(T0 + 2 * HOUR);
    queries.length = 0;
    expect(await oldestRunningExportAgeSeconds(table, T0 + 10 * HOUR)).toBe(10 * 3600);
    expect(queries).toHaveLength(1);
    await fail(first, T0 + 3 * HOUR);
    expect(await oldestRunningExportAgeSeconds(table, T0 + 10 * HOUR)).toBe(9 * 3600);
  });

  it('counts a reopened export from when it was reopened, not from its creation', async () => {
    const old = await startAt(T0 - 48 * HOUR);
    await fail(old, T0 - 47 * HOUR);
    const a = await startAt(T0 + HOUR);
    const b = await startAt(T0 + 2 * HOUR);
    await reopen(old, T0 + 5 * HOUR);
    expect(await oldestRunningExportAgeSeconds(table, T0 + 10 * HOUR)).toBe(9 * 3600);
    await fail(a, T0 + 6 * HOUR);
    await fail(b, T0 + 6 * HOUR);
    expect(await oldestRunningExportAgeSeconds(table, T0 + 10 * HOUR)).toBe(5 * 3600);
  });

  it('reads on past a full page of reopened exports to the oldest one', async () => {
    const reopened: string[] = [];
    for (let i = 0; i < 26; i++) reopened.push(await startAt(T0 + i * 60_000));
    const oldest = await startAt(T0 + 30 * 60_000);
    for (const id of reopened) await fail(id, T0 + HOUR);
    for (const id of reopened) await reopen(id, T0 + 9 * HOUR);
    queries.length = 0;
    expect(await oldestRunningExportAgeSeconds(table, T0 + 10 * HOUR)).toBe((10 * HOUR - 30 * 60_000) / 1000);
    expect(queries.length).toBeGreaterThan(1);
    await fail(oldest, T0 + 9.5 * HOUR);
    expect(await oldestRunningExportAgeSeconds(table, T0 + 10 * HOUR)).toBe(3600);
  });

  it('emits the gauge each tick (0 included); a failed read emits nothing', async () => {
    const metrics = memoryMetrics();
    const logger = createLogger('test', 'SILENT');
    expect(await emitExportHealth({ exportsTable: table, metrics, logger, now: () => T0 })).toBe(0);
    expect(metrics.counts.OldestRunningExportAgeSeconds).toBe(0);
    await startAt(T0);
    expect(await emitExportHealth({ exportsTable: table, metrics, logger, now: () => T0 + 7 * HOUR })).toBe(
      7 * 3600,
    );
    expect(metrics.counts.OldestRunningExportAgeSeconds).toBe(7 * 3600);

    const broken: Table = Object.create(table);
    broken.query = () => Promise.reject(new Error('DynamoDB unavailable'));
    const quiet = memoryMetrics();
    expect(await emitExportHealth({ exportsTable: broken, metrics: quiet, logger })).toBeUndefined();
    expect(quiet.counts).toEqual({});
  });
});
