import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CfnElement, Duration, Stack, Tags, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import { FUNCTIONS, type FunctionName, RESOURCES, type ResourceName, variablesOf } from '../lib/config.js';
import type { SettingName } from '../lib/settings.js';
import { TABLES, type TableRole } from '../lib/tables.js';
import { ESM_REQUIRE_SHIM } from './esm-shim.mjs';

/** Repository root (infra/..): the esbuild project root and home of package-lock.json. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The git commit being deployed, written into each Parquet footer's `created_by` (lib/analytics/created-by.ts);
 * undefined outside a git checkout (the footer then says `build unknown`).
 */
function gitCommit(): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: PROJECT_ROOT,
      stdio: 'pipe',
    });
    return /^[0-9a-f]{7,40}$/.test(out.toString().trim()) ? out.toString().trim() : undefined;
  } catch {
    return undefined;
  }
}
const BUILD_ID = gitCommit();

/** The tag that names which function of lib/config.ts a Lambda is (tests map the template with it). */
export const FUNCTION_TAG = 'zoho-export:function';

export interface ExporterFunctionProps {
  /** The function (lib/config.ts): its entry is functions/<name>.ts; its environment and timeout are described there. */
  readonly name: FunctionName;
  readonly description: string;
  readonly memorySize: number;
  /** The deployment's settings as environment values (infra/config.ts `settingsEnv`): it gets those it reads. */
  readonly settings: Partial<Record<SettingName, string | undefined>>;
  readonly logRetention: logs.RetentionDays;
}

/** The export bucket and the key prefix everything of the exporter lands under. */
export interface ExportBucket {
  readonly bucket: s3.IBucket;
  readonly prefix: string;
}

/**
 * Object actions on key patterns relative to the export prefix (`'module=*'`: the landed CSVs,
 * `'parquet/module=*'`: their Parquet copies). Each kind is exactly one action: a multipart upload
 * (lib-storage's `Upload`) needs `put` (Create/UploadPart/Complete) and `abort`, a HeadObject `get`.
 */
export interface ObjectGrants {
  readonly get?: readonly string[];
  readonly put?: readonly string[];
  readonly abort?: readonly string[];
  readonly delete?: readonly string[];
}

const OBJECT_ACTIONS = {
  get: 's3:GetObject',
  put: 's3:PutObject',
  abort: 's3:AbortMultipartUpload',
  delete: 's3:DeleteObject',
} as const;

/**
 * The DynamoDB item actions a function may be granted on a table. TransactWriteItems is no IAM action of
 * its own: DynamoDB authorizes each item of a transaction as its PutItem, UpdateItem, DeleteItem or
 * ConditionCheckItem.
 */
export type TableAction =
  | 'GetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'ConditionCheckItem'
  | 'Query'
  | 'Scan';

/** The table each table variable names (lib/tables.ts): its indexes decide whether a grant has `/index/*`. */
const TABLE_OF = {
  JOBS_TABLE: 'jobs',
  EXPORTS_TABLE: 'exports',
  STATE_TABLE: 'state',
} as const satisfies Partial<Record<ResourceName, TableRole>>;

/**
 * The one place that sets the defaults every exporter Lambda shares: Node.js 22 on arm64, ESM bundle with
 * the AWS SDK bundled in (the versions we tested, not the runtime's), source maps, an explicit log group
 * with retention, the timeout of lib/config.ts, and an execution role that may only write to that log group
 * (no AWSLambdaBasicExecutionRole managed policy, whose logs:* permissions cover every log group).
 *
 * Resources are given with one `bind*` call each, in the spirit of Powertools' `bindTable()`: the call sets
 * the variable that names the resource, grants the actions on exactly that resource, and acknowledges the
 * cdk-nag finding of any wildcard it creates, so a variable, its grant and its acknowledgement cannot drift
 * apart. A variable the function does not read (lib/config.ts) cannot be set, and synth fails while one it
 * requires is not bound.
 */
export class ExporterFunction extends NodejsFunction {
  readonly exporter: FunctionName;
  private readonly bound = new Map<ResourceName, string>();

