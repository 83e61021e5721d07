import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeZoho, startFakeZoho } from '../../local/fake-zoho/index.js';
import { authed, createJob, getJson, type Json, mintToken } from './helpers.js';

let fake: FakeZoho;
let token: string;
let t = 1_700_000_000_000;

beforeAll(async () => {
  fake = await startFakeZoho({
    now: () => t,
    perPage: 100,
    moduleRecords: { Leads: 250, Contacts: 0 },
    timeline: { queuedAfterMs: 1000, inProgressAfterMs: 2000, completedAfterMs: 5000 },
  });
  token = await mintToken(fake);
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.clearFaults();
});

const leads = { query: { module: { api_name: 'Leads' } } };

async function expectError(body: unknown, status: number, code: string, version = 'v8'): Promise<Json> {
  const r = await createJob(fake, token, body, version);
  expect(r.status).toBe(status);
  expect(r.json).toMatchObject({ code, status: 'error' });
  return r.json;
}

async function status(id: string, version = 'v8'): Promise<Json> {
  const r = await getJson(`${fake.apiDomain}/crm/bulk/${version}/read/${id}`, token);
  expect(r.status).toBe(200);
  expect(r.json.data).toHaveLength(1);
  return r.json.data[0];
}

describe('create job', () => {
  it('answers 201 with the documented envelope', async () => {
    const r = await createJob(fake, token, leads);
    expect(r.status).toBe(201);
    const d = (r.json as Json).data[0];
    expect(d).toMatchObject({
      status: 'success',
      code: 'ADDED_SUCCESSFULLY',
      message: 'Added successfully.',
    });
    expect(d.details.id).toMatch(/^\d{19}$/);
    expect(BigInt(d.details.id) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(d.details).toMatchObject({
      operation: 'read',
      state: 'ADDED',
      created_by: { name: 'Patricia Boyle' },
    });
    expect(d.details.created_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    expect(r.json.info).toEqual({});
  });

  it('validates headers, body and module', async () => {
    const noCt = await fetch(`${fake.apiDomain}/crm/bulk/v8/read`, {
      method: 'POST',
      headers: authed(token, { 'content-type': 'text/plain' }),
      body: JSON.stringify(leads),
    });
    expect(noCt.status).toBe(415);
    expect(((await noCt.json()) as Json).code).toBe('MEDIA_TYPE_NOT_SUPPORTED');
    await expectError('', 400, 'REQUEST_BODY_IS_EMPTY');
    await expectError('{nope', 400, 'REQUEST_BODY_NOT_READABLE');
    await expectError({ query: {} }, 400, 'MODULE_NOT_SUPPORTED');
    await expectError({ query: { module: 'Leads' } }, 400, 'MODULE_NOT_SUPPORTED'); // string on v8
    await expectError({ query: { module: { api_name: 'Notes' } } }, 400, 'MODULE_NOT_SUPPORTED');
    const invalid = await expectError({ query: { module: { api_name: 'Nope' } } }, 400, 'INVALID_MODULE');
    expect(invalid.message).toBe('the module name given seems to be invalid');
    await expectError({ query: { module: { api_name: 'Leads' } } }, 400, 'MODULE_NOT_SUPPORTED', 'v2'); // object on v2
    expect((await createJob(fake, token, { query: { module: 'Leads' } }, 'v2')).status).toBe(201);
    expect((await createJob(fake, token, { query: { module: { api_name: 'Widgets__c' } } })).status).toBe(
      201,
    );
    const bad = await createJob(fake, token, leads, 'v9');
    expect(bad.status).toBe(404);
    expect(bad.json.code).toBe('INVALID_URL_PATTERN');
  });

  it('validates callback, page and criteria', async () => {
    const q = leads.query;
    await expectError(
      { query: q, callback: { url: 'https://x.example/cb', method: 'get' } },
      400,
      'INVALID_CALLBACK_METHOD',
    );
    await expectError(
      { query: q, callback: { url: 'not a url', method: 'post' } },
      400,
      'INVALID_CALLBACK_URL',
    );
    const pr = await expectError({ query: { ...q, page: 501 } }, 400, 'PAGE_RANGE_EXCEEDED');
    expect(pr.details).toEqual({ max_limit: 500 });
    await expectError({ query: { ...q, page: 0 } }, 400, 'PAGE_NOT_SUPPORTED');
    const leaf = { field: { api_name: 'Last_Name' }, comparator: 'equal', value: 'Boyle' };
    await expectError(
      { query: { ...q, criteria: { ...leaf, group_operator: 'and', group: [leaf, leaf] } } },
      400,
      'AMBIGUOUS_CRITERIA',
    );
    await expectError(
      { query: { ...q, criteria: { group_operator: 'and', group: [leaf] } } },
      400,
      'AMBIGUOUS_GROUP_IN_CRITERIA',
    );
    await expectError(
      { query: { ...q, criteria: { group_operator: 'xor', group: [leaf, leaf] } } },
      400,
      'GROUP_OPERATOR_NOT_SUPPORTED',
    );
    const many = { group_operator: 'or', group: Array.from({ length: 26 }, () => leaf) };
    await expectError({ query: { ...q, criteria: many } }, 400, 'CRITERIA_LIMIT_EXCEEDED');
    await expectError(
      { query: { ...q, criteria: { ...leaf, comparator: 'between', value: 'x' } } },
      400,
      'COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
    );
    const nested = {
      group_operator: 'AND',
      group: [
        leaf,
        { group_operator: 'or', group: [leaf, { api_name: 'Email', comparator: 'contains', value: 'x' }] },
      ],
    };
    const ok = await createJob(fake, token, {
      query: { ...q, criteria: nested, fields: ['Last_Name', 'Email'] },
    });
    expect(ok.status).toBe(201);
    const d = await status((ok.json as Json).data[0].details.id);
    expect(d.query.criteria.group[1].group[1]).toMatchObject({
      field: { api_name: 'Email' },
      comparator: 'contains',
    });
    expect(d.query.fields).toEqual(['Last_Name', 'Email']);
  });

  it('rejects wrong methods and unknown paths', async () => {
    const r1 = await fetch(`${fake.apiDomain}/crm/bulk/v8/read`, { headers: authed(token) });
    expect(r1.status).toBe(400);
    expect(((await r1.json()) as Json).code).toBe('INVALID_REQUEST_METHOD');
    const r2 = await fetch(`${fake.apiDomain}/crm/v8/Leads`, { headers: authed(token) });
    expect(r2.status).toBe(404);
    expect(((await r2.json()) as Json).code).toBe('INVALID_URL_PATTERN');
    const r3 = await fetch(`${fake.apiDomain}/crm/bulk/v8/read/123`, {
      method: 'DELETE',
      headers: authed(token),
    });
    expect(r3.status).toBe(400);
  });
});

describe('job status', () => {
  it('moves through ADDED, QUEUED, IN PROGRESS, COMPLETED from the clock', async () => {
    const r = await createJob(fake, token, { query: { module: { api_name: 'Leads' }, page: 3 } });
    const id = (r.json as Json).data[0].details.id as string;
    let d = await status(id);
    expect(d.state).toBe('ADDED');
    expect(d.result).toBeUndefined();
    t += 1000;
    expect((await status(id)).state).toBe('QUEUED');
    t += 1000;
    expect((await status(id)).state).toBe('IN PROGRESS');
    t += 3000;
    d = await status(id);
    expect(d).toMatchObject({
      id,
      operation: 'read',
      state: 'COMPLETED',
      file_type: 'csv',
      query: { module: { api_name: 'Leads' }, page: 3 },
      result: {
        page: 3,
        per_page: 100,
        count: 50,
        more_records: false,
        download_url: `/crm/bulk/v8/read/${id}/result`,
      },
    });
    expect(d.query.module.id).toMatch(/^\d{19}$/);
    expect(d.result.next_page_token).toBeUndefined();
  });

  it('reports FAILURE with error_message, and 404 for unknown ids', async () => {
    const job = fake.addJob({
      failWith: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' },
    });
    fake.completeNow(job.id);
    fake.setState(job.id, 'FAILURE');
    const d = await status(job.id);
    expect(d.state).toBe('FAILURE');
    expect(d.result.error_message).toEqual({
      status: 'error',
      code: 'INTERNAL_SERVER_ERROR',
      message: 'Internal server error occurred.',
      details: {},
    });
    for (const id of ['3652397000099999999', 'abc']) {
      const r = await getJson(`${fake.apiDomain}/crm/bulk/v8/read/${id}`, token);
      expect(r.status).toBe(404);
      expect(r.json).toEqual({
        code: 'RESOURCE_NOT_FOUND',
        details: { resource: id },
        message: "The requested resource doesn't exist.",
        status: 'error',
      });
    }
  });

  it('v2 echoes the module as a string', async () => {
    const job = fake.addJob({ version: 'v2', module: 'Deals' });
    const d = await status(job.id, 'v2');
    expect(d.query.module).toBe('Deals');
    expect(d.state).toBe('ADDED');
  });

  it('pages with next_page_token on v8 and page+1 on v6', async () => {
    const first = await createJob(fake, token, leads);
    const id1 = (first.json as Json).data[0].details.id;
    t += 5000;
    const d1 = await status(id1);
    expect(d1.result).toMatchObject({ page: 1, count: 100, more_records: true });
    expect(typeof d1.result.next_page_token).toBe('string');
    expect((await status(id1)).result.next_page_token).toBe(d1.result.next_page_token); // stable
    const second = await createJob(fake, token, { query: { page_token: d1.result.next_page_token } });
    expect(second.status).toBe(201);
    const id2 = (second.json as Json).data[0].details.id;
    t += 5000;
    const d2 = await status(id2);
    expect(d2.query.module.api_name).toBe('Leads');
    expect(d2.result).toMatchObject({ page: 2, count: 100, more_records: true });
    const third = await createJob(fake, token, { query: { page_token: d2.result.next_page_token } });
    t += 5000;
    const d3 = await status((third.json as Json).data[0].details.id);
    expect(d3.result).toMatchObject({ page: 3, count: 50, more_records: false });
    expect(d3.result.next_page_token).toBeUndefined();

    await expectError({ query: { page_token: 'deadbeef' } }, 400, 'INVALID_REQUEST');
    await expectError(
      { query: { module: { api_name: 'Leads' }, page_token: 'x' } },
      400,
      'QUERY_NOT_SUPPORTED',
      'v6',
    );

    const v6 = await createJob(fake, token, { query: { module: { api_name: 'Leads' }, page: 2 } }, 'v6');
    t += 5000;
    const d6 = await status((v6.json as Json).data[0].details.id, 'v6');
    expect(d6.result).toMatchObject({ page: 2, count: 100, more_records: true });
    expect(d6.result.next_page_token).toBeUndefined();
    expect(d6.result.download_url).toMatch(/^\/crm\/bulk\/v6\/read\/\d{19}\/result$/);
  });

  it('can put a result block in every state (v7 doc style)', async () => {
    const f2 = await startFakeZoho({ resultInEveryState: true });
    try {
      const tk = await mintToken(f2);
      const job = f2.addJob({ module: 'Contacts', totalRecords: 10 });
      const r = await getJson(`${f2.apiDomain}/crm/bulk/v8/read/${job.id}`, tk);
      expect(r.json.data[0].state).toBe('ADDED');
      expect(r.json.data[0].result.download_url).toBe(`/crm/bulk/v8/read/${job.id}/result`);
    } finally {
      await f2.close();
    }
  });
});
