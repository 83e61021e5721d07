/**
 * The cap on Zoho jobs in flight (`ZOHO_MAX_CONCURRENT_JOBS`, lib/zoho/job-slots.ts) end to end
 * (DynamoDB Local, s3rver, the fake Zoho): a snapshot of 8 modules with a cap of 2. At no time does
 * Zoho have more than 2 of our jobs in ADDED/QUEUED/IN PROGRESS (observed through the fake's admin
 * API at every step, and from each job's life at the fake afterwards), the product never holds more
 * than 2 slots, the creates beyond the cap wait (counted) instead of failing, `POST /exports` meanwhile
 * is accepted at once (202, page 1 waiting for a slot, nothing sent to Zoho) and lands once a slot
 * frees, while `POST /jobs` (a job its caller made) takes no slot; the snapshot COMPLETES with every
 * module.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JobSlots } from '../../lib/zoho/job-slots.js';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import type { JobInfo } from '../../local/fake-zoho/types.js';
import { apiOf } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MODULES = ['Leads', 'Contacts', 'Accounts', 'Deals', 'Tasks', 'Events', 'Calls', 'Products'];
const CAP = 2;
const RUNNING_AT_ZOHO = new Set(['ADDED', 'QUEUED', 'IN PROGRESS']);

/** Most jobs alive at once at the fake: each job lives [createdAt, completedAt). */
function peakOverlap(jobs: JobInfo[]): number {
  let peak = 0;
  for (const j of jobs) {
    const alive = jobs.filter((o) => o.createdAt <= j.createdAt && j.createdAt < o.completedAt).length;
    peak = Math.max(peak, alive);
  }
  return peak;
}

describe('ZOHO_MAX_CONCURRENT_JOBS', () => {
  it('a snapshot of 8 modules with a cap of 2: never more than 2 Zoho jobs running, and it completes', async () => {
    h = await pipelineHarness({
      fake: { moduleRecords: Object.fromEntries(MODULES.map((m) => [m, 3])) },
      config: { ZOHO_MAX_CONCURRENT_JOBS: String(CAP) },
    });
    const x = h;
    const api = apiOf(x);
    const admin = new FakeZohoAdminClient(x.fake.url);
    // The product's own view of the slots (one item of the state table, shared by every function).
    const slots = new JobSlots(x.aws.tables.state, { cap: CAP, jobLeaseMs: 1, now: x.clock.now });
    let runningPeak = 0;
    let heldPeak = 0;
    const observe = async (): Promise<void> => {
      // Our jobs (created over HTTP); a job registered with POST /jobs was made by its caller.
      const running = (await admin.jobs()).filter(
        (j) => j.source === 'store' && RUNNING_AT_ZOHO.has(j.state),
      );
      runningPeak = Math.max(runningPeak, running.length);
      const held = await slots.held();
      heldPeak = Math.max(heldPeak, held.length);
      // A slot is given back as soon as its job left ADDED/IN PROGRESS (not later, by the reclaim).
      for (const s of held)
        if (s.job !== undefined) expect((await x.jobs.get(s.job))?.status, `job ${s.job}`).toBe('PENDING');
      expect(running.length, 'Zoho jobs in ADDED/QUEUED/IN PROGRESS').toBeLessThanOrEqual(CAP);
    };

    const r = await api('POST', '/snapshots', { body: JSON.stringify({ modules: MODULES }) });
    expect(r.status, r.raw).toBe(201);
    await observe();
    // The request created what the cap allows; the others wait as RUNNING intents (none failed).
    const pages = r.body.modules.map((m: { status: string; pages: number }) => [m.status, m.pages]);
    expect(pages.filter(([, p]: [string, number]) => p === 1)).toHaveLength(CAP);
    expect(pages.filter(([s]: [string, number]) => s !== 'RUNNING')).toEqual([]);
    expect(x.metrics.counts.ZohoJobSlotsFull).toBeGreaterThan(0);

    // Meanwhile a single export is accepted and waits for a slot: 202, page 1 pending, nothing sent to Zoho.
    const creates = x.fake.requests.filter((q) => q.kind === 'create').length;
    const busy = await api('POST', '/exports', { body: '{"module": "Contacts"}' });
    expect([busy.status, busy.body.status, busy.body.pages], busy.raw).toEqual([202, 'RUNNING', []]);
    expect(busy.body.pending_page?.code, busy.raw).toBe('ZOHO_JOB_SLOTS_FULL');
    expect(x.fake.requests.filter((q) => q.kind === 'create').length).toBe(creates);
    // Registering a job its caller made (POST /jobs) takes no slot: accepted while all are held.
    const seeded = x.fake.addJob({ module: 'Contacts', totalRecords: 5 });
    const reg = await api('POST', '/jobs', { body: JSON.stringify({ job_id: seeded.id }) });
    expect(reg.status, reg.raw).toBe(201);
    expect((await slots.held()).map((s) => s.job)).not.toContain(seeded.id);

    let done:
      | { status: string; modules: Array<{ module: string; status: string; records: number }> }
      | undefined;
    for (let i = 0; i < 300 && !done; i++) {
      await x.tick();
      await observe();
      const s = await api('GET', `/snapshots/${r.body.snapshot_id}`);
      if (s.body.status !== 'RUNNING' && s.body.manifest) done = s.body;
    }
    expect(done?.status).toBe('COMPLETED');
    expect(done?.modules.map((m) => [m.module, m.status, m.records])).toEqual(
      MODULES.map((m) => [m, 'COMPLETED', 3]),
    );

    // The queued export got its slot in turn and landed.
    for (
      let i = 0;
      i < 100 && (await api('GET', `/exports/${busy.body.export_id}`)).body.status === 'RUNNING';
      i++
    ) {
      await x.tick();
      await observe();
    }
    const queued = await api('GET', `/exports/${busy.body.export_id}`);
    expect([queued.body.status, queued.body.records], queued.raw).toEqual(['COMPLETED', 3]);

    // Every job's life at the fake: never more than the cap alive at once, and the cap was used.
    const all = (await admin.jobs()).filter((j) => j.source === 'store');
    expect(all).toHaveLength(MODULES.length + 1);
    expect(peakOverlap(all)).toBe(CAP);
    expect(runningPeak).toBe(CAP);
    expect(heldPeak).toBeLessThanOrEqual(CAP);
    // Every slot was given back when its job ended.
    expect(await slots.held()).toEqual([]);
  }, 240_000);
});
