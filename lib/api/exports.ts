/** `POST /exports`, `GET /exports`, `GET /exports/{export_id}`: start an export of a Zoho module, and read exports. */
import pLimit from 'p-limit';
import { z } from 'zod';
import type { ExportDeps } from '../exports/deps.js';
import { ExportRequestError } from '../exports/errors.js';
import { IDEMPOTENCY_KEY_PATTERN } from '../exports/idempotency.js';
import { EXPORT_ID_PATTERN, EXPORT_STATUSES, exportQuery, MODULE_PATTERN } from '../exports/model.js';
import { readExport } from '../exports/read.js';
import { reconvertExport } from '../exports/reconvert.js';
import { startExport, ZOHO_CREATE_UNCERTAIN } from '../exports/start.js';
import { ZohoError } from '../zoho/errors.js';
import {
  ApiError,
  type Event,
  header,
  json,
  pageQuery,
  parseJsonBody,
  parseListQuery,
  pathParamMatching,
  type Result,
} from './http.js';
import { issueCode } from './jobs.js';

/**
 * The most page-job reads one `GET /exports` answer makes (one per page of each export listed): a list
 * of long exports answers fewer exports, with a `next` to go on, instead of thousands of reads.
 */
export const MAX_LIST_PAGE_READS = 1000;
/** Exports of a list read at once (each reads its pages 10 at a time: lib/exports/deps.ts). */
const LIST_EXPORT_CONCURRENCY = 4;

/** Largest accepted body: 200 field names and 25 criteria fit in a few KiB. */
export const MAX_EXPORT_BODY_BYTES = 32 * 1024;

const listQuery = z.strictObject({
  module: z
    .string()
    .regex(MODULE_PATTERN, 'module must be a Zoho module API name (letters, digits, _)')
    .optional(),
  status: z
    .enum(EXPORT_STATUSES, { message: `status must be one of ${EXPORT_STATUSES.join(', ')}` })
    .optional(),
  ...pageQuery,
});

/** What to change when Zoho refuses the query, by Zoho's code. */
const ZOHO_HINTS: Record<string, string> = {
  INVALID_MODULE: 'check the module API name (Zoho CRM: Setup > Developer Hub > APIs and SDKs > API names)',
  MODULE_NOT_AVAILABLE: 'check the module API name and that the Zoho user can see the module',
  MODULE_NOT_SUPPORTED:
    "Zoho's Bulk Read API cannot export this module (Notes, Attachments and Emails are not supported)",
  INVALID_DATA: 'check the field API names and criteria values',
  FIELD_NOT_AVAILABLE: 'check the field API names (and that the Zoho user can see the fields)',
  FIELD_NOT_SUPPORTED: 'check the field API names',
  LIMIT_EXCEEDED: "the Zoho org's API limit is used up for now; try again later or raise the limit",
  OAUTH_SCOPE_MISMATCH:
    'the refresh token lacks a scope: grant ZohoCRM.bulk.read and ZohoCRM.modules.<module>.READ (or ZohoCRM.modules.ALL)',
  NO_PERMISSION: "the Zoho user whose refresh token the exporter holds may not read this module's records",
  AUTHORIZATION_FAILED:
    "the Zoho user whose refresh token the exporter holds may not read this module's records",
  CVID_NOT_SUPPORTED: 'check the custom view id (cvid) and that it belongs to this module',
};

/** Zoho's refusal or trouble, as the API's answer: 4xx with Zoho's code, or 503 with Retry-After. */
function zohoAnswer(e: ZohoError): ApiError {
  const retryAfter = String(Math.max(1, Math.ceil((e.retryAfterMs ?? 30_000) / 1000)));
  if (e.stage === 'oauth') {
    return new ApiError(
      503,
      e.code,
      `the exporter cannot get a Zoho access token right now (${e.message}); if this lasts, check the Zoho credentials and data centre`,
      { 'retry-after': retryAfter },
    );
  }
  if (e.kind !== 'terminal') {
    return new ApiError(503, 'ZOHO_UNAVAILABLE', `Zoho did not create the job (${e.code}): try again later`, {
      'retry-after': retryAfter,
    });
  }
  const status = e.httpStatus === 401 || e.httpStatus === 403 ? 403 : 400;
  const hint = ZOHO_HINTS[e.code];
  return new ApiError(status, e.code, `Zoho refused the export: ${e.message}${hint ? `; ${hint}` : ''}`);
}

