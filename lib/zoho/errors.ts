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
    super(init);
    this.stage = init.stage;
  }
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
