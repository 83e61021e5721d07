import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { ZohoField } from '../analytics/fields.js';
import { parseFieldsResponse } from '../analytics/fields-response.js';
import { MODULE_PATTERN } from '../contract.js';
import { type ApiVersion, moduleIsString, usesPageToken } from './data-centers.js';
import { type DeletedPage, deletedRecordsResponse, toDeletedRecord } from './deleted.js';
import { toZohoError, ZohoError } from './errors.js';
import { errorFromResponse, type FetchFn, requestJson } from './http.js';
import { getStream, readBoundedStream, type StreamResponse } from './http-stream.js';
import { MODULE_STATUSES, modulesResponse, toZohoModule, type ZohoModule } from './modules.js';
import {
  createJobResponse,
  type JobQuery,
  jobDetailsResponse,
  normaliseState,
  toZohoJob,
  type ZohoJob,
} from './schemas.js';
import { type UnzipOptions, unzipSingleEntry, type ZipEntryInfo } from './unzip.js';

/** What the client needs from the token broker. */
export interface AccessToken {
  accessToken: string;
  apiDomain: string;
  expiresAt: number;
}
export interface TokenProvider {
  getToken(signal?: AbortSignal): Promise<AccessToken>;
  /** Drops `accessToken` from every cache if it is still the current one. */
  invalidate(accessToken: string): Promise<void>;
}

export interface ZohoClientOptions {
  tokens: TokenProvider;
  /** Version used to create jobs and, by default, to read their status (default v8). */
  apiVersion?: ApiVersion;
  /** Overrides the token response's `api_domain` (for example a proxy). */
  apiDomain?: string | undefined;
  /** Timeout of one API call (status, create), ms. Default 30 s. */
  requestTimeoutMs?: number;
  /** A download fails when no byte arrives for this long, ms. Default 60 s. */
  downloadIdleTimeoutMs?: number;
  fetch?: FetchFn;
}

export interface CreateJobQuery {
  module?: string;
  fields?: string[];
  criteria?: unknown;
  cvid?: string;
  page?: number;
  pageToken?: string;
}
export interface CreateJobOptions {
  callback?: { url: string };
  fileType?: 'csv' | 'ics';
  version?: ApiVersion;
  signal?: AbortSignal;
}

export interface DownloadResult {
  /** The CSV bytes, unzipped on the fly; the stream fails if the ZIP does not verify. */
  stream: Readable;
  /** Resolves with the verified entry once `stream` has been read to its end. */
  verified: Promise<ZipEntryInfo>;
}

export interface DownloadOptions extends Pick<UnzipOptions, 'segmentSize' | 'onSegment'> {
  signal?: AbortSignal;
}

export interface ZohoClient {
  readonly apiVersion: ApiVersion;
  getJob(jobId: string, opts?: { version?: ApiVersion; signal?: AbortSignal }): Promise<ZohoJob>;
  createJob(query: CreateJobQuery, opts?: CreateJobOptions): Promise<{ id: string; state: string }>;
  /**
   * A module's field metadata (`GET /crm/{version}/settings/fields?module=...`, scope
   * ZohoCRM.settings.fields.READ): what types its CSV columns have.
   */
  getFields(module: string, opts?: { version?: ApiVersion; signal?: AbortSignal }): Promise<ZohoField[]>;
  /**
   * Every module of the org, whatever its status (`GET /crm/{version}/settings/modules`, scope
   * ZohoCRM.settings.modules.READ): what module discovery classifies (lib/modules/discovery.ts).
   */
  listModules(opts?: { version?: ApiVersion; signal?: AbortSignal }): Promise<ZohoModule[]>;
  downloadResult(downloadUrl: string, opts?: DownloadOptions): Promise<DownloadResult>;
  /**
   * One page of a module's deleted records (`GET /crm/{version}/{module}/deleted?type=all`), deleted
   * after `since` (`If-Modified-Since`); 204 is an empty last page.
   */
  getDeletedRecords(
    module: string,
    opts: { since?: string; page: number; perPage?: number; version?: ApiVersion; signal?: AbortSignal },
  ): Promise<DeletedPage>;
}

