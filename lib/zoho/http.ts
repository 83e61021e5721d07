import { classify, safeZohoCode, toZohoError, ZohoError } from './errors.js';
import { oauthErrorBody, parseErrorEnvelope } from './schemas.js';

export type FetchFn = typeof globalThis.fetch;

/** Combines the caller's signal with a timeout. */
export function withTimeout(ms: number, signal?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/** Reads at most `limit` bytes of a body as text (error bodies are small; never trust their size). */
export async function readBoundedText(res: Response, limit = 256 * 1024): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
      if (n > limit) {
        await reader.cancel();
        break;
      }
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/**
 * The most a Retry-After header is taken at (a day: Zoho's results expire then anyway). The retry
 * policy caps it far lower (lib/jobs/retry.ts); this only keeps an absurd header from becoming an
 * absurd number anywhere.
 */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/** Zoho's Retry-After (seconds, or an HTTP date), in ms between 0 and MAX_RETRY_AFTER_MS. */
export const retryAfterMs = (res: HasHeaders, now: number = Date.now()): number | undefined => {
  const h = res.headers.get('retry-after')?.trim();
  if (!h) return undefined;
  const s = Number(h);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(h) - now;
  return Number.isNaN(ms) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
};

interface HasHeaders {
  headers: { get(name: string): string | null };
}

/**
 * Turns a Zoho answer into an error, if it is one: non-2xx statuses, either error envelope (top level
 * or in `data[0]`), and the `{"error":"Access Denied"}` throttle that can come with HTTP 200 or 400.
 * Returns undefined for a body that is not an error. The one parser of Zoho's error bodies: the
 * download's ZIP reader uses it too, with `inPlaceOfData` (a JSON body where a ZIP belongs is an
 * error whatever its envelope's `status` says).
 */
export function errorFromResponse(
  status: number,
  body: unknown,
  what: string,
  res?: HasHeaders,
  opts: { inPlaceOfData?: boolean } = {},
): ZohoError | undefined {
  const oauth = oauthErrorBody.safeParse(body);
  if (oauth.success) {
    const denied = oauth.data.error.trim().toLowerCase() === 'access denied';
    const code = denied ? 'ACCESS_DENIED' : safeZohoCode(oauth.data.error, 'OAUTH_ERROR');
    // The message is redacted by ZohoError: Zoho's description can echo what it was sent.
    return new ZohoError({
      code,
      message: `${what}: Zoho answered "${oauth.data.error}"${oauth.data.error_description ? `: ${oauth.data.error_description}` : ''}`,
      kind: denied ? 'retryable' : classify(code, status),
      httpStatus: status,
    });
  }
  const env = parseErrorEnvelope(body);
  const isErrorEnvelope = env && (status >= 400 || env.status === 'error' || opts.inPlaceOfData);
  if (isErrorEnvelope) {
    const code = safeZohoCode(env.code, 'ZOHO_ERROR');
    return new ZohoError({
      code,
      message: `${what}: ${code}${env.message ? ` (${env.message})` : ''}`,
      kind: classify(code, status),
      httpStatus: status,
      retryAfterMs: res ? retryAfterMs(res) : undefined,
    });
  }
  if (status >= 400) {
    const code = status === 429 ? 'TOO_MANY_REQUESTS' : status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${status}`;
    return new ZohoError({
      code,
      message: `${what}: HTTP ${status}`,
      kind: classify(code, status),
      httpStatus: status,
      retryAfterMs: res ? retryAfterMs(res) : undefined,
    });
  }
  return undefined;
}

/** Sends a request and returns its JSON body; every failure becomes a ZohoError. */
export async function requestJson(
  fetchFn: FetchFn,
  url: string,
  init: RequestInit,
  what: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ status: number; body: unknown }> {
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(url, { ...init, signal: withTimeout(timeoutMs, signal), redirect: 'manual' });
    text = await readBoundedText(res);
  } catch (e) {
    throw toZohoError(e, what);
  }
  let body: unknown;
  if (text.trim() === '') body = undefined;
  else {
    try {
      body = JSON.parse(text);
    } catch {
      const err = errorFromResponse(res.status, undefined, what, res);
      if (err) throw err;
      throw new ZohoError({
        code: 'INVALID_RESPONSE',
        message: `${what}: the response is not JSON (HTTP ${res.status})`,
        kind: 'retryable',
        httpStatus: res.status,
      });
    }
  }
  const err = errorFromResponse(res.status, body, what, res);
  if (err) throw err;
  if (res.status >= 300) {
    throw new ZohoError({
      code: `HTTP_${res.status}`,
      message: `${what}: unexpected HTTP ${res.status}`,
      kind: 'terminal',
      httpStatus: res.status,
    });
  }
  return { status: res.status, body };
}
