import { z } from 'zod';
import { type Cond, eq, lt, missing, or, type Update } from '../ddb/expr.js';
import type { Table } from '../ddb/table.js';
import type { AccessToken, TokenProvider } from './client.js';
import { allowedApiDomain } from './data-centers.js';
import { toZohoError, ZohoError } from './errors.js';
import { type FetchFn, requestJson } from './http.js';
import { tokenResponse } from './schemas.js';
import { sealedToken, type TokenKey, tokenKey } from './token-crypto.js';

export interface ZohoCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}
export type CredentialsProvider = () => Promise<ZohoCredentials>;

export interface TokenBrokerOptions {
  /** State table (partition key `pk`). */
  table: Table;
  credentials: CredentialsProvider;
  /** Accounts server base URL, e.g. https://accounts.zoho.eu. */
  accountsUrl: string;
  /** Used when the token response carries no api_domain. */
  defaultApiDomain: string;
  /** Reuse a token until fewer than this many ms remain (default 5 minutes). */
  refreshMarginMs?: number;
  /** Mint budget: at most `max` refreshes in `windowMs` (Zoho: 10 in 10 minutes). */
  mintLimit?: { max: number; windowMs: number };
  /** How long a refresh lease is held (default 20 s); the mint request times out before it. */
  leaseMs?: number;
  /** How long a caller waits for another caller's refresh before giving up (default 25 s). */
  waitMs?: number;
  /** Cache item key (default `zoho-token`); one per refresh token. */
  key?: string;
  fetch?: FetchFn;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called after each real mint (metrics, tests). Never receives the token. */
  onMint?: () => void;
}

/**
 * The cache item as read back. The token is stored sealed (`sealed_token`, see token-crypto.ts) with a
 * keyed reference (`token_ref`) for invalidate's condition. A clear `access_token` (written by versions
 * before the encryption) is never read and is removed by the next lease, mint or invalidate.
 */
const tokenItem = z.object({
  sealed_token: z.unknown().optional(),
  token_ref: z.string().optional(),
  api_domain: z.string().optional(),
  token_expires_at: z.number().optional(),
  lease_owner: z.string().optional(),
  lease_until: z.number().optional(),
  mints: z.array(z.number()).optional(),
  denied_until: z.number().optional(),
});
type TokenItem = z.infer<typeof tokenItem>;

/** Every attribute that holds (or held, in clear) the token, removed together. */
const TOKEN_ATTRS = ['sealed_token', 'token_ref', 'token_expires_at', 'api_domain', 'access_token'];

/** How long a terminal refusal from the token endpoint is remembered by one container. */
const REFUSED_CACHE_MS = 60_000;

const DENIED_MESSAGE =
  'Zoho throttled access-token creation ("Access Denied"); waiting for the 10-minute window';

/** No access token may be minted before `retryAfterMs` has passed (Zoho's throttle or our own budget). */
const tokenThrottled = (message: string, retryAfterMs: number): ZohoError =>
  new ZohoError({ code: 'TOKEN_THROTTLED', message, kind: 'retryable', retryAfterMs });

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One Zoho access token shared by every function, cached in DynamoDB.
 *
 * - A cached token is reused until fewer than 5 minutes remain.
 * - Refreshing is single-flight: a caller takes a lease with a conditional write; the others wait
 *   for the token it stores. 50 concurrent callers mint one token.
 * - Mints are counted in the item itself: never more than 10 in 10 minutes, and after Zoho's
 *   "Access Denied" throttle nobody tries again until the window has passed.
 * - `invalidate(t)` drops the cached token only if it is still `t`, so a late INVALID_TOKEN from an
 *   old token does not throw away a fresh one.
 * Credentials and tokens never appear in errors or logs.
 */
export class TokenBroker implements TokenProvider {
  private memo: AccessToken | undefined;
  private refused: { error: ZohoError; until: number } | undefined;
  private inflight: Promise<AccessToken> | undefined;
  private readonly o: Required<Omit<TokenBrokerOptions, 'onMint' | 'fetch'>> &
    Pick<TokenBrokerOptions, 'onMint' | 'fetch'>;

  constructor(options: TokenBrokerOptions) {
    this.o = {
      refreshMarginMs: 5 * 60_000,
      mintLimit: { max: 10, windowMs: 10 * 60_000 },
      leaseMs: 20_000,
      waitMs: 25_000,
      key: 'zoho-token',
      now: Date.now,
      sleep: defaultSleep,
      ...options,
    };
  }

  private fresh(t: { expiresAt: number } | undefined): boolean {
    return !!t && t.expiresAt - this.o.now() > this.o.refreshMarginMs;
  }

