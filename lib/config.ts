import { z } from 'zod';
import { API_VERSIONS, DATA_CENTER_CODES, type DataCenter } from './zoho/data-centers.js';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const optionalUrl = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .pipe(z.url({ protocol: /^https?$/ }).optional())
  .optional();

/** Everything any function reads from its environment, validated once at start-up. */
export const configSchema = z.object({
  JOBS_TABLE: z.string().min(1),
  STATE_TABLE: z.string().min(1),
  BUCKET: z.string().min(1).optional(),
  S3_PREFIX: z
    .string()
    .default('zoho-crm')
    .transform((s) => s.replace(/^\/+|\/+$/g, ''))
    .pipe(
      z.string().regex(/^[A-Za-z0-9!_.*'()\-/=]*$/, "S3_PREFIX may hold only letters, digits and !_.*'()-/="),
    ),
  DOWNLOAD_QUEUE_URL: z.string().min(1).optional(),
  ZOHO_SECRET_ARN: z.string().min(1).optional(),
  ZOHO_DATA_CENTER: z
    .string()
    .default('US')
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(DATA_CENTER_CODES as [DataCenter, ...DataCenter[]])),
  ZOHO_ACCOUNTS_URL: optionalUrl,
  ZOHO_API_DOMAIN: optionalUrl,
  ZOHO_API_VERSION: z.enum(API_VERSIONS).default('v8'),
  POLL_CONCURRENCY: int(5, 1, 50),
  POLL_INTERVAL_SECONDS: z.coerce.number().positive().max(3600).default(60),
  MAX_JOB_AGE_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(24),
  MAX_DOWNLOAD_ATTEMPTS: int(5, 1, 50),
  RETENTION_DAYS: int(90, 1, 3650),
  DOWNLOADS_PER_MINUTE: int(10, 1, 10),
});
export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; a bad or missing variable fails at start-up with every problem named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = configSchema.safeParse(env);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return r.data;
}

/** Timing derived from the configuration: backoffs scale with the poll interval. */
export interface Timing {
  /** First re-check delay of a pending job, and the unit of every other backoff (ms). */
  baseMs: number;
  /** Cap of the pending-job backoff (ms). */
  capMs: number;
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
  config: Pick<Config, 'POLL_INTERVAL_SECONDS' | 'MAX_JOB_AGE_HOURS' | 'RETENTION_DAYS'>,
  opts: { downloadTimeoutMs?: number } = {},
): Timing {
  const baseMs = config.POLL_INTERVAL_SECONDS * 1000;
  const downloadLeaseMs = (opts.downloadTimeoutMs ?? 15 * 60_000) + 60_000;
  return {
    baseMs,
    capMs: baseMs * 10,
    maxAgeMs: config.MAX_JOB_AGE_HOURS * 3_600_000,
    dispatchGraceMs: downloadLeaseMs + 2 * baseMs,
    downloadLeaseMs,
    checkLeaseMs: Math.max(2 * baseMs, 30_000),
    downloadLockMs: 60_000,
    retentionSeconds: config.RETENTION_DAYS * 86_400,
  };
}
