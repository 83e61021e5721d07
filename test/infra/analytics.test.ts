import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATHENA_RESULTS_EXPIRY_DAYS, ATHENA_RESULTS_PREFIX } from '../../infra/analytics.js';
import { buildStack, type Synthesized } from './synth.js';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const json = (v: unknown) => JSON.stringify(v);

describe('analytics: the Athena workgroup and the analyst policy', () => {
  let built: Synthesized;
  let template: Template;
  beforeAll(() => {
    built = buildStack();
    template = Template.fromStack(built.stack);
  }, 120_000);
  afterAll(() => built?.cleanup());

  it('a workgroup with its result location (athena-results/ of the export bucket, SSE-S3) and engine 3 enforced', () => {
    const groups = template.findResources('AWS::Athena::WorkGroup');
    expect(Object.keys(groups)).toHaveLength(1);
    const props = Object.values(groups)[0]!.Properties;
    expect(props.Name).toBe('TestStack-analytics');
    expect(props.RecursiveDeleteOption).toBe(true);
    const cfg = props.WorkGroupConfiguration;
    expect(cfg.EnforceWorkGroupConfiguration).toBe(true);
    expect(cfg.EngineVersion).toEqual({ SelectedEngineVersion: 'Athena engine version 3' });
    expect(cfg.ResultConfiguration.EncryptionConfiguration).toEqual({ EncryptionOption: 'SSE_S3' });
    const bucketId = Object.keys(
      template.findResources('AWS::S3::Bucket', {
        Properties: { VersioningConfiguration: Match.anyValue() },
      }),
    )[0]!;
    expect(json(cfg.ResultConfiguration.OutputLocation)).toBe(
      json({ 'Fn::Join': ['', ['s3://', { Ref: bucketId }, `/${ATHENA_RESULTS_PREFIX}`]] }),
    );
  });

  it('the export bucket expires the results prefix', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'expire-athena-results',
            Prefix: ATHENA_RESULTS_PREFIX,
            ExpirationInDays: ATHENA_RESULTS_EXPIRY_DAYS,
            Status: 'Enabled',
          }),
        ]),
      },
    });
  });

  it('outputs the workgroup name and the policy ARN', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const groupId = Object.keys(template.findResources('AWS::Athena::WorkGroup'))[0]!;
    const policyId = Object.keys(template.findResources('AWS::IAM::ManagedPolicy'))[0]!;
    expect(outputs.AthenaWorkGroupName?.Value).toEqual({ Ref: groupId });
    expect(outputs.QueryPolicyArn?.Value).toEqual({ Ref: policyId });
  });

  it('the managed policy: Athena on that workgroup, Glue Get* on the database, S3 read by prefix, results read/write, ListBucket by prefix', () => {
    const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
    expect(policies).toHaveLength(1);
    const doc = policies[0]!.Properties.PolicyDocument as { Statement: Statement[] };
    const bySid = Object.fromEntries(doc.Statement.map((s) => [s.Sid, s]));
    expect(Object.keys(bySid).sort()).toEqual(
      [
        'ListThesePrefixes',
        'LocateTheBucket',
        'ReadAndWriteResults',
        'ReadTheCatalog',
        'ReadTheData',
        'RunQueriesInTheWorkGroup',
      ].sort(),
    );
    for (const s of doc.Statement) expect(s.Effect).toBe('Allow');
    // No service-wide wildcard action anywhere.
    for (const s of doc.Statement) for (const a of actions(s)) expect(a).not.toMatch(/\*/);

    const run = bySid.RunQueriesInTheWorkGroup!;
    expect(actions(run)).toEqual(
      expect.arrayContaining([
        'athena:StartQueryExecution',
        'athena:GetQueryExecution',
        'athena:GetQueryResults',
        'athena:StopQueryExecution',
      ]),
    );
    expect(json(run.Resource)).toContain(':workgroup/');
    expect(json(run.Resource)).toContain(Object.keys(template.findResources('AWS::Athena::WorkGroup'))[0]!);

    const glue = bySid.ReadTheCatalog!;
    for (const a of actions(glue)) expect(a).toMatch(/^glue:Get/);
    const glueResources = json(glue.Resource);
    expect(glueResources).toContain(':database/zoho_crm');
    expect(glueResources).toContain(':table/zoho_crm/*');
    expect(glueResources).not.toMatch(/:table\/\*"/);

    const read = bySid.ReadTheData!;
    expect(actions(read)).toEqual(['s3:GetObject']);
    expect(json(read.Resource)).toContain('/zoho-crm/parquet/*');
    expect(json(read.Resource)).toContain('/zoho-crm/_manifests/*');
    expect(json(read.Resource)).not.toContain('/zoho-crm/*"'); // not the raw CSVs

    const results = bySid.ReadAndWriteResults!;
    expect(actions(results)).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
    expect(json(results.Resource)).toContain(`/${ATHENA_RESULTS_PREFIX}*`);

    const list = bySid.ListThesePrefixes!;
    expect(actions(list)).toEqual(['s3:ListBucket']);
    // GetBucketLocation carries no s3:prefix: under the listing's condition it would always be denied.
    const locate = bySid.LocateTheBucket!;
    expect(actions(locate)).toEqual(['s3:GetBucketLocation']);
    expect(locate.Condition).toBeUndefined();
    expect(list.Condition?.StringLike?.['s3:prefix']).toEqual(
      expect.arrayContaining(['zoho-crm/parquet/*', 'zoho-crm/_manifests/*', `${ATHENA_RESULTS_PREFIX}*`]),
    );
  });

  it('an imported bucket gets no lifecycle rule, and a warning says to expire the results', () => {
    const imported = buildStack({ bucketName: 'my-exports' });
    try {
      const warnings = Annotations.fromStack(imported.stack).findWarning(
        '*',
        Match.stringLikeRegexp('athena-results'),
      );
      expect(warnings.length).toBe(1);
      const t = Template.fromStack(imported.stack);
      const group = Object.values(t.findResources('AWS::Athena::WorkGroup'))[0]!;
      expect(group.Properties.WorkGroupConfiguration.ResultConfiguration.OutputLocation).toBe(
        `s3://my-exports/${ATHENA_RESULTS_PREFIX}`,
      );
    } finally {
      imported.cleanup();
    }
  }, 120_000);
});
