/**
 * The shared download budget (Zoho: 10 downloads a minute, then a minute's lock). Whatever Zoho's
 * "minute" is, the starts it allows must never put more than 10 into any 60 s interval.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DownloadBudget, LOCK_MS, type Reservation, WINDOW_MS } from '../../lib/pipeline/download-budget.js';
import { memoryTables } from '../support/memory.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 58); // two seconds before a clock minute turns

function budget(perMinute = 10, slackMs = 2000) {
  let t = T0;
  const clock = { now: () => t, set: (ms: number) => (t = ms) };
  return { clock, b: new DownloadBudget(memoryTables().state, { perMinute, slackMs, now: clock.now }) };
}

/** Most starts in any window of `windowMs` (sliding). */
function maxInWindow(starts: number[], windowMs = 60_000): number {
  const s = [...starts].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i]! - s[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/**
 * Runs downloaders arriving at `arrivals` (ms after T0); each comes back at its reservation, `late`
 * ms after it (0 ≤ late; beyond the slack it must ask again). Returns the start times.
 */
async function simulate(
  arrivals: number[],
  lateness: (i: number, attempt: number) => number,
  perMinute = 10,
) {
  const { b, clock } = budget(perMinute);
  type Ev = { at: number; id: number; reservation?: Reservation; attempt?: number };
  const queue: Ev[] = arrivals.map((a, id) => ({ at: T0 + a, id }));
  const starts: number[] = [];
  let guard = 0;
  while (queue.length && guard++ < 10_000) {
    queue.sort((x, y) => x.at - y.at);
    const ev = queue.shift()!;
    clock.set(ev.at);
    const d = await b.take(ev.reservation);
    if (d.ok) starts.push(ev.at);
    else {
      const attempt = (ev.attempt ?? 0) + 1;
      queue.push({ at: d.at + lateness(ev.id, attempt), id: ev.id, reservation: d, attempt });
    }
  }
  return starts;
}

describe('DownloadBudget', () => {
  it('25 downloads due at once: 10 now, then 10 per window, first come first served, never 11 in 60 s', async () => {
    const starts = await simulate(Array(25).fill(0), () => 0);
    expect(starts).toHaveLength(25);
    expect(maxInWindow(starts)).toBe(10);
    // Clock-minute reading too: 10 at 12:00:58 and none at 12:01:01 (a clock-minute budget would allow 10 more).
    expect(starts.filter((t) => t < T0 + 60_000)).toHaveLength(10);
    // No time is lost: the second batch starts one window (plus the margin) after the first.
    expect(starts[10]! - starts[0]!).toBeLessThanOrEqual(WINDOW_MS + 2000);
    expect(starts[24]! - starts[0]!).toBeLessThanOrEqual(2 * (WINDOW_MS + 2000));
  });

  it('property: any arrivals, on time, a little or much late: at most N starts in every 60 s, and everyone starts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 180_000 }), { minLength: 1, maxLength: 40 }),
        // Mostly within the 2 s slack, sometimes far beyond it (a late message: the reservation is void).
        fc.array(fc.oneof(fc.integer({ min: 0, max: 1999 }), fc.integer({ min: 2001, max: 20_000 })), {
          minLength: 41,
          maxLength: 41,
        }),
        fc.integer({ min: 1, max: 10 }),
        async (arrivals, late, n) => {
          const starts = await simulate(arrivals, (i, attempt) => late[(i + attempt) % late.length]!, n);
          expect(starts).toHaveLength(arrivals.length);
          expect(maxInWindow(starts)).toBeLessThanOrEqual(n);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('after a Zoho 429 nothing starts before the lock ends, and reservations inside it are void', async () => {
    const { b, clock } = budget();
    for (let i = 0; i < 3; i++) expect((await b.take()).ok).toBe(true);
    const until = await b.lock(T0 + 1000);
    expect(until).toBe(T0 + 1000 + LOCK_MS);
    clock.set(T0 + 30_000);
    const d = await b.take();
    expect(d).toEqual({ ok: false, at: until, token: expect.any(String) });
    expect(await b.lockedUntil()).toBe(until);
    clock.set(until);
    expect(await b.take(d as Reservation)).toEqual({ ok: true });
    // A second 429 inside the lock does not shorten it; a later one extends it.
    expect(await b.lock(T0 + 500)).toBe(until);
  });

  it('two downloaders racing for the last slot: exactly one gets it', async () => {
    for (let round = 0; round < 10; round++) {
      const { b } = budget(3);
      await b.take();
      await b.take();
      const [x, y] = await Promise.all([b.take(), b.take()]);
      expect([x.ok, y.ok].filter(Boolean)).toHaveLength(1);
    }
  });

  it('a reservation used too late is void; one used early waits for its time', async () => {
    const { b, clock } = budget(1, 2000);
    expect((await b.take()).ok).toBe(true);
    const d = await b.take();
    expect(d.ok).toBe(false);
    const r = d as Reservation;
    clock.set(r.at - 100);
    expect(await b.take(r)).toEqual({ ok: false, at: r.at, token: r.token });
    clock.set(r.at + 2500);
    const again = await b.take(r);
    expect(again.ok).toBe(false); // its window was given away: it queues again
  });

  it("a reservation is its holder's alone: another token at the same time does not start", async () => {
    const { b, clock } = budget(1, 2000);
    expect((await b.take()).ok).toBe(true);
    const d = (await b.take()) as Reservation;
    clock.set(d.at);
    expect((await b.take({ at: d.at, token: 'not-the-token' })).ok).toBe(false);
    expect(await b.take(d)).toEqual({ ok: true });
  });
});
