/**
 * The poller's sweep on in-memory tables: it pages through everything due within the tick's deadline,
 * and an item it fails on moves back in its index with a backoff counted on the item instead of
 * blocking the items behind it (before, 50 failing items stranded every other export in RUNNING).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { timingFrom } from '../../lib/config.js';
import type { ExportDeps } from '../../lib/exports/deps.js';
import type { ExportEvent } from '../../lib/exports/events.js';
import { type ExportRecord, newExportId } from '../../lib/exports/model.js';
import { createWantedPage } from '../../lib/exports/pages.js';
import { sweepExports } from '../../lib/exports/sweep.js';
import type { JobRecord } from '../../lib/jobs/model.js';
import { MAX_FOLLOW_UP_ATTEMPTS } from '../../lib/jobs/retry.js';
import { EXPORT_FOLLOW_THROUGH_MS } from '../../lib/jobs/store.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { stores } from '../../lib/runtime.js';
import type { ZohoClient } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryTables } from '../support/memory.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const FAILING = 60;

/** An S3 client that accepts every command without a network. */
function acceptingS3(): S3Client {
  const s3 = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
  s3.middlewareStack.add(() => async () => ({ output: { $metadata: {} }, response: {} }), {
    step: 'initialize',
    name: 'accept',
  });
  return s3;
}

function harness(createJob?: ZohoClient['createJob']) {
  const tables = memoryTables();
  let t = T0;
  const now = () => t;
  const timing = timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
  const s = stores(tables, timing, now);
  const published: string[] = [];
  const broken = new Set<string>();
  // The store fails for the broken exports (as a catalog or S3 failing for one module would): every
  // reaction on them throws.
  const get = s.exports.get.bind(s.exports);
  s.exports.get = async (id: string) => {
    if (broken.has(id)) throw new Error(`export ${id} is broken (test)`);
    return get(id);
  };
  const unreachable = (): never => {
    throw new Error('this test does not talk to Zoho');
  };
  const metrics = memoryMetrics();
  const deps: ExportDeps = {
    exports: s.exports,
    jobs: s.jobs,
    zoho: {
      apiVersion: 'v8',
      getJob: unreachable,
      createJob: createJob ?? unreachable,
      downloadResult: unreachable,
      getFields: unreachable,
      getDeletedRecords: unreachable,
      listModules: unreachable,
    },
    config: { ZOHO_API_VERSION: 'v8', S3_PREFIX: 'zoho-crm', BUCKET: 'exports' },
    timing,
    logger: createLogger('test', 'SILENT'),
    metrics,
    s3: acceptingS3(),
    events: {
      publish: async (e: ExportEvent) => {
        published.push(e.detail.export_id);
      },
    },
    now,
    random: () => 1,
  };
  let n = 0;
  const record = (): ExportRecord =>
    s.exports.newExport({
      export_id: newExportId(T0 + n++),
      module: 'Contacts',
      source: 'api',
      query: { fields: null, criteria: null, cvid: null },
      api_version: 'v8',
      formats: ['csv'],
    });
  return {
    deps,
    tables,
    broken,
    published,
    metrics,
    advance: (ms: number) => {
      t += ms;
    },
    /** A RUNNING export whose page 1 has more records: page 2 is wanted (its intent recorded). */
    async pageWanted(): Promise<string> {
      const e = record();
      const parent = '7000000000000000001';
      await tables.exports.put({ ...e, page_jobs: [parent], pages_created: 1 });
      await tables.jobs.put({
        ...s.jobs.newJob(parent, { export_id: e.export_id, page: 1, module: 'Contacts', api_version: 'v8' }),
        status: 'DOWNLOADING',
        more_records: true,
        next_page_token: 'tok-2',
      });
      expect(await s.exports.wantPage(e.export_id, 2, parent, 'tok-2')).toBe(true);
      return e.export_id;
    },
    /** A finished export whose completion event is pending, in the attention index at `at`. */
    async eventPending(at: number): Promise<string> {
      const e = record();
      await tables.exports.put({
        ...e,
        status: 'COMPLETED',
        event_pending: 'yes',
        attention: 'yes',
        attention_at: at,
      });
      return e.export_id;
    },
    /** A RUNNING export whose one page is EXPORTED but whose export never heard of it (flag due at `due`). */
    async exportedPageUnheard(due: number, jobId: string): Promise<{ exportId: string; jobId: string }> {
      const e = record();
      await tables.exports.put({ ...e, page_jobs: [jobId], pages_created: 1 });
      const job: JobRecord = {
        ...s.jobs.newJob(jobId, { export_id: e.export_id, page: 1, module: 'Contacts' }),
        status: 'EXPORTED',
        records: 10,
        s3: { bucket: 'exports', key: `zoho-crm/Contacts/${jobId}.csv`, bytes: 100 },
      };
      await tables.jobs.put({
        ...job,
        export_pending: 'yes',
        export_due: due,
        export_reaction: 'page_exported',
      });
      return { exportId: e.export_id, jobId };
    },
  };
}

