/**
 * Callback tokens. Every Zoho job the exporter creates carries
 * `callback.url = <base>/callbacks/zoho/<token>`, where the token (v2) is
 *
 *   `ex_<ULID>.<page>.<nonce>.<exp>.<kid>.<mac>`
 *
 * - `page`: the export's page the job is;
 * - `nonce`: 16 base64url chars of randomness drawn for this creation attempt of the page and stored
 *   with it (on the export's intent while the creation is claimed, then on the job record), so a page
 *   created again (a takeover, a recovery) gets a new token and the earlier attempt's token is refused;
 * - `exp`: when the token stops being accepted (epoch seconds, base36): the job's maximum age plus a
 *   margin after the URL was made, since a job older than that is EXPIRED anyway;
 * - `kid`: which key signed it (8 chars of the key's SHA-256), so the key can be rotated while jobs
 *   signed with the previous one are still running (the secret holds the current and previous keys);
 * - `mac`: 128 bits of HMAC-SHA256 over `zoho-callback:v2:` and every field above, base64url.
 *
 * The job id is not known when the URL is made (Zoho assigns it in the answer to the create call), so
 * the token binds the page's attempt, and the handler binds that attempt to its job: the job id in the
 * callback must be the one recorded for that page with the same nonce (or, while the page's creation is
 * unrecorded, it is adopted after checks: lib/exports/pages.ts). The token is a bearer secret: it is
 * never logged (the handler logs the export and page it names, never the token or the URL).
 *
 * v1 tokens (`ex_<ULID>.<page>.<mac>`, no nonce, no expiry) were made before this format. They are
 * still verified, and the handler accepts one only for a recorded job that has no nonce (a job created
 * before the upgrade) and is younger than the maximum job age: those jobs' callbacks keep working
 * through an upgrade, and after one maximum job age no v1 token is accepted at all. A v1 token never
 * adopts a job.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { EXPORT_ID_PATTERN } from '../exports/model.js';

/** 128 bits of the HMAC, base64url. */
const MAC_CHARS = 22;
const ULID = 'ex_[0-9A-HJKMNP-TV-Z]{26}';
const V1 = new RegExp(`^(${ULID})\\.([1-9][0-9]{0,5})\\.([A-Za-z0-9_-]{22})$`);
const V2 = new RegExp(
  `^(${ULID})\\.([1-9][0-9]{0,5})\\.([A-Za-z0-9_-]{16})\\.([0-9a-z]{1,10})\\.([A-Za-z0-9_-]{8})\\.([A-Za-z0-9_-]{22})$`,
);
/** A page attempt's nonce: 96 random bits, base64url. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16}$/;
/** The shortest key accepted (bytes). */
export const MIN_KEY_BYTES = 32;
/**
 * How long a token outlives its job's maximum age: Zoho retries a callback for a while, and clocks
 * differ. A job older than its maximum age is EXPIRED, so its callbacks are worth nothing after that.
 */
export const TOKEN_MARGIN_MS = 60 * 60_000;

/** What a v2 token binds: the page's creation attempt and when the token stops being accepted. */
export interface CallbackBinding {
  nonce: string;
  /** Epoch ms (rounded up to the second in the token). */
  expiresAt: number;
}

export interface CallbackTarget {
  exportId: string;
  page: number;
  /** 2 for tokens with a nonce, expiry and key id; 1 for the tokens made before them. */
  version: 1 | 2;
  /** The page attempt's nonce (v2 only). */
  nonce?: string;
}

/** A token's check: the export and page it names, or why it is refused (for the log; never the token). */
export type TokenCheck = { ok: true; target: CallbackTarget } | { ok: false; reason: string };

/** The keys that verify tokens: the first signs new ones; the others are the previous keys. */
export interface KeyRing {
  keys: readonly Buffer[];
}

/** A new page attempt's nonce and its token's expiry (`maxAgeMs`: the job's maximum age). */
export function newCallbackBinding(maxAgeMs: number, now: number): CallbackBinding {
  return { nonce: randomBytes(12).toString('base64url'), expiresAt: now + maxAgeMs + TOKEN_MARGIN_MS };
}

/** A key's id in tokens: 8 chars of its SHA-256, base64url (names the key, reveals nothing of it). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 8);
}

function checkedKey(key: Buffer): Buffer {
  if (key.length < MIN_KEY_BYTES)
    throw new Error(`the callback key must have at least ${MIN_KEY_BYTES} bytes`);
  return key;
}

const ringOf = (k: Buffer | KeyRing): KeyRing => {
  const keys = Buffer.isBuffer(k) ? [k] : k.keys;
  if (keys.length === 0) throw new Error('no callback key');
  for (const key of keys) checkedKey(key);
  return { keys };
};

const hmac = (key: Buffer, text: string): string =>
  createHmac('sha256', key).update(text).digest('base64url').slice(0, MAC_CHARS);

const macV1 = (key: Buffer, exportId: string, page: number): string =>
  hmac(key, `zoho-callback:v1:${exportId}:${page}`);

const macV2 = (key: Buffer, exportId: string, page: number, nonce: string, exp: string, kid: string) =>
  hmac(key, `zoho-callback:v2:${exportId}:${page}:${nonce}:${exp}:${kid}`);

const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function checkedTarget(exportId: string, page: number): void {
  if (!EXPORT_ID_PATTERN.test(exportId)) throw new Error(`not an export id: ${exportId.slice(0, 40)}`);
  if (!Number.isInteger(page) || page < 1 || page > 999_999) throw new Error(`not a page number: ${page}`);
}

/** The v2 token of a page's creation attempt, signed with the ring's current key. */
export function callbackToken(
  keys: Buffer | KeyRing,
  exportId: string,
  page: number,
  binding: CallbackBinding,
): string {
  checkedTarget(exportId, page);
  if (!NONCE_PATTERN.test(binding.nonce)) throw new Error('not a callback nonce');
  const key = ringOf(keys).keys[0]!;
  const exp = Math.ceil(binding.expiresAt / 1000).toString(36);
  const kid = keyId(key);
  return `${exportId}.${page}.${binding.nonce}.${exp}.${kid}.${macV2(key, exportId, page, binding.nonce, exp, kid)}`;
}

