import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_NAMES, type FunctionName } from '../lib/config.js';
import {
  METRICS_NAMESPACE,
  type MetricName,
  OLDEST_RUNNING_EXPORT_METRIC,
  SCHEDULE_RUNS_FAILED_METRIC,
} from '../lib/contract.js';

const PERIOD = Duration.minutes(5);
const WIDTH = 24;
const HALF = 12;
const HEIGHT = 6;

export interface OperationsProps {
  /** Every Lambda function of the stack, labelled (errors, duration and throttles of each). */
  readonly functions: ReadonlyArray<{ label: string; fn: lambda.IFunction }>;
  /** Every dead-letter queue of the stack, labelled (depth of each). */
  readonly deadLetterQueues: ReadonlyArray<{ label: string; queue: sqs.IQueue }>;
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
 * The operations dashboard and the alarms that need the exporter's own gauges: an export stuck RUNNING,
 * a schedule run that failed, a poller that stopped running. Every EMF metric is summed over the
 * dimension sets the functions emit (`service` = the function's name, or none), so a metric that moves
 * from one function to another stays on the dashboard.
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

    // ------------------------------------------------------------------ dashboard
    const sums = (...names: MetricName[]) => names.map((n) => emfSum(n));
    const perFunction = (
      what: string,
      metricOf: (fn: lambda.IFunction) => cloudwatch.IMetric,
      unit?: string,
    ): cloudwatch.GraphWidget =>
      graph(
        what,
        props.functions.map(({ label, fn }) => withLabel(metricOf(fn), label)),
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
              `(namespace \`${METRICS_NAMESPACE}\`). The README section *Operations: dashboard and alarms* ` +
              'describes each widget and each alarm.',
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
              'and minutes without a token. **Download retries**: failed download attempts that will be ' +
              'tried again. **Callbacks**: Zoho completion callbacks accepted and rejected (bad token or body).',
          ),
        ],
        [
          graph(
            'Zoho status calls and token mints',
            sums('StatusChecks', 'TokenMints', 'ZohoTokenErrors'),
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
              'anything above 0 needs a look (see the README on redriving).',
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
 * Every dead-letter queue under `scope`: the queues another queue names in its redrive policy, and the
 * ones whose id says they are one (the schedule's, which EventBridge uses).
 */
export function deadLetterQueuesOf(scope: Construct): Array<{ label: string; queue: sqs.Queue }> {
  const queues = scope.node.findAll().filter((c): c is sqs.Queue => c instanceof sqs.Queue);
  const targets = new Set(queues.map((q) => q.deadLetterQueue?.queue));
  return queues
    .filter((q) => targets.has(q) || /DeadLetter/.test(q.node.id))
    .map((queue) => ({ label: queue.node.id, queue }));
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
