import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { expect } from 'vitest';
import { tokenBroker } from '../../lib/wiring.js';
import { createZohoClient, type ZohoClient, type ZohoClientOptions } from '../../lib/zoho/client.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import type { FetchFn } from '../../lib/zoho/http.js';
import type { TokenBroker, TokenBrokerOptions } from '../../lib/zoho/token-broker.js';
import { type FakeZoho, type FakeZohoOptions, startFakeZoho } from '../../local/fake-zoho/index.js';
import type { TestAws } from './aws.js';

export const FAKE_CREDENTIALS = {
  clientId: 'fake-client-id',
  clientSecret: 'fake-client-secret',
  refreshToken: 'fake-refresh-token',
};

export function brokerFor(
  fake: FakeZoho,
  aws: Pick<TestAws, 'tables'>,
  extra: Partial<TokenBrokerOptions> = {},
): TokenBroker {
  // The builder the functions use, against the fake's accounts server (its API domain is the same).
  return tokenBroker(
    { ZOHO_DATA_CENTER: 'US', ZOHO_ACCOUNTS_URL: fake.accountsUrl, ZOHO_API_DOMAIN: undefined },
    { state: aws.tables.state, credentials: async () => FAKE_CREDENTIALS, broker: extra },
  );
}

export function clientFor(broker: TokenBroker, extra: Partial<ZohoClientOptions> = {}): ZohoClient {
  return createZohoClient({ tokens: broker, ...extra });
}

export async function withFake(opts: FakeZohoOptions = {}): Promise<FakeZoho> {
  return startFakeZoho({
    timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
    ...opts,
  });
}

export async function sha256OfIterable(
  it: AsyncIterable<Buffer | Uint8Array>,
): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of it) {
    h.update(c);
    bytes += c.length;
  }
  return { hash: h.digest('hex'), bytes };
}

export async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A fetch that records every URL and sends it to `target` instead (for the data-centre URL tests). */
export function redirectingFetch(target: string, seen: string[]): FetchFn {
  return (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    seen.push(url.href);
    const t = new URL(target);
    url.protocol = t.protocol;
    url.host = t.host;
    return globalThis.fetch(url, init);
  };
}

/** Awaits `p`, expecting it to fail with a ZohoError, and returns that error. */
export async function zohoError(p: Promise<unknown>): Promise<ZohoError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ZohoError);
    return e as ZohoError;
  }
  throw new Error('expected a ZohoError');
}
