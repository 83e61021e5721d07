import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_NAMES, type FunctionName } from '../lib/config.js';
import {
  JOBS_FAILED_METRIC,
  METRICS_NAMESPACE,
  type MetricName,
  OLDEST_RUNNING_EXPORT_METRIC,
  SCHEDULE_RUNS_FAILED_METRIC,
  TOKEN_ERRORS_METRIC,
} from '../lib/contract.js';
import type { ExporterConfig } from './config.js';
import type { ExporterFunction } from './function.js';

const PERIOD = Duration.minutes(5);
const WIDTH = 24;
const HALF = 12;
const HEIGHT = 6;

/** What an errors alarm of each function says. */
const FUNCTION_FAILED: Record<FunctionName, string> = {
  api: 'The HTTP API function failed',
  'run-schedule': 'The schedule runner function failed (a scheduled export may not have started)',
  'poll-jobs': 'The poller function failed',
  'download-result': 'The download function failed',
  'convert-parquet': 'The Parquet converter function failed',
  'zoho-callback': 'The Zoho callback function failed',
};

export interface DeadLetterQueue {
  /** Its construct id: the dashboard's label, and the alarm's id (`<label>Alarm`). */
  readonly label: string;
  readonly queue: sqs.IQueue;
  /** What a message there means (the alarm's description). */
  readonly meaning: string;
}

export interface OperationsProps {
  /** Every Lambda function of the stack (an errors alarm each; errors, duration and throttles graphed). */
  readonly functions: readonly ExporterFunction[];
  /** Every dead-letter queue of the stack (an alarm each; depth graphed). */
  readonly deadLetterQueues: readonly DeadLetterQueue[];
  /** The HTTP API: an alarm on its 5xx responses. */
  readonly api: apigwv2.HttpApi;
  /** The poller: the stuck-export gauge comes from it, and it must keep running. */
  readonly pollFunction: lambda.IFunction;
  /** How often the poller runs (minutes). */
  readonly pollEveryMinutes: number;
  /** The stuck-export alarm fires when an export has been RUNNING longer than this. */
  readonly stuckExportHours: number;
  /** What every alarm notifies (SNS), if anything. */
  readonly alarmActions: readonly cloudwatch.IAlarmAction[];
}

/**
 * Every alarm of the stack and the operations dashboard. Alarms: each function's errors, each dead-letter
 * queue, the API's 5xx, failed jobs, missing Zoho tokens, and the exporter's own gauges (an export stuck
 * RUNNING, a schedule run that failed, a poller that stopped running). Every EMF metric is summed over the
 * dimension sets the functions emit (`service` = the function's name, or none), so a metric that moves
 * from one function to another stays on the dashboard and in its alarm.
 */
