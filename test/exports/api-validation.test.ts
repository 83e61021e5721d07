/**
 * `POST /exports` refuses every malformed request with a 4xx and `{"error": {"code", "message"}}`,
 * before Zoho is asked anything and before anything is written (exports table, jobs table, idempotency
 * keys). The boundaries (200 fields, 25 criteria, 5 levels, 32 KiB) are shown from both sides: the
 * accepted side reaches Zoho. Also `GET /exports/{id}` and `GET /exports` (filters, paging, bad queries).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiOf, creates, snapshot } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness;
let api: ReturnType<typeof apiOf>;
beforeAll(async () => {
  // The file's exports pile up at Zoho under a frozen clock, each holding a Zoho job slot: the fake's
  // concurrency limit and the product's cap (test/exports/job-slots.test.ts) are not what these check.
  h = await pipelineHarness({
    fake: { moduleRecords: { Contacts: 20, Leads: 5, Deals: 5 }, maxConcurrentJobs: 100 },
    config: { ZOHO_MAX_CONCURRENT_JOBS: '25' },
  });
  api = apiOf(h);
});
afterAll(async () => {
  await h?.close();
});

const leaf = (i = 0) => ({ api_name: 'Last_Name', comparator: 'not_equal', value: `x${i}` });
/** A group of `n` leaves (nested two at a time, Zoho style). */
const leaves = (n: number): unknown =>
  n === 1 ? leaf(0) : { group_operator: 'and', group: Array.from({ length: n }, (_, i) => leaf(i)) };
/** `levels` levels: groups nested `levels - 1` deep, leaves at the bottom. */
function nested(levels: number): unknown {
  let c: unknown = { group_operator: 'or', group: [leaf(1), leaf(2)] };
  for (let l = 3; l <= levels; l++) c = { group_operator: 'and', group: [leaf(l), c] };
  return c;
}
const fieldNames = (n: number) => Array.from({ length: n }, (_, i) => `Field_${i}`);
const body = (o: Record<string, unknown>) => JSON.stringify({ module: 'Contacts', ...o });
/** `{"module": "Contacts"}` padded with spaces to exactly `bytes` bytes. */
const sized = (bytes: number) => `{"module": "Contacts"${' '.repeat(bytes - 22)}}`;

interface Case {
  name: string;
  body?: string;
  headers?: Record<string, string>;
  noContentType?: boolean;
  isBase64Encoded?: boolean;
  status: number;
  /** The expected error code (or one of several the contract allows). */
  code: string | string[];
}

