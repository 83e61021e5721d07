/**
 * Wiring, the pure half: each function's dependencies built from its validated configuration and the
 * parts of its environment (tables, credentials, S3, queues, event bus, catalog, clock). The Lambda
 * entries (lib/runtime.ts gives them AWS parts), the local stack (stand-ins), the test harness and the
 * bench all call these builders, so what a function is given is decided once.
 *
 * A builder's config parameter is what that function needs: passing a function's `FunctionConfig`
 * fails to compile when its spec (lib/config.ts) lacks a setting the builder reads.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CallbackDeps } from './callbacks/handler.js';
import { CallbackHealth } from './callbacks/health.js';
import type { CallbackWiring } from './callbacks/token.js';
import { type FunctionName, functionTimeoutMs, type Timing, timingFrom } from './config.js';
import type { Table } from './ddb/table.js';
import type { Catalog } from './exports/catalog.js';
import type { ConvertDeps } from './exports/convert.js';
import type { ConvertDispatch, ExportDeps } from './exports/deps.js';
import type { EventPublisher } from './exports/events.js';
import { pageHooks } from './exports/hooks.js';
import { IdempotencyStore } from './exports/idempotency.js';
import { ExportStore } from './exports/store.js';
import { sweepExports } from './exports/sweep.js';
import type { DownloadMessage } from './jobs/model.js';
import { JobStore } from './jobs/store.js';
import { PROBE_REFUSAL_CODES } from './modules/discovery.js';
import { LinkingProbe } from './modules/probe.js';
import { ModuleCatalog } from './modules/store.js';
import type { MetricsSink } from './observability.js';
import { describeError } from './observability.js';
import type { DownloadDeps } from './pipeline/download.js';
import { DownloadBudget } from './pipeline/download-budget.js';
import type { PollDeps } from './pipeline/poll.js';
import type { ScheduleDeps } from './schedules/run.js';
import { ScheduleStore } from './schedules/store.js';
import { knownSubform } from './schedules/subforms.js';
import type { Settings } from './settings.js';
import type { TableRole } from './tables.js';
import { createZohoClient, type ZohoClient } from './zoho/client.js';
import { resolveEndpoints } from './zoho/data-centers.js';
import type { FetchFn } from './zoho/http.js';
import { JobSlots, withJobSlots } from './zoho/job-slots.js';
import { type CredentialsProvider, TokenBroker, type TokenBrokerOptions } from './zoho/token-broker.js';

// ------------------------------------------------------------------------------------------ waits

/** Every wait inside one function, derived from its Lambda timeout (lib/config.ts). */
export interface WaitBudget {
  /** The function's Lambda timeout (ms). */
  timeoutMs: number;
  /** Left for DynamoDB writes and the answer after the last wait (ms). */
  marginMs: number;
  /** Timeout of one Zoho API call (status, create, fields), ms. */
  zohoRequestMs: number;
  /** How long a caller waits for another caller's token refresh (ms). */
  tokenWaitMs: number;
  /** How long this function's refresh lease is held; its mint request times out 5 s before (ms). */
  tokenLeaseMs: number;
  /** How long `POST /exports` waits for a concurrent request with the same Idempotency-Key (ms). */
  idempotencyWaitMs: number;
}

/** Today's figures, which a function with a long enough timeout keeps. */
const CAPS = { zohoRequestMs: 30_000, tokenWaitMs: 25_000, tokenLeaseMs: 20_000, idempotencyWaitMs: 10_000 };
/** The token broker's mint request times out this long before its lease runs out (token-broker.ts). */
const MINT_BEFORE_LEASE_END_MS = 5_000;

/**
 * The waits of function `fn`: a margin (10 %, at least 5 s) is kept for the writes and the answer; of
 * the rest the idempotency wait takes a third and the token wait a quarter (each capped at today's
 * figure), and one Zoho request what is left (capped). A waiter's lease is short enough that its own
 * mint ends within its token wait. So idempotency wait + token + Zoho request + margin <= timeout:
 * the API (29 s) answers `409 IDEMPOTENCY_KEY_IN_PROGRESS` or 503 before API Gateway gives up.
 */
