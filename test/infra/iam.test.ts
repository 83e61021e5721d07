import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExporterFunction } from '../../infra/function.js';
import type { ZohoCrmBulkExportStack } from '../../infra/stack.js';
import type { FunctionName } from '../../lib/config.js';
import { buildStack, type Synthesized } from './synth.js';

/**
 * The exact grants of each function's role (finding L6 of the security review): every action on every
 * resource, as the code calls it (lib/ddb/dynamo-table.ts, lib/pipeline/download.ts, lib/exports/*.ts),
 * nothing CDK's grant* helpers add on top (Batch*, Scan, DescribeTable, stream reads, DescribeSecret,
 * GetQueue*, the legal-hold, retention and tagging PutObject*).
 */

interface PolicyProps {
  Roles: Array<{ Ref: string }>;
  PolicyDocument: { Statement: Statement[] };
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** A CloudFormation value as text: `<label>` for a resource of the stack, `[AWS::Region]` for a pseudo parameter. */
function render(value: unknown, labels: Map<string, string>): string {
  if (typeof value === 'string') return value;
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string]; 'Fn::Join'?: [string, unknown[]] };
  if (v.Ref) return v.Ref.startsWith('AWS::') ? `[${v.Ref}]` : `<${labels.get(v.Ref) ?? v.Ref}>`;
  if (v['Fn::GetAtt']) return `<${labels.get(v['Fn::GetAtt'][0]) ?? v['Fn::GetAtt'][0]}>`;
  if (v['Fn::Join']) return v['Fn::Join'][1].map((p) => render(p, labels)).join(v['Fn::Join'][0]);
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** Every action the role's inline policies allow, by resource (logs left out: tested in stack.test.ts). */
function grantsOf(stack: ZohoCrmBulkExportStack, fn: ExporterFunction): Record<string, string[]> {
  const id = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  // Imported resources (bucket, secret) have no logical id: their ARNs are rendered as they are.
  const named: Array<[IConstruct | undefined, string]> = [
    [stack.jobsTable, 'jobs'],
    [stack.exportsTable, 'exports'],
    [stack.stateTable, 'state'],
    [stack.bucket, 'bucket'],
    [stack.secret, 'zohoSecret'],
    [stack.callbackSecret, 'callbackKey'],
    [stack.downloadQueue, 'downloadQueue'],
    [stack.convertQueue, 'convertQueue'],
  ];
  const labels = new Map(named.filter(([c]) => c?.node.defaultChild).map(([c, label]) => [id(c!), label]));
  const roleId = id(fn.role!);
  const out: Record<string, Set<string>> = {};
  const template = Template.fromStack(stack).toJSON();
  const resources: Record<string, { Type: string; Properties: PolicyProps }> = template.Resources;
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const props = r.Properties;
    if (!props.Roles.some((role) => role.Ref === roleId)) continue;
    for (const st of props.PolicyDocument.Statement) {
      expect(st.Effect).toBe('Allow');
      const actions = [st.Action].flat().filter((a) => !a.startsWith('logs:'));
      for (const resource of [st.Resource].flat()) {
        const key = render(resource, labels);
        const set = out[key] ?? new Set<string>();
        for (const a of actions) set.add(a);
        out[key] = set;
      }
    }
  }
  return Object.fromEntries(
    Object.entries(out)
      .filter(([, actions]) => actions.size)
      .map(([k, actions]) => [k, [...actions].sort()]),
  );
}

const BUS = 'arn:[AWS::Partition]:events:[AWS::Region]:[AWS::AccountId]:event-bus/default';
const GLUE = 'arn:[AWS::Partition]:glue:[AWS::Region]:[AWS::AccountId]';
const glue = {
  [`${GLUE}:catalog`]: ['glue:CreateTable', 'glue:GetTable', 'glue:UpdateTable'],
  [`${GLUE}:database/zoho_crm`]: ['glue:CreateTable', 'glue:GetTable', 'glue:UpdateTable'],
  [`${GLUE}:table/zoho_crm/zoho_*`]: ['glue:CreateTable', 'glue:GetTable', 'glue:UpdateTable'],
};
/** The consume grant of an SQS event source mapping, as CDK makes it. */
const CONSUME = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];

