import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_CENTER_CODES, DATA_CENTERS, resolveEndpoints } from '../../lib/zoho/data-centers.js';
import type { FetchFn } from '../../lib/zoho/http.js';
import { credentialsFromEnv, TokenBroker } from '../../lib/zoho/token-broker.js';
import { tokenKey } from '../../lib/zoho/token-crypto.js';
import type { FakeZoho } from '../../local/fake-zoho/index.js';
import { freshAws, type TestAws } from '../support/aws.js';
import {
  brokerFor,
  clientFor,
  FAKE_CREDENTIALS,
  redirectingFetch,
  withFake,
  zohoError,
} from '../support/zoho.js';

let aws: TestAws;
let fake: FakeZoho;
let n = 0;
const key = () => `token-test-${++n}`;

beforeAll(async () => {
  aws = await freshAws();
  fake = await withFake();
});
afterAll(async () => fake?.close());

describe('TokenBroker', () => {
  it('mints one token for 50 concurrent invocations and shares it through DynamoDB', async () => {
    const f = await withFake();
    try {
      const k = key();
      // 50 brokers = 50 Lambda containers with empty memory caches.
      const brokers = Array.from({ length: 50 }, () => brokerFor(f, aws, { key: k }));
      const tokens = await Promise.all(brokers.map((b) => b.getToken()));
      expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
      expect(f.stats().mints).toBe(1);
      expect(tokens[0]?.apiDomain).toBe(f.apiDomain);
      // and they really work against the API
      const job = f.addJob({ totalRecords: 1 });
      await Promise.all(brokers.slice(0, 10).map((b) => clientFor(b).getJob(job.id)));
      expect(f.stats().mints).toBe(1);
    } finally {
      await f.close();
    }
  });

  it('reuses a cached token until fewer than 5 minutes remain', async () => {
    let now = Date.now();
    const f = await withFake({ now: () => now });
    try {
      const k = key();
      const b = brokerFor(f, aws, { key: k, now: () => now });
      const t1 = await b.getToken();
      now += 54 * 60_000; // 6 minutes left
      expect((await brokerFor(f, aws, { key: k, now: () => now }).getToken()).accessToken).toBe(
        t1.accessToken,
      );
      now += 2 * 60_000; // 4 minutes left
      const t2 = await brokerFor(f, aws, { key: k, now: () => now }).getToken();
      expect(t2.accessToken).not.toBe(t1.accessToken);
      expect(f.stats().mints).toBe(2);
    } finally {
      await f.close();
    }
  });

  it('never mints more than 10 tokens in 10 minutes, even when told to refresh more often', async () => {
    const f = await withFake();
    try {
      const k = key();
      const b = brokerFor(f, aws, { key: k });
      for (let i = 0; i < 10; i++) {
        const t = await b.getToken();
        await b.invalidate(t.accessToken);
      }
      const e = await zohoError(b.getToken());
      expect(e.code).toBe('TOKEN_THROTTLED');
      expect(e.kind).toBe('retryable');
      expect(e.stage).toBe('oauth');
      expect(e.retryAfterMs).toBeGreaterThan(0);
      expect(f.stats().mints).toBe(10);
      expect(f.requests.filter((r) => r.kind === 'token')).toHaveLength(10);
    } finally {
      await f.close();
    }
  });

  it('backs off for the whole window after Zoho answers "Access Denied" (HTTP 200 and 400)', async () => {
    for (const throttleStatus of [200, 400] as const) {
      const f = await withFake({ throttleStatus });
      try {
        const k = key();
        f.inject({ kind: 'token', action: { type: 'access-denied' } });
        const e = await zohoError(brokerFor(f, aws, { key: k }).getToken());
        expect(e.code).toBe('TOKEN_THROTTLED');
        expect(e.retryAfterMs).toBeGreaterThan(9 * 60_000);
        // Another container does not try again inside the window.
        const e2 = await zohoError(brokerFor(f, aws, { key: k }).getToken());
        expect(e2.code).toBe('TOKEN_THROTTLED');
        expect(f.requests.filter((r) => r.kind === 'token')).toHaveLength(1);
      } finally {
        await f.close();
      }
    }
  });

  it('invalidates a cached token only if it is still the one that failed', async () => {
    const k = key();
    const a = brokerFor(fake, aws, { key: k });
    const b = brokerFor(fake, aws, { key: k });
    const t1 = await a.getToken();
    await b.invalidate(t1.accessToken);
    const t2 = await b.getToken();
    expect(t2.accessToken).not.toBe(t1.accessToken);
    // A late INVALID_TOKEN for t1 must not throw away t2.
    await a.invalidate(t1.accessToken);
    const item = await aws.ddb.send(new GetCommand({ TableName: aws.stateTable, Key: { pk: k } }));
    // The item still holds t2 (sealed: its keyed reference is t2's, and it opens to t2 below).
    expect(item.Item?.token_ref).toBe(tokenKey(FAKE_CREDENTIALS).ref(t2.accessToken));
    expect(JSON.stringify(item.Item)).not.toContain(t2.accessToken);
    expect((await brokerFor(fake, aws, { key: k }).getToken()).accessToken).toBe(t2.accessToken);
  });

  it('reports a revoked refresh token (invalid_code) and a wrong client (invalid_client) without leaking secrets', async () => {
    const f = await withFake();
    try {
      const revoked = brokerFor(f, aws, { key: key() });
      f.revokeRefreshToken(FAKE_CREDENTIALS.refreshToken);
      const e = await zohoError(revoked.getToken());
      expect(e.code).toBe('invalid_code');
      expect(e.kind).toBe('terminal');
      const wrong = new TokenBroker({
        table: aws.tables.state,
        key: key(),
        credentials: async () => ({
          clientId: 'nope',
          clientSecret: 'SECRET-VALUE-123',
          refreshToken: 'REFRESH-456',
        }),
        accountsUrl: f.accountsUrl,
        defaultApiDomain: f.apiDomain,
      });
      const e2 = await zohoError(wrong.getToken());
      expect(e2.code).toBe('invalid_client');
      for (const err of [e, e2]) {
        const text = `${err.message} ${JSON.stringify(err)} ${String(err.stack)}`;
        expect(text).not.toContain('SECRET-VALUE-123');
        expect(text).not.toContain('REFRESH-456');
        expect(text).not.toContain(FAKE_CREDENTIALS.clientSecret);
        expect(text).not.toContain(FAKE_CREDENTIALS.refreshToken);
      }
    } finally {
      await f.close();
    }
  });

  it('reads the legacy expires_in_sec form', async () => {
    const f = await withFake({ legacyExpiresIn: true });
    try {
      const t = await brokerFor(f, aws, { key: key() }).getToken();
      const ttl = t.expiresAt - Date.now();
      expect(ttl).toBeGreaterThan(3500_000);
      expect(ttl).toBeLessThanOrEqual(3600_000);
    } finally {
      await f.close();
    }
  });

  it('stores the access token sealed: the item and its JSON hold nothing usable without the secret', async () => {
    const k = key();
    const t = await brokerFor(fake, aws, { key: k }).getToken();
    const item = (await aws.ddb.send(new GetCommand({ TableName: aws.stateTable, Key: { pk: k } }))).Item;
    expect(item?.access_token).toBeUndefined();
    const text = JSON.stringify(item);
    // Neither the token nor any part of it (its two hex halves) is in the item.
    for (const part of [t.accessToken, ...t.accessToken.split('.').slice(1)])
      expect(text).not.toContain(part);
    expect(text).not.toContain(FAKE_CREDENTIALS.clientSecret);
    expect(text).not.toContain(FAKE_CREDENTIALS.refreshToken);
    expect(item?.sealed_token).toMatchObject({ v: 1, kid: tokenKey(FAKE_CREDENTIALS).kid });
    // Another container (empty memory) opens it: no second mint.
    const before = fake.stats().mints;
    expect((await brokerFor(fake, aws, { key: k }).getToken()).accessToken).toBe(t.accessToken);
    expect(fake.stats().mints).toBe(before);
  });

  it('mints anew when the refresh token was rotated: the token sealed under the old key is no cached token', async () => {
    const rotatedSecret = { ...FAKE_CREDENTIALS, refreshToken: 'rotated-refresh-token' };
    // One client, two refresh tokens: the secret's refresh token is replaced by a new one.
    const f = await withFake({ clients: [{ ...FAKE_CREDENTIALS }, { ...rotatedSecret }] });
    try {
      const k = key();
      const t1 = await brokerFor(f, aws, { key: k }).getToken();
      const broker = new TokenBroker({
        table: aws.tables.state,
        key: k,
        credentials: async () => rotatedSecret,
        accountsUrl: f.accountsUrl,
        defaultApiDomain: f.apiDomain,
      });
      const t2 = await broker.getToken();
      expect(t2.accessToken).not.toBe(t1.accessToken);
      expect(f.stats().mints).toBe(2);
      const item = (await aws.ddb.send(new GetCommand({ TableName: aws.stateTable, Key: { pk: k } }))).Item;
      expect(tokenKey(rotatedSecret).kid).not.toBe(tokenKey(FAKE_CREDENTIALS).kid);
      expect(item?.sealed_token).toMatchObject({ kid: tokenKey(rotatedSecret).kid });
      // The old secret's holder cannot open the new token either: it mints (it still may, here).
      const t3 = await brokerFor(f, aws, { key: k }).getToken();
      expect(t3.accessToken).not.toBe(t2.accessToken);
      expect(f.stats().mints).toBe(3);
    } finally {
      await f.close();
    }
  });

  it('never reads a clear access_token left by an older version, and removes it with the first mint', async () => {
    const k = key();
    const planted = '1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210';
    await aws.tables.state.put({
      pk: k,
      access_token: planted,
      api_domain: fake.apiDomain,
      token_expires_at: Date.now() + 3_600_000,
    });
    const before = fake.stats().mints;
    const t = await brokerFor(fake, aws, { key: k }).getToken();
    expect(t.accessToken).not.toBe(planted);
    expect(fake.stats().mints).toBe(before + 1);
    const item = (await aws.ddb.send(new GetCommand({ TableName: aws.stateTable, Key: { pk: k } }))).Item;
    expect(item?.access_token).toBeUndefined();
    expect(JSON.stringify(item)).not.toContain(planted);
  });

  it('treats a sealed token that was altered or moved to another item as no cached token', async () => {
    const k1 = key();
    const k2 = key();
    await brokerFor(fake, aws, { key: k1 }).getToken();
    const item = (await aws.ddb.send(new GetCommand({ TableName: aws.stateTable, Key: { pk: k1 } }))).Item;
    // The same sealed value under another key: its AAD names k1, so it does not open as k2.
    await aws.tables.state.put({ ...item, pk: k2 });
    const before = fake.stats().mints;
    await brokerFor(fake, aws, { key: k2 }).getToken();
    expect(fake.stats().mints).toBe(before + 1);
  });

  it('names the missing environment variables, not their values', async () => {
    const e = await zohoError(credentialsFromEnv({ ZOHO_CLIENT_ID: 'x' })());
    expect(e.code).toBe('MISSING_CREDENTIALS');
    expect(e.message).toContain('ZOHO_CLIENT_SECRET');
    expect(e.message).toContain('ZOHO_REFRESH_TOKEN');
  });
});

