import { afterEach, describe, expect, it } from 'vitest';
import { type FakeZoho, startFakeZoho } from '../../local/fake-zoho/index.js';
import { authed, type Json, mintToken } from './helpers.js';

let fake: FakeZoho;
afterEach(async () => {
  await fake?.close();
});

const params = {
  refresh_token: 'fake-refresh-token',
  client_id: 'fake-client-id',
  client_secret: 'fake-client-secret',
  grant_type: 'refresh_token',
};

async function tokenCall(body: Record<string, string>, how: 'query' | 'form' | 'multipart' = 'form') {
  const url = new URL(`${fake.accountsUrl}/oauth/v2/token`);
  let init: RequestInit = { method: 'POST' };
  if (how === 'query') for (const [k, v] of Object.entries(body)) url.searchParams.set(k, v);
  else if (how === 'form') init = { method: 'POST', body: new URLSearchParams(body) };
  else {
    const fd = new FormData();
    for (const [k, v] of Object.entries(body)) fd.append(k, v);
    init = { method: 'POST', body: fd };
  }
  const res = await fetch(url, init);
  return { status: res.status, json: (await res.json()) as Json };
}

async function statusOf(token: string): Promise<number> {
  const job = fake.addJob({ timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 } });
  const res = await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${job.id}`, { headers: authed(token) });
  await res.arrayBuffer();
  return res.status;
}

describe('fake Zoho accounts server', () => {
  it('mints tokens from query string, urlencoded and multipart bodies', async () => {
    fake = await startFakeZoho();
    for (const how of ['query', 'form', 'multipart'] as const) {
      const { status, json } = await tokenCall(params, how);
      expect(status).toBe(200);
      expect(json.access_token).toMatch(/^1000\.[0-9a-f]+\.[0-9a-f]+$/);
      expect(json).toMatchObject({
        scope:
          'ZohoCRM.bulk.ALL ZohoCRM.modules.ALL ZohoCRM.settings.fields.READ ZohoCRM.settings.modules.READ',
        api_domain: fake.url,
        token_type: 'Bearer',
        expires_in: 3600,
      });
      expect(await statusOf(json.access_token)).toBe(200);
    }
    expect(fake.stats().mints).toBe(3);
    expect(fake.stats().liveTokens).toBe(3);
    // secrets never land in the request log
    expect(JSON.stringify(fake.requests)).not.toContain('fake-client-secret');
  });

  it('answers token errors with HTTP 200 and an error body', async () => {
    fake = await startFakeZoho();
    expect(await tokenCall({ ...params, client_id: 'nope' })).toEqual({
      status: 200,
      json: { error: 'invalid_client' },
    });
    expect(await tokenCall({ ...params, client_secret: 'nope' })).toEqual({
      status: 200,
      json: { error: 'invalid_client_secret' },
    });
    expect(await tokenCall({ ...params, refresh_token: 'nope' })).toEqual({
      status: 200,
      json: { error: 'invalid_code' },
    });
    fake.revokeRefreshToken('fake-refresh-token');
    expect((await tokenCall(params)).json).toEqual({ error: 'invalid_code' });
    expect(fake.stats().mints).toBe(0);
  });

  it('throttles more than 10 mints per sliding window, with status 200 or 400', async () => {
    let t = 1_000_000;
    fake = await startFakeZoho({ now: () => t });
    for (let i = 0; i < 10; i++) {
      expect((await tokenCall(params)).json.access_token).toBeTruthy();
      t += 1000;
    }
    const throttled = await tokenCall(params);
    expect(throttled).toEqual({
      status: 200,
      json: {
        error: 'Access Denied',
        error_description: 'You have made too many requests continuously. Please try again after some time.',
        status: 'failure',
      },
    });
    expect(fake.stats().mints).toBe(10);
    t = 1_000_000 + 600_000; // the first mint leaves the window
    expect((await tokenCall(params)).json.access_token).toBeTruthy();
    expect((await tokenCall(params)).json.error).toBe('Access Denied');
    await fake.close();

    fake = await startFakeZoho({ mintLimit: { max: 1, windowMs: 60_000 }, throttleStatus: 400 });
    await tokenCall(params);
    expect((await tokenCall(params)).status).toBe(400);
  });

  it('keeps at most 15 live tokens: the 16th evicts the oldest', async () => {
    fake = await startFakeZoho({ mintLimit: { max: 100, windowMs: 600_000 } });
    const tokens: string[] = [];
    for (let i = 0; i < 16; i++) tokens.push(await mintToken(fake));
    expect(fake.stats().liveTokens).toBe(15);
    expect(await statusOf(tokens[0]!)).toBe(401);
    expect(await statusOf(tokens[1]!)).toBe(200);
    expect(await statusOf(tokens[15]!)).toBe(200);
  });

  it('expires, revokes and rejects tokens with 401 INVALID_TOKEN', async () => {
    let t = 5_000_000;
    fake = await startFakeZoho({ now: () => t, tokenTtlSeconds: 60 });
    const a = await mintToken(fake);
    const job = fake.addJob({});
    const res = await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${job.id}`, {
      headers: authed('1000.bogus.bogus'),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      code: 'INVALID_TOKEN',
      details: {},
      message: 'invalid oauth token',
      status: 'error',
    });
    const bearer = await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${job.id}`, {
      headers: { authorization: `Bearer ${a}` },
    });
    expect(bearer.status).toBe(200);
    const none = await fetch(`${fake.apiDomain}/crm/bulk/v8/read/${job.id}`);
    expect(none.status).toBe(401);
    t += 60_000;
    expect(await statusOf(a)).toBe(401);
    const b = await mintToken(fake);
    expect(await statusOf(b)).toBe(200);
    fake.expireTokens();
    expect(await statusOf(b)).toBe(401);
    const c = await mintToken(fake);
    fake.revokeTokens();
    expect(await statusOf(c)).toBe(401);
    expect(fake.stats().liveTokens).toBe(0);
  });

  it('can answer in the legacy expires_in_sec form', async () => {
    fake = await startFakeZoho({ legacyExpiresIn: true });
    const { json } = await tokenCall(params);
    expect(json.expires_in_sec).toBe(3600);
    expect(json.expires_in).toBe(3_600_000);
  });
});
