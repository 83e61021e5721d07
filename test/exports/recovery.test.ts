/**
 * Recovery from expiry (lib/exports/recovery.ts), against DynamoDB Local, s3rver and the fake Zoho:
 * a page of an export of ours whose result expired, or whose follow-up's page token expired, is
 * re-created and the export completes with exact data; a registered job fails as it always did; the
 * recoveries of an export are bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_RECOVERIES } from '../../lib/exports/recovery.js';
import {
  apiOf,
  creates,
  expectCompleted,
  exportOf,
  fakeCsv,
  finish,
  spyCreates,
  tickUntil,
} from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function start(hh: Harness, body: unknown): Promise<string> {
  const r = await apiOf(hh)('POST', '/exports', { body: JSON.stringify(body) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.export_id;
}

/**
 * Ticks like the harness, but between the poll and the downloads expires the result of every page
 * job `expire(jobId, page)` picks once it is DOWNLOADING (COMPLETED at Zoho, not downloaded yet).
 */
async function tickExpiring(
  hh: Harness,
  id: string,
  expire: (jobId: string, page: number) => boolean,
  maxTicks = 120,
): Promise<void> {
  const done = new Set<string>();
  for (let i = 0; i < maxTicks; i++) {
    if ((await hh.exports.get(id))?.status !== 'RUNNING') return;
    await hh.poll();
    const e = (await hh.exports.get(id))!;
    for (const [at, jobId] of e.page_jobs.entries()) {
      const j = await hh.jobs.get(jobId);
      if (j?.status === 'DOWNLOADING' && !done.has(jobId) && expire(jobId, at + 1)) {
        hh.fake.expireResult(jobId);
        done.add(jobId);
      }
    }
    await hh.deliver();
    hh.clock.advance(60_000);
  }
  throw new Error(`export ${id} still RUNNING after ${maxTicks} ticks`);
}

