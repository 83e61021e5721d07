/**
 * Zoho Accounts: the refresh-token grant, the mint throttle (10 per sliding 10 min per
 * refresh token), at most 15 live access tokens (the 16th evicts the oldest), scopes, and the
 * `Authorization` check of CRM calls.
 */
import { randomBytes } from 'node:crypto';
import { zohoError } from './errors.js';
import { parseMultipart, readBody, sendJson } from './http-util.js';
import type { Ctx, Runtime } from './state.js';

export interface TokenInfo {
  token: string;
  refreshToken: string;
  userId: string;
  issuedAt: number;
  expiresAt: number;
  scopes: string[];
}

export class OAuthState {
  readonly tokens = new Map<string, TokenInfo>();
  readonly liveByRefresh = new Map<string, string[]>();
  readonly mintLog = new Map<string, number[]>();
  readonly revokedRefresh = new Set<string>();

  toJSON(): {
    tokens: TokenInfo[];
    liveByRefresh: [string, string[]][];
    mintLog: [string, number[]][];
    revokedRefresh: string[];
  } {
    return {
      tokens: [...this.tokens.values()],
      liveByRefresh: [...this.liveByRefresh],
      mintLog: [...this.mintLog],
      revokedRefresh: [...this.revokedRefresh],
    };
  }

  load(d: ReturnType<OAuthState['toJSON']>): void {
    this.tokens.clear();
    for (const t of d.tokens) this.tokens.set(t.token, t);
    this.liveByRefresh.clear();
    for (const [k, v] of d.liveByRefresh) this.liveByRefresh.set(k, v);
    this.mintLog.clear();
    for (const [k, v] of d.mintLog) this.mintLog.set(k, v);
    this.revokedRefresh.clear();
    for (const r of d.revokedRefresh) this.revokedRefresh.add(r);
  }
}

export const THROTTLE_BODY = {
  error: 'Access Denied',
  error_description: 'You have made too many requests continuously. Please try again after some time.',
  status: 'failure',
};

function validToken(rt: Runtime, token: string | undefined): TokenInfo | undefined {
  if (!token) return undefined;
  const info = rt.oauth.tokens.get(token);
  if (!info) return undefined;
  if (rt.now() >= info.expiresAt) return undefined;
  return info;
}

export function liveTokenCount(rt: Runtime): number {
  let live = 0;
  const t = rt.now();
  for (const info of rt.oauth.tokens.values()) if (t < info.expiresAt) live++;
  return live;
}

/** The caller's token (`Zoho-oauthtoken` or `Bearer`), or 401 INVALID_TOKEN. */
export function authenticate(rt: Runtime, ctx: Ctx): TokenInfo {
  const h = ctx.req.headers.authorization;
  const m = h ? /^(Zoho-oauthtoken|Bearer)\s+(\S+)\s*$/i.exec(h) : null;
  const info = validToken(rt, m?.[2]);
  if (!info) throw zohoError('INVALID_TOKEN');
  return info;
}

const has = (info: TokenInfo, ...wanted: string[]): boolean => {
  const granted = new Set(info.scopes.map((s) => s.toLowerCase()));
  return wanted.some((w) => granted.has(w.toLowerCase()));
};

/** Bulk read needs ZohoCRM.bulk.read or .ALL. */
export function requireBulkScope(info: TokenInfo): void {
  if (!has(info, 'ZohoCRM.bulk.ALL', 'ZohoCRM.bulk.read')) throw zohoError('OAUTH_SCOPE_MISMATCH');
}

/** Reading a module needs ZohoCRM.modules.ALL or ZohoCRM.modules.<module>.READ / .ALL (case-insensitive). */
export function requireModuleScope(info: TokenInfo, module: string): void {
  if (!has(info, 'ZohoCRM.modules.ALL', `ZohoCRM.modules.${module}.READ`, `ZohoCRM.modules.${module}.ALL`))
    throw zohoError('OAUTH_SCOPE_MISMATCH');
}

