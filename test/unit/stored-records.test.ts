/**
 * Records read back from DynamoDB are parsed at each store (lib/ddb/record.ts): what the current code
 * writes, and items of an earlier release, read back as they are; an item of the wrong shape is a
 * CORRUPT_RECORD error naming the table, the key and the attribute. An API answers it 500 without
 * naming anything; the sweeps log it and go on with the other items.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { createApiHandler } from '../../lib/api/handler.js';
import { CorruptRecordError } from '../../lib/ddb/record.js';
import { emitExportHealth, oldestRunningExportAgeSeconds } from '../../lib/exports/health.js';
import { IdempotencyStore } from '../../lib/exports/idempotency.js';
import { type ExportRecord, newExportId } from '../../lib/exports/model.js';
import { legacyReaction } from '../../lib/exports/reactions.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { DownloadBudget } from '../../lib/pipeline/download-budget.js';
import { ScheduleStore, scheduleKey } from '../../lib/schedules/store.js';
import { memoryExportDeps } from '../support/memory.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const JOB = '7000000000000000001';

/** Runs `f` and returns the CorruptRecordError it must throw. */
async function corrupt(f: () => Promise<unknown>): Promise<CorruptRecordError> {
  const err = await f().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptRecordError);
  if (!(err instanceof CorruptRecordError)) throw new Error('unreachable');
  expect(err.code).toBe('CORRUPT_RECORD');
  expect(err.kind).toBe('terminal');
  return err;
}

function setup() {
  const deps = memoryExportDeps();
  const newExport = (i = 0): ExportRecord =>
    deps.exports.newExport({
      export_id: newExportId(T0 + i),
      module: 'Contacts',
      source: 'api',
      query: { fields: ['Last_Name'], criteria: null, cvid: null },
      api_version: 'v8',
      formats: ['csv', 'parquet'],
    });
  return { deps, newExport };
}

describe('job records', () => {
  it('what the store writes through a page’s whole life reads back unchanged', async () => {
    const { deps } = setup();
    const { jobs } = deps;
    await jobs.register(JOB, { module: 'Contacts', page: 1, export_id: 'ex_x', parquet_wanted: true });
    const raw = async () => deps.tables.jobs.get({ job_id: JOB });
    expect(await jobs.get(JOB)).toEqual(await raw());
    const fresh = await jobs.get(JOB);
    if (!fresh) throw new Error('registered');
    const check = await jobs.claimCheck(fresh, Date.now() + 60_000);
    if (!check) throw new Error('claimed');
    const dispatch = await jobs.startDownload(
      JOB,
      check,
      { zoho_state: 'COMPLETED', checks: 1 },
      { records: 3, download_url: '/x', api_version: 'v8', more_records: false },
      Date.now() + 60_000,
      true,
    );
    if (!dispatch) throw new Error('started');
    const dl = await jobs.claimDownload(JOB, dispatch, Date.now() + 60_000);
    if (!dl) throw new Error('claimed download');
    const s3 = { bucket: 'b', key: 'k.csv', bytes: 10 };
    await jobs.exported(JOB, dl, s3, 3, { crc32: 'abcd1234', header: ['id'], parquet: true }, true);
    const owner = await jobs.claimConversion(JOB, Date.now() + 60_000);
    if (!owner) throw new Error('claimed conversion');
    await jobs.converted(JOB, owner, {
      ...s3,
      key: 'k.parquet',
      rows: 3,
      row_groups: 1,
      compression: 'zstd',
      conversion_errors: { Amount: 1 },
      columns: [{ name: 'id', type: 'INT64', zoho_type: 'bigint', reason: null }],
    });
    const done = await jobs.get(JOB);
    expect(done).toEqual(await raw());
    expect(done).toMatchObject({
      status: 'EXPORTED',
      parquet_status: 'DONE',
      export_reaction: 'page_converted',
    });
  });

  it('a job of an earlier release (no export_reaction, attempts or checks; an attribute since retired) still reads', async () => {
    const { deps } = setup();
    await deps.tables.jobs.put({
      job_id: JOB,
      status: 'EXPORTED',
      zoho_state: 'COMPLETED',
      module: 'Contacts',
      page: 1,
      created_at: '2026-11-01T00:00:00.000Z',
      updated_at: '2026-11-01T00:05:00.000Z',
      records: 3,
      next_check_at: T0,
      s3: { bucket: 'b', key: 'k.csv', bytes: 10 },
      export_id: 'ex_x',
      export_pending: 'yes',
      export_due: T0,
      retired_attribute: { kept: true },
    });
    const job = await deps.jobs.get(JOB);
    expect(job).toMatchObject({ attempts: 0, checks: 0, retired_attribute: { kept: true } });
    expect(job?.export_reaction).toBeUndefined();
    if (!job) throw new Error('read');
    expect(legacyReaction(job)).toBe('page_exported');
    const due = await deps.jobs.exportDue(T0, 10);
    expect(due.jobs.map((j) => j.job_id)).toEqual([JOB]);
  });

  it.each([
    ['an unknown status', { status: 'DONE' }, 'status'],
    ['no created_at', { created_at: undefined }, 'created_at'],
    ['a string where a number belongs', { attempts: '2' }, 'attempts'],
    ['a nested map of the wrong shape', { s3: { bucket: 'b', key: 'k', bytes: '10' } }, 's3.bytes'],
    ['an unknown export reaction', { export_reaction: 'page_vanished' }, 'export_reaction'],
  ])('%s is CORRUPT_RECORD naming the table, the key and the attribute', async (_, change, path) => {
    const { deps } = setup();
    const good = deps.jobs.newJob(JOB);
    await deps.tables.jobs.put({ ...good, ...change });
    const err = await corrupt(() => deps.jobs.get(JOB));
    expect(err.message).toContain(deps.tables.jobs.name);
    expect(err.message).toContain(JOB);
    expect(err.message).toContain(`${path}:`);
    expect(err.key).toEqual({ job_id: JOB });
  });

  it('a sweep’s page holds the jobs that parse and an error for each that does not; the API listing fails', async () => {
    const { deps } = setup();
    const bad = '7000000000000000002';
    await deps.tables.jobs.put(deps.jobs.newJob(JOB));
    await deps.tables.jobs.put({ ...deps.jobs.newJob(bad), attempts: 'many' });
    const page = await deps.jobs.due('PENDING', Date.now() + 1, 10);
    expect(page.jobs.map((j) => j.job_id)).toEqual([JOB]);
    expect(page.corrupt.map((e) => e.key)).toEqual([{ job_id: bad }]);
    await corrupt(() => deps.jobs.list({ limit: 10 }));
    await corrupt(() => deps.jobs.list({ status: 'PENDING', limit: 10 }));
  });
});

