/**
 * Schedules end to end against DynamoDB Local, s3rver and the fake Zoho (its record stores, the
 * Modified_Time criteria, the deleted-records API with If-Modified-Since): runs started through the
 * API, full and incremental, deletions landed in the export, skips while running, the watermark.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pageHooks } from '../../lib/exports/hooks.js';
import { INCREMENTAL_OVERLAP_MS } from '../../lib/schedules/incremental.js';
import { duck, sq, tempDir } from '../analytics/helpers.js';
import { apiOf, finish, spyCreates } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

const SCHEDULES = [
  { name: 'contacts-nightly', module: 'Contacts', mode: 'incremental', schedule: 'cron(0 2 * * ? *)' },
  {
    name: 'accounts-weekly',
    module: 'Accounts',
    mode: 'full',
    schedule: 'rate(7 days)',
    timezone: 'Europe/Berlin',
    fields: ['Account_Name', 'Modified_Time'],
  },
];

let h: Harness | undefined;
const tmp = tempDir();
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup(): Promise<Harness> {
  h = await pipelineHarness({
    config: { SCHEDULES: JSON.stringify(SCHEDULES), OUTPUT_FORMATS: 'csv,parquet' },
    fake: { moduleRecords: { Contacts: 300, Accounts: 50 } },
  });
  return h;
}

/** The ids in a landed CSV (read by DuckDB, as an analytics engine would). */
async function csvIds(hh: Harness, key: string): Promise<string[]> {
  const file = path.join(tmp.dir, `${path.basename(key)}`);
  writeFileSync(file, await hh.objectBytes(key));
  const rows = await duck(`SELECT "id" FROM read_csv(${sq(file)}, header=true, all_varchar=true)`);
  return rows.map((r) => String(r.id)).sort();
}

