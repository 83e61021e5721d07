import { describe, expect, it } from 'vitest';
import { validateSchedules } from '../../lib/schedules/definitions.js';
import { cronMatches, parseScheduleExpression } from '../../lib/schedules/expression.js';
import { incrementalCriteria } from '../../lib/schedules/incremental.js';

const cron = (e: string) => {
  const p = parseScheduleExpression(e);
  if (p.kind !== 'cron') throw new Error('not cron');
  return p.fields;
};

describe('AWS schedule expressions', () => {
  it('rate: singular for 1, plural above', () => {
    expect(parseScheduleExpression('rate(1 hour)')).toMatchObject({ kind: 'rate', ms: 3_600_000 });
    expect(parseScheduleExpression('rate(15 minutes)')).toMatchObject({ ms: 900_000 });
    expect(() => parseScheduleExpression('rate(1 hours)')).toThrow(/write 1 hour/);
    expect(() => parseScheduleExpression('rate(2 day)')).toThrow(/write 2 days/);
  });

  it('cron: six fields, exactly one "?"', () => {
    expect(() => parseScheduleExpression('cron(0 2 * * *)')).toThrow(/5 field/);
    expect(() => parseScheduleExpression('cron(0 2 * * * *)')).toThrow(/exactly one/);
    expect(() => parseScheduleExpression('cron(60 2 * * ? *)')).toThrow(/minutes: 60/);
  });

  it('cron matches in the time zone (02:00 Berlin is 01:00 UTC in winter)', () => {
    const f = cron('cron(0 2 * * ? *)');
    expect(cronMatches(f, Date.UTC(2026, 11, 2, 1, 0), 'Europe/Berlin')).toBe(true);
    expect(cronMatches(f, Date.UTC(2026, 11, 2, 2, 0), 'Europe/Berlin')).toBe(false);
    expect(cronMatches(f, Date.UTC(2026, 11, 2, 2, 0), 'UTC')).toBe(true);
  });

  it('day-of-week names, L, #, W, steps', () => {
    // 2026-12-02 is a Wednesday; the last Friday of December 2026 is the 25th.
    expect(cronMatches(cron('cron(0 0 ? * WED *)'), Date.UTC(2026, 11, 2), 'UTC')).toBe(true);
    expect(cronMatches(cron('cron(0 0 ? * MON-FRI *)'), Date.UTC(2026, 11, 6), 'UTC')).toBe(false);
    expect(cronMatches(cron('cron(0 0 ? * 6L *)'), Date.UTC(2026, 11, 25), 'UTC')).toBe(true);
    expect(cronMatches(cron('cron(0 0 ? * 6L *)'), Date.UTC(2026, 11, 18), 'UTC')).toBe(false);
    expect(cronMatches(cron('cron(0 0 ? * 4#1 *)'), Date.UTC(2026, 11, 2), 'UTC')).toBe(true);
    expect(cronMatches(cron('cron(0 0 L * ? *)'), Date.UTC(2026, 11, 31), 'UTC')).toBe(true);
    // The 5th of December 2026 is a Saturday: 5W is Friday the 4th.
    expect(cronMatches(cron('cron(0 0 5W * ? *)'), Date.UTC(2026, 11, 4), 'UTC')).toBe(true);
    expect(cronMatches(cron('cron(0 0 5W * ? *)'), Date.UTC(2026, 11, 5), 'UTC')).toBe(false);
    expect(cronMatches(cron('cron(*/15 * * * ? *)'), Date.UTC(2026, 11, 2, 3, 45), 'UTC')).toBe(true);
    expect(cronMatches(cron('cron(*/15 * * * ? *)'), Date.UTC(2026, 11, 2, 3, 46), 'UTC')).toBe(false);
  });
});

