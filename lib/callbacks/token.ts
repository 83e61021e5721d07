/**
 * Callback tokens. Every Zoho job the exporter creates carries
 * `callback.url = <base>/callbacks/zoho/<token>`, where the token names the export and the page the job
 * is (`ex_….<page>.<mac>`) and `mac` is an HMAC-SHA256 of both under a key only the stack holds (a
 * Secrets Manager secret; locally a file in the data directory). Nothing is stored per token.
 *
 * The job id is not known when the URL is made (Zoho assigns it in the answer to the create call), so
 * the token binds the page, and the handler binds the page to its job: the job id in the callback must
 * be the one recorded for that page (or, while the page's creation is unrecorded, it is adopted as
 * that page). A token for one job is therefore useless for any other job, and a forged one for all.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { EXPORT_ID_PATTERN } from '../exports/model.js';

/** 128 bits of the HMAC, base64url. */
const MAC_CHARS = 22;
const TOKEN = /^(ex_[0-9A-HJKMNP-TV-Z]{26})\.([1-9][0-9]{0,5})\.([A-Za-z0-9_-]{22})$/;
/** The shortest key accepted (bytes). */
export const MIN_KEY_BYTES = 32;

export interface CallbackTarget {
  exportId: string;
  page: number;
}

function mac(key: Buffer, exportId: string, page: number): string {
  return createHmac('sha256', key)
    .update(`zoho-callback:v1:${exportId}:${page}`)
    .digest('base64url')
    .slice(0, MAC_CHARS);
}

function checkedKey(key: Buffer): Buffer {
  if (key.length < MIN_KEY_BYTES)
    throw new Error(`the callback key must have at least ${MIN_KEY_BYTES} bytes`);
  return key;
}

export function callbackToken(key: Buffer, exportId: string, page: number): string {
  if (!EXPORT_ID_PATTERN.test(exportId)) throw new Error(`not an export id: ${exportId.slice(0, 40)}`);
  if (!Number.isInteger(page) || page < 1 || page > 999_999) throw new Error(`not a page number: ${page}`);
  return `${exportId}.${page}.${mac(checkedKey(key), exportId, page)}`;
}

/** The export and page a token names, when its MAC is right; otherwise undefined. */
export function verifyCallbackToken(key: Buffer, token: string): CallbackTarget | undefined {
  const m = TOKEN.exec(token);
  if (!m) return undefined;
  const exportId = m[1]!;
  const page = Number(m[2]);
  const want = Buffer.from(mac(checkedKey(key), exportId, page));
  const got = Buffer.from(m[3]!);
  return got.length === want.length && timingSafeEqual(got, want) ? { exportId, page } : undefined;
}

/** The callback URL of each page: `<base>/callbacks/zoho/<token>`. */
export function callbackUrls(base: string, key: Buffer): (exportId: string, page: number) => string {
  const root = base.replace(/\/+$/, '');
  checkedKey(key);
  return (exportId, page) => `${root}/callbacks/zoho/${callbackToken(key, exportId, page)}`;
}

/** The key from the secret's text: base64 or base64url of at least 32 bytes, or the raw text itself. */
export function keyFromSecret(text: string): Buffer {
  const t = text.trim();
  const decoded = /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  const key = decoded && decoded.length >= MIN_KEY_BYTES ? decoded : Buffer.from(t, 'utf8');
  return checkedKey(key);
}

/** A key loaded once and kept (a failed load is tried again on the next call). */
export function cachedKey(load: () => Promise<Buffer>): () => Promise<Buffer> {
  let p: Promise<Buffer> | undefined;
  return () => {
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
}

/** What callbacks need: each page's URL (for creating jobs) and the token check (for the route). */
export interface CallbackWiring {
  url: (exportId: string, page: number) => Promise<string>;
  verify: (token: string) => Promise<CallbackTarget | undefined>;
}

export function callbackWiring(base: string, key: () => Promise<Buffer>): CallbackWiring {
  return {
    url: async (exportId, page) => callbackUrls(base, await key())(exportId, page),
    verify: async (token) => verifyCallbackToken(await key(), token),
  };
}
