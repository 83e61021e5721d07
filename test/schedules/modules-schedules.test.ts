/**
 * Multi-module schedules (`modules`: a list or "all") end to end against DynamoDB Local, s3rver and
 * the fake Zoho: each run is ONE snapshot; an incremental schedule reads each module since its own
 * watermark (a subform always whole), a FAILED module keeps its watermark, `GET /schedules` shows them,
 * and a run whose end went unheard is repaired.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pageHooks } from '../../lib/exports/hooks.js';
import { INCREMENTAL_OVERLAP_MS } from '../../lib/schedules/incremental.js';
import { apiOf, snapshotExports, spyCreates, untilSnapshotEnded } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

const SCHEDULES = [
  {
    name: 'crm-nightly',
    modules: ['Contacts', 'Quoted_Items'],
    mode: 'incremental',
    schedule: 'rate(1 day)',
  },
  { name: 'everything', modules: 'all', mode: 'full', schedule: 'cron(0 3 ? * SUN *)' },
];

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup(): Promise<Harness> {
  h = await pipelineHarness({
    config: { SCHEDULES: JSON.stringify(SCHEDULES) },
    fake: { moduleRecords: { Contacts: 30, Quotes: 2, Quoted_Items: 2, Leads: 2 } },
  });
  return h;
}

const scheduleOf = async (x: Harness, name: string) =>
  (await apiOf(x)('GET', '/schedules')).body.schedules.find((s: { name: string }) => s.name === name);

describe('multi-module schedules', () => {
  it('an incremental list: run 1 full, run 2 reads Contacts since its watermark and Quoted_Items whole; per-module watermarks', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    expect(await scheduleOf(hh, 'crm-nightly')).toStrictEqual({
      name: 'crm-nightly',
      modules: ['Contacts', 'Quoted_Items'],
      mode: 'incremental',
      schedule: 'rate(1 day)',
      timezone: 'UTC',
      watermarks: { Contacts: null, Quoted_Items: null },
      running: false,
      running_snapshot_id: null,
      last_run: null,
      skipped_runs: 0,
      last_skipped_at: null,
    });

    const r1 = await api('POST', '/schedules/crm-nightly/runs');
    expect(r1.status, r1.raw).toBe(201);
    const id1: string = r1.body.snapshot_id;
    expect(r1.headers.location).toBe(`/snapshots/${id1}`);
    expect(r1.body.mode).toBe('incremental');
    expect(r1.body.modules.map((m: { module: string }) => m.module)).toEqual(['Contacts', 'Quoted_Items']);
    expect(await scheduleOf(hh, 'crm-nightly')).toMatchObject({ running: true, running_snapshot_id: id1 });
    // While it runs, the next run is skipped (409 naming the snapshot).
    const busy = await api('POST', '/schedules/crm-nightly/runs');
    expect([busy.status, busy.body.error.code]).toEqual([409, 'SCHEDULE_RUNNING']);
    expect(busy.body.error.message).toContain(id1);

    const done1 = await untilSnapshotEnded(hh, id1);
    expect(done1.status).toBe('COMPLETED');
    const run1 = await snapshotExports(hh, done1);
    // No watermark yet: both modules whole.
    for (const m of ['Contacts', 'Quoted_Items'])
      expect(run1[m], m).toMatchObject({ mode: 'full', since: null, source: 'schedule:crm-nightly' });
    expect(run1.Contacts.records).toBe(30);
    expect(run1.Quoted_Items.records).toBeGreaterThan(0);
    expect(await scheduleOf(hh, 'crm-nightly')).toMatchObject({
      watermarks: { Contacts: run1.Contacts.created_at, Quoted_Items: run1.Quoted_Items.created_at },
      running: false,
      running_snapshot_id: null,
      last_run: { snapshot_id: id1, status: 'COMPLETED', started_at: done1.created_at, failed_modules: [] },
    });

    // An hour later: Contacts edited and one deleted.
    hh.clock.advance(3_600_000);
    const modified = hh.fake.modifyRecords('Contacts', { indexes: [2, 20] });
    const deleted = hh.fake.deleteRecords('Contacts', { indexes: [5] });
    hh.clock.advance(60_000);
    const calls = spyCreates(hh);

    const r2 = await api('POST', '/schedules/crm-nightly/runs');
    expect(r2.status, r2.raw).toBe(201);
    const done2 = await untilSnapshotEnded(hh, r2.body.snapshot_id);
    expect(done2.status).toBe('COMPLETED');
    const run2 = await snapshotExports(hh, done2);
    const since = new Date(Date.parse(run1.Contacts.created_at) - INCREMENTAL_OVERLAP_MS).toISOString();
    expect(run2.Contacts).toMatchObject({ mode: 'incremental', since, records: modified.length });
    expect(run2.Quoted_Items).toMatchObject({
      mode: 'full',
      since: null,
      records: run1.Quoted_Items.records,
    });
    // What Zoho was asked: Contacts modified after its watermark minus the overlap; Quoted_Items all.
    const asked = (m: string) => calls.filter((c) => c.query.module === m).map((c) => c.query.criteria);
    expect(asked('Contacts')).toEqual([
      { api_name: 'Modified_Time', comparator: 'greater_than', value: since.replace(/\.\d{3}Z$/, '+00:00') },
    ]);
    expect(asked('Quoted_Items')).toEqual([undefined]);
    // Contacts' deletions since then landed with its export.
    const manifest = JSON.parse((await hh.objectBytes(run2.Contacts.manifest.key)).toString('utf8'));
    expect(manifest.deletions).toMatchObject({ since, csv: { records: deleted.length } });

    expect(await scheduleOf(hh, 'crm-nightly')).toMatchObject({
      watermarks: { Contacts: run2.Contacts.created_at, Quoted_Items: run2.Quoted_Items.created_at },
      running: false,
      last_run: { snapshot_id: r2.body.snapshot_id, status: 'COMPLETED' },
    });
    expect(Date.parse(run2.Contacts.created_at)).toBeGreaterThan(Date.parse(run1.Contacts.created_at));
    expect(hh.metrics.counts.ScheduleRunsStarted).toBe(2);
  });

  it('a FAILED module keeps its watermark (the next run reads it from there); the others advance', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r1 = await api('POST', '/schedules/crm-nightly/runs');
    const run1 = await snapshotExports(hh, await untilSnapshotEnded(hh, r1.body.snapshot_id));

    hh.clock.advance(3_600_000);
    const r2 = await api('POST', '/schedules/crm-nightly/runs');
    expect(r2.status, r2.raw).toBe(201);
    const contacts = r2.body.modules.find((m: { module: string }) => m.module === 'Contacts');
    const e = (await api('GET', `/exports/${contacts.export_id}`)).body;
    const jobId: string | undefined = e.pages[0]?.job_id;
    if (!jobId) throw new Error('Contacts has no first page');
    await pageHooks(hh.exportDeps).failed((await hh.jobs.get(jobId))!, {
      code: 'INTERNAL_SERVER_ERROR',
      message: 'Zoho failed the job',
    });
    const done2 = await untilSnapshotEnded(hh, r2.body.snapshot_id);
    expect([done2.status, done2.failed_modules]).toEqual(['FAILED', ['Contacts']]);
    const run2 = await snapshotExports(hh, done2);
    expect(await scheduleOf(hh, 'crm-nightly')).toMatchObject({
      watermarks: { Contacts: run1.Contacts.created_at, Quoted_Items: run2.Quoted_Items.created_at },
      running: false,
      last_run: { snapshot_id: r2.body.snapshot_id, status: 'FAILED', failed_modules: ['Contacts'] },
    });
    expect(hh.metrics.counts.ScheduleRunsFailed).toBe(1);

    // Run 3: Contacts from its old watermark again.
    hh.clock.advance(60_000);
    const r3 = await api('POST', '/schedules/crm-nightly/runs');
    const run3 = await snapshotExports(hh, r3.body);
    expect(run3.Contacts).toMatchObject({
      mode: 'incremental',
      since: new Date(Date.parse(run1.Contacts.created_at) - INCREMENTAL_OVERLAP_MS).toISOString(),
    });
  });

  it('"all": one snapshot of every exportable module, full', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const exportable: string[] = (await api('GET', '/modules')).body.modules
      .filter((m: { exportable: boolean }) => m.exportable)
      .map((m: { api_name: string }) => m.api_name);
    expect(exportable.length).toBeGreaterThan(5);
    const r = await api('POST', '/schedules/everything/runs');
    expect(r.status, r.raw).toBe(201);
    expect(r.body.mode).toBe('full');
    expect(r.body.modules.map((m: { module: string }) => m.module).sort()).toEqual([...exportable].sort());
    for (const m of r.body.modules as { export_id: string }[]) {
      const e = await hh.exports.get(m.export_id);
      expect([e?.mode, e?.source, e?.snapshot_id, e?.since]).toEqual([
        'full',
        'schedule:everything',
        r.body.snapshot_id,
        undefined,
      ]);
    }
    expect(await scheduleOf(hh, 'everything')).toMatchObject({
      modules: 'all',
      watermarks: {},
      running: true,
      running_snapshot_id: r.body.snapshot_id,
    });
  });

  it('repairs a schedule whose snapshot ended without telling it', async () => {
    const hh = await setup();
    const api = apiOf(hh);
    const r1 = await api('POST', '/schedules/crm-nightly/runs');
    // Both exports fail in the store only (the function died before the schedule heard of it).
    for (const m of r1.body.modules as { export_id: string }[])
      await hh.exports.fail(m.export_id, { code: 'EXPIRED', message: 'test' });
    expect(await scheduleOf(hh, 'crm-nightly')).toMatchObject({ running: true });
    const r2 = await api('POST', '/schedules/crm-nightly/runs');
    expect(r2.status, r2.raw).toBe(201);
    expect(r2.body.snapshot_id).not.toBe(r1.body.snapshot_id);
    expect(hh.metrics.counts.ScheduleRunsSkipped).toBeUndefined();
    expect(await scheduleOf(hh, 'crm-nightly')).toMatchObject({
      watermarks: { Contacts: null, Quoted_Items: null },
      running_snapshot_id: r2.body.snapshot_id,
      last_run: { snapshot_id: r2.body.snapshot_id, status: 'RUNNING' },
    });
  });
});