/** A v1 token (no nonce, no expiry): what jobs created before v2 carry. Only tests make new ones. */
export function callbackTokenV1(key: Buffer, exportId: string, page: number): string {
  checkedTarget(exportId, page);
  return `${exportId}.${page}.${macV1(checkedKey(key), exportId, page)}`;
}

/**
 * Checks a token: its shape, its key (by key id, among the ring's keys), its MAC, its expiry. Nothing
 * is read from any store before the MAC holds.
 */
export function verifyCallbackToken(keys: Buffer | KeyRing, token: string, now: number): TokenCheck {
  const ring = ringOf(keys);
  const v2 = V2.exec(token);
  if (v2) {
    const exportId = v2[1]!;
    const page = Number(v2[2]);
    const nonce = v2[3]!;
    const exp = v2[4]!;
    const kid = v2[5]!;
    const key = ring.keys.find((k) => keyId(k) === kid);
    if (!key) return { ok: false, reason: 'unknown key id' };
    if (!sameText(v2[6]!, macV2(key, exportId, page, nonce, exp, kid)))
      return { ok: false, reason: 'bad mac' };
    if (Number.parseInt(exp, 36) * 1000 <= now) return { ok: false, reason: 'token expired' };
    return { ok: true, target: { exportId, page, version: 2, nonce } };
  }
  const v1 = V1.exec(token);
  if (!v1) return { ok: false, reason: 'malformed token' };
  const exportId = v1[1]!;
  const page = Number(v1[2]);
  const ok = ring.keys.some((k) => sameText(v1[3]!, macV1(k, exportId, page)));
  return ok ? { ok: true, target: { exportId, page, version: 1 } } : { ok: false, reason: 'bad mac' };
}

/** The callback URL of each page attempt: `<base>/callbacks/zoho/<token>`. */
export function callbackUrls(
  base: string,
  keys: Buffer | KeyRing,
): (exportId: string, page: number, binding: CallbackBinding) => string {
  const root = base.replace(/\/+$/, '');
  const ring = ringOf(keys);
  return (exportId, page, binding) =>
    `${root}/callbacks/zoho/${callbackToken(ring, exportId, page, binding)}`;
}

/** The key from one key's text: base64 or base64url of at least 32 bytes, or the raw text itself. */
export function keyFromSecret(text: string): Buffer {
  const t = text.trim();
  const decoded = /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  const key = decoded && decoded.length >= MIN_KEY_BYTES ? decoded : Buffer.from(t, 'utf8');
  return checkedKey(key);
}

const ringSecret = z.object({
  current: z.string().min(1),
  previous: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
});

/**
 * The keys from the secret's text: one key (the format before rotation existed), one key per line
 * (the first signs), or JSON `{"current": "...", "previous": "..." | ["...", ...]}`. To rotate: put the
 * new key as current and the old one as previous; remove the previous one after the maximum job age.
 */
export function keyRingFromSecret(text: string): KeyRing {
  const t = text.trim();
  if (t.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      throw new Error('the callback key secret is not valid JSON');
    }
    const r = ringSecret.safeParse(parsed);
    if (!r.success) throw new Error('the callback key secret must be {"current": ..., "previous"?: ...}');
    const previous = r.data.previous === undefined ? [] : [r.data.previous].flat();
    return { keys: [r.data.current, ...previous].map(keyFromSecret) };
  }
  const lines = t
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return { keys: lines.map(keyFromSecret) };
}

/** A key (or ring) loaded once and kept (a failed load is tried again on the next call). */
export function cachedKey<K extends Buffer | KeyRing>(load: () => Promise<K>): () => Promise<K> {
  let p: Promise<K> | undefined;
  return () => {
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
}

/** What callbacks need: each page attempt's URL (for creating jobs) and the token check (for the route). */
export interface CallbackWiring {
  url: (exportId: string, page: number, binding: CallbackBinding) => Promise<string>;
  verify: (token: string) => Promise<TokenCheck>;
}

export function callbackWiring(
  base: string,
  keys: () => Promise<Buffer | KeyRing>,
  now: () => number = Date.now,
): CallbackWiring {
  return {
    url: async (exportId, page, binding) => callbackUrls(base, await keys())(exportId, page, binding),
    verify: async (token) => verifyCallbackToken(await keys(), token, now()),
  };
}
