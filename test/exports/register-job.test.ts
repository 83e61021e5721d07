/**
 * `POST /jobs` (a Zoho job created elsewhere) also creates an export, `source: "job"`: the job JSON
 * names it, its follow-up pages belong to it, its files keep the legacy key
 * `{prefix}/module=M/export_date=D/{job_id}.csv`, and it completes with a manifest and one event.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { apiOf, crc32Hex, csvHeader, fakeCsv, snapshot, tickUntil } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('POST /jobs owns an export', () => {
  it('a registered three-page job: one export (source "job"), legacy keys, a manifest, one event', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000 } });
    const api = apiOf(h);
    const seeded = h.fake.addJob({ module: 'Contacts', totalRecords: 2500, fields: ['Last_Name', 'Email'] });
    const reg = await api('POST', '/jobs', { body: JSON.stringify({ job_id: seeded.id }) });
    expect(reg.status).toBe(201);
    expect(reg.headers.location).toBe(`/jobs/${seeded.id}`);
    const exportId: string = reg.body.export_id;
    expect(exportId).toMatch(/^ex_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(Object.keys(reg.body)).toContain('export_id');
    expect((await api('GET', `/jobs/${seeded.id}`)).body.export_id).toBe(exportId);

    const e0 = (await api('GET', `/exports/${exportId}`)).body;
    expect(e0).toMatchObject({
      export_id: exportId,
      source: 'job',
      status: 'RUNNING',
      pages: [{ page: 1, job_id: seeded.id, status: 'PENDING', records: null, s3: null }],
      manifest: null,
      error: null,
    });

    // Registering it again: the same job and export, nothing new.
    const before = await snapshot(h);
    const again = await api('POST', '/jobs', { body: JSON.stringify({ job_id: seeded.id }) });
    expect(again.status).toBe(200);
    expect(again.body.export_id).toBe(exportId);
    expect(await snapshot(h)).toEqual(before);

    await tickUntil(h, async () => (await h!.exports.get(exportId))?.status !== 'RUNNING');
    const e = (await api('GET', `/exports/${exportId}`)).body;
    expect(e.status).toBe('COMPLETED');
    expect(e.module).toBe('Contacts');
    expect(e.pages).toHaveLength(3);
    expect(e.records).toBe(2500);
    const rec = (await h.exports.get(exportId))!;
    const prefix = h.config.S3_PREFIX;
    const manifestPages = [];
    let bytes = 0;
    for (const p of e.pages) {
      const job = (await api('GET', `/jobs/${p.job_id}`)).body;
      expect(job.export_id).toBe(exportId);
      expect(job.page).toBe(p.page);
      const key = `${prefix}/module=Contacts/export_date=${rec.export_date}/${p.job_id}.csv`;
      expect(job.s3).toEqual({ bucket: h.aws.bucket, key, bytes: p.s3.bytes });
      expect(p.s3.key).toBe(key);
      const csv = await fakeCsv(h, p.job_id);
      expect((await h.objectBytes(key)).equals(csv)).toBe(true);
      bytes += csv.length;
      // Its Parquet: the legacy name under parquet/, one row per record.
      const parquetKey = `${prefix}/parquet/module=Contacts/export_date=${rec.export_date}/${p.job_id}.parquet`;
      const record = (await h.jobs.get(p.job_id))!;
      expect(record.parquet).toMatchObject({ key: parquetKey, rows: p.records });
      expect((await h.objectBytes(parquetKey)).length).toBe(record.parquet!.bytes);
      manifestPages.push({
        page: p.page,
        job_id: p.job_id,
        records: p.records,
        csv: { bucket: h.aws.bucket, key, bytes: csv.length, crc32: crc32Hex(csv) },
        header: csvHeader(csv),
        parquet: record.parquet,
      });
    }
    expect(e.pages[0].job_id).toBe(seeded.id);
    expect((await api('GET', `/jobs/${e.pages[1].job_id}`)).body.previous_job_id).toBe(seeded.id);
    // Only the exporter's three files (no export-style duplicates).
    expect((await h.objectKeys()).sort()).toEqual(manifestPages.map((p) => p.csv.key).sort());

    const m = JSON.parse((await h.objectBytes(`${prefix}/_manifests/${exportId}.json`)).toString('utf8'));
    expect(m).toStrictEqual({
      manifest_version: 1,
      export_id: exportId,
      module: 'Contacts',
      source: 'job',
      query: e.query,
      zoho_api_version: 'v8',
      mode: 'full',
      formats: ['csv', 'parquet'],
      created_at: e.created_at,
      completed_at: e.completed_at,
      export_date: rec.export_date,
      pages: manifestPages,
      totals: { pages: 3, records: 2500, bytes },
      catalog: { database: 'zoho_crm', table: 'zoho_contacts', created: true, added: [], type_changes: [] },
    });
    // The export learnt the query from Zoho's first status.
    expect(e.query).toEqual({ fields: ['Last_Name', 'Email'], criteria: null, cvid: null });

    expect(h.events.published).toHaveLength(1);
    expect(h.events.published[0]).toMatchObject({
      detailType: 'Export Completed',
      detail: { export_id: exportId, source: 'job', pages: 3, manifest: e.manifest },
    });
    const exports = (await api('GET', '/exports')).body.exports;
    expect(exports.map((x: { export_id: string }) => x.export_id)).toEqual([exportId]);
  });

  it('a registered job Zoho does not know: its export FAILED with RESOURCE_NOT_FOUND', async () => {
    h = await pipelineHarness();
    const reg = await apiOf(h)('POST', '/jobs', { body: JSON.stringify({ job_id: '7777777777777777777' }) });
    expect(reg.status).toBe(201);
    const id: string = reg.body.export_id;
    await tickUntil(h, async () => (await h!.exports.get(id))?.status !== 'RUNNING', { maxTicks: 20 });
    const e = (await apiOf(h)('GET', `/exports/${id}`)).body;
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'RESOURCE_NOT_FOUND', page: 1, job_id: '7777777777777777777' });
    expect(h.events.published.map((ev) => ev.detailType)).toEqual(['Export Failed']);
  });
});
