/**
 * The callback handler on in-memory tables and a scripted Zoho: tokens bound to a page's creation
 * attempt, adoption checked against Zoho's own job, a replayed token's cost, and degraded callbacks
 * tightening the fallback polling.
 */
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { describe, expect, it, vi } from 'vitest';
import { type CallbackDeps, handleZohoCallback, tokenRefusal } from '../../lib/callbacks/handler.js';
import { CallbackHealth, REJECTIONS_PER_MINUTE } from '../../lib/callbacks/health.js';
import {
  type CallbackBinding,
  callbackToken,
  callbackTokenV1,
  callbackWiring,
  newCallbackBinding,
} from '../../lib/callbacks/token.js';
import { CALLBACK_BACKOFF_CAP_FACTOR, DEGRADED_CALLBACK_CAP_FACTOR } from '../../lib/config.js';
import { newExportId } from '../../lib/exports/model.js';
import type { JobRecord } from '../../lib/jobs/model.js';
import { memoryMetrics } from '../../lib/observability.js';
import { checkJob, type PollDeps, pollOnce } from '../../lib/pipeline/poll.js';
import { stores } from '../../lib/runtime.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import type { ZohoJob } from '../../lib/zoho/schemas.js';
import { memoryExportDeps } from '../support/memory.js';

interface ScriptedJob {
  module: string;
  page?: number;
  fields?: readonly string[];
  createdAt: number;
  state?: 'IN PROGRESS' | 'COMPLETED';
}

function zohoJob(id: string, j: ScriptedJob): ZohoJob {
  const completed = j.state === 'COMPLETED';
  return {
    id,
    operation: 'read',
    state: j.state ?? 'IN PROGRESS',
    rawState: j.state ?? 'IN PROGRESS',
    completed,
    failed: false,
    module: j.module,
    moduleId: undefined,
    query: { module: j.module, page: j.page ?? 1, ...(j.fields ? { fields: [...j.fields] } : {}) },
    createdBy: undefined,
    createdTime: new Date(j.createdAt).toISOString(),
    fileType: 'csv',
    result: completed
      ? {
          page: j.page ?? 1,
          count: 10,
          perPage: 200_000,
          downloadUrl: `/crm/bulk/v8/read/${id}/result`,
          moreRecords: false,
          nextPageToken: undefined,
        }
      : undefined,
    error: undefined,
  };
}

async function world() {
  let t = 1_800_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const key = randomBytes(32);
  const zohoJobs = new Map<string, ScriptedJob>();
  const statusCalls: string[] = [];
  const base = memoryExportDeps();
  const metrics = memoryMetrics();
  const s = stores(base.tables, base.timing, clock.now);
  const exportDeps = memoryExportDeps({
    ...s,
    metrics,
    now: clock.now,
    zoho: {
      ...base.zoho,
      getJob: async (id) => {
        statusCalls.push(id);
        const j = zohoJobs.get(id);
        if (!j) throw new ZohoError({ code: 'RESOURCE_NOT_FOUND', kind: 'terminal', message: 'no such job' });
        return zohoJob(id, j);
      },
    },
  });
  const health = new CallbackHealth(base.tables.state, clock.now);
  const dispatched: string[] = [];
  const poll: PollDeps = {
    ...exportDeps,
    config: { POLL_CONCURRENCY: 1, ZOHO_API_VERSION: 'v8', MAX_DOWNLOAD_ATTEMPTS: 3 },
    dispatch: async (m) => {
      dispatched.push(m.job_id);
    },
    callbackHealth: health,
    now: clock.now,
  };
  const wiring = callbackWiring('https://cb.example', async () => key, clock.now);
  const deps: CallbackDeps = { exports: exportDeps, poll, verify: wiring.verify };
  const warn = vi.spyOn(exportDeps.logger, 'warn');
  const reasons = () =>
    warn.mock.calls
      .filter((c) => c[0] === 'callback rejected')
      .map((c) => (c[1] as { reason: string }).reason);
  const post = (token: string, jobId: string) =>
    handleZohoCallback(deps, {
      token,
      body: JSON.stringify({ data: [{ id: jobId, state: 'COMPLETED' }] }),
      contentType: 'application/json',
    });

  /** An export whose page 1 is job `jobId`, created with a callback of nonce `binding` (or none: v1). */
  async function exportWithPage1(jobId: string, binding?: CallbackBinding) {
    const exportId = newExportId(clock.now());
    const record = exportDeps.exports.newExport({
      export_id: exportId,
      module: 'Contacts',
      source: 'api',
      query: { fields: null, criteria: null, cvid: null },
      api_version: 'v8',
      formats: ['csv'],
    });
    const job = exportDeps.jobs.newJob(jobId, {
      module: 'Contacts',
      page: 1,
      api_version: 'v8',
      export_id: exportId,
      export_date: record.export_date,
      export_source: 'api',
      callback: true,
      ...(binding ? { callback_nonce: binding.nonce } : {}),
    });
    expect(await exportDeps.exports.create(record, job)).toBe(true);
    zohoJobs.set(jobId, { module: 'Contacts', createdAt: clock.now() });
    return exportId;
  }
  const binding = () => newCallbackBinding(base.timing.maxAgeMs, clock.now());
  const token = (exportId: string, page: number, b: CallbackBinding) => callbackToken(key, exportId, page, b);
  return {
    clock,
    metrics,
    key,
    zohoJobs,
    statusCalls,
    exportDeps,
    poll,
    deps,
    health,
    dispatched,
    reasons,
    post,
    exportWithPage1,
    binding,
    token,
  };
}