describe('schedules', () => {
  it('lists the configured schedules with their state', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r = await api('GET', '/schedules');
    expect(r.status).toBe(200);
    expect(r.body.schedules.map((s: { name: string }) => s.name)).toEqual([
      'contacts-nightly',
      'accounts-weekly',
    ]);
    expect(r.body.schedules[1]).toStrictEqual({
      name: 'accounts-weekly',
      module: 'Accounts',
      mode: 'full',
      schedule: 'rate(7 days)',
      timezone: 'Europe/Berlin',
      fields: ['Account_Name', 'Modified_Time'],
      criteria: null,
      cvid: null,
      watermark: null,
      running: false,
      running_export_id: null,
      last_run: null,
      skipped_runs: 0,
      last_skipped_at: null,
    });
    expect(r.body.schedules[0].timezone).toBe('UTC');
  });

  it('refuses an unknown schedule (404) and a bad name (400)', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r = await api('POST', '/schedules/nope/runs');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('SCHEDULE_NOT_FOUND');
    expect(r.body.error.message).toContain('contacts-nightly, accounts-weekly');
    const bad = await api('POST', `/schedules/${encodeURIComponent('a b')}/runs`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_SCHEDULE_NAME');
    expect(creates(hh)).toBe(0);
  });

  it('two incremental runs land exactly the changed and the deleted records; the watermark moves on COMPLETED', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const calls = spyCreates(hh);

    // Run 1: no watermark yet, so a full export of the module.
    const r1 = await api('POST', '/schedules/contacts-nightly/runs');
    expect(r1.status).toBe(201);
    expect(r1.headers.location).toBe(`/exports/${r1.body.export_id}`);
    expect(r1.body).toMatchObject({
      source: 'schedule:contacts-nightly',
      mode: 'full',
      since: null,
      module: 'Contacts',
    });
    expect(calls[0]!.query.criteria).toBeUndefined();
    const e1 = await finish(hh, r1.body.export_id);
    expect(e1.status).toBe('COMPLETED');
    expect(e1.records).toBe(300);
    let s = (await api('GET', '/schedules')).body.schedules[0];
    expect(s).toMatchObject({
      watermark: e1.created_at,
      running: false,
      last_run: { export_id: e1.export_id, status: 'COMPLETED', started_at: e1.created_at },
    });

    // Between the runs: an hour passes, Zoho records are modified, created and deleted.
    hh.clock.advance(3_600_000);
    const modified = hh.fake.modifyRecords('Contacts', { indexes: [3, 30, 150, 299] });
    const created = hh.fake.createRecords('Contacts', 2);
    const deleted = hh.fake.deleteRecords('Contacts', { indexes: [7, 8, 200] });
    const perm = hh.fake.deleteRecords('Contacts', { indexes: [9] }, { type: 'permanent' });
    hh.clock.advance(60_000);

    const r2 = await api('POST', '/schedules/contacts-nightly/runs');
    expect(r2.status).toBe(201);
    const since = new Date(Date.parse(e1.created_at) - INCREMENTAL_OVERLAP_MS).toISOString();
    expect(r2.body).toMatchObject({ mode: 'incremental', since });
    // What Zoho was asked: the module's records modified after the watermark minus the overlap.
    expect(calls[calls.length - 1]!.query).toMatchObject({
      module: 'Contacts',
      criteria: {
        api_name: 'Modified_Time',
        comparator: 'greater_than',
        value: since.replace(/\.\d{3}Z$/, '+00:00'),
      },
    });
    // A deletion after the run started belongs to the next run, not this one.
    hh.clock.advance(1_000);
    const late = hh.fake.deleteRecords('Contacts', { indexes: [100] });
    const e2 = await finish(hh, r2.body.export_id);
    expect(e2.status).toBe('COMPLETED');
    expect(e2.records).toBe(modified.length + created.length);
    const pageIds = (
      await Promise.all(e2.pages.map((p: { s3: { key: string } }) => csvIds(hh, p.s3.key)))
    ).flat();
    expect(pageIds.sort()).toEqual([...modified, ...created].sort());

    // The deletions file: listed in the manifest, CSV and Parquet, readable, exactly the deletions.
    const manifest = JSON.parse((await hh.objectBytes(e2.manifest.key)).toString('utf8'));
    const d = manifest.deletions;
    expect(d).toMatchObject({ since, until: e2.created_at, csv: { records: 4 }, parquet: { records: 4 } });
    expect(d.csv.key).toBe(
      `${hh.config.S3_PREFIX}/deletions/module=Contacts/export_date=${manifest.export_date}/${e2.export_id}.csv`,
    );
    expect(await csvIds(hh, d.csv.key)).toEqual([...deleted, ...perm].sort());
    const file = path.join(tmp.dir, 'deletions.parquet');
    writeFileSync(file, await hh.objectBytes(d.parquet.key));
    const rows = await duck(
      `SELECT id, type, deleted_time, _export_id FROM read_parquet(${sq(file)}) ORDER BY id`,
    );
    const ids = rows.map((r) => String(r.id));
    expect(ids).toEqual([...deleted, ...perm].sort());
    expect(ids).not.toContain(late[0]);
    expect(rows.filter((r) => r.type === 'permanent')).toHaveLength(1);
    expect(rows.every((r) => r._export_id === e2.export_id)).toBe(true);
    expect(d.catalog).toMatchObject({ table: 'zoho_contacts_deletions' });

    // The query of docs/schedules.md: the latest version of every record across the runs, minus the deletions
    // that came after it. Here in DuckDB over the landed Parquet files, as Athena runs it over the tables.
    const local = async (key: string) => {
      const f = path.join(tmp.dir, path.basename(key));
      writeFileSync(f, await hh.objectBytes(key));
      return sq(f);
    };
    const pageFiles = await Promise.all(
      [...e1.pages, ...e2.pages].map((p: { parquet: { key: string } }) => local(p.parquet.key)),
    );
    const current = await duck(`
      WITH contacts AS (SELECT * FROM read_parquet([${pageFiles.join(', ')}], union_by_name = true)),
           deletions AS (SELECT * FROM read_parquet(${sq(file)})),
           latest AS (
             SELECT *, row_number() OVER (PARTITION BY id ORDER BY "Modified_Time" DESC, "_exported_at" DESC) AS rn
             FROM contacts),
           gone AS (SELECT id, max(deleted_time) AS deleted_time FROM deletions GROUP BY id)
      SELECT l.id, l."Modified_Time" FROM latest l LEFT JOIN gone g ON g.id = l.id AND g.deleted_time >= l."Modified_Time"
      WHERE l.rn = 1 AND g.id IS NULL ORDER BY l.id`);
    const gone = new Set([...deleted, ...perm]);
    const everyId = [
      ...new Set([
        ...(await Promise.all(e1.pages.map((p: { s3: { key: string } }) => csvIds(hh, p.s3.key)))).flat(),
        ...created,
      ]),
    ];
    expect(current.map((r) => String(r.id)).sort()).toEqual(everyId.filter((id) => !gone.has(id)).sort());
    expect(current).toHaveLength(300 + 2 - 4);

    s = (await api('GET', '/schedules')).body.schedules[0];
    expect(s).toMatchObject({
      watermark: e2.created_at,
      running: false,
      last_run: { export_id: e2.export_id, status: 'COMPLETED' },
    });
    expect(hh.metrics.counts.ScheduleRunsStarted).toBe(2);
  });

  it('skips a run while the previous one is running, and runs again once it ended', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r1 = await api('POST', '/schedules/accounts-weekly/runs');
    expect(r1.status).toBe(201);
    const r2 = await api('POST', '/schedules/accounts-weekly/runs');
    expect(r2.status).toBe(409);
    expect(r2.body.error.code).toBe('SCHEDULE_RUNNING');
    expect(r2.body.error.message).toContain(r1.body.export_id);
    expect(hh.metrics.counts.ScheduleRunsSkipped).toBe(1);
    expect(creates(hh)).toBe(1);
    const s = (await api('GET', '/schedules')).body.schedules[1];
    expect(s).toMatchObject({ running: true, running_export_id: r1.body.export_id, skipped_runs: 1 });
    expect(s.last_skipped_at).not.toBeNull();

    const e1 = await finish(hh, r1.body.export_id);
    expect(e1.status).toBe('COMPLETED');
    // A full schedule exports the whole module every time.
    const r3 = await api('POST', '/schedules/accounts-weekly/runs');
    expect(r3.status).toBe(201);
    expect(r3.body).toMatchObject({
      mode: 'full',
      since: null,
      query: { fields: ['Account_Name', 'Modified_Time'] },
    });
  });

  it('a FAILED run frees the schedule without moving the watermark (ScheduleRunsFailed)', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r1 = await api('POST', '/schedules/contacts-nightly/runs');
    const job = (await hh.jobs.get(r1.body.pages[0].job_id))!;
    await pageHooks(hh.exportDeps).failed(job, {
      code: 'INTERNAL_SERVER_ERROR',
      message: 'Zoho failed the job',
    });
    expect((await hh.exports.get(r1.body.export_id))?.status).toBe('FAILED');
    expect(hh.metrics.counts.ScheduleRunsFailed).toBe(1);
    const s = (await api('GET', '/schedules')).body.schedules[0];
    expect(s).toMatchObject({ watermark: null, running: false, last_run: { status: 'FAILED' } });
    // The next run is a full export again: nothing COMPLETED yet.
    const r2 = await api('POST', '/schedules/contacts-nightly/runs');
    expect(r2.status).toBe(201);
    expect(r2.body.mode).toBe('full');
  });

  it('repairs a schedule whose running export ended without telling it', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r1 = await api('POST', '/schedules/accounts-weekly/runs');
    // The export fails in the store only (the function died before the schedule heard of it).
    await hh.exports.fail(r1.body.export_id, { code: 'EXPIRED', message: 'test' });
    const r2 = await api('POST', '/schedules/accounts-weekly/runs');
    expect(r2.status).toBe(201);
    expect(r2.body.export_id).not.toBe(r1.body.export_id);
    expect(hh.metrics.counts.ScheduleRunsSkipped).toBeUndefined();
  });
});

const creates = (hh: Harness) => hh.fake.requests.filter((r) => r.kind === 'create').length;
