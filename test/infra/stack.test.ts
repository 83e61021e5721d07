import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLBACK_THROTTLE } from '../../infra/api.js';
import { ConfigError, configFromContext, parseConfig, settingsEnv } from '../../infra/config.js';
import { type ExporterFunction, FUNCTION_TAG } from '../../infra/function.js';
import type { ZohoCrmBulkExportStack } from '../../infra/stack.js';
import { API_ROUTES } from '../../lib/api/routes.js';
import { CALLBACK_ROUTE } from '../../lib/callbacks/http.js';
import {
  FUNCTION_NAMES,
  FUNCTIONS,
  type FunctionName,
  loadFunctionConfig,
  variablesOf,
} from '../../lib/config.js';
import { TABLE_ROLES, TABLES } from '../../lib/tables.js';
import { createTableInput } from '../../local/stand-ins.js';
import { buildStack, type Synthesized } from './synth.js';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

const logicalId = (stack: ZohoCrmBulkExportStack, construct: IConstruct): string =>
  stack.getLogicalId(construct.node.defaultChild as CfnElement);

const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });

/** Every statement of the inline policies attached to a role. */
function statementsOf(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => policy.Properties.Roles.some((role: { Ref?: string }) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => [s.Action].flat());
const resourcesOf = (s: Statement): unknown[] => [s.Resource].flat();

interface CfnFunction {
  Type: string;
  Properties: {
    Tags?: Array<{ Key: string; Value: string }>;
    Environment: { Variables: Record<string, unknown> };
  };
}

interface CfnTableProps {
  KeySchema: unknown;
  AttributeDefinitions: Array<{ AttributeName: string }>;
  GlobalSecondaryIndexes?: unknown[];
  TimeToLiveSpecification?: unknown;
}

const sortBy = (a: Array<{ AttributeName: string }> | undefined) =>
  [...(a ?? [])].sort((x, y) => x.AttributeName.localeCompare(y.AttributeName));

function envOf(template: Template, functionId: string): Record<string, unknown> {
  return template.toJSON().Resources[functionId].Properties.Environment.Variables;
}

describe('ZohoCrmBulkExportStack (default configuration)', () => {
  let built: Synthesized;
  let stack: ZohoCrmBulkExportStack;
  let template: Template;
  let ids: Record<'api' | 'poll' | 'download' | 'convert' | 'callback', { fn: string; role: string }>;

  beforeAll(() => {
    built = buildStack();
    stack = built.stack;
    template = Template.fromStack(stack);
    const idsOf = (fn: ZohoCrmBulkExportStack['pollFunction']) => ({
      fn: logicalId(stack, fn),
      role: logicalId(stack, fn.role!),
    });
    ids = {
      api: idsOf(stack.apiFunction),
      poll: idsOf(stack.pollFunction),
      download: idsOf(stack.downloadFunction),
      convert: idsOf(stack.convertFunction),
      callback: idsOf(stack.callbackFunction!),
    };
  }, 60_000);
  afterAll(() => built?.cleanup());

  describe('DynamoDB tables', () => {
    it('jobs table: job_id key, by-status GSI, TTL, PITR, AWS-managed SSE, on-demand, retained', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          KeySchema: [{ AttributeName: 'job_id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: Match.arrayWith([
            { AttributeName: 'job_id', AttributeType: 'S' },
            { AttributeName: 'status', AttributeType: 'S' },
            { AttributeName: 'next_check_at', AttributeType: 'N' },
          ]),
          GlobalSecondaryIndexes: Match.arrayWith([
            {
              IndexName: 'by-status',
              KeySchema: [
                { AttributeName: 'status', KeyType: 'HASH' },
                { AttributeName: 'next_check_at', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ]),
          TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      });
    });

    it('state table: pk key, TTL, PITR, on-demand', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        GlobalSecondaryIndexes: Match.absent(),
      });
      template.resourceCountIs('AWS::DynamoDB::Table', TABLE_ROLES.length);
    });
  });

  describe('S3 bucket hardening', () => {
    let bucketId: string;
    beforeAll(() => {
      bucketId = logicalId(stack, stack.bucket);
    });

    it('blocks public access, encrypts, aborts incomplete multipart uploads, logs access, is retained', () => {
      const bucket = template.toJSON().Resources[bucketId];
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        LoggingConfiguration: { DestinationBucketName: { Ref: expect.any(String) } },
      });
      expect(bucket.Properties.LifecycleConfiguration.Rules).toContainEqual(
        expect.objectContaining({
          Status: 'Enabled',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        }),
      );
      // Versioned (finding M4): an overwrite (a re-conversion rewrites Parquet files and manifests in place)
      // or a delete keeps the previous version for 30 days; delete markers left alone are removed.
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
        {
          Id: 'abort-incomplete-multipart',
          Status: 'Enabled',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
        {
          Id: 'expire-noncurrent-versions',
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        },
        { Id: 'expire-delete-markers', Status: 'Enabled', ExpiredObjectDeleteMarker: true },
        // Athena's query results (infra/analytics.ts): a cache of answers, kept a week.
        { Id: 'expire-athena-results', Status: 'Enabled', Prefix: 'athena-results/', ExpirationInDays: 7 },
      ]);
    });

    it('noncurrentVersionDays sets how long previous versions are kept', () => {
      const other = buildStack({ noncurrentVersionDays: '400' });
      try {
        const t = Template.fromStack(other.stack);
        const rules =
          t.toJSON().Resources[logicalId(other.stack, other.stack.bucket)].Properties.LifecycleConfiguration
            .Rules;
        expect(rules).toContainEqual(
          expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 400 } }),
        );
      } finally {
        other.cleanup();
      }
    }, 60_000);

    it('every bucket denies requests without TLS', () => {
      const buckets = template.findResources('AWS::S3::Bucket');
      expect(Object.keys(buckets)).toHaveLength(2); // export bucket + its access-log bucket
      for (const id of Object.keys(buckets)) {
        template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: id },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Principal: { AWS: '*' },
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
        expect(buckets[id]?.Properties.PublicAccessBlockConfiguration).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
      }
    });

    it('no auto-delete custom resource', () => {
      expect(Object.keys(template.findResources('Custom::S3AutoDeleteObjects'))).toHaveLength(0);
    });
  });

  describe('Lambda functions', () => {
    it('every function is nodejs22.x on arm64 with source maps, an explicit log group, no tracing', () => {
      const functions = template.findResources('AWS::Lambda::Function');
      expect(Object.keys(functions).sort()).toEqual(
        Object.values(ids)
          .map((i) => i.fn)
          .sort(),
      );
      for (const fn of Object.values(functions)) {
        expect(fn.Properties.Runtime).toBe('nodejs22.x');
        expect(fn.Properties.Architectures).toEqual(['arm64']);
        expect(fn.Properties.Handler).toBe('index.handler');
        expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
        expect(fn.Properties.TracingConfig).toBeUndefined();
        const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
        expect(template.toJSON().Resources[logGroupId].Properties.RetentionInDays).toBe(30);
      }
    });

    it('memory and timeouts', () => {
      const props = (id: string) => template.toJSON().Resources[id].Properties;
      // API Gateway's HTTP API waits 30 s for its integration: the API function's timeout is under that.
      expect(props(ids.api.fn)).toMatchObject({ MemorySize: 256, Timeout: 29 });
      expect(props(ids.poll.fn)).toMatchObject({ MemorySize: 512, Timeout: 300 });
      expect(props(ids.download.fn)).toMatchObject({ MemorySize: 1024, Timeout: 900 });
      expect(props(ids.download.fn).EphemeralStorage).toBeUndefined();
    });

    it('each function gets exactly the environment lib/config.ts describes for it, and it validates', () => {
      const resources = template.toJSON().Resources as Record<string, CfnFunction>;
      const seen: string[] = [];
      for (const [id, res] of Object.entries(resources)) {
        if (res.Type !== 'AWS::Lambda::Function') continue;
        const fn = res.Properties.Tags?.find((t) => t.Key === FUNCTION_TAG)?.Value as
          | FunctionName
          | undefined;
        expect(fn, `function ${id} has no ${FUNCTION_TAG} tag`).toBeDefined();
        seen.push(fn!);
        const { NODE_OPTIONS, ...env } = res.Properties.Environment.Variables;
        expect(NODE_OPTIONS).toBe('--enable-source-maps');
        // Nothing the function does not read ...
        for (const k of Object.keys(env)) expect(variablesOf(fn!), `${fn} is given ${k}`).toContain(k);
        // ... and with the deployment's resources standing in for CloudFormation references, it loads.
        const concrete = Object.fromEntries(
          Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-${k}`]),
        );
        expect(() => loadFunctionConfig(fn!, concrete)).not.toThrow();
        // Every resource is set; every setting with a value in this deployment too.
        for (const r of FUNCTIONS[fn!].resources) expect(env[r], `${fn} lacks ${r}`).toBeDefined();
      }
      // Every function but the schedule runner, which exists only with schedules (tested below).
      expect(seen.sort()).toEqual(FUNCTION_NAMES.filter((f) => f !== 'run-schedule').sort());
      expect(envOf(template, ids.poll.fn)).toMatchObject({
        MAX_DOWNLOAD_ATTEMPTS: '5',
        POLL_INTERVAL_SECONDS: '60',
        ZOHO_DATA_CENTER: 'US',
        DOWNLOAD_QUEUE_URL: { Ref: logicalId(stack, stack.downloadQueue) },
      });
      expect(envOf(template, ids.download.fn)).toMatchObject({
        BUCKET: { Ref: logicalId(stack, stack.bucket) },
        S3_PREFIX: 'zoho-crm',
        DOWNLOADS_PER_MINUTE: '10',
      });
      expect(envOf(template, ids.api.fn)).toMatchObject({
        JOBS_TABLE: { Ref: logicalId(stack, stack.jobsTable) },
        EXPORTS_TABLE: { Ref: logicalId(stack, stack.exportsTable) },
        ZOHO_API_VERSION: 'v8',
      });
      expect(envOf(template, ids.api.fn)).not.toHaveProperty('BUCKET');
    });

    it('the tables are exactly those of lib/tables.ts (what the local stack and the tests create)', () => {
      const tables = Object.values(template.findResources('AWS::DynamoDB::Table')) as Array<{
        DeletionPolicy?: string;
        Properties: CfnTableProps;
      }>;
      expect(tables).toHaveLength(TABLE_ROLES.length);
      for (const role of TABLE_ROLES) {
        const want = createTableInput(TABLES[role], 'x');
        const got = tables.find(
          (t) =>
            equal(t.Properties.KeySchema, want.KeySchema) &&
            equal(
              sortBy(t.Properties.AttributeDefinitions),
              sortBy(want.AttributeDefinitions as Array<{ AttributeName: string }>),
            ),
        );
        expect(got, role).toBeDefined();
        expect(got!.Properties.GlobalSecondaryIndexes ?? [], role).toEqual(want.GlobalSecondaryIndexes ?? []);
        expect(got!.Properties.TimeToLiveSpecification).toEqual({
          AttributeName: TABLES[role].ttlAttribute,
          Enabled: true,
        });
        expect(got!.DeletionPolicy ?? 'Delete').toBe(TABLES[role].retain ? 'Retain' : 'Delete');
      }
    });
  });

  describe('IAM least privilege', () => {
    it('no managed policies: each role may only write its own log group', () => {
      for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
        expect(role.Properties.Policies).toBeUndefined();
      }
      for (const { fn, role } of Object.values(ids)) {
        const logGroupId = template.toJSON().Resources[fn].Properties.LoggingConfig.LogGroup.Ref;
        const logs = statementsOf(template, role).filter((s) =>
          actionsOf([s]).some((a) => a.startsWith('logs:')),
        );
        expect(logs).toEqual([
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: getAtt(logGroupId),
          },
        ]);
      }
    });

    it('no wildcard action, no "*" resource, no Deny-less admin statements anywhere', () => {
      const policies = Object.values(template.findResources('AWS::IAM::Policy'));
      expect(policies.length).toBeGreaterThan(0);
      for (const policy of policies) {
        for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
          for (const action of actionsOf([statement])) {
            expect(action).not.toBe('*');
            expect(action).not.toMatch(/^[a-z0-9-]+:\*$/);
          }
          expect(resourcesOf(statement)).not.toContain('*');
        }
      }
    });

    it('api: the three tables and the secret (it creates the first Zoho job of an export), sends to the converter; no S3', () => {
      const statements = statementsOf(template, ids.api.role);
      const actions = actionsOf(statements);
      expect(actions).toEqual(
        expect.arrayContaining([
          'dynamodb:PutItem',
          'dynamodb:GetItem',
          'dynamodb:Query',
          'secretsmanager:GetSecretValue',
        ]),
      );
      expect(
        actions.filter(
          (a) =>
            !a.startsWith('dynamodb:') &&
            !a.startsWith('logs:') &&
            !a.startsWith('secretsmanager:') &&
            !a.startsWith('sqs:Send') &&
            !['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'].includes(a),
        ),
      ).toEqual([]);
      for (const st of statements.filter((x) => actionsOf([x]).includes('sqs:SendMessage'))) {
        expect(st.Resource).toEqual(getAtt(logicalId(stack, stack.convertQueue)));
      }
      const tableResources = statements
        .filter((s) => actionsOf([s]).includes('dynamodb:PutItem'))
        .flatMap(resourcesOf);
      for (const t of [stack.jobsTable, stack.exportsTable, stack.stateTable]) {
        expect(tableResources).toContainEqual(getAtt(logicalId(stack, t)));
      }
    });

    it('poller: the tables, secret read, send to the download queue, put manifests only, delete dropped pages, publish events', () => {
      const statements = statementsOf(template, ids.poll.role);
      const actions = actionsOf(statements);
      const s3Statements = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
      expect([...new Set(actionsOf(s3Statements))].sort()).toEqual([
        's3:DeleteObject',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
      ]);
      const bucket = getAtt(logicalId(stack, stack.bucket));
      // The views (lib/exports/views.ts) list and read the committed exports' manifests; it puts manifests,
      // and the deletions files of an incremental export it completes (CSV and Parquet), whether or not an
      // incremental schedule is configured now: exports outlive the configuration.
      const writes = s3Statements.filter((s) => actionsOf([s]).includes('s3:PutObject'));
      expect(writes.map((s) => [actionsOf([s]), s.Resource])).toEqual([
        [['s3:GetObject', 's3:PutObject'], { 'Fn::Join': ['', [bucket, '/zoho-crm/_manifests/*']] }],
        [['s3:PutObject'], { 'Fn::Join': ['', [bucket, '/zoho-crm/_snapshots/*']] }],
        [['s3:PutObject'], { 'Fn::Join': ['', [bucket, '/zoho-crm/deletions/*']] }],
        [['s3:PutObject'], { 'Fn::Join': ['', [bucket, '/zoho-crm/parquet/deletions/*']] }],
      ]);
      const listings = s3Statements.filter((s) => actionsOf([s]).includes('s3:ListBucket'));
      expect(listings.map((s) => [s.Action, s.Resource, s.Condition])).toEqual([
        ['s3:ListBucket', bucket, { StringLike: { 's3:prefix': ['zoho-crm/_manifests/*'] } }],
      ]);
      // Recovery from expiry may restart an export: the files of the pages it drops are deleted, and
      // nothing else (not manifests, not deletions files).
      const del = statementsOf(template, ids.poll.role).filter((s) =>
        actionsOf([s]).includes('s3:DeleteObject'),
      );
      expect(del.map((s) => [actionsOf([s]), s.Resource])).toEqual([
        [['s3:DeleteObject'], { 'Fn::Join': ['', [bucket, '/zoho-crm/module=*']] }],
        [['s3:DeleteObject'], { 'Fn::Join': ['', [bucket, '/zoho-crm/parquet/module=*']] }],
      ]);
      // The internet-facing callback function deletes nothing, and touches no object at all: the
      // poller's sweep runs a recovery that drops pages (lib/wiring.ts callbackDeps).
      expect(actionsOf(statementsOf(template, ids.callback.role)).filter((a) => a.startsWith('s3:'))).toEqual(
        [],
      );
      expect(actions).toContain('events:PutEvents');
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: 'secretsmanager:GetSecretValue',
          Resource: { Ref: logicalId(stack, stack.secret) },
        }),
      );
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: 'sqs:SendMessage',
          Resource: getAtt(logicalId(stack, stack.downloadQueue)),
        }),
      );
      const tableResources = statements
        .filter((s) => actionsOf([s]).includes('dynamodb:PutItem'))
        .flatMap(resourcesOf);
      expect(tableResources).toContainEqual(getAtt(logicalId(stack, stack.jobsTable)));
      // The state table's items (token cache, download budget, schedules) are written with UpdateItem;
      // only the API's idempotency keys are put (test/infra/iam.test.ts).
      expect(tableResources).not.toContainEqual(getAtt(logicalId(stack, stack.stateTable)));
      const updates = statements
        .filter((s) => actionsOf([s]).includes('dynamodb:UpdateItem'))
        .flatMap(resourcesOf);
      expect(updates).toContainEqual(getAtt(logicalId(stack, stack.stateTable)));
      expect(actions).not.toContain('sqs:ReceiveMessage');
    });

    it('downloader: put, abort, head (GetObject) and delete only under the prefix; no list; sends only to its own queue', () => {
      const statements = statementsOf(template, ids.download.role);
      const s3Statements = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
      expect(s3Statements.length).toBeGreaterThanOrEqual(1);
      const bucket = getAtt(logicalId(stack, stack.bucket));
      for (const st of s3Statements) {
        expect(st.Resource).toEqual({ 'Fn::Join': ['', [bucket, expect.stringMatching(/^\/zoho-crm\//)]] });
      }
      // The page's CSV: one multipart upload, its stored size checked, deleted when it came out wrong.
      const csv = s3Statements.find((s) =>
        equal(s.Resource, { 'Fn::Join': ['', [bucket, '/zoho-crm/module=*']] }),
      );
      expect(actionsOf([csv!]).sort()).toEqual([
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetObject', // HeadObject: the stored size is checked
        's3:PutObject',
      ]);
      const s3Actions = actionsOf(s3Statements);
      expect(s3Actions.filter((a) => /^s3:(List|GetBucket|Put(Bucket|Lifecycle))/.test(a))).toEqual([]);
      const actions = actionsOf(statements);
      expect(actions).toContain('secretsmanager:GetSecretValue');
      expect(actions).toContain('sqs:ReceiveMessage'); // event source mapping
      // A download waiting for a budget slot comes back as a delayed message on its own queue.
      for (const st of statements.filter((x) => actionsOf([x]).includes('sqs:SendMessage'))) {
        expect([
          getAtt(logicalId(stack, stack.downloadQueue)),
          getAtt(logicalId(stack, stack.convertQueue)),
        ]).toContainEqual(st.Resource);
      }
    });

    it('the converter: reads CSVs, writes Parquet files and manifests only under their prefixes, Glue tables of its database', () => {
      const statements = statementsOf(template, ids.convert.role);
      const put = statements
        .filter((s) => actionsOf([s]).includes('s3:PutObject'))
        .map((s) => JSON.stringify(s.Resource));
      expect(put.sort()).toEqual([
        expect.stringContaining('/zoho-crm/_manifests/*'),
        expect.stringContaining('/zoho-crm/_snapshots/*'),
        expect.stringContaining('/zoho-crm/deletions/*'),
        expect.stringContaining('/zoho-crm/parquet/*'),
      ]);
      // Deletes: a Parquet file that came out wrong, and the files (CSV and Parquet) of the pages an expiry
      // recovery drops when it restarts an export (lib/exports/recovery.ts); the CSVs are under module=*.
      const bucket = getAtt(logicalId(stack, stack.bucket));
      const deletes = statements.filter((s) => actionsOf([s]).includes('s3:DeleteObject'));
      expect(deletes.flatMap(resourcesOf)).toEqual(
        ['/zoho-crm/module=*', '/zoho-crm/parquet/module=*'].map((key) => ({
          'Fn::Join': ['', [bucket, key]],
        })),
      );
      const glueStatement = statements.find((s) => actionsOf([s]).includes('glue:CreateTable'))!;
      expect(actionsOf([glueStatement]).sort()).toEqual([
        'glue:CreateTable',
        'glue:GetTable',
        'glue:UpdateTable',
      ]);
      expect(JSON.stringify(glueStatement.Resource)).toContain('table/zoho_crm/zoho_*');
      expect(actionsOf(statements)).toContain('events:PutEvents');
    });

    it('the functions that talk to Zoho read the secret, and only with GetSecretValue', () => {
      const secretRef = { Ref: logicalId(stack, stack.secret) };
      for (const [name, { role }] of Object.entries(ids)) {
        const reads = statementsOf(template, role).filter((s) =>
          resourcesOf(s).some((r) => equal(r, secretRef)),
        );
        expect(reads.length, name).toBe(1);
        expect(reads[0]!.Action).toEqual('secretsmanager:GetSecretValue');
      }
    });

    it('events:PutEvents only on the default bus, only for the functions that complete exports', () => {
      for (const [name, { role }] of Object.entries(ids)) {
        const put = statementsOf(template, role).filter((s) => actionsOf([s]).includes('events:PutEvents'));
        expect(put.length, name).toBe(name === 'api' ? 0 : 1);
        for (const st of put) expect(JSON.stringify(st.Resource)).toContain(':event-bus/default');
      }
    });
  });

  describe('HTTP API', () => {
    it('has exactly the routes the handler serves (lib/api/routes.ts), all with IAM authorization, and the callback route', () => {
      const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
      const callback = `${CALLBACK_ROUTE.method} ${CALLBACK_ROUTE.path}`;
      expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(
        [...API_ROUTES.map((r) => `${r.method} ${r.path}`), callback].sort(),
      );
      for (const route of routes) {
        expect(route.Properties.AuthorizationType).toBe(
          route.Properties.RouteKey === callback ? 'NONE' : 'AWS_IAM',
        );
      }
    });

    it('routes go to the API function, the callback route to the callback function, payload format 2.0', () => {
      for (const fn of [ids.api.fn, ids.callback.fn]) {
        template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
          IntegrationType: 'AWS_PROXY',
          PayloadFormatVersion: '2.0',
          IntegrationUri: getAtt(fn),
        });
      }
      template.resourceCountIs('AWS::ApiGatewayV2::Integration', 2);
    });

    it('the callback route has its own throttle; callback URLs point at the API and are signed by a generated key', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        RouteSettings: {
          [`${CALLBACK_ROUTE.method} ${CALLBACK_ROUTE.path}`]: {
            ThrottlingRateLimit: CALLBACK_THROTTLE.rateLimit,
            ThrottlingBurstLimit: CALLBACK_THROTTLE.burstLimit,
          },
        },
      });
      const keyRef = { Ref: logicalId(stack, stack.callbackSecret!) };
      const fns = template.findResources('AWS::Lambda::Function');
      for (const fn of [ids.api.fn, ids.poll.fn, ids.callback.fn]) {
        const env = fns[fn]!.Properties.Environment.Variables;
        expect(env.CALLBACK_SECRET_ARN, fn).toEqual(keyRef);
        expect(JSON.stringify(env.CALLBACK_BASE_URL), fn).toContain(logicalId(stack, stack.api));
      }
      for (const fn of [ids.download.fn, ids.convert.fn]) {
        expect(fns[fn]!.Properties.Environment.Variables.CALLBACK_SECRET_ARN, fn).toBeUndefined();
      }
      for (const [name, { role }] of Object.entries(ids)) {
        const reads = statementsOf(template, role).filter((s) =>
          resourcesOf(s).some((r) => equal(r, keyRef)),
        );
        expect(reads.length, name).toBe(['api', 'poll', 'callback'].includes(name) ? 1 : 0);
      }
    });

    it('the access log never records a path: a callback path carries its token', () => {
      const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!;
      const format = JSON.parse(stage.Properties.AccessLogSettings.Format as string) as Record<
        string,
        string
      >;
      expect(format.routeKey).toBe('$context.routeKey');
      for (const [field, value] of Object.entries(format)) {
        expect(value, field).not.toMatch(/path|uri|url|querystring|\$input|\$request/i);
      }
    });

    it('default stage auto-deploys with access logs and throttling', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ApiAccessLogs'), 'Arn'] },
          Format: Match.stringLikeRegexp('\\$context\\.requestId'),
        },
        DefaultRouteSettings: {
          ThrottlingBurstLimit: Match.anyValue(),
          ThrottlingRateLimit: Match.anyValue(),
        },
      });
    });
  });

  describe('schedule', () => {
    it('runs the poller every minute with retries, a max event age and a dead-letter queue', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          {
            Id: Match.anyValue(),
            Arn: getAtt(ids.poll.fn),
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 120 },
            DeadLetterConfig: { Arn: getAtt(logicalId(stack, stack.scheduleDeadLetterQueue)) },
          },
        ],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: getAtt(ids.poll.fn),
      });
    });
  });

  describe('SQS', () => {
    it('download queue: DLQ after 3 receives, visibility timeout well above the downloader timeout', () => {
      const queue = template.toJSON().Resources[logicalId(stack, stack.downloadQueue)].Properties;
      const downloaderTimeout = template.toJSON().Resources[ids.download.fn].Properties.Timeout as number;
      expect(queue.RedrivePolicy).toEqual({
        deadLetterTargetArn: getAtt(logicalId(stack, stack.downloadDeadLetterQueue)),
        maxReceiveCount: 3,
      });
      expect(queue.VisibilityTimeout).toBeGreaterThan(downloaderTimeout);
      expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * downloaderTimeout);
    });

    it('dead-letter queues keep messages 14 days', () => {
      for (const q of [stack.downloadDeadLetterQueue, stack.scheduleDeadLetterQueue]) {
        expect(template.toJSON().Resources[logicalId(stack, q)].Properties.MessageRetentionPeriod).toBe(
          14 * 86_400,
        );
      }
    });

    it('every queue is encrypted and TLS-only', () => {
      const queues = template.findResources('AWS::SQS::Queue');
      expect(Object.keys(queues)).toHaveLength(5);
      for (const [id, queue] of Object.entries(queues)) {
        expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: id }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    });

    it('the downloader consumes one message at a time and reports item failures', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: getAtt(logicalId(stack, stack.downloadQueue)),
        FunctionName: { Ref: ids.download.fn },
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 5 },
      });
    });
  });

  describe('alarms', () => {
    const alarms = () =>
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const atLeastOne = { Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' };

    it('one per dead-letter queue (messages visible >= 1)', () => {
      for (const queue of [stack.downloadDeadLetterQueue, stack.scheduleDeadLetterQueue]) {
        expect(alarms()).toContainEqual(
          expect.objectContaining({
            ...atLeastOne,
            Namespace: 'AWS/SQS',
            MetricName: 'ApproximateNumberOfMessagesVisible',
            Dimensions: [{ Name: 'QueueName', Value: getAtt(logicalId(stack, queue), 'QueueName') }],
          }),
        );
      }
    });

    it('one on ZohoTokenErrors for 3 periods in a row (credentials, not a passing throttle)', () => {
      const tokenAlarm = alarms().find((a) => String(a.AlarmDescription).includes('No Zoho access token'));
      expect(tokenAlarm).toMatchObject({ ...atLeastOne, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
      expect(JSON.stringify(tokenAlarm?.Metrics)).toContain('ZohoTokenErrors');
    });

    it('one per function on Errors >= 1, and on API 5xx', () => {
      for (const { fn } of Object.values(ids)) {
        expect(alarms()).toContainEqual(
          expect.objectContaining({
            ...atLeastOne,
            Namespace: 'AWS/Lambda',
            MetricName: 'Errors',
            Statistic: 'Sum',
            Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
          }),
        );
      }
      expect(alarms()).toContainEqual(
        expect.objectContaining({ ...atLeastOne, Namespace: 'AWS/ApiGateway', MetricName: '5xx' }),
      );
    });

    it('on the JobsFailed EMF metric (Sum, 5 min), with or without the Powertools service dimension', () => {
      const jobsFailed = alarms().find((a) => a.AlarmDescription?.includes('FAILED'));
      expect(jobsFailed).toMatchObject(atLeastOne);
      const queries = jobsFailed?.Metrics as Array<{
        Id: string;
        Expression?: string;
        MetricStat?: {
          Metric: { Namespace: string; MetricName: string; Dimensions?: unknown };
          Stat: string;
        };
      }>;
      const stats = queries.filter((q) => q.MetricStat);
      for (const q of stats) {
        expect(q.MetricStat).toMatchObject({
          Metric: { Namespace: 'ZohoCrmBulkExport', MetricName: 'JobsFailed' },
          Stat: 'Sum',
          Period: 300,
        });
      }
      // Without a dimension, or with the `service` dimension of any function (Powertools adds it).
      expect(stats.map((q) => q.MetricStat?.Metric.Dimensions ?? null)).toEqual([
        null,
        ...FUNCTION_NAMES.map((f) => [{ Name: 'service', Value: f }]),
      ]);
      expect(queries.find((q) => q.Expression)?.Expression).toBe(
        ['jobsFailed0', ...FUNCTION_NAMES.map((_, i) => `jobsFailed${i + 1}`)]
          .map((m) => `FILL(${m}, 0)`)
          .join(' + '),
      );
    });

    it('treat missing data as OK (but a poller that is never invoked) and notify nobody without alarmEmail', () => {
      for (const alarm of alarms()) {
        const silentPoller = String(alarm.AlarmDescription).startsWith('The poller was not invoked');
        expect(alarm.TreatMissingData).toBe(silentPoller ? 'breaching' : 'notBreaching');
        expect(alarm.AlarmActions).toBeUndefined();
      }
      template.resourceCountIs('AWS::SNS::Topic', 0);
    });
  });

  it('creates the Zoho secret without any credential in the template', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: {
        GenerateSecretString: {
          SecretStringTemplate: JSON.stringify({ client_id: '', client_secret: '' }),
          GenerateStringKey: 'refresh_token',
        },
        SecretString: Match.absent(),
      },
    });
  });

  it('outputs what an operator needs', () => {
    const outputs = Object.keys(template.toJSON().Outputs);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'BucketName',
        'JobsTableName',
        'StateTableName',
        'SecretArn',
        'SecretName',
        'DownloadQueueUrl',
      ]),
    );
  });
});

describe('ZohoCrmBulkExportStack (existing bucket and secret, custom settings, alarm e-mail)', () => {
  let built: Synthesized;
  let stack: ZohoCrmBulkExportStack;
  let template: Template;

  beforeAll(() => {
    built = buildStack({
      bucketName: 'my-exports',
      s3Prefix: 'exports/zoho',
      secretName: 'zoho/crm-credentials',
      alarmEmail: 'ops@example.com',
      // As given on the command line (-c key=value): strings.
      pollSchedule: '5',
      downloaderMemoryMb: '2048',
      zohoDataCenter: 'eu',
      zohoAccountsUrl: 'https://accounts.zoho.eu',
      zohoApiDomain: '',
      logRetentionDays: 90,
      maxDownloadAttempts: '10',
      maxJobAgeHours: '12',
    });
    stack = built.stack;
    template = Template.fromStack(stack);
  }, 60_000);
  afterAll(() => built?.cleanup());

  it('creates no bucket and no Zoho secret (only the callback key)', () => {
    template.resourceCountIs('AWS::S3::Bucket', 0);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret'))).toEqual([
      logicalId(stack, stack.callbackSecret!),
    ]);
  });

  it('the downloader may put only under the configured prefix of the named bucket', () => {
    const role = logicalId(stack, stack.downloadFunction.role!);
    const s3Statements = statementsOf(template, role).filter((s) =>
      actionsOf([s]).some((a) => a.startsWith('s3:')),
    );
    expect(s3Statements.length).toBeGreaterThanOrEqual(1);
    for (const st of s3Statements) {
      expect(st.Resource).toEqual({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            expect.stringMatching(/^:s3:::my-exports\/exports\/zoho\/[^*]/),
          ],
        ],
      });
    }
  });

  it('cannot version an imported bucket: warns at synth that it should be', () => {
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('my-exports.*versioning'),
    );
    expect(warnings).toHaveLength(1);
  });

  it('reads the named secret (name-?????? ARN) and passes it to the functions', () => {
    const role = logicalId(stack, stack.pollFunction.role!);
    const secretStatement = statementsOf(template, role).find((s) =>
      actionsOf([s]).includes('secretsmanager:GetSecretValue'),
    );
    expect(JSON.stringify(secretStatement?.Resource)).toContain(':secret:zoho/crm-credentials-??????');
    const env = envOf(template, logicalId(stack, stack.pollFunction));
    expect(JSON.stringify(env.ZOHO_SECRET_ARN)).toContain(':secret:zoho/crm-credentials');
  });

  it('applies the settings: schedule, memory, data centre, overrides, env', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    const download = logicalId(stack, stack.downloadFunction);
    expect(template.toJSON().Resources[download].Properties.MemorySize).toBe(2048);
    expect(envOf(template, download)).toMatchObject({
      BUCKET: 'my-exports',
      S3_PREFIX: 'exports/zoho',
      ZOHO_DATA_CENTER: 'EU',
      ZOHO_ACCOUNTS_URL: 'https://accounts.zoho.eu',
      POLL_INTERVAL_SECONDS: '300',
    });
    expect(envOf(template, download)).not.toHaveProperty('ZOHO_API_DOMAIN');
    // Both functions that read the attempt limit get it (the poller used to be left at the default).
    const poll = logicalId(stack, stack.pollFunction);
    expect(envOf(template, poll)).toMatchObject({ MAX_DOWNLOAD_ATTEMPTS: '10', MAX_JOB_AGE_HOURS: '12' });
    expect(envOf(template, download)).toMatchObject({ MAX_DOWNLOAD_ATTEMPTS: '10' });
    for (const group of Object.values(template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.RetentionInDays).toBe(90);
    }
  });

  it('sends every alarm to a TLS-only SNS topic with the e-mail subscription', () => {
    const topicId = logicalId(stack, stack.alarmTopic!);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topicId },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(7);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    expect(template.toJSON().Outputs).toHaveProperty('AlarmTopicArn');
  });
});

describe('configuration validation', () => {
  it('has documented defaults', () => {
    expect(parseConfig({})).toEqual({
      stackName: 'ZohoCrmBulkExport',
      zohoDataCenter: 'US',
      zohoApiVersion: 'v8',
      pollSchedule: 1,
      pollConcurrency: 5,
      maxJobAgeHours: 24,
      maxDownloadAttempts: 5,
      downloadsPerMinute: 10,
      zohoMaxConcurrentJobs: 5,
      s3Prefix: 'zoho-crm',
      retentionDays: 90,
      logRetentionDays: 30,
      noncurrentVersionDays: 30,
      downloaderMemoryMb: 1024,
      converterMemoryMb: 1769,
      outputFormats: ['csv', 'parquet'],
      glueDatabase: 'zoho_crm',
      callbacks: true,
      stuckExportHours: 6,
      schedules: [],
      exportLinkingModules: false,
    });
  });

  it.each([
    ['stuckExportHours', 0],
    ['stuckExportHours', 169],
    ['stuckExportHours', '1.5'],
    ['alarmTopicArn', 'arn:aws:sqs:eu-west-1:123456789012:q'],
    ['callbacks', 'maybe'],
    ['exportLinkingModules', 'yes'],
    ['callbackBaseUrl', 'http://api.example.com'],
    ['callbackBaseUrl', 'https://api.example.com/?x=1'],
    ['zohoDataCenter', 'XX'],
    ['zohoApiVersion', 'v9'],
    ['zohoAccountsUrl', 'http://accounts.zoho.eu'],
    ['zohoApiDomain', 'not a url'],
    ['pollSchedule', 0],
    ['pollSchedule', '1.5'],
    ['pollConcurrency', 'many'],
    ['maxDownloadAttempts', 0],
    ['bucketName', 'My_Bucket'],
    ['s3Prefix', '/leading-slash'],
    ['s3Prefix', 'wild*card'],
    ['retentionDays', -1],
    ['logRetentionDays', 31],
    ['secretName', 'bad name!'],
    ['alarmEmail', 'not-an-email'],
    ['downloaderMemoryMb', 64],
    ['noncurrentVersionDays', 0],
    ['noncurrentVersionDays', 3651],
    ['noncurrentVersionDays', '7.5'],
    ['stackName', '1-starts-with-digit'],
  ])('rejects %s = %j with a message naming the key', (key, value) => {
    expect(() => parseConfig({ [key]: value })).toThrow(ConfigError);
    expect(() => parseConfig({ [key]: value })).toThrow(new RegExp(`- ${key} = `));
  });

  it('lists every bad key at once', () => {
    expect(() => parseConfig({ zohoDataCenter: 'XX', pollSchedule: 0 })).toThrow(
      /zohoDataCenter = "XX".*\n.*pollSchedule = 0/,
    );
  });

  it('fails when reading a bad value from CDK context (what infra/app.ts does)', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'zoho-cdk-test-'));
    try {
      const app = new App({ outdir, context: { zohoDataCenter: 'XX' } });
      expect(() => configFromContext((key) => app.node.tryGetContext(key))).toThrow(
        /zohoDataCenter = "XX": Invalid option: expected one of "US"\|"EU"/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('coerces command-line strings and treats blanks as unset', () => {
    expect(
      parseConfig({ pollSchedule: '10', retentionDays: ' 30 ', secretName: '', zohoDataCenter: 'in' }),
    ).toMatchObject({ pollSchedule: 10, retentionDays: 30, zohoDataCenter: 'IN', secretName: undefined });
  });

  it('exportLinkingModules: true (cdk.json) or "true" (-c) reaches the functions that list modules', () => {
    for (const v of [true, 'true', ' TRUE ']) {
      const config = parseConfig({ exportLinkingModules: v });
      expect(config.exportLinkingModules).toBe(true);
      expect(settingsEnv(config).EXPORT_LINKING_MODULES).toBe('true');
    }
    expect(settingsEnv(parseConfig({})).EXPORT_LINKING_MODULES).toBe('false');
  });
});

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

describe('callbacks=false, and callbackBaseUrl', () => {
  it('without callbacks: no callback function, route, key or callback variables', () => {
    const built = buildStack({ callbacks: 'false' });
    try {
      const t = Template.fromStack(built.stack);
      expect(built.stack.callbackFunction).toBeUndefined();
      expect(JSON.stringify(t.toJSON())).not.toContain('CALLBACK_');
      const routes = Object.values(t.findResources('AWS::ApiGatewayV2::Route'));
      expect(routes.map((r) => r.Properties.RouteKey)).not.toContain(
        `${CALLBACK_ROUTE.method} ${CALLBACK_ROUTE.path}`,
      );
      expect(Object.keys(t.findResources('AWS::SecretsManager::Secret'))).toHaveLength(1); // the Zoho secret
    } finally {
      built.cleanup();
    }
  }, 60_000);

  it('callbackBaseUrl replaces the API URL in the callback URLs', () => {
    const built = buildStack({ callbackBaseUrl: 'https://zoho-export.example.com/api/' });
    try {
      const t = Template.fromStack(built.stack);
      const fns = t.findResources('AWS::Lambda::Function');
      const fn = fns[logicalId(built.stack, built.stack.callbackFunction!)]!;
      expect(fn.Properties.Environment.Variables.CALLBACK_BASE_URL).toBe(
        'https://zoho-export.example.com/api',
      );
    } finally {
      built.cleanup();
    }
  }, 60_000);
});

describe('timeouts come from lib/config.ts', () => {
  it("every function's Lambda timeout is its timeoutSeconds; a queue's visibility is 6x its consumer's", () => {
    const built = buildStack({
      schedules: [{ name: 'n', module: 'Contacts', mode: 'full', schedule: 'rate(1 day)' }],
    });
    try {
      const { stack } = built;
      const resources = Template.fromStack(stack).toJSON().Resources as Record<
        string,
        CfnFunction & { Properties: { Timeout?: number } }
      >;
      const seen: FunctionName[] = [];
      for (const res of Object.values(resources)) {
        if (res.Type !== 'AWS::Lambda::Function') continue;
        const fn = res.Properties.Tags?.find((t) => t.Key === FUNCTION_TAG)?.Value as FunctionName;
        seen.push(fn);
        expect(res.Properties.Timeout, fn).toBe(FUNCTIONS[fn].timeoutSeconds);
      }
      expect(seen.sort()).toEqual([...FUNCTION_NAMES].sort());
      const visibility = (q: IConstruct) =>
        (resources[logicalId(stack, q)]!.Properties as { VisibilityTimeout?: number }).VisibilityTimeout;
      expect(visibility(stack.downloadQueue)).toBe(6 * FUNCTIONS['download-result'].timeoutSeconds);
      expect(visibility(stack.convertQueue)).toBe(6 * FUNCTIONS['convert-parquet'].timeoutSeconds);
    } finally {
      built.cleanup();
    }
  }, 60_000);
});

describe('schedules', () => {
  const schedules = [
    {
      name: 'contacts-nightly',
      module: 'Contacts',
      mode: 'incremental',
      schedule: 'cron(0 2 * * ? *)',
      timezone: 'Europe/Berlin',
    },
    { name: 'deals.weekly', module: 'Deals', mode: 'full', schedule: 'rate(7 days)', fields: ['Deal_Name'] },
  ];

  it('a modules schedule ("all" or a list) synthesizes like any: one Scheduler schedule naming its modules', () => {
    const built = buildStack({
      schedules: [
        { name: 'crm', modules: 'all', mode: 'incremental', schedule: 'rate(1 day)' },
        { name: 'sales', modules: ['Deals', 'Quoted_Items'], mode: 'full', schedule: 'rate(1 hour)' },
      ],
    });
    try {
      const { stack } = built;
      const all = Template.fromStack(stack).findResources('AWS::Scheduler::Schedule');
      const props = (name: string) => all[stack.getLogicalId(stack.schedules[name]!)]!.Properties;
      expect(props('crm')).toMatchObject({
        Description: 'Zoho CRM bulk export: schedule crm (incremental export of all modules)',
        Target: { Input: JSON.stringify({ schedule: 'crm' }) },
      });
      expect(props('sales').Description).toBe(
        'Zoho CRM bulk export: schedule sales (full export of 2 modules)',
      );
    } finally {
      built.cleanup();
    }
  });

  it('one Scheduler schedule per entry, invoking the runner through a role that may invoke only it', () => {
    const built = buildStack({ schedules });
    try {
      const { stack } = built;
      const t = Template.fromStack(stack);
      const fn = stack.scheduleFunction!;
      expect(fn).toBeDefined();
      const fnId = logicalId(stack, fn);
      const all = t.findResources('AWS::Scheduler::Schedule');
      expect(Object.keys(all)).toHaveLength(2);
      const nightly = stack.schedules['contacts-nightly']!;
      const props = all[stack.getLogicalId(nightly)]!.Properties;
      expect(props).toMatchObject({
        ScheduleExpression: 'cron(0 2 * * ? *)',
        ScheduleExpressionTimezone: 'Europe/Berlin',
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: 'ENABLED',
        Target: {
          Arn: getAtt(fnId),
          Input: JSON.stringify({ schedule: 'contacts-nightly' }),
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: getAtt(logicalId(stack, stack.scheduleDeadLetterQueue)) },
        },
      });
      expect(all[stack.getLogicalId(stack.schedules['deals.weekly']!)]!.Properties).toMatchObject({
        ScheduleExpression: 'rate(7 days)',
        ScheduleExpressionTimezone: 'UTC',
      });
      // The role: assumed by Scheduler of this account, lambda:InvokeFunction on the runner only.
      const roleId = (props.Target.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const role = t.toJSON().Resources[roleId];
      expect(role.Properties.AssumeRolePolicyDocument.Statement[0]).toMatchObject({
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      });
      const st = statementsOf(t, roleId);
      const invoke = st.filter((s) => actionsOf([s]).includes('lambda:InvokeFunction'));
      expect(invoke).toHaveLength(1);
      expect(resourcesOf(invoke[0]!)).toEqual([getAtt(fnId)]);
      expect(actionsOf(st).sort()).toEqual(
        ['lambda:InvokeFunction', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'].sort(),
      );
      // The runner and the API both read the definitions.
      const defs = JSON.parse(envOf(t, fnId).SCHEDULES as string);
      expect(defs.map((d: { name: string }) => d.name)).toEqual(['contacts-nightly', 'deals.weekly']);
      expect(envOf(t, logicalId(stack, stack.apiFunction)).SCHEDULES).toBe(envOf(t, fnId).SCHEDULES);
      // The poller may write the deletions files of incremental exports, under the prefix only.
      const pollPuts = statementsOf(t, logicalId(stack, stack.pollFunction.role!)).filter((s) =>
        actionsOf([s]).includes('s3:PutObject'),
      );
      expect(JSON.stringify(pollPuts)).toContain('/zoho-crm/deletions/*');
      expect(JSON.stringify(pollPuts)).toContain('/zoho-crm/parquet/deletions/*');
      // The runner has its errors alarm, like every function.
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
      expect(alarms).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Threshold: 1,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
        }),
      );
    } finally {
      built.cleanup();
    }
  }, 60_000);

  it('without schedules: no runner, no Scheduler schedule; the deletions grants all the same', () => {
    const built = buildStack();
    try {
      const { stack } = built;
      const t = Template.fromStack(stack);
      expect(stack.scheduleFunction).toBeUndefined();
      expect(Object.keys(t.findResources('AWS::Scheduler::Schedule'))).toHaveLength(0);
      // An incremental export started under an earlier configuration may still complete: a grant must not
      // depend on configuration that can change after data exists.
      const putsOf = (fn: ExporterFunction) =>
        JSON.stringify(
          statementsOf(t, logicalId(stack, fn.role!)).filter((s) => actionsOf([s]).includes('s3:PutObject')),
        );
      expect(putsOf(stack.pollFunction)).toContain('/zoho-crm/deletions/*');
      expect(putsOf(stack.pollFunction)).toContain('/zoho-crm/parquet/deletions/*');
      expect(putsOf(stack.convertFunction)).toContain('/zoho-crm/deletions/*');
      expect(putsOf(stack.downloadFunction)).toContain('/zoho-crm/deletions/*');
      expect(putsOf(stack.downloadFunction)).toContain('/zoho-crm/parquet/deletions/*');
    } finally {
      built.cleanup();
    }
  }, 60_000);

  it.each([
    [
      [{ name: 'x', module: 'Contacts', mode: 'full', schedule: 'cron(0 2 * * *)' }],
      /schedule "x" \(entry 0\): schedule "cron\(0 2 \* \* \*\)": .*6/,
    ],
    [
      [{ name: 'x', module: 'Contacts', mode: 'daily', schedule: 'rate(1 day)' }],
      /schedule "x" \(entry 0\): mode must be "full" or "incremental"/,
    ],
    [
      [
        { name: 'x', module: 'Contacts', mode: 'full', schedule: 'rate(1 day)' },
        { name: 'x', module: 'Deals', mode: 'full', schedule: 'rate(1 day)' },
      ],
      /entry 1\): the name is used by an earlier entry/,
    ],
    [
      [{ name: 'x', module: 'Contacts', mode: 'full', schedule: 'rate(1 day)', timezone: 'Mars/Base' }],
      /timezone "Mars\/Base" is not an IANA time zone/,
    ],
    ['[not json', /schedules = .*not valid JSON/],
  ])('a bad entry fails synth naming the entry and the problem (%#)', (value, message) => {
    expect(() => buildStack({ schedules: value })).toThrow(message);
  });
});

describe('dashboard and the operations alarms', () => {
  const metricNames = [
    'ExportsStarted',
    'ExportsCompleted',
    'ExportsFailed',
    'JobsExported',
    'JobsFailed',
    'ExportRecords',
    'BytesLanded',
    'StatusChecks',
    'TokenMints',
    'DownloadRetries',
    'CallbackAccepted',
    'CallbackRejected',
    'ConversionLagSeconds',
    'ScheduleRunsStarted',
    'ScheduleRunsSkipped',
    'ScheduleRunsFailed',
    'OldestRunningExportAgeSeconds',
    'ApproximateNumberOfMessagesVisible',
    'Errors',
    'Duration',
    'Throttles',
  ];
  const alarmsOf = (t: Template) =>
    Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);

  it('shows every metric, with the dashboard URL and the alarm ARNs as outputs; stuck after 6 h by default', () => {
    const built = buildStack();
    try {
      const t = Template.fromStack(built.stack);
      const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
      expect(dashboards).toHaveLength(1);
      const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
      for (const m of metricNames) expect(body, m).toContain(m);
      for (const q of [built.stack.downloadDeadLetterQueue, built.stack.convertDeadLetterQueue])
        expect(body).toContain(logicalId(built.stack, q));
      const outputs = t.toJSON().Outputs;
      for (const o of [
        'DashboardUrl',
        'StuckExportAlarmArn',
        'ScheduleRunFailedAlarmArn',
        'PollerNotRunningAlarmArn',
      ])
        expect(outputs, o).toHaveProperty(o);
      const stuck = alarmsOf(t).find((a) => JSON.stringify(a).includes('OldestRunningExportAgeSeconds'))!;
      expect(stuck).toMatchObject({ Threshold: 21_600, ComparisonOperator: 'GreaterThanThreshold' });
      const schedule = alarmsOf(t).find((a) => JSON.stringify(a).includes('ScheduleRunsFailed'))!;
      expect(schedule).toMatchObject({ Threshold: 1, TreatMissingData: 'notBreaching' });
    } finally {
      built.cleanup();
    }
  }, 60_000);

  it('stuckExportHours sets the threshold; alarmTopicArn is notified', () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:pager';
    const built = buildStack({ stuckExportHours: '2', alarmTopicArn: topic });
    try {
      const t = Template.fromStack(built.stack);
      const stuck = alarmsOf(t).find((a) => JSON.stringify(a).includes('OldestRunningExportAgeSeconds'))!;
      expect(stuck.Threshold).toBe(7_200);
      for (const a of alarmsOf(t)) expect(a.AlarmActions).toContain(topic);
    } finally {
      built.cleanup();
    }
  }, 60_000);
});
