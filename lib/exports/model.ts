// Over 450 lines on purpose: the export record, its stored schema and its public JSON kept side by side.
/**
 * The export: the unit of work. One export owns the Zoho bulk read jobs of every page of one query of
 * one module; it is RUNNING until every page is EXPORTED (then COMPLETED, with a manifest) or a page
 * ends FAILED (then FAILED, with that page's error).
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { MODULE_PATTERN } from '../contract.js';
import type { JobError, ParquetFile, ParquetStatus, PublicJob, S3Location } from '../jobs/model.js';

export const EXPORT_STATUSES = ['RUNNING', 'COMPLETED', 'FAILED'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** `ex_` and a ULID: unique, and sorted by creation time. */
export const EXPORT_ID_PATTERN = /^ex_[0-9A-HJKMNP-TV-Z]{26}$/;
export const newExportId = (now: number = Date.now()): string => `ex_${ulid(now)}`;

export const OUTPUT_FORMATS = ['csv', 'parquet'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/**
 * `formula_refresh`: `id`, `Modified_Time` and the module's formula fields of every record, read again
 * by a schedule (lib/schedules/formulas.ts); the views take it as a refresh, never as a version.
 */
export const EXPORT_MODES = ['full', 'incremental', 'formula_refresh'] as const;

/** Where an export came from: the API, a registered job (`POST /jobs`), or a schedule. */
export type ExportSource = 'api' | 'job' | `schedule:${string}`;

// ---------------------------------------------------------------------------------------- the query

export { MODULE_PATTERN };
/** A field API name, with dot lookups (`Owner.last_name`) and Zoho's `$` fields (`$converted`). */
export const FIELD_PATTERN = /^\$?[A-Za-z0-9_]+(\.\$?[A-Za-z0-9_]+)*$/;
export const MAX_FIELDS = 200;
/** Zoho allows at most 25 criteria (leaves) in one query. */
export const MAX_CRITERIA = 25;
/** Nesting of criteria groups (Zoho documents no limit; deeper than this is surely a mistake). */
export const MAX_CRITERIA_DEPTH = 5;

export const COMPARATORS = [
  'equal',
  'not_equal',
  'in',
  'not_in',
  'less_than',
  'less_equal',
  'greater_than',
  'greater_equal',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
  'between',
  'not_between',
] as const;

export type Criteria =
  | { api_name?: string; field?: { api_name: string }; comparator: string; value: unknown }
  | { group_operator: string; group: Criteria[] };

const scalar = z.union([z.string().max(255), z.number().finite(), z.boolean(), z.null()]);

/**
 * Shape-checks a criteria tree the way Zoho reads it: a leaf (`api_name` or `field.api_name`,
 * `comparator`, `value`) or a group (`group_operator` and `group` of at least two), never both;
 * `in`/`not_in` take a list, `between`/`not_between` a pair; at most 25 leaves, 5 levels.
 */
function criteriaProblem(
  c: unknown,
  path: string,
  depth: number,
  count: { leaves: number },
): string | undefined {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return `${path} must be an object`;
  const o = c as Record<string, unknown>;
  const group = 'group' in o || 'group_operator' in o;
  const leaf = 'comparator' in o || 'value' in o || 'api_name' in o || 'field' in o;
  if (group && leaf) {
    return `${path} mixes a group (group_operator, group) with a condition (api_name, comparator, value); use one or the other`;
  }
  if (group) {
    const extra = Object.keys(o).filter((k) => k !== 'group' && k !== 'group_operator');
    if (extra.length) return `${path} has unknown field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}`;
    if (typeof o.group_operator !== 'string' || !/^(and|or)$/i.test(o.group_operator)) {
      return `${path}.group_operator must be "and" or "or"`;
    }
    if (!Array.isArray(o.group) || o.group.length < 2) {
      return `${path}.group must be a list of at least two criteria (a single condition needs no group)`;
    }
    if (depth >= MAX_CRITERIA_DEPTH)
      return `${path} nests groups more than ${MAX_CRITERIA_DEPTH} levels deep`;
    for (let i = 0; i < o.group.length; i++) {
      const p = criteriaProblem(o.group[i], `${path}.group[${i}]`, depth + 1, count);
      if (p) return p;
    }
    return undefined;
  }
  const extra = Object.keys(o).filter((k) => !['api_name', 'field', 'comparator', 'value'].includes(k));
  if (extra.length) return `${path} has unknown field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}`;
  const name =
    typeof o.api_name === 'string'
      ? o.api_name
      : o.field &&
          typeof o.field === 'object' &&
          typeof (o.field as { api_name?: unknown }).api_name === 'string'
        ? (o.field as { api_name: string }).api_name
        : undefined;
  if (o.api_name !== undefined && o.field !== undefined)
    return `${path} has both api_name and field; give one`;
  if (name === undefined)
    return `${path} needs the field's API name: "api_name" (or "field": {"api_name": ...})`;
  if (!FIELD_PATTERN.test(name) || name.length > 100)
    return `${path}: ${JSON.stringify(name.slice(0, 100))} is not a field API name`;
  if (typeof o.comparator !== 'string' || !(COMPARATORS as readonly string[]).includes(o.comparator)) {
    return `${path}.comparator must be one of ${COMPARATORS.join(', ')}`;
  }
  if (!('value' in o)) return `${path}.value is missing`;
  const list = o.comparator === 'in' || o.comparator === 'not_in';
  const pair = o.comparator === 'between' || o.comparator === 'not_between';
  const v = o.value;
  if (pair) {
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => scalar.safeParse(x).success)) {
      return `${path}.value must be a list of two values for ${o.comparator}`;
    }
  } else if (list) {
    if (
      !Array.isArray(v) ||
      v.length === 0 ||
      v.length > 100 ||
      !v.every((x) => scalar.safeParse(x).success)
    ) {
      return `${path}.value must be a list of 1 to 100 values for ${o.comparator}`;
    }
  } else if (!scalar.safeParse(v).success) {
    return `${path}.value must be a string (at most 255 characters), a number, a boolean or null`;
  }
  count.leaves++;
  if (count.leaves > MAX_CRITERIA)
    return `criteria holds more than ${MAX_CRITERIA} conditions (Zoho's limit)`;
  return undefined;
}

