/** `POST /jobs`, `GET /jobs/{job_id}`, `GET /jobs`: register a Zoho bulk read job made elsewhere, and read jobs. */
import { z } from 'zod';
import type { ExportDeps } from '../exports/deps.js';
import { registerJobExport } from '../exports/start.js';
import { JOB_ID_PATTERN, JOB_STATUSES, toPublicJob } from '../jobs/model.js';
import {
  ApiError,
  describeValue,
  type Event,
  json,
  pageQuery,
  parseJsonBody,
  parseListQuery,
  pathParam,
  type Result,
} from './http.js';

export type JobsApiDeps = Pick<ExportDeps, 'exports' | 'jobs' | 'config' | 'logger' | 'metrics'>;

/** Largest accepted POST body: `{"job_id": "<19 digits>"}` is 40 bytes; 4 KiB leaves room for whitespace. */
export const MAX_JOB_BODY_BYTES = 4096;

/** Validates a job id from a body or a path; returns an error message or undefined. */
export function jobIdProblem(v: unknown, where: string): string | undefined {
  if (typeof v === 'number') {
    return `${where} must be a JSON string of digits, not a number: a 19-digit Zoho job id cannot be represented exactly as a JSON number (send "job_id": "3652397000000646004")`;
  }
  if (typeof v !== 'string')
    return `${where} must be a string of 1 to 19 ASCII digits, got ${describeValue(v)}`;
  if (v.length === 0) return `${where} is empty: it must be 1 to 19 ASCII digits`;
  if (v.length > 19 && /^[0-9]+$/.test(v))
    return `${where} has ${v.length} digits: Zoho job ids have at most 19`;
  if (!JOB_ID_PATTERN.test(v)) return `${where} must hold only the ASCII digits 0-9 (1 to 19 of them)`;
  return undefined;
}

/** A Zoho job id (a string of 1-19 digits), with the messages of `jobIdProblem`. */
export const jobIdSchema = (where: string) =>
  z.unknown().transform((v, ctx) => {
    if (v === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${where} is missing; send {"${where}": "<digits>"}`,
        params: { code: 'MISSING_FIELD' },
      });
      return z.NEVER;
    }
    const problem = jobIdProblem(v, where);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem, params: { code: 'INVALID_JOB_ID' } });
      return z.NEVER;
    }
    return v as string;
  });

const registerBody = z.strictObject({ job_id: jobIdSchema('job_id') });

const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES, { message: `status must be one of ${JOB_STATUSES.join(', ')}` }).optional(),
  ...pageQuery,
});

/** The error code a zod issue carries in `params.code`, if any. */
export const issueCode = (issue: z.core.$ZodIssue): string | undefined => {
  const params = (issue as { params?: { code?: unknown } }).params;
  return typeof params?.code === 'string' ? params.code : undefined;
};

export async function registerJob(deps: JobsApiDeps, event: Event): Promise<Result> {
  const body = parseJsonBody(event, registerBody, {
    maxBytes: MAX_JOB_BODY_BYTES,
    example: '{"job_id": "<digits>"}',
    issueCode: (i) => issueCode(i) ?? 'INVALID_JOB_ID',
  });
  // A registered job is page 1 of an export of its own, which will own its follow-up pages.
  const { created, job } = await registerJobExport(deps, body.job_id);
  return json(created ? 201 : 200, toPublicJob(job), created ? { location: `/jobs/${job.job_id}` } : {});
}

export async function getJob(deps: JobsApiDeps, event: Event): Promise<Result> {
  const id = pathParam(event, 'job_id', 'INVALID_JOB_ID');
  const problem = jobIdProblem(id, 'the job id in the path');
  if (problem) throw new ApiError(400, 'INVALID_JOB_ID', problem);
  const job = await deps.jobs.get(id);
  if (!job) throw new ApiError(404, 'JOB_NOT_FOUND', `no job ${id} is registered`);
  return json(200, toPublicJob(job));
}

export async function listJobs(deps: JobsApiDeps, event: Event): Promise<Result> {
  const q = parseListQuery(event, listQuery, 'status, limit and next', 50);
  // A cursor of the wrong shape is an InvalidCursorError: 400 INVALID_CURSOR (lib/api/handler.ts).
  const page = await deps.jobs.list({ ...q.page, ...(q.status ? { status: q.status } : {}) });
  return json(200, { jobs: page.jobs.map(toPublicJob), next: page.next });
}