const job = async (w: Awaited<ReturnType<typeof world>>, id: string) =>
  (await w.exportDeps.jobs.get(id)) as JobRecord;

describe('callback tokens bound to the page attempt', () => {
  it("a token of the page's earlier attempt is refused; the current attempt's is accepted", async () => {
    const w = await world();
    const earlier = w.binding();
    const current = w.binding();
    const ex = await w.exportWithPage1('1001', current);
    expect((await w.post(w.token(ex, 1, earlier), '1001')).status).toBe(404);
    expect(w.reasons()).toEqual(['the token is of another creation attempt of the page']);
    expect(w.statusCalls).toEqual([]);
    expect((await w.post(w.token(ex, 1, current), '1001')).status).toBe(200);
    expect(w.statusCalls).toEqual(['1001']);
  });

  it('an expired token is refused before anything is read', async () => {
    const w = await world();
    const b = w.binding();
    const ex = await w.exportWithPage1('1002', b);
    w.clock.advance(b.expiresAt - w.clock.now());
    expect((await w.post(w.token(ex, 1, b), '1002')).status).toBe(404);
    expect(w.reasons()).toEqual(['token expired']);
  });

  it('a v1 token speaks only for a job created before v2, within the maximum job age', async () => {
    const w = await world();
    const old = await w.exportWithPage1('1003');
    const v1 = callbackTokenV1(w.key, old, 1);
    expect((await w.post(v1, '1003')).status).toBe(200);
    const fresh = await w.exportWithPage1('1004', w.binding());
    expect((await w.post(callbackTokenV1(w.key, fresh, 1), '1004')).status).toBe(404);
    const j = await job(w, '1003');
    const maxAge = w.exportDeps.timing.maxAgeMs;
    expect(
      tokenRefusal({ exportId: old, page: 1, version: 1 }, j, Date.parse(j.created_at) + maxAge - 1, maxAge),
    ).toBe(undefined);
    expect(
      tokenRefusal({ exportId: old, page: 1, version: 1 }, j, Date.parse(j.created_at) + maxAge + 1, maxAge),
    ).toBe('a v1 token past the maximum job age');
    expect(w.reasons()).toEqual(['a v1 token for a job created with a v2 token']);
  });
});

