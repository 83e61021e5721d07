/**
 * Intent before create: a follow-up page is recorded as an intent before Zoho is asked for it, so a
 * poller killed between Zoho's answer and the record leaves a trace.
 *
 * - Without callbacks the sweep takes the intent over once its 2-minute lease is over and creates the
 *   page again: the export completes with exact data, and Zoho holds two jobs for that page (one an
 *   orphan, as the README's "Known limits" says).
 * - With callbacks the sweep waits for the orphan's callback for the adoption window (1 h) and creates
 *   nothing meanwhile; adopting the orphan (as the callback will) completes the export with exactly one
 *   Zoho job for the page.
 * - A create that Zoho refuses for now is retried; a page token it refuses restarts the export from
 *   page 1 (lib/exports/recovery.ts), until recovery is exhausted and the export fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ExportRecord } from '../../lib/exports/model.js';
import { ADOPT_WINDOW_MS, adoptPageJob, INTENT_LEASE_MS } from '../../lib/exports/pages.js';
import { MAX_RECOVERIES } from '../../lib/exports/recovery.js';
import type { JobRecord } from '../../lib/jobs/model.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import {
  apiOf,
  type CreateCall,
  expectCompleted,
  exportOf,
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

const CALLBACKS = async (exportId: string, page: number) =>
  `http://127.0.0.1:9/callbacks/${exportId}/${page}`;

/** Zoho jobs created for page `page` (by the calls the exports made). */
const zohoJobsOfPage = (hh: Harness, calls: CreateCall[], page: number) =>
  calls.filter((c) => c.id && hh.fake.jobInfo(c.id).page === page).map((c) => c.id!);

/**
 * Simulates a poller killed right after Zoho created the first follow-up page and before the page was
 * recorded: `recordPage` throws once (it runs outside the create's error handling, as a crash would
 * leave it: no catch block, the intent stays "creating").
 */
function crashBeforeFirstRecord(hh: Harness): { crashed: () => boolean } {
  const store = hh.exports;
  const real = store.recordPage.bind(store);
  let crashed = false;
  store.recordPage = async (...args: Parameters<typeof real>) => {
    if (!crashed) {
      crashed = true;
      throw new Error('the poller was killed (test)');
    }
    return real(...args);
  };
  return { crashed: () => crashed };
}

async function start(hh: Harness, module = 'Contacts') {
  const r = await apiOf(hh)('POST', '/exports', { body: JSON.stringify({ module }) });
  expect(r.status).toBe(201);
  return r.body.export_id as string;
}

describe('a poller killed between Zoho’s create and the record', () => {
  it('without callbacks: the sweep takes the intent over after its lease; exact data; 2 Zoho jobs for the page', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } } });
    const calls = spyCreates(h);
    const crash = crashBeforeFirstRecord(h);
    const id = await start(h);
    await tickUntil(h, async () => crash.crashed());
    const crashedAt = h.clock.now() - 60_000; // the tick that crashed ran before its clock advance
    const e = (await h.exports.get(id))!;
    expect(e.page_jobs).toHaveLength(1);
    expect(e.intent_page).toBe(2);
    expect(e.intent_state).toBe('creating');
    expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(1);
    const orphan = zohoJobsOfPage(h, calls, 2)[0]!;

    // Nothing happens while the dead attempt's lease lasts.
    await tickUntil(h, async () => h!.clock.now() > crashedAt + INTENT_LEASE_MS - 60_000, { maxTicks: 5 });
    expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(1);

    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    const page2 = zohoJobsOfPage(h, calls, 2);
    // Documented: the page was created again at Zoho; the first one is an orphan nobody downloads.
    expect(page2).toHaveLength(2);
    const recorded = (await h.exports.get(id))!.page_jobs[1]!;
    expect(recorded).toBe(page2[1]);
    expect(recorded).not.toBe(orphan);
    expect(await h.jobs.get(orphan)).toBeUndefined();
    expect(h.fake.requests.filter((r) => r.kind === 'download' && r.jobId === orphan)).toHaveLength(0);
    expect(calls.filter((c) => c.id)).toHaveLength(4);
  });

  it('with callbacks: no second create for the adoption window (1 h), then the sweep takes it over', async () => {
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } },
      exportDeps: { callbackUrl: CALLBACKS },
    });
    const calls = spyCreates(h);
    const crash = crashBeforeFirstRecord(h);
    const id = await start(h);
    expect(calls[0]!.opts?.callback?.url).toBe(await CALLBACKS(id, 1));
    await tickUntil(h, async () => crash.crashed());
    const since = (await h.exports.get(id))!.intent_since!;
    expect(calls.at(-1)!.opts?.callback?.url).toBe(await CALLBACKS(id, 2));
    // Ticks in 5-minute steps up to the end of the window: still one Zoho job for page 2.
    while (h.clock.now() + 5 * 60_000 < since + ADOPT_WINDOW_MS) {
      await h.tick(5 * 60_000);
      expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(1);
    }
    const e = (await h.exports.get(id))!;
    expect(e.status).toBe('RUNNING');
    expect(e.page_jobs).toHaveLength(1);
    expect(e.intent_state).toBe('creating');
    // The window over and no callback came: the page is created again and the export completes.
    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(2);
  });

  it('with callbacks: the orphan adopted (as its callback will do) completes the export with one Zoho job for the page', async () => {
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } },
      exportDeps: { callbackUrl: CALLBACKS },
    });
    const calls = spyCreates(h);
    const crash = crashBeforeFirstRecord(h);
    const id = await start(h);
    await tickUntil(h, async () => crash.crashed());
    for (let i = 0; i < 10; i++) await h.tick();
    const [orphan] = zohoJobsOfPage(h, calls, 2);
    expect(orphan).toBeDefined();

    // What the callback handler does with the job the callback names: record it as the page.
    const e = (await h.exports.get(id)) as ExportRecord;
    const parent = (await h.jobs.get(e.page_jobs[0]!)) as JobRecord;
    // Not a page that is wanted: nothing.
    expect(await adoptPageJob(h.exportDeps, id, 3, orphan!)).toBe(false);
    expect(await adoptPageJob(h.exportDeps, id, 2, orphan!)).toBe(true);
    // Adopting twice does nothing.
    expect(await adoptPageJob(h.exportDeps, id, 2, orphan!)).toBe(false);
    expect((await h.jobs.get(orphan!))!.parquet_wanted).toBe(true);

    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    expect(zohoJobsOfPage(h, calls, 2)).toEqual([orphan]);
    expect((await h.exports.get(id))!.page_jobs[1]).toBe(orphan);
    expect((await h.jobs.get(parent.job_id))!.next_job_id).toBe(orphan);
    expect(calls.filter((c) => c.id)).toHaveLength(3);
  });
});

