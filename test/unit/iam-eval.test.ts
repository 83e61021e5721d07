/**
 * The IAM check's evaluator (test/support/iam/evaluate.ts) and template resolution
 * (test/support/iam/template.ts): wildcards, Deny, NotAction/NotResource, conditions, intrinsics, and the
 * recorder's mapping of SDK commands to the actions IAM authorizes.
 */
import { describe, expect, it } from 'vitest';
import {
  conditionHolds,
  evaluate,
  type Statement,
  statementSchema,
  wildcardMatch,
} from '../support/iam/evaluate.js';
import { IamRecorder, type RecordableClient } from '../support/iam/recorder.js';
import {
  arnOf,
  checkCalls,
  functionRoles,
  namingOf,
  resolve,
  type TemplateJson,
} from '../support/iam/template.js';

const allow = (Action: string[], Resource: string[], extra: Partial<Statement> = {}): Statement => ({
  Effect: 'Allow',
  Action,
  Resource,
  ...extra,
});

describe('wildcards', () => {
  it('* spans any characters, / and : included; ? is one character', () => {
    expect(wildcardMatch('arn:aws:s3:::b/zoho-crm/*', 'arn:aws:s3:::b/zoho-crm/module=X/a.csv')).toBe(true);
    expect(
      wildcardMatch('arn:aws:s3:::b/zoho-crm/module=*', 'arn:aws:s3:::b/zoho-crm/parquet/module=X'),
    ).toBe(false);
    expect(wildcardMatch('s3:Abort*', 's3:AbortMultipartUpload')).toBe(true);
    expect(wildcardMatch('a?c', 'abc')).toBe(true);
    expect(wildcardMatch('a?c', 'abbc')).toBe(false);
    // Regex characters in a pattern are literal.
    expect(wildcardMatch('table/a.b', 'table/aXb')).toBe(false);
  });

  it('actions match case-insensitively, resources case-sensitively', () => {
    const s = [allow(['DynamoDB:getitem'], ['arn:x:Table'])];
    expect(evaluate(s, { action: 'dynamodb:GetItem', resource: 'arn:x:Table' }).allowed).toBe(true);
    expect(evaluate(s, { action: 'dynamodb:GetItem', resource: 'arn:x:table' }).allowed).toBe(false);
  });
});

