import { z } from 'zod';

export const JOB_STATUSES = ['PENDING', 'DOWNLOADING', 'EXPORTED', 'FAILED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A Zoho bulk read job id as the API accepts it: 1 to 19 ASCII digits, as a string. */
export const JOB_ID_PATTERN = /^[0-9]{1,19}$/;

export interface JobError {
  code: string;
  message: string;
}

/** The job record in DynamoDB. Public fields first, then the bookkeeping the pipeline needs. */
export interface JobRecord {
  job_id: string;
  status: JobStatus;
  zoho_state: string | null;
  module: string | null;
  page: number | null;
  created_at: string;
  updated_at: string;
  /** Download attempts made so far. */
  attempts: number;
  records: number | null;
  s3?: { bucket: string; key: string; bytes: number };
  error?: JobError;
  next_job_id?: string;
  previous_job_id?: string;

  /** When the job is next due for the poller (epoch ms); sort key of the `by-status` index. */
  next_check_at: number;
  /** Status checks made so far (drives the backoff). */
  checks: number;
  /** Retryable errors in a row (drives the error backoff). */
  consecutive_errors?: number;
  last_error?: JobError;
  poll_token?: string;
  dispatch_id?: string;
  download_owner?: string;
  download_url?: string;
  api_version?: string;
  more_records?: boolean;
  next_page_token?: string;
  /** The job's query as Zoho echoed it (for follow-up pages). */
  query?: Record<string, unknown>;
  /** A follow-up page could not be created (the parent is still exported). */
  follow_up_error?: JobError;
  /** TTL (epoch seconds), set once the job is finished. */
  expires_at?: number;
}

/** The job as the API returns it. */
export interface PublicJob {
  job_id: string;
  status: JobStatus;
  zoho_state: string | null;
  module: string | null;
  page: number | null;
  created_at: string;
  updated_at: string;
  attempts: number;
  records: number | null;
  s3: { bucket: string; key: string; bytes: number } | null;
  error: JobError | null;
  next_job_id: string | null;
  previous_job_id: string | null;
  next_check_at: string | null;
  last_error: JobError | null;
  /** Set when Zoho said more_records but the follow-up page could not be created: the export is incomplete. */
  follow_up_error: JobError | null;
}

export function toPublicJob(r: JobRecord): PublicJob {
  const finished = r.status === 'EXPORTED' || r.status === 'FAILED';
  return {
    job_id: r.job_id,
    status: r.status,
    zoho_state: r.zoho_state ?? null,
    module: r.module ?? null,
    page: r.page ?? null,
    created_at: r.created_at,
    updated_at: r.updated_at,
    attempts: r.attempts ?? 0,
    records: r.records ?? null,
    s3: r.s3 ? { bucket: r.s3.bucket, key: r.s3.key, bytes: r.s3.bytes } : null,
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
    next_job_id: r.next_job_id ?? null,
    previous_job_id: r.previous_job_id ?? null,
    next_check_at: finished ? null : new Date(r.next_check_at).toISOString(),
    last_error: !finished && r.last_error ? { code: r.last_error.code, message: r.last_error.message } : null,
    follow_up_error: r.follow_up_error
      ? { code: r.follow_up_error.code, message: r.follow_up_error.message }
      : null,
  };
}

/** The download message (SQS body). */
export const downloadMessage = z.strictObject({
  job_id: z.string().regex(JOB_ID_PATTERN),
  dispatch_id: z.string().min(1).max(100),
});
export type DownloadMessage = z.infer<typeof downloadMessage>;