  constructor(scope: Construct, id: string, props: ExporterFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, { retention: props.logRetention });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    const spec = FUNCTIONS[props.name];
    const settings: Record<string, string> = {};
    for (const s of spec.settings) {
      const v = props.settings[s];
      if (v !== undefined) settings[s] = v;
    }
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, 'functions', `${props.name}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: Duration.seconds(spec.timeoutSeconds),
      tracing: lambda.Tracing.DISABLED,
      role,
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...settings },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        sourceMap: true,
        minify: true,
        bundleAwsSDK: true,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_SHIM,
        ...(BUILD_ID ? { define: { __BUILD_ID__: JSON.stringify(BUILD_ID) } } : {}),
      },
    });
    this.exporter = props.name;
    logGroup.grantWrite(role);
    Tags.of(this).add(FUNCTION_TAG, props.name);
    this.node.addValidation({
      validate: () =>
        spec.resources
          .filter((r) => !this.bound.has(r))
          .map((r) => `${props.name} reads ${r} (${RESOURCES[r]}) but nothing is bound to it`),
    });
    acknowledge(
      this,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the code and its tests target Node 20/22 (vitest 4, middy 6); moving ' +
        'to a newer Lambda runtime is a tested change, not an automatic one.',
    );
  }

  /**
   * A table, named by `variable`, with exactly `actions` on it. Query also covers the table's indexes
   * (`<table ARN>/index/*`) when it has some (lib/tables.ts); every other action is on the table alone.
   */
  bindTable(table: dynamodb.Table, variable: keyof typeof TABLE_OF, actions: readonly TableAction[]): void {
    this.setVariable(variable, table.tableName);
    const indexed = actions.includes('Query') && TABLES[TABLE_OF[variable]].indexes.length > 0;
    const onTable = actions.filter((a) => !(indexed && a === 'Query'));
    const dynamo = (list: readonly TableAction[]) => list.map((a) => `dynamodb:${a}`);
    if (onTable.length) {
      this.addToRolePolicy(
        new iam.PolicyStatement({ actions: dynamo(onTable), resources: [table.tableArn] }),
      );
    }
    if (indexed) {
      this.addToRolePolicy(
        new iam.PolicyStatement({
          actions: dynamo(['Query']),
          resources: [table.tableArn, `${table.tableArn}/index/*`],
        }),
      );
      this.acknowledgeWildcard(
        `Resource::<${logicalIdOf(table)}.Arn>/index/*`,
        "dynamodb:Query only, on <table ARN>/index/* so the function can query the table's GSIs " +
          '(lib/tables.ts); it names only the indexes of this one table.',
      );
    }
  }

