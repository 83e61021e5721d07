/**
 * The fake's shared state: one explicit object handed to every module (oauth, jobs, download, admin …)
 * instead of one closure over twenty maps.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_CLIENT } from './credentials.js';
import type { DownloadLimiter } from './download-limit.js';
import type { FaultRegistry } from './faults.js';
import type { Job, PageToken } from './jobs.js';
import type { OAuthState } from './oauth.js';
import type { RecordStores } from './records.js';
import type {
  CallbackLogEntry,
  FakeClient,
  FakeZohoOptions,
  RequestLogEntry,
  RuntimeOptions,
  Timeline,
} from './types.js';

export const DEFAULT_SCOPES = [
  'ZohoCRM.bulk.ALL',
  'ZohoCRM.modules.ALL',
  'ZohoCRM.settings.fields.READ',
  'ZohoCRM.settings.modules.READ',
];
export const DEFAULT_TIMELINE: Timeline = {
  queuedAfterMs: 1000,
  inProgressAfterMs: 2000,
  completedAfterMs: 5000,
};

export type ResolvedRuntimeOptions = Required<Omit<RuntimeOptions, 'dailyJobLimit'>> & {
  dailyJobLimit?: number;
};

export function resolveRuntimeOptions(
  o: RuntimeOptions,
  base?: ResolvedRuntimeOptions,
): ResolvedRuntimeOptions {
  const d: ResolvedRuntimeOptions = base ?? {
    timeline: DEFAULT_TIMELINE,
    processingMsPerRecord: 0,
    perPage: 200000,
    downloadsPerMinute: 10,
    downloadWindow: 'sliding',
    downloadLockMs: 60_000,
    lockExtendsOnReject: true,
    retryAfterHeader: false,
    resultTtlMs: 24 * 3600 * 1000,
    pageTokenTtlMs: 24 * 3600 * 1000,
    callbackEncoding: 'json',
    callbackAttempts: 3,
    callbackRetryDelayMs: 200,
    resultInEveryState: false,
    downloadContentType: 'application/x-download',
    throttleStatus: 200,
    legacyExpiresIn: false,
    padding: 0,
    lineEnding: '\n',
    unknownModuleError: 'INVALID_MODULE',
    zipConcurrency: 2,
    rejectCallbackUrls: false,
    maxConcurrentJobs: 10,
    extraModules: [],
  };
  const out: ResolvedRuntimeOptions = { ...d };
  for (const [k, v] of Object.entries(o) as [keyof RuntimeOptions, unknown][]) {
    if (v !== undefined && k in d) (out as Record<string, unknown>)[k] = v;
    else if (k === 'dailyJobLimit') out.dailyJobLimit = v === null ? undefined : (v as number | undefined);
  }
  if (out.downloadWindow !== 'sliding' && out.downloadWindow !== 'clock-minute')
    throw new Error(`fake-zoho: downloadWindow must be 'sliding' or 'clock-minute'`);
  if (!Number.isInteger(out.maxConcurrentJobs) || out.maxConcurrentJobs < 1)
    throw new Error('fake-zoho: maxConcurrentJobs must be a positive integer');
  if (
    !Array.isArray(out.extraModules) ||
    out.extraModules.some((m) => typeof m !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*__c$/.test(m))
  )
    throw new Error('fake-zoho: extraModules must be custom module API names (ending in __c)');
  if (out.callbackEncoding !== 'json' && out.callbackEncoding !== 'form')
    throw new Error(`fake-zoho: callbackEncoding must be 'json' or 'form'`);
  return out;
}

/** The fake's clock: the base clock (Date.now or options.now), an offset, or frozen at an instant. */
export class Clock {
  frozenAt: number | undefined;
  offset = 0;

  constructor(private readonly base: () => number) {}

  now(): number {
    return this.frozenAt ?? this.base() + this.offset;
  }

  set(ms: number): void {
    this.frozenAt = ms;
  }

  advance(ms: number): void {
    if (this.frozenAt !== undefined) this.frozenAt += ms;
    else this.offset += ms;
  }
}

export type ResolvedClient = Required<FakeClient>;

export type Part = 'jobs' | 'records' | 'oauth' | 'meta';

export interface Counters {
  mints: number;
  downloads: number;
  download429s: number;
  statusCalls: number;
  creates: number;
  cacheHits: number;
  peakConcurrentJobs: number;
  concurrencyRefusals: number;
}

export interface Runtime {
  opts: ResolvedRuntimeOptions;
  readonly tokenTtlSeconds: number;
  readonly mintLimit: { max: number; windowMs: number };
  readonly maxLiveTokens: number;
  readonly stateDir: string | undefined;
  readonly resultCacheDir: string | undefined;
  readonly clock: Clock;
  now(): number;
  readonly clients: ResolvedClient[];
  readonly users: Map<string, string>;
  /** http://127.0.0.1:port, set once listening. */
  baseUrl: string;
  readonly jobs: Map<string, Job>;
  readonly pageTokens: Map<string, PageToken>;
  readonly oauth: OAuthState;
  readonly stores: RecordStores;
  readonly faults: FaultRegistry;
  readonly limiter: DownloadLimiter;
  readonly requests: RequestLogEntry[];
  readonly callbacks: CallbackLogEntry[];
  readonly counters: Counters;
  /** Times of jobs created over HTTP (for dailyJobLimit). */
  createTimes: number[];
  readonly timers: Set<NodeJS.Timeout>;
  /** Jobs with a callback still to fire. */
  readonly pendingCallbacks: Set<string>;
  closed: boolean;
  idCounter: number;
  readonly dirty: Set<Part>;
  /** Marks part of the state as changed (persisted on the next flush when stateDir is set). */
  changed(part: Part): void;
  /** Called for every new job (arms its callback timer). */
  onJobCreated(jobId: string): void;
}

export function resolveClients(options: FakeZohoOptions): ResolvedClient[] {
  return (options.clients ?? [DEFAULT_CLIENT]).map((c) => ({
    userId: DEFAULT_CLIENT.userId,
    userName: DEFAULT_CLIENT.userName,
    scopes: DEFAULT_SCOPES,
    ...c,
  }));
}

/** One HTTP exchange being handled. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RequestLogEntry;
  url: URL;
}
