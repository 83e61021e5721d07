/**
 * The schedule runner's decisions on in-memory tables: the query of each run (full, first incremental,
 * later incremental with the overlap), a failed start releasing the claim, and the local timer's
 * minute evaluation (cron in a time zone, rate from the timer's start).
 */
import { describe, expect, it } from 'vitest';
import { memoryMetrics } from '../../lib/observability.js';
import type { ScheduleDefinition } from '../../lib/schedules/definitions.js';
import { INCREMENTAL_OVERLAP_MS } from '../../lib/schedules/incremental.js';
import { runSchedule } from '../../lib/schedules/run.js';
import { planMembers } from '../../lib/schedules/snapshot-run.js';
import { dueSchedules } from '../../lib/schedules/timer.js';
import { subformOf } from '../../lib/wiring.js';
import type { CreateJobQuery } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryExportDeps } from '../support/memory.js';

const def = (over: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({
  name: 'nightly',
  module: 'Contacts',
  mode: 'incremental',
  schedule: 'cron(0 2 * * ? *)',
  timezone: 'UTC',
  ...over,
});

function deps(createJob: (q: CreateJobQuery) => Promise<{ id: string; state: string }>) {
  const metrics = memoryMetrics();
  const d = memoryExportDeps({ metrics });
  d.zoho = { ...d.zoho, createJob };
  return { ...d, metrics, schedules: d.schedules! };
}

describe('runSchedule', () => {
  it('first incremental run is full; the next one ANDs its criteria with Modified_Time > watermark - overlap', async () => {
    const asked: CreateJobQuery[] = [];
    let n = 0;
    const d = deps(async (q) => {
      asked.push(q);
      return { id: String(3652397000000646100n + BigInt(n++)), state: 'ADDED' };
    });
    const own = { api_name: 'Lead_Source', comparator: 'equal', value: 'Web' } as const;
    const first = await runSchedule(d, def({ criteria: own }));
    expect(first).toMatchObject({ kind: 'started', mode: 'full' });
    expect(asked[0]!.criteria).toEqual(own);
    if (first.kind !== 'started') throw new Error('not started');
    await d.schedules.ended('nightly', first.record.export_id, 'COMPLETED', '2026-12-01T02:00:00.000Z');
    const second = await runSchedule(d, def({ criteria: own }));
    const since = new Date(Date.parse('2026-12-01T02:00:00.000Z') - INCREMENTAL_OVERLAP_MS);
    expect(second).toMatchObject({ kind: 'started', mode: 'incremental', since: since.toISOString() });
    expect(asked[1]!.criteria).toEqual({
      group_operator: 'and',
      group: [
        own,
        { api_name: 'Modified_Time', comparator: 'greater_than', value: '2026-12-01T01:50:00+00:00' },
      ],
    });
    // A full schedule never narrows its query, whatever its watermark.
    if (second.kind !== 'started') throw new Error('not started');
    await d.schedules.ended('nightly', second.record.export_id, 'COMPLETED', '2026-12-02T02:00:00.000Z');
    expect(await runSchedule(d, def({ mode: 'full' }))).toMatchObject({ kind: 'started', mode: 'full' });
    expect(asked[2]!.criteria).toBeUndefined();
  });

  it("Zoho's refusal releases the claim (the next run is not skipped) and counts a failed run", async () => {
    let refuse = true;
    const d = deps(async () => {
      if (refuse)
        throw new ZohoError({ code: 'INVALID_MODULE', message: 'no such module', kind: 'terminal' });
      return { id: '3652397000000646200', state: 'ADDED' };
    });
    await expect(runSchedule(d, def())).rejects.toThrow('no such module');
    expect(d.metrics.counts.ScheduleRunsFailed).toBe(1);
    refuse = false;
    expect(await runSchedule(d, def())).toMatchObject({ kind: 'started' });
    expect(d.metrics.counts.ScheduleRunsSkipped).toBeUndefined();
  });
});

describe('multi-module schedules: state and plan', () => {
  it("a module's watermark never moves backwards; only the running snapshot frees the schedule", async () => {
    const s = memoryExportDeps().schedules!;
    expect(await s.claim('all', 't1')).toBeDefined();
    expect(
      await s.snapshotStarted('all', 't1', { snapshotId: 'sn_1', startedAt: '2026-12-01T00:00:00.000Z' }),
    ).toBe(true);
    // Held: no claim while the snapshot runs.
    expect(await s.claim('all', 't2')).toBeUndefined();
    expect(await s.moduleWatermark('all', 'Contacts', '2026-12-02T00:00:00.000Z')).toBe(true);
    expect(await s.moduleWatermark('all', 'Contacts', '2026-12-01T00:00:00.000Z')).toBe(false);
    expect(await s.moduleWatermark('all', 'Contacts', '2026-12-02T00:00:00.000Z')).toBe(false);
    expect(await s.moduleWatermark('all', 'Leads', '2026-12-01T00:00:00.000Z')).toBe(true);
    expect(await s.snapshotEnded('all', 'sn_other', 'COMPLETED', '', [])).toBe(false);
    expect(await s.snapshotEnded('all', 'sn_1', 'FAILED', '2026-12-01T00:00:00.000Z', ['Deals'])).toBe(true);
    expect(await s.snapshotEnded('all', 'sn_1', 'FAILED', '2026-12-01T00:00:00.000Z', ['Deals'])).toBe(false);
    const state = await s.get('all');
    expect(state?.watermarks).toEqual({
      Contacts: '2026-12-02T00:00:00.000Z',
      Leads: '2026-12-01T00:00:00.000Z',
    });
    expect(state?.last_run).toEqual({
      snapshot_id: 'sn_1',
      status: 'FAILED',
      started_at: '2026-12-01T00:00:00.000Z',
      failed_modules: ['Deals'],
    });
    expect(await s.claim('all', 't3')).toMatchObject({ watermarks: state?.watermarks });
  });

  it('plans each module: incremental from its own watermark, else (no watermark, subform, full) whole', async () => {
    const wm = '2026-12-01T02:00:00.000Z';
    const since = new Date(Date.parse(wm) - INCREMENTAL_OVERLAP_MS).toISOString();
    // Discovery names a custom subform (kind "subform"): read whole like the known line items.
    const isSubform = subformOf({
      list: async () => ({ modules: [{ api_name: 'Alternate_Address', kind: 'subform' }] }),
    });
    const modules = ['Contacts', 'Leads', 'Quoted_Items', 'Alternate_Address'];
    const watermarks = { Contacts: wm, Quoted_Items: wm, Alternate_Address: wm };
    const plan = await planMembers({ isSubform }, 'incremental', modules, watermarks);
    expect(plan).toEqual([
      {
        module: 'Contacts',
        mode: 'incremental',
        since,
        criteria: {
          api_name: 'Modified_Time',
          comparator: 'greater_than',
          value: '2026-12-01T01:50:00+00:00',
        },
      },
      { module: 'Leads', mode: 'full' },
      { module: 'Quoted_Items', mode: 'full' },
      { module: 'Alternate_Address', mode: 'full' },
    ]);
    expect((await planMembers({ isSubform }, 'full', modules, watermarks)).map((m) => m.mode)).toEqual([
      'full',
      'full',
      'full',
      'full',
    ]);
  });
});

describe('dueSchedules (the local timer)', () => {
  const at = (iso: string) => Date.parse(iso);
  it('cron fires in its time zone', () => {
    const berlin = def({ timezone: 'Europe/Berlin' });
    // 02:00 in Berlin is 01:00 UTC in winter.
    expect(dueSchedules([berlin], at('2026-12-02T01:00:00Z'), 0)).toEqual([berlin]);
    expect(dueSchedules([berlin], at('2026-12-02T02:00:00Z'), 0)).toEqual([]);
    expect(dueSchedules([def()], at('2026-12-02T02:00:30Z'), 0)).toHaveLength(1);
  });

  it('rate fires every n units from the start, not at the start', () => {
    const every5 = def({ schedule: 'rate(5 minutes)' });
    const start = at('2026-12-02T10:03:20Z');
    expect(dueSchedules([every5], at('2026-12-02T10:03:00Z'), start)).toEqual([]);
    expect(dueSchedules([every5], at('2026-12-02T10:07:00Z'), start)).toEqual([]);
    expect(dueSchedules([every5], at('2026-12-02T10:08:00Z'), start)).toEqual([every5]);
    expect(dueSchedules([every5], at('2026-12-02T10:13:00Z'), start)).toEqual([every5]);
  });
});