/** Jobs: read, created (pages, restarts), updated by all; exports created only where exports start. */
const tables = (o: { startsExports?: boolean; api?: boolean } = {}) => ({
  '<jobs>': [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
    ...(o.api ? ['dynamodb:Scan'] : []),
  ].sort(),
  '<jobs>/index/*': ['dynamodb:Query'],
  '<exports>': [
    'dynamodb:GetItem',
    ...(o.startsExports ? ['dynamodb:PutItem'] : []),
    'dynamodb:Query',
    'dynamodb:UpdateItem',
  ],
  '<exports>/index/*': ['dynamodb:Query'],
  '<state>': [
    'dynamodb:GetItem',
    ...(o.api ? ['dynamodb:DeleteItem', 'dynamodb:PutItem'] : []),
    'dynamodb:UpdateItem',
  ].sort(),
  '<zohoSecret>': ['secretsmanager:GetSecretValue'],
});

const EXPECTED: Record<FunctionName, Record<string, string[]>> = {
  api: {
    ...tables({ startsExports: true, api: true }),
    '<callbackKey>': ['secretsmanager:GetSecretValue'],
    '<convertQueue>': ['sqs:SendMessage'],
  },
  'run-schedule': {
    ...tables({ startsExports: true }),
    '<callbackKey>': ['secretsmanager:GetSecretValue'],
  },
  'poll-jobs': {
    ...tables(),
    '<callbackKey>': ['secretsmanager:GetSecretValue'],
    '<downloadQueue>': ['sqs:SendMessage'],
    '<convertQueue>': ['sqs:SendMessage'],
    // The views list and read the committed manifests (lib/exports/views.ts); the listing is
    // conditioned on the `_manifests/` prefix (checked below).
    '<bucket>': ['s3:ListBucket'],
    '<bucket>/zoho-crm/_manifests/*': ['s3:GetObject', 's3:PutObject'],
    // A snapshot's manifest, when its last export ends here (lib/snapshots/end.ts).
    '<bucket>/zoho-crm/_snapshots/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/deletions/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/parquet/deletions/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/module=*': ['s3:DeleteObject'],
    '<bucket>/zoho-crm/parquet/module=*': ['s3:DeleteObject'],
    [BUS]: ['events:PutEvents'],
    ...glue,
  },
  'download-result': {
    ...tables(),
    '<downloadQueue>': [...CONSUME, 'sqs:SendMessage'].sort(),
    '<convertQueue>': ['sqs:SendMessage'],
    '<bucket>/zoho-crm/module=*': [
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:PutObject',
    ],
    '<bucket>/zoho-crm/_manifests/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/_snapshots/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/deletions/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/parquet/deletions/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/parquet/module=*': ['s3:DeleteObject'],
    [BUS]: ['events:PutEvents'],
  },
  'convert-parquet': {
    ...tables(),
    '<convertQueue>': [...CONSUME, 'sqs:SendMessage'].sort(),
    '<bucket>/zoho-crm/module=*': ['s3:DeleteObject', 's3:GetObject'],
    '<bucket>/zoho-crm/parquet/module=*': ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject'],
    '<bucket>/zoho-crm/parquet/*': ['s3:PutObject'],
    // The views list and read the committed manifests (lib/exports/views.ts); the listing is
    // conditioned on the `_manifests/` prefix (checked below).
    '<bucket>': ['s3:ListBucket'],
    '<bucket>/zoho-crm/_manifests/*': ['s3:GetObject', 's3:PutObject'],
    // A snapshot's manifest, when its last export ends here (lib/snapshots/end.ts).
    '<bucket>/zoho-crm/_snapshots/*': ['s3:PutObject'],
    '<bucket>/zoho-crm/deletions/*': ['s3:PutObject'],
    [BUS]: ['events:PutEvents'],
    ...glue,
  },
  'zoho-callback': {
    ...tables(),
    '<callbackKey>': ['secretsmanager:GetSecretValue'],
    '<downloadQueue>': ['sqs:SendMessage'],
    // Internet-facing: no S3 at all (a recovery that drops pages is the poller's).
    [BUS]: ['events:PutEvents'],
  },
};

