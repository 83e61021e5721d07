/** The HTTP API handler called in-process on in-memory tables: routing, errors, the job routes. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { answerFor, createApiHandler } from '../../lib/api/handler.js';
import { ApiError, errorResult } from '../../lib/api/http.js';
import { ConfigError } from '../../lib/config.js';
import { InvalidCursorError } from '../../lib/ddb/cursor.js';
import { CodedError } from '../../lib/errors.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryExportDeps } from '../support/memory.js';

function api() {
  const deps = memoryExportDeps();
  const tables = deps.tables;
  const handle = createApiHandler(deps);
  const call = async (
    method: string,
    target: string,
    body?: string,
    headers: Record<string, string> = {},
  ) => {
    const url = new URL(target, 'http://x');
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    const r = await handle({
      version: '2.0',
      rawPath: path,
      ...(url.search ? { queryStringParameters: query } : {}),
      headers: { 'content-type': 'application/json', ...headers },
      requestContext: { http: { method, path } },
      ...(body !== undefined ? { body } : {}),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2);
    return { status: r.statusCode ?? 0, body: JSON.parse(r.body ?? 'null'), headers: r.headers ?? {} };
  };
  return { call, tables, deps };
}

describe('API handler (in-process, in-memory tables)', () => {
  it('registers, reads and lists a job', async () => {
    const { call } = api();
    const created = await call('POST', '/jobs', '{"job_id":"3652397000000646004"}');
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/jobs/3652397000000646004');
    expect((await call('POST', '/jobs', '{"job_id":"3652397000000646004"}')).status).toBe(200);
    expect((await call('GET', '/jobs/3652397000000646004')).body).toMatchObject({ status: 'PENDING' });
    expect((await call('HEAD', '/jobs/3652397000000646004')).status).toBe(200);
    expect((await call('GET', '/jobs?status=PENDING')).body.jobs).toHaveLength(1);
  });

  it('names the problem: unknown route, method, field, bad id, media type', async () => {
    const { call, tables } = api();
    expect((await call('GET', '/nope')).body.error.code).toBe('ROUTE_NOT_FOUND');
    const put = await call('PUT', '/jobs');
    expect([put.status, put.body.error.code, put.headers.allow]).toEqual([
      405,
      'METHOD_NOT_ALLOWED',
      'GET, POST',
    ]);
    expect((await call('POST', '/jobs', '{"job_id":"1","x":1}')).body.error.code).toBe('UNKNOWN_FIELD');
    expect((await call('POST', '/jobs', '{}')).body.error.code).toBe('MISSING_FIELD');
    expect((await call('POST', '/jobs', '{"job_id":12}')).body.error.message).toMatch(/string/);
    expect((await call('POST', '/jobs', '{"job_id":"1"}', { 'content-type': 'text/plain' })).status).toBe(
      415,
    );
    expect((await call('GET', '/jobs/12a')).body.error.code).toBe('INVALID_JOB_ID');
    expect((await call('GET', '/jobs/%E0%A4%A')).body.error.code).toBe('INVALID_JOB_ID');
    expect(tables.jobs.all()).toHaveLength(0);
  });

  it('an unreachable store is a 503 that shows no internals', async () => {
    const { call, tables } = api();
    tables.jobs.get = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:8000 secret-ish detail'), {
        code: 'ECONNREFUSED',
      });
    };
    const r = await call('GET', '/jobs/1');
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(r.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(JSON.stringify(r.body)).not.toMatch(/ECONNREFUSED|secret/);
  });

  it('an unexpected error (a bug) is a 500 INTERNAL_ERROR that shows no internals and is logged', async () => {
    const { call, tables, deps } = api();
    const logged: unknown[] = [];
    vi.spyOn(deps.logger, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args);
    });
    tables.jobs.get = async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'secret_field')");
    };
    const r = await call('GET', '/jobs/1');
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('INTERNAL_ERROR');
    expect(r.headers['retry-after']).toBeUndefined();
    expect(JSON.stringify(r.body)).not.toMatch(/secret_field|TypeError/);
    expect(JSON.stringify(logged)).toMatch(/secret_field/);
  });
});

/** An AWS SDK service exception as the SDK throws it: a name, HTTP metadata, maybe `$retryable`. */
const awsError = (name: string, status: number, retryable?: { throttling: boolean }) =>
  Object.assign(new Error(`${name}: detail`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...(retryable ? { $retryable: retryable } : {}),
  });

describe('API error mapping: 4xx for the caller, 503 for a throttled or unavailable dependency, 500 for a bug', () => {
  it.each<[string, unknown, number, string]>([
    ['a plain Error', new Error('boom'), 500, 'INTERNAL_ERROR'],
    ['a TypeError', new TypeError('x is undefined'), 500, 'INTERNAL_ERROR'],
    ['a thrown string', 'boom', 500, 'INTERNAL_ERROR'],
    ['a DynamoDB ValidationException', awsError('ValidationException', 400), 500, 'INTERNAL_ERROR'],
    [
      'a terminal ZohoError',
      new ZohoError({ code: 'NO_PERMISSION', kind: 'terminal', message: 'x', httpStatus: 403 }),
      500,
      'INTERNAL_ERROR',
    ],
    ['a config error', new ConfigError('BUCKET is required'), 500, 'INTERNAL_ERROR'],
    ['ThrottlingException', awsError('ThrottlingException', 400), 503, 'SERVICE_UNAVAILABLE'],
    [
      'ProvisionedThroughputExceededException',
      awsError('ProvisionedThroughputExceededException', 400),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    ['RequestLimitExceeded', awsError('RequestLimitExceeded', 400), 503, 'SERVICE_UNAVAILABLE'],
    [
      'TransactionConflictException',
      awsError('TransactionConflictException', 400),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    [
      'an SDK error marked $retryable',
      awsError('SomethingElse', 400, { throttling: true }),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    ['a service 503', awsError('ServiceUnavailableError', 503), 503, 'SERVICE_UNAVAILABLE'],
    [
      'a socket error',
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    [
      'Zoho throttling',
      new ZohoError({ code: 'TOO_MANY_REQUESTS', kind: 'retryable', message: 'x', httpStatus: 429 }),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    [
      'a retryable coded error',
      new CodedError({ code: 'BUSY', kind: 'unavailable', message: 'x' }),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    ['an invalid cursor', new InvalidCursorError(), 400, 'INVALID_CURSOR'],
    ['an ApiError', new ApiError(409, 'SCHEDULE_RUNNING', 'still running'), 409, 'SCHEDULE_RUNNING'],
  ])('%s', (_what, thrown, status, code) => {
    const { error } = answerFor(thrown);
    expect([error.status, error.code]).toEqual([status, code]);
    const r = errorResult(error);
    expect(r.statusCode).toBe(status);
    if (status === 503) expect(Number(r.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    else expect(r.headers?.['retry-after']).toBeUndefined();
    if (status >= 500) expect(r.body).not.toMatch(/detail|boom|undefined|BUCKET/);
  });

  it("takes Retry-After from the error's own wait", () => {
    const e = new ZohoError({
      code: 'TOKEN_THROTTLED',
      kind: 'retryable',
      message: 'x',
      retryAfterMs: 61_500,
    });
    expect(errorResult(answerFor(e).error).headers?.['retry-after']).toBe('62');
  });
});