const JOB_ID = /^[0-9]{1,19}$/;

export function assertJobId(jobId: string): void {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) {
    throw new ZohoError({
      code: 'INVALID_JOB_ID',
      message: 'a Zoho job id is a string of 1 to 19 digits',
      kind: 'terminal',
    });
  }
}

/** A response Zoho should not have sent: retryable (a proxy's page, a partial outage). */
function badShape(what: string, error?: z.ZodError): ZohoError {
  const issue = error?.issues[0];
  return new ZohoError({
    code: 'INVALID_RESPONSE',
    message: error
      ? `${what}: unexpected response shape: ${issue?.path.join('.')} ${issue?.message}`
      : `${what}: unexpected response shape`,
    kind: 'retryable',
  });
}

/** A module name goes into a URL path and query: only an API name is sent. */
function checkModule(module: string): void {
  if (!MODULE_PATTERN.test(module)) {
    throw new ZohoError({
      code: 'INVALID_MODULE',
      message: 'a module API name is letters, digits and _',
      kind: 'terminal',
    });
  }
}

/** The version a download URL was created with (`/crm/bulk/v7/read/...` → `v7`). */
export function versionOfDownloadUrl(downloadUrl: string): ApiVersion | undefined {
  const m = /\/crm\/bulk\/(v2\.1|v[2-8])\/read\//.exec(downloadUrl);
  return m?.[1] as ApiVersion | undefined;
}

/**
 * Resolves `download_url` against the API domain and refuses anything that would leave it: only a
 * relative path under `/crm/bulk/` or an absolute URL on the API domain's own origin is fetched.
 */
