/**
 * EventBridge Scheduler expressions, as AWS writes them: `rate(<n> <unit>)` and the six-field
 * `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`, evaluated in a time zone.
 * The CDK stack only validates them (Scheduler evaluates them in AWS); the local stack's timer uses
 * `cronMatches` and `rateMs` to run the same schedules.
 *
 * Cron syntax (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):
 *   minutes 0-59, hours 0-23, day-of-month 1-31 (`L`, `LW`, `<n>W`), month 1-12 or JAN-DEC,
 *   day-of-week 1-7 (1 = Sunday) or SUN-SAT (`<d>L` the last such weekday, `<d>#<n>` the n-th),
 *   year 1970-2199; `*`, `,`, `-`, `/` in every field; `?` in exactly one of day-of-month and
 *   day-of-week (one of the two must be `?`).
 */

import { CodedError } from '../errors.js';

export type ScheduleExpression =
  | { kind: 'rate'; value: number; unit: 'minute' | 'hour' | 'day'; ms: number }
  | { kind: 'cron'; fields: CronFields };

export interface CronFields {
  minutes: Set<number>;
  hours: Set<number>;
  months: Set<number>;
  years: Set<number>;
  /** Day-of-month: `undefined` when `?`. */
  dom?: DomSpec;
  /** Day-of-week: `undefined` when `?`. */
  dow?: DowSpec;
}

interface DomSpec {
  days: Set<number>;
  last: boolean;
  lastWeekday: boolean;
  /** `<n>W`: the weekday nearest day n. */
  nearestWeekday?: number;
}

interface DowSpec {
  days: Set<number>;
  /** `<d>L`: the last weekday d of the month. */
  last?: number;
  /** `<d>#<n>`: the n-th weekday d of the month. */
  nth?: { day: number; n: number };
}