/** Actions no function's code calls, whatever CDK's grant helpers would add. */
const NEVER = [
  /^dynamodb:(Batch|DescribeTable|GetRecords|GetShardIterator|ConditionCheckItem|ListStreams|DescribeStream)/,
  /^secretsmanager:(DescribeSecret|List)/,
  /^s3:(PutObject(Legal|Retention|Tagging|VersionTagging|Acl)|Abort\*|List(?!Bucket$)|DeleteObjectVersion|GetBucket)/,
];

describe('IAM: each function may do exactly what its code calls', () => {
  let built: Synthesized;
  beforeAll(() => {
    // Schedules on: the runner exists; callbacks on by default.
    built = buildStack({
      schedules: [{ name: 'n', module: 'Contacts', mode: 'incremental', schedule: 'rate(1 day)' }],
    });
  }, 120_000);
  afterAll(() => built?.cleanup());

  const functionsOf = (stack: ZohoCrmBulkExportStack): ExporterFunction[] => [
    stack.apiFunction,
    stack.pollFunction,
    stack.downloadFunction,
    stack.convertFunction,
    stack.callbackFunction!,
    stack.scheduleFunction!,
  ];

  it.each(Object.keys(EXPECTED))('%s: exactly its actions on exactly its resources', (name) => {
    const fn = functionsOf(built.stack).find((f) => f.exporter === name)!;
    expect(grantsOf(built.stack, fn)).toEqual(EXPECTED[name as FunctionName]);
  });

  it('no role holds Scan (but the API on the jobs table), Batch*, DescribeTable, stream reads, DescribeSecret or PutObject variants', () => {
    for (const fn of functionsOf(built.stack)) {
      for (const [resource, actions] of Object.entries(grantsOf(built.stack, fn))) {
        for (const a of actions) {
          for (const never of NEVER) expect(a, `${fn.exporter} ${resource}`).not.toMatch(never);
          if (a === 'dynamodb:Scan') expect([fn.exporter, resource]).toEqual(['api', '<jobs>']);
          if (a === 'dynamodb:DeleteItem') expect([fn.exporter, resource]).toEqual(['api', '<state>']);
          // Deletes only of a page's files: the CSVs (module=) and their Parquet copies (parquet/module=).
          if (a === 's3:DeleteObject') {
            expect(['<bucket>/zoho-crm/module=*', '<bucket>/zoho-crm/parquet/module=*']).toContain(resource);
          }
        }
      }
    }
  });

  it('a listing of the bucket is only of the manifests (the views find the committed exports there)', () => {
    const template = Template.fromStack(built.stack).toJSON();
    const resources: Record<string, { Type: string; Properties: PolicyProps }> = template.Resources;
    const listings = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement)
      .filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:List')));
    expect(listings.length).toBe(2); // the poller's and the converter's
    for (const st of listings) {
      expect(st.Action).toBe('s3:ListBucket');
      expect(st.Condition).toEqual({ StringLike: { 's3:prefix': ['zoho-crm/_manifests/*'] } });
    }
  });

  it('an imported bucket and secret: the same patterns on the named bucket and the secret name-??????', () => {
    const other = buildStack({
      bucketName: 'my-exports',
      s3Prefix: 'exports/zoho',
      secretName: 'zoho/creds',
    });
    try {
      const grants = grantsOf(other.stack, other.stack.pollFunction);
      const bucket = 'arn:[AWS::Partition]:s3:::my-exports/exports/zoho';
      expect(grants[`${bucket}/module=*`]).toEqual(['s3:DeleteObject']);
      expect(grants[`${bucket}/parquet/module=*`]).toEqual(['s3:DeleteObject']);
      expect(grants[`${bucket}/_snapshots/*`]).toEqual(['s3:PutObject']);
      expect(Object.keys(grants).filter((k) => k.includes(':s3:::'))).toHaveLength(7);
      const secret = Object.entries(grants).filter(([k]) => k.includes(':secret:zoho/creds'));
      expect(secret).toEqual([
        [
          'arn:[AWS::Partition]:secretsmanager:[AWS::Region]:[AWS::AccountId]:secret:zoho/creds-??????',
          ['secretsmanager:GetSecretValue'],
        ],
      ]);
    } finally {
      other.cleanup();
    }
  }, 120_000);
});
