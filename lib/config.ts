/**
 * Each function's environment, described once: the resources it is given (table names, queue URLs,
 * ...) and the settings it reads (lib/settings.ts). A function validates its environment at load with
 * `loadFunctionConfig` (a missing or bad variable fails the cold start with every problem named), and
 * the CDK stack builds the same function's environment with `envFor`, which can set nothing else and
 * must be given every resource: a variable that a function reads and the stack does not set cannot exist.
 */
import { z } from 'zod';
import { CodedError } from './errors.js';
import { parseSettings, SETTINGS, type SettingName, type Settings } from './settings.js';

export const RESOURCES = {
  JOBS_TABLE: 'the jobs table',
  EXPORTS_TABLE: 'the exports table',
  STATE_TABLE: 'the state table (shared access token, download budget, Zoho job slots, schedules)',
  BUCKET: 'the export bucket',
  DOWNLOAD_QUEUE_URL: 'the SQS queue the downloader consumes (deferred downloads come back through it)',
  CONVERT_QUEUE_URL: 'the SQS queue the Parquet converter consumes',
  ZOHO_SECRET_ARN: 'the Secrets Manager secret with the Zoho client and refresh token',
  CALLBACK_BASE_URL: "the base URL of Zoho's callbacks (the HTTP API's URL); unset: callbacks off",
  CALLBACK_SECRET_ARN: 'the Secrets Manager secret with the key that signs callback URLs',
} as const;
export type ResourceName = keyof typeof RESOURCES;

interface FunctionSpec {
  readonly resources: readonly ResourceName[];
  /** Resources the function uses when given (callbacks: both or neither). */
  readonly optional?: readonly ResourceName[];
  readonly settings: readonly SettingName[];
  /**
   * The Lambda timeout (s). The stack sets it from here, and every wait inside the function (Zoho
   * requests, the token lease, the idempotency wait, the download lease) is derived from it.
   */
  readonly timeoutSeconds: number;
}

/** Every function has a Zoho client; any that creates a job takes one of the shared job slots. */
const ZOHO = [
  'ZOHO_DATA_CENTER',
  'ZOHO_ACCOUNTS_URL',
  'ZOHO_API_DOMAIN',
  'ZOHO_MAX_CONCURRENT_JOBS',
] as const;
/** The functions that create Zoho jobs give them our callback URL, when callbacks are on. */
const CALLBACKS = ['CALLBACK_BASE_URL', 'CALLBACK_SECRET_ARN'] as const;

/** What a function that starts exports (and schedule runs) reads. */
const STARTS_EXPORTS = [
  ...ZOHO,
  'ZOHO_API_VERSION',
  'POLL_INTERVAL_SECONDS',
  'RETENTION_DAYS',
  'OUTPUT_FORMATS',
  'SCHEDULES',
  'EXPORT_LINKING_MODULES',
] as const;

/** What a function that checks jobs' status (the poller, the callback) reads. */
const CHECKS_JOBS = [
  ...ZOHO,
  'ZOHO_API_VERSION',
  'POLL_INTERVAL_SECONDS',
  'POLL_CONCURRENCY',
  'MAX_JOB_AGE_HOURS',
  'MAX_DOWNLOAD_ATTEMPTS',
  'RETENTION_DAYS',
] as const;

/** What the functions that move Zoho's results into S3 (the poller, the downloader) are given. */
const MOVES_RESULTS = [
  'JOBS_TABLE',
  'EXPORTS_TABLE',
  'STATE_TABLE',
  'BUCKET',
  'DOWNLOAD_QUEUE_URL',
  'CONVERT_QUEUE_URL',
  'ZOHO_SECRET_ARN',
] as const;

