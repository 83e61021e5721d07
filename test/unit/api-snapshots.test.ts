/**
 * `POST /snapshots` refuses a malformed request with a 4xx naming the problem, and writes nothing: no
 * snapshot, no export, no idempotency key.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createApiHandler } from '../../lib/api/handler.js';
import { memoryExportDeps } from '../support/memory.js';

function post(body: string | undefined, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    rawPath: '/snapshots',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: { http: { method: 'POST', path: '/snapshots' } },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const many = Array.from({ length: 99 }, (_, i) => `M${i}`);

/** Each malformed request, the status and code it gets, and a word its message must contain. */
const CASES: Array<[string, APIGatewayProxyEventV2, number, string, string]> = [
  ['no body', post(undefined), 400, 'EMPTY_BODY', 'empty'],
  ['blank body', post('   '), 400, 'EMPTY_BODY', 'empty'],
  ['not JSON', post('{modules: all}'), 400, 'INVALID_JSON', 'JSON'],
  ['an array', post('["Contacts"]'), 400, 'INVALID_BODY', 'object'],
  ['a string', post('"all"'), 400, 'INVALID_BODY', 'object'],
  ['null', post('null'), 400, 'INVALID_BODY', 'object'],
  ['no modules', post('{}'), 400, 'INVALID_MODULES', 'modules'],
  ['modules null', post('{"modules": null}'), 400, 'INVALID_MODULES', 'modules'],
  ['modules "ALL"', post('{"modules": "ALL"}'), 400, 'INVALID_MODULES', 'modules'],
  ['modules a name, not a list', post('{"modules": "Contacts"}'), 400, 'INVALID_MODULES', 'modules'],
  ['modules a number', post('{"modules": 3}'), 400, 'INVALID_MODULES', 'modules'],
  ['modules an object', post('{"modules": {"Contacts": true}}'), 400, 'INVALID_MODULES', 'modules'],
  ['modules empty', post('{"modules": []}'), 400, 'INVALID_MODULES', 'at least one'],
  ['a module a number', post('{"modules": ["Contacts", 7]}'), 400, 'INVALID_MODULES', 'string'],
  ['a module with a space', post('{"modules": ["Sales Orders"]}'), 400, 'INVALID_MODULES', 'API name'],
  ['a module with a slash', post('{"modules": ["../Leads"]}'), 400, 'INVALID_MODULES', 'API name'],
  ['a module empty', post('{"modules": [""]}'), 400, 'INVALID_MODULES', 'API name'],
  ['a module twice', post('{"modules": ["Leads", "Leads"]}'), 400, 'INVALID_MODULES', 'twice'],
  ['too many modules', post(JSON.stringify({ modules: many })), 400, 'INVALID_MODULES', 'at most 98'],
  ['mode unknown', post('{"modules": "all", "mode": "delta"}'), 400, 'INVALID_MODE', 'mode'],
  ['mode not a string', post('{"modules": "all", "mode": 1}'), 400, 'INVALID_MODE', 'mode'],
  [
    'mode incremental',
    post('{"modules": "all", "mode": "incremental"}'),
    400,
    'INCREMENTAL_NOT_SUPPORTED',
    'watermark',
  ],
  ['unknown field', post('{"modules": "all", "fields": ["Email"]}'), 400, 'UNKNOWN_FIELD', 'fields'],
  [
    'bad idempotency key',
    post('{"modules": "all"}', { 'idempotency-key': 'a b' }),
    400,
    'INVALID_IDEMPOTENCY_KEY',
    'Idempotency-Key',
  ],
  [
    'wrong content type',
    post('{"modules": "all"}', { 'content-type': 'text/plain' }),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'application/json',
  ],
  [
    'too large',
    post(JSON.stringify({ modules: ['A'], pad: 'x'.repeat(20_000) })),
    413,
    'PAYLOAD_TOO_LARGE',
    'bytes',
  ],
];

describe('POST /snapshots: malformed requests', () => {
  it.each(CASES)('%s: a 4xx naming the problem, nothing written', async (_, event, status, code, word) => {
    const deps = memoryExportDeps();
    const r = await createApiHandler(deps)(event);
    const body = JSON.parse(r.body ?? 'null') as { error: { code: string; message: string } };
    expect([r.statusCode, body.error.code], body.error.message).toEqual([status, code]);
    expect(body.error.message).toContain(word);
    for (const t of Object.values(deps.tables)) expect((await t.scan({ limit: 100 })).items).toEqual([]);
  });

  it('GET /snapshots/{id} refuses an id of the wrong shape and answers 404 for an unknown one', async () => {
    const deps = memoryExportDeps();
    const handle = createApiHandler(deps);
    const get = (path: string) =>
      handle({
        version: '2.0',
        rawPath: path,
        headers: {},
        requestContext: { http: { method: 'GET', path } },
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEventV2);
    const bad = await get('/snapshots/ex_01J0000000000000000000000');
    expect([bad.statusCode, JSON.parse(bad.body ?? '{}').error.code]).toEqual([400, 'INVALID_SNAPSHOT_ID']);
    const none = await get('/snapshots/sn_01J00000000000000000000000');
    expect([none.statusCode, JSON.parse(none.body ?? '{}').error.code]).toEqual([404, 'SNAPSHOT_NOT_FOUND']);
    const list = await get('/snapshots');
    expect([list.statusCode, JSON.parse(list.body ?? '{}')]).toEqual([200, { snapshots: [], next: null }]);
  });
});
