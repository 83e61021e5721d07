import { afterEach, describe, expect, it } from 'vitest';
import { toPublicJob } from '../../lib/jobs/model.js';
import { downloadJob } from '../../lib/pipeline/download.js';
import { pollOnce } from '../../lib/pipeline/poll.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('the export pipeline end to end', () => {
  it('exports many jobs of several modules, byte for byte, under partitioned keys', async () => {
    h = await pipelineHarness();
    const specs = [
      { module: 'Contacts', totalRecords: 1500 },
      { module: 'Leads', totalRecords: 0 },
      { module: 'Deals', totalRecords: 1 },
      { module: 'Accounts', totalRecords: 4321, zip64: true },
      { module: 'Contacts', totalRecords: 250, lineEnding: '\r\n' as const },
      { module: 'Cases', totalRecords: 77, version: 'v2' },
    ];
    const seeded = specs.map((s) => h!.fake.addJob(s));
    for (const s of seeded) await h.register(s.id);
    const jobs = await h.settle();
    expect(jobs).toHaveLength(seeded.length);
    for (const j of jobs) {
      await h.expectExportedExactly(j);
      expect(j.s3?.key).toMatch(
        new RegExp(`^zoho-crm/module=${j.module}/export_date=\\d{4}-\\d{2}-\\d{2}/${j.job_id}\\.csv$`),
      );
      expect(j.zoho_state).toBe('COMPLETED');
      expect(j.attempts).toBe(1);
      expect(j.expires_at).toBeGreaterThan(Date.now() / 1000);
    }
    expect((await h.objectKeys()).sort()).toEqual(jobs.map((j) => j.s3!.key).sort());
  });

  it('walks a job through ADDED, QUEUED and IN PROGRESS with a capped backoff and few status calls', async () => {
    h = await pipelineHarness({
      fake: { timeline: { queuedAfterMs: 60_000, inProgressAfterMs: 120_000, completedAfterMs: 3_600_000 } },
    });
    const job = h.fake.addJob({ module: 'Leads', totalRecords: 10 });
    await h.register(job.id);
    const states = new Set<string>();
    for (let i = 0; i < 70; i++) {
      await h.tick();
      const j = await h.jobs.get(job.id);
      if (j?.zoho_state) states.add(j.zoho_state);
      if (j?.status === 'EXPORTED') break;
    }
    expect([...states]).toEqual(['ADDED', 'QUEUED', 'IN PROGRESS', 'COMPLETED']);
    const exported = await h.jobs.get(job.id);
    await h.expectExportedExactly(exported!);
    // An hour-long job checked every minute would cost 60 calls; with backoff capped at 10 min it costs far fewer.
    const calls = h.fake.requests.filter((r) => r.kind === 'status').length;
    expect(calls).toBeLessThan(20);
    expect(calls).toBeGreaterThan(5);
  });

  it('follows more_records with follow-up jobs (page_token on v8), linked both ways', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000 } });
    const first = h.fake.addJob({ module: 'Contacts', totalRecords: 2500 });
    await h.register(first.id);
    const jobs = await h.settle();
    expect(jobs).toHaveLength(3);
    const byId = new Map(jobs.map((j) => [j.job_id, j]));
    const p1 = byId.get(first.id)!;
    const p2 = byId.get(p1.next_job_id!)!;
    const p3 = byId.get(p2.next_job_id!)!;
    expect([p1.page, p2.page, p3.page]).toEqual([1, 2, 3]);
    expect([p1.records, p2.records, p3.records]).toEqual([1000, 1000, 500]);
    expect(p2.previous_job_id).toBe(p1.job_id);
    expect(p3.previous_job_id).toBe(p2.job_id);
    expect(p3.next_job_id).toBeUndefined();
    for (const j of jobs) await h.expectExportedExactly(j);
    const creates = h.fake.requests.filter((r) => r.kind === 'create');
    expect(creates).toHaveLength(2);
  });

  it('says so when a follow-up page cannot be created: the page is exported, the gap is visible', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000 } });
    const first = h.fake.addJob({ module: 'Contacts', totalRecords: 2500 });
    await h.register(first.id);
    h.fake.inject({
      kind: 'create',
      times: Number.POSITIVE_INFINITY,
      action: { type: 'error', code: 'NO_PERMISSION' },
    });
    const jobs = await h.settle();
    expect(jobs).toHaveLength(1);
    await h.expectExportedExactly(jobs[0]!);
    expect(toPublicJob(jobs[0]!).follow_up_error?.code).toBe('NO_PERMISSION');
    expect(jobs[0]!.next_job_id).toBeUndefined();
    expect(h.metrics.counts.JobsFailed).toBe(1);
  });

  it('follows more_records with page + 1 on v2 to v6', async () => {
    // Jobs created over HTTP take their size from moduleRecords: the same query, so the same total.
    h = await pipelineHarness({
      fake: { perPage: 1000, moduleRecords: { Leads: 1800 } },
      config: { ZOHO_API_VERSION: 'v6' },
    });
    const first = h.fake.addJob({
      module: 'Leads',
      totalRecords: 1800,
      version: 'v6',
      fields: ['Last_Name', 'Email'],
    });
    await h.register(first.id);
    const jobs = await h.settle();
    expect(jobs).toHaveLength(2);
    const second = jobs.find((j) => j.previous_job_id === first.id)!;
    expect(second.page).toBe(2);
    expect(second.records).toBe(800);
    for (const j of jobs) await h.expectExportedExactly(j);
  });

  it('ends a FAILURE job FAILED with the code from result.error_message', async () => {
    h = await pipelineHarness();
    const job = h.fake.addJob({
      failWith: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' },
    });
    await h.register(job.id);
    const [j] = await h.settle();
    expect(j?.status).toBe('FAILED');
    expect(j?.error).toEqual({ code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' });
    expect(j?.zoho_state).toBe('FAILURE');
    expect(await h.objectKeys()).toEqual([]);
    expect(h.metrics.counts.JobsFailed).toBe(1);
  });

  it('ends a job Zoho does not know FAILED with RESOURCE_NOT_FOUND, and keeps terminal errors apart', async () => {
    h = await pipelineHarness();
    await h.register('1234567890123456789');
    const perm = h.fake.addJob({ totalRecords: 3 });
    await h.register(perm.id);
    h.fake.inject({
      kind: 'status',
      jobId: perm.id,
      times: Number.POSITIVE_INFINITY,
      action: { type: 'error', code: 'NO_PERMISSION' },
    });
    const ok = h.fake.addJob({ totalRecords: 3 });
    await h.register(ok.id);
    const jobs = await h.settle();
    const by = new Map(jobs.map((j) => [j.job_id, j]));
    expect(by.get('1234567890123456789')?.error?.code).toBe('RESOURCE_NOT_FOUND');
    expect(by.get(perm.id)?.error?.code).toBe('NO_PERMISSION');
    await h.expectExportedExactly(by.get(ok.id)!);
  });

  it('keeps a job PENDING through retryable errors and exports it afterwards', async () => {
    h = await pipelineHarness();
    const job = h.fake.addJob({ totalRecords: 40 });
    await h.register(job.id);
    h.fake.inject({
      kind: 'status',
      jobId: job.id,
      times: 3,
      action: { type: 'error', code: 'INTERNAL_ERROR' },
    });
    h.fake.inject({
      kind: 'status',
      jobId: job.id,
      times: 1,
      action: { type: 'error', code: 'TOO_MANY_REQUESTS' },
    });
    await h.tick();
    const j1 = await h.jobs.get(job.id);
    expect(j1?.status).toBe('PENDING');
    expect(j1?.last_error?.code).toBe('INTERNAL_ERROR');
    expect(toPublicJob(j1!).last_error?.code).toBe('INTERNAL_ERROR');
    const [done] = await h.settle();
    await h.expectExportedExactly(done!);
  });

  it('never checks or downloads a job twice when two pollers run the same tick', {
    timeout: 180_000,
  }, async () => {
    h = await pipelineHarness({ config: { OUTPUT_FORMATS: 'csv' } });
    const seeded = Array.from({ length: 30 }, (_, i) => h!.fake.addJob({ totalRecords: 20 + i }));
    for (const s of seeded) await h.register(s.id);
    h.clock.advance(300_000); // all COMPLETED at Zoho
    for (const s of seeded)
      await h.aws.tables.jobs.update({ job_id: s.id }, { set: { next_check_at: h.clock.now() - 1 } });
    const [a, b] = await Promise.all([
      pollOnce(h.pollDeps, { deadline: h.clock.now() + 60_000 }),
      pollOnce({ ...h.pollDeps }, { deadline: h.clock.now() + 60_000 }),
    ]);
    expect(a.dispatched + b.dispatched).toBe(30);
    expect(h.fake.requests.filter((r) => r.kind === 'status')).toHaveLength(30);
    expect(h.queue).toHaveLength(30);
    // The same message delivered twice (SQS is at-least-once): only one download happens.
    const first = h.queue[0]!;
    const [x, y] = await Promise.all([
      downloadJob(h.downloadDeps, first),
      downloadJob(h.downloadDeps, first),
    ]);
    expect([x.outcome, y.outcome].sort()).toEqual(['exported', 'skipped']);
    await downloadJob(h.downloadDeps, first).then((o) => expect(o.outcome).toBe('skipped'));
    h.queue.shift();
    const jobs = await h.settle();
    for (const j of jobs) await h.expectExportedExactly(j);
    expect(h.fake.requests.filter((r) => r.kind === 'download' && r.status === 200)).toHaveLength(30);
  });

  it('registering the same job twice creates one record', async () => {
    h = await pipelineHarness();
    const job = h.fake.addJob({ totalRecords: 5 });
    await Promise.all(Array.from({ length: 10 }, () => h!.register(job.id)));
    const [done] = await h.settle();
    expect(await h.allJobs()).toHaveLength(1);
    await h.expectExportedExactly(done!);
  });

  it('fails a job that stays IN PROGRESS past its maximum age with EXPIRED', async () => {
    h = await pipelineHarness({
      fake: { timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 10 * 86_400_000 } },
      config: { MAX_JOB_AGE_HOURS: '2' },
    });
    const job = h.fake.addJob({ totalRecords: 5 });
    await h.register(job.id);
    const [j] = await h.settle(200);
    expect(j?.status).toBe('FAILED');
    expect(j?.error?.code).toBe('EXPIRED');
    expect(j?.zoho_state).toBe('IN PROGRESS');
  });
});
