/** The secret search of the suites that drive `npm start` from outside (no-secrets, black-box recovery). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CLIENT } from '../../local/fake-zoho/index.js';

/**
 * A callback token in full: v1 `ex_<26>.<page>.<22-character MAC>`, or v2
 * `ex_<26>.<page>.<nonce>.<exp>.<kid>.<22-character MAC>`.
 */
export const CALLBACK_TOKEN =
  /ex_[0-9A-HJKMNP-TV-Z]{26}\.[1-9][0-9]{0,5}(?:\.[A-Za-z0-9_-]+){0,3}\.[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])/g;
export const EXPORT_ID = /ex_[0-9A-HJKMNP-TV-Z]{26}/g;

/** Every file under `dir` except those under `skip` (absolute paths), as text (binary as latin1 bytes). */
export function filesUnder(dir: string, skip: string[]): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (skip.some((s) => p === s || p.startsWith(`${s}${path.sep}`))) continue;
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ file: p, text: readFileSync(p).toString('latin1') });
    }
  };
  walk(dir);
  return out;
}

/** The access tokens the fake of `npm start` on `dataDir` holds now (revocation deletes them there). */
export function issuedAccessTokens(dataDir: string): string[] {
  const file = path.join(dataDir, 'fake-zoho', 'state', 'oauth.json');
  const s = JSON.parse(readFileSync(file, 'utf8')) as { tokens: Array<{ token: string }> };
  return s.tokens.map((t) => t.token);
}

/** The callback token of each callback URL the product gave the fake (its jobs and callback log). */
export function callbackTokensIn(urls: Iterable<string | undefined>): string[] {
  const out: string[] = [];
  for (const u of urls) if (u?.includes('/callbacks/zoho/')) out.push(u.split('/callbacks/zoho/')[1]!);
  return out;
}

/**
 * The secrets to look for, named: the fake's client secret and refresh token, `accessTokens` (and
 * either hex half, as good as a leak of the token), `callbackTokens` (and their MACs).
 */
export function secretsOf(
  accessTokens: Iterable<string>,
  callbackTokens: Iterable<string>,
): Map<string, string> {
  const secrets = new Map<string, string>([
    [DEFAULT_CLIENT.clientSecret, 'client secret'],
    [DEFAULT_CLIENT.refreshToken, 'refresh token'],
  ]);
  for (const t of accessTokens) {
    secrets.set(t, 'access token');
    for (const half of t.split('.').slice(1)) secrets.set(half, 'access token part');
  }
  for (const t of callbackTokens) {
    secrets.set(t, 'callback token');
    secrets.set(t.split('.').at(-1)!, 'callback token MAC');
  }
  return secrets;
}

/**
 * Where any of `secrets`, or any full callback token at all (except those in `allowed`, e.g. forged
 * ones a test sent), occurs in `haystacks`: "what in where" for each hit.
 */
export function secretHits(
  haystacks: Array<{ where: string; text: string }>,
  secrets: Map<string, string>,
  allowed: ReadonlySet<string> = new Set(),
): string[] {
  const hits: string[] = [];
  for (const h of haystacks) {
    for (const [s, what] of secrets) if (h.text.includes(s)) hits.push(`${what} in ${h.where}`);
    for (const m of h.text.matchAll(CALLBACK_TOKEN))
      if (!allowed.has(m[0])) hits.push(`a callback token in ${h.where}`);
  }
  return hits;
}
