/**
 * `POST /snapshots` end to end against the fake Zoho's org (the two whole-org cases on the in-memory
 * table and S3, which behave as DynamoDB Local and s3rver do by the table contract test; the others on
 * DynamoDB Local and s3rver): every exportable module
 * under one snapshot, first pages as the Zoho job slots allow; the module Zoho refuses only when tried
 * fails, the others land, the snapshot is FAILED naming it, with one `Snapshot Failed` event and a
 * manifest of the landed modules. Zoho's TOO_MANY_REQUESTS delays a module (the sweep creates it)
 * instead of failing it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BULK_REFUSED_WHEN_TRIED, FAKE_MODULES } from '../../local/fake-zoho/modules.js';
import { apiOf, untilSnapshotEnded } from '../support/exports.js';
import { type Harness as HarnessOn, type HarnessStorage, pipelineHarness } from '../support/pipeline.js';

/** A harness on either backend: the two whole-org cases run on the in-memory one (they check the flow, not the store). */
type Harness = HarnessOn<HarnessStorage>;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Two records in every module of the fake org (its subforms: three line items per parent). */
const tiny = Object.fromEntries(FAKE_MODULES.map((m) => [m.apiName, 2]));

/**
 * `POST /snapshots` of two modules whose request's first create Zoho pushes back (TOO_MANY_REQUESTS):
 * the request stops there, so neither module has a page yet and neither failed; the sweep creates both.
 */
async function pushedBackSnapshot(x: Harness, modules: [string, string]) {
  x.fake.inject({
    kind: 'create',
    times: 1,
    action: { type: 'error', code: 'TOO_MANY_REQUESTS', status: 429 },
  });
  const r = await apiOf(x)('POST', '/snapshots', { body: JSON.stringify({ modules }) });
  expect(r.status, r.raw).toBe(201);
  expect(r.body.modules.map((m: { status: string; pages: number }) => [m.status, m.pages])).toEqual([
    ['RUNNING', 0],
    ['RUNNING', 0],
  ]);
  return r;
}

const snapshotEvents = (x: Harness) =>
  x.events.published.filter(
    (e) => e.detailType === 'Snapshot Completed' || e.detailType === 'Snapshot Failed',
  );