describe('evaluate', () => {
  it('allowed iff an Allow matches and no Deny does; nothing matching is an implicit deny', () => {
    const s: Statement[] = [
      allow(['s3:*'], ['arn:aws:s3:::b/*']),
      { Effect: 'Deny', Action: ['s3:DeleteObject'], Resource: ['arn:aws:s3:::b/keep/*'] },
    ];
    expect(evaluate(s, { action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/x' }).allowed).toBe(true);
    const denied = evaluate(s, { action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/keep/x' });
    expect(denied).toEqual({ allowed: false, allowedBy: [0], deniedBy: [1] });
    expect(evaluate(s, { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:q' }).allowed).toBe(false);
  });

  it('NotAction and NotResource', () => {
    const s: Statement[] = [
      { Effect: 'Allow', NotAction: ['s3:Delete*'], NotResource: ['arn:aws:s3:::b/secret/*'] },
    ];
    expect(evaluate(s, { action: 's3:GetObject', resource: 'arn:aws:s3:::b/x' }).allowed).toBe(true);
    expect(evaluate(s, { action: 's3:DeleteObject', resource: 'arn:aws:s3:::b/x' }).allowed).toBe(false);
    expect(evaluate(s, { action: 's3:GetObject', resource: 'arn:aws:s3:::b/secret/x' }).allowed).toBe(false);
  });

  it('conditions: positive operators need the key, negated ones and IfExists hold without it', () => {
    const prefix = { StringLike: { 's3:prefix': ['zoho-crm/*'] } };
    expect(conditionHolds(prefix, { 's3:prefix': 'zoho-crm/a' })).toBe(true);
    expect(conditionHolds(prefix, { 's3:prefix': 'other/a' })).toBe(false);
    expect(conditionHolds(prefix, {})).toBe(false);
    expect(conditionHolds({ StringNotEquals: { 'aws:SourceVpc': ['v'] } }, {})).toBe(true);
    expect(conditionHolds({ StringNotEquals: { 'aws:SourceVpc': ['v'] } }, { 'aws:SourceVpc': 'v' })).toBe(
      false,
    );
    expect(conditionHolds({ StringEqualsIfExists: { k: ['v'] } }, {})).toBe(true);
    expect(
      conditionHolds({ Bool: { 'aws:SecureTransport': ['false'] } }, { 'aws:SecureTransport': 'false' }),
    ).toBe(true);
    // Several values of one key are ORed; several keys are ANDed.
    const both = { StringEquals: { a: ['1', '2'], b: ['3'] } };
    expect(conditionHolds(both, { a: '2', b: '3' })).toBe(true);
    expect(conditionHolds(both, { a: '2', b: '4' })).toBe(false);
    const s = [allow(['s3:ListBucket'], ['arn:aws:s3:::b'], { Condition: prefix })];
    expect(evaluate(s, { action: 's3:ListBucket', resource: 'arn:aws:s3:::b' }).allowed).toBe(false);
  });

  it("a template's boolean condition value reads as IAM's string", () => {
    const s = statementSchema.parse({
      Effect: 'Deny',
      Action: 's3:*',
      Resource: '*',
      Condition: { Bool: { 'aws:SecureTransport': false } },
    });
    expect(s.Condition).toEqual({ Bool: { 'aws:SecureTransport': ['false'] } });
    expect(
      evaluate([s], { action: 's3:GetObject', resource: 'x', context: { 'aws:SecureTransport': 'false' } }),
    ).toEqual({
      allowed: false,
      allowedBy: [],
      deniedBy: [0],
    });
  });

  it('an operator it does not know fails loudly', () => {
    expect(() => conditionHolds({ NumericLessThan: { 'aws:MultiFactorAuthAge': ['3600'] } }, {})).toThrow(
      /NumericLessThan is not supported/,
    );
  });
});

// A template as the CDK writes it: one function, its role, its policy with GetAtt/Join/Ref/Sub.
const TEMPLATE: TemplateJson = {
  Resources: {
    JobsTable1: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    ExportsTable1: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    StateTable1: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    ExportBucketAB: { Type: 'AWS::S3::Bucket', Properties: {} },
    ConvertQueue1: { Type: 'AWS::SQS::Queue', Properties: {} },
    ZohoSecret1: { Type: 'AWS::SecretsManager::Secret', Properties: {} },
    Role1: { Type: 'AWS::IAM::Role', Properties: {} },
    Fn1: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Role: { 'Fn::GetAtt': ['Role1', 'Arn'] },
        Tags: [{ Key: 'zoho-export:function', Value: 'api' }],
        Environment: {
          Variables: {
            JOBS_TABLE: { Ref: 'JobsTable1' },
            EXPORTS_TABLE: { Ref: 'ExportsTable1' },
            STATE_TABLE: { Ref: 'StateTable1' },
            BUCKET: { Ref: 'ExportBucketAB' },
            CONVERT_QUEUE_URL: { Ref: 'ConvertQueue1' },
            ZOHO_SECRET_ARN: { Ref: 'ZohoSecret1' },
          },
        },
      },
    },
    Policy1: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        Roles: [{ Ref: 'Role1' }],
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Allow',
              Action: ['dynamodb:GetItem', 'dynamodb:Query'],
              Resource: [
                { 'Fn::GetAtt': ['JobsTable1', 'Arn'] },
                { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['JobsTable1', 'Arn'] }, '/index/*']] },
              ],
            },
            {
              Effect: 'Allow',
              Action: 's3:PutObject',
              Resource: {
                'Fn::Join': ['', [{ 'Fn::GetAtt': ['ExportBucketAB', 'Arn'] }, '/zoho-crm/_manifests/*']],
              },
            },
            { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: 'ZohoSecret1' } },
            {
              Effect: 'Allow',
              Action: 'events:PutEvents',
              Resource: {
                // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
                'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default',
              },
            },
            {
              Effect: 'Allow',
              Action: 'sqs:SendMessage',
              Resource: { 'Fn::GetAtt': ['ConvertQueue1', 'Arn'] },
            },
          ],
        },
      },
    },
  },
};

