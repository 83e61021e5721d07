/**
 * The operations the product uses, checked the same way against every Table implementation: the
 * in-memory table of the unit tests must behave as DynamoDB (Local) does, or the unit tests prove
 * nothing about production.
 */
import { describe, expect, it } from 'vitest';
import { and, eq, exists, gt, lt, missing, ne, not, or } from '../../lib/ddb/expr.js';
import type { Table } from '../../lib/ddb/table.js';

export function tableContract(name: string, make: () => Promise<{ jobs: Table; state: Table }>): void {
  describe(`${name}: the Table contract`, () => {
    it('put with a condition, get, delete with a condition', async () => {
      const { state } = await make();
      expect(await state.put({ pk: 'a', n: 1 }, missing('pk'))).toBe(true);
      expect(await state.put({ pk: 'a', n: 2 }, missing('pk'))).toBe(false);
      expect(await state.get({ pk: 'a' })).toEqual({ pk: 'a', n: 1 });
      expect(await state.delete({ pk: 'a' }, eq('n', 2))).toBe(false);
      expect(await state.delete({ pk: 'a' }, eq('n', 1))).toBe(true);
      expect(await state.get({ pk: 'a' })).toBeUndefined();
    });

    it('update: SET, ADD, REMOVE, conditions of every kind, the new item returned', async () => {
      const { state } = await make();
      await state.put({ pk: 'u', n: 5, s: 'x', tag: 't' });
      const after = await state.update(
        { pk: 'u' },
        { set: { s: 'y', list: [1, 2], skipped: undefined }, add: { n: 2, fresh: 3 }, remove: ['tag'] },
        and(eq('s', 'x'), gt('n', 4), lt('n', 6), ne('s', 'z'), exists('tag'), missing('nope')),
      );
      expect(after).toEqual({ pk: 'u', n: 7, s: 'y', list: [1, 2], fresh: 3 });
      expect(await state.update({ pk: 'u' }, { set: { s: 'z' } }, or(eq('s', 'x'), not(exists('s'))))).toBe(
        false,
      );
      expect(await state.update({ pk: 'u' }, { set: { s: 'z' } }, or(eq('s', 'x'), eq('n', 7)))).not.toBe(
        false,
      );
      // A condition on an attribute of another type is false, as in DynamoDB.
      expect(await state.update({ pk: 'u' }, { set: { s: 'q' } }, lt('s', 5))).toBe(false);
      // An update of a missing item creates it (no condition) or fails (with one).
      expect(await state.update({ pk: 'new' }, { set: { v: 1 } }, exists('pk'))).toBe(false);
      expect(await state.update({ pk: 'new' }, { add: { v: 1 } })).toEqual({ pk: 'new', v: 1 });
    });

    it('query a GSI with a sort-key condition, in order, in pages, skipping items without the keys', async () => {
      const { jobs } = await make();
      for (let i = 0; i < 7; i++) {
        await jobs.put({ job_id: `j${i}`, status: i % 2 ? 'A' : 'B', next_check_at: 100 - i, n: i });
      }
      await jobs.put({ job_id: 'nokey', status: 'A' }); // not in the index: no sort key
      const all: unknown[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await jobs.query({ index: 'by-status', partition: 'A', limit: 2, startKey });
        all.push(...page.items.map((i) => i.next_check_at));
        startKey = page.lastKey;
      } while (startKey);
      expect(all).toEqual([95, 97, 99]);
      const due = await jobs.query({
        index: 'by-status',
        partition: 'B',
        sort: { op: 'le', value: 98 },
        limit: 10,
      });
      expect(due.items.map((i) => i.next_check_at)).toEqual([94, 96, 98]);
      const desc = await jobs.query({ index: 'by-status', partition: 'B', limit: 10, descending: true });
      expect(desc.items.map((i) => i.next_check_at)).toEqual([100, 98, 96, 94]);
      const filtered = await jobs.query({
        index: 'by-status',
        partition: 'B',
        limit: 10,
        filter: lt('n', 3),
      });
      expect(filtered.items.map((i) => i.next_check_at)).toEqual([98, 100]);
      // DynamoDB refuses a filter on the index's own keys; so does the in-memory table.
      await expect(
        jobs.query({ index: 'by-status', partition: 'B', limit: 10, filter: gt('next_check_at', 1) }),
      ).rejects.toThrow(/primary key/);
    });

    it('scans in pages', async () => {
      const { state } = await make();
      for (let i = 0; i < 5; i++) await state.put({ pk: `s${i}` });
      const seen = new Set<unknown>();
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await state.scan({ limit: 2, startKey });
        for (const i of page.items) seen.add(i.pk);
        startKey = page.lastKey;
      } while (startKey);
      expect(seen.size).toBe(5);
    });

    it('transactions are all or nothing across tables', async () => {
      const { jobs, state } = await make();
      await state.put({ pk: 'held', v: 1 });
      const fail = await jobs.transact([
        {
          type: 'put',
          table: jobs,
          item: { job_id: 't1', status: 'A', next_check_at: 1 },
          condition: missing('job_id'),
        },
        {
          type: 'update',
          table: state,
          key: { pk: 'held' },
          update: { set: { v: 2 } },
          condition: eq('v', 9),
        },
      ]);
      expect(fail).toBe(false);
      expect(await jobs.get({ job_id: 't1' })).toBeUndefined();
      expect(await state.get({ pk: 'held' })).toEqual({ pk: 'held', v: 1 });
      const ok = await jobs.transact([
        {
          type: 'put',
          table: jobs,
          item: { job_id: 't1', status: 'A', next_check_at: 1 },
          condition: missing('job_id'),
        },
        {
          type: 'update',
          table: state,
          key: { pk: 'held' },
          update: { set: { v: 2 } },
          condition: eq('v', 1),
        },
        { type: 'check', table: state, key: { pk: 'other' }, condition: missing('pk') },
      ]);
      expect(ok).toBe(true);
      expect(await jobs.get({ job_id: 't1' })).toMatchObject({ status: 'A' });
      expect(await state.get({ pk: 'held' })).toEqual({ pk: 'held', v: 2 });
      // Two operations on one item: refused by DynamoDB, and by the in-memory table.
      await expect(
        jobs.transact([
          { type: 'check', table: state, key: { pk: 'held' }, condition: exists('pk') },
          { type: 'update', table: state, key: { pk: 'held' }, update: { set: { v: 3 } } },
        ]),
      ).rejects.toThrow(/multiple operations on one item/);
    });
  });
}
