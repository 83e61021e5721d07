/**
 * A faithful fake of Zoho Accounts (refresh-token grant) and the Zoho CRM Bulk Read API, for integration
 * tests, the local stack and benchmarks. Contract: docs in /work/shared/reference/zoho-bulk-read-api.md §11.
 *
 * All states are computed lazily from the clock (`options.now`) on each request; no interval keeps the
 * process alive.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_CLIENT, fakeCredentials } from './credentials.js';
import { type CsvSpec, csvForJob, icsForJob } from './csv.js';
import { zipSingleEntry } from './zip.js';

// ---------------------------------------------------------------- public types

export const API_VERSIONS = ['v2', 'v2.1', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];
export type JobState = 'ADDED' | 'QUEUED' | 'IN PROGRESS' | 'COMPLETED' | 'FAILURE';
export type RequestKind = 'token' | 'create' | 'status' | 'download' | 'other';

export interface Timeline {
  queuedAfterMs: number;
  inProgressAfterMs: number;
  completedAfterMs: number;
}

export interface FakeClient {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  userId?: string;
  userName?: string;
}

export interface FakeZohoOptions {
  port?: number;
  clients?: FakeClient[];
  timeline?: Timeline;
  perPage?: number;
  downloadsPerMinute?: number;
  resultTtlMs?: number;
  tokenTtlSeconds?: number;
  mintLimit?: { max: number; windowMs: number };
  maxLiveTokens?: number;
  throttleStatus?: 200 | 400;
  resultInEveryState?: boolean;
  now?: () => number;
  /** Records of a query created over HTTP, per module (default 1000). */
  moduleRecords?: Record<string, number>;
  /** Padding characters per row for jobs created over HTTP (default 0). */
  padding?: number;
  /** Content-Type of the download (default application/x-download). */
  downloadContentType?: string;
  /** Token response in the legacy form (`expires_in_sec` + `expires_in` in ms). */
  legacyExpiresIn?: boolean;
  /** CSV record separator (default '\n'). */
  lineEnding?: '\n' | '\r\n';
  /** Page tokens live this long (default 24 h). */
  pageTokenTtlMs?: number;
  /** Attempts per callback delivery (default 3) and delay between attempts (default 200 ms). */
  callbackAttempts?: number;
  callbackRetryDelayMs?: number;
}

export interface JobSpec {
  id?: string;
  module?: string;
  version?: string;
  /** Records across ALL pages of this query (default 1000). */
  totalRecords?: number;
  page?: number;
  fields?: string[];
  padding?: number;
  zip64?: boolean;
  failWith?: { code: string; message: string; details?: Record<string, unknown> };
  timeline?: Timeline;
  createdAt?: number;
  userId?: string;
  callbackUrl?: string;
  fileType?: 'csv' | 'ics';
  lineEnding?: '\n' | '\r\n';
}

export type SeededJob = JobSpec & { id: string };

export type FaultAction =
  | { type: 'http'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'error'; code: string; wrapped?: boolean; status?: number; details?: Record<string, unknown> }
  | { type: 'access-denied' }
  | { type: 'delay'; ms: number }
  | { type: 'reset'; afterBytes: number }
  | { type: 'truncate'; afterBytes: number }
  | { type: 'corrupt'; what: 'crc' | 'size' }
  | { type: 'csv-extra-record' }
  | { type: 'json-error-200' };

export interface Fault {
  kind: 'token' | 'create' | 'status' | 'download' | 'any';
  jobId?: string;
  /** How many matching requests it applies to (default 1; Infinity allowed). */
  times?: number;
  action: FaultAction;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The Authorization header with all but the last 4 characters of the token masked. */
  authorization?: string;
  kind: RequestKind;
  jobId?: string;
  status: number;
  at: number;
}

export interface CallbackLogEntry {
  jobId: string;
  url: string;
  attempt: number;
  status?: number;
  error?: string;
  at: number;
}

export interface FakeZohoStats {
  mints: number;
  liveTokens: number;
  downloads: number;
  statusCalls: number;
  creates: number;
}

export interface FakeZoho {
  url: string;
  port: number;
  accountsUrl: string;
  apiDomain: string;
  close(): Promise<void>;
  addJob(spec?: JobSpec): SeededJob;
  /** The exact CSV (or ICS) bytes inside the job's ZIP. */
  csv(jobId: string): AsyncIterable<Buffer>;
  /** Records in the job's file (the `result.count`). */
  recordCount(jobId: string): number;
  readonly requests: RequestLogEntry[];
  clearRequests(): void;
  readonly callbacks: CallbackLogEntry[];
  inject(fault: Fault): void;
  clearFaults(): void;
  revokeTokens(): void;
  revokeRefreshToken(refreshToken: string): void;
  expireTokens(): void;
  setState(jobId: string, state: JobState): void;
  completeNow(jobId: string): void;
  /** Current state of a job as the status endpoint would report it. */
  stateOf(jobId: string): JobState;
  stats(): FakeZohoStats;
}

// ---------------------------------------------------------------- constants

export { DEFAULT_CLIENT, fakeCredentials };