const CASES: Case[] = [
  // body as a whole
  { name: 'empty body', body: '', status: 400, code: 'EMPTY_BODY' },
  { name: 'whitespace body', body: '  \n ', status: 400, code: 'EMPTY_BODY' },
  { name: 'no body at all', status: 400, code: 'EMPTY_BODY' },
  { name: 'invalid JSON', body: '{"module": "Contacts"', status: 400, code: 'INVALID_JSON' },
  { name: 'JSON with a trailing comma', body: '{"module": "Contacts",}', status: 400, code: 'INVALID_JSON' },
  { name: 'a JSON array', body: '[{"module": "Contacts"}]', status: 400, code: 'INVALID_BODY' },
  { name: 'a JSON string', body: '"Contacts"', status: 400, code: 'INVALID_BODY' },
  { name: 'JSON null', body: 'null', status: 400, code: 'INVALID_BODY' },
  {
    name: 'base64 body that is not JSON',
    body: Buffer.from('module=Contacts').toString('base64'),
    isBase64Encoded: true,
    status: 400,
    code: 'INVALID_JSON',
  },
  // media type and size
  {
    name: 'text/plain',
    body: body({}),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'form encoded',
    body: 'module=Contacts',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'no content-type',
    body: body({}),
    noContentType: true,
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'application/jsonp',
    body: body({}),
    headers: { 'content-type': 'application/jsonp' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'body of 32 KiB + 1 byte',
    body: sized(32 * 1024 + 1),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  // module
  { name: 'module missing', body: '{}', status: 400, code: 'MISSING_FIELD' },
  { name: 'module missing, fields given', body: '{"fields": ["Email"]}', status: 400, code: 'MISSING_FIELD' },
  { name: 'module a number', body: '{"module": 5}', status: 400, code: 'INVALID_MODULE' },
  { name: 'module null', body: '{"module": null}', status: 400, code: 'INVALID_MODULE' },
  { name: 'module empty', body: '{"module": ""}', status: 400, code: 'INVALID_MODULE' },
  { name: 'module with a space', body: '{"module": "My Contacts"}', status: 400, code: 'INVALID_MODULE' },
  { name: 'module with a slash', body: '{"module": "Contacts/../x"}', status: 400, code: 'INVALID_MODULE' },
  {
    name: 'module of 101 characters',
    body: `{"module": "${'a'.repeat(101)}"}`,
    status: 400,
    code: 'INVALID_MODULE',
  },
  {
    name: 'module an object (Zoho style)',
    body: '{"module": {"api_name": "Contacts"}}',
    status: 400,
    code: 'INVALID_MODULE',
  },
  // unknown fields (strict)
  { name: 'an unknown field', body: body({ page: 2 }), status: 400, code: 'UNKNOWN_FIELD' },
  {
    name: 'a field of the wrong case',
    body: body({ Fields: ['Email'] }),
    status: 400,
    code: 'UNKNOWN_FIELD',
  },
  {
    name: 'Zoho envelope instead of ours',
    body: '{"query": {"module": {"api_name": "Contacts"}}}',
    status: 400,
    code: 'UNKNOWN_FIELD',
  },
  {
    name: 'callback smuggled in',
    body: body({ callback: { url: 'http://evil', method: 'post' } }),
    status: 400,
    code: 'UNKNOWN_FIELD',
  },
  // fields
  { name: 'fields a string', body: body({ fields: 'Email' }), status: 400, code: 'INVALID_BODY' },
  { name: 'fields null', body: body({ fields: null }), status: 400, code: 'INVALID_BODY' },
  { name: 'fields empty', body: body({ fields: [] }), status: 400, code: 'INVALID_BODY' },
  { name: 'fields of 201 names', body: body({ fields: fieldNames(201) }), status: 400, code: 'INVALID_BODY' },
  {
    name: 'fields with a duplicate',
    body: body({ fields: ['Email', 'Last_Name', 'Email'] }),
    status: 400,
    code: 'INVALID_BODY',
  },
  { name: 'a field a number', body: body({ fields: [1] }), status: 400, code: 'INVALID_BODY' },
  { name: 'a field with a space', body: body({ fields: ['Last Name'] }), status: 400, code: 'INVALID_BODY' },
  {
    name: 'a field with a leading dot',
    body: body({ fields: ['.Email'] }),
    status: 400,
    code: 'INVALID_BODY',
  },
  {
    name: 'a field with two dots in a row',
    body: body({ fields: ['Owner..id'] }),
    status: 400,
    code: 'INVALID_BODY',
  },
  {
    name: 'a field of 101 characters',
    body: body({ fields: ['F'.repeat(101)] }),
    status: 400,
    code: 'INVALID_BODY',
  },
  // cvid
  { name: 'cvid a number', body: body({ cvid: 123 }), status: 400, code: 'INVALID_BODY' },
  { name: 'cvid with letters', body: body({ cvid: '12ab' }), status: 400, code: 'INVALID_BODY' },
  { name: 'cvid of 20 digits', body: body({ cvid: '1'.repeat(20) }), status: 400, code: 'INVALID_BODY' },
  { name: 'cvid empty', body: body({ cvid: '' }), status: 400, code: 'INVALID_BODY' },
  // criteria
  {
    name: 'criteria a string',
    body: body({ criteria: 'Last_Name = x' }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  { name: 'criteria null', body: body({ criteria: null }), status: 400, code: 'INVALID_CRITERIA' },
  { name: 'criteria an array', body: body({ criteria: [leaf()] }), status: 400, code: 'INVALID_CRITERIA' },
  { name: 'criteria empty object', body: body({ criteria: {} }), status: 400, code: 'INVALID_CRITERIA' },
  {
    name: 'leaf without comparator',
    body: body({ criteria: { api_name: 'Last_Name', value: 'x' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf without value',
    body: body({ criteria: { api_name: 'Last_Name', comparator: 'equal' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf without a field name',
    body: body({ criteria: { comparator: 'equal', value: 'x' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf with an unknown comparator',
    body: body({ criteria: { api_name: 'Last_Name', comparator: 'like', value: 'x' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf with both api_name and field',
    body: body({
      criteria: { api_name: 'Last_Name', field: { api_name: 'Email' }, comparator: 'equal', value: 'x' },
    }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf whose field.api_name is a number',
    body: body({ criteria: { field: { api_name: 5 }, comparator: 'equal', value: 'x' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf with a bad field name',
    body: body({ criteria: { api_name: 'Last Name', comparator: 'equal', value: 'x' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf with an extra key',
    body: body({ criteria: { ...leaf(), type: 'text' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf whose value is an object',
    body: body({ criteria: { api_name: 'Last_Name', comparator: 'equal', value: { a: 1 } } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'leaf whose value is 256 characters',
    body: body({ criteria: { api_name: 'Last_Name', comparator: 'equal', value: 'v'.repeat(256) } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: '"in" with a single value, not a list',
    body: body({ criteria: { api_name: 'Last_Name', comparator: 'in', value: 'x' } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: '"in" with an empty list',
    body: body({ criteria: { api_name: 'Last_Name', comparator: 'in', value: [] } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: '"between" with three values',
    body: body({ criteria: { api_name: 'Created_Time', comparator: 'between', value: ['a', 'b', 'c'] } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'group and leaf mixed',
    body: body({ criteria: { group_operator: 'and', group: [leaf(1), leaf(2)], ...leaf() } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'group of one',
    body: body({ criteria: { group_operator: 'and', group: [leaf()] } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'group without group_operator',
    body: body({ criteria: { group: [leaf(1), leaf(2)] } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'group with operator "xor"',
    body: body({ criteria: { group_operator: 'xor', group: [leaf(1), leaf(2)] } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'group not a list',
    body: body({ criteria: { group_operator: 'and', group: leaf() } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'group holding a string',
    body: body({ criteria: { group_operator: 'and', group: [leaf(), 'x'] } }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  {
    name: 'a bad leaf deep inside a group',
    body: body({
      criteria: {
        group_operator: 'and',
        group: [leaf(), { group_operator: 'or', group: [leaf(), { api_name: 'x' }] }],
      },
    }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  { name: '26 criteria', body: body({ criteria: leaves(26) }), status: 400, code: 'INVALID_CRITERIA' },
  {
    name: '6 levels of criteria',
    body: body({ criteria: nested(6) }),
    status: 400,
    code: 'INVALID_CRITERIA',
  },
  // the idempotency key
  {
    name: 'Idempotency-Key with a space',
    body: body({}),
    headers: { 'idempotency-key': 'my key' },
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
  {
    name: 'Idempotency-Key of 101 characters',
    body: body({}),
    headers: { 'idempotency-key': 'k'.repeat(101) },
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
  {
    name: 'Idempotency-Key empty',
    body: body({}),
    headers: { 'idempotency-key': '' },
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
  {
    name: 'Idempotency-Key with a non-ASCII character',
    body: body({}),
    headers: { 'idempotency-key': 'clé-1' },
    status: 400,
    code: 'INVALID_IDEMPOTENCY_KEY',
  },
];

describe('POST /exports refuses malformed requests', () => {
  it('has at least 30 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  const check = async (c: Case) => {
    const before = await snapshot(h);
    const requests = h.fake.requests.length;
    const r = await api('POST', '/exports', {
      body: c.body,
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.noContentType ? { noContentType: true } : {}),
      ...(c.isBase64Encoded ? { isBase64Encoded: true } : {}),
    });
    expect(r.status).toBe(c.status);
    expect(Object.keys(r.body)).toEqual(['error']);
    expect(Object.keys(r.body.error).sort()).toEqual(['code', 'message']);
    expect(typeof r.body.error.code).toBe('string');
    expect(typeof r.body.error.message).toBe('string');
    expect(r.body.error.message.length).toBeGreaterThan(10);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.headers.location).toBeUndefined();
    // Nothing reached Zoho (not even a token request) and nothing was written.
    expect(h.fake.requests.slice(requests)).toEqual([]);
    expect(await snapshot(h)).toEqual(before);
    // Last, so that a wrong code still lets every check above run.
    expect([c.code].flat()).toContain(r.body.error.code);
  };

  it.each(CASES)('$name → $status, no Zoho request, nothing written', check);
});

describe('POST /exports: the accepted side of each boundary reaches Zoho', () => {
  const accepted: Array<[string, Record<string, unknown>]> = [
    ['exactly 25 criteria', { criteria: leaves(25) }],
    ['exactly 5 levels of criteria', { criteria: nested(5) }],
    [
      'a leaf with field.api_name',
      { criteria: { field: { api_name: 'Last_Name' }, comparator: 'equal', value: 'x' } },
    ],
    [
      '"between" with two values',
      {
        criteria: {
          api_name: 'Created_Time',
          comparator: 'between',
          value: ['2020-01-01T00:00:00+00:00', '2030-01-01T00:00:00+00:00'],
        },
      },
    ],
    ['dot lookups in fields', { fields: ['Last_Name', 'Account_Name.Account_Name', 'Owner.last_name'] }],
    ['a cvid of 19 digits', { cvid: '1'.repeat(19) }],
  ];
  it.each(accepted)('%s: 201', async (_n, extra) => {
    const before = creates(h).length;
    const r = await api('POST', '/exports', { body: body(extra) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(creates(h).length).toBe(before + 1);
  });

  it('a body of exactly 32 KiB is read (and reaches Zoho)', async () => {
    const exact = sized(32 * 1024);
    expect(Buffer.byteLength(exact)).toBe(32 * 1024);
    const before = creates(h).length;
    const r = await api('POST', '/exports', { body: exact });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(creates(h).length).toBe(before + 1);
  });

  it('200 distinct field names pass our check and are Zoho’s to judge (INVALID_DATA for names it does not know)', async () => {
    const before = await snapshot(h);
    const n = creates(h).length;
    const r = await api('POST', '/exports', { body: body({ fields: ['Last_Name', ...fieldNames(199)] }) });
    expect(creates(h).length).toBe(n + 1);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_DATA');
    expect(await snapshot(h)).toEqual(before);
  });
});

describe('GET /exports/{id} and GET /exports', () => {
  it('reads an export; 404 for an unknown id; 400 for a malformed one', async () => {
    const created = await api('POST', '/exports', { body: JSON.stringify({ module: 'Deals' }) });
    expect(created.status).toBe(201);
    const id: string = created.body.export_id;
    const got = await api('GET', `/exports/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
    const head = await api('HEAD', `/exports/${id}`);
    expect(head.status).toBe(200);
    const missing = await api('GET', '/exports/ex_01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect([missing.status, missing.body.error.code]).toEqual([404, 'EXPORT_NOT_FOUND']);
    for (const bad of [
      'ex_1',
      'ex_01ARZ3NDEKTSV4RRFFQ69G5FA',
      'ex_01ARZ3NDEKTSV4RRFFQ69G5FAVX',
      'EX_01ARZ3NDEKTSV4RRFFQ69G5FAV',
      'ex_01ARZ3NDEKTSV4RRFFQ69G5FAU', // U is not in Crockford's base 32
      'ex_01arz3ndektsv4rrffq69g5fav',
      '3652397000000646004',
      '%E0%A4%A',
    ]) {
      const r = await api('GET', `/exports/${bad}`);
      expect([r.status, r.body.error.code], bad).toEqual([400, 'INVALID_EXPORT_ID']);
    }
  });

  it('lists newest first, pages with a cursor, filters by module and status; a bad query is a 400', async () => {
    // Exports of this file so far, plus three more of Leads, a millisecond apart so the ULIDs order.
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) {
      h.clock.advance(5);
      const r = await api('POST', '/exports', { body: JSON.stringify({ module: 'Leads' }) });
      expect(r.status).toBe(201);
      mine.push(r.body.export_id);
    }
    const all: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const r = await api('GET', `/exports?limit=2${next ? `&next=${encodeURIComponent(next)}` : ''}`);
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(['exports', 'next']);
      expect(r.body.exports.length).toBeLessThanOrEqual(2);
      all.push(...r.body.exports.map((e: { export_id: string }) => e.export_id));
      next = r.body.next;
      pages++;
    } while (next && pages < 50);
    const stored = (await snapshot(h)).exports.map((e) => String(e.export_id));
    expect(all).toEqual([...stored].sort().reverse());
    expect(new Set(all).size).toBe(all.length);
    expect(pages).toBeGreaterThan(2);

    const leads = await api('GET', '/exports?module=Leads');
    expect(leads.body.exports.map((e: { export_id: string }) => e.export_id)).toEqual([...mine].reverse());
    expect(leads.body.exports.every((e: { module: string }) => e.module === 'Leads')).toBe(true);
    expect(leads.body.exports[0].pages).toHaveLength(1);

    const running = await api('GET', '/exports?status=RUNNING&limit=100');
    expect(running.body.exports.length).toBe(all.length);
    expect((await api('GET', '/exports?status=COMPLETED')).body.exports).toEqual([]);
    expect((await api('GET', '/exports?module=Leads&status=FAILED')).body.exports).toEqual([]);
    expect((await api('GET', '/exports?module=Accounts')).body).toEqual({ exports: [], next: null });

    for (const q of [
      'status=DONE',
      'status=running',
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=-1',
      'module=My%20Module',
      'modul=Leads',
      'next=',
      'next=not-a-cursor',
      `next=${Buffer.from('{"job_id":"1"}').toString('base64url')}`,
    ]) {
      const r = await api('GET', `/exports?${q}`);
      expect(r.status, q).toBe(400);
      expect(['INVALID_QUERY', 'INVALID_CURSOR'], q).toContain(r.body.error.code);
    }
    // A cursor must be exactly the key of the index the listing reads: by module, by status, or all.
    const cursor = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');
    for (const q of [
      `module=Leads&next=${cursor({ export_id: 'x' })}`,
      `module=Leads&next=${cursor({ export_id: 'x', kind: 'export' })}`,
      `status=RUNNING&next=${cursor({ export_id: 'x', module: 'Leads' })}`,
      `next=${cursor({ export_id: 'x', status: 'RUNNING' })}`,
      `next=${cursor({ export_id: 5, kind: 'export' })}`,
      `next=${cursor({ export_id: 'x', kind: 'export', module: 'Leads' })}`,
    ]) {
      const r = await api('GET', `/exports?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('INVALID_CURSOR');
    }
    // The cursors the API hands out still page (their shape is the index's key).
    const first = await api('GET', '/exports?module=Leads&limit=1');
    const second = await api(
      'GET',
      `/exports?module=Leads&limit=1&next=${encodeURIComponent(first.body.next)}`,
    );
    expect(second.status).toBe(200);
    expect(second.body.exports[0].export_id).toBe(mine[1]);
  });
});
