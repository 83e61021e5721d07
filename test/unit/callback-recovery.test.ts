/**
 * The internet-facing callback function deletes nothing (lib/wiring.ts `callbackDeps`): when its status
 * check finds a page expired and the export must restart from page 1 (v8, the parent's page token too
 * old), dropping landed pages, it leaves the recovery whole to the poller's sweep, which runs it with
 * its own delete grant on its next tick.
 */
import pLimit from 'p-limit';
import { afterEach, describe, expect, it } from 'vitest';
import { checkJob } from '../../lib/pipeline/poll.js';
import { callbackDeps } from '../../lib/wiring.js';
import { apiOf, expectCompleted, finish, spyCreates } from '../support/exports.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';

let h: Harness<MemoryStorage> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The keys of the bucket's CSV objects (no manifest, no Parquet). */
const csvKeys = (hh: Harness<MemoryStorage>) =>
  [...hh.aws.s3server.objects.keys()]
    .filter((k) => k.endsWith('.csv') && !k.includes('/_manifests/'))
    .map((k) => k.slice(`${hh.aws.bucket}/`.length))
    .sort();

describe('a callback whose check needs a recovery that drops pages', () => {
  it('v8: page 2 expired, restart from page 1 → the callback deletes nothing; the next poll recovers; COMPLETED', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { perPage: 1000, moduleRecords: { Leads: 2100 } } });
    const hh = h;
    const calls = spyCreates(hh);
    const r = await apiOf(hh)('POST', '/exports', { body: JSON.stringify({ module: 'Leads' }) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.export_id;

    // Page 1 lands; page 2 is created (with page 1's token) and not yet finished.
    let page2: string | undefined;
    for (let i = 0; i < 60 && !page2; i++) {
      await hh.poll();
      await hh.deliver();
      const e = (await hh.exports.get(id))!;
      const p1 = await hh.jobs.get(e.page_jobs[0]!);
      const p2 = e.page_jobs[1] ? await hh.jobs.get(e.page_jobs[1]) : undefined;
      if (p1?.status === 'EXPORTED' && p2?.status === 'PENDING') page2 = p2.job_id;
      else hh.clock.advance(30_000);
    }
    if (!page2) throw new Error('page 2 never pending after page 1 landed');
    const landed = csvKeys(hh);
    expect(landed).toHaveLength(1);
    const first = (await hh.exports.get(id))!.page_jobs[0]!;

    // A day later Zoho calls back for page 2: too old (EXPIRED), and page 1's token too: restart from 1.
    hh.clock.advance(25 * 3_600_000);
    // The token check is not under test here: the callback function's status check of the job is.
    const cb = callbackDeps(hh.exportDeps, hh.pollDeps, {
      verify: async () => ({ ok: false, reason: 'not used' }),
    });
    const creates = calls.length;
    const job = (await hh.jobs.get(page2))!;
    expect((await checkJob(cb.poll, job, { limit: pLimit(1) })).kind).toBe('expired');

    // Nothing deleted, nothing re-created, nothing dropped: the export waits for the poller, due now.
    expect(csvKeys(hh)).toEqual(landed);
    expect(calls).toHaveLength(creates);
    const waiting = (await hh.exports.get(id))!;
    expect(waiting.status).toBe('RUNNING');
    expect(waiting.page_jobs.slice(0, 2)).toEqual([first, page2]);
    expect(waiting.recoveries ?? 0).toBe(0);
    expect((await hh.jobs.get(first))!.replaced_by).toBeUndefined();
    const failed = (await hh.jobs.get(page2))!;
    expect(failed.status).toBe('FAILED');
    expect(failed.export_pending).toBeDefined();
    expect(failed.export_due ?? 0).toBeLessThanOrEqual(hh.clock.now());

    // The poller's next tick (its sweep) runs the same recovery: page 1 re-created by query, page 1's
    // old CSV deleted, and the export completes with exact data.
    await hh.poll();
    expect(
      calls.slice(creates).map((c) => (c.query.pageToken ? 'token' : `query:${c.query.page ?? 1}`)),
    ).toEqual(['query:1']);
    expect((await hh.jobs.get(first))!.replaced_by).toBe(calls[creates]!.id);
    expect(csvKeys(hh)).not.toContain(landed[0]);
    await finish(hh, id);
    const { e } = await expectCompleted(hh, id, { pages: 3, records: 2100, version: 'v8' });
    expect(e.pages[0].job_id).toBe(calls[creates]!.id);
    expect(hh.metrics.counts.PagesRecovered).toBe(1);
    expect(csvKeys(hh)).toEqual(e.pages.map((p: { s3: { key: string } }) => p.s3.key).sort());
  });
});