/** The modules API needs ZohoCRM.settings.modules.READ / .ALL or ZohoCRM.settings.ALL. */
export function requireModulesScope(info: TokenInfo): void {
  if (!has(info, 'ZohoCRM.settings.modules.READ', 'ZohoCRM.settings.modules.ALL', 'ZohoCRM.settings.ALL'))
    throw zohoError('OAUTH_SCOPE_MISMATCH');
}

/** The fields API needs ZohoCRM.settings.fields.READ / .ALL or ZohoCRM.settings.ALL. */
export function requireFieldsScope(info: TokenInfo): void {
  if (!has(info, 'ZohoCRM.settings.fields.READ', 'ZohoCRM.settings.fields.ALL', 'ZohoCRM.settings.ALL'))
    throw zohoError('OAUTH_SCOPE_MISMATCH');
}

export async function handleToken(rt: Runtime, ctx: Ctx): Promise<void> {
  const { req, url } = ctx;
  if (req.method !== 'POST') throw zohoError('INVALID_REQUEST_METHOD');
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  const body = await readBody(req);
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  if (body.length > 0) {
    if (ct.startsWith('multipart/form-data')) Object.assign(params, parseMultipart(body, ct));
    else Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  }
  const ok = (b: unknown, status = 200) => sendJson(ctx, status, b);
  const client = rt.clients.find((c) => c.clientId === params.client_id);
  if (!client) return ok({ error: 'invalid_client' });
  if (client.clientSecret !== params.client_secret) return ok({ error: 'invalid_client_secret' });
  if (params.grant_type !== 'refresh_token') return ok({ error: 'unsupported_grant_type' });
  const rt0 = params.refresh_token ?? '';
  const rtClient = rt.clients.find((c) => c.refreshToken === rt0);
  const { oauth } = rt;
  if (!rtClient || rtClient.clientId !== client.clientId || oauth.revokedRefresh.has(rt0)) {
    return ok({ error: 'invalid_code' });
  }
  const t = rt.now();
  const log = (oauth.mintLog.get(rt0) ?? []).filter((x) => x > t - rt.mintLimit.windowMs);
  oauth.mintLog.set(rt0, log);
  if (log.length >= rt.mintLimit.max) return ok(THROTTLE_BODY, rt.opts.throttleStatus);
  log.push(t);
  rt.counters.mints++;
  const token = `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`;
  oauth.tokens.set(token, {
    token,
    refreshToken: rt0,
    userId: rtClient.userId,
    issuedAt: t,
    expiresAt: t + rt.tokenTtlSeconds * 1000,
    scopes: [...rtClient.scopes],
  });
  const live = (oauth.liveByRefresh.get(rt0) ?? []).filter((x) => validToken(rt, x));
  live.push(token);
  while (live.length > rt.maxLiveTokens) oauth.tokens.delete(live.shift()!);
  oauth.liveByRefresh.set(rt0, live);
  rt.changed('oauth');
  const resp: Record<string, unknown> = {
    access_token: token,
    scope: rtClient.scopes.join(' '),
    api_domain: rt.baseUrl,
    token_type: 'Bearer',
  };
  if (rt.opts.legacyExpiresIn) {
    resp.expires_in_sec = rt.tokenTtlSeconds;
    resp.expires_in = rt.tokenTtlSeconds * 1000;
  } else {
    resp.expires_in = rt.tokenTtlSeconds;
  }
  return ok(resp);
}

export function revokeTokens(rt: Runtime): void {
  rt.oauth.tokens.clear();
  rt.oauth.liveByRefresh.clear();
  rt.changed('oauth');
}

export function revokeRefreshToken(rt: Runtime, refreshToken: string): void {
  const { oauth } = rt;
  oauth.revokedRefresh.add(refreshToken);
  for (const t of oauth.liveByRefresh.get(refreshToken) ?? []) oauth.tokens.delete(t);
  oauth.liveByRefresh.delete(refreshToken);
  rt.changed('oauth');
}

export function expireTokens(rt: Runtime): void {
  const t = rt.now();
  for (const info of rt.oauth.tokens.values()) info.expiresAt = Math.min(info.expiresAt, t);
  rt.changed('oauth');
}
