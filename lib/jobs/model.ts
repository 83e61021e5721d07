import { z } from 'zod';

export const JOB_STATUSES = ['PENDING', 'DOWNLOADING', 'EXPORTED', 'FAILED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINISHED: ReadonlySet<JobStatus> = new Set(['EXPORTED', 'FAILED']);

/** A Zoho bulk read job id as the API accepts it: 1 to 19 ASCII digits, as a string. */
export const JOB_ID_PATTERN = /^[0-9]{1,19}$/;

export interface JobError {
  code: string;
  message: string;
}

/**
 * What a job's export must do about the job's last transition, stored on the job with the transition
 * (`export_reaction`) until the export has done it. lib/exports/reactions.ts owns the protocol: the
 * table of transitions and reactions is in docs/architecture.md.
 */
export const EXPORT_REACTIONS = [
  /** COMPLETED at Zoho with more records: the next page is wanted. */
  'page_completed',
  /** The CSV landed: convert the page (Parquet), or complete the export. */
  'page_exported',
  /** The page's conversion is claimed or waits for its retry: dispatch it again if it stalls. */
  'page_converting',
  /** The page's Parquet file is written: the export may be complete. */
  'page_converted',
  /** The page's conversion failed for good: the export fails. */
  'page_conversion_failed',
  /** The job ended FAILED (EXPIRED included): recover the page, or fail the export. */
  'page_failed',
] as const;
export type ExportReaction = (typeof EXPORT_REACTIONS)[number];

export const PARQUET_STATUSES = ['PENDING', 'CONVERTING', 'DONE', 'FAILED'] as const;
export type ParquetStatus = (typeof PARQUET_STATUSES)[number];

/** A page's Parquet file, as its job, the export JSON and the manifest list it. */
export interface ParquetFile {
  bucket: string;
  key: string;
  bytes: number;
  rows: number;
  row_groups: number;
  compression: string;
  /** Values that did not parse as their column's type, per column (written NULL, kept in `_zoho_conversion_errors`). */
  conversion_errors: Record<string, number>;
  /**
   * Every column: name, the Zoho field (API name) it holds, Parquet type (the table's), Zoho type,
   * the type Zoho's metadata gave when the table's differs, and why it is STRING when it is.
   */
  columns: Array<{
    name: string;
    zoho_field?: string;
    type: string;
    zoho_type: string | null;
    metadata_type?: string | null;
    reason: string | null;
  }>;
}

export interface S3Location {
  bucket: string;
  key: string;
  bytes: number;
}

/** Fields stored exactly as the API shows them. */
interface JobCore {
  job_id: string;
  status: JobStatus;
  /** The last state Zoho reported, verbatim. */
  zoho_state: string | null;
  module: string | null;
  page: number | null;
  created_at: string;
  updated_at: string;
  /** Download attempts made so far. */
  attempts: number;
  /** Zoho's `result.count`, verified against the file. */
  records: number | null;
}
const CORE_FIELDS = [
  'job_id',
  'status',
  'zoho_state',
  'module',
  'page',
  'created_at',
  'updated_at',
  'attempts',
  'records',
] as const satisfies readonly (keyof JobCore)[];

/** Fields a record may lack; the API shows them as null. */
interface JobOptional {
  /** The export this job is a page of. */
  export_id: string;
  s3: S3Location;
  error: JobError;
  next_job_id: string;
  previous_job_id: string;
  /** Zoho said more_records but the next page could not be created: the module's export is incomplete. */
  follow_up_error: JobError;
}
const OPTIONAL_FIELDS = [
  'export_id',
  's3',
  'error',
  'next_job_id',
  'previous_job_id',
  'follow_up_error',
] as const satisfies readonly (keyof JobOptional)[];

/** The job record in DynamoDB: the public fields, then the bookkeeping the pipeline needs. */
export type JobRecord = JobCore &
  Partial<JobOptional> & {
    /** When the job is next due for the poller (epoch ms); sort key of the `by-status` index. */
    next_check_at: number;
    /** The last retryable error (shown while the job is unfinished). */
    last_error?: JobError;
    /** Status checks made so far (drives the backoff). */
    checks: number;
    /** Retryable errors in a row (drives the error backoff). */
    consecutive_errors?: number;
    poll_token?: string;
    dispatch_id?: string;
    download_owner?: string;
    download_url?: string;
    api_version?: string;
    more_records?: boolean;
    next_page_token?: string;
    /** The export's date and source: where the CSV lands (see lib/exports/layout.ts). */
    export_date?: string;
    export_source?: string;
    /** The page is also converted to Parquet (its export's formats include parquet). */
    parquet_wanted?: boolean;
    /** Zoho was given our callback URL for this job: polling is only the fallback (longer backoff). */
    callback?: boolean;
    /** The nonce in this job's callback token: a token of another attempt at the page is refused. */
    callback_nonce?: string;
    /** When a callback last made the job due (epoch ms): one status check per check lease, however many come. */
    made_due_at?: number;
    parquet_status?: ParquetStatus;
    parquet?: ParquetFile;
    parquet_error?: JobError;
    parquet_owner?: string;
    parquet_until?: number;
    parquet_attempts?: number;
    /** When the verified CSV landed (the `_exported_at` of its Parquet rows). */
    exported_at?: string;
    /** "yes" until the job's export has taken in its last transition (see JobStore.exportHandled). */
    export_pending?: 'yes';
    /** When the poller's sweep does it if the function that moved the job did not. */
    export_due?: number;
    /**
     * Which reaction is pending (lib/exports/reactions.ts). Absent on items written before it was
     * stored: the sweep then derives it from the job's state, as it always did.
     */
    export_reaction?: ExportReaction;
    /** How often in a row the sweep failed to run the reaction (its backoff: lib/exports/sweep.ts). */
    export_failures?: number;
    /** The CSV's CRC-32 (hex) and header (field names in file order), recorded when it lands. */
    crc32?: string;
    header?: string[];
    /**
     * The job of the same page that replaced this one after its result or page token expired (see
     * lib/exports/recovery.ts); set once. The job itself keeps its status and error.
     */
    replaced_by?: string;
    /** The job this one replaced (a re-created page). */
    replaces?: string;
    /** TTL (epoch seconds), set once the job is finished. */
    expires_at?: number;
  };

// ---------------------------------------------------------------------------------------- the stored record

const jobError = z.looseObject({ code: z.string(), message: z.string() });
const count = z.number().int().nonnegative();
/** Epoch ms or s: a finite number (DynamoDB numbers come back as JS numbers). */
const instant = z.number().finite();

export const s3LocationSchema: z.ZodType<S3Location> = z.looseObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  bytes: count,
});