describe('sweepExports', () => {
  it('60 exports whose reaction throws do not hold back the healthy one behind them; each moves back with backoff', async () => {
    const h = harness();
    const failing: string[] = [];
    for (let i = 0; i < FAILING; i++) {
      const id = await h.eventPending(T0 - 10_000);
      h.broken.add(id);
      failing.push(id);
    }
    const healthy = await h.eventPending(T0 - 5_000);

    const summary = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(h.published).toEqual([healthy]);
    expect(summary).toMatchObject({ exports: FAILING + 1, eventsPublished: 1, failed: FAILING });
    expect(h.metrics.counts.SweepItemsFailed).toBe(FAILING);
    const after = await h.tables.exports.get({ export_id: failing[0] });
    expect(after?.attention_failures).toBe(1);
    expect(after?.attention_at).toBe(T0 + h.deps.timing.baseMs);

    // Not looked at again before its backoff; then again, with a longer one.
    h.broken.delete(failing[1] ?? '');
    expect((await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER })).exports).toBe(0);
    h.advance(h.deps.timing.baseMs);
    const second = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(second).toMatchObject({ exports: FAILING, eventsPublished: 1, failed: FAILING - 1 });
    expect(h.published).toEqual([healthy, failing[1]]);
    const twice = await h.tables.exports.get({ export_id: failing[0] });
    expect(twice?.attention_failures).toBe(2);
    expect(twice?.attention_at).toBe(T0 + 3 * h.deps.timing.baseMs);
    // The one that went out left the index, its failure count with it.
    const out = await h.tables.exports.get({ export_id: failing[1] });
    expect(out?.attention).toBeUndefined();
    expect(out?.attention_failures).toBeUndefined();
  });

  it('60 jobs whose reaction throws do not hold back the healthy export behind them; each moves back with backoff', async () => {
    const h = harness();
    const failing: Array<{ exportId: string; jobId: string }> = [];
    for (let i = 0; i < FAILING; i++) {
      const f = await h.exportedPageUnheard(T0 - 10_000, String(7000000000000000001n + BigInt(i)));
      h.broken.add(f.exportId);
      failing.push(f);
    }
    const healthy = await h.exportedPageUnheard(T0 - 5_000, '7000000000000000999');
    h.advance(EXPORT_FOLLOW_THROUGH_MS);

    const summary = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    expect(summary).toMatchObject({ followedThrough: FAILING + 1, completed: 1, failed: FAILING });
    expect((await h.deps.exports.get(healthy.exportId))?.status).toBe('COMPLETED');
    expect((await h.deps.jobs.get(healthy.jobId))?.export_pending).toBeUndefined();
    const job = await h.deps.jobs.get(failing[0]?.jobId ?? '');
    expect(job?.export_failures).toBe(1);
    expect(job?.export_due).toBe(T0 + EXPORT_FOLLOW_THROUGH_MS + h.deps.timing.baseMs);
    expect(job?.export_pending).toBe('yes');
  });

  it('a stored export or job that does not parse is logged, counted and skipped; the healthy ones behind it go on', async () => {
    const h = harness();
    const badExport = await h.eventPending(T0 - 10_000);
    await h.tables.exports.put({ ...(await h.tables.exports.get({ export_id: badExport })), status: 'LOST' });
    const badJob = await h.exportedPageUnheard(T0 - 10_000, '7000000000000000555');
    await h.tables.jobs.put({ ...(await h.tables.jobs.get({ job_id: badJob.jobId })), s3: 'nowhere' });
    const healthyEvent = await h.eventPending(T0 - 5_000);
    const healthyPage = await h.exportedPageUnheard(T0 - 5_000, '7000000000000000999');
    h.advance(EXPORT_FOLLOW_THROUGH_MS);
    const error = vi.spyOn(h.deps.logger, 'error');

    const summary = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER });
    // The finalized export publishes its own event: one by the event sweep, one by the completion.
    expect(summary).toMatchObject({ eventsPublished: 1, completed: 1, failed: 2 });
    expect(h.published.sort()).toEqual([healthyEvent, healthyPage.exportId].sort());
    expect((await h.deps.exports.get(healthyPage.exportId))?.status).toBe('COMPLETED');
    expect(h.metrics.counts.SweepItemsFailed).toBe(2);
    const logged = JSON.stringify(error.mock.calls);
    expect(logged).toContain(badExport);
    expect(logged).toContain(badJob.jobId);
    expect(logged).toContain('CORRUPT_RECORD');
  });

  it('pages on until the deadline, and stops there', async () => {
    const h = harness();
    for (let i = 0; i < 120; i++) await h.eventPending(T0 - 10_000 + i);
    let reads = 0;
    const deadline = T0 + 70;
    // Each export read moves the clock 1 ms: the deadline falls within the second page.
    const get = h.deps.exports.get.bind(h.deps.exports);
    h.deps.exports.get = async (id: string) => {
      reads++;
      h.advance(1);
      return get(id);
    };
    const summary = await sweepExports(h.deps, { deadline });
    expect(summary.eventsPublished).toBe(70);
    expect(reads).toBe(70);
    expect((await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER })).eventsPublished).toBe(50);
  });
});

