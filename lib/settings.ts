/**
 * Every tunable of the product, defined once: its environment variable (what a function reads), its
 * CDK context key (what an operator sets at deploy time), its bounds and default. `infra/config.ts`
 * builds the context schema from this table, `lib/config.ts` the functions' environment schemas, and
 * `envFor` turns a validated deploy configuration into each function's environment, so a value the
 * operator sets always reaches every function that reads it.
 */
import { z } from 'zod';
import { zstdAvailable } from './analytics/node-zstd.js';
import { type ScheduleDefinition, schedulesSchema } from './schedules/definitions.js';
import { API_VERSIONS, DATA_CENTER_CODES, type DataCenter } from './zoho/data-centers.js';

/** An S3 key prefix: segments of letters, digits and `_.-`, joined by `/`, no leading or trailing `/`. */
export const S3_PREFIX_PATTERN = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
export const S3_PREFIX_RULE =
  "a key prefix of letters, digits and _.- segments joined by '/', without leading or trailing '/', e.g. zoho-crm or exports/zoho";

/** Blank strings and null mean "not set" (`-c secretName=`, `ZOHO_API_DOMAIN=`). */
const blankToUndefined = (v: unknown): unknown =>
  v === null || (typeof v === 'string' && v.trim() === '') ? undefined : v;
const trimmed = (v: unknown): unknown => (typeof v === 'string' ? v.trim() : v);

const int = (def: number, min: number, max: number) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).max(max).default(def));

const url = (protocols: RegExp, message: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .trim()
      .pipe(z.url({ protocol: protocols, message }))
      .transform((u) => u.replace(/\/+$/, ''))
      .optional(),
  );

/** An origin such as https://accounts.zoho.eu (the context rule: deployed, Zoho is always https). */
const httpsOrigin = z.preprocess(
  blankToUndefined,
  z
    .string()
    .trim()
    .regex(/^https:\/\/[^/\s?#]+(?::\d+)?\/?$/, 'must be an https origin such as https://accounts.zoho.eu')
    .transform((u) => u.replace(/\/$/, ''))
    .optional(),
);

/** The Parquet codecs an operator can choose (`PARQUET_COMPRESSION`). */
export const PARQUET_CODECS = ['zstd', 'snappy'] as const;
export type ParquetCodec = (typeof PARQUET_CODECS)[number];
const parquetCodec = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim().toLowerCase() || undefined : blankToUndefined(v)),
  z.enum(PARQUET_CODECS, { message: 'must be zstd or snappy' }).optional(),
);

interface SettingSpec {
  /** Runtime schema: parses the environment variable (a string) and applies the default. */
  readonly schema: z.ZodType;
  /** Deploy-time context key, when operators can set it with `-c key=value`. */
  readonly context?: {
    readonly key: string;
    /** When the context value is stricter or in other units than the variable. */
    readonly schema?: z.ZodType;
    readonly toEnv?: (v: never) => string | undefined;
  };
  readonly doc: string;
}