export const parquetFileSchema: z.ZodType<ParquetFile> = z.looseObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  bytes: count,
  rows: count,
  row_groups: count,
  compression: z.string(),
  conversion_errors: z.record(z.string(), count),
  columns: z.array(
    z.looseObject({
      name: z.string(),
      type: z.string(),
      zoho_type: z.string().nullable(),
      reason: z.string().nullable(),
    }),
  ),
});

/**
 * The job record as read back from DynamoDB (lib/jobs/store.ts parses every read with it). Loose:
 * attributes this release does not name pass through untouched. `attempts` and `checks` default to 0
 * (the code always read them with `?? 0`); `export_reaction` may be absent on items of older releases
 * (lib/exports/reactions.ts `legacyReaction`).
 */
export const jobRecordSchema: z.ZodType<JobRecord> = z.looseObject({
  job_id: z.string().regex(JOB_ID_PATTERN),
  status: z.enum(JOB_STATUSES),
  zoho_state: z.string().nullable(),
  module: z.string().nullable(),
  page: z.number().int().positive().nullable(),
  created_at: z.string().min(1),
  updated_at: z.string().min(1),
  attempts: z.number().int().default(0),
  records: count.nullable(),
  export_id: z.string().optional(),
  s3: s3LocationSchema.optional(),
  error: jobError.optional(),
  next_job_id: z.string().optional(),
  previous_job_id: z.string().optional(),
  follow_up_error: jobError.optional(),
  next_check_at: instant,
  last_error: jobError.optional(),
  checks: count.default(0),
  consecutive_errors: count.optional(),
  poll_token: z.string().optional(),
  dispatch_id: z.string().optional(),
  download_owner: z.string().optional(),
  download_url: z.string().optional(),
  api_version: z.string().optional(),
  more_records: z.boolean().optional(),
  next_page_token: z.string().optional(),
  export_date: z.string().optional(),
  export_source: z.string().optional(),
  parquet_wanted: z.boolean().optional(),
  callback: z.boolean().optional(),
  callback_nonce: z.string().optional(),
  made_due_at: instant.optional(),
  parquet_status: z.enum(PARQUET_STATUSES).optional(),
  parquet: parquetFileSchema.optional(),
  parquet_error: jobError.optional(),
  parquet_owner: z.string().optional(),
  parquet_until: instant.optional(),
  parquet_attempts: z.number().int().optional(),
  exported_at: z.string().optional(),
  export_pending: z.literal('yes').optional(),
  export_due: instant.optional(),
  export_reaction: z.enum(EXPORT_REACTIONS).optional(),
  export_failures: count.optional(),
  crc32: z.string().optional(),
  header: z.array(z.string()).optional(),
  replaced_by: z.string().optional(),
  replaces: z.string().optional(),
  expires_at: instant.optional(),
});

/** The job as the API returns it. */
export type PublicJob = JobCore & { [K in keyof JobOptional]: JobOptional[K] | null } & {
  /** When an unfinished job is next looked at (ISO time), else null. */
  next_check_at: string | null;
  last_error: JobError | null;
};

export function toPublicJob(r: JobRecord): PublicJob {
  const finished = FINISHED.has(r.status);
  const out: Record<string, unknown> = {};
  for (const k of CORE_FIELDS) out[k] = r[k] ?? null;
  out.attempts = r.attempts ?? 0;
  for (const k of OPTIONAL_FIELDS) out[k] = r[k] ?? null;
  out.next_check_at = finished ? null : new Date(r.next_check_at).toISOString();
  out.last_error = !finished && r.last_error ? r.last_error : null;
  // The documented order: follow_up_error last.
  const { follow_up_error, ...rest } = out;
  return { ...rest, follow_up_error } as PublicJob;
}

/** The download message (SQS body). */
export const downloadMessage = z.strictObject({
  job_id: z.string().regex(JOB_ID_PATTERN),
  dispatch_id: z.string().min(1).max(100),
  /** A download-budget reservation (epoch ms and its token) the job was given: it starts then without asking again. */
  slot: z.number().int().positive().optional(),
  slot_token: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
});
export type DownloadMessage = z.infer<typeof downloadMessage>;