describe('the template', () => {
  it('resolves GetAtt, Join, Ref, Sub and the pseudo parameters to ARNs named by logical id', () => {
    const r = TEMPLATE.Resources;
    expect(resolve(r, { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['JobsTable1', 'Arn'] }, '/index/*']] })).toBe(
      'arn:aws:dynamodb:us-east-1:123456789012:table/JobsTable1/index/*',
    );
    expect(resolve(r, { 'Fn::GetAtt': ['ExportBucketAB', 'Arn'] })).toBe('arn:aws:s3:::exportbucketab');
    expect(resolve(r, { Ref: 'ZohoSecret1' })).toBe(
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:ZohoSecret1',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
    expect(resolve(r, { 'Fn::Sub': '${ConvertQueue1.Arn}:${AWS::AccountId}' })).toBe(
      'arn:aws:sqs:us-east-1:123456789012:ConvertQueue1:123456789012',
    );
    expect(() => resolve(r, { 'Fn::ImportValue': 'x' })).toThrow(/not resolved/);
    expect(() => resolve(r, { Ref: 'Nope' })).toThrow(/unknown/);
  });

  it("finds each function's statements through its role, and names the recorded resources the same way", () => {
    const roles = functionRoles(TEMPLATE);
    expect([...roles.keys()]).toEqual(['api']);
    expect(roles.get('api')!.statements).toHaveLength(5);
    const naming = namingOf(TEMPLATE);
    expect(arnOf({ kind: 'table', table: 'jobs', index: 'by-status' }, naming)).toBe(
      'arn:aws:dynamodb:us-east-1:123456789012:table/JobsTable1/index/by-status',
    );
    expect(arnOf({ kind: 'object', key: 'zoho-crm/_manifests/a.json' }, naming)).toBe(
      'arn:aws:s3:::exportbucketab/zoho-crm/_manifests/a.json',
    );
  });

  it('checks recorded calls: denied ones named, unused grants listed', () => {
    const call = (action: string, resource: Parameters<typeof arnOf>[0], service = 'dynamodb') => ({
      fn: 'api' as const,
      service,
      action,
      resource,
      via: action,
    });
    const [report] = checkCalls(TEMPLATE, [
      call('GetItem', { kind: 'table', table: 'jobs' }),
      call('Query', { kind: 'table', table: 'jobs', index: 'by-status' }),
      call('PutItem', { kind: 'table', table: 'jobs' }),
      call('PutObject', { kind: 'object', key: 'zoho-crm/_manifests/a.json' }, 's3'),
      call('PutObject', { kind: 'object', key: 'zoho-crm/module=X/a.csv' }, 's3'),
      call('GetSecretValue', { kind: 'secret', secret: 'zoho' }, 'secretsmanager'),
      call('PutEvents', { kind: 'event-bus', name: 'default' }, 'events'),
    ]);
    expect(report!.calls).toBe(7);
    expect(report!.denied.map((d) => `${d.action} ${d.resource}`)).toEqual([
      'dynamodb:PutItem arn:aws:dynamodb:us-east-1:123456789012:table/JobsTable1',
      's3:PutObject arn:aws:s3:::exportbucketab/zoho-crm/module=X/a.csv',
    ]);
    expect(report!.unused).toEqual([
      {
        action: 'dynamodb:GetItem',
        resource: 'arn:aws:dynamodb:us-east-1:123456789012:table/JobsTable1/index/*',
      },
      { action: 'dynamodb:Query', resource: 'arn:aws:dynamodb:us-east-1:123456789012:table/JobsTable1' },
      { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:123456789012:ConvertQueue1' },
    ]);
  });
});