export function budgetFor(fn: FunctionName): WaitBudget {
  const timeoutMs = functionTimeoutMs(fn);
  const marginMs = Math.max(5_000, Math.ceil(timeoutMs / 10));
  const usable = timeoutMs - marginMs;
  const idempotencyWaitMs = Math.min(CAPS.idempotencyWaitMs, Math.floor(usable / 3));
  const tokenWaitMs = Math.min(CAPS.tokenWaitMs, Math.floor(usable / 4));
  const zohoRequestMs = Math.min(CAPS.zohoRequestMs, usable - idempotencyWaitMs - tokenWaitMs);
  const tokenLeaseMs = Math.min(CAPS.tokenLeaseMs, tokenWaitMs + MINT_BEFORE_LEASE_END_MS);
  return { timeoutMs, marginMs, zohoRequestMs, tokenWaitMs, tokenLeaseMs, idempotencyWaitMs };
}

/**
 * How long function `fn` may spend creating a snapshot's first pages (`POST /snapshots`, a multi-module
 * schedule's run): its timeout less its margin, one Zoho request and one token wait (the create that
 * starts last must answer in time). What is left the poller's sweep creates.
 */
export function firstPagesWindowMs(fn: FunctionName): number {
  const b = budgetFor(fn);
  return Math.max(0, b.timeoutMs - b.marginMs - b.zohoRequestMs - b.tokenWaitMs);
}

/**
 * The timing every function shares: the download lease is derived from the downloader's timeout (the
 * poller re-dispatches a download only after it), whichever function computes it.
 */
export function sharedTiming(config: Parameters<typeof timingFrom>[0]): Timing {
  return timingFrom(config, { downloadTimeoutMs: functionTimeoutMs('download-result') });
}

// ------------------------------------------------------------------------------------------- Zoho

export type ZohoConfig = Pick<Settings, 'ZOHO_DATA_CENTER' | 'ZOHO_ACCOUNTS_URL' | 'ZOHO_API_DOMAIN'> &
  Partial<Pick<Settings, 'ZOHO_API_VERSION'>>;

export interface ZohoParts {
  state: Table;
  credentials: CredentialsProvider;
  /** Unset: this function's figures are today's defaults (tests that do not time out). */
  budget?: Pick<WaitBudget, 'zohoRequestMs' | 'tokenWaitMs' | 'tokenLeaseMs'>;
  fetch?: FetchFn;
  metrics?: MetricsSink;
  now?: () => number;
  /** The token cache item (default `zoho-token`). */
  tokenKey?: string;
  /** Broker options the tests set (mint limit, sleep, ...). */
  broker?: Partial<Omit<TokenBrokerOptions, 'table' | 'credentials'>>;
}

/** The shared token broker of one function: endpoints from the configuration, waits from its budget. */
export function tokenBroker(config: ZohoConfig, parts: ZohoParts): TokenBroker {
  const endpoints = resolveEndpoints({
    dataCenter: config.ZOHO_DATA_CENTER,
    accountsUrl: config.ZOHO_ACCOUNTS_URL,
  });
  return new TokenBroker({
    table: parts.state,
    credentials: parts.credentials,
    accountsUrl: endpoints.accountsUrl,
    defaultApiDomain: config.ZOHO_API_DOMAIN ?? endpoints.defaultApiDomain,
    ...(parts.budget ? { waitMs: parts.budget.tokenWaitMs, leaseMs: parts.budget.tokenLeaseMs } : {}),
    ...(parts.fetch ? { fetch: parts.fetch } : {}),
    ...(parts.now ? { now: parts.now } : {}),
    ...(parts.tokenKey ? { key: parts.tokenKey } : {}),
    onMint: () => parts.metrics?.count('TokenMints'),
    ...parts.broker,
  });
}

