/** The export side's refusals of a request, on the product's one error base (lib/errors.ts). */
import { CodedError, type ErrorKind } from '../errors.js';

/** The kind each HTTP status of a refusal stands for. */
function kindOfStatus(status: number): ErrorKind {
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 503) return 'unavailable';
  // 504 ZOHO_CREATE_UNCERTAIN: what was asked cannot be completed as asked (retrying could duplicate it).
  if (status >= 500) return 'terminal';
  return 'invalid';
}

/**
 * A request the exporter refuses (the API turns it into a 4xx or 503). Its kind follows its status
 * (400 invalid, 404 not_found, 409 conflict, 503 unavailable, other 5xx terminal); `status` stays readable as before.
 */
export class ExportRequestError extends CodedError {
  override name = 'ExportRequestError';
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super({ code, kind: kindOfStatus(status), message, httpStatus: status });
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