export const SETTINGS = {
  ZOHO_DATA_CENTER: {
    schema: z.preprocess(
      (v) => (typeof v === 'string' ? v.trim().toUpperCase() : blankToUndefined(v)),
      z.enum(DATA_CENTER_CODES as [DataCenter, ...DataCenter[]]).default('US'),
    ),
    context: { key: 'zohoDataCenter' },
    doc: 'Zoho data centre: US, EU, IN, AU, JP, CA, SA, CN, UK',
  },
  ZOHO_ACCOUNTS_URL: {
    schema: url(/^https?$/, 'must be an http(s) URL'),
    context: { key: 'zohoAccountsUrl', schema: httpsOrigin },
    doc: 'explicit accounts server (overrides the data centre)',
  },
  ZOHO_API_DOMAIN: {
    schema: url(/^https?$/, 'must be an http(s) URL'),
    context: { key: 'zohoApiDomain', schema: httpsOrigin },
    doc: "API domain override (otherwise the token response's api_domain)",
  },
  ZOHO_API_VERSION: {
    schema: z.preprocess(trimmed, z.enum(API_VERSIONS).default('v8')),
    context: { key: 'zohoApiVersion' },
    doc: 'Bulk Read API version for status checks and new jobs: v2, v2.1, v3 ... v8',
  },
  POLL_INTERVAL_SECONDS: {
    schema: int(60, 1, 3600),
    context: {
      key: 'pollSchedule',
      schema: int(1, 1, 60),
      toEnv: (minutes: number) => String(minutes * 60),
    },
    doc: 'poll period (context: minutes, 1-60; variable: seconds); backoffs and retry delays scale with it',
  },
  POLL_CONCURRENCY: {
    schema: int(5, 1, 50),
    context: { key: 'pollConcurrency' },
    doc: 'Zoho status checks in flight',
  },
  ZOHO_MAX_CONCURRENT_JOBS: {
    schema: int(5, 1, 25),
    context: { key: 'zohoMaxConcurrentJobs' },
    doc:
      'Zoho Bulk Read jobs in flight at once across every function (Zoho counts concurrency per user and OAuth client). ' +
      "Default 5: Zoho's API concurrency limit is 5 to 25 by edition and it documents no Bulk Read job limit, so the " +
      "lowest edition's figure is the one every org allows; raise it for a higher edition. A create beyond it waits " +
      "like Zoho's TOO_MANY_REQUESTS",
  },
  MAX_JOB_AGE_HOURS: {
    schema: int(24, 1, 720),
    context: { key: 'maxJobAgeHours' },
    doc: 'jobs not finished by then end FAILED with EXPIRED (Zoho results expire after a day)',
  },
  MAX_DOWNLOAD_ATTEMPTS: {
    schema: int(5, 1, 50),
    context: { key: 'maxDownloadAttempts' },
    doc: 'download tries before a job ends FAILED',
  },
  DOWNLOADS_PER_MINUTE: {
    schema: int(10, 1, 10),
    context: { key: 'downloadsPerMinute' },
    doc: 'download starts allowed in any 60 s (Zoho allows 10 per org)',
  },
  S3_PREFIX: {
    schema: z.preprocess(
      (v) => (v === undefined || v === null ? undefined : String(v).trim()),
      z.string().max(200).regex(S3_PREFIX_PATTERN, `must be ${S3_PREFIX_RULE}`).default('zoho-crm'),
    ),
    context: { key: 's3Prefix' },
    doc: 'key prefix of everything the exporter writes',
  },
  OUTPUT_FORMATS: {
    schema: z.preprocess(
      (v) => (Array.isArray(v) ? v.join(',') : blankToUndefined(v)),
      z
        .string()
        .default('csv,parquet')
        .transform((s) => [
          ...new Set(
            s
              .split(',')
              .map((x) => x.trim().toLowerCase())
              .filter(Boolean),
          ),
        ])
        .pipe(
          z
            .array(z.enum(['csv', 'parquet'], { message: 'formats are csv and parquet' }))
            .refine(
              (f) => f.includes('csv'),
              'csv is always written (the raw audit copy): give csv or csv,parquet',
            ),
        ),
    ),
    context: {
      key: 'outputFormats',
      toEnv: (formats: string[]) => formats.join(','),
    },
    doc: 'what each page is written as: csv (the raw copy, always) and parquet (typed, for analytics)',
  },
  GLUE_DATABASE: {
    schema: z.preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^[a-z0-9_]{1,200}$/, 'a Glue database name: lower-case letters, digits and _')
        .default('zoho_crm'),
    ),
    context: { key: 'glueDatabase' },
    doc: 'the Glue database of the analytics tables (zoho_<module>, zoho_exports)',
  },
  SCHEDULES: {
    schema: schedulesSchema,
    context: {
      key: 'schedules',
      toEnv: (list: ScheduleDefinition[]) => (list.length ? JSON.stringify(list) : undefined),
    },
    doc: 'scheduled exports: a JSON list of {name, module, fields?, criteria?, cvid?, mode, schedule, timezone?} (README: Schedules)',
  },
  PARQUET_COMPRESSION: {
    // Unset: zstd, which every Lambda runtime of the stack has (nodejs22.x); only a Node without
    // zlib zstd (Node 20: `npm start`, tests) falls back to snappy. Set to zstd there: a config error
    // at startup, never a silent change of codec.
    schema: parquetCodec.transform((v, ctx): ParquetCodec => {
      if (v === undefined) return zstdAvailable() ? 'zstd' : 'snappy';
      if (v === 'zstd' && !zstdAvailable()) {
        ctx.addIssue({
          code: 'custom',
          message: `zstd needs Node >= 22.15 (zlib zstd) and this is Node ${process.versions.node}: set snappy, or run on Node 22`,
        });
        return z.NEVER;
      }
      return v;
    }),
    context: { key: 'parquetCompression', schema: parquetCodec },
    doc: 'Parquet page codec: zstd (default: smaller and faster here; read by Athena, Spark 3, Redshift Spectrum, Snowflake) or snappy',
  },
  EXPORT_LINKING_MODULES: {
    // A boolean in cdk.json, a string on the command line and in the environment.
    schema: z
      .preprocess(
        (v) =>
          typeof v === 'boolean'
            ? String(v)
            : blankToUndefined(typeof v === 'string' ? v.trim().toLowerCase() : v),
        z.enum(['true', 'false'], { message: 'must be true or false' }).default('false'),
      )
      .transform((v) => v === 'true'),
    context: { key: 'exportLinkingModules' },
    doc: 'module discovery treats linking modules (behind multi-select lookups) as candidates, each proven by a one-time probe job (docs/analytics.md)',
  },
  RETENTION_DAYS: {
    schema: int(90, 1, 3650),
    context: { key: 'retentionDays' },
    doc: 'finished job records expire (DynamoDB TTL) after this many days',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;
export type Settings = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Context keys of the settings that have one. */
export type SettingContextKey = (typeof SETTINGS)[SettingName]['context']['key'];

/** The context schema of one setting (the variable's schema unless the context has its own). */
export function contextSchemaOf(name: SettingName): z.ZodType {
  const s: SettingSpec = SETTINGS[name];
  return s.context?.schema ?? s.schema;
}

/** The environment value of a setting, from its validated context value. */
export function settingToEnv(name: SettingName, contextValue: unknown): string | undefined {
  const s: SettingSpec = SETTINGS[name];
  if (contextValue === undefined) return undefined;
  const f = s.context?.toEnv as ((v: unknown) => string | undefined) | undefined;
  return f ? f(contextValue) : String(contextValue);
}

/** Validates the environment against the schemas of `names`, listing every problem at once. */
export function parseSettings<N extends SettingName>(
  names: readonly N[],
  env: Record<string, string | undefined>,
): Pick<Settings, N> {
  const shape: Record<string, z.ZodType> = {};
  for (const n of names) shape[n] = SETTINGS[n].schema;
  return z.object(shape).parse(env) as Pick<Settings, N>;
}
