/**
 * The Zoho job slots' contract (lib/zoho/job-slots.ts), run on the in-memory table (unit tier,
 * test/unit/job-slots.test.ts) and on DynamoDB Local (integration tier, test/pipeline/job-slots-ddb.test.ts):
 * the same code on both backends. Acquire up to the cap, refuse beyond, release, expiry, reclaim, and
 * concurrent acquires never above the cap.
 */
import { describe, expect, it } from 'vitest';
import type { Table } from '../../lib/ddb/table.js';
import { CREATE_LEASE_MS, JobSlots, UNRECORDED_GRACE_MS } from '../../lib/zoho/job-slots.js';

const JOB_LEASE_MS = 24 * 3_600_000;

export function jobSlotsSuite(backend: string, freshTable: () => Promise<Table>): void {
  describe(`JobSlots (${backend})`, () => {
    const setup = async (cap: number) => {
      let t = Date.UTC(2026, 11, 7, 12, 0, 0);
      const table = await freshTable();
      const clock = { now: () => t, advance: (ms: number) => (t += ms) };
      /** One function's view of the shared item (each Lambda builds its own). */
      const slots = () => new JobSlots(table, { cap, jobLeaseMs: JOB_LEASE_MS, now: clock.now });
      return { table, clock, slots };
    };

    it('acquires up to the cap and refuses beyond; a release or a job leaving frees one', async () => {
      const { slots } = await setup(3);
      const ids = [await slots().acquire(), await slots().acquire(), await slots().acquire()];
      expect(ids.every((id) => typeof id === 'string')).toBe(true);
      expect(new Set(ids).size).toBe(3);
      expect(await slots().acquire()).toBeUndefined();
      expect(await slots().held()).toHaveLength(3);

      expect(await slots().release(ids[0]!)).toBe(true);
      expect(await slots().release(ids[0]!)).toBe(false);
      const again = await slots().acquire();
      expect(again).toBeDefined();
      expect(await slots().acquire()).toBeUndefined();

      expect(await slots().bind(ids[1]!, '111')).toBe(true);
      expect((await slots().held()).find((s) => s.id === ids[1])?.job).toBe('111');
      expect(await slots().releaseJob('999')).toBe(false);
      expect(await slots().releaseJob('111')).toBe(true);
      expect((await slots().held()).map((s) => s.id).sort()).toEqual([ids[2], again].sort());
      expect(await slots().bind('no-such-slot', '222')).toBe(false);
    });

    it('a lowered cap refuses until enough slots are freed', async () => {
      const { table, clock } = await setup(3);
      const wide = new JobSlots(table, { cap: 3, jobLeaseMs: JOB_LEASE_MS, now: clock.now });
      const narrow = new JobSlots(table, { cap: 2, jobLeaseMs: JOB_LEASE_MS, now: clock.now });
      const [a] = [await wide.acquire(), await wide.acquire(), await wide.acquire()];
      expect(await narrow.acquire()).toBeUndefined();
      await wide.release(a!);
      expect(await narrow.acquire()).toBeUndefined();
    });

    it('leaked slots free themselves: a create lease, then the job lease', async () => {
      const { slots, clock } = await setup(2);
      const pending = await slots().acquire();
      const bound = await slots().acquire();
      await slots().bind(bound!, '333');
      expect(await slots().acquire()).toBeUndefined();
      clock.advance(CREATE_LEASE_MS - 1);
      expect(await slots().acquire()).toBeUndefined();
      clock.advance(1);
      // The unbound slot's lease ran out (its creator died); the bound one holds until the job lease.
      const next = await slots().acquire();
      expect(next).toBeDefined();
      expect((await slots().held()).map((s) => s.id)).not.toContain(pending);
      await slots().release(next!);
      clock.advance(JOB_LEASE_MS);
      expect(await slots().held()).toEqual([]);
    });

    it('reclaim frees the slots of jobs no longer active here, after the grace only', async () => {
      const { slots, clock } = await setup(3);
      const ids = [await slots().acquire(), await slots().acquire(), await slots().acquire()];
      await slots().bind(ids[0]!, '1');
      await slots().bind(ids[1]!, '2');
      const active = new Set(['1']);
      const isActive = async (job: string) => active.has(job);
      // Just created: its record may not be written yet.
      expect(await slots().reclaim(isActive)).toBe(0);
      clock.advance(UNRECORDED_GRACE_MS);
      expect(await slots().reclaim(isActive)).toBe(1);
      // Job 2 ended here: freed; job 1 runs; the unbound slot's create lease (2 min) ran out meanwhile.
      expect((await slots().held()).map((s) => s.job)).toEqual(['1']);
      expect(await slots().reclaim(isActive)).toBe(0);
    });

    it('concurrent acquires never exceed the cap (10 rounds of 12 racers, cap 3)', async () => {
      const { slots } = await setup(3);
      for (let round = 0; round < 10; round++) {
        const got = await Promise.all(Array.from({ length: 12 }, () => slots().acquire()));
        const won = got.filter((id): id is string => id !== undefined);
        expect(won, `round ${round}`).toHaveLength(3);
        expect(await slots().held(), `round ${round}`).toHaveLength(3);
        await Promise.all(won.map((id) => slots().release(id)));
        expect(await slots().held()).toEqual([]);
      }
    });

    it('racing acquires and releases: at no time more holders than the cap', async () => {
      const { slots } = await setup(2);
      let holding = 0;
      let peak = 0;
      const worker = async (n: number) => {
        for (let i = 0; i < 6; i++) {
          const id = await slots().acquire();
          if (id === undefined) continue;
          holding++;
          peak = Math.max(peak, holding);
          await new Promise((r) => setTimeout(r, (n * 7 + i * 3) % 5));
          holding--;
          await slots().release(id);
        }
      };
      await Promise.all(Array.from({ length: 6 }, (_, n) => worker(n)));
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(2);
      expect(await slots().held()).toEqual([]);
    });
  });
}