/** The Zoho client over the shared token broker. */
export function zohoClient(config: ZohoConfig, parts: ZohoParts): ZohoClient {
  return createZohoClient({
    tokens: tokenBroker(config, parts),
    ...(config.ZOHO_API_VERSION ? { apiVersion: config.ZOHO_API_VERSION } : {}),
    apiDomain: config.ZOHO_API_DOMAIN,
    ...(parts.budget ? { requestTimeoutMs: parts.budget.zohoRequestMs } : {}),
    ...(parts.fetch ? { fetch: parts.fetch } : {}),
  });
}

// ------------------------------------------------------------------------------------------- core

export type Tables = Record<TableRole, Table>;

/** The stores over the tables: the two state machines, the idempotency keys, the schedules' state. */
export function stores(tables: Tables, timing: Timing, now: () => number = Date.now) {
  const jobs = new JobStore(tables.jobs, now, timing.retentionSeconds);
  return {
    jobs,
    exports: new ExportStore(tables.exports, jobs, now, timing.retentionSeconds),
    idempotency: new IdempotencyStore(tables.state, now),
    schedules: new ScheduleStore(tables.state, now),
  };
}

/** What every function reads; the optional settings are read when its spec has them. */
export type CoreConfig = ZohoConfig &
  Pick<Settings, 'POLL_INTERVAL_SECONDS' | 'RETENTION_DAYS' | 'ZOHO_MAX_CONCURRENT_JOBS'> &
  Partial<
    Pick<
      Settings,
      | 'MAX_JOB_AGE_HOURS'
      | 'S3_PREFIX'
      | 'OUTPUT_FORMATS'
      | 'SCHEDULES'
      | 'PARQUET_COMPRESSION'
      | 'EXPORT_LINKING_MODULES'
    >
  > & {
    BUCKET?: string;
  };

export interface CoreParts {
  tables: Tables;
  credentials: CredentialsProvider;
  logger: Logger;
  metrics: MetricsSink;
  budget?: WaitBudget;
  now?: () => number;
  fetch?: FetchFn;
  tokenKey?: string;
}

/** One function's validated config, timing, stores and Zoho client: what every builder below starts from. */
export interface Core<C extends CoreConfig = CoreConfig> extends ReturnType<typeof stores> {
  config: C;
  timing: Timing;
  tables: Tables;
  /** Every job this function creates holds one of the shared slots (`ZOHO_MAX_CONCURRENT_JOBS`). */
  zoho: ZohoClient;
  jobSlots: JobSlots;
  logger: Logger;
  metrics: MetricsSink;
  budget?: WaitBudget;
  now?: () => number;
}

export function wiringCore<C extends CoreConfig>(config: C, parts: CoreParts): Core<C> {
  const timing = sharedTiming(config);
  // A bound slot outlives its job by two poll intervals at most: by then the poller has expired it.
  const jobSlots = new JobSlots(parts.tables.state, {
    cap: config.ZOHO_MAX_CONCURRENT_JOBS,
    jobLeaseMs: timing.maxAgeMs + 2 * timing.baseMs,
    ...(parts.now ? { now: parts.now } : {}),
  });
  const zoho = zohoClient(config, {
    state: parts.tables.state,
    credentials: parts.credentials,
    metrics: parts.metrics,
    ...(parts.budget ? { budget: parts.budget } : {}),
    ...(parts.fetch ? { fetch: parts.fetch } : {}),
    ...(parts.now ? { now: parts.now } : {}),
    ...(parts.tokenKey ? { tokenKey: parts.tokenKey } : {}),
  });
  return {
    config,
    timing,
    tables: parts.tables,
    ...stores(parts.tables, timing, parts.now),
    zoho: withJobSlots(zoho, jobSlots, { metrics: parts.metrics, logger: parts.logger }),
    jobSlots,
    logger: parts.logger,
    metrics: parts.metrics,
    ...(parts.budget ? { budget: parts.budget } : {}),
    ...(parts.now ? { now: parts.now } : {}),
  };
}