describe('a replayed token', () => {
  it('costs at most one Zoho status call per check lease, however many times it comes', async () => {
    const w = await world();
    const b = w.binding();
    const ex = await w.exportWithPage1('2001', b);
    const t = w.token(ex, 1, b);
    // The job was checked once (pending, next check far away), as polling would.
    const first = await job(w, '2001');
    const claim = (await w.exportDeps.jobs.claimCheck(first, w.clock.now() + 1))!;
    await w.exportDeps.jobs.stillPending('2001', claim, { checks: 1 }, w.clock.now() + 30 * 60_000);
    for (let i = 0; i < 50; i++) {
      expect((await w.post(t, '2001')).status).toBe(200);
      w.clock.advance(100);
    }
    await Promise.all(Array.from({ length: 20 }, () => w.post(t, '2001')));
    expect(w.statusCalls.length).toBeLessThanOrEqual(2);
    expect(w.statusCalls.length).toBeGreaterThanOrEqual(1);
    // The replays within the lease left the job due at the lease's end (a real callback is not lost).
    const lease = w.exportDeps.timing.checkLeaseMs;
    expect((await job(w, '2001')).next_check_at).toBeLessThanOrEqual(
      (await job(w, '2001')).made_due_at! + lease,
    );
    // After the lease, one more.
    w.clock.advance(lease);
    const before = w.statusCalls.length;
    for (let i = 0; i < 10; i++) await w.post(t, '2001');
    expect(w.statusCalls.length).toBe(before + 1);
  });
});

describe('adoption (a callback for a page whose creation is not recorded)', () => {
  /** Page 1 recorded and COMPLETED with more records; page 2 wanted and claimed (its creator then died). */
  async function orphaned() {
    const w = await world();
    const ex = await w.exportWithPage1('3001', w.binding());
    const e = (await w.exportDeps.exports.get(ex))!;
    expect(await w.exportDeps.exports.wantPage(ex, 2, '3001')).toBe(true);
    const claim = (await w.exportDeps.exports.claimIntent((await w.exportDeps.exports.get(ex))!, 120_000))!;
    expect(claim.nonce).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect((await w.exportDeps.exports.get(ex))!.intent_nonce).toBe(claim.nonce);
    const b: CallbackBinding = { nonce: claim.nonce, expiresAt: w.clock.now() + 3_600_000 };
    w.clock.advance(1_000);
    return { w, ex, e, claim, b };
  }

  it("adopts the job Zoho made for the intent: the export's module and query, the next page, made after the claim", async () => {
    const { w, ex, b } = await orphaned();
    w.zohoJobs.set('3002', { module: 'Contacts', page: 2, createdAt: w.clock.now() });
    const r = await w.post(w.token(ex, 2, b), '3002');
    expect(r.status).toBe(200);
    const e = (await w.exportDeps.exports.get(ex))!;
    expect(e.page_jobs).toEqual(['3001', '3002']);
    expect(e.intent_page).toBeUndefined();
    expect((await job(w, '3002')).callback_nonce).toBe(b.nonce);
  });

  it.each([
    [
      'of another module',
      { module: 'Leads', page: 2 },
      'not adopted: the job is of module Leads, not Contacts',
    ],
    [
      'of other fields',
      { module: 'Contacts', page: 2, fields: ['Email'] },
      'not adopted: the job asks for other fields',
    ],
    ['of another Zoho page', { module: 'Contacts', page: 5 }, "not adopted: the job is Zoho's page 5, not 2"],
    [
      'made before the intent',
      { module: 'Contacts', page: 2, createdAt: -60 * 60_000 },
      'not adopted: the job was created before the page was asked for',
    ],
    ['unknown to Zoho', undefined, "not adopted: Zoho refused the job's status: RESOURCE_NOT_FOUND"],
  ] as const)('refuses a job %s, and logs why', async (_n, spec, reason) => {
    const { w, ex, b } = await orphaned();
    if (spec) {
      const { createdAt, ...rest } = { createdAt: 0, ...spec };
      w.zohoJobs.set('3009', { ...rest, createdAt: w.clock.now() + createdAt });
    }
    expect((await w.post(w.token(ex, 2, b), '3009')).status).toBe(404);
    expect(w.reasons()).toEqual([reason]);
    expect((await w.exportDeps.exports.get(ex))!.page_jobs).toEqual(['3001']);
    expect(await w.exportDeps.jobs.get('3009')).toBeUndefined();
    expect(w.metrics.counts.CallbackRejected).toBe(1);
  });

  it('refuses a token of another attempt and a v1 token, without asking Zoho', async () => {
    const { w, ex } = await orphaned();
    w.zohoJobs.set('3003', { module: 'Contacts', page: 2, createdAt: w.clock.now() });
    expect((await w.post(w.token(ex, 2, w.binding()), '3003')).status).toBe(404);
    expect((await w.post(callbackTokenV1(w.key, ex, 2), '3003')).status).toBe(404);
    expect(w.reasons()).toEqual([
      'not adopted: the token is of another creation attempt of the page',
      'a v1 token never adopts a job',
    ]);
    expect(w.statusCalls).toEqual([]);
  });
});

