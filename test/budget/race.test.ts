/**
 * The download budget's compare-and-set against DynamoDB Local (the unit tests use the in-memory
 * table): downloaders racing for the last slot, exactly one gets it; a forced interleaving where both
 * read the same version and both write, exactly one write lands; many at once on an empty budget,
 * exactly ten start; concurrent locks keep the latest end.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Table } from '../../lib/ddb/table.js';
import { DownloadBudget, LOCK_MS, type Reservation, WINDOW_MS } from '../../lib/pipeline/download-budget.js';
import { freshAws, type TestAws } from '../support/aws.js';

let aws: TestAws;
beforeAll(async () => {
  aws = await freshAws();
});

let t = Date.UTC(2026, 11, 1, 12, 0, 58);
const clock = () => t;
/** A budget on the shared state table (as each downloader Lambda has its own). */
const budget = (table: Table = aws.tables.state) => new DownloadBudget(table, { perMinute: 10, now: clock });
const item = async () =>
  (await aws.tables.state.get({ pk: 'download-budget' })) as
    | { version: number; slots: Array<[number, number]>; lock_until?: number }
    | undefined;
/** Moves the clock past every slot and reservation so the next round starts on an empty budget. */
const nextRound = () => {
  t += 3 * WINDOW_MS + 10_000;
};

describe('DownloadBudget on DynamoDB Local', () => {
  it('two downloaders racing for the last slot: exactly one starts, the other gets a reservation (20 rounds)', async () => {
    for (let round = 0; round < 20; round++) {
      nextRound();
      const start = t;
      for (let i = 0; i < 9; i++) expect(await budget().take()).toEqual({ ok: true });
      const [a, b] = await Promise.all([budget().take(), budget().take()]);
      const wins = [a, b].filter((d) => d!.ok);
      expect(wins, `round ${round}`).toHaveLength(1);
      const loser = [a, b].find((d) => !d!.ok) as { ok: false; at: number };
      expect(loser.at).toBeGreaterThanOrEqual(start + WINDOW_MS);
      const s = (await item())!;
      expect(s.slots.filter(([e]) => e === start)).toHaveLength(10);
    }
  });

  it('a forced interleaving (both read the same version, both write): one write lands, the loser re-reads', async () => {
    nextRound();
    for (let i = 0; i < 9; i++) await budget().take();
    const before = (await item())!.version;
    // Both contenders' first read is held until both have read: they see the same version and state.
    let reads = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => {
      release = r;
    });
    let writes = 0;
    let refused = 0;
    const table = aws.tables.state;
    const gated: Table = Object.assign(Object.create(table) as Table, {
      async get(key: Record<string, unknown>) {
        const v = await table.get(key);
        if (++reads <= 2) {
          if (reads === 2) release();
          await bothRead;
        }
        return v;
      },
      async update(...args: Parameters<Table['update']>) {
        writes++;
        const r = await table.update(...args);
        if (r === false) refused++;
        return r;
      },
    });
    const [a, b] = await Promise.all([budget(gated).take(), budget(gated).take()]);
    expect([a, b].filter((d) => d.ok)).toHaveLength(1);
    expect(refused).toBe(1); // DynamoDB Local refused the second conditional write
    expect(writes).toBe(3); // the loser wrote again, after reading the new version: a reservation
    const s = (await item())!;
    expect(s.version).toBe(before + 2);
    expect(s.slots.filter(([e, l]) => e === t && l === t)).toHaveLength(10);
    expect(s.slots.filter(([e]) => e > t)).toHaveLength(1);
  });

  it('25 downloaders at once on an empty budget: exactly 10 start; the reservations keep any 60 s to 10', async () => {
    nextRound();
    const start = t;
    const decisions = await Promise.all(Array.from({ length: 25 }, () => budget().take()));
    expect(decisions.filter((d) => d.ok)).toHaveLength(10);
    const ats = decisions.flatMap((d) => (d.ok ? [] : [d.at])).sort((x, y) => x - y);
    expect(ats).toHaveLength(15);
    expect(ats[0]).toBeGreaterThanOrEqual(start + WINDOW_MS);
    // All starts (now and reserved): never 11 in any 60 s.
    const starts = [...Array(10).fill(start), ...ats];
    for (let i = 10; i < starts.length; i++) expect(starts[i]! - starts[i - 10]!).toBeGreaterThan(60_000);
    expect((await item())!.slots).toHaveLength(25);
  });

  it('concurrent locks keep the latest end; no start before it, even with an old reservation', async () => {
    nextRound();
    for (let i = 0; i < 10; i++) await budget().take();
    const r = (await budget().take()) as { ok: false } & Reservation;
    expect(r.ok).toBe(false);
    const [l1, l2] = await Promise.all([budget().lock(t), budget().lock(t + 5_000)]);
    expect(Math.max(l1, l2)).toBe(t + 5_000 + LOCK_MS);
    expect((await item())!.lock_until).toBe(t + 5_000 + LOCK_MS);
    expect(await budget().lockedUntil()).toBe(t + 5_000 + LOCK_MS);
    // The reservation made before the lock is void: at its time its holder is sent after the lock.
    t = r.at;
    const back = await budget().take(r);
    expect(back.ok).toBe(false);
    expect((back as { at: number }).at).toBeGreaterThanOrEqual(Math.max(l1, l2));
  });

  // New reservations after a lock fall on the same instants as the voided ones (same entry end +
  // WINDOW_MS): a voided holder must not start on someone else's reservation.
  it('a lock voids reservations: their holders coming back never make more than 10 starts in 60 s', async () => {
    nextRound();
    const t0 = t;
    const holders = await Promise.all(Array.from({ length: 25 }, () => budget().take()));
    const starts: number[] = Array(10).fill(t0);
    const queue = holders.flatMap((d) => (d.ok ? [] : [d]));
    // At the second batch's time, its first download gets Zoho's 429: lock, then queue after it.
    t = Math.min(...queue.map((r) => r.at));
    const first = queue.findIndex((r) => r.at === t);
    const [mine] = queue.splice(first, 1);
    expect(await budget().take(mine)).toEqual({ ok: true });
    starts.push(t);
    await budget().lock(t);
    const again = await budget().take();
    if (!again.ok) queue.push(again);
    // Every holder comes back at its time (on time), as SQS delivers the delayed messages.
    for (let guard = 0; queue.length && guard < 100; guard++) {
      queue.sort((x, y) => x.at - y.at);
      const r = queue.shift()!;
      t = r.at;
      const d = await budget().take(r);
      if (d.ok) starts.push(t);
      else queue.push(d);
    }
    expect(starts).toHaveLength(26);
    starts.sort((x, y) => x - y);
    for (let i = 10; i < starts.length; i++) expect(starts[i]! - starts[i - 10]!).toBeGreaterThan(60_000);
  });
});
