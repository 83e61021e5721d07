/**
 * The Zoho job slots on the in-memory table (the same suite runs on DynamoDB Local in
 * test/pipeline/job-slots-ddb.test.ts), and the Zoho client wrapper every job create goes through:
 * a slot before the request, bound to the job, released at once on a refusal, kept on an answer that
 * never came, and a full cap refused like Zoho's TOO_MANY_REQUESTS (counted, nothing sent).
 */
import { describe, expect, it } from 'vitest';
import { isPaceLimit } from '../../lib/jobs/retry.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import type { ZohoClient } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import {
  CREATE_LEASE_MS,
  JOB_SLOTS_FULL,
  JobSlots,
  reclaimJobSlots,
  withJobSlots,
} from '../../lib/zoho/job-slots.js';
import { jobSlotsSuite } from '../support/job-slots-suite.js';
import { memoryTables } from '../support/memory.js';

jobSlotsSuite('in memory', async () => memoryTables().state);

const logger = createLogger('test', 'SILENT');
const unused = (): never => {
  throw new Error('not used here');
};

/** A Zoho client whose create answers with `answer` (a job id, or an error to throw). */
function zohoAnswering(answers: Array<string | Error>): ZohoClient & { creates: number } {
  const z = {
    apiVersion: 'v8' as const,
    creates: 0,
    getJob: unused,
    getFields: unused,
    listModules: unused,
    downloadResult: unused,
    getDeletedRecords: unused,
    async createJob() {
      z.creates++;
      const a = answers.shift();
      if (a === undefined) throw new Error('no answer scripted');
      if (a instanceof Error) throw a;
      return { id: a, state: 'ADDED' };
    },
  };
  return z;
}

function gated(cap: number, answers: Array<string | Error>) {
  let t = Date.UTC(2026, 11, 7, 12);
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const slots = new JobSlots(memoryTables().state, { cap, jobLeaseMs: 86_400_000, now: clock.now });
  const inner = zohoAnswering(answers);
  const metrics = memoryMetrics();
  return { slots, inner, metrics, clock, zoho: withJobSlots(inner, slots, { metrics, logger }) };
}

describe('withJobSlots (the one choke point of every Zoho job create)', () => {
  it('binds the created job to its slot; beyond the cap it refuses without asking Zoho, counted', async () => {
    const g = gated(2, ['101', '102', '103']);
    expect((await g.zoho.createJob({ module: 'Leads' })).id).toBe('101');
    expect((await g.zoho.createJob({ module: 'Deals' })).id).toBe('102');
    expect((await g.slots.held()).map((s) => s.job).sort()).toEqual(['101', '102']);

    const refused = await g.zoho.createJob({ module: 'Contacts' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ZohoError);
    expect(refused).toMatchObject({ code: JOB_SLOTS_FULL, kind: 'retryable' });
    // Each call site treats it as Zoho's TOO_MANY_REQUESTS: a pace limit, never a failure.
    expect(isPaceLimit(refused)).toBe(true);
    expect(g.inner.creates).toBe(2);
    expect(g.metrics.counts.ZohoJobSlotsFull).toBe(1);

    // Job 101 left IN PROGRESS: the next create goes through.
    await g.slots.releaseJob('101');
    expect((await g.zoho.createJob({ module: 'Contacts' })).id).toBe('103');
    expect(g.inner.creates).toBe(3);
  });

  it('a create Zoho refused releases its slot at once; one whose answer never came keeps it until its lease ends', async () => {
    const refusal = new ZohoError({
      code: 'TOO_MANY_REQUESTS',
      kind: 'retryable',
      message: 'busy',
      httpStatus: 429,
    });
    const timeout = new ZohoError({ code: 'TIMEOUT', kind: 'retryable', message: 'no answer' });
    const g = gated(1, [refusal, timeout, '201']);
    await expect(g.zoho.createJob({ module: 'Leads' })).rejects.toBe(refusal);
    expect(await g.slots.held()).toEqual([]);
    await expect(g.zoho.createJob({ module: 'Leads' })).rejects.toBe(timeout);
    // Zoho may have made that job: the slot stays held (unbound) until the create lease ends.
    expect(await g.slots.held()).toHaveLength(1);
    await expect(g.zoho.createJob({ module: 'Leads' })).rejects.toMatchObject({ code: JOB_SLOTS_FULL });
    g.clock.advance(CREATE_LEASE_MS);
    expect((await g.zoho.createJob({ module: 'Leads' })).id).toBe('201');
  });

  it("the poller's reclaim frees the slot of a job that ended without releasing it, or was never recorded", async () => {
    const g = gated(2, ['301', '302']);
    await g.zoho.createJob({ module: 'Leads' });
    await g.zoho.createJob({ module: 'Deals' });
    const records = new Map([['301', { status: 'PENDING' }]]);
    const jobs = { get: async (id: string) => records.get(id) };
    expect(await reclaimJobSlots(g.slots, jobs, logger)).toBe(0);
    g.clock.advance(10 * 60_000);
    // 302 has no record (its creator died after Zoho answered): freed; 301 still runs.
    expect(await reclaimJobSlots(g.slots, jobs, logger)).toBe(1);
    records.set('301', { status: 'DOWNLOADING' });
    expect(await reclaimJobSlots(g.slots, jobs, logger)).toBe(1);
    expect(await g.slots.held()).toEqual([]);
  });
});
