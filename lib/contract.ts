/**
 * Names the code and the CDK stack must agree on. Both import them from here (this module has no
 * dependencies), so an alarm or an index can never drift from what the functions use.
 */

/** GSI of the jobs table: partition key `status`, sort key `next_check_at`. */
export const STATUS_INDEX = 'by-status';

/** CloudWatch namespace of the EMF metrics. */
export const METRICS_NAMESPACE = 'ZohoCrmBulkExport';

/** Counters the pipeline emits. */
export type MetricName =
  | 'JobsFailed'
  | 'JobsExported'
  | 'StatusChecks'
  | 'Downloads'
  | 'DownloadRetries'
  | 'TokenMints'
  | 'ZohoTokenErrors';
export const JOBS_FAILED_METRIC: MetricName = 'JobsFailed';
export const TOKEN_ERRORS_METRIC: MetricName = 'ZohoTokenErrors';

/**
 * Service names (the `service` dimension Powertools Metrics adds) of the functions that emit the
 * alarmed metrics; the alarms sum over them.
 */
export const METRIC_SERVICES = ['poll-jobs', 'download-result'] as const;
export type MetricService = (typeof METRIC_SERVICES)[number];
