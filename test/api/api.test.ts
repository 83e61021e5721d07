import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ApiDeps, createApiHandler } from '../../lib/api/handler.js';
import { timingFrom } from '../../lib/config.js';
import { stores } from '../../lib/runtime.js';
import { freshAws, type TestAws } from '../support/aws.js';
import { memoryExportDeps } from '../support/memory.js';

let aws: TestAws;
let deps: ApiDeps;
let handleApi: ReturnType<typeof createApiHandler>;
beforeAll(async () => {
  aws = await freshAws();
  deps = memoryExportDeps({
    ...stores(aws.tables, timingFrom({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 })),
  });
  handleApi = createApiHandler(deps);
});

interface Req {
  method?: string;
  path?: string;
  body?: string;
  base64?: boolean;
  contentType?: string | null;
  query?: Record<string, string>;
}

function event(r: Req): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  if (r.contentType !== null) headers['content-type'] = r.contentType ?? 'application/json';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: r.path ?? '/jobs',
    rawQueryString: new URLSearchParams(r.query ?? {}).toString(),
    headers,
    ...(r.query ? { queryStringParameters: r.query } : {}),
    requestContext: { http: { method: r.method ?? 'POST' } },
    ...(r.body !== undefined ? { body: r.base64 ? Buffer.from(r.body).toString('base64') : r.body } : {}),
    isBase64Encoded: !!r.base64,
  } as unknown as APIGatewayProxyEventV2;
}

async function call(r: Req) {
  const res = await handleApi(event(r));
  return {
    status: res.statusCode ?? 0,
    body: JSON.parse(res.body ?? 'null') as Record<string, unknown>,
    headers: res.headers ?? {},
  };
}

async function count(): Promise<number> {
  return (await deps.jobs.list({ limit: 100 })).jobs.length;
}

describe('POST /jobs', () => {
  it('registers a job (201), returns the same job on a repeat (200), and GET finds it', async () => {
    const id = '3652397000000646004';
    const a = await call({ body: JSON.stringify({ job_id: id }) });
    expect(a.status).toBe(201);
    expect(a.headers.location).toBe(`/jobs/${id}`);
    expect(a.body).toMatchObject({
      job_id: id,
      status: 'PENDING',
      zoho_state: null,
      module: null,
      page: null,
      attempts: 0,
      records: null,
      s3: null,
      error: null,
      next_job_id: null,
      previous_job_id: null,
    });
    const b = await call({ body: JSON.stringify({ job_id: id }) });
    expect(b.status).toBe(200);
    expect(b.body.created_at).toBe(a.body.created_at);
    const g = await call({ method: 'GET', path: `/jobs/${id}` });
    expect(g.status).toBe(200);
    expect(g.body.job_id).toBe(id);
  });

  it('accepts a body with a charset, whitespace and a base64 encoding', async () => {
    expect(
      (await call({ body: ' { "job_id" : "42" } ', contentType: 'application/json; charset=utf-8' })).status,
    ).toBe(201);
    expect(
      (await call({ body: '{"job_id":"43"}', base64: true, contentType: 'Application/JSON' })).status,
    ).toBe(201);
  });
});

describe('GET /jobs', () => {
  it('lists by status with a limit and a cursor', async () => {
    for (let i = 0; i < 7; i++) await call({ body: JSON.stringify({ job_id: String(9000 + i) }) });
    const seen = new Set<string>();
    let next: string | null = null;
    let pages = 0;
    do {
      const r = await call({
        method: 'GET',
        query: { status: 'PENDING', limit: '3', ...(next ? { next } : {}) },
      });
      expect(r.status).toBe(200);
      for (const j of r.body.jobs as Array<{ job_id: string; status: string }>) {
        expect(j.status).toBe('PENDING');
        seen.add(j.job_id);
      }
      next = r.body.next as string | null;
      pages++;
    } while (next && pages < 20);
    expect(seen.size).toBeGreaterThanOrEqual(7);
    const none = await call({ method: 'GET', query: { status: 'EXPORTED' } });
    expect(none.body).toEqual({ jobs: [], next: null });
  });
});

