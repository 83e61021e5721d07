/**
 * The export's finish on in-memory tables: the reaction each job transition stores and the sweep's
 * dispatch on it (old items without a stored reaction included), the finalize claim (two concurrent
 * finalizers write one manifest, whose completed_at is the record's), and a reconversion that dies
 * midway being finished by the sweep.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { timingFrom } from '../../lib/config.js';
import type { ExportDeps } from '../../lib/exports/deps.js';
import { ExportRequestError } from '../../lib/exports/errors.js';
import type { ExportEvent } from '../../lib/exports/events.js';
import { FINALIZE_LEASE_MS, finalizeExport } from '../../lib/exports/finalize.js';
import type { Manifest } from '../../lib/exports/manifest.js';
import { newExportId } from '../../lib/exports/model.js';
import { publishEvent } from '../../lib/exports/publish.js';
import { exportAction, legacyReaction, reactionOf, sweepAction } from '../../lib/exports/reactions.js';
import { reconvertExport } from '../../lib/exports/reconvert.js';
import { REOPEN_GRACE_MS } from '../../lib/exports/store.js';
import { sweepExports } from '../../lib/exports/sweep.js';
import type { JobRecord } from '../../lib/jobs/model.js';
import { EXPORT_FOLLOW_THROUGH_MS } from '../../lib/jobs/store.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { stores } from '../../lib/runtime.js';
import { memoryTables } from '../support/memory.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');

/** An S3 client that answers every command itself and records each PutObject. */
function recordingS3(): { s3: S3Client; puts: Array<{ key: string; body: string }> } {
  const puts: Array<{ key: string; body: string }> = [];
  const s3 = new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  s3.middlewareStack.add(
    (_next, context) => async (args) => {
      if (context.commandName === 'PutObjectCommand') {
        const key: unknown = Reflect.get(args.input, 'Key');
        const body: unknown = Reflect.get(args.input, 'Body');
        puts.push({
          key: String(key),
          body: body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : String(body),
        });
      }
      return { output: { $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'recordingS3' },
  );
  return { s3, puts };
}

/** Export deps on in-memory tables, with a clock the test moves (each reading is 1 ms later). */
function harness(extra: Partial<ExportDeps> = {}) {
  const tables = memoryTables();
  let t = T0;
  const now = () => t++;
  const timing = timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
  const s = stores(tables, timing, now);
  const { s3, puts } = recordingS3();
  const converted: string[] = [];
  const deps: ExportDeps = {
    exports: s.exports,
    jobs: s.jobs,
    zoho: {
      apiVersion: 'v8',
      getJob: unreachable,
      createJob: unreachable,
      downloadResult: unreachable,
      getFields: unreachable,
      getDeletedRecords: unreachable,
      listModules: unreachable,
    },
    config: { ZOHO_API_VERSION: 'v8', S3_PREFIX: 'zoho-crm', BUCKET: 'exports' },
    timing,
    logger: createLogger('test', 'SILENT'),
    metrics: memoryMetrics(),
    s3,
    convert: async (m) => {
      converted.push(m.job_id);
    },
    now,
    ...extra,
  };
  return {
    deps,
    tables,
    puts,
    converted,
    advance: (ms: number) => {
      t += ms;
    },
    /** A RUNNING CSV export whose `pages` pages are all EXPORTED. */
    async exportWithPages(pages: number, formats: Array<'csv' | 'parquet'> = ['csv']): Promise<string> {
      const record = s.exports.newExport({
        export_id: newExportId(now()),
        module: 'Contacts',
        source: 'api',
        query: { fields: null, criteria: null, cvid: null },
        api_version: 'v8',
        formats,
      });
      const ids = Array.from({ length: pages }, (_, i) => String(7000000000000000001n + BigInt(i)));
      expect(await s.exports.create(record, s.jobs.newJob(ids[0]!, { export_id: record.export_id }))).toBe(
        true,
      );
      const item = { ...record, page_jobs: ids, pages_created: pages };
      await tables.exports.put({ ...item });
      for (const [i, id] of ids.entries()) {
        const job: JobRecord = {
          ...s.jobs.newJob(id, { export_id: record.export_id, page: i + 1, module: 'Contacts' }),
          status: 'EXPORTED',
          records: 10,
          s3: { bucket: 'exports', key: `zoho-crm/Contacts/page-${i + 1}.csv`, bytes: 100 },
        };
        await tables.jobs.put({ ...job });
      }
      return record.export_id;
    },
  };
}

const unreachable = (): never => {
  throw new Error('this test does not talk to Zoho');
};

const job = (over: Partial<JobRecord>): JobRecord => ({
  job_id: '1',
  status: 'EXPORTED',
  zoho_state: 'COMPLETED',
  module: 'Contacts',
  page: 1,
  created_at: new Date(T0).toISOString(),
  updated_at: new Date(T0).toISOString(),
  attempts: 1,
  records: 1,
  next_check_at: T0,
  checks: 1,
  export_id: 'ex_1',
  export_pending: 'yes',
  export_due: T0,
  ...over,
});

describe('the reaction stored with each job transition', () => {
  it('every transition that flags the job stores the reaction its export needs', async () => {
    const h = harness();
    const { jobs } = h.deps;
    const reaction = async (id: string) => (await jobs.get(id))?.export_reaction;

    const a = await jobs.register('101', { export_id: 'ex_a' });
    const claim = await jobs.claimCheck(a.job, T0 + 60_000);
    if (!claim) throw new Error('no claim');
    const result = { records: 1, download_url: 'https://x/y', api_version: 'v8', more_records: true };
    const dispatch = await jobs.startDownload('101', claim, {}, result, T0 + 60_000, true);
    expect(await reaction('101')).toBe('page_completed');
    const owner = await jobs.claimDownload('101', dispatch ?? '', T0 + 60_000);
    if (!owner) throw new Error('no download claim');
    await jobs.exported('101', owner, { bucket: 'b', key: 'k', bytes: 1 }, 1, { parquet: true }, true);
    expect(await reaction('101')).toBe('page_exported');
    const conv = await jobs.claimConversion('101', T0 + 600_000);
    expect(await reaction('101')).toBe('page_converting');
    expect((await jobs.get('101'))?.export_due).toBe(T0 + 600_000);
    await jobs.conversionRetry('101', conv ?? '', { code: 'X', message: 'x' }, T0 + 120_000);
    expect(await reaction('101')).toBe('page_converting');
    h.advance(1_000_000);
    const conv2 = await jobs.claimConversion('101', Date.now() + 1e12);
    await jobs.conversionFailed('101', conv2 ?? '', { code: 'CSV_BAD_QUOTE', message: 'x' });
    expect(await reaction('101')).toBe('page_conversion_failed');
    await jobs.requestConversion('101');
    expect(await reaction('101')).toBe('page_exported');
    await jobs.exportHandled('101');
    expect((await jobs.get('101'))?.export_reaction).toBeUndefined();
    expect((await jobs.get('101'))?.export_pending).toBeUndefined();

    const b = await jobs.register('102', { export_id: 'ex_b' });
    const claimB = await jobs.claimCheck(b.job, T0 + 60_000);
    if (!claimB) throw new Error('no claim');
    await jobs.fail('102', claimB, { code: 'EXPIRED', message: 'too old' }, {}, true);
    expect(await reaction('102')).toBe('page_failed');
  });
});

describe('the sweep dispatches on the stored reaction', () => {
  const at = T0 + 10_000;
  it('each stored reaction maps to its action', () => {
    expect(sweepAction(job({ export_reaction: 'page_completed', status: 'DOWNLOADING' }), at, 5)).toEqual({
      kind: 'want-next-page',
    });
    expect(sweepAction(job({ export_reaction: 'page_failed', status: 'FAILED' }), at, 5)).toEqual({
      kind: 'recover-or-fail',
    });
    expect(sweepAction(job({ export_reaction: 'page_exported' }), at, 5)).toEqual({
      kind: 'finalize',
      wantNextPage: false,
    });
    expect(sweepAction(job({ export_reaction: 'page_exported', more_records: true }), at, 5)).toEqual({
      kind: 'finalize',
      wantNextPage: true,
    });
    expect(
      sweepAction(
        job({ export_reaction: 'page_exported', parquet_wanted: true, parquet_status: 'PENDING' }),
        at,
        5,
      ),
    ).toEqual({ kind: 'convert', lookAgainAt: at + 5, wantNextPage: false });
    const converting = job({
      export_reaction: 'page_converting',
      parquet_wanted: true,
      parquet_status: 'CONVERTING',
      parquet_until: at + 1000,
    });
    expect(sweepAction(converting, at, 5)).toEqual({ kind: 'wait', until: at + 1000 });
    expect(sweepAction(converting, at + 1001, 5)).toEqual({
      kind: 'convert',
      lookAgainAt: at + 1006,
      wantNextPage: false,
    });
    for (const r of ['page_converted', 'page_conversion_failed'] as const) {
      expect(sweepAction(job({ export_reaction: r, parquet_wanted: true }), at, 5)).toEqual({
        kind: 'finalize',
        wantNextPage: false,
      });
    }
  });

  it('an item written by the old code (flag, no reaction) is handled by the old derivation', () => {
    expect(legacyReaction(job({ status: 'FAILED' }))).toBe('page_failed');
    expect(legacyReaction(job({ status: 'DOWNLOADING', more_records: true }))).toBe('page_completed');
    expect(legacyReaction(job({}))).toBe('page_exported');
    expect(legacyReaction(job({ parquet_wanted: true, parquet_status: 'PENDING' }))).toBe('page_exported');
    expect(legacyReaction(job({ parquet_wanted: true, parquet_status: 'CONVERTING' }))).toBe(
      'page_converting',
    );
    expect(legacyReaction(job({ parquet_wanted: true, parquet_status: 'DONE' }))).toBe('page_converted');
    expect(legacyReaction(job({ parquet_wanted: true, parquet_status: 'FAILED' }))).toBe(
      'page_conversion_failed',
    );
    const old = job({ parquet_wanted: true, parquet_status: 'CONVERTING', parquet_until: T0 - 1 });
    expect(reactionOf(old)).toBe('page_converting');
    expect(sweepAction(old, T0, 5).kind).toBe('convert');
  });

  it("an export's attention: reconversion, event, wanted page, adoption window, take-over", () => {
    const opts = { callbacks: true, adoptWindowMs: 1000 };
    const e = {
      export_id: 'ex_1',
      kind: 'export' as const,
      status: 'RUNNING' as const,
      source: 'api' as const,
      query: { fields: null, criteria: null, cvid: null },
      api_version: 'v8',
      formats: ['csv' as const],
      mode: 'full' as const,
      created_at: '',
      updated_at: '',
      completed_at: null,
      export_date: '2026-12-07',
      page_jobs: ['1'],
      manifest: null,
      error: null,
    };
    expect(exportAction({ ...e, reconvert_pending: 'yes', event_pending: 'yes' }, T0, opts).kind).toBe(
      'resume-reconversion',
    );
    expect(exportAction({ ...e, event_pending: 'yes' }, T0, opts).kind).toBe('publish-event');
    expect(exportAction(e, T0, opts).kind).toBe('none');
    expect(exportAction({ ...e, intent_page: 2, intent_state: 'wanted' }, T0, opts).kind).toBe(
      'create-wanted-page',
    );
    const creating = { ...e, intent_page: 2, intent_state: 'creating' as const, intent_tried_at: T0 };
    expect(exportAction(creating, T0 + 10, opts)).toEqual({ kind: 'await-callback', until: T0 + 1000 });
    expect(exportAction(creating, T0 + 1000, opts).kind).toBe('take-over-intent');
    expect(exportAction(creating, T0 + 10, { ...opts, callbacks: false }).kind).toBe('take-over-intent');
  });

  it('a left-over page_exported reaction is run by the sweep: the export completes, the flag goes', async () => {
    const h = harness();
    const id = await h.exportWithPages(1);
    const e = await h.deps.exports.get(id);
    const jobId = e?.page_jobs[0] ?? '';
    const j = await h.deps.jobs.get(jobId);
    await h.tables.jobs.put({
      ...j,
      export_pending: 'yes',
      export_due: T0,
      export_reaction: 'page_exported',
    });
    h.advance(EXPORT_FOLLOW_THROUGH_MS);
    const summary = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(summary).toMatchObject({ followedThrough: 1, completed: 1 });
    expect((await h.deps.exports.get(id))?.status).toBe('COMPLETED');
    expect((await h.deps.jobs.get(jobId))?.export_pending).toBeUndefined();
  });

  it('a page_exported reaction that replaced page_completed (the poller died) still gets the next page created', async () => {
    const asked: string[] = [];
    const h = harness();
    h.deps.zoho = {
      ...h.deps.zoho,
      createJob: async (q) => {
        asked.push(q.pageToken ?? '');
        return { id: '7000000000000000099', state: 'ADDED' };
      },
    };
    const id = await h.exportWithPages(1);
    const jobId = (await h.deps.exports.get(id))?.page_jobs[0] ?? '';
    const j = await h.deps.jobs.get(jobId);
    // COMPLETED with more records, then EXPORTED before anyone wanted page 2: only page_exported is left.
    await h.tables.jobs.put({
      ...j,
      more_records: true,
      next_page_token: 'tok-2',
      api_version: 'v8',
      export_pending: 'yes',
      export_due: T0,
      export_reaction: 'page_exported',
    });
    h.advance(EXPORT_FOLLOW_THROUGH_MS);
    const summary = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(summary.pagesCreated).toBe(1);
    expect(asked).toEqual(['tok-2']);
    const e = await h.deps.exports.get(id);
    expect(e?.page_jobs).toEqual([jobId, '7000000000000000099']);
    expect(e?.status).toBe('RUNNING');
    expect((await h.deps.jobs.get(jobId))?.export_pending).toBeUndefined();
  });
});

describe('finalizeExport', () => {
  it('two concurrent finalizers: one manifest write, and its completed_at is the record’s', async () => {
    const h = harness();
    const id = await h.exportWithPages(2);
    const outcomes = await Promise.all([finalizeExport(h.deps, id), finalizeExport(h.deps, id)]);
    const manifests = h.puts.filter((p) => p.key.includes('manifest'));
    // The old order (manifest first, then the conditional complete) wrote it twice.
    expect(manifests).toHaveLength(1);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['busy', 'completed']);
    const manifest: Manifest = JSON.parse(manifests[0]?.body ?? '{}');
    const record = await h.deps.exports.get(id);
    expect(record?.status).toBe('COMPLETED');
    expect(manifest.completed_at).toBe(record?.completed_at);
    expect(record?.manifest?.key).toBe(manifests[0]?.key);
    expect(record?.finalize_owner).toBeUndefined();
  });

  it('a finalizer that died holding the claim is taken over once its lease has run out', async () => {
    const h = harness();
    const id = await h.exportWithPages(1);
    const e = await h.deps.exports.get(id);
    if (!e) throw new Error('no export');
    expect(await h.deps.exports.claimFinalize(e, FINALIZE_LEASE_MS)).toBeDefined();
    const busy = await finalizeExport(h.deps, id);
    expect(busy.kind).toBe('busy');
    expect(h.puts).toHaveLength(0);
    h.advance(FINALIZE_LEASE_MS + 1);
    expect((await finalizeExport(h.deps, id)).kind).toBe('completed');
    expect(h.puts).toHaveLength(1);
  });

  it('a failure while finishing releases the claim: the next attempt goes ahead at once', async () => {
    const h = harness();
    const id = await h.exportWithPages(1);
    const { s3 } = recordingS3();
    s3.middlewareStack.add(
      () => async () => {
        throw new Error('S3 is down (test)');
      },
      { step: 'initialize', name: 'down', priority: 'high' },
    );
    await expect(finalizeExport({ ...h.deps, s3 }, id)).rejects.toThrow('S3 is down');
    expect((await h.deps.exports.get(id))?.finalize_owner).toBeUndefined();
    expect((await finalizeExport(h.deps, id)).kind).toBe('completed');
  });
});

describe('publishEvent', () => {
  /** An event bus that answers after a turn of the event loop, as PutEvents does. */
  const slowBus = (fail = 0) => {
    const published: ExportEvent[] = [];
    let failures = fail;
    return {
      published,
      publish: async (e: ExportEvent) => {
        await new Promise((r) => setTimeout(r, 5));
        if (failures-- > 0) throw new Error('PutEvents throttled');
        published.push(e);
      },
    };
  };

  it('two publishers at once (the finalizer and the sweep) send the completion event once', async () => {
    const bus = slowBus();
    const h = harness({ events: bus });
    const id = await h.exportWithPages(1);
    const done = await finalizeExport({ ...h.deps, events: undefined }, id);
    expect(done.kind).toBe('completed');
    expect((await h.deps.exports.get(id))?.event_pending).toBe('yes');
    const sent = await Promise.all([publishEvent(h.deps, id), publishEvent(h.deps, id)]);
    // Without the claim both read event_pending and both published.
    expect(bus.published).toHaveLength(1);
    expect(sent.filter(Boolean)).toHaveLength(1);
    const after = await h.deps.exports.get(id);
    expect(after?.event_pending).toBeUndefined();
    expect(after?.event_owner).toBeUndefined();
  });

  it('a failed send gives the claim back: the next try sends it at once', async () => {
    const bus = slowBus(1);
    const h = harness({ events: bus });
    const id = await h.exportWithPages(1);
    await finalizeExport({ ...h.deps, events: undefined }, id);
    expect(await publishEvent(h.deps, id)).toBe(false);
    expect((await h.deps.exports.get(id))?.event_owner).toBeUndefined();
    expect(await publishEvent(h.deps, id)).toBe(true);
    expect(bus.published).toHaveLength(1);
  });
});

describe('reconvertExport', () => {
  it('a request that dies midway leaves the export for the sweep, which requests the pages left', async () => {
    const h = harness();
    const id = await h.exportWithPages(3);
    expect((await finalizeExport(h.deps, id)).kind).toBe('completed');
    let sent = 0;
    const dying: ExportDeps = {
      ...h.deps,
      convert: async (m) => {
        if (++sent === 2) throw new Error('SQS is down (test)');
        h.converted.push(m.job_id);
      },
    };
    await expect(reconvertExport(dying, id)).rejects.toThrow('SQS is down');
    const reopened = await h.deps.exports.get(id);
    expect(reopened?.status).toBe('RUNNING');
    expect(reopened?.reconvert_pending).toBe('yes');
    const pages = reopened?.page_jobs ?? [];
    expect(h.converted).toEqual([pages[0]]);
    expect((await h.deps.jobs.get(pages[2] ?? ''))?.parquet_status).toBeUndefined();

    // Not before the grace: the request may still be running.
    await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(h.converted).toEqual([pages[0]]);
    h.advance(REOPEN_GRACE_MS);
    await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    // Page 3 was never requested: the export's pass requests it. Page 2 was requested but its message
    // was lost: its own flag (reaction page_exported) dispatches it again, as does page 1's flag (the
    // test's converter never converts); every page is on its way.
    expect(h.converted.slice(1, 2)).toEqual([pages[2]]);
    expect(new Set(h.converted)).toEqual(new Set(pages));
    for (const p of pages) expect((await h.deps.jobs.get(p))?.parquet_status).toBe('PENDING');
    const after = await h.deps.exports.get(id);
    expect(after?.reconvert_pending).toBeUndefined();
    expect(after?.status).toBe('RUNNING');
  });
});

describe('ExportRequestError', () => {
  it('is a CodedError whose kind follows its status, with status, code and Retry-After readable', () => {
    const cases = [
      [400, 'invalid'],
      [404, 'not_found'],
      [409, 'conflict'],
      [503, 'unavailable'],
    ] as const;
    for (const [status, kind] of cases) {
      const e = new ExportRequestError(status, 'X', 'm', 2);
      expect(e).toMatchObject({
        status,
        kind,
        code: 'X',
        httpStatus: status,
        retryAfterSeconds: 2,
        message: 'm',
      });
      expect(e.name).toBe('ExportRequestError');
    }
  });
});
