import { z } from 'zod';

/** Zoho record and job IDs: strings of digits (19 digits exceed 2^53, so never numbers). */
export const digitsId = z.string().regex(/^[0-9]{1,30}$/, 'must be a string of digits');

/**
 * Upper-cases and turns `_` into a space: `in_progress` → `IN PROGRESS`; `FAILED` → `FAILURE`. Zoho
 * documents ADDED, QUEUED, IN PROGRESS, COMPLETED and FAILURE; anything else is kept verbatim and
 * treated as pending.
 */
export function normaliseState(raw: string): string {
  const s = raw
    .trim()
    .toUpperCase()
    .replace(/[_\s]+/g, ' ');
  if (s === 'FAILED') return 'FAILURE';
  return s;
}

const errorEnvelope = z.looseObject({
  code: z.string(),
  message: z.string().optional(),
  status: z.string().optional(),
  details: z.unknown().optional(),
});
export type ZohoErrorEnvelope = z.infer<typeof errorEnvelope>;

/** Error bodies come top level or wrapped in `data[0]`. */
export function parseErrorEnvelope(body: unknown): ZohoErrorEnvelope | undefined {
  const top = errorEnvelope.safeParse(body);
  if (top.success) return top.data;
  const wrapped = z.looseObject({ data: z.array(z.unknown()).min(1) }).safeParse(body);
  if (wrapped.success) {
    const inner = errorEnvelope.safeParse(wrapped.data.data[0]);
    if (inner.success && (inner.data.status === 'error' || inner.data.status === undefined))
      return inner.data;
  }
  return undefined;
}

/** `{"error":"Access Denied"}` and friends: the shape of token-endpoint and throttle errors. */
export const oauthErrorBody = z.looseObject({
  error: z.string(),
  error_description: z.string().optional(),
});

const moduleRef = z.union([z.string(), z.looseObject({ api_name: z.string(), id: digitsId.optional() })]);

export const jobQuery = z.looseObject({
  module: moduleRef.optional(),
  fields: z.array(z.string()).optional(),
  criteria: z.unknown().optional(),
  cvid: z.union([digitsId, z.null()]).optional(),
  page: z.number().int().positive().optional(),
  page_token: z.string().optional(),
  file_type: z.string().optional(),
});
export type JobQuery = z.infer<typeof jobQuery>;

export const jobResult = z.looseObject({
  page: z.number().int().nonnegative().optional(),
  count: z.number().int().nonnegative().optional(),
  per_page: z.number().int().nonnegative().optional(),
  download_url: z.string().optional(),
  more_records: z.boolean().optional(),
  next_page_token: z.string().nullable().optional(),
  error_message: z
    .union([
      z.looseObject({
        code: z.string().optional(),
        message: z.string().optional(),
        status: z.string().optional(),
        details: z.unknown().optional(),
      }),
      z.string(),
    ])
    .optional(),
});

const rawJobDetail = z.looseObject({
  id: digitsId,
  operation: z.string().optional(),
  state: z.string().min(1),
  query: jobQuery.optional(),
  created_by: z.looseObject({ id: digitsId.optional(), name: z.string().optional() }).nullable().optional(),
  created_time: z.string().optional(),
  file_type: z.string().optional(),
  result: jobResult.nullable().optional(),
});

export const jobDetailsResponse = z.looseObject({ data: z.array(rawJobDetail).min(1) });

export const createJobResponse = z.looseObject({
  data: z
    .array(
      z.looseObject({
        status: z.string().optional(),
        code: z.string().optional(),
        message: z.string().optional(),
        details: z.looseObject({ id: digitsId, state: z.string().optional() }),
      }),
    )
    .min(1),
});

export const tokenResponse = z.looseObject({
  access_token: z.string().min(1),
  api_domain: z.string().url().optional(),
  token_type: z.string().optional(),
  expires_in: z.number().positive().optional(),
  expires_in_sec: z.number().positive().optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof tokenResponse>;

/** A job as the rest of the product sees it. */
export interface ZohoJob {
  id: string;
  operation: string | undefined;
  /** Normalised state (see normaliseState). */
  state: string;
  /** The state exactly as Zoho sent it. */
  rawState: string;
  completed: boolean;
  failed: boolean;
  module: string | undefined;
  moduleId: string | undefined;
  query: JobQuery | undefined;
  createdBy: { id?: string | undefined; name?: string | undefined } | undefined;
  createdTime: string | undefined;
  fileType: string | undefined;
  result:
    | {
        page: number | undefined;
        count: number | undefined;
        perPage: number | undefined;
        downloadUrl: string | undefined;
        moreRecords: boolean;
        nextPageToken: string | undefined;
      }
    | undefined;
  error: { code: string; message: string } | undefined;
}

export function toZohoJob(raw: z.infer<typeof rawJobDetail>): ZohoJob {
  const state = normaliseState(raw.state);
  const mod = raw.query?.module;
  const result = raw.result ?? undefined;
  const em = result?.error_message;
  const error =
    state === 'FAILURE'
      ? {
          code: (typeof em === 'object' ? em.code : undefined) ?? 'FAILURE',
          message: (typeof em === 'object' ? em.message : em) ?? 'Zoho reported the bulk read job as FAILURE',
        }
      : undefined;
  return {
    id: raw.id,
    operation: raw.operation,
    state,
    rawState: raw.state,
    completed: state === 'COMPLETED',
    failed: state === 'FAILURE',
    module: typeof mod === 'string' ? mod : mod?.api_name,
    moduleId: typeof mod === 'object' ? mod.id : undefined,
    query: raw.query,
    createdBy: raw.created_by ?? undefined,
    createdTime: raw.created_time,
    fileType: raw.file_type,
    result: result
      ? {
          page: result.page,
          count: result.count,
          perPage: result.per_page,
          downloadUrl: result.download_url,
          moreRecords: result.more_records === true,
          nextPageToken: result.next_page_token ?? undefined,
        }
      : undefined,
    error,
  };
}