export const criteriaSchema = z.unknown().transform((v, ctx) => {
  const problem = criteriaProblem(v, 'criteria', 1, { leaves: 0 });
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem, params: { code: 'INVALID_CRITERIA' } });
    return z.NEVER;
  }
  return v as Criteria;
});

/** Counts the conditions (leaves) of a criteria tree. */
export function criteriaLeaves(c: Criteria): number {
  return 'group' in c ? c.group.reduce((n, g) => n + criteriaLeaves(g), 0) : 1;
}

/** A module's API name; missing is MISSING_FIELD, anything else that is not a name INVALID_MODULE. */
const moduleName = z.unknown().transform((v, ctx) => {
  if (v === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'module is missing; send {"module": "<module API name>"}, e.g. {"module": "Contacts"}',
      params: { code: 'MISSING_FIELD' },
    });
    return z.NEVER;
  }
  if (typeof v !== 'string') {
    ctx.addIssue({
      code: 'custom',
      message: 'module must be a string: the API name of a Zoho module, e.g. "Contacts"',
      params: { code: 'INVALID_MODULE' },
    });
    return z.NEVER;
  }
  if (!MODULE_PATTERN.test(v)) {
    ctx.addIssue({
      code: 'custom',
      message: 'module must be a Zoho module API name: 1 to 100 letters, digits or _ (e.g. "Contacts")',
      params: { code: 'INVALID_MODULE' },
    });
    return z.NEVER;
  }
  return v;
});

export const exportQuery = z.strictObject({
  module: moduleName,
  fields: z
    .array(
      z
        .string({ message: 'each field must be a string' })
        .max(100)
        .regex(FIELD_PATTERN, 'each field must be a field API name such as "Last_Name" or "Owner.last_name"'),
      { message: 'fields must be a list of field API names' },
    )
    .min(1, 'fields, when given, must name at least one field')
    .max(
      MAX_FIELDS,
      `fields may name at most ${MAX_FIELDS} fields (Zoho's limit; above it Zoho exports all fields)`,
    )
    .refine((f) => new Set(f).size === f.length, 'fields must not name a field twice')
    .optional(),
  criteria: criteriaSchema.optional(),
  cvid: z
    .string({ message: 'cvid must be a string of digits (a custom view id)' })
    .regex(/^[0-9]{1,19}$/, 'cvid must be 1 to 19 digits (a custom view id)')
    .optional(),
});
export type ExportQuery = z.output<typeof exportQuery>;

/** The query as stored and shown: every key present. */
export interface StoredQuery {
  fields: string[] | null;
  criteria: Criteria | null;
  cvid: string | null;
}

// ---------------------------------------------------------------------------------------- records

export interface ManifestLocation {
  bucket: string;
  key: string;
}

