import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import { API_ROUTES } from '../lib/api/routes.js';
import { CALLBACK_ROUTE } from '../lib/callbacks/http.js';
import { envFor, FUNCTION_NAMES } from '../lib/config.js';
import { JOBS_FAILED_METRIC, METRICS_NAMESPACE, TOKEN_ERRORS_METRIC } from '../lib/contract.js';
import { exportsTableInput, type TableInput } from '../lib/exports/catalog.js';
import { TABLES, type TableDefinition } from '../lib/tables.js';
import { type ExporterConfig, settingsEnv } from './config.js';
import { deadLetterQueuesOf, Operations } from './dashboard.js';
import { ExporterFunction } from './function.js';

export interface ZohoCrmBulkExportStackProps extends StackProps {
  readonly config: ExporterConfig;
}

const API_TIMEOUT = Duration.seconds(10);
/** A callback checks one job at once (one status call, maybe a follow-up page and a dispatch). */
const CALLBACK_TIMEOUT = Duration.seconds(25);
/** A schedule run creates one Zoho job (the token, the create call with its retries). */
const SCHEDULE_TIMEOUT = Duration.seconds(60);
const POLL_TIMEOUT = Duration.minutes(5);
const DOWNLOAD_TIMEOUT = Duration.minutes(15);
const CONVERT_TIMEOUT = Duration.minutes(15);
/**
 * AWS recommends a source-queue visibility timeout of at least 6x the function timeout: when the Lambda poller
 * is throttled it keeps retrying the invoke while the message stays invisible, and a shorter timeout would let
 * the message reappear (and count towards maxReceiveCount) while a download is still running. A crashed
 * download is recovered earlier than this by the poller, which re-dispatches jobs whose DOWNLOADING lease ran
 * out (the stale message is then ignored thanks to its dispatch_id), so the long timeout costs no latency.
 */
const DOWNLOAD_VISIBILITY_TIMEOUT = Duration.minutes(DOWNLOAD_TIMEOUT.toMinutes() * 6);
const DOWNLOAD_MAX_RECEIVE_COUNT = 3;
const API_THROTTLE = { rateLimit: 10, burstLimit: 20 };
/**
 * The callback route's own throttle: Zoho sends one callback per finished job (and retries a few on a
 * non-2xx), so 5 a second with bursts of 20 is far above real use and bounds what a flood can cost.
 */
