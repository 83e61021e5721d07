/**
 * Public types of the fake Zoho (options, job specs, faults, logs, the in-process handle). No code here,
 * so that the admin client and the child runner can import them without loading the server.
 */

export const API_VERSIONS = ['v2', 'v2.1', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];
export type JobState = 'ADDED' | 'QUEUED' | 'IN PROGRESS' | 'COMPLETED' | 'FAILURE';
export type RequestKind =
  | 'token'
  | 'create'
  | 'status'
  | 'download'
  | 'fields'
  | 'modules'
  | 'deleted'
  | 'other';

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
  /**
   * Scopes granted to this client's tokens (default `ZohoCRM.bulk.ALL`, `ZohoCRM.modules.ALL`,
   * `ZohoCRM.settings.fields.READ`, `ZohoCRM.settings.modules.READ`). The token response's `scope` is these, space-separated.
   */
  scopes?: string[];
}

export type DownloadWindow = 'sliding' | 'clock-minute';
export type CallbackEncoding = 'json' | 'form';

/** Options that can also be changed while the fake runs (`setOptions`, `PATCH /__fake/options`). */
export interface RuntimeOptions {
  timeline?: Timeline;
  /** Extra processing time per record of a job's page, added to `completedAfterMs` (default 0). */
  processingMsPerRecord?: number;
  /** Records per bulk-read page (default 200000). */
  perPage?: number;
  /** Successful download starts allowed per window (default 10). */
  downloadsPerMinute?: number;
  /**
   * How the download limit counts (default 'sliding'). Zoho documents "10 per minute" but not which
   * minute; 'sliding' (any 60 s interval) is the stricter reading, 'clock-minute' counts per UTC minute.
   */
  downloadWindow?: DownloadWindow;
  /** After a download 429 every download is refused for this long (default 60000). */
  downloadLockMs?: number;
  /** A download refused during the lock extends the lock to its own time + downloadLockMs (default true). */
  lockExtendsOnReject?: boolean;
  /** Send `Retry-After` (seconds left on the lock) with a download 429 (default false: Zoho documents none). */
  retryAfterHeader?: boolean;
  /** The result can be downloaded this long after completion (default 24 h). */
  resultTtlMs?: number;
  /** Page tokens live this long (default 24 h). */
  pageTokenTtlMs?: number;
  /** Callback body encoding (default 'json'). Zoho documents no content type, see callbacks.ts. */
  callbackEncoding?: CallbackEncoding;
  /** Attempts per callback delivery (default 3) and delay between attempts (default 200 ms). */
  callbackAttempts?: number;
  callbackRetryDelayMs?: number;
  /** `result` in every state, like the v7 doc samples (default false: only once COMPLETED). */
  resultInEveryState?: boolean;
  /** Content-Type of the download (default application/x-download). */
  downloadContentType?: string;
  /** HTTP status of the token throttle body (default 200). */
  throttleStatus?: 200 | 400;
  /** Token response in the legacy form (`expires_in_sec` + `expires_in` in ms). */
  legacyExpiresIn?: boolean;
  /** Padding characters per row for jobs created over HTTP (default 0). */
  padding?: number;
  /** CSV record separator (default '\n'). */
  lineEnding?: '\n' | '\r\n';
  /** Error code for a module the fake does not know (default INVALID_MODULE). */
  unknownModuleError?: 'INVALID_MODULE' | 'MODULE_NOT_AVAILABLE';
  /** Bulk read jobs created over HTTP per rolling 24 h before LIMIT_EXCEEDED (default: no limit). */
  dailyJobLimit?: number;
  /** 1 MiB blocks of a ZIP deflated at the same time on the thread pool (default 2; 1 = one stream). */
  zipConcurrency?: number;
  /**
   * Refuse every callback URL with INVALID_CALLBACK_URL, echoing the URL in the message as Zoho does
   * (Zoho refuses URLs it cannot use; default false).
   */
  rejectCallbackUrls?: boolean;
  /**
   * Bulk read jobs not yet COMPLETED or FAILURE (ADDED, QUEUED, IN PROGRESS) at once; a create beyond
   * it answers 429 TOO_MANY_REQUESTS (default 10). Zoho documents the error ("Many requests fired in
   * concurrent than the allowed limit") but not the number; 10 is the stricter reading (the lowest paid
   * edition's API concurrency).
   */
  maxConcurrentJobs?: number;
  /**
   * Extra custom modules (API names ending in `__c`) the Modules API lists after the org's own, each with
   * a record store like any custom module (default none; the bench's `Bench_NN__c`).
   */
  extraModules?: string[];
}

