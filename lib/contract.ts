/**
 * Names the code and the CDK stack must agree on. Both import them from here (this module has no
 * dependencies), so an alarm can never drift from what the functions emit. Table and index names
 * are in lib/tables.ts, functions and their environments in lib/config.ts, routes in lib/api/routes.ts.
 */

/** CloudWatch namespace of the EMF metrics. */
export const METRICS_NAMESPACE = 'ZohoCrmBulkExport';

/** Counters the pipeline emits (the `service` dimension is the function's name). */
export type MetricName =
  | 'JobsFailed'
  | 'JobsExported'
  | 'StatusChecks'
  | 'Downloads'
  | 'DownloadRetries'
  | 'DownloadsDeferred'
  | 'DownloadThrottled'
  | 'TokenMints'
  | 'ZohoTokenErrors'
  /** A Zoho job create that waited: every slot of ZOHO_MAX_CONCURRENT_JOBS was held (lib/zoho/job-slots.ts). */
  | 'ZohoJobSlotsFull'
  | 'ExportsStarted'
  | 'ExportsCompleted'
  | 'ExportsFailed'
  /** Pages whose Zoho job was re-created after its result or page token expired (lib/exports/recovery.ts). */
  | 'PagesRecovered'
  | 'ExportRecords'
  | 'ExportDurationSeconds'
  | 'PagesConverted'
  | 'ConversionsFailed'
  | 'ConversionErrors'
  | 'ConversionLagSeconds'
  | 'CatalogTypeChanges'
  | 'BytesLanded'
  | 'OldestRunningExportAgeSeconds'
  | 'CallbackAccepted'
  | 'CallbackRejected'
  | 'ScheduleRunsStarted'
  | 'ScheduleRunsSkipped'
  | 'ScheduleRunsFailed'
  /** Items the poller's sweep failed on (each waits its backoff: lib/exports/sweep.ts). */
  | 'SweepItemsFailed'
  /** Poller ticks whose export-health gauge could not be computed or sent (functions/poll-jobs.ts). */
  | 'HealthMetricErrors';
export const JOBS_FAILED_METRIC: MetricName = 'JobsFailed';
export const TOKEN_ERRORS_METRIC: MetricName = 'ZohoTokenErrors';
export const EXPORTS_FAILED_METRIC: MetricName = 'ExportsFailed';

/** Metrics in seconds (every other one is a count). */
export const SECONDS_METRICS: ReadonlySet<MetricName> = new Set([
  'ExportDurationSeconds',
  'ConversionLagSeconds',
  'OldestRunningExportAgeSeconds',
]);

/** Metrics in bytes. */
export const BYTES_METRICS: ReadonlySet<MetricName> = new Set(['BytesLanded']);

/** The poller's gauge of the oldest RUNNING export (lib/exports/health.ts); the stuck-export alarm reads it. */
export const OLDEST_RUNNING_EXPORT_METRIC: MetricName = 'OldestRunningExportAgeSeconds';
export const SCHEDULE_RUNS_FAILED_METRIC: MetricName = 'ScheduleRunsFailed';

/**
 * A Zoho module API name: letters, digits and `_`, 1 to 100 characters. Here (no dependencies) so the
 * Zoho client, the export model and the CLI check the same shape.
 */
export const MODULE_PATTERN = /^[A-Za-z0-9_]{1,100}$/;