export const CALLBACK_THROTTLE = { rateLimit: 5, burstLimit: 20 };
const ALARM_PERIOD = Duration.minutes(5);
/** Server access logs are kept a year, then expire. */
const ACCESS_LOG_EXPIRATION = Duration.days(365);

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
  public readonly schedules: Record<string, scheduler.CfnSchedule> = {};
  public readonly convertQueue: sqs.Queue;
  public readonly convertDeadLetterQueue: sqs.Queue;
  public readonly glueDatabase: glue.CfnDatabase;
  public readonly api: apigwv2.HttpApi;
  public readonly alarmTopic: sns.Topic | undefined;

  constructor(scope: Construct, id: string, props: ZohoCrmBulkExportStackProps) {
    super(scope, id, props);
    const { config } = props;
    // Grant S3 server-access-log delivery through a bucket policy (not the legacy LogDeliveryWrite ACL, which
    // needs ACLs enabled). Set here so `cdk synth` and the tests build the same template.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    const logRetention = config.logRetentionDays as logs.RetentionDays;

    // ---------------------------------------------------------------- DynamoDB (lib/tables.ts)
    this.jobsTable = this.table('JobsTable', TABLES.jobs);
    this.exportsTable = this.table('ExportsTable', TABLES.exports);
    // Only a cache (OAuth access token, refresh lease, download budget): safe to destroy.
    this.stateTable = this.table('StateTable', TABLES.state);

    // ---------------------------------------------------------------- S3
    this.bucket = config.bucketName
      ? s3.Bucket.fromBucketName(this, 'ExportBucket', config.bucketName)
      : this.createExportBucket();

    // ---------------------------------------------------------------- Zoho credentials
    this.secret = config.secretName
      ? secretsmanager.Secret.fromSecretNameV2(this, 'ZohoSecret', config.secretName)
      : this.createZohoSecret();

    // ---------------------------------------------------------------- SQS
    this.downloadDeadLetterQueue = new sqs.Queue(this, 'DownloadDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.downloadQueue = new sqs.Queue(this, 'DownloadQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: DOWNLOAD_VISIBILITY_TIMEOUT,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.downloadDeadLetterQueue, maxReceiveCount: DOWNLOAD_MAX_RECEIVE_COUNT },
    });
    this.convertDeadLetterQueue = new sqs.Queue(this, 'ConvertDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.convertQueue = new sqs.Queue(this, 'ConvertQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.minutes(CONVERT_TIMEOUT.toMinutes() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.convertDeadLetterQueue, maxReceiveCount: DOWNLOAD_MAX_RECEIVE_COUNT },
    });
    this.scheduleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // ---------------------------------------------------------------- Lambda functions
    // Each function's environment comes from lib/config.ts: its resources, and every setting it reads.
    const settings = settingsEnv(config);
    const secretArn = this.secret.secretArn;
    // The HTTP API first: Zoho's callbacks go to its URL (nothing in the API itself depends on a function).
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Zoho CRM bulk export jobs (SigV4 / IAM authorization; Zoho callbacks by signed URL)',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    // The key that signs callback URLs (lib/callbacks/token.ts): generated, never leaves Secrets Manager.
    this.callbackSecret = config.callbacks
      ? new secretsmanager.Secret(this, 'CallbackKey', {
          description: 'Zoho CRM bulk export: the key that signs the callback URLs given to Zoho (generated)',
          generateSecretString: { passwordLength: 64, excludePunctuation: true },
          removalPolicy: RemovalPolicy.DESTROY,
        })
      : undefined;
    const callbackEnv = this.callbackSecret
      ? {
          CALLBACK_BASE_URL: config.callbackBaseUrl ?? this.api.apiEndpoint,
          CALLBACK_SECRET_ARN: this.callbackSecret.secretArn,
        }
      : {};
    this.apiFunction = new ExporterFunction(this, 'ApiFunction', {
      name: 'api',
      description: 'Zoho CRM bulk export: the HTTP API (start and read exports, register and read jobs)',
      memorySize: 256,
      timeout: API_TIMEOUT,
      logRetention,
      environment: envFor(
        'api',
        {
          JOBS_TABLE: this.jobsTable.tableName,
          EXPORTS_TABLE: this.exportsTable.tableName,
          STATE_TABLE: this.stateTable.tableName,
          CONVERT_QUEUE_URL: this.convertQueue.queueUrl,
          ZOHO_SECRET_ARN: secretArn,
          ...callbackEnv,
        },
        settings,
      ),
    });
    this.pollFunction = new ExporterFunction(this, 'PollJobsFunction', {
      name: 'poll-jobs',
      description:
        'Zoho CRM bulk export: scheduled poller (checks job status, creates follow-up pages, dispatches downloads)',
      memorySize: 512,
      timeout: POLL_TIMEOUT,
      logRetention,
      environment: envFor(
        'poll-jobs',
        {
          JOBS_TABLE: this.jobsTable.tableName,
          EXPORTS_TABLE: this.exportsTable.tableName,
          STATE_TABLE: this.stateTable.tableName,
          BUCKET: this.bucket.bucketName,
          DOWNLOAD_QUEUE_URL: this.downloadQueue.queueUrl,
          CONVERT_QUEUE_URL: this.convertQueue.queueUrl,
          ZOHO_SECRET_ARN: secretArn,
          ...callbackEnv,
        },
        settings,
      ),
    });
    this.downloadFunction = new ExporterFunction(this, 'DownloadResultFunction', {
      name: 'download-result',
      description: 'Zoho CRM bulk export: streams a finished Zoho result (ZIP with one CSV) into S3',
      memorySize: config.downloaderMemoryMb,
      timeout: DOWNLOAD_TIMEOUT,
      logRetention,
      environment: envFor(
        'download-result',
        {
          JOBS_TABLE: this.jobsTable.tableName,
          EXPORTS_TABLE: this.exportsTable.tableName,
          STATE_TABLE: this.stateTable.tableName,
          BUCKET: this.bucket.bucketName,
          DOWNLOAD_QUEUE_URL: this.downloadQueue.queueUrl,
          CONVERT_QUEUE_URL: this.convertQueue.queueUrl,
          ZOHO_SECRET_ARN: secretArn,
        },
        settings,
      ),
    });

    this.convertFunction = new ExporterFunction(this, 'ConvertParquetFunction', {
      name: 'convert-parquet',
      description:
        'Zoho CRM bulk export: converts a landed CSV page into typed Parquet, completes its export',
      memorySize: config.converterMemoryMb,
      timeout: CONVERT_TIMEOUT,
      logRetention,
      environment: envFor(
        'convert-parquet',
        {
          JOBS_TABLE: this.jobsTable.tableName,
          EXPORTS_TABLE: this.exportsTable.tableName,
          STATE_TABLE: this.stateTable.tableName,
          BUCKET: this.bucket.bucketName,
          CONVERT_QUEUE_URL: this.convertQueue.queueUrl,
          ZOHO_SECRET_ARN: secretArn,
        },
        settings,
      ),
    });

    this.callbackFunction = this.callbackSecret
      ? new ExporterFunction(this, 'ZohoCallbackFunction', {
          name: 'zoho-callback',
          description:
            "Zoho CRM bulk export: Zoho's job callbacks (checks the signed token, then the job's status at once)",
          memorySize: 256,
          timeout: CALLBACK_TIMEOUT,
          logRetention,
          environment: envFor(
            'zoho-callback',
            {
              JOBS_TABLE: this.jobsTable.tableName,
              EXPORTS_TABLE: this.exportsTable.tableName,
              STATE_TABLE: this.stateTable.tableName,
              DOWNLOAD_QUEUE_URL: this.downloadQueue.queueUrl,
              ZOHO_SECRET_ARN: secretArn,
              CALLBACK_BASE_URL: config.callbackBaseUrl ?? this.api.apiEndpoint,
              CALLBACK_SECRET_ARN: this.callbackSecret.secretArn,
            },
            settings,
          ),
        })
      : undefined;

    this.scheduleFunction = config.schedules.length
      ? new ExporterFunction(this, 'RunScheduleFunction', {
          name: 'run-schedule',
          description:
            'Zoho CRM bulk export: starts one run of a schedule (full or incremental), skipped while the last runs',
          memorySize: 256,
          timeout: SCHEDULE_TIMEOUT,
          logRetention,
          environment: envFor(
            'run-schedule',
            {
              JOBS_TABLE: this.jobsTable.tableName,
              EXPORTS_TABLE: this.exportsTable.tableName,
              STATE_TABLE: this.stateTable.tableName,
              ZOHO_SECRET_ARN: secretArn,
              ...callbackEnv,
            },
            settings,
          ),
        })
      : undefined;

    // ---------------------------------------------------------------- Glue catalog (lib/exports/catalog.ts)
    this.glueDatabase = new glue.CfnDatabase(this, 'GlueDatabase', {
      catalogId: this.account,
      databaseInput: {
        name: config.glueDatabase,
        description:
          'Zoho CRM exports: zoho_<module> tables (typed Parquet) and zoho_exports (the manifests)',
      },
    });
    const exportsTable = new glue.CfnTable(this, 'ExportsGlueTable', {
      catalogId: this.account,
      databaseName: config.glueDatabase,
      tableInput: cfnTableInput(
        exportsTableInput({ bucket: this.bucket.bucketName, prefix: config.s3Prefix }),
      ),
    });
    exportsTable.addResourceDependency(this.glueDatabase);

    // ---------------------------------------------------------------- Least-privilege grants
    // The API starts exports (creates the first Zoho job: the token and the secret) and reads them.
    for (const t of [this.jobsTable, this.exportsTable, this.stateTable])
      t.grantReadWriteData(this.apiFunction);
    this.secret.grantRead(this.apiFunction);

    for (const t of [this.jobsTable, this.exportsTable, this.stateTable])
      t.grantReadWriteData(this.pollFunction);
    this.secret.grantRead(this.pollFunction);
    this.downloadQueue.grantSendMessages(this.pollFunction);

    for (const t of [this.jobsTable, this.exportsTable, this.stateTable])
      t.grantReadWriteData(this.downloadFunction);
    this.secret.grantRead(this.downloadFunction);
    // A download waiting for a slot of the shared budget comes back as a delayed message.
    this.downloadQueue.grantSendMessages(this.downloadFunction);
    // s3:PutObject (+ tagging/retention) and s3:Abort* (AbortMultipartUpload), only under the prefix.
    this.bucket.grantPut(this.downloadFunction, `${config.s3Prefix}/*`);
    // After an upload the downloader checks the stored size (HeadObject needs s3:GetObject) and deletes
    // an object that came out wrong, so nothing incomplete stays under a final key. Same prefix only.
    // (Exact actions: grantRead/grantDelete would add List*, GetBucket* and DeleteObject* wildcards.)
    this.downloadFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:DeleteObject'],
        resources: [this.bucket.arnForObjects(`${config.s3Prefix}/*`)],
      }),
    );
    // The downloader (last page landed) and the poller (its sweep) complete exports: they write the
    // manifest, only under the manifests prefix, and publish the completion event on the default bus.
    this.pollFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${config.s3Prefix}/_manifests/*`)],
      }),
    );
    // Incremental schedules: whoever completes the export lands its deletions file first (CSV, and
    // Parquet when it is on; the downloader's grant already covers the whole prefix).
    if (config.schedules.some((s) => s.mode === 'incremental')) {
      this.pollFunction.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [
            this.bucket.arnForObjects(`${config.s3Prefix}/deletions/*`),
            this.bucket.arnForObjects(`${config.s3Prefix}/parquet/deletions/*`),
          ],
        }),
      );
      this.convertFunction.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [this.bucket.arnForObjects(`${config.s3Prefix}/deletions/*`)],
        }),
      );
    }
    // Recovery from expiry (lib/exports/recovery.ts) may restart an export from page 1: the functions
    // that can start one (the poller, the callback; the downloader has it already) delete the files of
    // the pages it drops, so no stale page stays beside the final set. Delete only, under the prefix.
    for (const fn of [this.pollFunction, ...(this.callbackFunction ? [this.callbackFunction] : [])]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:DeleteObject'],
          resources: [this.bucket.arnForObjects(`${config.s3Prefix}/*`)],
        }),
      );
    }
    const defaultBus = events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    // The callback function checks a job at once: like the poller it may dispatch its download, create
    // the next page (with its own callback URL) or fail the export (its event).
    if (this.callbackFunction && this.callbackSecret) {
      for (const t of [this.jobsTable, this.exportsTable, this.stateTable])
        t.grantReadWriteData(this.callbackFunction);
      this.secret.grantRead(this.callbackFunction);
      this.downloadQueue.grantSendMessages(this.callbackFunction);
      defaultBus.grantPutEventsTo(this.callbackFunction);
      for (const fn of [this.apiFunction, this.pollFunction, this.callbackFunction])
        this.callbackSecret.grantRead(fn);
    }
    defaultBus.grantPutEventsTo(this.pollFunction);
    defaultBus.grantPutEventsTo(this.downloadFunction);
    defaultBus.grantPutEventsTo(this.convertFunction);

    // Pages go to the converter: from the downloader (a page landed), the poller (the sweep dispatches a
    // lost one again), the API (POST /exports/{id}/convert) and the converter itself (a retry later).
    for (const fn of [this.apiFunction, this.pollFunction, this.downloadFunction, this.convertFunction]) {
      this.convertQueue.grantSendMessages(fn);
    }
    // The converter reads the landed CSV, writes the Parquet file (and deletes one that came out wrong),
    // and completes exports (the manifest, the module's table).
    for (const t of [this.jobsTable, this.exportsTable, this.stateTable])
      t.grantReadWriteData(this.convertFunction);
    this.secret.grantRead(this.convertFunction);
    this.convertFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${config.s3Prefix}/*`)],
      }),
    );
    this.convertFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
        resources: [this.bucket.arnForObjects(`${config.s3Prefix}/parquet/*`)],
      }),
    );
    this.convertFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${config.s3Prefix}/_manifests/*`)],
      }),
    );
    // Module tables are created (and widened) when an export completes: that database's zoho_* tables only.
    const glueArn = (resource: string) =>
      Stack.of(this).formatArn({ service: 'glue', resource, resourceName: undefined });
    const gluePolicy = new iam.PolicyStatement({
      actions: ['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable'],
      resources: [
        glueArn('catalog'),
        Stack.of(this).formatArn({
          service: 'glue',
          resource: 'database',
          resourceName: config.glueDatabase,
        }),
        Stack.of(this).formatArn({
          service: 'glue',
          resource: 'table',
          resourceName: `${config.glueDatabase}/zoho_*`,
        }),
      ],
    });
    this.convertFunction.addToRolePolicy(gluePolicy);
    this.pollFunction.addToRolePolicy(gluePolicy);

    // ---------------------------------------------------------------- Triggers
    this.downloadFunction.addEventSource(
      // At most 5 downloads at once: Zoho allows 10 a minute per org, and each takes tens of seconds.
      new SqsEventSource(this.downloadQueue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: 5,
      }),
    );

    this.convertFunction.addEventSource(
      // Two conversions at once: each is CPU-bound and takes seconds to a minute per 200,000-record page.
      new SqsEventSource(this.convertQueue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: 2,
      }),
    );

    // One poller per tick is enough: every state change is a conditional write, so overlapping runs are safe.
    new events.Rule(this, 'PollSchedule', {
      description: 'Runs the Zoho CRM bulk export poller',
      schedule: events.Schedule.rate(Duration.minutes(config.pollSchedule)),
      targets: [
        new targets.LambdaFunction(this.pollFunction, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(2),
          deadLetterQueue: this.scheduleDeadLetterQueue,
        }),
      ],
    });

    // Schedules (context `schedules`, validated by lib/schedules/definitions.ts): one EventBridge
    // Scheduler schedule each, in its time zone, invoking the run-schedule function with its name. The
    // role may invoke that function only (and put a failed invocation into the schedules' DLQ).
    if (this.scheduleFunction) {
      for (const t of [this.jobsTable, this.exportsTable, this.stateTable])
        t.grantReadWriteData(this.scheduleFunction);
      this.secret.grantRead(this.scheduleFunction);
      this.callbackSecret?.grantRead(this.scheduleFunction);
      const role = new iam.Role(this, 'SchedulerRole', {
        description: 'EventBridge Scheduler: invokes the Zoho CRM bulk export schedule runner',
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
      });
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [this.scheduleFunction.functionArn],
        }),
      );
      this.scheduleDeadLetterQueue.grantSendMessages(role);
      config.schedules.forEach((def, i) => {
        this.schedules[def.name] = new scheduler.CfnSchedule(
          this,
          `Schedule${i}${def.name.replace(/[^A-Za-z0-9]/g, '')}`,
          {
            description: `Zoho CRM bulk export: schedule ${def.name} (${def.mode} export of ${def.module})`,
            scheduleExpression: def.schedule,
            scheduleExpressionTimezone: def.timezone,
            flexibleTimeWindow: { mode: 'OFF' },
            state: 'ENABLED',
            target: {
              arn: this.scheduleFunction!.functionArn,
              roleArn: role.roleArn,
              input: JSON.stringify({ schedule: def.name }),
              // A run that failed for a transient reason is tried again within the hour.
              retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
              deadLetterConfig: { arn: this.scheduleDeadLetterQueue.queueArn },
            },
          },
        );
      });
    }

    // ---------------------------------------------------------------- HTTP API (IAM auth)
    const accessLogGroup = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logRetention });
    const stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: API_THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.userArn',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    const integration = new HttpLambdaIntegration('ApiIntegration', this.apiFunction, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    // Exactly the routes the handler serves (lib/api/routes.ts).
    const byPath = new Map<string, apigwv2.HttpMethod[]>();
    for (const r of API_ROUTES)
      byPath.set(r.path, [...(byPath.get(r.path) ?? []), r.method as apigwv2.HttpMethod]);
    for (const [path, methods] of byPath) this.api.addRoutes({ path, methods, integration });
    if (this.callbackFunction) {
      // The one route without IAM authorization (Zoho cannot sign): the token in the path is an HMAC
      // the function checks, and the route has its own, lower throttle.
      const [route] = this.api.addRoutes({
        path: CALLBACK_ROUTE.path,
        methods: [apigwv2.HttpMethod.POST],
        integration: new HttpLambdaIntegration('CallbackIntegration', this.callbackFunction, {
          payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
        }),
        authorizer: new apigwv2.HttpNoneAuthorizer(),
      });
      acknowledge(
        route!,
        'AwsSolutions-APIG4',
        "Zoho's job callbacks cannot be signed: the route carries an HMAC token bound to one export page and " +
          'job (checked before anything is read or changed), and has its own throttle.',
      );
      const cfnStage = stage.node.defaultChild as apigwv2.CfnStage;
      cfnStage.routeSettings = {
        [`${CALLBACK_ROUTE.method} ${CALLBACK_ROUTE.path}`]: {
          ThrottlingRateLimit: CALLBACK_THROTTLE.rateLimit,
          ThrottlingBurstLimit: CALLBACK_THROTTLE.burstLimit,
        },
      };
    }

    // ---------------------------------------------------------------- Alarms
    if (config.alarmEmail) {
      this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
        displayName: 'Zoho CRM bulk export alarms',
        enforceSSL: true,
      });
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    }
    const alarmTopics: sns.ITopic[] = [
      ...(this.alarmTopic ? [this.alarmTopic] : []),
      ...(config.alarmTopicArn
        ? [sns.Topic.fromTopicArn(this, 'ExistingAlarmTopic', config.alarmTopicArn)]
        : []),
    ];
    const alarmActions = alarmTopics.map((t) => new SnsAction(t));
    const alarm = (
      alarmId: string,
      metric: cloudwatch.IMetric,
      description: string,
      periods = 1,
    ): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      for (const action of alarmActions) created.addAlarmAction(action);
      return created;
    };
    const dlqMetric = (queue: sqs.Queue) =>
      queue.metricApproximateNumberOfMessagesVisible({ period: ALARM_PERIOD, statistic: 'Maximum' });
    const errors = (fn: ExporterFunction) => fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' });

    alarm(
      'DownloadDeadLetterQueueAlarm',
      dlqMetric(this.downloadDeadLetterQueue),
      'Download messages failed 3 times and reached the dead-letter queue',
    );
    alarm(
      'ScheduleDeadLetterQueueAlarm',
      dlqMetric(this.scheduleDeadLetterQueue),
      'EventBridge could not invoke the poller (events in the schedule dead-letter queue)',
    );
    alarm('PollJobsErrorsAlarm', errors(this.pollFunction), 'The poller function failed');
    alarm('DownloadResultErrorsAlarm', errors(this.downloadFunction), 'The download function failed');
    alarm('ConvertParquetErrorsAlarm', errors(this.convertFunction), 'The Parquet converter function failed');
    alarm(
      'ConvertDeadLetterQueueAlarm',
      dlqMetric(this.convertDeadLetterQueue),
      'Conversion messages failed 3 times and reached the dead-letter queue',
    );
    alarm('ApiErrorsAlarm', errors(this.apiFunction), 'The HTTP API function failed');
    if (this.callbackFunction) {
      alarm('ZohoCallbackErrorsAlarm', errors(this.callbackFunction), 'The Zoho callback function failed');
    }
    alarm(
      'ApiServerErrorsAlarm',
      this.api.metricServerError({ period: ALARM_PERIOD, statistic: 'Sum' }),
      'The jobs HTTP API returned 5xx responses',
    );
    alarm('JobsFailedAlarm', emfSum(JOBS_FAILED_METRIC), 'At least one export job ended FAILED');
    // A token throttle clears within 10 minutes; 15 minutes in a row means bad credentials in the
    // secret, a revoked refresh token or a wrong data centre: every job waits until that is fixed.
    alarm(
      'ZohoTokenErrorsAlarm',
      emfSum(TOKEN_ERRORS_METRIC),
      'No Zoho access token for 15 minutes (credentials, refresh token or data centre); jobs are waiting',
      3,
    );

    // ---------------------------------------------------------------- Dashboard and its alarms (infra/dashboard.ts)
    const operations = new Operations(this, 'Operations', {
      functions: this.node
        .findAll()
        .filter((c): c is ExporterFunction => c instanceof ExporterFunction)
        .map((fn) => ({ label: fn.node.id, fn })),
      deadLetterQueues: deadLetterQueuesOf(this),
      pollFunction: this.pollFunction,
      pollEveryMinutes: config.pollSchedule,
      stuckExportHours: config.stuckExportHours,
      alarmActions,
    });

    // ---------------------------------------------------------------- cdk-nag suppressions
    this.acknowledgeNagFindings(config);

    // ---------------------------------------------------------------- Outputs
    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'Jobs HTTP API base URL (SigV4 signed)' });
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
      value: operations.dashboardUrl,
      description: 'CloudWatch dashboard',
    });
    new CfnOutput(this, 'StuckExportAlarmArn', { value: operations.stuckExportAlarm.alarmArn });
    new CfnOutput(this, 'ScheduleRunFailedAlarmArn', { value: operations.scheduleRunFailedAlarm.alarmArn });
    new CfnOutput(this, 'PollerNotRunningAlarmArn', { value: operations.pollerNotRunningAlarm.alarmArn });
  }

  private functions(): ExporterFunction[] {
    return [
      this.apiFunction,
      this.pollFunction,
      this.downloadFunction,
      this.convertFunction,
      ...(this.callbackFunction ? [this.callbackFunction] : []),
      ...(this.scheduleFunction ? [this.scheduleFunction] : []),
    ];
  }

  /** A table from its definition in lib/tables.ts: on-demand, AWS-managed encryption, TTL, PITR. */
  private table(id: string, def: TableDefinition): dynamodb.Table {
    const attr = (a: { name: string; type: 'S' | 'N' }): dynamodb.Attribute => ({
      name: a.name,
      type: a.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
    });
    const table = new dynamodb.Table(this, id, {
      partitionKey: attr(def.partitionKey),
      ...(def.sortKey ? { sortKey: attr(def.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: def.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: def.pointInTimeRecovery },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: def.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    for (const index of def.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: attr(index.partitionKey),
        ...(index.sortKey ? { sortKey: attr(index.sortKey) } : {}),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    return table;
  }

  private createExportBucket(): s3.Bucket {
    const accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: ACCESS_LOG_EXPIRATION }],
      removalPolicy: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
    });
    return new s3.Bucket(this, 'ExportBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      serverAccessLogsBucket: accessLogBucket,
      serverAccessLogsPrefix: 'export-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
    });
  }

  private createZohoSecret(): secretsmanager.Secret {
    // No credential ever appears in the template: client_id/client_secret start empty and refresh_token is a
    // random placeholder, all to be replaced by the operator (see README) before the first job runs.
    const secret = new secretsmanager.Secret(this, 'ZohoSecret', {
      description:
        'Zoho CRM OAuth self-client credentials for the bulk exporter. Replace the value with ' +
        '{"client_id":"...","client_secret":"...","refresh_token":"..."} (scope ZohoCRM.bulk.read,ZohoCRM.modules.ALL).',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ client_id: '', client_secret: '' }),
        generateStringKey: 'refresh_token',
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'Holds a Zoho OAuth refresh token, which only Zoho can issue or revoke (API console / self client), so a ' +
        'Secrets Manager rotation function cannot rotate it; it is rotated by hand in Zoho and pasted here.',
    );
    return secret;
  }

  /**
   * cdk-nag v3 (AwsSolutions pack) findings that are accepted on purpose, each with its reason. Acknowledgements
   * are exact finding ids (`Rule[finding]`), so a new wildcard would still be reported.
   */
  private acknowledgeNagFindings(config: ExporterConfig): void {
    if (this.callbackSecret) {
      acknowledge(
        this.callbackSecret,
        'AwsSolutions-SMG4',
        'Signs the callback URLs Zoho holds for running jobs (up to a day); rotating it invalidates them. It ' +
          'never leaves Secrets Manager; to rotate, put a new random value when no export is running.',
      );
    }
    for (const fn of this.functions()) {
      acknowledge(
        fn,
        'AwsSolutions-L1',
        'nodejs22.x is pinned on purpose: the code and its tests target Node 20/22 (vitest 4, middy 6); moving ' +
          'to a newer Lambda runtime is a tested change, not an automatic one.',
      );
    }

    for (const table of [this.jobsTable, this.exportsTable]) {
      const tableId = this.getLogicalId(table.node.defaultChild as dynamodb.CfnTable);
      const indexReason =
        "grantReadWriteData adds <table ARN>/index/* so the function can query the table's GSIs (lib/tables.ts); " +
        'it names only the indexes of this one table.';
      for (const fn of this.functions()) {
        acknowledge(fn.role!, `AwsSolutions-IAM5[Resource::<${tableId}.Arn>/index/*]`, indexReason);
      }
    }

    const downloadRole = this.downloadFunction.role!;
    acknowledge(
      downloadRole,
      'AwsSolutions-IAM5[Action::s3:Abort*]',
      's3:Abort* comes from bucket.grantPut and only matches s3:AbortMultipartUpload, which the downloader needs ' +
        'to clean up a failed multipart upload; it is limited to the export prefix.',
    );
    const bucketArn =
      this.bucket instanceof s3.Bucket
        ? `<${this.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`
        : `arn:<AWS::Partition>:s3:::${config.bucketName}`;
    acknowledge(
      downloadRole,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/*]`,
      'The downloader writes one object per job with a run-time key, so it needs the key-prefix wildcard; it is ' +
        `limited to the configured prefix (${config.s3Prefix}/*) and to put actions.`,
    );
    const convertRole = this.convertFunction.role!;
    acknowledge(
      convertRole,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/*]`,
      `The converter reads the landed CSV of a page (s3:GetObject only), whose key is known at run time; limited to the prefix (${config.s3Prefix}/*).`,
    );
    acknowledge(
      convertRole,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/parquet/*]`,
      `The converter writes one Parquet file per page (and aborts or deletes one that failed) under ${config.s3Prefix}/parquet/* only.`,
    );
    acknowledge(
      convertRole,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/_manifests/*]`,
      'The converter completes the export of the last page it converts: one manifest per export, s3:PutObject only, manifests prefix only.',
    );
    for (const fn of [this.pollFunction, this.convertFunction]) {
      acknowledge(
        fn.role!,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/${config.glueDatabase}/zoho_*]`,
        `Module tables (zoho_<module>) are created when a module's first export completes, so their names are known at run time; limited to GetTable, CreateTable and UpdateTable on ${config.glueDatabase}/zoho_*.`,
      );
    }
    for (const fn of [this.pollFunction, ...(this.callbackFunction ? [this.callbackFunction] : [])]) {
      acknowledge(
        fn.role!,
        `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/*]`,
        'Recovery from expiry may restart an export and drop its landed pages: their CSV and Parquet keys are known ' +
          `at run time, so s3:DeleteObject (only) is granted under the export prefix (${config.s3Prefix}/*).`,
      );
    }
    acknowledge(
      this.pollFunction.role!,
      `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/_manifests/*]`,
      'The poller completes exports whose last page landed while it was away: it writes one manifest per export, ' +
        `named by the export id, so it needs the wildcard of the manifests prefix (${config.s3Prefix}/_manifests/*), ` +
        'with s3:PutObject only.',
    );
    if (config.schedules.some((s) => s.mode === 'incremental')) {
      const reason = (who: string) =>
        `The ${who} may complete an incremental export: it lands the export's deletions file first (one object per export, named by the export id), s3:PutObject only, deletions prefixes only.`;
      for (const r of [`${config.s3Prefix}/deletions/*`, `${config.s3Prefix}/parquet/deletions/*`])
        acknowledge(
          this.pollFunction.role!,
          `AwsSolutions-IAM5[Resource::${bucketArn}/${r}]`,
          reason('poller'),
        );
      acknowledge(
        convertRole,
        `AwsSolutions-IAM5[Resource::${bucketArn}/${config.s3Prefix}/deletions/*]`,
        reason('converter'),
      );
    }

    acknowledge(
      this.scheduleDeadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter queue (of the EventBridge schedule target); cdk-nag only recognises ' +
        'dead-letter queues that another queue names in its redrive policy.',
    );
  }
}

/** Accept one cdk-nag finding on a construct and its children, with the reason recorded in the assembly. */
/** Sum of an EMF metric with no dimension or with any of the known `service` dimensions. */
function emfSum(metricName: string): cloudwatch.IMetric {
  const dimensionSets: Array<Record<string, string> | undefined> = [
    undefined,
    ...FUNCTION_NAMES.map((service) => ({ service })),
  ];
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  dimensionSets.forEach((dimensionsMap, i) => {
    usingMetrics[`m${i}`] = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      statistic: 'Sum',
      period: ALARM_PERIOD,
      ...(dimensionsMap ? { dimensionsMap } : {}),
    });
  });
  return new cloudwatch.MathExpression({
    label: metricName,
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    period: ALARM_PERIOD,
  });
}

/**
 * Glue's TableInput (the SDK's PascalCase, what the exporter sends at run time) as CloudFormation's
 * camelCase, keeping the keys of `Parameters` maps as they are.
 */
function cfnTableInput(input: TableInput): glue.CfnTable.TableInputProperty {
  const convert = (v: unknown, keepKeys = false): unknown => {
    if (Array.isArray(v)) return v.map((x) => convert(x));
    if (!v || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        keepKeys ? k : k.charAt(0).toLowerCase() + k.slice(1),
        convert(x, k === 'Parameters'),
      ]),
    );
  };
  return convert(input) as glue.CfnTable.TableInputProperty;
}

function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}