// -------------------------------------------------------------------------------------- functions

/** Where an export's files, events and tables go, and how pages reach the converter. */
export interface ExportParts {
  s3?: S3Client;
  events?: EventPublisher;
  catalog?: Catalog;
  convert?: ConvertDispatch;
  callbacks?: CallbackWiring;
  random?: () => number;
}

/** What the exports, the poller and the downloader all take from the core as it is. */
function fromCore<C extends CoreConfig>(core: Core<C>) {
  return {
    config: core.config,
    timing: core.timing,
    jobs: core.jobs,
    zoho: core.zoho,
    logger: core.logger,
    metrics: core.metrics,
    ...(core.now ? { now: core.now } : {}),
  };
}

/** The exports' dependencies (the API, schedules, and the page hooks of the job pipeline). */
export function exportDeps<C extends CoreConfig>(core: Core<C>, parts: ExportParts = {}): ExportDeps {
  const { config } = core;
  return {
    ...fromCore(core),
    exports: core.exports,
    idempotency: core.idempotency,
    schedules: core.schedules,
    modules: moduleCatalog(core),
    ...(core.budget ? { idempotencyWaitMs: core.budget.idempotencyWaitMs } : {}),
    ...(config.SCHEDULES ? { scheduleDefinitions: config.SCHEDULES } : {}),
    ...(parts.s3 ? { s3: parts.s3 } : {}),
    ...(parts.events ? { events: parts.events } : {}),
    ...(parts.catalog ? { catalog: parts.catalog } : {}),
    ...(parts.convert ? { convert: parts.convert } : {}),
    ...(parts.callbacks ? { callbackUrl: parts.callbacks.url } : {}),
    ...(parts.random ? { random: parts.random } : {}),
  };
}

/**
 * Module discovery over the state table; with EXPORT_LINKING_MODULES, linking modules are candidates,
 * each proven by its probe job (lib/modules/probe.ts), whose refusal joins the refusal memory.
 */
function moduleCatalog<C extends CoreConfig>(core: Core<C>): ModuleCatalog {
  const { config } = core;
  const common = {
    ...(core.now ? { now: core.now } : {}),
    ...(config.ZOHO_API_VERSION ? { version: config.ZOHO_API_VERSION } : {}),
  };
  const linking = config.EXPORT_LINKING_MODULES === true;
  const catalog: ModuleCatalog = new ModuleCatalog({
    table: core.tables.state,
    zoho: core.zoho,
    ...common,
    classify: { linking },
    ...(linking
      ? {
          probe: new LinkingProbe({
            table: core.tables.state,
            zoho: core.zoho,
            recordRefusal: (m, code) => catalog.recordRefusal(m, code, PROBE_REFUSAL_CODES),
            log: (message, extra) => core.logger.warn(message, extra),
            ...common,
          }),
        }
      : {}),
  });
  return catalog;
}

/** The API's dependencies (`POST /exports` starts exports: OUTPUT_FORMATS and the API version are read). */
export function apiDeps<C extends CoreConfig & Pick<Settings, 'OUTPUT_FORMATS' | 'ZOHO_API_VERSION'>>(
  core: Core<C>,
  parts: ExportParts = {},
): ExportDeps & { logger: Logger } {
  return { ...exportDeps(core, parts), endsSnapshots: false };
}

/**
 * A schedule run's dependencies: the export start, and the schedules' state. Module discovery names
 * the org's subforms (custom ones too: `kind: "subform"`), which runs read whole (lib/schedules/subforms.ts).
 */
export function scheduleDeps(exports: ExportDeps, core: Pick<Core, 'schedules'>): ScheduleDeps {
  return { ...exports, schedules: core.schedules, isSubform: subformOf(exports.modules, exports.logger) };
}

