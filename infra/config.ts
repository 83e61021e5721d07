import { z } from 'zod';
import { ConfigError } from '../lib/config.js';
import {
  contextSchemaOf,
  SETTING_NAMES,
  SETTINGS,
  type SettingContextKey,
  type SettingName,
  settingToEnv,
} from '../lib/settings.js';

/**
 * Deployment configuration, read from CDK context (`cdk.json` "context", or `npx cdk deploy -c key=value`).
 * The keys that reach the functions come from lib/settings.ts (one definition for the stack and the
 * code); the others shape the stack itself. Values given on the command line arrive as strings, so
 * numbers are coerced; an empty string means "unset" for the optional keys. Everything is validated here,
 * before any construct is created, so a bad value fails `cdk synth` with one readable message.
 */

/** The retention periods CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const blankToUndefined = (value: unknown): unknown =>
  value === null || (typeof value === 'string' && value.trim() === '') ? undefined : value;
const trimmed = (value: unknown): unknown => (typeof value === 'string' ? value.trim() : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
const int = (def: number, min: number, max: number) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).max(max).default(def));

/** Context keys that shape the stack and do not reach any function. */
const STACK_KEYS = {
  stackName: z.preprocess(
    blankToUndefined,
    z
      .string()
      .trim()
      .regex(
        /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
        'must start with a letter and contain only letters, digits and -',
      )
      .default('ZohoCrmBulkExport'),
  ),
  bucketName: optional(
    z
      .string()
      .trim()
      .regex(
        /^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)',
      ),
  ),
  logRetentionDays: z.preprocess(
    (v) => trimmed(blankToUndefined(v)),
    z.coerce
      .number()
      .default(30)
      .refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), {
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
  /** Zoho calls back when a job it runs for an export finishes (false: polling only). */
  callbacks: z.preprocess(
    (v) => {
      const b = blankToUndefined(v);
      return typeof b === 'string' ? b.trim().toLowerCase() : b;
    },
    z
      .union([z.boolean(), z.enum(['true', 'false']).transform((s) => s === 'true')], {
        message: 'must be true or false',
      })
      .default(true),
  ),
  /** The base URL Zoho's callbacks go to (default: the HTTP API's own URL), e.g. behind a custom domain. */
  callbackBaseUrl: optional(
    z
      .string()
      .trim()
      .regex(
        /^https:\/\/[^\s?#]+$/,
        'must be an https URL without query or fragment, such as https://api.example.com/zoho',
      )
      .transform((u) => u.replace(/\/+$/, '')),
  ),
  /** An existing SNS topic the alarms notify as well (e.g. a chat or paging integration). */
  alarmTopicArn: optional(
    z
      .string()
      .trim()
      .regex(
        /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/,
        'must be an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:alarms',
      ),
  ),
  /** The stuck-export alarm fires when an export has been RUNNING longer than this (1 h to 7 days). */
  stuckExportHours: int(6, 1, 168),
  /**
   * The export bucket is versioned: an overwritten or deleted object's previous version is kept this many
   * days (1 to 10 years), so neither a re-conversion nor a delete loses data for good.
   */
  noncurrentVersionDays: int(30, 1, 3650),
  downloaderMemoryMb: int(1024, 128, 10240),
  converterMemoryMb: int(1769, 128, 10240),
} as const;

/** The context key of each setting, and back. */
const SETTING_OF_KEY = Object.fromEntries(SETTING_NAMES.map((n) => [SETTINGS[n].context.key, n])) as Record<
  SettingContextKey,
  SettingName
>;

const schema = z.object({
  ...STACK_KEYS,
  ...(Object.fromEntries(SETTING_NAMES.map((n) => [SETTINGS[n].context.key, contextSchemaOf(n)])) as Record<
    SettingContextKey,
    z.ZodType
  >),
});

type StackKeys = { [K in keyof typeof STACK_KEYS]: z.output<(typeof STACK_KEYS)[K]> };
/** The validated deployment configuration: the stack's own keys and every setting's context value. */
export type ExporterConfig = StackKeys & {
  [K in SettingName as (typeof SETTINGS)[K]['context']['key']]: (typeof SETTINGS)[K]['context'] extends {
    schema: z.ZodType;
  }
    ? z.output<(typeof SETTINGS)[K]['context']['schema']>
    : z.output<(typeof SETTINGS)[K]['schema']>;
};

export type ContextKey = keyof ExporterConfig;
export const CONTEXT_KEYS = [...Object.keys(STACK_KEYS), ...Object.keys(SETTING_OF_KEY)] as ContextKey[];

// One ConfigError for a function's environment and the stack's context.
export { ConfigError };

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
  for (const key of CONTEXT_KEYS) input[key] = raw[key];
  const result = schema.safeParse(input);
  if (result.success) return result.data as ExporterConfig;
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

/** The environment value of every setting, from the validated configuration (undefined: not set). */
export function settingsEnv(config: ExporterConfig): Record<SettingName, string | undefined> {
  const out = {} as Record<SettingName, string | undefined>;
  const values: Record<string, unknown> = config;
  for (const n of SETTING_NAMES) out[n] = settingToEnv(n, values[SETTINGS[n].context.key]);
  return out;
}