/** The export record in DynamoDB. */
export interface ExportRecord {
  export_id: string;
  /** Always "export": the partition key of the index of all exports. */
  kind: 'export';
  /** Absent for a registered job until Zoho's first status names it (an index key cannot be null). */
  module?: string;
  status: ExportStatus;
  source: ExportSource;
  query: StoredQuery;
  /** The API version its jobs are created with. */
  api_version: string;
  /** What every page is written as (csv always; parquet for analytics). */
  formats: OutputFormat[];
  /** `full`, `incremental` (records modified since a schedule's watermark) or `formula_refresh`. */
  mode: (typeof EXPORT_MODES)[number];
  /** Incremental: the window's start (ISO), records modified and deleted after it. */
  since?: string;
  /** The snapshot (`POST /snapshots`) this export is one module of. */
  snapshot_id?: string;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  /** When a finished export was last reopened (to convert its pages again): it has run since then. */
  reopened_at?: string;
  /** UTC date of creation: the `export_date` partition of every page. */
  export_date: string;
  /** Job id of each page, in page order: page N is `page_jobs[N - 1]`. */
  page_jobs: string[];
  /** `page_jobs.length`, as a number a condition can test. */
  pages_created?: number;
  manifest: ManifestLocation | null;
  error: (JobError & { page?: number; job_id?: string }) | null;
  /** A follow-up page wanted or being created (recorded before Zoho is asked: see ExportStore). */
  intent_page?: number;
  intent_state?: 'wanted' | 'creating';
  intent_since?: number;
  /** When Zoho was last asked to create the page (a job it made then may still be adopted). */
  intent_tried_at?: number;
  intent_until?: number;
  intent_attempts?: number;
  intent_parent?: string;
  intent_page_token?: string;
  intent_owner?: string;
  intent_error?: JobError;
  /** The nonce of the claimed creation attempt: only its callback token may adopt a job for the page. */
  intent_nonce?: string;
  /** Pages re-created after an expiry so far (lib/exports/recovery.ts), as a number a condition can test. */
  recoveries?: number;
  /** When the last recovery was recorded (epoch ms): the next one waits for its backoff after it. */
  recovered_at?: number;
  /**
   * The finalizer that alone may write the manifest and complete the export, and until when
   * (lib/exports/finalize.ts; ExportStore.claimFinalize).
   */
  finalize_owner?: string;
  finalize_until?: number;
  /** "yes" from a reopen until every page's conversion is requested (ExportStore.reopen). */
  reconvert_pending?: 'yes';
  /** "yes" while the completion event is not published (sparse index). */
  event_pending?: 'yes';
  /** The publisher holding the pending event, until `event_until` (ms): one sends it at a time. */
  event_owner?: string;
  event_until?: number;
  /** How often in a row the poller's sweep failed on the export (its backoff: lib/exports/sweep.ts). */
  attention_failures?: number;
  expires_at?: number;
}

/**
 * A stored criteria tree, by shape only: a leaf or a group. The rules of `criteriaSchema` (comparators,
 * limits) judge a request; a stored query was judged when it came in, perhaps by older rules.
 */
const storedCriteria: z.ZodType<Criteria> = z.union([
  z.looseObject({
    api_name: z.string().optional(),
    field: z.looseObject({ api_name: z.string() }).optional(),
    comparator: z.string(),
    value: z.unknown(),
  }),
  z.looseObject({
    group_operator: z.string(),
    get group() {
      return z.array(storedCriteria);
    },
  }),
]);

const storedQuery: z.ZodType<StoredQuery> = z.looseObject({
  fields: z.array(z.string()).nullable(),
  criteria: storedCriteria.nullable(),
  cvid: z.string().nullable(),
});

const storedError = z.looseObject({ code: z.string(), message: z.string() });
const instant = z.number().finite();

export const exportSourceSchema: z.ZodType<ExportSource> = z.union([
  z.literal('api'),
  z.literal('job'),
  z.templateLiteral(['schedule:', z.string()]),
]);

/**
 * The export record as read back from DynamoDB (lib/exports/store.ts parses every read with it). Loose:
 * attributes this release does not name (the sweep's `attention`, `attention_at`) pass through
 * untouched. `mode` and `formats` default as the code always read them (`full`, csv only): exports
 * written before they existed lack them.
 */
export const exportRecordSchema: z.ZodType<ExportRecord> = z.looseObject({
  export_id: z.string().min(1),
  kind: z.literal('export'),
  module: z.string().optional(),
  status: z.enum(EXPORT_STATUSES),
  source: exportSourceSchema,
  query: storedQuery,
  api_version: z.string(),
  formats: z.array(z.enum(OUTPUT_FORMATS)).default(['csv']),
  mode: z.enum(EXPORT_MODES).default('full'),
  since: z.string().optional(),
  snapshot_id: z.string().min(1).optional(),
  created_at: z.string().min(1),
  updated_at: z.string().min(1),
  completed_at: z.string().nullable(),
  reopened_at: z.string().optional(),
  export_date: z.string(),
  page_jobs: z.array(z.string()),
  pages_created: z.number().int().nonnegative().optional(),
  manifest: z.looseObject({ bucket: z.string(), key: z.string() }).nullable(),
  error: storedError.extend({ page: z.number().int().optional(), job_id: z.string().optional() }).nullable(),
  intent_page: z.number().int().positive().optional(),
  intent_state: z.enum(['wanted', 'creating']).optional(),
  intent_since: instant.optional(),
  intent_tried_at: instant.optional(),
  intent_until: instant.optional(),
  intent_attempts: z.number().int().optional(),
  intent_parent: z.string().optional(),
  intent_page_token: z.string().optional(),
  intent_owner: z.string().optional(),
  intent_error: storedError.optional(),
  intent_nonce: z.string().optional(),
  recoveries: z.number().int().nonnegative().optional(),
  recovered_at: instant.optional(),
  finalize_owner: z.string().optional(),
  finalize_until: instant.optional(),
  reconvert_pending: z.literal('yes').optional(),
  event_pending: z.literal('yes').optional(),
  event_owner: z.string().optional(),
  event_until: instant.optional(),
  attention_failures: z.number().int().nonnegative().optional(),
  expires_at: instant.optional(),
});