/**
 * A subform: a known line-item module, or one discovery lists as `kind: "subform"` (custom subforms).
 * When discovery cannot answer (no `ZohoCRM.settings.modules.READ` scope, Zoho down), the known
 * line-item modules still count and the run goes on: a schedule that never needed discovery must not
 * start failing for want of it. The warning names the gap (a custom subform read incrementally).
 */
export const subformOf =
  (
    modules: { list(): Promise<{ modules: readonly { api_name: string; kind: string }[] }> } | undefined,
    logger?: Pick<Logger, 'warn'>,
  ) =>
  async (module: string): Promise<boolean> => {
    if (knownSubform(module) || modules === undefined) return knownSubform(module);
    try {
      return (await modules.list()).modules.some((m) => m.api_name === module && m.kind === 'subform');
    } catch (err) {
      logger?.warn('module discovery failed: only the known line-item modules count as subforms', {
        module,
        error: describeError(err),
      });
      return false;
    }
  };

type Dispatch = (msg: DownloadMessage, delayMs?: number) => Promise<void>;

/** The job pipeline's poller; with `exports`, the pages' hooks (and with `sweep`, the exports' safety net). */
export function pollDeps<C extends CoreConfig & PollDeps['config']>(
  core: Core<C>,
  parts: { dispatch: Dispatch; exports?: ExportDeps; sweep?: boolean; random?: () => number },
): PollDeps {
  const { exports } = parts;
  return {
    ...fromCore(core),
    dispatch: parts.dispatch,
    callbackHealth: new CallbackHealth(core.tables.state, core.now),
    jobSlots: core.jobSlots,
    ...(exports ? { pages: pageHooks(exports) } : {}),
    ...(exports && parts.sweep ? { sweep: (o: { deadline: number }) => sweepExports(exports, o) } : {}),
    ...(parts.random ? { random: parts.random } : {}),
  };
}

/** The downloader: streams a finished result into S3, its page hooks finishing the export. */
export function downloadDeps<
  C extends CoreConfig & DownloadDeps['config'] & Pick<Settings, 'DOWNLOADS_PER_MINUTE'>,
>(
  core: Core<C>,
  parts: { s3: S3Client; dispatch: Dispatch; exports?: ExportDeps; partSize?: number },
): DownloadDeps {
  return {
    ...fromCore(core),
    s3: parts.s3,
    budget: new DownloadBudget(core.tables.state, {
      perMinute: core.config.DOWNLOADS_PER_MINUTE,
      ...(core.now ? { now: core.now } : {}),
    }),
    dispatch: parts.dispatch,
    ...(parts.exports ? { pages: pageHooks(parts.exports) } : {}),
    ...(parts.partSize ? { partSize: parts.partSize } : {}),
  };
}

/** The Parquet converter: it writes under the bucket and prefix, so both are required here. */
export function convertDeps<
  C extends CoreConfig & { BUCKET: string } & Pick<Settings, 'S3_PREFIX' | 'PARQUET_COMPRESSION'>,
>(core: Core<C>, parts: ExportParts & { s3: S3Client }): ConvertDeps {
  return { ...exportDeps(core, parts), config: core.config, s3: parts.s3 };
}

/**
 * Zoho's callbacks: the token check, and the job pipeline's check of the job it names. The function is
 * internet-facing, so it deletes nothing: a recovery that would drop pages is left to the poller.
 */
export function callbackDeps(
  exports: ExportDeps,
  poll: PollDeps,
  callbacks: Pick<CallbackWiring, 'verify'>,
): CallbackDeps {
  const noDelete: ExportDeps = { ...exports, mayDelete: false, endsSnapshots: false };
  return {
    exports: noDelete,
    poll: { ...poll, ...(poll.pages ? { pages: pageHooks(noDelete) } : {}) },
    verify: callbacks.verify,
  };
}