describe('sweepExports without an access token', () => {
  it('publishes and finalizes, but leaves the pages to create for a tick with a token', async () => {
    let asked = 0;
    const h = harness(async () => {
      asked++;
      return { id: '7000000000000000002', state: 'ADDED' };
    });
    const wanted = await h.pageWanted();
    const event = await h.eventPending(T0 - 1);
    const unheard = await h.exportedPageUnheard(T0 - 1, '7000000000000000777');
    h.advance(EXPORT_FOLLOW_THROUGH_MS);
    const summary = await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER, withoutZoho: true });
    expect(asked).toBe(0);
    expect(summary).toMatchObject({ eventsPublished: 1, completed: 1, pagesCreated: 0 });
    // The export finalized on the way publishes its own completion event.
    expect(h.published.sort()).toEqual([event, unheard.exportId].sort());
    expect((await h.deps.exports.get(unheard.exportId))?.status).toBe('COMPLETED');
    expect((await h.deps.exports.get(wanted))?.intent_state).toBe('wanted');
    // With a token, the next tick creates it.
    expect((await sweepExports(h.deps, { deadline: Number.MAX_SAFE_INTEGER })).pagesCreated).toBe(1);
    expect(asked).toBe(1);
  });
});

describe('createWantedPage: bounded follow-ups', () => {
  const busy = () =>
    Promise.reject(
      new ZohoError({
        code: 'INTERNAL_ERROR',
        message: 'Zoho is busy (test)',
        kind: 'retryable',
        httpStatus: 500,
      }),
    );

  it(`fails the export with FOLLOW_UP_NOT_CREATED after ${MAX_FOLLOW_UP_ATTEMPTS} attempts, naming Zoho's last code`, async () => {
    const h = harness(busy);
    const id = await h.pageWanted();
    for (let i = 1; i < MAX_FOLLOW_UP_ATTEMPTS; i++) {
      expect(await createWantedPage(h.deps, id)).toBe(false);
      const e = await h.deps.exports.get(id);
      expect(e?.status).toBe('RUNNING');
      expect(e?.intent_attempts).toBe(i);
      // The backoff never exceeds its cap: the intent is due again by then.
      h.advance(h.deps.timing.capMs);
    }
    expect(await createWantedPage(h.deps, id)).toBe(false);
    const e = await h.deps.exports.get(id);
    expect(e?.status).toBe('FAILED');
    expect(e?.error).toMatchObject({ code: 'FOLLOW_UP_NOT_CREATED', page: 2 });
    expect(e?.error?.message).toContain(`after ${MAX_FOLLOW_UP_ATTEMPTS} attempts`);
    expect(e?.error?.message).toContain('INTERNAL_ERROR');
    expect((await h.deps.jobs.get('7000000000000000001'))?.follow_up_error?.code).toBe(
      'FOLLOW_UP_NOT_CREATED',
    );
  });

  it('fails the export once the page has been wanted for longer than a job may live, even for token trouble', async () => {
    const h = harness(() =>
      Promise.reject(
        new ZohoError({
          code: 'TOKEN_THROTTLED',
          message: 'no token (test)',
          kind: 'retryable',
          stage: 'oauth',
        }),
      ),
    );
    const id = await h.pageWanted();
    expect(await createWantedPage(h.deps, id)).toBe(false);
    expect((await h.deps.exports.get(id))?.status).toBe('RUNNING');
    h.advance(h.deps.timing.maxAgeMs);
    expect(await createWantedPage(h.deps, id)).toBe(false);
    const e = await h.deps.exports.get(id);
    expect(e?.status).toBe('FAILED');
    expect(e?.error?.code).toBe('FOLLOW_UP_NOT_CREATED');
    expect(e?.error?.message).toContain('maximum job age');
    expect(e?.error?.message).toContain('TOKEN_THROTTLED');
  });
});