  async getToken(signal?: AbortSignal): Promise<AccessToken> {
    if (this.memo && this.fresh(this.memo)) return this.memo;
    // A refresh token Zoho just refused (revoked, wrong client or data centre) is not tried again for
    // a while: every job of a tick would otherwise spend one of the 10 mints per 10 minutes on it.
    if (this.refused && this.o.now() < this.refused.until) throw this.refused.error;
    // One refresh at a time inside this process, too.
    this.inflight ??= this.acquire(signal)
      .catch((e: unknown) => {
        const err = asOauthError(e);
        if (err.kind === 'terminal') this.refused = { error: err, until: this.o.now() + REFUSED_CACHE_MS };
        throw err;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  async invalidate(accessToken: string): Promise<void> {
    if (this.memo?.accessToken === accessToken) this.memo = undefined;
    // The stored token is sealed, so the condition compares keyed references. Without credentials
    // there is nothing to compare with; the next getToken reports that failure.
    const key = await this.key().catch(() => undefined);
    if (!key) return;
    await this.updateIf({ remove: TOKEN_ATTRS }, eq('token_ref', key.ref(accessToken)));
  }

  private async key(): Promise<TokenKey> {
    return tokenKey(await this.o.credentials());
  }

  /** What the ciphertext is bound to: a sealed token moved to another item, domain or expiry fails to open. */
  private aad(apiDomain: string, expiresAt: number): string {
    return `${this.o.key}\n${apiDomain}\n${expiresAt}`;
  }

  /** The cached token of an item, when it is fresh and opens under the current credentials' key. */
  private async cached(item: TokenItem | undefined): Promise<AccessToken | undefined> {
    if (!item?.sealed_token || !item.api_domain || !item.token_expires_at) return undefined;
    if (!this.fresh({ expiresAt: item.token_expires_at })) return undefined;
    const sealed = sealedToken.safeParse(item.sealed_token);
    if (!sealed.success) return undefined;
    const key = await this.key();
    const accessToken = key.open(sealed.data, this.aad(item.api_domain, item.token_expires_at));
    if (accessToken === undefined) return undefined;
    return { accessToken, apiDomain: item.api_domain, expiresAt: item.token_expires_at };
  }

  /** A conditional update of the cache item; false when the condition did not hold. */
  private async updateIf(update: Update, condition: Cond): Promise<boolean> {
    return (await this.o.table.update({ pk: this.o.key }, update, condition)) !== false;
  }

  private async read(): Promise<TokenItem | undefined> {
    const raw = await this.o.table.get({ pk: this.o.key });
    if (raw === undefined) return undefined;
    const parsed = tokenItem.safeParse(raw);
    if (!parsed.success) {
      throw new ZohoError({
        code: 'INVALID_TOKEN_CACHE',
        message: `the token cache item ${this.o.key} has an unexpected shape`,
        kind: 'retryable',
      });
    }
    return parsed.data;
  }

  private async acquire(signal?: AbortSignal): Promise<AccessToken> {
    // Waiting is real time (real sleeps), so its budget is measured on the monotonic clock.
    const waitUntil = performance.now() + this.o.waitMs;
    let delay = 50;
    for (;;) {
      signal?.throwIfAborted();
      const item = await this.read();
      const now = this.o.now();
      const cached = await this.cached(item);
      if (cached) {
        this.memo = cached;
        return cached;
      }
      if (item?.denied_until && item.denied_until > now) {
        throw tokenThrottled(DENIED_MESSAGE, item.denied_until - now);
      }
      const recent = (item?.mints ?? [])
        .filter((t) => t > now - this.o.mintLimit.windowMs)
        .sort((a, b) => a - b);
      const leaseFree = !item?.lease_until || item.lease_until < now;
      if (leaseFree && recent.length >= this.o.mintLimit.max) {
        throw tokenThrottled(
          `access-token mint budget used (${this.o.mintLimit.max} in ${this.o.mintLimit.windowMs / 60_000} min)`,
          (recent[0] ?? now) + this.o.mintLimit.windowMs - now,
        );
      }
      if (leaseFree) {
        const owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
        const won = await this.takeLease(owner, now, [...recent, now]);
        if (won) return this.mint(owner);
      }
      if (performance.now() > waitUntil) {
        throw new ZohoError({
          code: 'TOKEN_LEASE_TIMEOUT',
          message: 'timed out waiting for another caller to refresh the Zoho access token',
          kind: 'retryable',
        });
      }
      await this.o.sleep(delay / 2 + Math.random() * (delay / 2));
      delay = Math.min(delay * 2, 1000);
    }
  }

  private takeLease(owner: string, now: number, mints: number[]): Promise<boolean> {
    return this.updateIf(
      // A clear token left by an older version goes with the first lease.
      { set: { lease_owner: owner, lease_until: now + this.o.leaseMs, mints }, remove: ['access_token'] },
      or(missing('lease_until'), lt('lease_until', now)),
    );
  }

  private async release(owner: string, extra: { deniedUntil?: number } = {}): Promise<void> {
    await this.updateIf(
      {
        ...(extra.deniedUntil === undefined ? {} : { set: { denied_until: extra.deniedUntil } }),
        remove: ['lease_owner', 'lease_until'],
      },
      eq('lease_owner', owner),
    );
  }

  private async mint(owner: string): Promise<AccessToken> {
    let token: AccessToken;
    let key: TokenKey;
    try {
      const creds = await this.o.credentials();
      // The key of the very credentials that mint the token.
      key = tokenKey(creds);
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: creds.clientId,
        client_secret: creds.clientSecret,
        refresh_token: creds.refreshToken,
      });
      const { body } = await requestJson(
        this.o.fetch ?? globalThis.fetch,
        `${this.o.accountsUrl}/oauth/v2/token`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          body: form.toString(),
        },
        'refresh Zoho access token',
        Math.max(1000, this.o.leaseMs - 5000),
      );
      const parsed = tokenResponse.safeParse(body);
      if (!parsed.success) {
        throw new ZohoError({
          code: 'INVALID_TOKEN_RESPONSE',
          message: 'the Zoho token endpoint answered without an access_token',
          kind: 'retryable',
        });
      }
      const p = parsed.data;
      const ttlMs =
        p.expires_in_sec !== undefined
          ? p.expires_in_sec * 1000
          : p.expires_in !== undefined
            ? p.expires_in * 1000
            : 3_600_000;
      // Only a domain the configuration allows ever receives the token (lib/zoho/data-centers.ts).
      const apiDomain =
        p.api_domain === undefined
          ? this.o.defaultApiDomain.replace(/\/+$/, '')
          : allowedApiDomain(p.api_domain, this.o);
      if (!apiDomain) {
        throw new ZohoError({
          code: 'INVALID_API_DOMAIN',
          message: `Zoho's token answer names API domain "${String(p.api_domain).slice(0, 200)}", which is not the configured data centre's (nor ZOHO_API_DOMAIN): no request is sent to it`,
          kind: 'terminal',
          stage: 'oauth',
        });
      }
      token = { accessToken: p.access_token, apiDomain, expiresAt: this.o.now() + ttlMs };
      this.o.onMint?.();
    } catch (e) {
      const err = toZohoError(e, 'refresh Zoho access token');
      if (err.code === 'ACCESS_DENIED') {
        const deniedUntil = this.o.now() + this.o.mintLimit.windowMs;
        await this.release(owner, { deniedUntil });
        throw tokenThrottled(DENIED_MESSAGE, deniedUntil - this.o.now());
      }
      await this.release(owner);
      if (err.kind === 'auth') {
        throw new ZohoError({
          code: err.code,
          message: err.message,
          kind: 'terminal',
          httpStatus: err.httpStatus,
        });
      }
      throw err;
    }
    // If our lease ran out while minting, someone else owns the cache now. Either way, and even if
    // DynamoDB refuses the write (throttling), the token is valid: use it rather than fail the caller.
    await this.updateIf(
      {
        set: {
          sealed_token: key.seal(token.accessToken, this.aad(token.apiDomain, token.expiresAt)),
          token_ref: key.ref(token.accessToken),
          api_domain: token.apiDomain,
          token_expires_at: token.expiresAt,
        },
        remove: ['lease_owner', 'lease_until', 'denied_until', 'access_token'],
      },
      eq('lease_owner', owner),
    ).catch(() => false);
    this.memo = token;
    return token;
  }
}

