/**
 * The product's one error policy. Every error the code raises on purpose is a `CodedError`: a
 * stable `code` (Zoho's own where it has one), a `kind` that says what to do about it, and the HTTP
 * status an API answer takes, where it has one. Anything else that reaches a boundary is a bug.
 *
 * Kinds:
 * - `invalid`: the caller's input is wrong (4xx; never retried);
 * - `not_found`: what was named does not exist (404);
 * - `conflict`: the state does not allow it now (409; the caller may retry after a change);
 * - `retryable`: a transient failure (throttle, 5xx, network, timeout): retry with backoff;
 * - `unavailable`: a dependency is throttled or down; an API answers 503 with `Retry-After`;
 * - `auth`: a credential was refused (Zoho's access token: refresh once, retry once);
 * - `terminal`: the work cannot succeed as asked (recorded, never retried);
 * - `config`: the deployment is misconfigured (fails the cold start).
 */
export type ErrorKind =
  | 'invalid'
  | 'not_found'
  | 'conflict'
  | 'retryable'
  | 'unavailable'
  | 'auth'
  | 'terminal'
  | 'config';

export interface CodedErrorInit {
  code: string;
  kind: ErrorKind;
  message: string;
  /** The status an API answer takes for this error, where it has one. */
  httpStatus?: number | undefined;
  /** The least wait before a retry makes sense, in ms (a throttle's window, a lock's end). */
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

export class CodedError extends Error {
  override name = 'CodedError';
  readonly code: string;
  readonly kind: ErrorKind;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: CodedErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.kind = init.kind;
    this.httpStatus = init.httpStatus;
    this.retryAfterMs = init.retryAfterMs;
  }
}

export const isCodedError = (e: unknown): e is CodedError => e instanceof CodedError;

/** The code of any error: a coded error's own, else the error's name (for logs and job records). */
export function errorCode(e: unknown): string {
  if (e instanceof CodedError) return e.code;
  if (e instanceof Error) return e.name || 'Error';
  return 'UNKNOWN';
}

/** AWS error names that mean "throttled or busy right now", not "wrong". */
const AWS_TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'SlowDown',
  'ServiceUnavailable',
]);
/** Node's socket error codes for a dependency that cannot be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * Whether an error says a dependency is throttled, busy or unreachable (worth a retry later), as
 * opposed to a bug: a coded error of kind `retryable` or `unavailable`, an AWS SDK throttle or 503
 * (or any error the SDK marks `$retryable`), a socket error, a timeout.
 */
export function isTransient(e: unknown): boolean {
  if (e instanceof CodedError) return e.kind === 'retryable' || e.kind === 'unavailable';
  if (!(e instanceof Error)) return false;
  const aws = e as Error & {
    code?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  if (AWS_TRANSIENT_NAMES.has(e.name) || e.name === 'TimeoutError') return true;
  if (aws.$retryable !== undefined && aws.$retryable !== null) return true;
  if (aws.$metadata?.httpStatusCode === 503) return true;
  return typeof aws.code === 'string' && NETWORK_CODES.has(aws.code);
}
