/**
 * The job state machine on an in-memory table: each transition moves a job only from the state (and
 * the claim) its caller holds; a lost claim answers false and changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { toPublicJob } from '../../lib/jobs/model.js';
import { JobStore } from '../../lib/jobs/store.js';
import { memoryTables } from '../support/memory.js';

function store() {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const tables = memoryTables();
  return { jobs: new JobStore(tables.jobs, clock.now, 86_400), clock, tables };
}

const completed = {
  records: 3,
  download_url: '/crm/bulk/v8/read/1/result',
  api_version: 'v8',
  more_records: false,
};

describe('JobStore transitions', () => {
  it('register is idempotent and the job is due at once', async () => {
    const { jobs, clock } = store();
    const a = await jobs.register('1', { module: 'Leads' });
    const b = await jobs.register('1', { module: 'Other' });
    expect([a.created, b.created]).toEqual([true, false]);
    expect(b.job).toMatchObject({ status: 'PENDING', module: 'Leads', next_check_at: clock.now() });
    expect((await jobs.due('PENDING', clock.now(), 10)).jobs).toHaveLength(1);
  });

  it('one status check wins a due job; only its claim records the outcome', async () => {
    const { jobs, clock } = store();
    const { job } = await jobs.register('1');
    const [a, b] = await Promise.all([
      jobs.claimCheck(job, clock.now() + 30_000),
      jobs.claimCheck(job, clock.now() + 30_000),
    ]);
    const claim = a ?? b;
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await jobs.stillPending('1', { kind: 'check', token: 'someone-else' }, {}, 5)).toBe(false);
    expect(
      await jobs.stillPending('1', claim!, { zoho_state: 'QUEUED', checks: 1 }, clock.now() + 60_000),
    ).toBe(true);
    // The claim is spent: a second outcome with it changes nothing.
    expect(await jobs.checkFailed('1', claim!, { code: 'X', message: 'x' }, 1, 1)).toBe(false);
    expect(await jobs.get('1')).toMatchObject({
      zoho_state: 'QUEUED',
      checks: 1,
      next_check_at: clock.now() + 60_000,
    });
  });

  it('PENDING → DOWNLOADING → one downloader claims → EXPORTED, with a TTL', async () => {
    const { jobs, clock } = store();
    const { job } = await jobs.register('1');
    const claim = (await jobs.claimCheck(job, clock.now() + 30_000))!;
    const dispatchId = (await jobs.startDownload(
      '1',
      claim,
      { zoho_state: 'COMPLETED' },
      completed,
      clock.now() + 1000,
    ))!;
    expect(dispatchId).toBeTruthy();
    expect(await jobs.claimDownload('1', 'stale-dispatch', clock.now() + 1000)).toBeUndefined();
    const [d1, d2] = await Promise.all([
      jobs.claimDownload('1', dispatchId, clock.now() + 60_000),
      jobs.claimDownload('1', dispatchId, clock.now() + 60_000),
    ]);
    const d = d1 ?? d2;
    expect([d1, d2].filter(Boolean)).toHaveLength(1);
    expect(
      await jobs.exported('1', { kind: 'download', owner: 'other' }, { bucket: 'b', key: 'k', bytes: 1 }, 3),
    ).toBe(false);
    expect(await jobs.exported('1', d!, { bucket: 'b', key: 'k', bytes: 9 }, 3)).toBe(true);
    const done = (await jobs.get('1'))!;
    expect(done).toMatchObject({
      status: 'EXPORTED',
      attempts: 1,
      records: 3,
      expires_at: Math.floor(clock.now() / 1000) + 86_400,
    });
    expect(done.download_owner).toBeUndefined();
    expect(toPublicJob(done)).toMatchObject({ s3: { key: 'k' }, next_check_at: null, last_error: null });
  });

  it('a deferred download does not count as an attempt and gets a new dispatch id', async () => {
    const { jobs, clock } = store();
    const { job } = await jobs.register('1');
    const claim = (await jobs.claimCheck(job, clock.now() + 30_000))!;
    const dispatchId = (await jobs.startDownload('1', claim, {}, completed, clock.now() + 1000))!;
    const d = (await jobs.claimDownload('1', dispatchId, clock.now() + 60_000))!;
    const next = await jobs.deferDownload('1', d, clock.now() + 5_000, 1_000);
    expect(next).toBeTruthy();
    expect(next).not.toBe(dispatchId);
    expect(await jobs.get('1')).toMatchObject({
      attempts: 0,
      dispatch_id: next,
      next_check_at: clock.now() + 6_000,
    });
    expect(await jobs.claimDownload('1', dispatchId, clock.now() + 60_000)).toBeUndefined();
    expect(await jobs.claimDownload('1', next!, clock.now() + 60_000)).toBeDefined();
  });

  it('a lease that ran out lets another downloader take over; redispatch needs the state it saw', async () => {
    const { jobs, clock } = store();
    const { job } = await jobs.register('1');
    const claim = (await jobs.claimCheck(job, clock.now() + 30_000))!;
    const dispatchId = (await jobs.startDownload('1', claim, {}, completed, clock.now() + 1000))!;
    await jobs.claimDownload('1', dispatchId, clock.now() + 10_000);
    expect(await jobs.claimDownload('1', dispatchId, clock.now() + 10_000)).toBeUndefined();
    clock.advance(10_001);
    expect(await jobs.claimDownload('1', dispatchId, clock.now() + 10_000)).toBeDefined();
    const seen = (await jobs.get('1'))!;
    expect(await jobs.redispatch({ ...seen, next_check_at: seen.next_check_at - 1 }, 5)).toBeUndefined();
    expect(await jobs.redispatch(seen, clock.now() + 5)).toBeDefined();
  });

  it('fail ends the job with the error and clears every claim; makeDue only moves a waiting PENDING job', async () => {
    const { jobs, clock } = store();
    const { job } = await jobs.register('1');
    const GAP = 30_000;
    const claim = (await jobs.claimCheck(job, clock.now() + 30_000))!;
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('no'); // being checked right now
    await jobs.stillPending('1', claim, {}, clock.now() + 60_000);
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('now');
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('no'); // already due
    expect(await jobs.makeDue(jobs.newJob('404'), GAP)).toBe('no');
    const seen = (await jobs.get('1'))!;
    expect(
      await jobs.fail(
        '1',
        { kind: 'seen', status: 'PENDING', nextCheckAt: seen.next_check_at },
        { code: 'EXPIRED', message: 'too old' },
      ),
    ).toBe(true);
    const failed = (await jobs.get('1'))!;
    expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'EXPIRED' } });
    expect(failed.poll_token).toBeUndefined();
    expect(await jobs.makeDue(failed, GAP)).toBe('no');
  });

  it('makeDue makes a job due at most once per gap; within it, due at the end of the gap instead', async () => {
    const { jobs, clock } = store();
    const GAP = 30_000;
    await jobs.register('1');
    const checkAndWait = async (waitMs: number) => {
      const j = (await jobs.get('1'))!;
      const claim = (await jobs.claimCheck(j, clock.now() + GAP))!;
      await jobs.stillPending('1', claim, {}, clock.now() + waitMs);
    };
    await checkAndWait(600_000);
    const t0 = clock.now();
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('now');
    expect((await jobs.get('1'))!).toMatchObject({ next_check_at: t0, made_due_at: t0 });
    // Checked (still pending, next check in 10 min), then a replay 5 s later: not due now...
    await checkAndWait(600_000);
    clock.advance(5_000);
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('later');
    // ...but at the end of the gap, so a real callback within it is not lost; again: nothing new.
    expect((await jobs.get('1'))!.next_check_at).toBe(t0 + GAP);
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('no');
    // After the gap, a callback makes it due now again.
    clock.advance(GAP);
    await checkAndWait(600_000);
    expect(await jobs.makeDue((await jobs.get('1'))!, GAP)).toBe('now');
    expect((await jobs.get('1'))!.made_due_at).toBe(clock.now());
  });
});
