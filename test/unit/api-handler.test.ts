/** The HTTP API handler called in-process on in-memory tables: routing, errors, the job routes. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createApiHandler } from '../../lib/api/handler.js';
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
  return { call, tables };
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

  it('a failing store is a 503 that shows no internals', async () => {
    const { call, tables } = api();
    tables.jobs.get = async () => {
      throw new Error('connect ECONNREFUSED 10.0.0.1:8000 secret-ish detail');
    };
    const r = await call('GET', '/jobs/1');
    expect(r.status).toBe(503);
    expect(JSON.stringify(r.body)).not.toMatch(/ECONNREFUSED|secret/);
  });
});
