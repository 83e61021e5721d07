/**
 * Schedule definitions: the CDK context key `schedules` (deployed) or `LOCAL_SCHEDULES` (npm start),
 * a JSON list of `{name, module | modules, fields?, criteria?, cvid?, mode, schedule, timezone?}`
 * (`modules`: `"all"` or a list; each run is a snapshot, lib/schedules/snapshot-run.ts). One schema
 * for both (and for the `SCHEDULES` variable that carries them to the functions): the query parts
 * are checked with the same schemas as `POST /exports`, the expression by lib/schedules/expression.ts,
 * the time zone by Intl; every problem names the entry.
 */
import { z } from 'zod';
import { type Criteria, criteriaSchema, exportQuery, MODULE_PATTERN } from '../exports/model.js';
import { MAX_SNAPSHOT_MODULES } from '../snapshots/model.js';
import { ExpressionError, isTimeZone, parseScheduleExpression } from './expression.js';
import { formulaRefreshProblems } from './formulas.js';
import { incrementalCriteria } from './incremental.js';
import { knownSubform, type SubformPredicate } from './subforms.js';

/** EventBridge Scheduler's schedule-name rule (letters, digits, `.`, `_`, `-`; 1 to 64). */
export const SCHEDULE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_SCHEDULES = 50;
/**
 * Lambda allows 4 KB of environment in all; the definitions travel in `SCHEDULES`, so they must stay
 * well inside it (long field lists belong in a custom view: `cvid`).
 */
export const MAX_SCHEDULES_JSON_BYTES = 2_500;

interface ScheduleBase {
  name: string;
  schedule: string;
  timezone: string;
}

/** One module, with its query: each run is one export. */
export interface ModuleScheduleDefinition extends ScheduleBase {
  module: string;
  fields?: string[];
  criteria?: Criteria;
  cvid?: string;
  /** `formula_refresh`: the module's formula fields read again (lib/schedules/formulas.ts). */
  mode: 'full' | 'incremental' | 'formula_refresh';
}

/** Several modules (`"all"`: every exportable one at run time): each run is one snapshot. */
export interface ModulesScheduleDefinition extends ScheduleBase {
  module?: undefined;
  modules: 'all' | string[];
  mode: 'full' | 'incremental';
}

export type ScheduleDefinition = ModuleScheduleDefinition | ModulesScheduleDefinition;

/** A multi-module schedule (its runs are snapshots). */
export const isModulesSchedule = (d: ScheduleDefinition): d is ModulesScheduleDefinition =>
  'modules' in d && d.modules !== undefined;

// Every key an entry may have, each checked on its own below; an unknown key is named with this list.
const entryShape = z.strictObject({
  name: z.unknown(),
  module: z.unknown().optional(),
  modules: z.unknown().optional(),
  fields: z.unknown().optional(),
  criteria: z.unknown().optional(),
  cvid: z.unknown().optional(),
  mode: z.unknown(),
  schedule: z.unknown(),
  timezone: z.unknown().optional(),
});
const ENTRY_KEYS = Object.keys(entryShape.shape).join(', ');

