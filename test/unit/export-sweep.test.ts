/**
 * The sweep (lib/exports/sweep.ts) on the memory backend: a job whose export did not take in its last
 * transition (the function that made it died) is followed through once its `export_due` has passed,
 * and not before; a follow-up page whose creation Zoho refused for now is created again once its
 * retry is due. Each case then completes with exact data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startExport } from '../../lib/exports/start.js';
import { sweepExports } from '../../lib/exports/sweep.js';
import { EXPORT_FOLLOW_THROUGH_MS } from '../../lib/jobs/store.js';
import { creates, expectCompleted, exportOf, finish, spyCreates, tickUntil } from '../support/exports.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';

let h: Harness<MemoryStorage> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const sweep = (hh: Harness<MemoryStorage>) =>
  sweepExports(hh.exportDeps, { deadline: hh.clock.now() + 60_000 });

const NOTHING = {
  exports: 0,
  pagesCreated: 0,
  completed: 0,
  eventsPublished: 0,
  followedThrough: 0,
  failed: 0,
};

async function start(hh: Harness<MemoryStorage>, module: string): Promise<string> {
  return (await startExport(hh.exportDeps, { query: { module }, source: 'api' })).record.export_id;
}

/** Makes `method` of the export store throw its first `times` calls (a function killed there). */
function dieIn<K extends 'claimFinalize' | 'wantPage'>(
  hh: Harness<MemoryStorage>,
  method: K,
  times: number,
): { died: () => number } {
  const store = hh.exports;
  const real = store[method].bind(store) as (...a: unknown[]) => Promise<unknown>;
  let died = 0;
  Object.assign(store, {
    [method]: async (...args: unknown[]) => {
      if (died < times) {
        died++;
        throw new Error(`killed in ${method} (test)`);
      }
      return real(...args);
    },
  });
  return { died: () => died };
}

describe('a left-over reaction is completed by the sweep', () => {
  it('page_exported (the downloader died before finalizing): nothing before export_due, then COMPLETED once', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      config: { OUTPUT_FORMATS: 'csv' },
      fake: { moduleRecords: { Leads: 25 } },
    });
    const killed = dieIn(h, 'claimFinalize', 1);
    const id = await start(h, 'Leads');
    await tickUntil(h, async () => killed.died() === 1);
    const [job] = await h.allJobs();
    expect(job).toMatchObject({
      status: 'EXPORTED',
      export_pending: 'yes',
      export_reaction: 'page_exported',
    });
    const due = job!.export_due!;
    expect(due).toBeGreaterThan(h.clock.now());
    expect(due - h.clock.now()).toBeLessThanOrEqual(EXPORT_FOLLOW_THROUGH_MS);
    // Not due yet: the sweep leaves it alone.
    expect(await sweep(h)).toEqual(NOTHING);
    expect((await h.exports.get(id))!.status).toBe('RUNNING');
    h.clock.advance(due - h.clock.now());
    expect(await sweep(h)).toEqual({ ...NOTHING, followedThrough: 1, completed: 1, eventsPublished: 0 });
    const rec = await exportOf(h, id);
    expect(rec.status).toBe('COMPLETED');
    expect(rec.records).toBe(25);
    expect((await h.jobs.get(job!.job_id))!.export_pending).toBeUndefined();
    expect(h.events.published.map((e) => [e.detailType, e.detail.export_id])).toEqual([
      ['Export Completed', id],
    ]);
    // Done: the next sweep finds nothing.
    h.clock.advance(EXPORT_FOLLOW_THROUGH_MS);
    expect(await sweep(h)).toEqual(NOTHING);
  });

  it('page_completed then page_exported (poller and downloader died before wanting page 2): the sweep creates it; exact data', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      fake: { perPage: 1000, moduleRecords: { Contacts: 1400 } },
    });
    const calls = spyCreates(h);
    const killed = dieIn(h, 'wantPage', 2);
    const id = await start(h, 'Contacts');
    await tickUntil(h, async () => killed.died() === 2);
    const [job] = await h.allJobs();
    expect(job).toMatchObject({
      status: 'EXPORTED',
      more_records: true,
      export_pending: 'yes',
      export_reaction: 'page_exported',
    });
    const e = (await h.exports.get(id))!;
    expect(e.page_jobs).toEqual([job!.job_id]);
    expect(e.intent_page).toBeUndefined();
    expect(calls).toHaveLength(1);
    h.clock.advance(Math.max(0, job!.export_due! - h.clock.now()));
    expect(await sweep(h)).toEqual({ ...NOTHING, followedThrough: 1, pagesCreated: 1 });
    expect((await h.exports.get(id))!.page_jobs).toEqual([job!.job_id, calls[1]!.id]);
    expect(calls[1]!.query).toEqual({ pageToken: expect.stringMatching(/\S/) });
    await finish(h, id);
    await expectCompleted(h, id, { pages: 2, records: 1400, version: 'v8' });
    expect(calls).toHaveLength(2);
  });
});

describe('a follow-up page Zoho could not create now is retried by the sweep', () => {
  it('Zoho’s 500 on page 2’s create: the intent waits for its retry, the sweep creates it; exact data', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { perPage: 1000, moduleRecords: { Deals: 2100 } } });
    const calls = spyCreates(h);
    const id = await start(h, 'Deals');
    h.fake.inject({ kind: 'create', action: { type: 'error', code: 'INTERNAL_ERROR', status: 500 } });
    // Ticks by hand, stopping right after the poll whose hook tried page 2 (before the clock moves on).
    for (let i = 0; i < 20 && calls.length < 2; i++) {
      await h.poll();
      if (calls.length === 2) break;
      await h.deliver();
      h.clock.advance(60_000);
    }
    expect(creates(h).map((c) => c.status)).toEqual([201, 500]);
    const e = (await h.exports.get(id))!;
    expect(e).toMatchObject({
      status: 'RUNNING',
      intent_page: 2,
      intent_state: 'wanted',
      intent_attempts: 1,
    });
    expect(e.page_jobs).toHaveLength(1);
    const retryAt = e.intent_until!;
    expect(retryAt).toBeGreaterThan(h.clock.now());
    // Before the retry is due: no second attempt.
    expect((await sweep(h)).pagesCreated).toBe(0);
    expect(calls).toHaveLength(2);
    h.clock.advance(retryAt - h.clock.now());
    const s = await sweep(h);
    expect([s.exports, s.pagesCreated]).toEqual([1, 1]);
    const after = (await h.exports.get(id))!;
    expect(after.page_jobs).toEqual([calls[0]!.id, calls[2]!.id]);
    expect(after.intent_page).toBeUndefined();
    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2100, version: 'v8' });
    expect(creates(h).map((c) => c.status)).toEqual([201, 500, 201, 201]);
  });
});