describe('POST /snapshots', () => {
  it('"all": every exportable module; the one Zoho refuses fails, the others land; one Snapshot Failed event and a manifest', async () => {
    // Every first page within the request: the fake's concurrency limit (10 jobs by default) would
    // leave the modules after the tenth to the sweep (the next tests).
    h = await pipelineHarness({ backend: 'memory', fake: { moduleRecords: tiny, maxConcurrentJobs: 100 } });
    const api = apiOf(h);
    const listed = await api('GET', '/modules');
    const exportable: string[] = listed.body.modules
      .filter((m: { exportable: boolean }) => m.exportable)
      .map((m: { api_name: string }) => m.api_name);
    expect(exportable).toContain('Locking_Information__s');
    expect(exportable).not.toContain('Notes');

    const headers = { 'idempotency-key': 'snap-1' };
    const r = await api('POST', '/snapshots', { body: '{"modules": "all"}', headers });
    expect(r.status, r.raw).toBe(201);
    const id: string = r.body.snapshot_id;
    expect(id).toMatch(/^sn_[0-9A-Z]{26}$/);
    expect(r.headers.location).toBe(`/snapshots/${id}`);
    expect(r.body.modules.map((m: { module: string }) => m.module).sort()).toEqual([...exportable].sort());
    expect(r.body.status).toBe('RUNNING');
    // The request created as many first pages as the Zoho job slots allow (ZOHO_MAX_CONCURRENT_JOBS);
    // the rest wait as intents for the sweep. A module Zoho refused on the way failed; none other did.
    const modules: Array<{ module: string; status: string; pages: number; error?: { code: string } }> =
      r.body.modules;
    expect(modules.filter((m) => m.pages === 1)).toHaveLength(h.config.ZOHO_MAX_CONCURRENT_JOBS);
    for (const m of modules.filter((x) => x.status === 'FAILED'))
      expect(['MODULE_NOT_SUPPORTED', 'INVALID_MODULE'], m.module).toContain(m.error?.code);

    // The same key: the same snapshot, nothing new asked of Zoho.
    const creates = h.fake.requests.filter((q) => q.kind === 'create').length;
    const again = await api('POST', '/snapshots', { body: '{"modules": "all"}', headers });
    expect([again.status, again.body.snapshot_id]).toEqual([200, id]);
    expect(h.fake.requests.filter((q) => q.kind === 'create').length).toBe(creates);
    const reused = await api('POST', '/snapshots', { body: '{"modules": ["Leads"]}', headers });
    expect([reused.status, reused.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);

    const done = await untilSnapshotEnded(h, id);
    expect(done.status).toBe('FAILED');
    // Exactly the one module the fake's create refuses although discovery lists it (DealHistory, the
    // Deals stage history, has a record store and lands like any module).
    const refused = exportable.filter((m) => BULK_REFUSED_WHEN_TRIED.includes(m)).sort();
    expect(refused).toEqual(['Locking_Information__s']);
    expect(exportable).toContain('DealHistory');
    expect(done.failed_modules).toEqual(refused);
    for (const m of done.modules.filter((x: { status: string }) => x.status === 'FAILED'))
      expect([m.pages, m.error.code], m.module).toEqual([0, 'MODULE_NOT_SUPPORTED']);
    const landed = done.modules.filter((m: { status: string }) => m.status === 'COMPLETED');
    expect(landed).toHaveLength(exportable.length - refused.length);
    for (const m of landed) expect(m.records, m.module).toBeGreaterThan(0);
    expect(done.totals).toMatchObject({ modules: exportable.length, failed: refused.length, running: 0 });
    expect(done.totals.records).toBe(landed.reduce((n: number, m: { records: number }) => n + m.records, 0));
    expect(done.completed_at).not.toBeNull();

    // ONE snapshot event, even after more ticks (the sweep publishes nothing twice).
    await h.tick();
    await h.tick();
    const events = snapshotEvents(h);
    expect(events.map((e) => [e.detailType, e.detail.snapshot_id])).toEqual([['Snapshot Failed', id]]);

    const manifest = JSON.parse((await h.objectBytes(done.manifest.key)).toString('utf8'));
    expect(done.manifest.key).toBe(`${h.config.S3_PREFIX}/_snapshots/${id}.json`);
    expect(manifest).toMatchObject({
      snapshot_id: id,
      status: 'FAILED',
      failed_modules: refused,
    });
    expect(manifest.manifests).toHaveLength(landed.length);
    for (const m of landed) {
      const e = await h.exports.get(m.export_id);
      expect(manifest.manifests, m.module).toContainEqual(e?.manifest);
    }

    // The snapshot item expires with the last of its exports.
    const item = await h.exports.table.get({ export_id: id });
    const expiries: number[] = [];
    for (const m of done.modules) expiries.push((await h.exports.get(m.export_id))?.expires_at ?? 0);
    expect(item?.expires_at).toBe(Math.max(...expiries));
    const list = await api('GET', '/snapshots?limit=1');
    expect([list.status, list.body.snapshots[0].snapshot_id]).toEqual([200, id]);
    // Each module's export says whose it is.
    const one = await api('GET', `/exports/${landed[0].export_id}`);
    expect(one.body.snapshot_id).toBe(id);
    const history = landed.find((m: { module: string }) => m.module === 'DealHistory');
    expect(history.records).toBe(tiny.DealHistory);
    // every module of the org through the pipeline (and its Parquet): a minute on a loaded machine
  }, 180_000);

  it('a refusal met by a snapshot is remembered by GET /modules: the next "all" leaves the module out and completes', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { moduleRecords: tiny } });
    const api = apiOf(h);
    const listed = await api('GET', '/modules');
    const exportable: string[] = listed.body.modules
      .filter((m: { exportable: boolean }) => m.exportable)
      .map((m: { api_name: string }) => m.api_name);
    expect(exportable).toContain('Locking_Information__s');
    const refused = await api('POST', '/snapshots', { body: '{"modules": ["Locking_Information__s"]}' });
    expect(refused.status, refused.raw).toBe(201);
    expect((await untilSnapshotEnded(h, refused.body.snapshot_id)).failed_modules).toEqual([
      'Locking_Information__s',
    ]);

    const modules = await api('GET', '/modules');
    const remembered = modules.body.modules.find(
      (m: { api_name: string }) => m.api_name === 'Locking_Information__s',
    );
    expect(remembered).toMatchObject({ exportable: false, reason: 'zoho_refused' });
    expect(remembered.detail).toContain('MODULE_NOT_SUPPORTED');
    const second = await api('POST', '/snapshots', { body: '{"modules": "all"}' });
    expect(second.status, second.raw).toBe(201);
    const secondModules: string[] = second.body.modules.map((m: { module: string }) => m.module);
    expect(secondModules.sort()).toEqual(exportable.filter((m) => m !== 'Locking_Information__s').sort());
    // More modules than the fake's 10 jobs at once: the sweep creates the rest as jobs end.
    const done = await untilSnapshotEnded(h, second.body.snapshot_id, 120);
    expect([done.status, done.failed_modules]).toEqual(['COMPLETED', []]);
    expect(done.totals.completed).toBe(secondModules.length);
  }, 180_000);

  it("the sweep's create remembers Zoho's refusal of a module for discovery (GET /modules)", async () => {
    h = await pipelineHarness({ fake: { moduleRecords: tiny } });
    const api = apiOf(h);
    const r = await pushedBackSnapshot(h, ['Leads', 'Locking_Information__s']);
    expect(
      (await api('GET', '/modules')).body.modules.find(
        (m: { api_name: string }) => m.api_name === 'Locking_Information__s',
      ).exportable,
    ).toBe(true);
    const done = await untilSnapshotEnded(h, r.body.snapshot_id);
    expect(done.failed_modules).toEqual(['Locking_Information__s']);
    const after = await api('GET', '/modules');
    expect(
      after.body.modules.find((m: { api_name: string }) => m.api_name === 'Locking_Information__s'),
    ).toMatchObject({
      exportable: false,
      reason: 'zoho_refused',
    });
  });

  it("Zoho's TOO_MANY_REQUESTS delays a module, never fails it: the sweep creates it and the rest", async () => {
    h = await pipelineHarness({ fake: { moduleRecords: tiny } });
    const r = await pushedBackSnapshot(h, ['Contacts', 'Leads']);
    const done = await untilSnapshotEnded(h, r.body.snapshot_id);
    expect(done.status).toBe('COMPLETED');
    expect(done.failed_modules).toEqual([]);
    expect(done.modules.map((m: { module: string; status: string }) => [m.module, m.status])).toEqual([
      ['Contacts', 'COMPLETED'],
      ['Leads', 'COMPLETED'],
    ]);
    expect(snapshotEvents(h).map((e) => e.detailType)).toEqual(['Snapshot Completed']);
  });
});