describe('export records', () => {
  it('what the store writes reads back unchanged', async () => {
    const { deps, newExport } = setup();
    const e = newExport();
    expect(await deps.exports.create(e, deps.jobs.newJob(JOB, { export_id: e.export_id }))).toBe(true);
    expect(await deps.exports.get(e.export_id)).toEqual(
      await deps.tables.exports.get({ export_id: e.export_id }),
    );
    expect(await deps.exports.fail(e.export_id, { code: 'X', message: 'failed by the test' })).toBe(true);
    expect(await deps.exports.get(e.export_id)).toEqual(
      await deps.tables.exports.get({ export_id: e.export_id }),
    );
  });

  it('an export of an earlier release (no mode, no formats; the sweep’s index attributes) still reads', async () => {
    const { deps, newExport } = setup();
    const { mode: _m, formats: _f, ...old } = newExport();
    await deps.tables.exports.put({
      ...old,
      query: {
        fields: null,
        criteria: { api_name: 'Amount', comparator: 'greater_than', value: 5 },
        cvid: null,
      },
      page_jobs: [JOB],
      attention: 'yes',
      attention_at: T0,
    });
    const e = await deps.exports.get(old.export_id);
    expect(e).toMatchObject({ mode: 'full', formats: ['csv'], attention: 'yes', attention_at: T0 });
    const page = await deps.exports.needingAttention(T0, 10);
    expect(page.exports.map((x) => x.export_id)).toEqual([old.export_id]);
    expect(page.corrupt).toEqual([]);
  });

  it.each([
    ['an unknown status', { status: 'DONE' }, 'status'],
    ['an unknown source', { source: 'cron' }, 'source'],
    ['a number among the page jobs', { page_jobs: [7] }, 'page_jobs.0'],
    ['no query', { query: undefined }, 'query'],
    ['a string where a number belongs', { recoveries: '1' }, 'recoveries'],
  ])('%s is CORRUPT_RECORD naming the table, the key and the attribute', async (_, change, path) => {
    const { deps, newExport } = setup();
    const e = newExport();
    await deps.tables.exports.put({ ...e, ...change });
    const err = await corrupt(() => deps.exports.get(e.export_id));
    expect(err.message).toContain(deps.tables.exports.name);
    expect(err.message).toContain(e.export_id);
    expect(err.message).toContain(`${path}:`);
  });

  it('the sweep’s page skips a corrupt export with its error; the API listing fails', async () => {
    const { deps, newExport } = setup();
    const good = newExport(1);
    const bad = newExport(2);
    await deps.tables.exports.put({ ...good, attention: 'yes', attention_at: T0 });
    await deps.tables.exports.put({ ...bad, status: 'LOST', attention: 'yes', attention_at: T0 });
    const page = await deps.exports.needingAttention(T0, 10);
    expect(page.exports.map((x) => x.export_id)).toEqual([good.export_id]);
    expect(page.corrupt.map((x) => x.key)).toEqual([{ export_id: bad.export_id }]);
    await corrupt(() => deps.exports.list({ limit: 10 }));
  });
});

