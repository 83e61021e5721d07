/**
 * HTTP plumbing shared by every route: the error envelope, JSON answers, and body and query parsing
 * with zod that turns every problem into a 4xx naming it.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { CodedError, type ErrorKind } from '../errors.js';

export type Result = APIGatewayProxyStructuredResultV2;
export type Event = APIGatewayProxyEventV2;

const kindOfStatus = (status: number): ErrorKind => {
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429 || status === 503) return 'unavailable';
  return status < 500 ? 'invalid' : 'terminal';
};

/** An answer other than 2xx, with a stable code and a message that says what to change. */
export class ApiError extends CodedError {
  override readonly name = 'ApiError';
  /** The answer's status (the same as `httpStatus`, which an ApiError always has). */
  readonly status: number;
  constructor(
    status: number,
    code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super({ code, kind: kindOfStatus(status), httpStatus: status, message });
    this.status = status;
  }
}

export const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): Result => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

export const errorResult = (e: ApiError): Result =>
  json(e.status, { error: { code: e.code, message: e.message } }, e.headers);

export function header(event: Event, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

const quoteKeys = (keys: readonly PropertyKey[]): string =>
  keys
    .slice(0, 5)
    .map((k) => JSON.stringify(String(k).slice(0, 50)))
    .join(', ');

/**
 * Reads a JSON object body: `application/json`, at most `maxBytes`, valid JSON, an object, then
 * `schema`. `issueCode` maps a zod issue to an error code (default INVALID_BODY).
 */
export function parseJsonBody<S extends z.ZodType>(
  event: Event,
  schema: S,
  opts: { maxBytes: number; example: string; issueCode?: (issue: z.core.$ZodIssue) => string },
): z.output<S> {
  const ct = header(event, 'content-type');
  const mediaType = ct?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new ApiError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      ct
        ? `Content-Type ${ct.slice(0, 100)} is not supported; send application/json`
        : 'Content-Type is missing; send application/json',
    );
  }
  const raw = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (body.length > opts.maxBytes) {
    throw new ApiError(
      413,
      'PAYLOAD_TOO_LARGE',
      `the body is ${body.length} bytes; at most ${opts.maxBytes} are accepted`,
    );
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw new ApiError(400, 'EMPTY_BODY', `the body is empty; send ${opts.example}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ApiError(
      400,
      'INVALID_JSON',
      `the body is not valid JSON: ${(e as Error).message.slice(0, 200)}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ApiError(
      400,
      'INVALID_BODY',
      `the body must be a JSON object like ${opts.example}, got ${describeValue(parsed)}`,
    );
  }
  const r = schema.safeParse(parsed);
  if (r.success) return r.data;
  // Unknown fields first: they say the most about what the caller got wrong.
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0]!;
  const where = issue.path.length ? issue.path.map(String).join('.') : 'the body';
  if (issue.code === 'unrecognized_keys') {
    const at = issue.path.length ? ` in ${where}` : '';
    throw new ApiError(
      400,
      'UNKNOWN_FIELD',
      `unknown field(s) ${quoteKeys(issue.keys)}${at}; ${opts.example} shows the accepted fields`,
    );
  }
  const code = opts.issueCode?.(issue) ?? 'INVALID_BODY';
  const custom = issue.code === 'custom';
  throw new ApiError(
    400,
    code,
    custom || issue.message.startsWith(where) ? issue.message : `${where}: ${issue.message}`,
  );
}

/** The paging parameters every list route takes: `limit` (1 to 100) and the `next` cursor it returned. */
export const pageQuery = {
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'limit must be a whole number from 1 to 100')
    .transform(Number)
    .pipe(z.number().int().min(1, 'limit must be at least 1').max(100, 'limit must be at most 100'))
    .optional(),
  next: z.string().min(1).max(1024).optional(),
};

/** Validates query parameters (repeated ones arrive comma-joined) against a strict schema. */
export function parseQuery<S extends z.ZodType>(event: Event, schema: S, accepted: string): z.output<S> {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) params[k] = v;
  const q = schema.safeParse(params);
  if (q.success) return q.data;
  const i = q.error.issues[0];
  const msg =
    i?.code === 'unrecognized_keys'
      ? `unknown query parameter(s) ${quoteKeys(i.keys)}; use ${accepted}`
      : (i?.message ?? 'invalid query');
  throw new ApiError(400, 'INVALID_QUERY', msg);
}

/**
 * A list's query parameters (a strict schema spreading `pageQuery`), with `page`: the `limit` asked
 * for, or `defaultLimit`, and the `next` cursor, if any, as the stores' list options take them.
 */
export function parseListQuery<T extends { limit?: number; next?: string }>(
  event: Event,
  schema: z.ZodType<T>,
  accepted: string,
  defaultLimit: number,
): T & { page: { limit: number; cursor?: string } } {
  const q = parseQuery(event, schema, accepted);
  return { ...q, page: { limit: q.limit ?? defaultLimit, ...(q.next ? { cursor: q.next } : {}) } };
}

/** A list route without filters: only `limit` and `next`. */
const pageOnlyQuery = z.strictObject(pageQuery);
export const parsePageQuery = (event: Event, defaultLimit: number) =>
  parseListQuery(event, pageOnlyQuery, 'limit and next', defaultLimit);

/** A path parameter, percent-decoded; `code` is the error code of a bad encoding. */
export function pathParam(event: Event, name: string, code: string): string {
  const raw = event.pathParameters?.[name] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, code, `the ${name} in the path is not valid percent-encoding`);
  }
}

/** A path parameter that must match `pattern`; `code` is the error code of both problems. */
export function pathParamMatching(
  event: Event,
  name: string,
  code: string,
  pattern: RegExp,
  message: string,
): string {
  const value = pathParam(event, name, code);
  if (!pattern.test(value)) throw new ApiError(400, code, message);
  return value;
}