describe('degraded callbacks', () => {
  it('refusals in bulk make callbacks degraded: a job with a callback is then polled within two poll intervals', async () => {
    const w = await world();
    const b = w.binding();
    const ex = await w.exportWithPage1('4001', b);
    const base = w.exportDeps.timing.baseMs;
    // Checked while callbacks work: the fallback backoff may grow to 30 intervals.
    for (let i = 0; i < 8; i++) {
      const j = await job(w, '4001');
      w.clock.advance(Math.max(0, j.next_check_at - w.clock.now()));
      await checkJob(w.poll, await job(w, '4001'), { limit: pLimit(1) });
    }
    const calm = await job(w, '4001');
    expect(calm.next_check_at - w.clock.now()).toBeGreaterThan(10 * base);
    expect(calm.next_check_at - w.clock.now()).toBeLessThanOrEqual(CALLBACK_BACKOFF_CAP_FACTOR * base);
    expect(await w.health.degraded()).toBeUndefined();

    for (let i = 0; i <= REJECTIONS_PER_MINUTE; i++) await w.post(`${ex}.1.nonsense`, '4001');
    expect(await w.health.degraded()).toBeDefined();
    // The job that waits up to 30 intervals is pulled in by the next tick, and then polled within 2.
    await pollOnce(w.poll, { deadline: w.clock.now() + 60_000 });
    const pulled = await job(w, '4001');
    expect(pulled.checks).toBe(calm.checks + 1);
    for (let i = 0; i < 5; i++) {
      const j = await job(w, '4001');
      expect(j.next_check_at - w.clock.now()).toBeLessThanOrEqual(DEGRADED_CALLBACK_CAP_FACTOR * base);
      w.clock.advance(Math.max(0, j.next_check_at - w.clock.now()));
      await pollOnce(w.poll, { deadline: w.clock.now() + 60_000 });
    }
    expect(w.metrics.counts.CallbackRejected).toBe(REJECTIONS_PER_MINUTE + 1);
    // A few refusals in a minute do not.
    const quiet = await world();
    for (let i = 0; i < 5; i++) await quiet.post('nonsense', '1');
    expect(await quiet.health.degraded()).toBeUndefined();
  });

  it('a job found COMPLETED by polling, whose callback never came, makes callbacks degraded', async () => {
    const w = await world();
    await w.exportWithPage1('5001', w.binding());
    w.zohoJobs.set('5001', { module: 'Contacts', createdAt: w.clock.now(), state: 'COMPLETED' });
    await pollOnce(w.poll, { deadline: w.clock.now() + 60_000 });
    expect(w.dispatched).toEqual(['5001']);
    expect(await w.health.degraded()).toBeDefined();

    // One that its callback made due does not.
    const v = await world();
    const b = v.binding();
    const ex = await v.exportWithPage1('5002', b);
    v.zohoJobs.set('5002', { module: 'Contacts', createdAt: v.clock.now(), state: 'COMPLETED' });
    expect((await v.post(v.token(ex, 1, b), '5002')).status).toBe(200);
    expect(v.dispatched).toEqual(['5002']);
    expect(await v.health.degraded()).toBeUndefined();
  });
});