export async function createExport(deps: ExportDeps, event: Event, signal?: AbortSignal): Promise<Result> {
  const key = idempotencyKeyOf(event);
  const query = parseJsonBody(event, exportQuery, {
    maxBytes: MAX_EXPORT_BODY_BYTES,
    example: '{"module": "Contacts", "fields": ["Last_Name", "Email"]}',
    issueCode: (i) => issueCode(i) ?? 'INVALID_BODY',
  });
  try {
    const { created, record } = await startExport(deps, {
      query,
      source: 'api',
      idempotencyKey: key,
      ...(signal ? { signal } : {}),
    });
    const id = record.export_id;
    // Recorded FAILED because Zoho never answered its create (no callbacks, a key): the same 504 now
    // and for every retry with the key; GET /exports/{id} shows the export.
    if (
      record.status === 'FAILED' &&
      record.error?.code === ZOHO_CREATE_UNCERTAIN &&
      !record.page_jobs.length
    )
      throw new ApiError(504, ZOHO_CREATE_UNCERTAIN, `${record.error.message} (export ${id})`);
    const exp = await readExport(deps, id);
    // 202: the export runs, but page 1 awaits Zoho's confirmation (`pending_page`).
    if (created) return json(record.page_jobs.length ? 201 : 202, exp, { location: `/exports/${id}` });
    return json(200, exp);
  } catch (e) {
    throw startRefusal(e);
  }
}

/** The request's `Idempotency-Key` header, if sent; one of another shape is 400 INVALID_IDEMPOTENCY_KEY. */
export function idempotencyKeyOf(event: Event): string | undefined {
  const key = header(event, 'idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key))
    throw new ApiError(
      400,
      'INVALID_IDEMPOTENCY_KEY',
      'Idempotency-Key must be 1 to 100 visible ASCII characters',
    );
  return key;
}

/** A failed export start as the API's answer: the exporter's or Zoho's refusal as a 4xx, else as is. */
export function startRefusal(e: unknown): unknown {
  if (e instanceof ExportRequestError) {
    return new ApiError(
      e.status,
      e.code,
      e.message,
      e.retryAfterSeconds ? { 'retry-after': String(e.retryAfterSeconds) } : {},
    );
  }
  if (e instanceof ZohoError) return zohoAnswer(e);
  return e;
}

function exportIdOf(event: Event): string {
  return pathParamMatching(
    event,
    'export_id',
    'INVALID_EXPORT_ID',
    EXPORT_ID_PATTERN,
    'an export id is "ex_" and 26 characters, as POST /exports returned it',
  );
}

/** `POST /exports/{id}/convert`: writes every page as Parquet (again); 202 and the export. */
export async function convertExport(deps: ExportDeps, event: Event): Promise<Result> {
  const id = exportIdOf(event);
  try {
    await reconvertExport(deps, id);
  } catch (e) {
    if (e instanceof ExportRequestError) throw new ApiError(e.status, e.code, e.message);
    throw e;
  }
  return json(202, await readExport(deps, id));
}

export async function getExport(deps: ExportDeps, event: Event): Promise<Result> {
  const id = exportIdOf(event);
  const exp = await readExport(deps, id);
  if (!exp) throw new ApiError(404, 'EXPORT_NOT_FOUND', `no export ${id}`);
  return json(200, exp);
}

export async function listExports(deps: ExportDeps, event: Event): Promise<Result> {
  const q = parseListQuery(event, listQuery, 'module, status, limit and next', 50);
  // A cursor of the wrong shape is an InvalidCursorError: 400 INVALID_CURSOR (lib/api/handler.ts).
  const page = await deps.exports.list({
    ...q.page,
    ...(q.module ? { module: q.module } : {}),
    ...(q.status ? { status: q.status } : {}),
  });
  // Every page of every export listed is one job read: within MAX_LIST_PAGE_READS, the answer stops
  // after the last export that fits (always at least one) and its `next` resumes after it.
  let reads = 0;
  const listed = page.exports.filter((e, i) => {
    reads += e.page_jobs.length;
    return i === 0 || reads <= MAX_LIST_PAGE_READS;
  });
  const cut = listed.length < page.exports.length;
  const last = listed.at(-1);
  const next = cut && last ? deps.exports.listCursorAfter(last, q) : page.next;
  const limit = pLimit(LIST_EXPORT_CONCURRENCY);
  const exports = await Promise.all(listed.map((e) => limit(() => readExport(deps, e.export_id))));
  return json(200, { exports: exports.filter(Boolean), next });
}
