/**
 * Starting an export on the memory backend: `POST /exports` (and `startExport` itself) creates the
 * first Zoho job during the request and records the export with its page 1; an Idempotency-Key replay
 * answers the same export without asking Zoho again; Zoho's refusal writes nothing and leaves the key
 * free.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ExportRequestError } from '../../lib/exports/errors.js';
import { EXPORT_ID_PATTERN } from '../../lib/exports/model.js';
import { startExport } from '../../lib/exports/start.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import type { FakeZohoOptions } from '../../local/fake-zoho/index.js';
import { apiOf, creates, snapshot, spyCreates } from '../support/exports.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';

let h: Harness<MemoryStorage> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const memory = (fake?: FakeZohoOptions) => pipelineHarness({ backend: 'memory', ...(fake ? { fake } : {}) });

const Q = { module: 'Contacts', fields: ['Last_Name', 'Email'] };
const post = (hh: Harness<MemoryStorage>, body: unknown, key?: string) =>
  apiOf(hh)('POST', '/exports', {
    body: JSON.stringify(body),
    ...(key !== undefined ? { headers: { 'Idempotency-Key': key } } : {}),
  });

describe('POST /exports', () => {
  it('201: the export RUNNING with page 1 (the Zoho job created during the request), one export and one job stored', async () => {
    h = await memory();
    const calls = spyCreates(h);
    const at = new Date(h.clock.now()).toISOString();
    const r = await post(h, Q);
    expect(r.status).toBe(201);
    const id: string = r.body.export_id;
    expect(id).toMatch(EXPORT_ID_PATTERN);
    expect(r.headers.location).toBe(`/exports/${id}`);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.query).toEqual(Q);
    expect(calls[0]!.opts?.version).toBe('v8');
    const jobId = calls[0]!.id!;
    expect(r.body).toStrictEqual({
      export_id: id,
      module: 'Contacts',
      status: 'RUNNING',
      source: 'api',
      mode: 'full',
      since: null,
      formats: ['csv', 'parquet'],
      query: { fields: Q.fields, criteria: null, cvid: null },
      created_at: at,
      updated_at: at,
      completed_at: null,
      pages: [
        {
          page: 1,
          job_id: jobId,
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
    const tables = await snapshot(h);
    expect(tables.exports).toHaveLength(1);
    expect(tables.jobs).toHaveLength(1);
    expect(tables.idempotency).toEqual([]);
    expect(await h.exports.get(id)).toMatchObject({
      status: 'RUNNING',
      page_jobs: [jobId],
      pages_created: 1,
    });
    expect(await h.jobs.get(jobId)).toMatchObject({
      job_id: jobId,
      status: 'PENDING',
      export_id: id,
      page: 1,
      module: 'Contacts',
      api_version: 'v8',
      export_source: 'api',
      parquet_wanted: true,
    });
    expect(h.metrics.counts.ExportsStarted).toBe(1);
  });

  it('startExport directly: created, the record with its first page; Zoho asked once', async () => {
    h = await memory();
    const r = await startExport(h.exportDeps, {
      query: { module: 'Leads', cvid: '77' },
      source: 'schedule:nightly',
    });
    expect(r.created).toBe(true);
    expect(r.record).toMatchObject({
      module: 'Leads',
      source: 'schedule:nightly',
      status: 'RUNNING',
      page_jobs: [creates(h)[0]!.jobId],
      pages_created: 1,
      query: { fields: null, criteria: null, cvid: '77' },
    });
    expect(creates(h)).toHaveLength(1);
    expect(h.fake.jobInfo(r.record.page_jobs[0]!)).toMatchObject({ module: 'Leads', page: 1 });
    expect((await h.exports.get(r.record.export_id))?.page_jobs).toEqual(r.record.page_jobs);
  });
});

describe('POST /jobs: a Zoho job made elsewhere starts an export of its own', () => {
  it('201 with the export (source "job"); registering again is 200 and writes nothing; it completes with the job’s bytes', async () => {
    h = await memory();
    const api = apiOf(h);
    const seeded = h.fake.addJob({ module: 'Leads', totalRecords: 30 });
    const reg = await api('POST', '/jobs', { body: JSON.stringify({ job_id: seeded.id }) });
    expect(reg.status).toBe(201);
    expect(reg.headers.location).toBe(`/jobs/${seeded.id}`);
    const exportId: string = reg.body.export_id;
    expect(exportId).toMatch(EXPORT_ID_PATTERN);
    expect(await h.exports.get(exportId)).toMatchObject({
      source: 'job',
      status: 'RUNNING',
      page_jobs: [seeded.id],
    });
    // Its module is learnt from Zoho's first status.
    expect((await h.exports.get(exportId))!.module ?? null).toBeNull();
    const before = await snapshot(h);
    const again = await api('POST', '/jobs', { body: JSON.stringify({ job_id: seeded.id }) });
    expect([again.status, again.body.export_id]).toEqual([200, exportId]);
    expect(await snapshot(h)).toEqual(before);
    expect(creates(h)).toHaveLength(0);
    const [job] = await h.settle();
    // The S3 object is Zoho's CSV byte for byte, with the job's id in its metadata.
    await h.expectExportedExactly(job!);
    const e = (await api('GET', `/exports/${exportId}`)).body;
    expect([e.status, e.module, e.records]).toEqual(['COMPLETED', 'Leads', 30]);
  });
});

describe('Idempotency-Key', () => {
  it('a replay answers 200 with the same export; Zoho was asked once; nothing more written', async () => {
    h = await memory();
    const first = await post(h, Q, 'key-1');
    expect(first.status).toBe(201);
    const tables = await snapshot(h);
    expect(tables.idempotency).toHaveLength(1);
    expect(tables.idempotency[0]).toMatchObject({ state: 'done', export_id: first.body.export_id });
    h.clock.advance(3600_000);
    const again = await post(h, Q, 'key-1');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(creates(h)).toHaveLength(1);
    expect(await snapshot(h)).toEqual(tables);
    // startExport with the same key: created false, the same record.
    const direct = await startExport(h.exportDeps, { query: Q, source: 'api', idempotencyKey: 'key-1' });
    expect(direct.created).toBe(false);
    expect(direct.record.export_id).toBe(first.body.export_id);
    expect(creates(h)).toHaveLength(1);
  });

  it('the same key with another body: 409 IDEMPOTENCY_KEY_REUSED, no Zoho call, nothing written', async () => {
    h = await memory();
    expect((await post(h, Q, 'key-1')).status).toBe(201);
    const before = await snapshot(h);
    const r = await post(h, { module: 'Leads' }, 'key-1');
    expect([r.status, r.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    expect(creates(h)).toHaveLength(1);
    expect(await snapshot(h)).toEqual(before);
  });

  it('4 concurrent identical requests: one Zoho create, one 201 and three 200, one export', async () => {
    h = await memory();
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(h!, Q, 'burst')));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.export_id)).size).toBe(1);
    expect(creates(h)).toHaveLength(1);
    const tables = await snapshot(h);
    expect([tables.exports.length, tables.jobs.length, tables.idempotency.length]).toEqual([1, 1, 1]);
  });
});

describe('Zoho refuses the first job: nothing is written', () => {
  it.each([
    ['an unknown module', { module: 'Not_A_Module' }, 'INVALID_MODULE'],
    ['Notes', { module: 'Notes' }, 'MODULE_NOT_SUPPORTED'],
    ['an unknown field', { module: 'Contacts', fields: ['Last_Name', 'No_Such_Field'] }, 'INVALID_DATA'],
  ])('%s → 400 %s; the key is free for a good request', async (_n, body, code) => {
    h = await memory();
    const r = await post(h, body, `k-${code}`);
    expect([r.status, r.body.error.code]).toEqual([400, code]);
    expect(Object.keys(r.body)).toEqual(['error']);
    expect(r.headers.location).toBeUndefined();
    expect(await snapshot(h)).toEqual({ exports: [], jobs: [], idempotency: [] });
    expect(creates(h).map((c) => c.status)).toEqual([400]);
    // The key was released: the good request with it creates an export.
    const ok = await post(h, Q, `k-${code}`);
    expect(ok.status).toBe(201);
  });

  it('Zoho’s 500: a 503 with Retry-After, nothing written', async () => {
    h = await memory();
    h.fake.inject({ kind: 'create', action: { type: 'error', code: 'INTERNAL_ERROR', status: 500 } });
    const r = await post(h, Q, 'k-500');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(await snapshot(h)).toEqual({ exports: [], jobs: [], idempotency: [] });
  });

  it('startExport directly: the ZohoError is thrown, the tables stay empty', async () => {
    h = await memory({ dailyJobLimit: 0 });
    const err = await startExport(h.exportDeps, { query: Q, source: 'api', idempotencyKey: 'k' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ZohoError);
    expect(err).not.toBeInstanceOf(ExportRequestError);
    expect((err as ZohoError).code).toBe('LIMIT_EXCEEDED');
    expect(h.aws.memory.exports.all()).toEqual([]);
    expect(h.aws.memory.jobs.all()).toEqual([]);
    expect(h.aws.memory.state.all().filter((i) => String(i.pk).startsWith('idem#'))).toEqual([]);
  });
});