/** Every failure to get a token is tagged `stage: 'oauth'`: it is not the fault of the job being worked on. */
function asOauthError(e: unknown): ZohoError {
  const z = toZohoError(e, 'get Zoho access token');
  if (z.stage === 'oauth') return z;
  return new ZohoError({
    code: z.code,
    message: z.message,
    kind: z.kind,
    httpStatus: z.httpStatus,
    retryAfterMs: z.retryAfterMs,
    stage: 'oauth',
    cause: z.cause,
  });
}

/** Credentials from the environment (the local stack). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): CredentialsProvider {
  return async () => {
    const clientId = env.ZOHO_CLIENT_ID;
    const clientSecret = env.ZOHO_CLIENT_SECRET;
    const refreshToken = env.ZOHO_REFRESH_TOKEN;
    const missing = [
      ['ZOHO_CLIENT_ID', clientId],
      ['ZOHO_CLIENT_SECRET', clientSecret],
      ['ZOHO_REFRESH_TOKEN', refreshToken],
    ]
      .filter(([, v]) => !v)
      .map(([k]) => k);
    if (missing.length) {
      throw new ZohoError({
        code: 'MISSING_CREDENTIALS',
        message: `missing ${missing.join(', ')}`,
        kind: 'terminal',
      });
    }
    return { clientId: clientId!, clientSecret: clientSecret!, refreshToken: refreshToken! };
  };
}
