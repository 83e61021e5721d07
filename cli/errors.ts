/** Exit codes and the errors that carry them. Nothing here prints a stack trace. */

export const EXIT = {
  /** Done: the command did what it was asked (an export or job it watched ended well). */
  OK: 0,
  /** The export or job the command is about is FAILED (its error code and message are printed). */
  FAILED: 1,
  /** Usage: a bad argument or flag, or a request this export cannot satisfy (not COMPLETED yet, no Parquet). */
  USAGE: 2,
  /** The API refused (any 4xx/5xx), or the API, S3 or AWS could not be reached or asked. */
  API: 3,
  /** `download`: a file did not match the manifest (size or CRC-32); nothing was left under its name. */
  VERIFY: 4,
  /** Interrupted (Ctrl-C) while watching: the export itself goes on. */
  INTERRUPTED: 130,
} as const;

export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    readonly exitCode: number,
    message: string,
    /** A stable code for `--json` error output. */
    readonly code: string = 'ERROR',
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string, code = 'USAGE') {
    super(EXIT.USAGE, message, code);
  }
}

/** The API answered with an error (its envelope `{"error":{"code","message"}}`, or API Gateway's `{"message"}`). */
export class ApiError extends CliError {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(EXIT.API, message, code, { status });
  }
}

/** The API could not be reached (connection refused, DNS, timeout, TLS) or AWS credentials are missing. */
export class NetworkError extends CliError {
  override readonly name = 'NetworkError';
  constructor(message: string, code = 'NETWORK_ERROR') {
    super(EXIT.API, message, code);
  }
}

export class VerifyError extends CliError {
  override readonly name = 'VerifyError';
  constructor(message: string, code: string) {
    super(EXIT.VERIFY, message, code);
  }
}

/** The export or job is FAILED. */
export class FailedError extends CliError {
  override readonly name = 'FailedError';
  constructor(message: string, code: string) {
    super(EXIT.FAILED, message, code);
  }
}

/** A Node system error's code (ECONNREFUSED, ENOTFOUND, ...), looking through `cause`. */
export function systemCode(e: unknown): string | undefined {
  for (let x: unknown = e, i = 0; x && i < 5; i++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    x = (x as { cause?: unknown }).cause;
  }
  return undefined;
}

const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

export function describeNetworkError(e: unknown): string {
  const code = systemCode(e);
  if (code) return NETWORK_HINTS[code] ? `${NETWORK_HINTS[code]}, ${code}` : code;
  return (e as Error)?.message ?? String(e);
}