export function resolveDownloadUrl(downloadUrl: string, apiDomain: string): URL {
  const refuse = (why: string): never => {
    throw new ZohoError({
      code: 'UNSAFE_DOWNLOAD_URL',
      message: `download_url refused: ${why}`,
      kind: 'terminal',
    });
  };
  if (typeof downloadUrl !== 'string' || downloadUrl.length === 0 || downloadUrl.length > 2048) {
    refuse('empty or too long');
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we refuse
  if (/[\\\u0000-\u001f\u007f\s@]/.test(downloadUrl))
    refuse('it holds whitespace, control characters, "\\" or "@"');
  const base = new URL(apiDomain);
  let url: URL;
  if (downloadUrl.startsWith('/')) {
    if (downloadUrl.startsWith('//')) refuse('protocol-relative URLs are not allowed');
    url = new URL(downloadUrl, base.origin);
  } else if (/^https?:\/\//i.test(downloadUrl)) {
    url = new URL(downloadUrl);
  } else {
    return refuse('it is neither a path nor an http(s) URL');
  }
  if (url.origin !== base.origin) refuse(`host ${url.host} is not the configured API domain ${base.host}`);
  if (
    /(^|\/)\.\.?(\/|$)/.test(downloadUrl.replace(/^https?:\/\/[^/]+/i, '')) ||
    /%2e|%2f/i.test(downloadUrl)
  ) {
    refuse('dot segments and encoded separators are not allowed');
  }
  if (!url.pathname.startsWith('/crm/bulk/')) refuse('the path is not under /crm/bulk/');
  return url;
}

export function createZohoClient(options: ZohoClientOptions): ZohoClient {
  const apiVersion = options.apiVersion ?? 'v8';
  const fetchFn = options.fetch ?? globalThis.fetch;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const idleTimeoutMs = options.downloadIdleTimeoutMs ?? 60_000;
  const domainOf = (t: AccessToken): string => (options.apiDomain ?? t.apiDomain).replace(/\/+$/, '');

  /** Runs `call` with a token; on an auth error, invalidates that token, gets another, retries once. */
  async function withToken<T>(
    signal: AbortSignal | undefined,
    call: (t: AccessToken) => Promise<T>,
  ): Promise<T> {
    const first = await options.tokens.getToken(signal);
    try {
      return await call(first);
    } catch (e) {
      if (!(e instanceof ZohoError) || e.kind !== 'auth') throw e;
      await options.tokens.invalidate(first.accessToken);
      const second = await options.tokens.getToken(signal);
      return call(second);
    }
  }

  const headers = (t: AccessToken, json = false): Record<string, string> => ({
    Authorization: `Zoho-oauthtoken ${t.accessToken}`,
    Accept: 'application/json',
    ...(json ? { 'Content-Type': 'application/json' } : {}),
  });

  /** Every JSON request: the client's fetch and per-request timeout. */
  const send = (url: string, init: RequestInit, what: string, signal?: AbortSignal) =>
    requestJson(fetchFn, url, init, what, requestTimeoutMs, signal);
  const get = (
    t: AccessToken,
    url: string,
    what: string,
    signal?: AbortSignal,
    extra: Record<string, string> = {},
  ) => send(url, { method: 'GET', headers: { ...headers(t), ...extra } }, what, signal);

  return {
    apiVersion,

    async getJob(jobId, opts = {}) {
      assertJobId(jobId);
      const version = opts.version ?? apiVersion;
      return withToken(opts.signal, async (t) => {
        const what = `GET bulk read job ${jobId}`;
        const url = `${domainOf(t)}/crm/bulk/${version}/read/${jobId}`;
        const { body } = await get(t, url, what, opts.signal);
        const parsed = jobDetailsResponse.safeParse(body);
        if (!parsed.success) {
          throw badShape(what, parsed.error);
        }
        const raw = parsed.data.data[0]!;
        if (raw.id !== jobId) {
          throw new ZohoError({
            code: 'INVALID_RESPONSE',
            message: `${what}: Zoho answered for job ${raw.id}`,
            kind: 'retryable',
          });
        }
        return toZohoJob(raw);
      });
    },

    async getFields(module, opts = {}) {
      checkModule(module);
      const version = opts.version ?? apiVersion;
      return withToken(opts.signal, async (t) => {
        const what = `GET field metadata of ${module}`;
        const url = `${domainOf(t)}/crm/${version}/settings/fields?module=${encodeURIComponent(module)}`;
        const { body } = await get(t, url, what, opts.signal);
        try {
          return parseFieldsResponse(body);
        } catch {
          throw badShape(what);
        }
      });
    },

    async listModules(opts = {}) {
      const version = opts.version ?? apiVersion;
      return withToken(opts.signal, async (t) => {
        const what = 'GET the modules of the org';
        const url = `${domainOf(t)}/crm/${version}/settings/modules?status=${MODULE_STATUSES.join(',')}`;
        const { body } = await get(t, url, what, opts.signal);
        const parsed = modulesResponse.safeParse(body);
        if (!parsed.success) throw badShape(what, parsed.error);
        return parsed.data.modules.map(toZohoModule);
      });
    },

    async createJob(query, opts = {}) {
      const version = opts.version ?? apiVersion;
      const q: JobQuery = {};
      if (query.pageToken !== undefined) {
        if (!usesPageToken(version)) {
          throw new ZohoError({
            code: 'INVALID_QUERY',
            message: `page_token needs API v7 or later, not ${version}`,
            kind: 'terminal',
          });
        }
        q.page_token = query.pageToken;
      }
      if (query.module !== undefined)
        q.module = moduleIsString(version) ? query.module : { api_name: query.module };
      if (query.module === undefined && query.pageToken === undefined) {
        throw new ZohoError({
          code: 'INVALID_QUERY',
          message: 'a bulk read job needs a module',
          kind: 'terminal',
        });
      }
      if (query.fields?.length) q.fields = query.fields;
      if (query.criteria !== undefined) q.criteria = query.criteria;
      if (query.cvid !== undefined) q.cvid = query.cvid;
      if (query.page !== undefined) q.page = query.page;
      const body: Record<string, unknown> = { query: q };
      if (opts.callback) body.callback = { url: opts.callback.url, method: 'post' };
      if (opts.fileType) body.file_type = opts.fileType;
      return withToken(opts.signal, async (t) => {
        const what = `create bulk read job (${query.module ?? 'page_token'})`;
        const res = await send(
          `${domainOf(t)}/crm/bulk/${version}/read`,
          { method: 'POST', headers: headers(t, true), body: JSON.stringify(body) },
          what,
          opts.signal,
        );
        const parsed = createJobResponse.safeParse(res.body);
        if (!parsed.success) {
          throw badShape(what);
        }
        const d = parsed.data.data[0]!;
        return { id: d.details.id, state: normaliseState(d.details.state ?? 'ADDED') };
      });
    },

    async getDeletedRecords(module, opts) {
      checkModule(module);
      const version = opts.version ?? apiVersion;
      const perPage = opts.perPage ?? 200;
      return withToken(opts.signal, async (t) => {
        const what = `GET deleted records of ${module} (page ${opts.page})`;
        const url = `${domainOf(t)}/crm/${version}/${encodeURIComponent(module)}/deleted?type=all&page=${opts.page}&per_page=${perPage}`;
        const since: Record<string, string> = opts.since ? { 'If-Modified-Since': opts.since } : {};
        const { status, body } = await get(t, url, what, opts.signal, since);
        if (status === 204 || body === undefined) return { records: [], more: false };
        const parsed = deletedRecordsResponse.safeParse(body);
        if (!parsed.success) {
          throw badShape(what, parsed.error);
        }
        return {
          records: parsed.data.data.map(toDeletedRecord),
          more: parsed.data.info?.more_records === true,
        };
      });
    },

    async downloadResult(downloadUrl, opts = {}) {
      return withToken(opts.signal, async (t) => {
        const url = resolveDownloadUrl(downloadUrl, domainOf(t));
        const what = `download ${url.pathname}`;
        const controller = new AbortController();
        const onAbort = (): void => controller.abort(opts.signal?.reason);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        let timer: NodeJS.Timeout | undefined;
        const arm = (): void => {
          clearTimeout(timer);
          timer = setTimeout(
            () =>
              controller.abort(
                new ZohoError({
                  code: 'TIMEOUT',
                  message: `${what}: no data for ${idleTimeoutMs} ms`,
                  kind: 'retryable',
                }),
              ),
            idleTimeoutMs,
          );
          timer.unref?.();
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
        };
        arm();
        let res: StreamResponse;
        try {
          res = await getStream(
            url,
            { Authorization: `Zoho-oauthtoken ${t.accessToken}` },
            controller.signal,
          );
        } catch (e) {
          cleanup();
          throw toZohoError(
            controller.signal.reason instanceof ZohoError ? controller.signal.reason : e,
            what,
          );
        }
        if (res.status !== 200) {
          const text = await readBoundedStream(res.body).catch(() => '');
          cleanup();
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          const err =
            errorFromResponse(res.status, body, what, res) ??
            new ZohoError({
              code: `HTTP_${res.status}`,
              message: `${what}: HTTP ${res.status}`,
              kind: 'terminal',
            });
          if (err.code === 'TOO_MANY_REQUESTS' || res.status === 429) {
            // Zoho locks every download for the rest of the minute.
            throw new ZohoError({
              code: err.code,
              message: err.message,
              kind: 'retryable',
              httpStatus: res.status,
              retryAfterMs: Math.max(60_000, err.retryAfterMs ?? 0),
            });
          }
          throw err;
        }
        const body = res.body;
        body.on('data', arm);
        body.on('close', cleanup);
        let resolveVerified!: (i: ZipEntryInfo) => void;
        let rejectVerified!: (e: unknown) => void;
        const verified = new Promise<ZipEntryInfo>((res2, rej) => {
          resolveVerified = res2;
          rejectVerified = rej;
        });
        verified.catch(() => undefined);
        const stream = unzipSingleEntry(body, {
          ...(opts.segmentSize !== undefined && { segmentSize: opts.segmentSize }),
          ...(opts.onSegment && { onSegment: opts.onSegment }),
          onVerified: resolveVerified,
          mapSourceError: (e) => {
            const reason: unknown = controller.signal.reason;
            return reason instanceof ZohoError ? reason : toZohoError(e, what);
          },
        });
        stream.on('error', (e) => rejectVerified(e));
        stream.on('close', () => {
          cleanup();
          rejectVerified(
            new ZohoError({ code: 'ABORTED', message: `${what}: stream closed early`, kind: 'retryable' }),
          );
        });
        return { stream, verified };
      });
    },
  };
}