describe('schedule definitions', () => {
  const ok = { name: 'nightly', module: 'Contacts', mode: 'incremental', schedule: 'cron(0 2 * * ? *)' };

  it('accepts a good entry, defaulting the time zone to UTC', () => {
    expect(validateSchedules([ok])).toEqual({ schedules: [{ ...ok, timezone: 'UTC' }], problems: [] });
  });

  it('refuses an incremental schedule of a subform (line items), pointing to mode full', () => {
    const r = validateSchedules([{ ...ok, module: 'Quoted_Items' }]);
    expect(r.problems.join('\n')).toMatch(
      /schedule "nightly" \(entry 0\): module Quoted_Items is a subform \(line items\).*use mode "full"/,
    );
    expect(validateSchedules([{ ...ok, module: 'Quoted_Items', mode: 'full' }]).problems).toEqual([]);
    // A custom subform is refused when the predicate (module discovery) names it.
    const custom = { ...ok, module: 'Alternate_Address' };
    expect(validateSchedules([custom]).problems).toEqual([]);
    expect(validateSchedules([custom], (m) => m === 'Alternate_Address').problems).toHaveLength(1);
  });

  it('names the entry and the problem', () => {
    const r = validateSchedules([
      { ...ok, name: 'bad name' },
      { ...ok, name: 'b', module: 'Con tacts' },
      { ...ok, name: 'c', schedule: 'every day' },
      { ...ok, name: 'd', timezone: 'Mars/Olympus' },
      { ...ok, name: 'b' },
    ]);
    expect(r.problems.join('\n')).toMatch(/schedule "bad name" \(entry 0\): name must be/);
    expect(r.problems.join('\n')).toMatch(/schedule "b" \(entry 1\): module must be/);
    expect(r.problems.join('\n')).toMatch(/schedule "c" \(entry 2\): schedule "every day"/);
    expect(r.problems.join('\n')).toMatch(/schedule "d" \(entry 3\): timezone "Mars\/Olympus"/);
    expect(r.problems.join('\n')).toMatch(/schedule "b" \(entry 4\): the name is used/);
  });

  it('modules: "all" or a list, full or incremental; the output keeps no module', () => {
    const { module: _, ...base } = ok;
    const all = { ...base, name: 'everything', modules: 'all' };
    const list = { ...base, name: 'some', modules: ['Contacts', 'Quoted_Items'], mode: 'full' };
    expect(validateSchedules([all, list])).toEqual({
      schedules: [
        { ...all, timezone: 'UTC' },
        { ...list, timezone: 'UTC' },
      ],
      problems: [],
    });
    // A subform in an incremental list is allowed: each run reads it whole.
    expect(validateSchedules([{ ...list, mode: 'incremental' }]).problems).toEqual([]);
  });

  it('modules: exactly one of module and modules; no query; unique valid names; at most a snapshot', () => {
    const { module: _, ...base } = ok;
    const problems = (entry: Record<string, unknown>) => validateSchedules([entry]).problems.join('\n');
    expect(problems({ ...ok, modules: 'all' })).toMatch(
      /schedule "nightly" \(entry 0\): give either module \(one module\) or modules/,
    );
    expect(problems(base)).toMatch(/schedule "nightly" \(entry 0\): give module .* or modules/);
    expect(problems({ ...base, modules: 'all', fields: ['Email'], cvid: '1' })).toMatch(
      /fields, cvid apply to a single-module schedule only/,
    );
    expect(
      problems({
        ...base,
        modules: ['Leads'],
        criteria: { api_name: 'id', comparator: 'equal', value: '1' },
      }),
    ).toMatch(/criteria apply to a single-module schedule only/);
    expect(problems({ ...base, modules: [] })).toMatch(/modules must be "all" or a non-empty list/);
    expect(problems({ ...base, modules: 'everything' })).toMatch(/modules must be "all" or a non-empty list/);
    expect(problems({ ...base, modules: ['Leads', 'Con tacts', 7] })).toMatch(
      /modules: "Con tacts", 7 are not module API names/,
    );
    expect(problems({ ...base, modules: ['Leads', 'Deals', 'Leads'] })).toMatch(
      /modules lists Leads more than once/,
    );
    const many = Array.from({ length: 99 }, (_, i) => `M${i}`);
    expect(problems({ ...base, modules: many })).toMatch(/lists 99 modules; at most 98/);
    expect(problems({ ...base, modules: 'all', mode: 'delta' })).toMatch(
      /mode must be "full" or "incremental"/,
    );
    expect(problems({ ...base, modules: 'all', schedule: 'soon' })).toMatch(/schedule "soon"/);
  });

  it('modules: the byte budget counts the lists', () => {
    const { module: _, ...base } = ok;
    const long = Array.from({ length: 98 }, (_, i) => `Custom_Module_Number_${i}`);
    const r = validateSchedules([{ ...base, modules: long }]);
    expect(r.problems.join('\n')).toMatch(/bytes of JSON; at most 2500/);
  });

  it('incremental: own criteria leave room for the Modified_Time condition (24 at most)', () => {
    const leaf = (i: number) => ({ api_name: 'id', comparator: 'equal', value: String(i) });
    const group = (n: number) => ({
      group_operator: 'and',
      group: Array.from({ length: n }, (_, i) => leaf(i)),
    });
    expect(validateSchedules([{ ...ok, criteria: group(24) }]).problems).toEqual([]);
    expect(validateSchedules([{ ...ok, criteria: group(25) }]).problems[0]).toMatch(/at most 24 conditions/);
    expect(validateSchedules([{ ...ok, mode: 'full', criteria: group(25) }]).problems).toEqual([]);
  });

  it('the incremental condition: greater_than, ISO 8601 with offset, AND-ed into an and group', () => {
    const since = Date.UTC(2026, 11, 2, 1, 50, 0);
    expect(incrementalCriteria(undefined, since)).toEqual({
      api_name: 'Modified_Time',
      comparator: 'greater_than',
      value: '2026-12-02T01:50:00+00:00',
    });
    const own = { api_name: 'Lead_Source', comparator: 'equal', value: 'Web' };
    expect(incrementalCriteria(own, since)).toMatchObject({
      group_operator: 'and',
      group: [own, { api_name: 'Modified_Time' }],
    });
  });
});