export const FUNCTIONS = {
  /** HTTP API (lib/api/routes.ts): exports, jobs, schedules; creates the first Zoho job of an export. */
  api: {
    resources: ['JOBS_TABLE', 'EXPORTS_TABLE', 'STATE_TABLE', 'CONVERT_QUEUE_URL', 'ZOHO_SECRET_ARN'],
    optional: CALLBACKS,
    settings: STARTS_EXPORTS,
    /** API Gateway's HTTP API waits at most 30 s for its integration: the API answers before that. */
    timeoutSeconds: 29,
  },
  /**
   * EventBridge Scheduler's target: starts one run of a schedule (lib/schedules/run.ts), the same
   * export start as `POST /exports`, skipped while the schedule's previous run is still running.
   */
  'run-schedule': {
    resources: ['JOBS_TABLE', 'EXPORTS_TABLE', 'STATE_TABLE', 'ZOHO_SECRET_ARN'],
    optional: CALLBACKS,
    settings: STARTS_EXPORTS,
    timeoutSeconds: 60,
  },
  /** Scheduled poller: status checks, follow-up pages, download dispatch, expiry, the exports' sweep (manifests, events). */
  'poll-jobs': {
    resources: MOVES_RESULTS,
    optional: CALLBACKS,
    /** PARQUET_COMPRESSION: the sweep may finalize an export, writing its deletions file as Parquet. */
    settings: ['S3_PREFIX', 'GLUE_DATABASE', 'PARQUET_COMPRESSION', ...CHECKS_JOBS],
    timeoutSeconds: 300,
  },
  /** SQS consumer: streams one finished result into S3; completes its export when it was the last page. */
  'download-result': {
    resources: MOVES_RESULTS,
    settings: [
      ...ZOHO,
      'POLL_INTERVAL_SECONDS',
      'MAX_DOWNLOAD_ATTEMPTS',
      'DOWNLOADS_PER_MINUTE',
      'S3_PREFIX',
      'RETENTION_DAYS',
    ],
    /** Lambda's maximum: a download streams up to 1 GB of CSV. */
    timeoutSeconds: 900,
  },
  /** SQS consumer: converts one landed CSV into typed Parquet; completes its export when it was the last. */
  'convert-parquet': {
    resources: [
      'JOBS_TABLE',
      'EXPORTS_TABLE',
      'STATE_TABLE',
      'BUCKET',
      'CONVERT_QUEUE_URL',
      'ZOHO_SECRET_ARN',
    ],
    settings: [
      ...ZOHO,
      'ZOHO_API_VERSION',
      'POLL_INTERVAL_SECONDS',
      'S3_PREFIX',
      'GLUE_DATABASE',
      'RETENTION_DAYS',
      'PARQUET_COMPRESSION',
    ],
    /** Lambda's maximum: a page of up to 200,000 records is converted in one invocation. */
    timeoutSeconds: 900,
  },
  /**
   * `POST /callbacks/zoho/{token}` (no IAM auth): checks the token, makes the job due and checks it at
   * once (a COMPLETED job's download is dispatched, a follow-up page created with its own callback).
   */
  'zoho-callback': {
    resources: [
      'JOBS_TABLE',
      'EXPORTS_TABLE',
      'STATE_TABLE',
      'DOWNLOAD_QUEUE_URL',
      'ZOHO_SECRET_ARN',
      'CALLBACK_BASE_URL',
      'CALLBACK_SECRET_ARN',
    ],
    settings: CHECKS_JOBS,
    timeoutSeconds: 25,
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof FUNCTIONS;
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];
type ResourcesOf<F extends FunctionName> = (typeof FUNCTIONS)[F]['resources'][number];
type OptionalOf<F extends FunctionName> = (typeof FUNCTIONS)[F] extends { optional: readonly (infer R)[] }
  ? R & ResourceName
  : never;
type SettingsOf<F extends FunctionName> = (typeof FUNCTIONS)[F]['settings'][number];

/** What a function knows after validating its environment. */
export type FunctionConfig<F extends FunctionName> = { [K in ResourcesOf<F>]: string } & {
  [K in OptionalOf<F>]?: string;
} & Pick<Settings, SettingsOf<F>>;

/** The deployment is misconfigured: a function's environment, or the stack's CDK context (infra/config.ts). */
export class ConfigError extends CodedError {
  override readonly name = 'ConfigError';
  constructor(message: string) {
    super({ code: 'INVALID_CONFIGURATION', kind: 'config', message });
  }
}

/** The zod schema of a function's environment (the resources are required, the settings defaulted). */
export function functionEnvSchema(fn: FunctionName): z.ZodObject {
  const spec: FunctionSpec = FUNCTIONS[fn];
  const shape: Record<string, z.ZodType> = {};
  for (const r of spec.resources) {
    shape[r] = z.string({ message: `${r} is required (${RESOURCES[r]})` }).min(1, `${r} is empty`);
  }
  for (const r of spec.optional ?? []) {
    shape[r] = z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional());
  }
  for (const s of spec.settings) shape[s] = SETTINGS[s].schema;
  return z.object(shape);
}

/** Every variable a function reads. */
export function variablesOf(fn: FunctionName): string[] {
  const spec: FunctionSpec = FUNCTIONS[fn];
  return [...spec.resources, ...(spec.optional ?? []), ...spec.settings];
}