export class Operations extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly stuckExportAlarm: cloudwatch.Alarm;
  readonly scheduleRunFailedAlarm: cloudwatch.Alarm;
  readonly pollerNotRunningAlarm: cloudwatch.Alarm;
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const thresholdSeconds = props.stuckExportHours * 3600;
    const oldestRunning = emfMetric(OLDEST_RUNNING_EXPORT_METRIC, 'Maximum', 'poll-jobs');

    // ------------------------------------------------------------------ alarms
    this.stuckExportAlarm = new cloudwatch.Alarm(this, 'StuckExportAlarm', {
      metric: oldestRunning,
      threshold: thresholdSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      // No point means the poller did not run: PollerNotRunningAlarm (and the poller's error alarm) say so.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `An export has been RUNNING for more than ${props.stuckExportHours} h (stuckExportHours): GET /exports?status=RUNNING, oldest first`,
    });
    this.scheduleRunFailedAlarm = new cloudwatch.Alarm(this, 'ScheduleRunFailedAlarm', {
      metric: emfSum(SCHEDULE_RUNS_FAILED_METRIC),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'A scheduled export run failed (ScheduleRunsFailed >= 1)',
    });
    // No invocation in three poll intervals (at least 15 minutes) means the schedule stopped invoking it.
    const silence = Duration.minutes(Math.max(15, 3 * props.pollEveryMinutes));
    this.pollerNotRunningAlarm = new cloudwatch.Alarm(this, 'PollerNotRunningAlarm', {
      metric: props.pollFunction.metricInvocations({ period: silence, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `The poller was not invoked for ${silence.toMinutes()} minutes: nothing is checked, dispatched or swept, and the stuck-export gauge is not measured`,
    });
    for (const alarm of [this.stuckExportAlarm, this.scheduleRunFailedAlarm, this.pollerNotRunningAlarm])
      for (const action of props.alarmActions) alarm.addAlarmAction(action);

    /** Fires on one bad period (or `periods` in a row): value >= 1, no data is fine. */
    const atLeastOne = (alarmId: string, metric: cloudwatch.IMetric, description: string, periods = 1) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      for (const action of props.alarmActions) created.addAlarmAction(action);
    };
    for (const fn of props.functions) {
      atLeastOne(
        `${fn.node.id.replace(/Function$/, '')}ErrorsAlarm`,
        fn.metricErrors({ period: PERIOD, statistic: 'Sum' }),
        FUNCTION_FAILED[fn.exporter],
      );
    }
    for (const { label, queue, meaning } of props.deadLetterQueues) {
      atLeastOne(
        `${label}Alarm`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
        meaning,
      );
    }
    atLeastOne(
      'ApiServerErrorsAlarm',
      props.api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
      'The jobs HTTP API returned 5xx responses',
    );
    atLeastOne('JobsFailedAlarm', emfSum(JOBS_FAILED_METRIC), 'At least one export job ended FAILED');
    // A token throttle clears within 10 minutes; 15 minutes in a row means bad credentials in the
    // secret, a revoked refresh token or a wrong data centre: every job waits until that is fixed.
    atLeastOne(
      'ZohoTokenErrorsAlarm',
      emfSum(TOKEN_ERRORS_METRIC),
      'No Zoho access token for 15 minutes (credentials, refresh token or data centre); jobs are waiting',
      3,
    );

    // ------------------------------------------------------------------ dashboard
    const sums = (...names: MetricName[]) => names.map((n) => emfSum(n));
    const perFunction = (
      what: string,
      metricOf: (fn: lambda.IFunction) => cloudwatch.IMetric,
      unit?: string,
    ): cloudwatch.GraphWidget =>
      graph(
        what,
        props.functions.map((fn) => withLabel(metricOf(fn), fn.node.id)),
        HALF,
        unit,
      );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          text(
            '# Zoho CRM bulk export: operations\n' +
              'Every figure is per 5 minutes. Counts are summed over the functions that emit them ' +
              `(namespace \`${METRICS_NAMESPACE}\`). docs/operations.md lists each metric and ` +
              'each alarm, with what to do.',
          ),
        ],
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms: stuck export, failed schedule run, poller not running',
            alarms: [this.stuckExportAlarm, this.scheduleRunFailedAlarm, this.pollerNotRunningAlarm],
            width: WIDTH,
            height: 3,
          }),
        ],
        [
          text(
            '**Exports**: started (API, registered jobs, schedules), completed (manifest written), failed ' +
              '(a page failed). **Oldest RUNNING export**: measured by the poller each tick, 0 when none ' +
              `runs; the line is the stuck-export threshold (${props.stuckExportHours} h).`,
          ),
        ],
        [
          graph(
            'Exports started / completed / failed',
            sums('ExportsStarted', 'ExportsCompleted', 'ExportsFailed'),
          ),
          graph(
            'Oldest RUNNING export (seconds)',
            [withLabel(oldestRunning, 'oldest RUNNING export age')],
            HALF,
            'Seconds',
            [{ value: thresholdSeconds, label: `stuck after ${props.stuckExportHours} h`, color: '#d62728' }],
          ),
        ],
        [
          text(
            '**Jobs by status**: pages that reached EXPORTED or FAILED, and downloads finished. ' +
              '**Records and bytes landed**: records of completed exports, bytes of CSV pages landed in S3.',
          ),
        ],
        [
          graph('Jobs by status (transitions)', sums('JobsExported', 'JobsFailed', 'Downloads')),
          new cloudwatch.GraphWidget({
            title: 'Records and bytes landed',
            left: sums('ExportRecords'),
            right: sums('BytesLanded'),
            leftYAxis: { min: 0, label: 'records' },
            rightYAxis: { min: 0, label: 'bytes' },
            width: HALF,
            height: HEIGHT,
          }),
        ],
        [
          text(
            '**Zoho**: status calls (one per job check), access-token mints (Zoho allows 10 per 10 minutes) ' +
              'and minutes without a token, and job creates that waited for a slot (ZOHO_MAX_CONCURRENT_JOBS). **Download retries**: failed download attempts that will be ' +
              'tried again. **Callbacks**: Zoho completion callbacks accepted and rejected (bad token or body).',
          ),
        ],
        [
          graph(
            'Zoho status calls and token mints',
            sums('StatusChecks', 'TokenMints', 'ZohoTokenErrors', 'ZohoJobSlotsFull'),
            8,
          ),
          graph('Download retries', sums('DownloadRetries'), 8),
          graph('Callbacks accepted / rejected', sums('CallbackAccepted', 'CallbackRejected'), 8),
        ],
        [
          text(
            '**Conversion lag**: seconds from a page EXPORTED to its Parquet file written (maximum and ' +
              'average). **Conversions**: pages converted, conversions failed for good, values that could ' +
              'not be converted, catalog columns whose type changed.',
          ),
        ],
        [
          graph(
            'Parquet conversion lag (seconds)',
            [
              withLabel(emfMetric('ConversionLagSeconds', 'Maximum', 'convert-parquet'), 'maximum'),
              withLabel(emfMetric('ConversionLagSeconds', 'Average', 'convert-parquet'), 'average'),
            ],
            HALF,
            'Seconds',
          ),
          graph(
            'Conversions',
            sums('PagesConverted', 'ConversionsFailed', 'ConversionErrors', 'CatalogTypeChanges'),
          ),
        ],
        [
          text(
            '**Schedule runs**: started, skipped (the previous run still running), failed ' +
              '(ScheduleRunFailedAlarm). **Dead-letter queues**: messages waiting in each DLQ; ' +
              'anything above 0 needs a look (docs/operations.md says how to redrive).',
          ),
        ],
        [
          graph(
            'Schedule runs started / skipped / failed',
            sums('ScheduleRunsStarted', 'ScheduleRunsSkipped', 'ScheduleRunsFailed'),
          ),
          graph(
            'Dead-letter queue depth',
            props.deadLetterQueues.map(({ label, queue }) =>
              withLabel(
                queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
                label,
              ),
            ),
          ),
        ],
        [
          text(
            '**Functions**: errors (a crash, not a job failure), maximum duration (compare with the ' +
              'timeout), throttles (concurrency limits), one line per function.',
          ),
        ],
        [
          perFunction('Function errors', (fn) => fn.metricErrors({ period: PERIOD, statistic: 'Sum' })),
          perFunction('Function throttles', (fn) => fn.metricThrottles({ period: PERIOD, statistic: 'Sum' })),
        ],
        [
          perFunction(
            'Function duration (maximum, ms)',
            (fn) => fn.metricDuration({ period: PERIOD, statistic: 'Maximum' }),
            'Milliseconds',
          ),
        ],
      ],
    });

    const region = Stack.of(this).region;
    this.dashboardUrl = `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}

/**
 * The SNS actions every alarm notifies: a topic with `alarmEmail` subscribed (created in `scope`, the stack,
 * so its logical id and the confirmed subscription stay), and/or the existing `alarmTopicArn`.
 */
export function alarmTopics(
  scope: Construct,
  config: Pick<ExporterConfig, 'alarmEmail' | 'alarmTopicArn'>,
): { topic: sns.Topic | undefined; actions: cloudwatch.IAlarmAction[] } {
  let topic: sns.Topic | undefined;
  if (config.alarmEmail) {
    topic = new sns.Topic(scope, 'AlarmTopic', {
      displayName: 'Zoho CRM bulk export alarms',
      enforceSSL: true,
    });
    topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
  }
  const topics: sns.ITopic[] = [
    ...(topic ? [topic] : []),
    ...(config.alarmTopicArn
      ? [sns.Topic.fromTopicArn(scope, 'ExistingAlarmTopic', config.alarmTopicArn)]
      : []),
  ];
  return { topic, actions: topics.map((t) => new SnsAction(t)) };
}

const text = (markdown: string): cloudwatch.TextWidget =>
  new cloudwatch.TextWidget({ markdown, width: WIDTH, height: 2 });

function graph(
  title: string,
  left: cloudwatch.IMetric[],
  width = HALF,
  unit?: string,
  annotations: cloudwatch.HorizontalAnnotation[] = [],
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({
    title,
    left,
    leftYAxis: { min: 0, ...(unit ? { label: unit } : {}) },
    leftAnnotations: annotations,
    width,
    height: HEIGHT,
  });
}

function withLabel(metric: cloudwatch.IMetric, label: string): cloudwatch.IMetric {
  if (metric instanceof cloudwatch.Metric || metric instanceof cloudwatch.MathExpression)
    return metric.with({ label });
  return metric;
}

/** One EMF metric of one function (its `service` dimension). */
function emfMetric(metricName: MetricName, statistic: string, service: FunctionName): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    statistic,
    period: PERIOD,
    dimensionsMap: { service },
  });
}

/**
 * Sum of an EMF metric over no dimension and every `service` dimension, missing points as 0. The ids
 * carry the metric's name, so several sums can share one graph.
 */
export function emfSum(metricName: MetricName): cloudwatch.MathExpression {
  const base = metricName.charAt(0).toLowerCase() + metricName.slice(1);
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  const dimensionSets: Array<Record<string, string> | undefined> = [
    undefined,
    ...FUNCTION_NAMES.map((service) => ({ service })),
  ];
  dimensionSets.forEach((dimensionsMap, i) => {
    usingMetrics[`${base}${i}`] = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      statistic: 'Sum',
      period: PERIOD,
      ...(dimensionsMap ? { dimensionsMap } : {}),
    });
  });
  return new cloudwatch.MathExpression({
    label: metricName,
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    period: PERIOD,
  });
}
