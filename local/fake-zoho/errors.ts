/** The error catalogue of the Bulk Read API (create, status, download, token) and the standard error envelope. */

/** HTTP status and message of each error code the fake answers with. */
export const ERROR_CATALOGUE: Record<string, { status: number; message: string }> = {
  INVALID_TOKEN: { status: 401, message: 'invalid oauth token' },
  AUTHENTICATION_FAILURE: { status: 401, message: 'Authentication failed' },
  OAUTH_SCOPE_MISMATCH: { status: 401, message: 'Unauthorized' },
  NO_PERMISSION: { status: 403, message: 'permission denied' },
  INVALID_URL_PATTERN: { status: 404, message: 'Please check if the URL trying to access is a correct one' },
  INVALID_REQUEST_METHOD: { status: 400, message: 'The http request method type is not a valid one' },
  AUTHORIZATION_FAILED: { status: 400, message: 'User does not have sufficient privilege to read.' },
  RESOURCE_NOT_FOUND: { status: 404, message: "The requested resource doesn't exist." },
  MEDIA_TYPE_NOT_SUPPORTED: { status: 415, message: 'Media type is not supported.' },
  REQUEST_BODY_NOT_READABLE: { status: 400, message: 'Unable to parse the request body.' },
  REQUEST_BODY_IS_EMPTY: { status: 400, message: 'Request body is empty.' },
  REQUEST_BODY_NOT_SUPPORTED: { status: 400, message: 'request body contains invalid format' },
  REQUIRED_PARAM_MISSING: { status: 400, message: 'One of the expected parameter is missing' },
  INVALID_MODULE: { status: 400, message: 'the module name given seems to be invalid' },
  MODULE_NOT_AVAILABLE: { status: 400, message: "Requested module '%s' is not available." },
  MODULE_NOT_SUPPORTED: {
    status: 400,
    message: "Invalid module for the query. Module '%s' is not supported.",
  },
  /** Zoho's generic validation error (a `fields` entry the module does not have, a bad parameter). */
  INVALID_DATA: { status: 400, message: 'invalid data' },
  /**
   * Daily API credits or the bulk limit used up. The code is in the v5+ SDK enum (LIMIT_EXCEEDED /
   * LIMIT_REACHED); the message text is not documented, this one is the fake's.
   */
  LIMIT_EXCEEDED: {
    status: 400,
    message: 'The daily limit of API calls or bulk read jobs has been exceeded.',
  },
  QUERY_NOT_SUPPORTED: {
    status: 400,
    message: "Invalid query for bulk read job. Query '%s' is not supported.",
  },
  INVALID_CALLBACK_URL: { status: 400, message: "Invalid URL '%s' for callback." },
  INVALID_CALLBACK_METHOD: { status: 400, message: 'Invalid request method %s for callback.' },
  INVALID_CRITERIA: { status: 400, message: 'Invalid criteria %s for the query.' },
  AMBIGUOUS_CRITERIA: {
    status: 400,
    message:
      'Ambiguous criteria %s. Criteria can have either {group, group_operator} or {api_name, comparator, value}.',
  },
  AMBIGUOUS_GROUP_IN_CRITERIA: {
    status: 400,
    message:
      'Ambiguous group in criteria %s. Group should be used only when there are more than one criteria',
  },
  CRITERIA_LIMIT_EXCEEDED: { status: 400, message: 'Number of criteria exceeded the maximum limit of %s' },
  GROUP_OPERATOR_NOT_SUPPORTED: {
    status: 400,
    message:
      "Criteria %s doesn't support this logical group operator '%s'. Supported operators are 'and', 'or'.",
  },
  FIELD_IN_CRITERIA_NOT_SUPPORTED: {
    status: 400,
    message: "Field api name '%s' for criteria %s is not supported.",
  },
  FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED: {
    status: 400,
    message: "Field api name '%s' doesn't support this comparator '%s' for criteria %s.",
  },
  COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE: {
    status: 400,
    message: "Comparator '%s' is not supported with value '%s' for criteria %s.",
  },
  FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE: {
    status: 400,
    message: "Field '%s' is not supported with value '%s' for criteria %s.",
  },
  FIELD_NOT_SUPPORTED: {
    status: 400,
    message:
      "Invalid field for the module provided in fields. Field api name '%s' is not supported for this module '%s'.",
  },
  CVID_NOT_SUPPORTED: { status: 400, message: 'invalid custom view' },
  NOT_SUPPORTED_FEATURE: { status: 400, message: 'Feature is not supported' },
  PAGE_NOT_SUPPORTED: {
    status: 400,
    message: 'Invalid page number for query. Page %s is not supported for the query.',
  },
  PAGE_RANGE_EXCEEDED: {
    status: 400,
    message:
      'Invalid page number for query. Page %s is not supported for the query. Page range is from 1 to 500.',
  },
  INVALID_REQUEST: { status: 400, message: 'invalid request' },
  TOO_MANY_REQUESTS: { status: 429, message: 'Many requests fired in concurrent than the allowed limit' },
  INTERNAL_ERROR: { status: 500, message: 'Internal Server Error' },
  INTERNAL_SERVER_ERROR: { status: 500, message: 'Internal server error occurred.' },
};

export type ErrorEnvelope = {
  code: string;
  details: Record<string, unknown>;
  message: string;
  status: 'error';
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

export function fmt(template: string, ...args: unknown[]): string {
  let i = 0;
  return template.replace(/%[sd]/g, () => String(args[i++] ?? ''));
}

export function errorEnvelope(
  code: string,
  details: Record<string, unknown> = {},
  ...args: unknown[]
): ErrorEnvelope {
  const entry = ERROR_CATALOGUE[code];
  return { code, details, message: fmt(entry?.message ?? code, ...args), status: 'error' };
}

export function zohoError(
  code: string,
  details: Record<string, unknown> = {},
  ...args: unknown[]
): HttpError {
  return new HttpError(ERROR_CATALOGUE[code]?.status ?? 400, errorEnvelope(code, details, ...args));
}
