/**
 * One error type for everything that goes wrong while talking to Zoho.
 *
 * `kind` drives the retry policy:
 * - `retryable`: throttles (429, "Access Denied"), 5xx / INTERNAL_ERROR, network errors, timeouts;
 * - `auth`: the access token was refused (INVALID_TOKEN, AUTHENTICATION_FAILURE): refresh once, retry once;
 * - `terminal`: everything else (RESOURCE_NOT_FOUND, NO_PERMISSION, OAUTH_SCOPE_MISMATCH, ...).
 */
import { CodedError, type ErrorKind } from '../errors.js';

export type ZohoErrorKind = Extract<ErrorKind, 'retryable' | 'auth' | 'terminal'>;

export interface ZohoErrorInit {
  code: string;
  message: string;
  kind: ZohoErrorKind;
  /** The HTTP status Zoho answered with (not an answer of this product's API). */
  httpStatus?: number | undefined;
  /** Minimum wait before a retry makes sense (download lock, token throttle), in ms. */
  retryAfterMs?: number | undefined;
  /** `oauth`: the error came from getting an access token, not from the call itself. */
  stage?: 'oauth' | undefined;
  cause?: unknown;
}

/**
 * A coded error whose kind is one of the three Zoho's answers need. `httpStatus` is the status Zoho
 * answered, so the API never answers with it as is (lib/api turns a ZohoError into its own answer).
 */
export class ZohoError extends CodedError {
  override readonly name = 'ZohoError';
  declare readonly kind: ZohoErrorKind;
  readonly stage: 'oauth' | undefined;

  constructor(init: ZohoErrorInit) {
    // Every message passes through redact(): Zoho's text can echo what it was sent (INVALID_CALLBACK_URL
    // echoes the callback URL and its token), and this message reaches API answers, records, logs and events.
    super({ ...init, message: redact(init.message) });
    this.stage = init.stage;
  }
}

const REDACTED = '[redacted]';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Removes from a text everything that can be a credential or a capability: URLs beyond their origin
 * (a callback URL's path holds its token), `Zoho-oauthtoken`/`Bearer` values, `refresh_token=`,
 * `client_secret=` and similar parameters (form or JSON), Zoho token shapes (`1000.<hex>.<hex>`),
 * callback tokens' MACs, and any long opaque run of token characters.
 */
export function redact(text: string): string {
  return (
    text
      // URLs: keep scheme and host, drop path, query and fragment (and any user:password@).
      .replace(/\b(https?):\/\/(?:[^\s/?#@'"<>]*@)?([^\s/?#'"<>]*)[^\s'"<>]*/gi, (all, scheme, host) => {
        const origin = `${scheme}://${host}`;
        return all.length > origin.length ? `${origin}/${REDACTED}` : origin;
      })
      // A callback path without its origin.
      .replace(/\/callbacks\/zoho\/[^\s'"<>]+/gi, `/callbacks/zoho/${REDACTED}`)
      .replace(/\b(Zoho-oauthtoken|Bearer)(\s+|%20|\+)[^\s'",;]+/gi, `$1 ${REDACTED}`)
      .replace(
        /\b(refresh_token|client_secret|access_token|client_id|code|token)(=|%3D)[^&\s'"]+/gi,
        `$1=${REDACTED}`,
      )
      .replace(/"(refresh_token|client_secret|access_token|client_id)"\s*:\s*"[^"]*"/gi, `"$1":"${REDACTED}"`)
      // Zoho's access and refresh tokens: 1000.<hex>.<hex>.
      .replace(/\b\d{4}\.[0-9a-f]{16,}\.[0-9a-f]{16,}\b/gi, REDACTED)
      // A callback token: the export and page stay (no secret); nonce, expiry, key id and MAC go.
      .replace(/\b(ex_[0-9A-Z]{26}\.\d{1,6})((?:\.[A-Za-z0-9_-]+)+)/g, `$1.${REDACTED}`)
      // Anything else that looks like a key or token: 32+ characters of base64url or hex in one run.
      // A UUID (a request id) stays, and so does a word_joined_name with few digits (a long custom
      // field's API name in INVALID_DATA or FIELD_NOT_SUPPORTED is what the operator needs to see).
      .replace(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])/g, (run) =>
        UUID.test(run) || (run.includes('_') && (run.match(/[0-9]/g)?.length ?? 0) < 4) ? run : REDACTED,
      )
  );
}

const AUTH_CODES = new Set(['INVALID_TOKEN', 'INVALID_OAUTHTOKEN', 'AUTHENTICATION_FAILURE']);
const RETRYABLE_CODES = new Set([
  'TOO_MANY_REQUESTS',
  'INTERNAL_ERROR',
  'INTERNAL_SERVER_ERROR',
  'ACCESS_DENIED',
  'NETWORK_ERROR',
  'TIMEOUT',
  'TOKEN_THROTTLED',
  'TOKEN_LEASE_TIMEOUT',
]);

/** Classifies a Zoho error code (and the HTTP status it came with). */
export function classify(code: string, httpStatus?: number): ZohoErrorKind {
  if (AUTH_CODES.has(code)) return 'auth';
  if (RETRYABLE_CODES.has(code)) return 'retryable';
  if (httpStatus !== undefined && (httpStatus === 429 || httpStatus >= 500)) return 'retryable';
  return 'terminal';
}

/** Turns any thrown value into a ZohoError: network failures and timeouts are retryable. */
export function toZohoError(e: unknown, what: string): ZohoError {
  if (e instanceof ZohoError) return e;
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (err?.name === 'TimeoutError') {
    return new ZohoError({ code: 'TIMEOUT', kind: 'retryable', message: `${what} timed out`, cause: e });
  }
  if (err?.name === 'AbortError') {
    return new ZohoError({ code: 'ABORTED', kind: 'retryable', message: `${what} was aborted`, cause: e });
  }
  const detail = err?.cause?.code ?? err?.code ?? err?.message ?? String(e);
  return new ZohoError({
    code: 'NETWORK_ERROR',
    kind: 'retryable',
    message: `${what} failed: ${detail}`,
    cause: e,
  });
}

/**
 * Zoho's error code as this product's code: Zoho's text (an OAuth `error` can be any string) only when
 * it is a plain identifier, else `fallback`, so no echoed value can ride in the code either.
 */
export function safeZohoCode(code: string, fallback: string): string {
  return /^[A-Za-z][A-Za-z0-9_ ]{0,63}$/.test(code) && redact(code) === code ? code : fallback;
}