const digits19 = '3652397000000646004';
// Each row: a kind of malformed request, and the status and error code it must get.
const BAD: Array<[string, Req, number, string]> = [
  ['job_id as a JSON number', { body: '{"job_id": 3652397000000646004}' }, 400, 'INVALID_JOB_ID'],
  ['job_id as a small number', { body: '{"job_id": 42}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with 20 digits', { body: `{"job_id": "${digits19}1"}` }, 400, 'INVALID_JOB_ID'],
  ['job_id with 40 digits', { body: `{"job_id": "${'9'.repeat(40)}"}` }, 400, 'INVALID_JOB_ID'],
  ['job_id with Arabic-Indic digits', { body: '{"job_id": "٣٦٥٢"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with full-width digits', { body: '{"job_id": "１２３"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with letters', { body: '{"job_id": "36523970000abc"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id in hex', { body: '{"job_id": "0x1F"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id negative', { body: '{"job_id": "-1"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with a decimal point', { body: '{"job_id": "1.5"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with an exponent', { body: '{"job_id": "1e18"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with surrounding spaces', { body: '{"job_id": " 123 "}' }, 400, 'INVALID_JOB_ID'],
  ['job_id with a newline', { body: '{"job_id": "123\\n"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id path traversal', { body: '{"job_id": "../../etc/passwd"}' }, 400, 'INVALID_JOB_ID'],
  ['job_id empty', { body: '{"job_id": ""}' }, 400, 'INVALID_JOB_ID'],
  ['job_id null', { body: '{"job_id": null}' }, 400, 'INVALID_JOB_ID'],
  ['job_id true', { body: '{"job_id": true}' }, 400, 'INVALID_JOB_ID'],
  ['job_id as an array', { body: '{"job_id": ["123"]}' }, 400, 'INVALID_JOB_ID'],
  ['job_id as an object', { body: '{"job_id": {"id": "123"}}' }, 400, 'INVALID_JOB_ID'],
  ['job_id missing', { body: '{}' }, 400, 'MISSING_FIELD'],
  ['an unknown field', { body: '{"job_id": "1", "module": "Leads"}' }, 400, 'UNKNOWN_FIELD'],
  ['a misspelt field', { body: '{"jobId": "1"}' }, 400, 'UNKNOWN_FIELD'],
  ['a body that is an array', { body: '[{"job_id": "1"}]' }, 400, 'INVALID_BODY'],
  ['a body that is a string', { body: '"123"' }, 400, 'INVALID_BODY'],
  ['a body that is a number', { body: '123' }, 400, 'INVALID_BODY'],
  ['a body that is null', { body: 'null' }, 400, 'INVALID_BODY'],
  ['invalid JSON', { body: '{"job_id": "1"' }, 400, 'INVALID_JSON'],
  ['JSON with a trailing comma', { body: '{"job_id": "1",}' }, 400, 'INVALID_JSON'],
  ['an empty body', { body: '' }, 400, 'EMPTY_BODY'],
  ['a whitespace body', { body: '  \n ' }, 400, 'EMPTY_BODY'],
  ['no body at all', {}, 400, 'EMPTY_BODY'],
  [
    'a huge body',
    { body: JSON.stringify({ job_id: '1', pad: 'x'.repeat(100_000) }) },
    413,
    'PAYLOAD_TOO_LARGE',
  ],
  [
    'a form-encoded body',
    { body: 'job_id=123', contentType: 'application/x-www-form-urlencoded' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  ['text/plain', { body: '{"job_id": "1"}', contentType: 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ['no content type', { body: '{"job_id": "1"}', contentType: null }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  [
    'multipart',
    { body: '--x\r\n', contentType: 'multipart/form-data; boundary=x' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  ['PUT /jobs', { method: 'PUT', body: '{"job_id": "1"}' }, 405, 'METHOD_NOT_ALLOWED'],
  ['DELETE /jobs', { method: 'DELETE' }, 405, 'METHOD_NOT_ALLOWED'],
  ['PATCH /jobs/{id}', { method: 'PATCH', path: '/jobs/123' }, 405, 'METHOD_NOT_ALLOWED'],
  ['POST /jobs/{id}', { method: 'POST', path: '/jobs/123', body: '{}' }, 405, 'METHOD_NOT_ALLOWED'],
  ['an unknown route', { method: 'GET', path: '/admin' }, 404, 'ROUTE_NOT_FOUND'],
  ['a nested unknown route', { method: 'GET', path: '/jobs/123/result' }, 404, 'ROUTE_NOT_FOUND'],
  ['a letter id in the path', { method: 'GET', path: '/jobs/abc' }, 400, 'INVALID_JOB_ID'],
  ['a 20-digit id in the path', { method: 'GET', path: `/jobs/${digits19}0` }, 400, 'INVALID_JOB_ID'],
  ['encoded traversal in the path', { method: 'GET', path: '/jobs/..%2F..%2Fetc' }, 400, 'INVALID_JOB_ID'],
  ['broken percent-encoding in the path', { method: 'GET', path: '/jobs/%E0%A4%A' }, 400, 'INVALID_JOB_ID'],
  ['an empty id in the path', { method: 'GET', path: '/jobs/%20' }, 400, 'INVALID_JOB_ID'],
  ['an unknown job', { method: 'GET', path: '/jobs/1111111111111111111' }, 404, 'JOB_NOT_FOUND'],
  ['an unknown status filter', { method: 'GET', query: { status: 'DONE' } }, 400, 'INVALID_QUERY'],
  ['a zero limit', { method: 'GET', query: { limit: '0' } }, 400, 'INVALID_QUERY'],
  ['a limit too large', { method: 'GET', query: { limit: '1000' } }, 400, 'INVALID_QUERY'],
  ['a non-numeric limit', { method: 'GET', query: { limit: 'ten' } }, 400, 'INVALID_QUERY'],
  ['an unknown query parameter', { method: 'GET', query: { sort: 'asc' } }, 400, 'INVALID_QUERY'],
  ['a forged cursor', { method: 'GET', query: { next: 'bm90LWEtY3Vyc29y' } }, 400, 'INVALID_CURSOR'],
  [
    'a cursor with foreign keys',
    { method: 'GET', query: { next: Buffer.from('{"pk":"x"}').toString('base64url') } },
    400,
    'INVALID_CURSOR',
  ],
  // A cursor must be exactly the key of the table or index the listing reads (job_id a string; with
  // a status filter, the status index's key too), never something DynamoDB refuses (once a 503).
  ...(
    [
      [{ job_id: 5 }, {}],
      [{ job_id: '1', extra: 'x' }, {}],
      [{ job_id: '1' }, { status: 'PENDING' }],
      [{ job_id: '1', status: 'PENDING', next_check_at: 'soon' }, { status: 'PENDING' }],
    ] as Array<[Record<string, unknown>, Record<string, string>]>
  ).map(([key, query]): [string, Req, number, string] => [
    `a cursor of the wrong shape: ${JSON.stringify(key)} with ${JSON.stringify(query)}`,
    { method: 'GET', query: { ...query, next: Buffer.from(JSON.stringify(key)).toString('base64url') } },
    400,
    'INVALID_CURSOR',
  ]),
];

describe('bad input', () => {
  it.each(BAD)('%s → a clear 4xx, nothing written', async (_name, req, status, code) => {
    const before = await count();
    const r = await call(req);
    expect(r.status).toBe(status);
    const err = r.body.error as { code: string; message: string };
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(10);
    expect(await count()).toBe(before);
  });

  it('tells a caller who sends a JSON number to send a string', async () => {
    const r = await call({ body: '{"job_id": 3652397000000646004}' });
    expect((r.body.error as { message: string }).message).toMatch(/string/);
  });

  it('answers 405 with an Allow header', async () => {
    const r = await call({ method: 'PUT', body: '{}' });
    expect(r.headers.allow).toBe('GET, POST');
  });

  it('property: any body that is not exactly {"job_id": "<1-19 ASCII digits>"} gets a 4xx and writes nothing', async () => {
    const bodies = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.json(),
      fc
        .record({ job_id: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null)) })
        .map((o) => JSON.stringify(o)),
      fc.dictionary(fc.string(), fc.jsonValue()).map((o) => JSON.stringify(o)),
      fc.stringMatching(/^[0-9]{20,30}$/).map((d) => JSON.stringify({ job_id: d })),
    );
    await fc.assert(
      fc.asyncProperty(
        bodies,
        fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8'),
        async (body, ct) => {
          let parsedValid = false;
          try {
            const p = JSON.parse(body) as unknown;
            parsedValid =
              ct !== 'text/plain' &&
              typeof p === 'object' &&
              p !== null &&
              !Array.isArray(p) &&
              Object.keys(p).length === 1 &&
              typeof (p as { job_id?: unknown }).job_id === 'string' &&
              /^[0-9]{1,19}$/.test((p as { job_id: string }).job_id);
          } catch {
            parsedValid = false;
          }
          const before = await count();
          const r = await handleApi(event({ body, contentType: ct }));
          const status = r.statusCode ?? 0;
          if (parsedValid) {
            expect([200, 201]).toContain(status);
          } else {
            expect(status).toBeGreaterThanOrEqual(400);
            expect(status).toBeLessThan(500);
            expect(await count()).toBe(before);
            const e = JSON.parse(r.body ?? '{}') as { error?: { code?: string; message?: string } };
            expect(e.error?.code).toBeTruthy();
            expect(e.error?.message).toBeTruthy();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('property: any path other than the three routes gets a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.webPath(),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
        async (p, method) => {
          const r = await handleApi(event({ method, path: p || '/', body: '{}' }));
          expect(r.statusCode).toBeGreaterThanOrEqual(200);
          expect(r.statusCode).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  });
});
