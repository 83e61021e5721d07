import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createZohoClient, resolveDownloadUrl } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import type { FakeZoho } from '../../local/fake-zoho/index.js';
import { freshAws, type TestAws } from '../support/aws.js';
import {
  brokerFor,
  clientFor,
  drain,
  FAKE_CREDENTIALS,
  sha256OfIterable,
  withFake,
  zohoError,
} from '../support/zoho.js';

let aws: TestAws;
let fake: FakeZoho;

beforeAll(async () => {
  aws = await freshAws();
  fake = await withFake();
});
afterAll(async () => fake?.close());
afterEach(() => {
  fake.clearFaults();
});

const client = () => clientFor(brokerFor(fake, aws));

describe('getJob', () => {
  it.each(['ADDED', 'QUEUED', 'IN PROGRESS', 'COMPLETED', 'FAILURE'] as const)(
    'reports state %s',
    async (state) => {
      const job = fake.addJob({
        module: 'Contacts',
        totalRecords: 10,
        ...(state === 'FAILURE'
          ? { failWith: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' } }
          : {}),
      });
      fake.setState(job.id, state);
      const z = await client().getJob(job.id);
      expect(z.id).toBe(job.id);
      expect(z.state).toBe(state);
      expect(z.completed).toBe(state === 'COMPLETED');
      expect(z.failed).toBe(state === 'FAILURE');
      expect(z.module).toBe('Contacts');
      if (state === 'COMPLETED') {
        expect(z.result).toMatchObject({ count: 10, page: 1, perPage: 200000, moreRecords: false });
        expect(z.result?.downloadUrl).toBe(`/crm/bulk/v8/read/${job.id}/result`);
      } else if (state === 'FAILURE') {
        expect(z.error).toEqual({
          code: 'INTERNAL_SERVER_ERROR',
          message: 'Internal server error occurred.',
        });
      } else {
        expect(z.result).toBeUndefined();
      }
    },
  );

  it('keeps job ids above 2^53 exact', async () => {
    const id = '9007199254740993123';
    fake.addJob({ id, totalRecords: 1 });
    fake.completeNow(id);
    const z = await client().getJob(id);
    expect(z.id).toBe(id);
    expect(z.result?.downloadUrl).toContain(id);
  });

  it.each([
    ['IN_PROGRESS', 'IN PROGRESS', false],
    ['in progress', 'IN PROGRESS', false],
    ['completed', 'COMPLETED', true],
    ['Failed', 'FAILURE', false],
    ['PAUSED_BY_ZOHO', 'PAUSED BY ZOHO', false],
  ])('normalises the state spelling %s', async (raw, normalised, completed) => {
    const job = fake.addJob({ totalRecords: 1 });
    fake.inject({
      kind: 'status',
      jobId: job.id,
      action: {
        type: 'http',
        status: 200,
        body: {
          data: [
            {
              id: job.id,
              operation: 'read',
              state: raw,
              query: { module: { api_name: 'Leads', id: '1' }, page: 1 },
            },
          ],
        },
      },
    });
    const z = await client().getJob(job.id);
    expect(z.state).toBe(normalised);
    expect(z.rawState).toBe(raw);
    expect(z.completed).toBe(completed);
  });

  it('decides completion from the state alone, not from a result block', async () => {
    const f2 = await withFake({ resultInEveryState: true });
    try {
      const job = f2.addJob({ totalRecords: 5 });
      f2.setState(job.id, 'IN PROGRESS');
      const z = await clientFor(brokerFor(f2, aws, { key: 'f2' })).getJob(job.id);
      expect(z.state).toBe('IN PROGRESS');
      expect(z.completed).toBe(false);
    } finally {
      await f2.close();
    }
  });

  it('reads the v2 shape (module as a string) and the v8 shape (module as an object)', async () => {
    const v2 = fake.addJob({ version: 'v2', module: 'Leads', totalRecords: 3 });
    fake.completeNow(v2.id);
    const z2 = await client().getJob(v2.id, { version: 'v2' });
    expect(z2.module).toBe('Leads');
    expect(z2.moduleId).toBeUndefined();
    expect(z2.result?.downloadUrl).toBe(`/crm/bulk/v2/read/${v2.id}/result`);
    const v8 = fake.addJob({ version: 'v8', module: 'Deals', totalRecords: 3 });
    fake.completeNow(v8.id);
    const z8 = await client().getJob(v8.id);
    expect(z8.module).toBe('Deals');
    expect(z8.moduleId).toMatch(/^[0-9]+$/);
  });

  it('refuses a job id that is not digits without sending anything', async () => {
    const before = fake.requests.length;
    for (const bad of ['12a', '', '1'.repeat(20), '../1', '１２３']) {
      const e = await zohoError(client().getJob(bad));
      expect(e.code).toBe('INVALID_JOB_ID');
    }
    expect(fake.requests.slice(before).filter((r) => r.kind === 'status')).toHaveLength(0);
  });

  it.each([
    ['RESOURCE_NOT_FOUND', 'terminal', 404],
    ['NO_PERMISSION', 'terminal', 403],
    ['OAUTH_SCOPE_MISMATCH', 'terminal', 401],
    ['AUTHORIZATION_FAILED', 'terminal', 400],
    ['INVALID_URL_PATTERN', 'terminal', 404],
    ['INVALID_REQUEST_METHOD', 'terminal', 400],
    ['INTERNAL_ERROR', 'retryable', 500],
    ['TOO_MANY_REQUESTS', 'retryable', 429],
  ] as const)('classifies %s as %s', async (code, kind, status) => {
    const job = fake.addJob({ totalRecords: 1 });
    for (const wrapped of [false, true]) {
      fake.inject({ kind: 'status', jobId: job.id, action: { type: 'error', code, wrapped } });
      const e = await zohoError(client().getJob(job.id));
      expect(e.code).toBe(code);
      expect(e.kind).toBe(kind);
      expect(e.httpStatus).toBe(status);
    }
  });

  it('treats the HTTP 400 and HTTP 200 "Access Denied" bodies as a retryable throttle', async () => {
    const job = fake.addJob({ totalRecords: 1 });
    for (const status of [400, 200]) {
      fake.inject({
        kind: 'status',
        jobId: job.id,
        action: {
          type: 'http',
          status,
          body: {
            error: 'Access Denied',
            error_description: 'You have made too many requests continuously.',
          },
        },
      });
      const e = await zohoError(client().getJob(job.id));
      expect(e.code).toBe('ACCESS_DENIED');
      expect(e.kind).toBe('retryable');
    }
  });

  it('treats a 5xx with an HTML body and a connection reset as retryable', async () => {
    const job = fake.addJob({ totalRecords: 1 });
    fake.inject({
      kind: 'status',
      jobId: job.id,
      action: { type: 'http', status: 502, body: '<html>bad gateway</html>' },
    });
    const e = await zohoError(client().getJob(job.id));
    expect(e.kind).toBe('retryable');
    expect(e.httpStatus).toBe(502);
  });

  it('refreshes once and retries once on INVALID_TOKEN', async () => {
    const c = client();
    const job = fake.addJob({ totalRecords: 1 });
    await c.getJob(job.id);
    const mints = fake.stats().mints;
    fake.revokeTokens();
    const z = await c.getJob(job.id);
    expect(z.id).toBe(job.id);
    expect(fake.stats().mints).toBe(mints + 1);
    // A token refused twice in a row is not retried a third time.
    fake.inject({
      kind: 'status',
      jobId: job.id,
      times: 2,
      action: { type: 'error', code: 'INVALID_TOKEN' },
    });
    const before = fake.requests.filter((r) => r.kind === 'status').length;
    const e = await zohoError(c.getJob(job.id));
    expect(e.code).toBe('INVALID_TOKEN');
    expect(e.kind).toBe('auth');
    expect(fake.requests.filter((r) => r.kind === 'status').length - before).toBe(2);
  });

  it('times out a slow answer and honours an AbortSignal', async () => {
    const job = fake.addJob({ totalRecords: 1 });
    const c = clientFor(brokerFor(fake, aws), { requestTimeoutMs: 200 });
    await c.getJob(job.id); // token cached
    fake.inject({ kind: 'status', jobId: job.id, action: { type: 'delay', ms: 2000 } });
    const e = await zohoError(c.getJob(job.id));
    expect(e.code).toBe('TIMEOUT');
    expect(e.kind).toBe('retryable');
    fake.inject({ kind: 'status', jobId: job.id, action: { type: 'delay', ms: 2000 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const e2 = await zohoError(client().getJob(job.id, { signal: ac.signal }));
    expect(e2.code).toBe('ABORTED');
  });
});

describe('createJob', () => {
  it('INVALID_CALLBACK_URL: Zoho echoes the callback URL, the error keeps only its origin', async () => {
    const url =
      'https://cb.example.test/prod/callbacks/zoho/ex_01JDZ7ABCDEFGHJKMNPQRSTVWX.1.AbCdEfGhIjKlMnOpQrStUv';
    fake.setOptions({ rejectCallbackUrls: true });
    try {
      const e = await zohoError(client().createJob({ module: 'Contacts' }, { callback: { url } }));
      expect(e.code).toBe('INVALID_CALLBACK_URL');
      expect(e.kind).toBe('terminal');
      expect(e.message).toContain('https://cb.example.test/[redacted]');
      expect(`${e.message} ${JSON.stringify(e)} ${String(e.stack)}`).not.toContain('AbCdEfGhIjKlMnOpQrStUv');
    } finally {
      fake.setOptions({ rejectCallbackUrls: false });
    }
  });

  it('creates a v8 job (module as an object) and a v2 job (module as a string)', async () => {
    const c = client();
    const j8 = await c.createJob({ module: 'Contacts', fields: ['Last_Name', 'Email'] });
    expect(j8.id).toMatch(/^[0-9]{19}$/);
    expect(j8.state).toBe('ADDED');
    const z8 = await c.getJob(j8.id);
    expect(z8.module).toBe('Contacts');
    expect(z8.query?.fields).toEqual(['Last_Name', 'Email']);
    const j2 = await c.createJob({ module: 'Leads', page: 2 }, { version: 'v2' });
    const z2 = await c.getJob(j2.id, { version: 'v2' });
    expect(z2.module).toBe('Leads');
    expect(z2.query?.page).toBe(2);
  });

  it('creates a follow-up page with page_token on v7 and later, and refuses it before v7', async () => {
    const f = await withFake({ perPage: 100, moduleRecords: { Accounts: 250 } });
    try {
      const c = clientFor(brokerFor(f, aws, { key: 'paging' }));
      const first = await c.createJob({ module: 'Accounts' });
      const z1 = await c.getJob(first.id);
      expect(z1.result?.moreRecords).toBe(true);
      expect(z1.result?.nextPageToken).toBeTruthy();
      const second = await c.createJob({ pageToken: z1.result!.nextPageToken! });
      const z2 = await c.getJob(second.id);
      expect(z2.result?.page).toBe(2);
      expect(z2.result?.count).toBe(100);
      const e = await zohoError(c.createJob({ pageToken: 'x' }, { version: 'v6' }));
      expect(e.code).toBe('INVALID_QUERY');
    } finally {
      await f.close();
    }
  });

  it('passes Zoho validation errors through as terminal errors', async () => {
    const e = await zohoError(client().createJob({ module: 'Notes' }));
    expect(e.code).toBe('MODULE_NOT_SUPPORTED');
    expect(e.kind).toBe('terminal');
    const e2 = await zohoError(client().createJob({ module: 'Leads', page: 501 }));
    expect(e2.code).toBe('PAGE_RANGE_EXCEEDED');
  });
});

describe('downloadResult', () => {
  async function completed(spec: Parameters<FakeZoho['addJob']>[0] = {}) {
    const job = fake.addJob({ totalRecords: 500, ...spec });
    fake.completeNow(job.id);
    return job;
  }

  it('streams the CSV out of a ZIP with data descriptors, byte for byte', async () => {
    const job = await completed({ module: 'Contacts' });
    const { stream, verified } = await client().downloadResult(`/crm/bulk/v8/read/${job.id}/result`);
    const got = await sha256OfIterable(stream);
    const want = await sha256OfIterable(fake.csv(job.id));
    expect(got).toEqual(want);
    const info = await verified;
    expect(info.name).toBe(`${job.id}.csv`);
    expect(info.uncompressedSize).toBe(want.bytes);
  });

  it('streams a Zip64 archive', async () => {
    const job = await completed({ zip64: true, totalRecords: 2000 });
    const { stream, verified } = await client().downloadResult(`/crm/bulk/v8/read/${job.id}/result`);
    expect(await sha256OfIterable(stream)).toEqual(await sha256OfIterable(fake.csv(job.id)));
    await expect(verified).resolves.toMatchObject({ name: `${job.id}.csv` });
  });

  it.each([
    ['a CRC mismatch', { type: 'corrupt', what: 'crc' } as const, 'ZIP_CRC_MISMATCH'],
    ['a size mismatch', { type: 'corrupt', what: 'size' } as const, 'ZIP_SIZE_MISMATCH'],
    ['a truncated ZIP', { type: 'truncate', afterBytes: 5000 } as const, 'ZIP_TRUNCATED'],
    [
      'a ZIP cut before its central directory',
      { type: 'truncate', afterBytes: -1 } as const,
      'ZIP_TRUNCATED',
    ],
  ])('fails the stream on %s', async (_name, action, code) => {
    const job = await completed({ totalRecords: 3000 });
    const a = action.type === 'truncate' && action.afterBytes === -1 ? null : action;
    if (a) fake.inject({ kind: 'download', jobId: job.id, action: a });
    else {
      // Everything up to the data descriptor: the deflate stream is whole, the tail is missing.
      const full = await drainRaw(job.id);
      fake.inject({ kind: 'download', jobId: job.id, action: { type: 'truncate', afterBytes: full - 200 } });
    }
    const { stream, verified } = await client().downloadResult(`/crm/bulk/v8/read/${job.id}/result`);
    const e = await zohoError(drain(stream));
    expect(e.code).toBe(code);
    expect(e.kind).toBe('retryable');
    await expect(verified).rejects.toBeInstanceOf(ZohoError);
  });

  async function drainRaw(id: string): Promise<number> {
    const res = await fetch(`${fake.url}/crm/bulk/v8/read/${id}/result`, {
      headers: { Authorization: `Zoho-oauthtoken ${(await brokerFor(fake, aws).getToken()).accessToken}` },
    });
    return (await res.arrayBuffer()).byteLength;
  }

  it('fails the stream on a connection reset in the middle of the download', async () => {
    const job = await completed({ totalRecords: 20000 });
    fake.inject({ kind: 'download', jobId: job.id, action: { type: 'reset', afterBytes: 100_000 } });
    const { stream } = await client().downloadResult(`/crm/bulk/v8/read/${job.id}/result`);
    const e = await zohoError(drain(stream));
    expect(e.kind).toBe('retryable');
  });

  it('recognises a JSON error body sent with HTTP 200 instead of a ZIP', async () => {
    const job = await completed();
    fake.inject({ kind: 'download', jobId: job.id, action: { type: 'json-error-200' } });
    const { stream } = await client().downloadResult(`/crm/bulk/v8/read/${job.id}/result`);
    const e = await zohoError(drain(stream));
    expect(e.code).toBe('INTERNAL_ERROR');
  });

  it('turns a download 429 into a retryable error that waits at least a minute', async () => {
    const job = await completed();
    fake.inject({ kind: 'download', jobId: job.id, action: { type: 'error', code: 'TOO_MANY_REQUESTS' } });
    const e = await zohoError(client().downloadResult(`/crm/bulk/v8/read/${job.id}/result`));
    expect(e.code).toBe('TOO_MANY_REQUESTS');
    expect(e.kind).toBe('retryable');
    expect(e.retryAfterMs).toBeGreaterThanOrEqual(60_000);
  });

  it('reports RESOURCE_NOT_FOUND for an unknown or expired result as terminal', async () => {
    const e = await zohoError(client().downloadResult('/crm/bulk/v8/read/1234567890123456789/result'));
    expect(e.code).toBe('RESOURCE_NOT_FOUND');
    expect(e.kind).toBe('terminal');
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'https://evil.example.com/crm/bulk/v8/read/1/result',
    '//evil.example.com/crm/bulk/v8/read/1/result',
    '/crm/bulk/v8/read/1/../../../admin',
    '/crm/bulk/%2e%2e/%2e%2e/admin',
    '/oauth/v2/token',
    'http://127.0.0.1:1/crm/bulk/v8/read/1/result',
    '/crm/bulk/v8/read/1/result@evil.example.com',
    'file:///etc/passwd',
    '',
  ])('refuses the poisoned download_url %s without a request', async (url) => {
    const c = client();
    await brokerFor(fake, aws).getToken();
    const before = fake.requests.length;
    const e = await zohoError(c.downloadResult(url));
    expect(e.code).toBe('UNSAFE_DOWNLOAD_URL');
    expect(e.kind).toBe('terminal');
    expect(fake.requests.length).toBe(before);
  });

  it('accepts an absolute download_url on the API domain itself', async () => {
    const job = await completed({ totalRecords: 10 });
    const { stream } = await client().downloadResult(`${fake.apiDomain}/crm/bulk/v8/read/${job.id}/result`);
    expect((await drain(stream)).length).toBeGreaterThan(0);
  });

  it('stops a download that goes silent (idle timeout)', async () => {
    const job = await completed({ totalRecords: 10 });
    fake.inject({ kind: 'download', jobId: job.id, action: { type: 'delay', ms: 3000 } });
    const c = createZohoClient({ tokens: brokerFor(fake, aws), downloadIdleTimeoutMs: 300 });
    const e = await zohoError(c.downloadResult(`/crm/bulk/v8/read/${job.id}/result`));
    expect(e.code).toBe('TIMEOUT');
  });
});

describe('resolveDownloadUrl', () => {
  it('resolves a relative path against the API domain', () => {
    expect(resolveDownloadUrl('/crm/bulk/v8/read/1/result', 'https://www.zohoapis.eu').href).toBe(
      'https://www.zohoapis.eu/crm/bulk/v8/read/1/result',
    );
  });
});

describe('the least scopes the docs ask for', () => {
  it('bulk.read + modules.<Module>.READ + settings.fields.READ: create, status, download, fields, deleted', async () => {
    const f = await withFake({
      moduleRecords: { Contacts: 20 },
      clients: [
        {
          ...FAKE_CREDENTIALS,
          scopes: ['ZohoCRM.bulk.read', 'ZohoCRM.modules.Contacts.READ', 'ZohoCRM.settings.fields.READ'],
        },
      ],
    });
    try {
      const c = clientFor(brokerFor(f, aws, { key: 'least-scopes' }));
      const created = await c.createJob({ module: 'Contacts' });
      f.completeNow(created.id);
      const job = await c.getJob(created.id);
      expect(job.completed).toBe(true);
      const url = job.result?.downloadUrl;
      expect(url).toBeTruthy();
      const { stream, verified } = await c.downloadResult(url ?? '');
      await drain(stream);
      await verified;
      expect((await c.getFields('Contacts')).length).toBeGreaterThan(0);
      await c.getDeletedRecords('Contacts', { page: 1 });
      // And nothing more: another module is refused for want of its scope.
      const e = await zohoError(c.createJob({ module: 'Deals' }));
      expect(e.code).toBe('OAUTH_SCOPE_MISMATCH');
    } finally {
      await f.close();
    }
  });
});