describe('a create whose answer was lost (Zoho created the job, the caller saw an error)', () => {
  /** The first follow-up create reaches Zoho, then the answer is lost (a timeout). */
  const loseFirstFollowUpAnswer = (hh: Harness) =>
    spyCreates(hh, async (call, real) => {
      const r = await real();
      if (call.query.pageToken !== undefined && !lost) {
        lost = true;
        throw new ZohoError({
          code: 'TIMEOUT',
          message: 'create bulk read job timed out (test)',
          kind: 'retryable',
        });
      }
      return r;
    });
  let lost = false;

  it('without callbacks: the page is created again after a backoff; exact data (2 Zoho jobs for the page)', async () => {
    lost = false;
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } } });
    const calls = loseFirstFollowUpAnswer(h);
    const id = await start(h);
    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(2);
  });

  // An ambiguous create failure (TIMEOUT: Zoho may have created the job) leaves the intent for the
  // job's callback to adopt; only after the adoption window is the page created again.
  it('with callbacks: no second create within the adoption window, then one', async () => {
    lost = false;
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Contacts: 2500 } },
      exportDeps: { callbackUrl: CALLBACKS },
    });
    const calls = loseFirstFollowUpAnswer(h);
    const id = await start(h);
    await tickUntil(h, async () => lost);
    for (let i = 0; i < 15; i++) {
      await h.tick();
      expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(1);
    }
    expect((await exportOf(h, id)).status).toBe('RUNNING');
    // No callback came: after the window the sweep asks Zoho again, and the export completes.
    await finish(h, id, 5 * 60_000);
    await expectCompleted(h, id, { pages: 3, records: 2500, version: 'v8' });
    expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(2);
  });
});

describe('Zoho refusing a follow-up', () => {
  it('for now (500, then 429): the intent is retried by the sweep; one Zoho job for the page; exact data', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Leads: 2100 } } });
    const calls = spyCreates(h);
    const id = await start(h, 'Leads');
    h.fake.inject({
      kind: 'create',
      times: 1,
      action: { type: 'error', code: 'INTERNAL_ERROR', status: 500 },
    });
    h.fake.inject({
      kind: 'create',
      times: 1,
      action: { type: 'error', code: 'TOO_MANY_REQUESTS', status: 429 },
    });
    await finish(h, id);
    await expectCompleted(h, id, { pages: 3, records: 2100, version: 'v8' });
    expect(calls.filter((c) => c.error)).toHaveLength(2);
    expect(zohoJobsOfPage(h, calls, 2)).toHaveLength(1);
    expect(zohoJobsOfPage(h, calls, 3)).toHaveLength(1);
  });

  it('for good (page tokens expired every time → INVALID_REQUEST): restarts from page 1 until recovery is exhausted, then FAILED with that code', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Leads: 2100 } } });
    const id = await start(h, 'Leads');
    h.fake.expirePageTokens();
    // Page 1's token is issued when Zoho completes it; expire it just before every follow-up is made.
    const calls = spyCreates(h, async (call, real) => {
      if (call.query.pageToken !== undefined) h!.fake.expirePageTokens();
      return real();
    });
    const e = await finish(h, id);
    expect(e.status).toBe('FAILED');
    expect(e.error).toMatchObject({ code: 'INVALID_REQUEST', page: 2 });
    expect(e.error.message).toMatch(/recovery exhausted/);
    // Each refusal (after the backoff: the refusals in between are the retries) re-creates page 1.
    const pageOnes = calls.filter((c) => c.query.pageToken === undefined);
    expect(pageOnes).toHaveLength(MAX_RECOVERIES);
    expect(h.metrics.counts.PagesRecovered).toBe(MAX_RECOVERIES);
    const last = (await h.exports.get(id))!.page_jobs[0]!;
    expect(last).toBe(pageOnes.at(-1)!.id);
    expect((await h.jobs.get(last))!.follow_up_error?.code).toBe('INVALID_REQUEST');
    await h.settle();
    for (let i = 0; i < 3; i++) await h.tick();
    expect(h.events.published.map((ev) => ev.detailType)).toEqual(['Export Failed']);
    expect((await exportOf(h, id)).pages).toHaveLength(1);
    expect((await exportOf(h, id)).pages[0].status).toBe('EXPORTED');
  });
});
