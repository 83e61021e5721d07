/**
 * Recovery from expiry (lib/exports/recovery.ts) on the memory backend: a page of an export of ours
 * whose result expired before its download, or whose follow-up's page token expired, is created again
 * and the export completes with exact data; the recoveries of an export are bounded (3), after which
 * it fails; a registered job is not ours to re-create.
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
} from '../support/exports.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';

let h: Harness<MemoryStorage> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function start(hh: Harness<MemoryStorage>, body: unknown): Promise<string> {
  const r = await apiOf(hh)('POST', '/exports', { body: JSON.stringify(body) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.export_id;
}

/**
 * Ticks like the harness, but between the poll and the downloads expires the result of every page
 * job `expire(jobId, page)` picks once it is DOWNLOADING (COMPLETED at Zoho, not downloaded yet).
 */
async function tickExpiring(
  hh: Harness<MemoryStorage>,
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

/** The keys of the bucket's CSV objects (no manifest, no Parquet). */
const csvKeys = (hh: Harness<MemoryStorage>) =>
  [...hh.aws.s3server.objects.keys()]
    .filter((k) => k.endsWith('.csv') && !k.includes('/_manifests/'))
    .map((k) => k.slice(`${hh.aws.bucket}/`.length))
    .sort();

describe('a page whose result expired is created again', () => {
  it('v8: page 1 expired before its download → a new page 1 job; COMPLETED with exact data', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { moduleRecords: { Contacts: 40 } } });
    const id = await start(h, { module: 'Contacts', fields: ['Last_Name', 'Email'] });
    const first = (await h.exports.get(id))!.page_jobs[0]!;
    const original = await fakeCsv(h, first);
    await tickExpiring(h, id, (jobId) => jobId === first);
    const { e } = await expectCompleted(h, id, { pages: 1, records: 40, version: 'v8' });
    const replacement: string = e.pages[0].job_id;
    expect(replacement).not.toBe(first);
    expect(await h.jobs.get(first)).toMatchObject({
      status: 'FAILED',
      error: { code: 'RESOURCE_NOT_FOUND' },
      replaced_by: replacement,
    });
    expect((await h.jobs.get(replacement))!.replaces).toBe(first);
    expect((await h.objectBytes(e.pages[0].s3.key)).equals(original)).toBe(true);
    expect(h.fake.jobInfo(replacement)).toMatchObject({ module: 'Contacts', page: 1 });
    expect(h.metrics.counts.PagesRecovered).toBe(1);
    expect(h.metrics.counts.ExportsFailed).toBeUndefined();
    expect(creates(h)).toHaveLength(2);
    expect(csvKeys(h)).toEqual([e.pages[0].s3.key]);
    expect((await h.exports.get(id))!.recoveries).toBe(1);
  });

  it('v2: page 2 of 3 expired → page 2 alone re-created by its number; pages 1 and 3 kept', async () => {
    h = await pipelineHarness({
      backend: 'memory',
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
    const { e } = await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v2' });
    const byPage = (c: (typeof calls)[number]) => c.query.page ?? 1;
    expect([...calls].sort((a, b) => byPage(a) - byPage(b)).map((c) => c.query)).toEqual([
      { module: 'Leads' },
      { module: 'Leads', page: 2 },
      { module: 'Leads', page: 2 },
      { module: 'Leads', page: 3 },
    ]);
    const page2 = calls.filter((c) => c.query.page === 2).map((c) => c.id);
    expect(e.pages.map((p: { job_id: string }) => p.job_id)).toEqual([
      calls[0]!.id,
      page2[1],
      calls.find((c) => c.query.page === 3)!.id,
    ]);
    expect(h.metrics.counts.PagesRecovered).toBe(1);
    expect(csvKeys(h)).toEqual(e.pages.map((p: { s3: { key: string } }) => p.s3.key).sort());
  });

  it('v8: the page token expired before the follow-up → restart from page 1; only the final pages listed', async () => {
    h = await pipelineHarness({ backend: 'memory', fake: { perPage: 1000, moduleRecords: { Leads: 2100 } } });
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
    expect(csvKeys(h)).toEqual(e.pages.map((p: { s3: { key: string } }) => p.s3.key).sort());
  });
});

describe('recovery is bounded', () => {
  it('results expired every time → FAILED after 3 recoveries with RESOURCE_NOT_FOUND; one Export Failed event', async () => {
    expect(MAX_RECOVERIES).toBe(3);
    h = await pipelineHarness({ backend: 'memory', fake: { moduleRecords: { Deals: 10 } } });
    const id = await start(h, { module: 'Deals' });
    await tickExpiring(h, id, () => true);
    const e = await exportOf(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'RESOURCE_NOT_FOUND', page: 1 });
    expect(e.error.message).toMatch(/recovery exhausted/);
    expect(e.manifest).toBeNull();
    expect(h.metrics.counts.PagesRecovered).toBe(3);
    expect(creates(h)).toHaveLength(4);
    expect(h.events.published.map((ev) => [ev.detailType, ev.detail.export_id])).toEqual([
      ['Export Failed', id],
    ]);
    // Nothing more happens afterwards.
    for (let i = 0; i < 5; i++) await h.tick();
    expect(creates(h)).toHaveLength(4);
    expect(h.events.published).toHaveLength(1);
    expect(csvKeys(h)).toEqual([]);
  });

  it('a registered job (POST /jobs) whose result expired is not ours to re-create: FAILED, no create', async () => {
    h = await pipelineHarness({ backend: 'memory' });
    const zjob = h.fake.addJob({ totalRecords: 5 });
    const reg = await apiOf(h)('POST', '/jobs', { body: JSON.stringify({ job_id: zjob.id }) });
    expect(reg.status).toBe(201);
    const id: string = reg.body.export_id;
    await tickExpiring(h, id, () => true);
    const e = await exportOf(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'RESOURCE_NOT_FOUND', page: 1, job_id: zjob.id });
    expect(h.metrics.counts.PagesRecovered).toBeUndefined();
    expect(creates(h)).toHaveLength(0);
    expect(h.events.published.map((ev) => ev.detailType)).toEqual(['Export Failed']);
  });
});