/** A GET request as API Gateway hands it to the function. */
function get(path: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `GET ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: {},
    requestContext: {
      accountId: 'test',
      apiId: 'test',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: '' },
      requestId: 'test',
      routeKey: `GET ${path}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

describe('the API on a corrupt record', () => {
  it('answers 500 INTERNAL_ERROR naming nothing (the log has the table and key)', async () => {
    const { deps, newExport } = setup();
    const e = newExport();
    await deps.tables.exports.put({ ...e, page_jobs: 'not a list' });
    await deps.tables.jobs.put({ ...deps.jobs.newJob(JOB), status: 'LOST' });
    const error = vi.spyOn(deps.logger, 'error');
    const handle = createApiHandler(deps);
    for (const path of ['/exports', `/exports/${e.export_id}`, '/jobs', `/jobs/${JOB}`]) {
      const r = await handle(get(path));
      expect(r.statusCode, path).toBe(500);
      const body = r.body ?? '';
      expect(JSON.parse(body).error.code, path).toBe('INTERNAL_ERROR');
      for (const secret of [deps.tables.exports.name, deps.tables.jobs.name, 'CORRUPT', 'page_jobs', 'LOST'])
        expect(body, path).not.toContain(secret);
    }
    expect(JSON.stringify(error.mock.calls)).toContain('CORRUPT_RECORD');
  });
});

describe('the state table’s items', () => {
  it('an idempotency claim of the wrong shape is CORRUPT_RECORD, not a silent "reused"', async () => {
    const { deps } = setup();
    const idem = new IdempotencyStore(deps.tables.state);
    const pk = `idem#${createHash('sha256').update('key-1').digest('hex')}`;
    await deps.tables.state.put({ pk, state: 'creating', owner: 'o', lease_until: Date.now() + 60_000 });
    const err = await corrupt(() => idem.claim('key-1', 'hash', newExportId()));
    expect(err.message).toContain('request_hash:');
    // What the store writes reads back.
    const ok = new IdempotencyStore(deps.tables.state);
    const id = newExportId();
    expect(await ok.claim('key-2', 'h', id)).toMatchObject({ kind: 'claimed' });
    expect(await ok.claim('key-2', 'h', newExportId())).toEqual({ kind: 'in-progress', exportId: id });
  });

  it('a schedule item of the wrong shape is CORRUPT_RECORD (read, and the item a claim returns)', async () => {
    const { deps } = setup();
    const schedules = new ScheduleStore(deps.tables.state);
    expect(await schedules.claim('daily', 't1')).toMatchObject({ name: 'daily', run_token: 't1' });
    expect(await schedules.started('daily', 't1', { exportId: 'ex_1', startedAt: 'now' })).toBe(true);
    expect(await schedules.get('daily')).toMatchObject({ last_run: { status: 'RUNNING' } });
    await deps.tables.state.put({ ...scheduleKey('weekly'), name: 'weekly', skipped_runs: 'two' });
    expect((await corrupt(() => schedules.get('weekly'))).message).toContain('skipped_runs:');
    expect((await corrupt(() => schedules.claim('weekly', 't2'))).message).toContain('skipped_runs:');
  });

  it('a download budget item of the wrong shape is CORRUPT_RECORD', async () => {
    const { deps } = setup();
    const budget = new DownloadBudget(deps.tables.state, { perMinute: 10 });
    expect(await budget.take()).toEqual({ ok: true });
    await deps.tables.state.put({ pk: 'download-budget', version: 1, slots: [[1, 'x']] });
    expect((await corrupt(() => budget.take())).message).toContain('slots.0');
  });
});

describe('export health on a corrupt record', () => {
  it('the walk fails by default; the poller’s gauge logs it and measures the others', async () => {
    const { deps, newExport } = setup();
    const e = newExport();
    await deps.tables.exports.put(e);
    await deps.tables.exports.put({ ...newExport(-1000), created_at: 'yesterday' });
    await corrupt(() => oldestRunningExportAgeSeconds(deps.tables.exports, T0 + 60_000));
    const logger = createLogger('test', 'SILENT');
    const error = vi.spyOn(logger, 'error');
    const metrics = memoryMetrics();
    const age = await emitExportHealth({
      exportsTable: deps.tables.exports,
      metrics,
      logger,
      now: () => Date.parse(e.created_at) + 60_000,
    });
    expect(age).toBe(60);
    expect(metrics.counts.OldestRunningExportAgeSeconds).toBe(60);
    expect(JSON.stringify(error.mock.calls)).toContain('created_at');
  });
});