/** One page as the export JSON shows it. */
export interface PublicPage {
  page: number;
  job_id: string;
  status: PublicJob['status'];
  records: number | null;
  s3: S3Location | null;
  /** The page's Parquet file (its fields null until converted); null when the export is CSV only. */
  parquet: PublicParquet | null;
}

export type PublicParquet = { status: ParquetStatus } & {
  [K in 'bucket' | 'key' | 'bytes' | 'rows' | 'row_groups']: ParquetFile[K] | null;
};

export interface PublicExport {
  export_id: string;
  module: string | null;
  status: ExportStatus;
  source: ExportSource;
  mode: ExportRecord['mode'];
  /** Incremental exports: records modified (and deleted) after this instant; null for a full export. */
  since: string | null;
  formats: OutputFormat[];
  query: StoredQuery;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  pages: PublicPage[];
  /** What has landed so far. */
  records: number;
  bytes: number;
  manifest: ManifestLocation | null;
  error: ExportRecord['error'];
  /**
   * Only while page 1's creation awaits Zoho's confirmation (the create got no answer; the job's
   * callback adopts it if Zoho made it, else page 1 is asked for again after the adoption window).
   */
  pending_page?: {
    page: 1;
    since: string;
    code: 'ZOHO_CREATE_UNCERTAIN' | 'ZOHO_JOB_SLOTS_FULL';
    message: string;
  };
  /** The snapshot this export is one module of (`POST /snapshots`). */
  snapshot_id?: string;
}

/** Page 1 of a RUNNING export is an intent, not a job yet: its creation got no answer from Zoho. */
function pendingFirstPage(e: ExportRecord): PublicExport['pending_page'] {
  if (e.status !== 'RUNNING' || e.page_jobs.length > 0 || e.intent_page !== 1) return undefined;
  const since = new Date(e.intent_tried_at ?? e.intent_since ?? Date.parse(e.created_at)).toISOString();
  // Every Zoho job slot was held when page 1 was asked for (lib/zoho/job-slots.ts): it waits its turn.
  if (e.intent_state === 'wanted' && e.intent_error?.code.startsWith('ZOHO_JOB_SLOTS_'))
    return {
      page: 1,
      since,
      code: 'ZOHO_JOB_SLOTS_FULL',
      message:
        'page 1 waits for a Zoho job slot: as many jobs as ZOHO_MAX_CONCURRENT_JOBS allows are running; ' +
        'it is created as soon as one of them ends',
    };
  // A snapshot's module export queued for its first create (lib/snapshots/start.ts): nothing uncertain.
  if (e.snapshot_id !== undefined && e.intent_state === 'wanted') return undefined;
  return {
    page: 1,
    since,
    code: 'ZOHO_CREATE_UNCERTAIN',
    message:
      `page 1's creation awaits Zoho's confirmation: Zoho did not answer the create in time` +
      `${e.intent_error ? ` (${e.intent_error.code})` : ''}; if it made the job, its callback adds it ` +
      'here, otherwise page 1 is asked for again after the adoption window (1 h)',
  };
}

export function toPublicExport(e: ExportRecord, pages: PublicPage[]): PublicExport {
  const pending = pendingFirstPage(e);
  const landed = pages.filter((p) => p.status === 'EXPORTED');
  return {
    export_id: e.export_id,
    module: e.module ?? null,
    status: e.status,
    source: e.source,
    mode: e.mode ?? 'full',
    since: e.since ?? null,
    formats: e.formats ?? ['csv'],
    query: e.query,
    created_at: e.created_at,
    updated_at: e.updated_at,
    completed_at: e.completed_at,
    pages,
    records: landed.reduce((n, p) => n + (p.records ?? 0), 0),
    bytes: landed.reduce((n, p) => n + (p.s3?.bytes ?? 0), 0),
    manifest: e.manifest,
    error: e.error,
    ...(pending ? { pending_page: pending } : {}),
    ...(e.snapshot_id ? { snapshot_id: e.snapshot_id } : {}),
  };
}