  /**
   * s3:ListBucket on the export bucket, only for listings under `<prefix>/<under>` (the condition on
   * `s3:prefix`): the views step lists the manifests (`_manifests/`, lib/exports/views.ts).
   */
  grantListing({ bucket, prefix }: ExportBucket, under: string): void {
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}/${under}*`] } },
      }),
    );
  }

  /** The export bucket as `BUCKET`, with `grants` on its objects (see `grantObjects`). */
  bindBucket(exportBucket: ExportBucket, grants: ObjectGrants, why: string): void {
    this.setVariable('BUCKET', exportBucket.bucket.bucketName);
    this.grantObjects(exportBucket, grants, why);
  }

  /**
   * Object grants without the variable, for a function that finds the bucket in a job record. One statement
   * per key pattern; a wildcard pattern's finding is acknowledged with `why` (what the function does there).
   */
  grantObjects({ bucket, prefix }: ExportBucket, grants: ObjectGrants, why: string): void {
    const keyOf = (pattern: string) => `${prefix}/${pattern}`;
    const kinds = Object.keys(OBJECT_ACTIONS) as Array<keyof typeof OBJECT_ACTIONS>;
    const patterns = [...new Set(kinds.flatMap((k) => grants[k] ?? []))];
    for (const pattern of patterns) {
      const actions = kinds.filter((k) => grants[k]?.includes(pattern)).map((k) => OBJECT_ACTIONS[k]);
      this.addToRolePolicy(
        new iam.PolicyStatement({ actions, resources: [bucket.arnForObjects(keyOf(pattern))] }),
      );
      if (pattern.includes('*')) {
        this.acknowledgeWildcard(
          `Resource::${bucketArnOf(bucket)}/${keyOf(pattern)}`,
          `${why} Object keys are named at run time (export, page and job ids), so ${actions.join(', ')} ` +
            `only is granted on the key pattern ${keyOf(pattern)}.`,
        );
      }
    }
  }

  /** A queue, named by `variable`: the function sends to it, consumes it (one message at a time), or both. */
  bindQueue(
    queue: sqs.IQueue,
    variable: 'DOWNLOAD_QUEUE_URL' | 'CONVERT_QUEUE_URL',
    use: { readonly send: boolean; readonly consume?: { readonly maxConcurrency: number } },
  ): void {
    this.setVariable(variable, queue.queueUrl);
    // SendMessage only: grantSendMessages would add GetQueueAttributes and GetQueueUrl, which no code calls.
    // The event source mapping's consume grant below is CDK's own (what the Lambda poller needs).
    if (use.send) {
      this.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
      );
    }
    if (use.consume) {
      this.addEventSource(
        new SqsEventSource(queue, {
          batchSize: 1,
          reportBatchItemFailures: true,
          maxConcurrency: use.consume.maxConcurrency,
        }),
      );
    }
  }

  /** The Zoho credentials secret: read its value only (GetSecretValue). */
  bindSecret(secret: secretsmanager.ISecret, variable: 'ZOHO_SECRET_ARN'): void {
    this.setVariable(variable, secret.secretArn);
    this.grantSecretValue(secret);
  }

  /** Callbacks on: the base URL Zoho calls and the key that signs it (read only). */
  bindCallbacks(key: secretsmanager.ISecret, baseUrl: string): void {
    this.setVariable('CALLBACK_BASE_URL', baseUrl);
    this.setVariable('CALLBACK_SECRET_ARN', key.secretArn);
    this.grantSecretValue(key);
  }

  /** events:PutEvents on one bus (the function publishes what happened to an export there). */
  bindEventBus(bus: events.IEventBus): void {
    bus.grantPutEventsTo(this);
  }

  /** Get, create and update the module tables (`zoho_*`) of one Glue database (named by a setting). */
  bindGlueTables(database: string): void {
    const stack = Stack.of(this);
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable'],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog', resourceName: undefined }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: database }),
          stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${database}/zoho_*` }),
        ],
      }),
    );
    this.acknowledgeWildcard(
      `Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/${database}/zoho_*`,
      `Module tables (zoho_<module>) are created when a module's first export completes, so their names are known at run time; limited to GetTable, CreateTable and UpdateTable on ${database}/zoho_*.`,
    );
  }

  /**
   * secretsmanager:GetSecretValue only (grantRead adds DescribeSecret, which no code calls), on the ARN
   * grantRead would use: a secret imported by name has a partial ARN, so its random suffix is matched.
   */
  private grantSecretValue(secret: secretsmanager.ISecret): void {
    this.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
      }),
    );
  }

  private setVariable(variable: ResourceName, value: string): void {
    if (!variablesOf(this.exporter).includes(variable))
      throw new Error(`${this.exporter} does not read ${variable} (lib/config.ts): it cannot be bound`);
    const before = this.bound.get(variable);
    if (before !== undefined && before !== value)
      throw new Error(`${this.exporter}: ${variable} is bound twice, to different resources`);
    this.bound.set(variable, value);
    this.addEnvironment(variable, value);
  }

  /** An IAM5 finding on this function's role, by its exact finding id, so a new wildcard is still reported. */
  private acknowledgeWildcard(finding: string, reason: string): void {
    acknowledge(this.role!, `AwsSolutions-IAM5[${finding}]`, reason);
  }
}

/** Accept one cdk-nag finding on a construct and its children, with the reason recorded in the assembly. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

const logicalIdOf = (construct: IConstruct): string =>
  Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);

/** A bucket's ARN as cdk-nag spells it in a finding: the logical id of a created one, the name of a named one. */
export const bucketArnOf = (bucket: s3.IBucket): string =>
  bucket instanceof s3.Bucket
    ? `<${logicalIdOf(bucket)}.Arn>`
    : `arn:<AWS::Partition>:s3:::${bucket.bucketName}`;