const describeIssues = (e: z.ZodError): string =>
  e.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`).join('; ');

/** Parses a function's environment; a bad or missing variable fails at load with every problem named. */
export function loadFunctionConfig<F extends FunctionName>(
  fn: F,
  env: Record<string, string | undefined> = process.env,
): FunctionConfig<F> {
  const r = functionEnvSchema(fn).safeParse(env);
  if (!r.success) throw new ConfigError(`invalid configuration of ${fn}: ${describeIssues(r.error)}`);
  return r.data as FunctionConfig<F>;
}

/** The settings of the local stack or a test, validated; every problem named. */
export function loadSettings<N extends SettingName>(
  names: readonly N[],
  env: Record<string, string | undefined>,
): Pick<Settings, N> {
  try {
    return parseSettings(names, env);
  } catch (e) {
    if (e instanceof z.ZodError) throw new ConfigError(`invalid configuration: ${describeIssues(e)}`);
    throw e;
  }
}

/**
 * The environment of function `fn`: its resources, and each setting it reads taken from `settings`
 * (environment values derived from the deploy configuration; undefined = not set, the default applies).
 */
export function envFor<F extends FunctionName>(
  fn: F,
  resources: { [K in ResourcesOf<F>]: string } & { [K in OptionalOf<F>]?: string | undefined },
  settings: Partial<Record<SettingName, string | undefined>>,
): Record<string, string> {
  const spec: FunctionSpec = FUNCTIONS[fn];
  const env: Record<string, string> = {};
  for (const r of spec.resources) env[r] = (resources as Record<string, string>)[r]!;
  for (const r of spec.optional ?? []) {
    const v = (resources as Record<string, string | undefined>)[r];
    if (v !== undefined) env[r] = v;
  }
  for (const s of spec.settings) {
    const v = settings[s];
    if (v !== undefined) env[s] = v;
  }
  return env;
}

/** A job with our callback is polled at most every 30 poll intervals (others: every 10). */
export const CALLBACK_BACKOFF_CAP_FACTOR = 30;
/**
 * While callbacks are degraded (refused in bulk, or one was found missing: lib/callbacks/health.ts),
 * a job with our callback is polled at most every 2 poll intervals, so a flood of forged callbacks
 * delays no export by more than two poll intervals beyond what polling alone would take.
 */
export const DEGRADED_CALLBACK_CAP_FACTOR = 2;

/** Timing derived from the configuration: backoffs scale with the poll interval. */
export interface Timing {
  /** First re-check delay of a pending job, and the unit of every other backoff (ms). */
  baseMs: number;
  /** Cap of the pending-job backoff (ms). */
  capMs: number;
  /** Cap of the backoff of a job created with our callback URL (polling is its fallback only). */
  callbackCapMs: number;
  /** Maximum job age (ms). */
  maxAgeMs: number;
  /** How long a dispatched download may go unclaimed before the poller dispatches it again (ms). */
  dispatchGraceMs: number;
  /** How long a claimed download may run before another may take over (ms). */
  downloadLeaseMs: number;
  /** How long a claimed status check holds a job (ms). */
  checkLeaseMs: number;
  /** Zoho locks downloads for a minute after a 429: this never scales. */
  downloadLockMs: number;
  retentionSeconds: number;
}

export function timingFrom(
  config: Pick<Settings, 'POLL_INTERVAL_SECONDS' | 'RETENTION_DAYS'> &
    Partial<Pick<Settings, 'MAX_JOB_AGE_HOURS'>>,
  opts: { downloadTimeoutMs?: number } = {},
): Timing {
  const baseMs = config.POLL_INTERVAL_SECONDS * 1000;
  const downloadLeaseMs = (opts.downloadTimeoutMs ?? 15 * 60_000) + 60_000;
  return {
    baseMs,
    capMs: baseMs * 10,
    callbackCapMs: baseMs * CALLBACK_BACKOFF_CAP_FACTOR,
    maxAgeMs: (config.MAX_JOB_AGE_HOURS ?? SETTINGS.MAX_JOB_AGE_HOURS.schema.parse(undefined)) * 3_600_000,
    dispatchGraceMs: downloadLeaseMs + 2 * baseMs,
    downloadLeaseMs,
    checkLeaseMs: Math.max(2 * baseMs, 30_000),
    downloadLockMs: 60_000,
    retentionSeconds: config.RETENTION_DAYS * 86_400,
  };
}

/** The Lambda timeout of function `fn`, in ms (the stack's and the function's one figure). */
export const functionTimeoutMs = (fn: FunctionName): number => FUNCTIONS[fn].timeoutSeconds * 1000;
