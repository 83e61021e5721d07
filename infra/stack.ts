import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { Analytics } from './analytics.js';
import { Api } from './api.js';
import type { ExporterConfig } from './config.js';
import type { ExporterFunction } from './function.js';
import { Functions } from './functions.js';
import { alarmTopics, Operations } from './operations.js';
import { Queues } from './queues.js';
import { Schedules } from './schedules.js';
import { Storage } from './storage.js';

export interface ZohoCrmBulkExportStackProps extends StackProps {
  readonly config: ExporterConfig;
}

/**
 * The exporter: storage (tables, bucket, secret, catalog), queues, the functions and what each may do
 * (infra/functions.ts), the HTTP API, the schedules, and operations (every alarm, the dashboard).
 */
export class ZohoCrmBulkExportStack extends Stack {
  public readonly jobsTable: dynamodb.Table;
  public readonly exportsTable: dynamodb.Table;
  public readonly stateTable: dynamodb.Table;
  public readonly bucket: s3.IBucket;
  public readonly secret: secretsmanager.ISecret;
  public readonly downloadQueue: sqs.Queue;
  public readonly downloadDeadLetterQueue: sqs.Queue;
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  public readonly apiFunction: ExporterFunction;
  public readonly pollFunction: ExporterFunction;
  public readonly downloadFunction: ExporterFunction;
  public readonly convertFunction: ExporterFunction;
  /** `POST /callbacks/zoho/{token}` (when callbacks are on). */
  public readonly callbackFunction: ExporterFunction | undefined;
  public readonly callbackSecret: secretsmanager.Secret | undefined;
  /** EventBridge Scheduler's target: one run of a schedule (when `schedules` has entries). */
  public readonly scheduleFunction: ExporterFunction | undefined;
  /** One EventBridge Scheduler schedule per entry of `schedules`, by name. */
  public readonly schedules: Record<string, scheduler.CfnSchedule>;
  public readonly convertQueue: sqs.Queue;
  public readonly convertDeadLetterQueue: sqs.Queue;
  public readonly glueDatabase: glue.CfnDatabase;
  public readonly api: apigwv2.HttpApi;
  public readonly alarmTopic: sns.Topic | undefined;
  public readonly operations: Operations;

  constructor(scope: Construct, id: string, props: ZohoCrmBulkExportStackProps) {
    super(scope, id, props);
    const { config } = props;
    // Grant S3 server-access-log delivery through a bucket policy (not the legacy LogDeliveryWrite ACL, which
    // needs ACLs enabled). Set here so `cdk synth` and the tests build the same template.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    // Storage, queues, API, functions and schedules build in the stack's own scope: their logical ids (the
    // retained tables and bucket, the queues' messages, the API's URL) are the ones deployed stacks have.
    const storage = new Storage(this, config);
    const queues = new Queues(this);
    // The API before the functions: Zoho's callbacks go to its URL.
    const api = new Api(this, config);
    const functions = new Functions(this, { config, storage, queues, callbacks: api.callbacks });
    api.serve(functions.api, functions.callback);
    const { schedules } = new Schedules(this, {
      config,
      pollFunction: functions.poll,
      scheduleFunction: functions.schedule,
      deadLetterQueue: queues.scheduleDeadLetterQueue,
    });

    new Analytics(this, 'Analytics', { config, bucket: storage.bucket, glueDatabase: config.glueDatabase });
    const alarms = alarmTopics(this, config);
    this.operations = new Operations(this, 'Operations', {
      functions: functions.all(),
      deadLetterQueues: [
        {
          label: 'DownloadDeadLetterQueue',
          queue: queues.download.deadLetterQueue,
          meaning: 'Download messages failed 3 times and reached the dead-letter queue',
        },
        {
          label: 'ConvertDeadLetterQueue',
          queue: queues.convert.deadLetterQueue,
          meaning: 'Conversion messages failed 3 times and reached the dead-letter queue',
        },
        {
          label: 'ScheduleDeadLetterQueue',
          queue: queues.scheduleDeadLetterQueue,
          meaning:
            'EventBridge could not invoke the poller, or Scheduler the schedule runner (events in the schedule dead-letter queue)',
        },
      ],
      api: api.api,
      pollFunction: functions.poll,
      pollEveryMinutes: config.pollSchedule,
      stuckExportHours: config.stuckExportHours,
      alarmActions: alarms.actions,
    });

    this.jobsTable = storage.jobsTable;
    this.exportsTable = storage.exportsTable;
    this.stateTable = storage.stateTable;
    this.bucket = storage.bucket;
    this.secret = storage.secret;
    this.glueDatabase = storage.glueDatabase;
    this.downloadQueue = queues.download.queue;
    this.downloadDeadLetterQueue = queues.download.deadLetterQueue;
    this.convertQueue = queues.convert.queue;
    this.convertDeadLetterQueue = queues.convert.deadLetterQueue;
    this.scheduleDeadLetterQueue = queues.scheduleDeadLetterQueue;
    this.apiFunction = functions.api;
    this.pollFunction = functions.poll;
    this.downloadFunction = functions.download;
    this.convertFunction = functions.convert;
    this.callbackFunction = functions.callback;
    this.scheduleFunction = functions.schedule;
    this.callbackSecret = api.callbacks?.key;
    this.schedules = schedules;
    this.api = api.api;
    this.alarmTopic = alarms.topic;

    this.outputs(config, api.stage.url);
  }

  private outputs(config: ExporterConfig, apiUrl: string): void {
    new CfnOutput(this, 'ApiUrl', { value: apiUrl, description: 'Jobs HTTP API base URL (SigV4 signed)' });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'JobsTableName', { value: this.jobsTable.tableName });
    new CfnOutput(this, 'StateTableName', { value: this.stateTable.tableName });
    new CfnOutput(this, 'SecretArn', { value: this.secret.secretArn });
    new CfnOutput(this, 'SecretName', {
      value: config.secretName ?? this.secret.secretName,
      description: 'Put {"client_id","client_secret","refresh_token"} of your Zoho self client here',
    });
    new CfnOutput(this, 'DownloadQueueUrl', { value: this.downloadQueue.queueUrl });
    new CfnOutput(this, 'ConvertQueueUrl', { value: this.convertQueue.queueUrl });
    new CfnOutput(this, 'GlueDatabaseName', {
      value: config.glueDatabase,
      description: 'Athena: SELECT ... FROM <database>.zoho_<module>',
    });
    if (this.alarmTopic) new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'DashboardUrl', {
      value: this.operations.dashboardUrl,
      description: 'CloudWatch dashboard',
    });
    new CfnOutput(this, 'StuckExportAlarmArn', { value: this.operations.stuckExportAlarm.alarmArn });
    new CfnOutput(this, 'ScheduleRunFailedAlarmArn', {
      value: this.operations.scheduleRunFailedAlarm.alarmArn,
    });
    new CfnOutput(this, 'PollerNotRunningAlarmArn', {
      value: this.operations.pollerNotRunningAlarm.alarmArn,
    });
  }
}
