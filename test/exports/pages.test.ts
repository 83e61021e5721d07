/**
 * An export of a module with more than one page of records exports every page: follow-ups with
 * `page_token` on v8 and `page` + 1 on v2, every page under the export's one partition (even across
 * midnight), each object byte-identical to Zoho's CSV, then one manifest (checked field by field), then
 * COMPLETED, then one event. A failing page fails the export (one `Export Failed` event); an event that
 * cannot be published is retried by the sweep and goes out exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EXPORT_ID_PATTERN } from '../../lib/exports/model.js';
import { readExport } from '../../lib/exports/read.js';
import { apiOf, expectCompleted, exportOf, finish, spyCreates, tickUntil } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('every page of an export', () => {
  it('v8: three pages through page_token, one partition, exact bytes, one manifest, COMPLETED, one event', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } } });
    const calls = spyCreates(h);
    const fields = ['Last_Name', 'Email', 'Account_Name.Account_Name', 'Owner.email'];
    const t0 = h.clock.now();
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Contacts', fields }) });
    expect(r.status).toBe(201);
    const id: string = r.body.export_id;
    expect(id).toMatch(EXPORT_ID_PATTERN);
    expect(r.headers.location).toBe(`/exports/${id}`);
    const at = new Date(t0).toISOString();
    expect(r.body).toStrictEqual({
      export_id: id,
      module: 'Contacts',
      status: 'RUNNING',
      source: 'api',
      mode: 'full',
      since: null,
      formats: ['csv', 'parquet'],
      query: { fields, criteria: null, cvid: null },
      created_at: at,
      updated_at: at,
      completed_at: null,
      pages: [
        {
          page: 1,
          job_id: calls[0]!.id,
          status: 'PENDING',
          records: null,
          s3: null,
          parquet: { status: 'PENDING', bucket: null, key: null, bytes: null, rows: null, row_groups: null },
        },
      ],
      records: 0,
      bytes: 0,
      manifest: null,
      error: null,
    });
    // The first job was created during the request, with the query.
    expect(calls).toHaveLength(1);
    expect(calls[0]!.query).toEqual({ module: 'Contacts', fields });
    expect(calls[0]!.opts?.version).toBe('v8');

    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    // Follow-ups by page_token (Zoho's next_page_token of the page before), no module or page.
    expect(calls).toHaveLength(3);
    for (const c of calls.slice(1)) {
      expect(Object.keys(c.query)).toEqual(['pageToken']);
      expect(c.query.pageToken).toMatch(/\S/);
    }
    expect(h.fake.requests.filter((q) => q.kind === 'create')).toHaveLength(3);
    // Nothing happens afterwards: no more creates, no second event.
    for (let i = 0; i < 5; i++) await h.tick();
    expect(h.fake.requests.filter((q) => q.kind === 'create')).toHaveLength(3);
    expect(h.events.published).toHaveLength(1);
    expect((await h.exports.get(id))!.event_pending).toBeUndefined();
  });

  it('v2: follow-ups with page + 1 and the module and query again', async () => {
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Leads: 3000 } },
      config: { ZOHO_API_VERSION: 'v2' },
    });
    const calls = spyCreates(h);
    const criteria = {
      api_name: 'Created_Time',
      comparator: 'greater_than',
      value: '2000-01-01T00:00:00+00:00',
    };
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Leads', criteria }) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.export_id;
    await finish(h, id);
    const { m } = await expectCompleted(h, id, { pages: 3, records: 3000, version: 'v2' });
    expect(m.query).toEqual({ fields: null, criteria, cvid: null });
    expect(calls.map((c) => c.query)).toEqual([
      { module: 'Leads', criteria },
      { module: 'Leads', criteria, page: 2 },
      { module: 'Leads', criteria, page: 3 },
    ]);
    expect(calls.every((c) => c.opts?.version === 'v2')).toBe(true);
  });

  it('pages finishing after midnight UTC stay in the export’s partition (its creation date)', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Deals: 2200 } } });
    const now = h.clock.now();
    const midnight = Math.ceil(now / 86_400_000) * 86_400_000;
    h.clock.advance(midnight - now - 90_000); // 23:58:30 UTC
    const day = new Date(h.clock.now()).toISOString().slice(0, 10);
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Deals' }) });
    const id: string = r.body.export_id;
    await finish(h, id);
    const { e, m } = await expectCompleted(h, id, { pages: 3, records: 2200, version: 'v8' });
    expect(m.export_date).toBe(day);
    expect(e.completed_at.slice(0, 10)).not.toBe(day);
    for (const p of e.pages) {
      expect(p.s3.key).toContain(`/export_date=${day}/`);
      // Every follow-up was created (and every page finished) on the next day.
      if (p.page > 1) expect((await h.jobs.get(p.job_id))!.created_at.slice(0, 10)).not.toBe(day);
    }
    expect(
      (await h.objectKeys()).every((k) => k.includes(`/export_date=${day}/`)),
      (await h.objectKeys()).join('\n'),
    ).toBe(true);
  });

  it('GET /exports/{id} shows the pages as they come', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Contacts: 1500 } } });
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Contacts' }) });
    const id: string = r.body.export_id;
    const seen = new Set<string>();
    await tickUntil(h, async () => {
      const e = await exportOf(h!, id);
      seen.add(`${e.status}:${e.pages.map((p: { status: string }) => p.status).join(',')}`);
      return e.status !== 'RUNNING';
    });
    expect(seen.has('RUNNING:PENDING')).toBe(true);
    expect([...seen].some((s) => s.startsWith('RUNNING:') && s.split(',').length === 2)).toBe(true);
    expect([...seen].at(-1)).toBe('COMPLETED:EXPORTED,EXPORTED');
  });
});

describe('a page that fails fails the export', () => {
  it('Zoho reports FAILURE for page 2: export FAILED with that page’s error, one Export Failed event, no manifest', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } } });
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Contacts' }) });
    const id: string = r.body.export_id;
    await tickUntil(h, async () => ((await h!.exports.get(id))?.page_jobs.length ?? 0) >= 2);
    const page2 = (await h.exports.get(id))!.page_jobs[1]!;
    h.fake.setState(page2, 'FAILURE');
    const e = await finish(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.manifest).toBeNull();
    expect(e.completed_at).not.toBeNull();
    expect(e.error).toEqual({
      code: 'INTERNAL_SERVER_ERROR',
      message: 'Internal server error occurred.',
      page: 2,
      job_id: page2,
    });
    expect(e.pages.find((p: { page: number }) => p.page === 2).status).toBe('FAILED');
    for (let i = 0; i < 6; i++) await h.tick();
    const mine = h.events.published.filter((ev) => ev.detail.export_id === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.detailType).toBe('Export Failed');
    expect(mine[0]!.source).toBe('zoho-crm-bulk-export');
    expect(mine[0]!.detail.error).toEqual(e.error);
    expect(mine[0]!.detail.status).toBe('FAILED');
    expect(mine[0]!.detail.manifest).toBeNull();
    expect((await h.objectKeys()).filter((k) => k.includes('_manifests'))).toEqual([]);
    // No page after the failed one was created.
    expect(h.fake.requests.filter((q) => q.kind === 'create')).toHaveLength(2);
    expect((await exportOf(h, id)).status).toBe('FAILED');
  });

  it('a persistent download fault on page 1: export FAILED with the download’s code', async () => {
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Leads: 1800 } },
      config: { MAX_DOWNLOAD_ATTEMPTS: '2' },
    });
    const calls = spyCreates(h);
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Leads' }) });
    const id: string = r.body.export_id;
    const page1 = calls[0]!.id!;
    h.fake.inject({
      kind: 'download',
      jobId: page1,
      times: Number.POSITIVE_INFINITY,
      action: { type: 'corrupt', what: 'crc' },
    });
    const e = await finish(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'ZIP_CRC_MISMATCH', page: 1, job_id: page1 });
    expect(e.manifest).toBeNull();
    await h.settle();
    for (let i = 0; i < 3; i++) await h.tick();
    const mine = h.events.published.filter((ev) => ev.detail.export_id === id);
    expect(mine.map((ev) => ev.detailType)).toEqual(['Export Failed']);
    expect((await exportOf(h, id)).status).toBe('FAILED');
    expect((await h.objectKeys()).filter((k) => k.includes('_manifests'))).toEqual([]);
  });
});

describe('the completion event', () => {
  it('a publish failure is retried by the poller’s sweep; the export stays COMPLETED; one event', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Contacts: 1200 } } });
    h.events.failNext = 3;
    const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify({ module: 'Contacts' }) });
    const id: string = r.body.export_id;
    await finish(h, id);
    const rec = (await h.exports.get(id))!;
    expect(rec.status).toBe('COMPLETED');
    expect(h.events.published).toHaveLength(0);
    expect(rec.event_pending).toBe('yes');
    // The sweep (each poller tick) tries again until it goes out.
    await tickUntil(h, async () => h!.events.published.length > 0, { maxTicks: 10 });
    expect(h.events.failNext).toBe(0);
    for (let i = 0; i < 5; i++) await h.tick();
    expect(h.events.published).toHaveLength(1);
    expect((await h.exports.get(id))!.event_pending).toBeUndefined();
    const e = await readExport(h.exportDeps, id);
    expect(e!.status).toBe('COMPLETED');
    const { pages, ...summary } = e!;
    expect(h.events.published[0]!.detail).toEqual({
      ...summary,
      updated_at: expect.any(String),
      pages: pages.length,
    });
    expect(h.events.published[0]!.detailType).toBe('Export Completed');
    expect(h.events.published[0]!.detail.manifest).toEqual(e!.manifest);
  });
});