export interface FakeZohoOptions extends RuntimeOptions {
  port?: number;
  clients?: FakeClient[];
  tokenTtlSeconds?: number;
  mintLimit?: { max: number; windowMs: number };
  maxLiveTokens?: number;
  /** The clock (default Date.now). Not available in a child process: use `frozenClockAt` there. */
  now?: () => number;
  /** Starts the fake with a frozen clock at this instant (ms); move it with setClock / advanceClock. */
  frozenClockAt?: number;
  /** Records per module in the record stores read by jobs created over HTTP (default 1000 each). */
  moduleRecords?: Record<string, number>;
  /**
   * Folder where the fake keeps what it must remember (jobs, page tokens, record stores and their
   * change logs, tokens, the mint log, the clock) as JSON files; loaded at start.
   */
  stateDir?: string;
  /** Folder where the ZIP of a COMPLETED job is written on its first download and served from later. */
  resultCacheDir?: string;
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

export type SeededJob = JobSpec & {
  id: string;
  /** When the job reaches COMPLETED or FAILURE (from its timeline; ms). */
  completedAt?: number;
};

/** What the fake knows about a job (in-process `jobInfo`, admin `GET /__fake/jobs/{id}`). */
export interface JobInfo {
  id: string;
  state: JobState;
  module: string;
  version: string;
  page: number;
  perPage: number;
  /** Records in this job's file. */
  count: number;
  moreRecords: boolean;
  createdAt: number;
  /** When the job reaches (or reached) its terminal state. */
  completedAt: number;
  /** 'seeded': registered with addJob; 'store': created over HTTP, reads a module record store. */
  source: 'seeded' | 'store';
  /** For store jobs: the store's change-log position and the time of the snapshot. */
  snapshot?: { seq: number; at: number };
  fields?: string[];
  fileType: 'csv' | 'ics';
  resultExpired: boolean;
  callbackUrl?: string;
}

export type FaultAction =
  | { type: 'http'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'error'; code: string; wrapped?: boolean; status?: number; details?: Record<string, unknown> }
  | { type: 'access-denied' }
  | { type: 'delay'; ms: number }
  | { type: 'reset'; afterBytes: number }
  | { type: 'truncate'; afterBytes: number }
  | { type: 'corrupt'; what: 'crc' | 'size' }
  | { type: 'csv-extra-record' }
  | { type: 'json-error-200' }
  /** A download 429 TOO_MANY_REQUESTS that also starts the download lock (for `ms`, default downloadLockMs). */
  | { type: 'download-lock'; ms?: number };

export interface Fault {
  kind: 'token' | 'create' | 'status' | 'download' | 'fields' | 'deleted' | 'any';
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
  contentType: string;
  status?: number;
  error?: string;
  at: number;
}

export interface FakeZohoStats {
  mints: number;
  liveTokens: number;
  /** Download starts (answered 200). */
  downloads: number;
  /** Downloads refused with 429 (rate limit, lock, or a download-lock fault). */
  download429s: number;
  /** End of the current download lock (ms), or null when downloads are not locked. */
  lockUntil: number | null;
  statusCalls: number;
  creates: number;
  /** Downloads served from the result cache. */
  cacheHits: number;
  /** Jobs not yet COMPLETED or FAILURE now (ADDED, QUEUED, IN PROGRESS). */
  concurrentJobs: number;
  /** The most such jobs at once (seen at each creation) since start or `resetPeakConcurrentJobs`. */
  peakConcurrentJobs: number;
  /** Creates refused with 429 TOO_MANY_REQUESTS for `maxConcurrentJobs`. */
  concurrencyRefusals: number;
}

/** Records to change: by id (19-digit strings) and/or by 0-based index. */
export interface RecordTarget {
  ids?: string[];
  indexes?: number[];
}

export interface ModuleInfo {
  module: string;
  /** Live records. */
  count: number;
  /** Records ever present since the last reset (live + deleted). */
  slots: number;
  deleted: number;
  /** Position in the change log (a job created now snapshots this). */
  seq: number;
}

export interface RecordInfo {
  index: number;
  id: string;
  version: number;
  createdTime: string;
  modifiedTime: string;
  createdMs: number;
  modifiedMs: number;
  /** Line items (subform modules): the parent record's id. */
  parentId?: string;
  deleted?: { at: number; type: 'recycle' | 'permanent'; by: string };
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
  clearCallbacks(): void;
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
  /** Starts the peak concurrent-jobs counter again from the jobs running now. */
  resetPeakConcurrentJobs(): FakeZohoStats;
  /** Everything the fake knows about a job, including its completion time. */
  jobInfo(jobId: string): JobInfo;
  /** The download then answers 404 RESOURCE_NOT_FOUND; the status stays COMPLETED. */
  expireResult(jobId: string): void;
  /** Every page token issued so far becomes invalid (a create with one answers INVALID_REQUEST). */
  expirePageTokens(): void;
  /** Resets a module's store to `count` unmodified records (jobs created before keep their snapshot). */
  setModuleRecords(module: string, count: number, at?: number): ModuleInfo;
  /** Modifies records (new version, Modified_Time = `at`, default now); returns their ids. */
  modifyRecords(module: string, target: RecordTarget, at?: number): string[];
  /**
   * Recomputes the formula fields of records (as Zoho does for a `Now()` formula): new values, the
   * same version and Modified_Time; returns their ids.
   */
  recomputeFormulas(module: string, target: RecordTarget, at?: number): string[];
  /** Creates `count` records (Created_Time = Modified_Time = `at`); returns their ids. */
  createRecords(module: string, count: number, at?: number): string[];
  /** Deletes records; they then appear in the deleted-records API. Returns their ids. */
  deleteRecords(
    module: string,
    target: RecordTarget,
    opts?: { at?: number; type?: 'recycle' | 'permanent'; by?: string },
  ): string[];
  /**
   * Restores records from the recycle bin (Zoho's undelete): live again with the Modified_Time they
   * had, gone from the deleted-records API. A live or permanently deleted record is refused.
   */
  restoreRecords(module: string, target: RecordTarget, at?: number): string[];
  /**
   * Adds `count` (default 1) line items to a live parent record of a subform module's parent module
   * (`Quoted_Items` → a `Quotes` id); returns their ids. Edit line items with modifyRecords, remove them
   * with deleteRecords (permanent by default for subforms); deleting a parent deletes its line items.
   */
  addLineItems(subform: string, parentId: string, count?: number, at?: number): string[];
  /** Ids of the live line items of one parent record, in id order. */
  lineItems(subform: string, parentId: string): string[];
  moduleInfo(module: string): ModuleInfo;
  /** The records of a module's store now, in id order (deleted ones included, flagged). */
  records(module: string, range?: { from?: number; limit?: number }): RecordInfo[];
  /** Current run-time options. */
  options(): Required<Omit<RuntimeOptions, 'dailyJobLimit'>> & { dailyJobLimit?: number };
  setOptions(patch: RuntimeOptions): void;
  /** The fake's clock. */
  now(): number;
  /** Freezes the clock at `ms`. */
  setClock(ms: number): void;
  /** Moves the clock forward (frozen or not). */
  advanceClock(ms: number): void;
}
