/**
 * The shared download budget under load: 25 and 60 downloads due at once, against a fake Zoho that
 * counts either per sliding 60 s or per clock minute, starting 2 s before a clock minute turns (where a
 * clock-minute budget would allow 20 starts in 3 s). No Zoho 429 at all, no job FAILED, every CSV
 * exact, never more than 10 starts in any 60 s, and a wait for a slot is never an attempt.
 * (One file per mode, `load-sliding.test.ts` and `load-clock-minute.test.ts`, to keep each short.)
 * On the in-memory backend (MemoryTable keeps DynamoDB's conditional-write semantics): these check the
 * budget's pacing over many downloads, a minute of DynamoDB Local round trips each; the budget's
 * conditional writes under real concurrency are race.test.ts's and lock.test.ts's, on DynamoDB Local.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DownloadWindow } from '../../local/fake-zoho/types.js';
import {
  type AnyHarness,
  budgetHarness,
  downloads,
  drive,
  dueDownloads,
  expectAllExact,
  maxInClockMinute,
  maxInWindow,
} from './helpers.js';

/** The load scenarios against a fake Zoho counting downloads in `mode` (one test file per mode). */
export function loadScenarios(mode: DownloadWindow): void {
  let h: AnyHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  describe(`fake Zoho counting downloads per ${mode}`, () => {
    it.each([
      [25, 'on time', () => 0],
      [60, 'on time', () => 0],
      [35, 'up to 1.9 s late (within the slack)', (i: number) => (i * 700) % 1_900],
    ])(
      '%i downloads due at once, 2 s before a minute turns, deferred ones delivered %s: no 429, all exact',
      async (n, _late, lateMs) => {
        h = await budgetHarness(mode, { msBeforeMinute: 2_000, backend: 'memory' });
        const t0 = h.clock.now();
        await dueDownloads(h, n);
        const jobs = await drive(h, { lateMs });
        await expectAllExact(h, jobs, n);
        expect(jobs.every((j) => j.attempts === 1)).toBe(true);

        const log = downloads(h);
        expect(log.filter((r) => r.status === 429)).toEqual([]);
        expect(h.fake.stats().download429s).toBe(0);
        expect(log.filter((r) => r.status === 200)).toHaveLength(n);
        const starts = log.map((r) => r.at);
        expect(maxInWindow(starts)).toBeLessThanOrEqual(10);
        expect(maxInClockMinute(starts)).toBeLessThanOrEqual(10);
        // Across the minute boundary: at most 10 in the 3 s around it (a clock-minute budget allows 20).
        const turn = t0 + 2_000;
        expect(starts.filter((t) => t >= turn - 2_000 && t <= turn + 1_000).length).toBeLessThanOrEqual(10);
        // No slot is wasted much: each batch of 10 follows the one before by about a window.
        const batches = Math.ceil(n / 10);
        expect(Math.max(...starts) - t0).toBeLessThanOrEqual((batches - 1) * (60_500 + 3_000));
      },
    );

    it('25 downloads with the clock in 5 s steps (reservations met up to 5 s late, beyond the slack): no 429, all exact', async () => {
      h = await budgetHarness(mode, { msBeforeMinute: 2_000, backend: 'memory' });
      await dueDownloads(h, 25);
      const jobs = await h.settle(400, 5_000);
      await expectAllExact(h, jobs, 25);
      expect(jobs.every((j) => j.attempts === 1)).toBe(true);
      expect(h.fake.stats().download429s).toBe(0);
      const starts = downloads(h).map((r) => r.at);
      expect(starts).toHaveLength(25);
      expect(maxInWindow(starts)).toBeLessThanOrEqual(10);
    });
  });
}