/** Every problem of one entry, each a sentence. */
function entryProblems(
  raw: unknown,
  isSubform: SubformPredicate,
): { def?: ScheduleDefinition; problems: string[] } {
  const problems: string[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { problems: ['must be an object'] };
  const shape = entryShape.safeParse(raw);
  if (!shape.success) {
    for (const i of shape.error.issues) {
      if (i.code === 'unrecognized_keys')
        problems.push(
          `unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')} (allowed: ${ENTRY_KEYS})`,
        );
      else problems.push(`${i.path.join('.')}: ${i.message}`);
    }
    return { problems };
  }
  const e = shape.data;
  if (typeof e.name !== 'string' || !SCHEDULE_NAME_PATTERN.test(e.name))
    problems.push('name must be 1 to 64 letters, digits, ".", "_" or "-" (an EventBridge Scheduler name)');
  if (e.modules !== undefined) return modulesEntry(e, problems);
  if (e.module === undefined) {
    problems.push('give module (one module, with an optional query) or modules ("all" or a list of modules)');
    commonProblems(e, problems);
    return { problems };
  }
  const q = exportQuery.safeParse({
    module: e.module,
    ...(e.fields !== undefined ? { fields: e.fields } : {}),
    ...(e.criteria !== undefined ? { criteria: e.criteria } : {}),
    ...(e.cvid !== undefined ? { cvid: e.cvid } : {}),
  });
  if (!q.success) {
    for (const i of q.error.issues) {
      const where = i.path.length ? i.path.join('.') : '';
      problems.push(i.message.startsWith(where) ? i.message : `${where}: ${i.message}`);
    }
  }
  if (e.mode !== 'full' && e.mode !== 'incremental' && e.mode !== 'formula_refresh')
    problems.push('mode must be "full" or "incremental" (or "formula_refresh": the formula fields alone)');
  else if (e.mode === 'formula_refresh') problems.push(...formulaRefreshProblems(e));
  else if (e.mode === 'incremental' && q.success && isSubform(q.data.module))
    problems.push(
      `module ${q.data.module} is a subform (line items): Zoho's deleted-records API does not cover subforms, so an incremental run would never see a removed line item; use mode "full" (each run re-reads all its line items, which keeps _current exact)`,
    );
  const common = commonProblems(e, problems);
  if (problems.length || !q.success || !common) return { problems };
  const def: ModuleScheduleDefinition = {
    name: e.name as string,
    module: q.data.module,
    ...(q.data.fields ? { fields: q.data.fields } : {}),
    ...(q.data.criteria ? { criteria: q.data.criteria } : {}),
    ...(q.data.cvid ? { cvid: q.data.cvid } : {}),
    mode: e.mode as ModuleScheduleDefinition['mode'],
    ...common,
  };
  if (def.mode === 'incremental') {
    // The incremental condition joins the schedule's own criteria: the sum must still be a query
    // Zoho takes (25 conditions, the nesting limit).
    const combined = criteriaSchema.safeParse(incrementalCriteria(def.criteria, 0));
    if (!combined.success)
      problems.push(
        `criteria leave no room for the incremental condition on Modified_Time (at most 24 conditions for an incremental schedule): ${combined.error.issues[0]?.message}`,
      );
  }
  return problems.length ? { problems } : { def, problems };
}

type Entry = z.infer<typeof entryShape>;

/**
 * A `modules` entry: `"all"` or a list of unique module API names (at most a snapshot's). Its runs
 * read each module whole or since its own watermark, so it takes no query: `fields`, `criteria` and
 * `cvid` belong to single-module schedules. A subform in the list is allowed: it is read whole.
 */
function modulesEntry(e: Entry, problems: string[]): { def?: ScheduleDefinition; problems: string[] } {
  if (e.module !== undefined)
    problems.push('give either module (one module) or modules ("all" or a list), not both');
  const query = (['fields', 'criteria', 'cvid'] as const).filter((k) => e[k] !== undefined);
  if (query.length)
    problems.push(
      `${query.join(', ')} apply to a single-module schedule only: a modules schedule exports each module whole (or what changed since its watermark); make one schedule per module that needs a query`,
    );
  const m = e.modules;
  let modules: 'all' | string[] | undefined;
  if (m === 'all') modules = 'all';
  else if (!Array.isArray(m) || m.length === 0)
    problems.push('modules must be "all" or a non-empty list of module API names');
  else if (m.length > MAX_SNAPSHOT_MODULES)
    problems.push(`modules lists ${m.length} modules; at most ${MAX_SNAPSHOT_MODULES} (one snapshot's)`);
  else {
    const bad = m.filter((x) => typeof x !== 'string' || !MODULE_PATTERN.test(x));
    const dup = m.filter((x, i) => m.indexOf(x) !== i);
    if (bad.length)
      problems.push(
        `modules: ${bad.map((x) => JSON.stringify(x)).join(', ')} ${bad.length === 1 ? 'is not a module API name' : 'are not module API names'} (letters, digits and "_", as GET /modules lists them)`,
      );
    if (dup.length) problems.push(`modules lists ${[...new Set(dup)].join(', ')} more than once`);
    if (!bad.length && !dup.length) modules = m as string[];
  }
  if (e.mode === 'formula_refresh')
    problems.push(
      'mode "formula_refresh" applies to a single-module schedule only: give module, and one schedule per module whose formulas you refresh',
    );
  else if (e.mode !== 'full' && e.mode !== 'incremental')
    problems.push('mode must be "full" or "incremental"');
  const common = commonProblems(e, problems);
  if (problems.length || !modules || !common) return { problems };
  return {
    def: { name: e.name as string, modules, mode: e.mode as ModulesScheduleDefinition['mode'], ...common },
    problems,
  };
}

/** The expression and the time zone, checked: problems are pushed onto `problems`. */
function commonProblems(e: Entry, problems: string[]): { schedule: string; timezone: string } | undefined {
  let schedule = '';
  if (typeof e.schedule !== 'string') problems.push('schedule must be a string: "cron(...)" or "rate(...)"');
  else {
    schedule = e.schedule.trim();
    try {
      parseScheduleExpression(schedule);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      problems.push(`schedule ${JSON.stringify(schedule)}: ${err.message}`);
    }
  }
  const timezone = e.timezone ?? 'UTC';
  if (typeof timezone !== 'string' || !isTimeZone(timezone))
    problems.push(
      `timezone ${JSON.stringify(timezone)} is not an IANA time zone (e.g. "Europe/Berlin", "UTC")`,
    );
  return typeof timezone === 'string' && schedule ? { schedule, timezone } : undefined;
}

/**
 * Validates a list of schedule entries (already parsed JSON). Each problem names the entry (its name,
 * or its position) and what to change.
 */
export function validateSchedules(
  raw: unknown,
  isSubform: SubformPredicate = knownSubform,
): { schedules: ScheduleDefinition[]; problems: string[] } {
  if (!Array.isArray(raw))
    return { schedules: [], problems: ['must be a JSON list of schedule entries: [{"name": ..., ...}]'] };
  const problems: string[] = [];
  const schedules: ScheduleDefinition[] = [];
  if (raw.length > MAX_SCHEDULES) problems.push(`at most ${MAX_SCHEDULES} schedules`);
  const seen = new Set<string>();
  raw.forEach((entry, i) => {
    const name = (entry as { name?: unknown } | null)?.name;
    const label =
      typeof name === 'string'
        ? `schedule ${JSON.stringify(name.slice(0, 64))} (entry ${i})`
        : `schedule entry ${i}`;
    const r = entryProblems(entry, isSubform);
    for (const p of r.problems) problems.push(`${label}: ${p}`);
    if (typeof name === 'string') {
      if (seen.has(name))
        problems.push(`${label}: the name is used by an earlier entry; names must be unique`);
      seen.add(name);
    }
    if (r.def) schedules.push(r.def);
  });
  const bytes = Buffer.byteLength(JSON.stringify(schedules));
  if (!problems.length && bytes > MAX_SCHEDULES_JSON_BYTES)
    problems.push(
      `the schedules take ${bytes} bytes of JSON; at most ${MAX_SCHEDULES_JSON_BYTES} fit into the functions' environment (use a custom view, cvid, instead of long field lists)`,
    );
  return { schedules, problems };
}

/** A JSON string (the variable) or an already parsed list (cdk.json) → the validated definitions. */
export const schedulesSchema = z.preprocess(
  (v) => (v === undefined || v === null || (typeof v === 'string' && v.trim() === '') ? '[]' : v),
  z.unknown().transform((v, ctx): ScheduleDefinition[] => {
    let parsed: unknown = v;
    if (typeof v === 'string') {
      try {
        parsed = JSON.parse(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `not valid JSON: ${(e as Error).message.slice(0, 200)}` });
        return z.NEVER;
      }
    }
    const r = validateSchedules(parsed);
    if (r.problems.length) {
      ctx.addIssue({ code: 'custom', message: r.problems.join('; ') });
      return z.NEVER;
    }
    return r.schedules;
  }),
);