describe('data centres', () => {
  // Every case mints a token of its own: lift the fake's 10-per-10-minutes limit for this block.
  let fake: FakeZoho;
  beforeAll(async () => {
    fake = await withFake({ mintLimit: { max: 1000, windowMs: 600_000 } });
  });
  afterAll(async () => fake?.close());

  it.each(DATA_CENTER_CODES)(
    '%s: mints at its accounts server and calls the api_domain Zoho returns',
    async (dc) => {
      const seen: string[] = [];
      const ep = resolveEndpoints({ dataCenter: dc });
      expect(ep.accountsUrl).toBe(DATA_CENTERS[dc].accounts);
      // Zoho names the data centre's API domain in its token answer (the fake names its own).
      const apiDomain = `${DATA_CENTERS[dc].api}/`;
      const b = new TokenBroker({
        table: aws.tables.state,
        key: key(),
        credentials: async () => FAKE_CREDENTIALS,
        accountsUrl: ep.accountsUrl,
        defaultApiDomain: ep.defaultApiDomain,
        fetch: namingApiDomain(redirectingFetch(fake.url, seen), apiDomain),
      });
      const t = await b.getToken();
      expect(seen[0]).toBe(`${DATA_CENTERS[dc].accounts}/oauth/v2/token`);
      // The client uses the api_domain of the answer (its origin), not a hard-coded host.
      expect(t.apiDomain).toBe(DATA_CENTERS[dc].api);
      const job = fake.addJob({ totalRecords: 1 });
      const z = await clientFor(b, { fetch: redirectingFetch(fake.url, seen) }).getJob(job.id);
      expect(z.id).toBe(job.id);
      expect(seen.at(-1)).toBe(`${DATA_CENTERS[dc].api}/crm/bulk/v8/read/${job.id}`);
    },
  );

  it.each([
    ['a plain-http domain', 'http://127.0.0.1:9'],
    ["another data centre's domain", DATA_CENTERS.EU.api],
    ['a look-alike host', 'https://www.zohoapis.com.evil.test'],
    ['a domain with a path', 'https://www.zohoapis.com/x'],
  ])('a token answer naming %s is a token error, and nothing is sent there', async (_what, named) => {
    const seen: string[] = [];
    const ep = resolveEndpoints({ dataCenter: 'US' });
    const b = new TokenBroker({
      table: aws.tables.state,
      key: key(),
      credentials: async () => FAKE_CREDENTIALS,
      accountsUrl: ep.accountsUrl,
      defaultApiDomain: ep.defaultApiDomain,
      fetch: namingApiDomain(redirectingFetch(fake.url, seen), named),
    });
    const job = fake.addJob({ totalRecords: 1 });
    const e = await zohoError(clientFor(b, { fetch: redirectingFetch(fake.url, seen) }).getJob(job.id));
    expect(e).toMatchObject({ code: 'INVALID_API_DOMAIN', kind: 'terminal', stage: 'oauth' });
    expect(seen).toEqual([`${DATA_CENTERS.US.accounts}/oauth/v2/token`]);
  });

  it('uses an explicit accounts URL and an API domain override', () => {
    const ep = resolveEndpoints({ dataCenter: 'EU', accountsUrl: 'https://accounts.example.test/' });
    expect(ep.accountsUrl).toBe('https://accounts.example.test');
  });

  it('sends the API domain override instead of the token api_domain', async () => {
    const seen: string[] = [];
    const b = brokerFor(fake, aws, { key: key() });
    const job = fake.addJob({ totalRecords: 1 });
    await clientFor(b, {
      apiDomain: 'https://www.zohoapis.eu',
      fetch: redirectingFetch(fake.url, seen),
    }).getJob(job.id);
    expect(seen.at(-1)).toBe(`https://www.zohoapis.eu/crm/bulk/v8/read/${job.id}`);
  });
});

/** `fetch`, with the token endpoint's answer naming `apiDomain` as its api_domain. */
function namingApiDomain(fetch: FetchFn, apiDomain: string): FetchFn {
  return async (input, init) => {
    const res = await fetch(input, init);
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!href.endsWith('/oauth/v2/token') || !res.ok) return res;
    const body: unknown = await res.json();
    return Response.json({ ...(body && typeof body === 'object' ? body : {}), api_domain: apiDomain });
  };
}