describe('the recorder', () => {
  /** A client stand-in: runs one command through the recorder's middleware. */
  function fakeClient(): RecordableClient & { send(command: string, input: object): Promise<void> } {
    const mws: Parameters<RecordableClient['middlewareStack']['add']>[0][] = [];
    return {
      middlewareStack: { add: (mw) => void mws.push(mw) },
      async send(commandName, input) {
        type Handler = (args: { input: object }) => Promise<{ output: unknown; response: unknown }>;
        const last: Handler = async () => ({ output: {}, response: {} });
        const handler = mws.reduceRight<Handler>((next, mw) => mw(next, { commandName }), last);
        await handler({ input });
      },
    };
  }
  const recorder = () => new IamRecorder({ tables: { jobs: 'tj', exports: 'te', state: 'ts' }, bucket: 'b' });

  it('maps DynamoDB commands (document ones too) to per-table actions; a transaction per item', async () => {
    const r = recorder();
    const c = fakeClient();
    r.attachDynamo(c, 'poll-jobs');
    await c.send('GetCommand', { TableName: 'tj', Key: {} });
    await c.send('QueryCommand', { TableName: 'tj', IndexName: 'by-status' });
    await c.send('TransactWriteItemsCommand', {
      TransactItems: [
        { Put: { TableName: 'te', Item: {} } },
        { Update: { TableName: 'tj', Key: {} } },
        { ConditionCheck: { TableName: 'ts', Key: {} } },
        { Delete: { TableName: 'ts', Key: {} } },
      ],
    });
    expect(r.calls.map((x) => [x.action, x.resource])).toEqual([
      ['GetItem', { kind: 'table', table: 'jobs' }],
      ['Query', { kind: 'table', table: 'jobs', index: 'by-status' }],
      ['PutItem', { kind: 'table', table: 'exports' }],
      ['UpdateItem', { kind: 'table', table: 'jobs' }],
      ['ConditionCheckItem', { kind: 'table', table: 'state' }],
      ['DeleteItem', { kind: 'table', table: 'state' }],
    ]);
    await expect(c.send('GetItemCommand', { TableName: 'other' })).rejects.toThrow(/unknown table/);
  });

  it('maps S3 commands as IAM authorizes them: multipart is PutObject, HeadObject GetObject, a listing the bucket', async () => {
    const r = recorder();
    const c = fakeClient();
    r.attachS3(c, 'download-result');
    for (const cmd of [
      'CreateMultipartUpload',
      'UploadPart',
      'CompleteMultipartUpload',
      'AbortMultipartUpload',
      'HeadObject',
    ])
      await c.send(`${cmd}Command`, { Bucket: 'b', Key: 'k' });
    await c.send('ListObjectsV2Command', { Bucket: 'b' });
    expect(r.calls.map((x) => `${x.action} ${x.resource.kind}`)).toEqual([
      'PutObject object',
      'PutObject object',
      'PutObject object',
      'AbortMultipartUpload object',
      'GetObject object',
      'ListBucket bucket',
    ]);
    await expect(c.send('PutBucketPolicyCommand', { Bucket: 'b' })).rejects.toThrow(/no IAM mapping/);
  });

  it('a Glue table change is checked on the catalog, the database and the table', () => {
    const r = recorder();
    r.glueEnsureTable('convert-parquet', { database: 'db', table: 't', created: true, added: [] });
    expect(r.calls.map((x) => `${x.action} ${x.resource.kind}`)).toEqual([
      'GetTable glue-catalog',
      'GetTable glue-database',
      'GetTable glue-table',
      'CreateTable glue-catalog',
      'CreateTable glue-database',
      'CreateTable glue-table',
    ]);
  });
});
