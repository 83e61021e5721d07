import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { JOB_ID_PATTERN, JOB_STATUSES, type JobStatus, toPublicJob } from '../jobs/model.js';
import { InvalidCursorError, type JobStore } from '../jobs/store.js';
import { describeError } from '../observability.js';

export interface ApiDeps {
  jobs: JobStore;
  logger: Logger;
}

/** Largest accepted POST body: `{"job_id": "<19 digits>"}` is 40 bytes; 4 KiB leaves room for whitespace. */
export const MAX_BODY_BYTES = 4096;

type Result = APIGatewayProxyStructuredResultV2;

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): Result => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

export const apiError = (
  statusCode: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): Result => json(statusCode, { error: { code, message } }, headers);

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

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

const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES, { message: `status must be one of ${JOB_STATUSES.join(', ')}` }).optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'limit must be a whole number from 1 to 100')
    .transform(Number)
    .pipe(z.number().int().min(1, 'limit must be at least 1').max(100, 'limit must be at most 100'))
    .optional(),
  next: z.string().min(1).max(1024).optional(),
});

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * The register API: `POST /jobs`, `GET /jobs/{job_id}`, `GET /jobs`. Routes on method and path (not
 * on `routeKey`), so the same code serves API Gateway and the local HTTP server. Bad input always
 * gets a 4xx naming the problem, and writes nothing.
 */
export async function handleApi(deps: ApiDeps, event: APIGatewayProxyEventV2): Promise<Result> {
  const method = (event.requestContext?.http?.method ?? 'GET').toUpperCase();
  const path = (event.rawPath ?? '/').replace(/\/+$/, '') || '/';
  try {
    if (path === '/jobs') {
      if (method === 'POST') return await registerJob(deps, event);
      if (method === 'GET' || method === 'HEAD') return await listJobs(deps, event);
      return apiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on /jobs; use POST or GET`, {
        allow: 'GET, POST',
      });
    }
    const m = /^\/jobs\/([^/]*)$/.exec(path);
    if (m) {
      if (method !== 'GET' && method !== 'HEAD') {
        return apiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on /jobs/{job_id}; use GET`, {
          allow: 'GET',
        });
      }
      let raw = m[1] ?? '';
      try {
        raw = decodeURIComponent(raw);
      } catch {
        return apiError(400, 'INVALID_JOB_ID', 'the job id in the path is not valid percent-encoding');
      }
      const problem = jobIdProblem(raw, 'the job id in the path');
      if (problem) return apiError(400, 'INVALID_JOB_ID', problem);
      const job = await deps.jobs.get(raw);
      if (!job) return apiError(404, 'JOB_NOT_FOUND', `no job ${raw} is registered`);
      return json(200, toPublicJob(job));
    }
    return apiError(
      404,
      'ROUTE_NOT_FOUND',
      `no route for ${method} ${path.slice(0, 200)}; the API has POST /jobs, GET /jobs and GET /jobs/{job_id}`,
    );
  } catch (e) {
    deps.logger.error('request failed', { error: describeError(e), method, path: path.slice(0, 200) });
    return apiError(503, 'SERVICE_UNAVAILABLE', 'the job store is unavailable right now; try again');
  }
}

async function registerJob(deps: ApiDeps, event: APIGatewayProxyEventV2): Promise<Result> {
  const ct = header(event, 'content-type');
  const mediaType = ct?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    return apiError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      ct
        ? `Content-Type ${ct.slice(0, 100)} is not supported; send application/json`
        : 'Content-Type is missing; send application/json',
    );
  }
  const rawBody = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(rawBody, 'base64') : Buffer.from(rawBody, 'utf8');
  if (body.length > MAX_BODY_BYTES) {
    return apiError(
      413,
      'PAYLOAD_TOO_LARGE',
      `the body is ${body.length} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  }
  const text = body.toString('utf8');
  if (text.trim() === '')
    return apiError(400, 'EMPTY_BODY', 'the body is empty; send {"job_id": "<digits>"}');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return apiError(400, 'INVALID_JSON', `the body is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return apiError(
      400,
      'INVALID_BODY',
      `the body must be a JSON object like {"job_id": "<digits>"}, got ${describeValue(parsed)}`,
    );
  }
  const unknown = Object.keys(parsed).filter((k) => k !== 'job_id');
  if (unknown.length) {
    const names = unknown
      .slice(0, 5)
      .map((k) => JSON.stringify(k.slice(0, 50)))
      .join(', ');
    return apiError(400, 'UNKNOWN_FIELD', `unknown field(s) ${names}; the body takes only "job_id"`);
  }
  if (!('job_id' in parsed))
    return apiError(400, 'MISSING_FIELD', 'job_id is missing; send {"job_id": "<digits>"}');
  const jobId = (parsed as { job_id: unknown }).job_id;
  const problem = jobIdProblem(jobId, 'job_id');
  if (problem) return apiError(400, 'INVALID_JOB_ID', problem);
  const { created, job } = await deps.jobs.register(jobId as string);
  deps.logger.info(created ? 'job registered' : 'job already registered', { job_id: job.job_id });
  return json(created ? 201 : 200, toPublicJob(job), created ? { location: `/jobs/${job.job_id}` } : {});
}

async function listJobs(deps: ApiDeps, event: APIGatewayProxyEventV2): Promise<Result> {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) {
    if (v !== undefined) params[k] = v;
  }
  const q = listQuery.safeParse(params);
  if (!q.success) {
    const i = q.error.issues[0];
    const msg =
      i?.code === 'unrecognized_keys'
        ? `unknown query parameter(s) ${i.keys.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}; use status, limit and next`
        : (i?.message ?? 'invalid query');
    return apiError(400, 'INVALID_QUERY', msg);
  }
  try {
    const page = await deps.jobs.list({
      limit: q.data.limit ?? 50,
      ...(q.data.status ? { status: q.data.status as JobStatus } : {}),
      ...(q.data.next ? { cursor: q.data.next } : {}),
    });
    return json(200, { jobs: page.jobs.map(toPublicJob), next: page.next });
  } catch (e) {
    if (e instanceof InvalidCursorError) return apiError(400, 'INVALID_CURSOR', e.message);
    throw e;
  }
}