describe('an export of ours whose page can no longer be had is re-created', () => {
  it('v8: page 1’s result expired before its download → a new page 1 job, COMPLETED with exact data', async () => {
    h = await pipelineHarness({ fake: { moduleRecords: { Contacts: 40 } } });
    const fields = ['Last_Name', 'Email'];
    const id = await start(h, { module: 'Contacts', fields });
    const first = (await h.exports.get(id))!.page_jobs[0]!;
    const original = await fakeCsv(h, first);
    await tickExpiring(h, id, (jobId) => jobId === first);
    const { e } = await expectCompleted(h, id, { pages: 1, records: 40, version: 'v8' });
    // The page's job changed; the old one says by which; the data are Zoho's records, exactly.
    expect(e.pages[0].job_id).not.toBe(first);
    const old = (await h.jobs.get(first))!;
    expect(old).toMatchObject({ status: 'FAILED', error: { code: 'RESOURCE_NOT_FOUND' } });
    expect(old.replaced_by).toBe(e.pages[0].job_id);
    expect((await h.jobs.get(e.pages[0].job_id))!.replaces).toBe(first);
    expect((await h.objectBytes(e.pages[0].s3.key)).equals(original)).toBe(true);
    expect(h.metrics.counts.PagesRecovered).toBe(1);
    expect(h.metrics.counts.ExportsFailed).toBeUndefined();
    // Re-created with the same query, by query (page 1 needs no token).
    expect(h.fake.jobInfo(e.pages[0].job_id)).toMatchObject({ module: 'Contacts', page: 1 });
    expect(creates(h)).toHaveLength(2);
    // Only the final page's CSV is in S3.
    expect(await h.objectKeys()).toEqual([e.pages[0].s3.key]);
  });

  it('v2: page 2 of 3 expired → page 2 alone re-created by its number; pages 1 and 3 kept', async () => {
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Leads: 2500 } },
      config: { ZOHO_API_VERSION: 'v2' },
    });
    const calls = spyCreates(h);
    const id = await start(h, { module: 'Leads' });
    let once = false;
    await tickExpiring(h, id, (_j, page) => {
      if (page !== 2 || once) return false;
      once = true;
      return true;
    });
    const e0 = await exportOf(h, id);
    expect(e0.status, JSON.stringify(e0.error)).toBe('COMPLETED');
    // (page 3 is created when page 2 completes, before page 2's download finds its result gone)
    const byPage = (c: (typeof calls)[number]) => c.query.page ?? 1;
    expect([...calls].sort((a, b) => byPage(a) - byPage(b)).map((c) => c.query)).toEqual([
      { module: 'Leads' },
      { module: 'Leads', page: 2 },
      { module: 'Leads', page: 2 },
      { module: 'Leads', page: 3 },
    ]);
    const { e } = await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v2' });
    const page2 = calls.filter((c) => c.query.page === 2).map((c) => c.id);
    expect(page2).toHaveLength(2);
    expect(e.pages[1].job_id).toBe(page2[1]);
    expect(calls.filter((c) => c.query.page === 3)).toHaveLength(1);
    expect(h.metrics.counts.PagesRecovered).toBe(1);
    expect((await h.objectKeys()).sort()).toEqual(
      e.pages.map((p: { s3: { key: string } }) => p.s3.key).sort(),
    );
  });

  it('v8: the page token expired before the follow-up → restart from page 1, exact data, only the final pages listed', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Leads: 2100 } } });
    let expired = false;
    const calls = spyCreates(h, async (call, real) => {
      if (call.query.pageToken !== undefined && !expired) {
        expired = true;
        h!.fake.expirePageTokens();
      }
      return real();
    });
    const id = await start(h, { module: 'Leads' });
    const first = (await h.exports.get(id))!.page_jobs[0]!;
    await finish(h, id);
    const { e } = await expectCompleted(h, id, { pages: 3, records: 2100, version: 'v8' });
    // Refused token, page 1 again by query, then pages 2 and 3 by the new chain's tokens.
    expect(calls.map((c) => (c.query.pageToken ? 'token' : `query:${c.query.page ?? 1}`))).toEqual([
      'query:1',
      'token',
      'query:1',
      'token',
      'token',
    ]);
    expect((calls[1]!.error as { code?: string }).code).toBe('INVALID_REQUEST');
    expect(e.pages[0].job_id).toBe(calls[2]!.id);
    expect((await h.jobs.get(first))!.replaced_by).toBe(calls[2]!.id);
    expect(h.metrics.counts.PagesRecovered).toBe(1);
    expect((await h.objectKeys()).sort()).toEqual(
      e.pages.map((p: { s3: { key: string } }) => p.s3.key).sort(),
    );
  });

  it('a registered job (POST /jobs) whose result expired still ends FAILED with RESOURCE_NOT_FOUND', async () => {
    h = await pipelineHarness();
    const zjob = h.fake.addJob({ totalRecords: 5 });
    const reg = await apiOf(h)('POST', '/jobs', { body: JSON.stringify({ job_id: zjob.id }) });
    expect(reg.status).toBe(201);
    const id: string = reg.body.export_id;
    await tickExpiring(h, id, () => true);
    const e = await exportOf(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'RESOURCE_NOT_FOUND', page: 1, job_id: zjob.id });
    expect(e.pages.map((p: { job_id: string }) => p.job_id)).toEqual([zjob.id]);
    expect(h.metrics.counts.PagesRecovered).toBeUndefined();
    expect(creates(h)).toHaveLength(0);
    expect(h.events.published.map((ev) => ev.detailType)).toEqual(['Export Failed']);
  });

  it('bounded: results expired every time → FAILED after MAX_RECOVERIES with RESOURCE_NOT_FOUND', async () => {
    h = await pipelineHarness({ fake: { moduleRecords: { Deals: 10 } } });
    const id = await start(h, { module: 'Deals' });
    await tickExpiring(h, id, () => true);
    const e = await exportOf(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'RESOURCE_NOT_FOUND', page: 1 });
    expect(e.error.message).toMatch(/recovery exhausted/);
    expect(h.metrics.counts.PagesRecovered).toBe(MAX_RECOVERIES);
    expect(creates(h)).toHaveLength(1 + MAX_RECOVERIES);
    expect(h.events.published.map((ev) => ev.detailType)).toEqual(['Export Failed']);
    // Nothing more happens afterwards.
    await tickUntil(h, async () => true);
    for (let i = 0; i < 3; i++) await h.tick();
    expect(creates(h)).toHaveLength(1 + MAX_RECOVERIES);
  });
});