/** A schedule expression or time zone that cannot be read; the message says which part and why. */
export class ExpressionError extends CodedError {
  override readonly name = 'ExpressionError';
  constructor(message: string) {
    super({ code: 'INVALID_SCHEDULE_EXPRESSION', kind: 'invalid', message });
  }
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Range {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

function value(token: string, r: Range): number {
  const upper = token.toUpperCase();
  const named = r.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + r.min;
  if (!/^\d{1,4}$/.test(token))
    throw new ExpressionError(`${r.name}: ${JSON.stringify(token)} is not a value`);
  const n = Number(token);
  if (n < r.min || n > r.max) throw new ExpressionError(`${r.name}: ${n} is outside ${r.min}-${r.max}`);
  return n;
}

/** `*`, `a`, `a-b`, `a/s`, `*\/s`, `a-b/s`, joined by `,`. */
function valueSet(field: string, r: Range): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    if (part === '') throw new ExpressionError(`${r.name}: empty list item`);
    const [base, stepText, extra] = part.split('/');
    if (extra !== undefined) throw new ExpressionError(`${r.name}: ${JSON.stringify(part)} has two "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,4}$/.test(stepText) || Number(stepText) < 1)
        throw new ExpressionError(`${r.name}: the step in ${JSON.stringify(part)} must be a positive number`);
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (base === '*') {
      from = r.min;
      to = r.max;
    } else if (base?.includes('-')) {
      const [a, b, more] = base.split('-');
      if (more !== undefined || a === undefined || b === undefined)
        throw new ExpressionError(`${r.name}: ${JSON.stringify(part)} is not a range`);
      from = value(a, r);
      to = value(b, r);
      if (from > to) throw new ExpressionError(`${r.name}: the range ${JSON.stringify(base)} runs backwards`);
    } else {
      from = value(base ?? '', r);
      to = stepText === undefined ? from : r.max;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

function parseDom(field: string): DomSpec | undefined {
  if (field === '?') return undefined;
  const r: Range = { name: 'day-of-month', min: 1, max: 31 };
  if (field === 'L') return { days: new Set(), last: true, lastWeekday: false };
  if (field === 'LW') return { days: new Set(), last: false, lastWeekday: true };
  const w = /^(\d{1,2})W$/.exec(field);
  if (w) return { days: new Set(), last: false, lastWeekday: false, nearestWeekday: value(w[1]!, r) };
  return { days: valueSet(field, r), last: false, lastWeekday: false };
}

function parseDow(field: string): DowSpec | undefined {
  if (field === '?') return undefined;
  const r: Range = { name: 'day-of-week', min: 1, max: 7, names: DAYS };
  const last = /^([A-Za-z]{3}|\d)L$/.exec(field);
  if (last) return { days: new Set(), last: value(last[1]!, r) };
  const nth = /^([A-Za-z]{3}|\d)#(\d)$/.exec(field);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5) throw new ExpressionError('day-of-week: the n of "#n" must be 1 to 5');
    return { days: new Set(), nth: { day: value(nth[1]!, r), n } };
  }
  return { days: valueSet(field, r) };
}

/** Parses `rate(...)` or `cron(...)`; throws an ExpressionError saying what is wrong. */
export function parseScheduleExpression(expr: string): ScheduleExpression {
  const rate = /^rate\((.*)\)$/.exec(expr);
  if (rate) {
    const m = /^(\d{1,6}) (minute|minutes|hour|hours|day|days)$/.exec(rate[1]!);
    if (!m)
      throw new ExpressionError('rate(...) takes "<number> <unit>", e.g. rate(1 hour) or rate(15 minutes)');
    const n = Number(m[1]);
    const unit = m[2]!.replace(/s$/, '') as 'minute' | 'hour' | 'day';
    if (n < 1) throw new ExpressionError('rate(...) needs a positive number');
    if ((n === 1) !== !m[2]!.endsWith('s'))
      throw new ExpressionError(`rate(...): write ${n === 1 ? `1 ${unit}` : `${n} ${unit}s`}`);
    const unitMs = unit === 'minute' ? 60_000 : unit === 'hour' ? 3_600_000 : 86_400_000;
    return { kind: 'rate', value: n, unit, ms: n * unitMs };
  }
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (!cron)
    throw new ExpressionError(
      'a schedule is "cron(<6 fields>)" or "rate(<n> <unit>)", e.g. cron(0 2 * * ? *)',
    );
  const parts = cron[1]!.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new ExpressionError(
      `cron(...) has ${parts.length} field(s); AWS takes 6: minutes hours day-of-month month day-of-week year, e.g. cron(0 2 * * ? *)`,
    );
  }
  const [min, hour, dom, month, dow, year] = parts as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?'))
    throw new ExpressionError('cron(...): exactly one of day-of-month and day-of-week must be "?"');
  const fields: CronFields = {
    minutes: valueSet(min, { name: 'minutes', min: 0, max: 59 }),
    hours: valueSet(hour, { name: 'hours', min: 0, max: 23 }),
    months: valueSet(month, { name: 'month', min: 1, max: 12, names: MONTHS }),
    years: valueSet(year, { name: 'year', min: 1970, max: 2199 }),
  };
  const d = parseDom(dom);
  const w = parseDow(dow);
  if (d) fields.dom = d;
  if (w) fields.dow = w;
  return { kind: 'cron', fields };
}

/** The wall-clock time of `ms` in `timeZone`. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 1 = Sunday ... 7 = Saturday (AWS's numbering). */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

export function wallClock(ms: number, timeZone: string): WallClock {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(new Date(ms))) p[part.type] = part.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour) % 24,
    minute: Number(p.minute),
    weekday: DAYS.indexOf(String(p.weekday).toUpperCase()) + 1,
  };
}

/** True when `timeZone` is an IANA time zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
/** 1 = Sunday ... 7 = Saturday, of a calendar date. */
const weekdayOf = (year: number, month: number, day: number): number =>
  new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;

function domMatches(d: DomSpec, c: WallClock): boolean {
  const last = daysIn(c.year, c.month);
  if (d.last) return c.day === last;
  const weekday = (day: number) => {
    const wd = weekdayOf(c.year, c.month, day);
    return wd >= 2 && wd <= 6;
  };
  if (d.lastWeekday) {
    let day = last;
    while (!weekday(day)) day--;
    return c.day === day;
  }
  if (d.nearestWeekday !== undefined) {
    // The weekday nearest day n, never leaving the month (Quartz's rule, which AWS follows).
    let n = Math.min(d.nearestWeekday, last);
    const wd = weekdayOf(c.year, c.month, n);
    if (wd === 7) n = n === 1 ? 3 : n - 1;
    else if (wd === 1) n = n === last ? n - 2 : n + 1;
    return c.day === n;
  }
  return d.days.has(c.day);
}

function dowMatches(w: DowSpec, c: WallClock): boolean {
  if (w.last !== undefined) return c.weekday === w.last && c.day + 7 > daysIn(c.year, c.month);
  if (w.nth) return c.weekday === w.nth.day && Math.ceil(c.day / 7) === w.nth.n;
  return w.days.has(c.weekday);
}

/** Whether a cron expression fires in the minute that holds `ms`, in `timeZone`. */
export function cronMatches(fields: CronFields, ms: number, timeZone: string): boolean {
  const c = wallClock(ms, timeZone);
  return (
    fields.minutes.has(c.minute) &&
    fields.hours.has(c.hour) &&
    fields.months.has(c.month) &&
    fields.years.has(c.year) &&
    (fields.dom ? domMatches(fields.dom, c) : true) &&
    (fields.dow ? dowMatches(fields.dow, c) : true)
  );
}
