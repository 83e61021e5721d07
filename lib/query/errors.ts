import { CodedError, type ErrorKind } from '../errors.js';

/**
 * A query that could not run or did not succeed. `invalid`: the SQL (syntax, an unknown table or
 * column); `terminal`: cancelled or timed out; `unavailable`: the engine or its storage could not be asked.
 */
export class QueryError extends CodedError {
  override name = 'QueryError';
  constructor(code: string, kind: ErrorKind, message: string, cause?: unknown) {
    super({ code, kind, message, cause });
  }
}
