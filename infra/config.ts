import { z } from 'zod';

/**
 * Deployment configuration, read from CDK context (`cdk.json` "context", or `npx cdk deploy -c key=value`).
 * Values given on the command line arrive as strings, so numbers are coerced; an empty string means "unset"
 * for the optional keys. Everything is validated here, before any construct is created, so a bad value fails
 * `cdk synth` with one readable message instead of a broken deployment.
 */

export const ZOHO_DATA_CENTERS = ['US', 'EU', 'IN', 'AU', 'JP', 'CA', 'SA', 'CN', 'UK'] as const;
export const ZOHO_API_VERSIONS = ['v2', 'v2.1', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8'] as const;

/** The retention periods CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Every context key this app reads, with its default (undefined = optional, no default). */
export const CONTEXT_DEFAULTS = {
  stackName: 'ZohoCrmBulkExport',
  zohoDataCenter: 'US',
  zohoAccountsUrl: undefined,
  zohoApiDomain: undefined,
  zohoApiVersion: 'v8',
  pollSchedule: 1,
  pollConcurrency: 5,
  maxJobAgeHours: 24,
  maxDownloadAttempts: 5,
  bucketName: undefined,
  s3Prefix: 'zoho-crm',
  retentionDays: 90,
  logRetentionDays: 30,
  secretName: undefined,
  alarmEmail: undefined,
  downloaderMemoryMb: 1024,
} as const;

export type ContextKey = keyof typeof CONTEXT_DEFAULTS;
export const CONTEXT_KEYS = Object.keys(CONTEXT_DEFAULTS) as ContextKey[];

/** Treat '' (e.g. `-c secretName=`) and null as "not set". */
const blankToUndefined = (value: unknown): unknown =>
  value === null || (typeof value === 'string' && value.trim() === '') ? undefined : value;

const trimmed = (value: unknown): unknown => (typeof value === 'string' ? value.trim() : value);

const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());

const int = (min: number, max: number) => z.preprocess(trimmed, z.coerce.number().int().min(min).max(max));

const httpsUrl = z
  .string()
  .trim()
  .regex(/^https:\/\/[^/\s?#]+(?::\d+)?\/?$/, 'must be an https origin such as https://accounts.zoho.eu')
  .transform((url) => url.replace(/\/$/, ''));

const schema = z.object({
  stackName: z
    .string()
    .trim()
    .regex(
      /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
      'must start with a letter and contain only letters, digits and -',
    ),
  zohoDataCenter: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toUpperCase() : v),
    z.enum(ZOHO_DATA_CENTERS),
  ),
  zohoAccountsUrl: optional(httpsUrl),
  zohoApiDomain: optional(httpsUrl),
  zohoApiVersion: z.preprocess(trimmed, z.enum(ZOHO_API_VERSIONS)),
  /** Poll schedule period in minutes (EventBridge `rate(n minutes)`). */
  pollSchedule: int(1, 60),
  pollConcurrency: int(1, 50),
  /** Same bounds as lib/config.ts (MAX_JOB_AGE_HOURS <= 30 days). */
  maxJobAgeHours: int(1, 720),
  maxDownloadAttempts: int(1, 50),
  bucketName: optional(
    z
      .string()
      .trim()
      .regex(
        /^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)',
      ),
  ),
  s3Prefix: z
    .string()
    .trim()
    .regex(
      /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/,
      "must be a key prefix without leading/trailing '/' or wildcards, e.g. zoho-crm or exports/zoho",
    )
    .max(200),
  /** TTL (days) of finished job records. */
  retentionDays: int(1, 3650),
  logRetentionDays: z.preprocess(
    trimmed,
    z.coerce.number().refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), {
      message: `must be one of the CloudWatch Logs retention values: ${LOG_RETENTION_DAYS.join(', ')}`,
    }),
  ),
  secretName: optional(
    z
      .string()
      .trim()
      .regex(
        /^[A-Za-z0-9/_+=.@-]{1,512}$/,
        'must be a Secrets Manager secret name (letters, digits, /_+=.@-)',
      ),
  ),
  alarmEmail: optional(z.string().trim().pipe(z.email('must be an e-mail address'))),
  downloaderMemoryMb: int(128, 10240),
});

export type ExporterConfig = z.infer<typeof schema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const describe = (value: unknown): string => {
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
};

/**
 * Validate raw context values (undefined means "use the default").
 * Throws a ConfigError that lists every bad key, its value and what is expected.
 */
export function parseConfig(raw: Partial<Record<ContextKey, unknown>>): ExporterConfig {
  const input: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const value = raw[key];
    input[key] = value === undefined ? CONTEXT_DEFAULTS[key] : value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '(config)');
    return `  - ${key} = ${describe(input[key])}: ${issue.message}`;
  });
  throw new ConfigError(
    `Invalid CDK context for the Zoho CRM bulk export stack:\n${lines.join('\n')}\n` +
      'Fix the value in cdk.json "context" or pass it with -c key=value.',
  );
}

/** Read every known key from CDK context (e.g. `app.node.tryGetContext`) and validate it. */
export function configFromContext(tryGetContext: (key: string) => unknown): ExporterConfig {
  const raw: Partial<Record<ContextKey, unknown>> = {};
  for (const key of CONTEXT_KEYS) raw[key] = tryGetContext(key);
  return parseConfig(raw);
}
