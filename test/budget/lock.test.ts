/**
 * A Zoho download 429 (the fake's `download-lock` fault: 429 TOO_MANY_REQUESTS and every download
 * refused for a minute) locks every downloader out: no download request reaches the fake before the
 * 429's time + 62 s, and every job is still EXPORTED, exactly, without the wait counting as an attempt.
 * In both of the fake's counting modes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_MS } from '../../lib/pipeline/download-budget.js';
import {
  type AnyHarness,
  budgetHarness,
  downloads,
  drive,
  dueDownloads,
  expectAllExact,
  MODES,
  maxInWindow,
} from './helpers.js';

let h: AnyHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The one 429 of the run, and no download request before its lock is over. */
function expectLockRespected(hh: AnyHarness): number {
  const log = downloads(hh);
  const refused = log.filter((r) => r.status === 429);
  expect(refused).toHaveLength(1);
  expect(hh.fake.stats().download429s).toBe(1);
  const t429 = refused[0]!.at;
  const early = log.filter((r) => r.at > t429 && r.at < t429 + LOCK_MS);
  expect(early, 'download requests during the lock').toEqual([]);
  // The fake's own lock (60 s) is over by then, so nothing else was refused.
  expect(log.filter((r) => r.at >= t429 + LOCK_MS).every((r) => r.status === 200)).toBe(true);
  return t429;
}

describe.each(MODES)('fake Zoho counting downloads per %s', (mode) => {
  it('the very first download answered 429 with a lock: nobody downloads for 62 s, then all 15 export', async () => {
    h = await budgetHarness(mode, { msBeforeMinute: 2_000 });
    await dueDownloads(h, 15);
    h.fake.inject({ kind: 'download', action: { type: 'download-lock' } });
    const jobs = await drive(h);
    await expectAllExact(h, jobs, 15);
    expect(jobs.every((j) => j.attempts === 1)).toBe(true);
    const t429 = expectLockRespected(h);
    const ok = downloads(h).filter((r) => r.status === 200);
    expect(ok).toHaveLength(15);
    expect(Math.min(...ok.map((r) => r.at))).toBeGreaterThanOrEqual(t429 + LOCK_MS);
    expect(maxInWindow(ok.map((r) => r.at))).toBeLessThanOrEqual(10);
  });

  // Reservations made before a lock are void; new ones after it land on the same instants as the
  // voided ones, and only their holders (by token) may start on them.
  it('a lock in the middle (at the second batch): reservations inside it are void, nobody downloads during it', async () => {
    h = await budgetHarness(mode, { msBeforeMinute: 30_000 });
    await dueDownloads(h, 25);
    // The first batch of ten starts now; the next download request (the second batch) gets the lock.
    const jobs = await drive(h, {
      afterStep: (step) => {
        if (step === 0) {
          expect(downloads(h!).filter((r) => r.status === 200)).toHaveLength(10);
          h!.fake.inject({ kind: 'download', action: { type: 'download-lock' } });
        }
      },
    });
    await expectAllExact(h, jobs, 25);
    expect(jobs.every((j) => j.attempts === 1)).toBe(true);
    const t429 = expectLockRespected(h);
    const ok = downloads(h).filter((r) => r.status === 200);
    expect(ok.filter((r) => r.at < t429)).toHaveLength(10);
    expect(ok).toHaveLength(25);
    expect(maxInWindow(ok.map((r) => r.at))).toBeLessThanOrEqual(10);
  });

  it('a lock while the clock moves in 5 s steps (the harness’s own ticks): same promise', async () => {
    h = await budgetHarness(mode);
    await dueDownloads(h, 12);
    h.fake.inject({ kind: 'download', action: { type: 'download-lock' } });
    const jobs = await h.settle(200, 5_000);
    await expectAllExact(h, jobs, 12);
    expectLockRespected(h);
  });
});