export const SUPPORTED_MODULES = [
  'Leads',
  'Contacts',
  'Accounts',
  'Deals',
  'Tasks',
  'Events',
  'Calls',
  'Products',
  'Quotes',
  'Sales_Orders',
  'Purchase_Orders',
  'Invoices',
  'Vendors',
  'Price_Books',
  'Cases',
  'Solutions',
  'Campaigns',
];

const COMPARATORS = new Set([
  'equal',
  'not_equal',
  'in',
  'not_in',
  'less_than',
  'less_equal',
  'greater_than',
  'greater_equal',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
  'between',
  'not_between',
]);

/** HTTP status and message of each documented error code (§2.5, §3.5, §12). */
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
  MODULE_NOT_AVAILABLE: { status: 400, message: "Requested module '%s' is not available." },
  MODULE_NOT_SUPPORTED: {
    status: 400,
    message: "Invalid module for the query. Module '%s' is not supported.",
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
  FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED: {
    status: 400,
    message: "Field api name '%s' doesn't support this comparator '%s' for criteria %s.",
  },
  COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE: {
    status: 400,
    message: "Comparator '%s' is not supported with value '%s' for criteria %s.",
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

const THROTTLE_BODY = {
  error: 'Access Denied',
  error_description: 'You have made too many requests continuously. Please try again after some time.',
  status: 'failure',
};

const MAX_PAGE = 500;
const MAX_CRITERIA = 25;
const ICS_PER_PAGE = 20000;

// ---------------------------------------------------------------- internals

interface Job {
  id: string;
  version: string;
  module: string;
  moduleId: string;
  fields?: string[];
  criteria?: unknown;
  cvid?: string;
  page: number;
  perPage: number;
  totalRecords: number;
  padding: number;
  zip64: boolean;
  failWith?: { code: string; message: string; details?: Record<string, unknown> };
  timeline: Timeline;
  createdAt: number;
  userId: string;
  userName: string;
  callbackUrl?: string;
  fileType: 'csv' | 'ics';
  lineEnding: '\n' | '\r\n';
  forced?: { state: JobState; at: number };
  nextPageToken?: string;
  callbackFired: boolean;
  queryBase: StoredQuery;
}

/** What a page token carries: the query, without the page. */
interface StoredQuery {
  module: string;
  fields?: string[];
  criteria?: unknown;
  cvid?: string;
  fileType: 'csv' | 'ics';
  totalRecords: number;
}

interface PageToken {
  query: StoredQuery;
  nextPage: number;
  userId: string;
  issuedAt: number;
}

interface TokenInfo {
  token: string;
  refreshToken: string;
  userId: string;
  issuedAt: number;
  expiresAt: number;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RequestLogEntry;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

function fmt(template: string, ...args: unknown[]): string {
  let i = 0;
  return template.replace(/%[sd]/g, () => String(args[i++] ?? ''));
}

export function errorEnvelope(
  code: string,
  details: Record<string, unknown> = {},
  ...args: unknown[]
): { code: string; details: Record<string, unknown>; message: string; status: 'error' } {
  const entry = ERROR_CATALOGUE[code];
  return { code, details, message: fmt(entry?.message ?? code, ...args), status: 'error' };
}

function zohoError(code: string, details: Record<string, unknown> = {}, ...args: unknown[]): HttpError {
  return new HttpError(ERROR_CATALOGUE[code]?.status ?? 400, errorEnvelope(code, details, ...args));
}

function isoWithOffset(ms: number, offsetMinutes = -420): string {
  const d = new Date(ms + offsetMinutes * 60000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${d.toISOString().slice(0, 19)}${sign}${hh}:${mm}`;
}

function moduleId(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 100000;
  return `36523970000000${String(h).padStart(5, '0')}`;
}

function maskToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^(\S+)\s+(.*)$/.exec(header);
  const mask = (t: string) => (t.length <= 4 ? '*'.repeat(t.length) : '*'.repeat(t.length - 4) + t.slice(-4));
  return m ? `${m[1]} ${mask(m[2]!)}` : mask(header);
}

const SECRET_PARAMS = new Set(['client_secret', 'refresh_token', 'code']);

function isSupportedModule(name: string): boolean {
  return SUPPORTED_MODULES.includes(name) || /__[cs]$/.test(name);
}

async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw zohoError('REQUEST_BODY_NOT_SUPPORTED');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function parseMultipart(body: Buffer, contentType: string): Record<string, string> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  const out: Record<string, string> = {};
  if (!boundary) return out;
  for (const part of body.toString('utf8').split(`--${boundary}`)) {
    const idx = part.indexOf('\r\n\r\n');
    if (idx < 0) continue;
    const headers = part.slice(0, idx);
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (name === undefined) continue;
    out[name] = part.slice(idx + 4).replace(/\r\n$/, '');
  }
  return out;
}

/** Resolves on 'drain' or 'close', whichever comes first, and removes both listeners. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

// ---------------------------------------------------------------- the server

export async function startFakeZoho(options: FakeZohoOptions = {}): Promise<FakeZoho> {
  const now = options.now ?? Date.now;
  const clients: FakeClient[] = (options.clients ?? [DEFAULT_CLIENT]).map((c) => ({
    userId: DEFAULT_CLIENT.userId,
    userName: DEFAULT_CLIENT.userName,
    ...c,
  }));
  const defaultTimeline: Timeline = options.timeline ?? {
    queuedAfterMs: 1000,
    inProgressAfterMs: 2000,
    completedAfterMs: 5000,
  };
  const perPage = options.perPage ?? 200000;
  const downloadsPerMinute = options.downloadsPerMinute ?? 10;
  const resultTtlMs = options.resultTtlMs ?? 24 * 3600 * 1000;
  const tokenTtlSeconds = options.tokenTtlSeconds ?? 3600;
  const mintLimit = options.mintLimit ?? { max: 10, windowMs: 600000 };
  const maxLiveTokens = options.maxLiveTokens ?? 15;
  const throttleStatus = options.throttleStatus ?? 200;
  const pageTokenTtlMs = options.pageTokenTtlMs ?? 24 * 3600 * 1000;
  const callbackAttempts = options.callbackAttempts ?? 3;
  const callbackRetryDelayMs = options.callbackRetryDelayMs ?? 200;

  const jobs = new Map<string, Job>();
  const tokens = new Map<string, TokenInfo>();
  const liveByRefresh = new Map<string, string[]>();
  const mintLog = new Map<string, number[]>();
  const revokedRefresh = new Set<string>();
  const pageTokens = new Map<string, PageToken>();
  let faults: Array<Fault & { left: number }> = [];
  const requests: RequestLogEntry[] = [];
  const callbacks: CallbackLogEntry[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const counters = { mints: 0, downloads: 0, statusCalls: 0, creates: 0 };
  let downloadWindow = { minute: -1, count: 0 };
  let idCounter = 10000000 + randomInt(0, 80000000);
  let closed = false;

  const users = new Map<string, string>();
  for (const c of clients) users.set(c.userId!, c.userName!);

  const nextJobId = () => `36523970000${String(idCounter++ % 100000000).padStart(8, '0')}`;

  // ------------------------------------------------------------ jobs

  function makeJob(spec: JobSpec & { query?: StoredQuery }): Job {
    const id = spec.id ?? nextJobId();
    const module = spec.query?.module ?? spec.module ?? 'Contacts';
    const fileType = spec.query?.fileType ?? spec.fileType ?? 'csv';
    const userId = spec.userId ?? clients[0]?.userId ?? DEFAULT_CLIENT.userId!;
    const query: StoredQuery = spec.query ?? {
      module,
      fields: spec.fields,
      fileType,
      totalRecords: spec.totalRecords ?? 1000,
    };
    const job: Job = {
      id,
      version: spec.version ?? 'v8',
      module,
      moduleId: moduleId(module),
      fields: query.fields,
      criteria: query.criteria,
      cvid: query.cvid,
      page: spec.page ?? 1,
      perPage: fileType === 'ics' ? Math.min(perPage, ICS_PER_PAGE) : perPage,
      totalRecords: query.totalRecords,
      padding: spec.padding ?? 0,
      zip64: spec.zip64 ?? false,
      failWith: spec.failWith,
      timeline: spec.timeline ?? defaultTimeline,
      createdAt: spec.createdAt ?? now(),
      userId,
      userName: users.get(userId) ?? 'Patricia Boyle',
      callbackUrl: spec.callbackUrl,
      fileType,
      lineEnding: spec.lineEnding ?? options.lineEnding ?? '\n',
      callbackFired: false,
      queryBase: query,
    };
    jobs.set(id, job);
    if (job.callbackUrl) scheduleCallbackCheck(job);
    return job;
  }

  function terminalState(job: Job): JobState {
    return job.failWith ? 'FAILURE' : 'COMPLETED';
  }

  function stateOf(job: Job): JobState {
    if (job.forced) return job.forced.state;
    const t = now() - job.createdAt;
    const tl = job.timeline;
    if (t >= tl.completedAfterMs) return terminalState(job);
    if (t >= tl.inProgressAfterMs) return 'IN PROGRESS';
    if (t >= tl.queuedAfterMs) return 'QUEUED';
    return 'ADDED';
  }

  function completedAt(job: Job): number {
    if (job.forced) return job.forced.at;
    return job.createdAt + job.timeline.completedAfterMs;
  }

  function pageCount(job: Job): { count: number; more: boolean } {
    const start = (job.page - 1) * job.perPage;
    const count = Math.max(0, Math.min(job.perPage, job.totalRecords - start));
    return { count, more: job.totalRecords > job.page * job.perPage };
  }

  function criteriaEcho(c: unknown, version: string): unknown {
    if (!c || typeof c !== 'object') return c;
    const o = c as Record<string, unknown>;
    if (Array.isArray(o.group)) {
      return {
        group_operator: String(o.group_operator).toLowerCase(),
        group: o.group.map((g) => criteriaEcho(g, version)),
      };
    }
    const apiName = leafApiName(o);
    if (version === 'v2') return { api_name: apiName, comparator: o.comparator, value: o.value };
    return {
      field: { api_name: apiName, id: moduleId(`field:${apiName}`) },
      comparator: o.comparator,
      value: o.value,
    };
  }

  function jobDetail(job: Job): Record<string, unknown> {
    const state = stateOf(job);
    const query: Record<string, unknown> = {
      module: job.version === 'v2' ? job.module : { api_name: job.module, id: job.moduleId },
      page: job.page,
    };
    if (job.fields && job.fields.length > 0) query.fields = job.fields;
    if (job.cvid) query.cvid = job.cvid;
    if (job.criteria) query.criteria = criteriaEcho(job.criteria, job.version);
    const detail: Record<string, unknown> = {
      id: job.id,
      operation: 'read',
      state,
      query,
      created_by: { id: job.userId, name: job.userName },
      created_time: isoWithOffset(job.createdAt),
      file_type: job.fileType,
    };
    if (state === 'FAILURE') {
      const f = job.failWith ?? { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' };
      detail.result = {
        error_message: { status: 'error', code: f.code, message: f.message, details: f.details ?? {} },
      };
    } else if (state === 'COMPLETED' || options.resultInEveryState) {
      const { count, more } = pageCount(job);
      const result: Record<string, unknown> = {
        page: job.page,
        per_page: job.perPage,
        count: state === 'COMPLETED' ? count : 0,
        download_url: `/crm/bulk/${job.version}/read/${job.id}/result`,
        more_records: more,
      };
      if (more && (job.version === 'v7' || job.version === 'v8')) result.next_page_token = pageTokenFor(job);
      detail.result = result;
    }
    return detail;
  }

  function pageTokenFor(job: Job): string {
    if (!job.nextPageToken) {
      const token = randomBytes(18).toString('hex');
      pageTokens.set(token, {
        query: job.queryBase,
        nextPage: job.page + 1,
        userId: job.userId,
        issuedAt: now(),
      });
      job.nextPageToken = token;
    }
    return job.nextPageToken;
  }

  function fileSpec(job: Job): CsvSpec {
    return {
      jobId: job.id,
      module: job.module,
      fields: job.fields,
      records: pageCount(job).count,
      page: job.page,
      perPage: job.perPage,
      padding: job.padding,
      lineEnding: job.lineEnding,
      chunkSize: 256 * 1024,
    };
  }

  function fileStream(job: Job, extraRecord = false): AsyncIterable<Buffer> {
    const spec = fileSpec(job);
    if (extraRecord) spec.records += 1;
    return job.fileType === 'ics' ? icsForJob(spec) : csvForJob(spec);
  }

  // ------------------------------------------------------------ callbacks (best effort)

  function scheduleCallbackCheck(job: Job): void {
    const delay = Math.max(0, completedAt(job) - now());
    const t = setTimeout(() => {
      timers.delete(t);
      maybeFireCallback(job);
    }, delay + 5);
    t.unref();
    timers.add(t);
  }

  function maybeFireCallback(job: Job): void {
    if (closed || !job.callbackUrl || job.callbackFired) return;
    const state = stateOf(job);
    if (state !== 'COMPLETED' && state !== 'FAILURE') return;
    job.callbackFired = true;
    const url = job.callbackUrl;
    const body = JSON.stringify({ data: [jobDetail(job)] });
    const attempt = async (n: number): Promise<void> => {
      const entry: CallbackLogEntry = { jobId: job.id, url, attempt: n, at: now() };
      callbacks.push(entry);
      try {
        const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        entry.status = r.status;
        await r.arrayBuffer().catch(() => undefined);
        if (r.ok) return;
      } catch (err) {
        entry.error = (err as Error).message;
      }
      if (n < callbackAttempts && !closed) {
        const t = setTimeout(() => {
          timers.delete(t);
          void attempt(n + 1);
        }, callbackRetryDelayMs);
        t.unref();
        timers.add(t);
      }
    };
    void attempt(1);
  }

  // ------------------------------------------------------------ tokens

  function liveList(refreshToken: string): string[] {
    let l = liveByRefresh.get(refreshToken);
    if (!l) {
      l = [];
      liveByRefresh.set(refreshToken, l);
    }
    return l;
  }

  function validToken(token: string | undefined): TokenInfo | undefined {
    if (!token) return undefined;
    const info = tokens.get(token);
    if (!info) return undefined;
    if (now() >= info.expiresAt) return undefined;
    return info;
  }

  function authenticate(ctx: Ctx): TokenInfo {
    const h = ctx.req.headers.authorization;
    const m = h ? /^(Zoho-oauthtoken|Bearer)\s+(\S+)\s*$/i.exec(h) : null;
    const info = validToken(m?.[2]);
    if (!info) throw zohoError('INVALID_TOKEN');
    return info;
  }

  async function handleToken(ctx: Ctx, url: URL): Promise<void> {
    const { req } = ctx;
    if (req.method !== 'POST') throw zohoError('INVALID_REQUEST_METHOD');
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    if (body.length > 0) {
      if (ct.startsWith('multipart/form-data')) Object.assign(params, parseMultipart(body, ct));
      else Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    }
    const ok = (b: unknown, status = 200) => sendJson(ctx, status, b);
    const client = clients.find((c) => c.clientId === params.client_id);
    if (!client) return ok({ error: 'invalid_client' });
    if (client.clientSecret !== params.client_secret) return ok({ error: 'invalid_client_secret' });
    if (params.grant_type !== 'refresh_token') return ok({ error: 'unsupported_grant_type' });
    const rt = params.refresh_token ?? '';
    const rtClient = clients.find((c) => c.refreshToken === rt);
    if (!rtClient || rtClient.clientId !== client.clientId || revokedRefresh.has(rt)) {
      return ok({ error: 'invalid_code' });
    }
    const t = now();
    const log = (mintLog.get(rt) ?? []).filter((x) => x > t - mintLimit.windowMs);
    mintLog.set(rt, log);
    if (log.length >= mintLimit.max) return ok(THROTTLE_BODY, throttleStatus);
    log.push(t);
    counters.mints++;
    const token = `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`;
    tokens.set(token, {
      token,
      refreshToken: rt,
      userId: rtClient.userId!,
      issuedAt: t,
      expiresAt: t + tokenTtlSeconds * 1000,
    });
    const live = liveList(rt).filter((x) => validToken(x));
    live.push(token);
    while (live.length > maxLiveTokens) tokens.delete(live.shift()!);
    liveByRefresh.set(rt, live);
    const resp: Record<string, unknown> = {
      access_token: token,
      scope: 'ZohoCRM.bulk.ALL ZohoCRM.modules.ALL',
      api_domain: base.url,
      token_type: 'Bearer',
    };
    if (options.legacyExpiresIn) {
      resp.expires_in_sec = tokenTtlSeconds;
      resp.expires_in = tokenTtlSeconds * 1000;
    } else {
      resp.expires_in = tokenTtlSeconds;
    }
    return ok(resp);
  }

  // ------------------------------------------------------------ create

  function leafApiName(o: Record<string, unknown>): string | undefined {
    const f = o.field as Record<string, unknown> | undefined;
    if (f && typeof f === 'object' && typeof f.api_name === 'string') return f.api_name;
    if (typeof o.api_name === 'string') return o.api_name;
    return undefined;
  }

  function validateCriteria(c: unknown): number {
    if (!c || typeof c !== 'object' || Array.isArray(c))
      throw zohoError('INVALID_CRITERIA', {}, JSON.stringify(c));
    const o = c as Record<string, unknown>;
    const isGroup = 'group' in o || 'group_operator' in o;
    const isLeaf = 'comparator' in o || 'field' in o || 'api_name' in o || 'value' in o;
    const text = JSON.stringify(c);
    if (isGroup && isLeaf) throw zohoError('AMBIGUOUS_CRITERIA', {}, text);
    if (isGroup) {
      const op = typeof o.group_operator === 'string' ? o.group_operator.toLowerCase() : '';
      if (op !== 'and' && op !== 'or') {
        throw zohoError(
          'GROUP_OPERATOR_NOT_SUPPORTED',
          { group_operator: o.group_operator ?? null },
          text,
          o.group_operator,
        );
      }
      if (!Array.isArray(o.group) || o.group.length === 0) throw zohoError('INVALID_CRITERIA', {}, text);
      if (o.group.length === 1) throw zohoError('AMBIGUOUS_GROUP_IN_CRITERIA', {}, text);
      let n = 0;
      for (const g of o.group) n += validateCriteria(g);
      return n;
    }
    const apiName = leafApiName(o);
    if (!apiName) throw zohoError('INVALID_CRITERIA', {}, text);
    const comparator = o.comparator;
    if (typeof comparator !== 'string' || !COMPARATORS.has(comparator)) {
      throw zohoError(
        'FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED',
        { api_name: apiName, comparator: comparator ?? null },
        apiName,
        comparator,
        text,
      );
    }
    if (!('value' in o)) throw zohoError('INVALID_CRITERIA', { api_name: apiName }, text);
    const v = o.value;
    const wantsArray = comparator === 'in' || comparator === 'not_in';
    const wantsPair = comparator === 'between' || comparator === 'not_between';
    const bad =
      (wantsPair && !(Array.isArray(v) && v.length === 2)) ||
      (wantsArray && !(Array.isArray(v) && v.length > 0) && typeof v !== 'string') ||
      (!wantsPair && !wantsArray && (Array.isArray(v) || (v !== null && typeof v === 'object')));
    if (bad) {
      throw zohoError(
        'COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
        { api_name: apiName, comparator },
        comparator,
        JSON.stringify(v),
        text,
      );
    }
    return 1;
  }

  async function handleCreate(ctx: Ctx, version: string): Promise<void> {
    const { req } = ctx;
    const auth = authenticate(ctx);
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    const body = await readBody(req);
    if (!ct.split(';')[0]!.trim().startsWith('application/json')) throw zohoError('MEDIA_TYPE_NOT_SUPPORTED');
    if (body.length === 0 || body.toString('utf8').trim() === '') throw zohoError('REQUEST_BODY_IS_EMPTY');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw zohoError('REQUEST_BODY_NOT_READABLE');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw zohoError('REQUEST_BODY_NOT_SUPPORTED');
    const b = parsed as Record<string, unknown>;
    const qRaw = b.query ?? {};
    if (!qRaw || typeof qRaw !== 'object' || Array.isArray(qRaw))
      throw zohoError('REQUEST_BODY_NOT_SUPPORTED');
    const q = qRaw as Record<string, unknown>;
    const modern = version === 'v7' || version === 'v8';

    // callback
    let callbackUrl: string | undefined;
    if (b.callback !== undefined && b.callback !== null) {
      const cb = b.callback as Record<string, unknown>;
      if (typeof cb !== 'object') throw zohoError('INVALID_CALLBACK_URL', {}, String(cb));
      if (cb.method !== 'post') throw zohoError('INVALID_CALLBACK_METHOD', {}, String(cb.method));
      let ok = false;
      if (typeof cb.url === 'string') {
        try {
          const u = new URL(cb.url);
          ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
        } catch {
          ok = false;
        }
      }
      if (!ok) throw zohoError('INVALID_CALLBACK_URL', {}, String(cb.url));
      callbackUrl = cb.url as string;
    }

    // page token (v7/v8)
    if (q.page_token !== undefined) {
      if (!modern) throw zohoError('QUERY_NOT_SUPPORTED', { api_name: 'page_token' }, 'page_token');
      const pt = typeof q.page_token === 'string' ? pageTokens.get(q.page_token) : undefined;
      if (!pt || pt.userId !== auth.userId || now() - pt.issuedAt > pageTokenTtlMs) {
        throw zohoError('INVALID_REQUEST', { api_name: 'page_token' });
      }
      if (pt.nextPage > MAX_PAGE)
        throw zohoError('PAGE_RANGE_EXCEEDED', { max_limit: MAX_PAGE }, pt.nextPage);
      const job = makeJob({
        version,
        page: pt.nextPage,
        userId: auth.userId,
        callbackUrl,
        query: pt.query,
        padding: options.padding,
      });
      return created(ctx, job);
    }

    // module
    let moduleName: string | undefined;
    if (version === 'v2') {
      if (typeof q.module === 'string') moduleName = q.module;
    } else if (q.module && typeof q.module === 'object' && !Array.isArray(q.module)) {
      const an = (q.module as Record<string, unknown>).api_name;
      if (typeof an === 'string') moduleName = an;
    }
    if (moduleName === undefined) {
      throw zohoError(
        'MODULE_NOT_SUPPORTED',
        { api_name: 'module' },
        typeof q.module === 'string' ? q.module : '',
      );
    }
    if (!isSupportedModule(moduleName))
      throw zohoError('MODULE_NOT_SUPPORTED', { api_name: moduleName }, moduleName);

    // file type
    const ftRaw = b.file_type ?? q.file_type ?? 'csv';
    if (ftRaw !== 'csv' && ftRaw !== 'ics')
      throw zohoError('NOT_SUPPORTED_FEATURE', { api_name: 'file_type' });
    const fileType = ftRaw;
    if (fileType === 'ics' && moduleName !== 'Events') {
      throw zohoError('NOT_SUPPORTED_FEATURE', { api_name: 'file_type', module: moduleName });
    }

    // fields
    let fields: string[] | undefined;
    if (q.fields !== undefined) {
      if (!Array.isArray(q.fields) || q.fields.some((f) => typeof f !== 'string' || f.trim() === '')) {
        throw zohoError(
          'FIELD_NOT_SUPPORTED',
          { api_name: 'fields', module: moduleName },
          String(q.fields),
          moduleName,
        );
      }
      if (fileType === 'ics' && q.fields.length > 0)
        throw zohoError('NOT_SUPPORTED_FEATURE', { api_name: 'fields' });
      fields = q.fields.length > 200 ? undefined : (q.fields as string[]);
      if (fields?.length === 0) fields = undefined;
    }

    // cvid
    if (q.cvid !== undefined && !(typeof q.cvid === 'string' && /^\d+$/.test(q.cvid))) {
      throw zohoError('CVID_NOT_SUPPORTED', { api_name: 'cvid' });
    }

    // criteria
    if (q.criteria !== undefined && q.criteria !== null) {
      const leaves = validateCriteria(q.criteria);
      if (leaves > MAX_CRITERIA)
        throw zohoError('CRITERIA_LIMIT_EXCEEDED', { max_limit: MAX_CRITERIA }, MAX_CRITERIA);
    }

    // page
    let page = 1;
    if (q.page !== undefined) {
      const p = q.page;
      const n = typeof p === 'number' ? p : typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : Number.NaN;
      if (!Number.isInteger(n) || n < 1)
        throw zohoError('PAGE_NOT_SUPPORTED', { api_name: 'page' }, String(p));
      if (n > MAX_PAGE) throw zohoError('PAGE_RANGE_EXCEEDED', { max_limit: MAX_PAGE }, n);
      page = n;
    }

    const query: StoredQuery = {
      module: moduleName,
      fields,
      criteria: q.criteria ?? undefined,
      cvid: q.cvid as string | undefined,
      fileType,
      totalRecords: options.moduleRecords?.[moduleName] ?? 1000,
    };
    const job = makeJob({ version, page, userId: auth.userId, callbackUrl, query, padding: options.padding });
    return created(ctx, job);
  }

  function created(ctx: Ctx, job: Job): void {
    counters.creates++;
    ctx.entry.jobId = job.id;
    sendJson(ctx, 201, {
      data: [
        {
          status: 'success',
          code: 'ADDED_SUCCESSFULLY',
          message: 'Added successfully.',
          details: {
            id: job.id,
            operation: 'read',
            state: 'ADDED',
            created_by: { id: job.userId, name: job.userName },
            created_time: isoWithOffset(job.createdAt),
          },
        },
      ],
      info: {},
    });
  }

  // ------------------------------------------------------------ status

  function findJob(id: string): Job {
    const job = /^\d+$/.test(id) ? jobs.get(id) : undefined;
    if (!job) throw zohoError('RESOURCE_NOT_FOUND', { resource: id });
    return job;
  }

  function handleStatus(ctx: Ctx, id: string): void {
    authenticate(ctx);
    const job = findJob(id);
    const detail = jobDetail(job);
    sendJson(ctx, 200, { data: [detail] });
    maybeFireCallback(job);
  }

  // ------------------------------------------------------------ download

  function takeStreamFault(jobId: string): FaultAction | undefined {
    const streamTypes = new Set(['reset', 'truncate', 'corrupt', 'csv-extra-record']);
    const f = faults.find(
      (x) =>
        x.left > 0 &&
        (x.kind === 'download' || x.kind === 'any') &&
        (x.jobId === undefined || x.jobId === jobId) &&
        streamTypes.has(x.action.type),
    );
    if (!f) return undefined;
    f.left--;
    faults = faults.filter((x) => x.left > 0);
    return f.action;
  }

  async function handleDownload(ctx: Ctx, id: string): Promise<void> {
    const { req, res } = ctx;
    authenticate(ctx);
    const t = now();
    const minute = Math.floor(t / 60000);
    if (downloadWindow.minute !== minute) downloadWindow = { minute, count: 0 };
    if (downloadWindow.count >= downloadsPerMinute) throw zohoError('TOO_MANY_REQUESTS');
    const job = findJob(id);
    const state = stateOf(job);
    if (state !== 'COMPLETED')
      throw new HttpError(400, errorEnvelope('RESOURCE_NOT_FOUND', { resource: id }));
    if (t > completedAt(job) + resultTtlMs) throw zohoError('RESOURCE_NOT_FOUND', { resource: id });
    downloadWindow.count++;
    counters.downloads++;

    const fault = takeStreamFault(job.id);
    const entryName = `${job.id}.${job.fileType}`;
    const zip = zipSingleEntry(entryName, fileStream(job, fault?.type === 'csv-extra-record'), {
      zip64: job.zip64,
      corrupt: fault?.type === 'corrupt' ? fault.what : undefined,
    });
    ctx.entry.status = 200;
    res.writeHead(200, {
      'Content-Type': options.downloadContentType ?? 'application/x-download',
      'Content-Disposition': `attachment; filename="${job.id}.zip"`,
    });
    const limit =
      fault?.type === 'reset' || fault?.type === 'truncate' ? fault.afterBytes : Number.POSITIVE_INFINITY;
    let sent = 0;
    let gone = false;
    const onClose = () => {
      gone = true;
    };
    res.on('close', onClose);
    try {
      for await (const chunk of zip) {
        if (gone || res.destroyed) break;
        let piece = chunk;
        if (sent + chunk.length > limit) piece = chunk.subarray(0, limit - sent);
        sent += piece.length;
        const more = piece.length > 0 ? res.write(piece) : true;
        if (sent >= limit) break;
        if (!more && !gone) await drainOrClose(res);
      }
    } finally {
      res.off('close', onClose);
    }
    if (gone || res.destroyed) return;
    if (fault?.type === 'reset' && sent >= limit) {
      // make sure the headers and the bytes so far leave, then cut the connection
      await new Promise<void>((resolve) => res.write('', () => resolve()));
      req.socket.destroy();
      return;
    }
    res.end();
  }

  // ------------------------------------------------------------ plumbing

  function sendJson(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): void {
    ctx.entry.status = status;
    if (ctx.res.headersSent) {
      ctx.res.destroy();
      return;
    }
    const text = JSON.stringify(body);
    ctx.res.writeHead(status, {
      'Content-Type': 'application/json;charset=UTF-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    ctx.res.end(text);
  }

  function classify(method: string, path: string): { kind: RequestKind; version?: string; jobId?: string } {
    if (path === '/oauth/v2/token') return { kind: 'token' };
    const m = /^\/crm\/bulk\/([^/]+)\/read(?:\/([^/]+)(\/result)?)?\/?$/.exec(path);
    if (!m) return { kind: 'other' };
    const version = m[1]!;
    if (!m[2]) return { kind: method === 'POST' ? 'create' : 'other', version };
    return { kind: m[3] ? 'download' : 'status', version, jobId: m[2] };
  }

  function takeFault(kind: RequestKind, jobId: string | undefined): FaultAction | undefined {
    const streamTypes = new Set(['reset', 'truncate', 'corrupt', 'csv-extra-record']);
    const f = faults.find(
      (x) =>
        x.left > 0 &&
        (x.kind === kind || x.kind === 'any') &&
        (x.jobId === undefined || x.jobId === jobId) &&
        !streamTypes.has(x.action.type),
    );
    if (!f) return undefined;
    f.left--;
    faults = faults.filter((x) => x.left > 0);
    return f.action;
  }

  async function applyFault(ctx: Ctx, action: FaultAction): Promise<boolean> {
    switch (action.type) {
      case 'delay':
        await new Promise((r) => setTimeout(r, action.ms));
        return false;
      case 'http': {
        ctx.entry.status = action.status;
        const text =
          action.body === undefined
            ? ''
            : typeof action.body === 'string'
              ? action.body
              : JSON.stringify(action.body);
        ctx.res.writeHead(action.status, {
          'Content-Type': typeof action.body === 'string' ? 'text/plain' : 'application/json;charset=UTF-8',
          'Content-Length': Buffer.byteLength(text),
          ...action.headers,
        });
        ctx.res.end(text);
        return true;
      }
      case 'error': {
        const env = errorEnvelope(action.code, action.details ?? {});
        const status = action.status ?? ERROR_CATALOGUE[action.code]?.status ?? 400;
        sendJson(ctx, status, action.wrapped ? { data: [env] } : env);
        return true;
      }
      case 'access-denied':
        sendJson(ctx, throttleStatus, THROTTLE_BODY);
        return true;
      case 'json-error-200':
        sendJson(ctx, 200, errorEnvelope('INTERNAL_ERROR'));
        return true;
      default:
        return false;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const { kind, version, jobId } = classify(method, url.pathname);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = SECRET_PARAMS.has(k) ? '***' : v;
    const entry: RequestLogEntry = {
      method,
      path: url.pathname,
      query,
      authorization: maskToken(req.headers.authorization),
      kind,
      status: 0,
      at: now(),
    };
    if (jobId) entry.jobId = jobId;
    requests.push(entry);
    const ctx: Ctx = { req, res, entry };
    try {
      if (kind === 'status') counters.statusCalls++;
      if (kind !== 'other') {
        const fault = takeFault(kind, jobId);
        if (fault && (await applyFault(ctx, fault))) return;
      }
      if (kind === 'token') return await handleToken(ctx, url);
      if (version === undefined) throw zohoError('INVALID_URL_PATTERN');
      if (!(API_VERSIONS as readonly string[]).includes(version)) throw zohoError('INVALID_URL_PATTERN');
      if (kind === 'other') throw zohoError('INVALID_REQUEST_METHOD'); // non-POST on /read
      if (kind === 'create') return await handleCreate(ctx, version);
      if (method !== 'GET') throw zohoError('INVALID_REQUEST_METHOD');
      if (kind === 'status') return handleStatus(ctx, jobId!);
      return await handleDownload(ctx, jobId!);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(ctx, err.status, err.body);
      if (!res.headersSent) return sendJson(ctx, 500, errorEnvelope('INTERNAL_ERROR'));
      res.destroy(err as Error);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500);
        res.end(String(err));
      } else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const base = { url: `http://127.0.0.1:${port}` };

  const getJob = (id: string): Job => {
    const j = jobs.get(id);
    if (!j) throw new Error(`fake-zoho: unknown job ${id}`);
    return j;
  };

  const fake: FakeZoho = {
    url: base.url,
    port,
    accountsUrl: base.url,
    apiDomain: base.url,
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      await done;
    },
    addJob(spec: JobSpec = {}) {
      const job = makeJob({ ...spec, query: undefined });
      return {
        ...spec,
        id: job.id,
        module: job.module,
        version: job.version,
        totalRecords: job.totalRecords,
        page: job.page,
        padding: job.padding,
        zip64: job.zip64,
        timeline: job.timeline,
        createdAt: job.createdAt,
        userId: job.userId,
        fileType: job.fileType,
      };
    },
    csv(jobId) {
      return fileStream(getJob(jobId));
    },
    recordCount(jobId) {
      return pageCount(getJob(jobId)).count;
    },
    requests,
    clearRequests() {
      requests.length = 0;
    },
    callbacks,
    inject(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    revokeTokens() {
      tokens.clear();
      liveByRefresh.clear();
    },
    revokeRefreshToken(refreshToken) {
      revokedRefresh.add(refreshToken);
      for (const t of liveByRefresh.get(refreshToken) ?? []) tokens.delete(t);
      liveByRefresh.delete(refreshToken);
    },
    expireTokens() {
      const t = now();
      for (const info of tokens.values()) info.expiresAt = Math.min(info.expiresAt, t);
    },
    setState(jobId, state) {
      const job = getJob(jobId);
      if (state === 'FAILURE' && !job.failWith) {
        job.failWith = { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' };
      }
      if (state === 'COMPLETED') job.failWith = undefined;
      job.forced = { state, at: now() };
      maybeFireCallback(job);
    },
    completeNow(jobId) {
      fake.setState(jobId, 'COMPLETED');
    },
    stateOf(jobId) {
      return stateOf(getJob(jobId));
    },
    stats() {
      let live = 0;
      for (const info of tokens.values()) if (now() < info.expiresAt) live++;
      return { ...counters, liveTokens: live };
    },
  };
  return fake;
}
