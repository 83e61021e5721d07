/**
 * An export of a module with more records than a page, on the memory backend (MemoryTable, the
 * in-process S3, the fake Zoho): follow-up pages created in order (page_token on v8, page + 1 on v2),
 * every page EXPORTED with exact bytes and its Parquet file, one manifest listing every page with its
 * exact record count, COMPLETED, one event. A page Zoho fails fails the export.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { apiOf, expectCompleted, exportOf, finish, spyCreates, tickUntil } from '../support/exports.js';
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

describe('every page of an export (memory backend)', () => {
  it('v8: three pages through page_token, in order, exact bytes, manifest with each page’s records, one event', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } },
    });
    const calls = spyCreates(h);
    const id = await start(h, { module: 'Contacts', fields: ['Last_Name', 'Email'] });
    await finish(h, id);
    const { e, m } = await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    expect(e.pages.map((p: { records: number }) => p.records)).toEqual([1000, 1000, 500]);
    expect(m.pages.map((p: { page: number; records: number }) => [p.page, p.records])).toEqual([
      [1, 1000],
      [2, 1000],
      [3, 500],
    ]);
    // Page n + 1 was created after page n: Zoho's page numbers in creation order.
    expect(calls.map((c) => h!.fake.jobInfo(c.id!).page)).toEqual([1, 2, 3]);
    expect(calls.map((c) => Object.keys(c.query))).toEqual([
      ['module', 'fields'],
      ['pageToken'],
      ['pageToken'],
    ]);
    expect(e.pages.map((p: { job_id: string }) => p.job_id)).toEqual(calls.map((c) => c.id));
    // The manifest was written once; nothing more happens afterwards.
    for (let i = 0; i < 5; i++) await h.tick();
    expect(calls).toHaveLength(3);
    expect(h.events.published.map((ev) => ev.detailType)).toEqual(['Export Completed']);
    expect([...h.aws.s3server.objects.keys()].filter((k) => k.includes('/_manifests/'))).toEqual([
      `exports/zoho-crm/_manifests/${id}.json`,
    ]);
    // The CSVs and Parquet files of the three pages, and the manifest: nothing else in the bucket.
    expect(h.aws.s3server.objects.size).toBe(3 * 2 + 1);
    expect(h.aws.s3server.openUploads()).toBe(0);
  });

  it('v2: follow-ups by page + 1 with the module and query again', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      fake: { perPage: 1000, moduleRecords: { Leads: 3000 } },
      config: { ZOHO_API_VERSION: 'v2' },
    });
    const calls = spyCreates(h);
    const cvid = '4150868000000087067';
    const id = await start(h, { module: 'Leads', cvid });
    await finish(h, id);
    const { m } = await expectCompleted(h, id, { pages: 3, records: 3000, version: 'v2' });
    expect(m.query).toEqual({ fields: null, criteria: null, cvid });
    expect(calls.map((c) => c.query)).toEqual([
      { module: 'Leads', cvid },
      { module: 'Leads', cvid, page: 2 },
      { module: 'Leads', cvid, page: 3 },
    ]);
  });

  it('GET /exports/{id} shows the pages as they come', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      fake: { perPage: 1000, moduleRecords: { Contacts: 1500 } },
    });
    const id = await start(h, { module: 'Contacts' });
    const seen: string[] = [];
    await tickUntil(h, async () => {
      const e = await exportOf(h!, id);
      const s = `${e.status}:${e.pages.map((p: { status: string }) => p.status).join(',')}`;
      if (seen.at(-1) !== s) seen.push(s);
      return e.status !== 'RUNNING';
    });
    expect(seen[0]).toBe('RUNNING:PENDING');
    expect(seen).toContain('RUNNING:EXPORTED,PENDING');
    expect(seen.at(-1)).toBe('COMPLETED:EXPORTED,EXPORTED');
  });

  it('Zoho fails page 2: the export FAILED with that page’s error, one Export Failed event, no manifest, no page 3', async () => {
    h = await pipelineHarness({
      backend: 'memory',
      fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } },
    });
    const id = await start(h, { module: 'Contacts' });
    await tickUntil(h, async () => ((await h!.exports.get(id))?.page_jobs.length ?? 0) >= 2);
    const page2 = (await h.exports.get(id))!.page_jobs[1]!;
    h.fake.setState(page2, 'FAILURE');
    const e = await finish(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.manifest).toBeNull();
    expect(e.error).toEqual({
      code: 'INTERNAL_SERVER_ERROR',
      message: 'Internal server error occurred.',
      page: 2,
      job_id: page2,
    });
    expect(e.pages.map((p: { status: string }) => p.status)).toEqual(['EXPORTED', 'FAILED']);
    for (let i = 0; i < 5; i++) await h.tick();
    expect(h.events.published.map((ev) => [ev.detailType, ev.detail.export_id])).toEqual([
      ['Export Failed', id],
    ]);
    expect([...h.aws.s3server.objects.keys()].filter((k) => k.includes('/_manifests/'))).toEqual([]);
    expect(h.fake.requests.filter((q) => q.kind === 'create')).toHaveLength(2);
  });
});
