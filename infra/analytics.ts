import { Annotations, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { manifestsLocation } from '../lib/exports/layout.js';
import type { ExporterConfig } from './config.js';
import { acknowledge, bucketArnOf } from './function.js';

/** Where Athena writes query results in the export bucket (its own prefix, expired by a lifecycle rule). */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';
/** Query results are a cache of the answer, not data: kept a week. */
export const ATHENA_RESULTS_EXPIRY_DAYS = 7;

/**
 * Athena for `zoho-export query`: a workgroup whose result location (under `athena-results/` of the
 * export bucket, SSE-S3) and engine version 3 are enforced, and a managed policy to give an analyst:
 * run and read queries in that workgroup, read the catalog of the stack's database, read the Parquet
 * files and manifests, write results, and nothing more.
 */
export class Analytics extends Construct {
  readonly workGroup: athena.CfnWorkGroup;
  readonly queryPolicy: iam.ManagedPolicy;

  constructor(
    scope: Construct,
    id: string,
    props: { config: ExporterConfig; bucket: s3.IBucket; glueDatabase: string },
  ) {
    super(scope, id);
    const { config, bucket, glueDatabase } = props;
    const stack = Stack.of(this);

    if (bucket instanceof s3.Bucket) {
      bucket.addLifecycleRule({
        id: 'expire-athena-results',
        prefix: ATHENA_RESULTS_PREFIX,
        expiration: Duration.days(ATHENA_RESULTS_EXPIRY_DAYS),
      });
    } else {
      Annotations.of(this).addWarningV2(
        'zoho-export:athena-results-expiry',
        `The export bucket is imported, so this stack cannot add a lifecycle rule: expire s3://${bucket.bucketName}/${ATHENA_RESULTS_PREFIX} yourself (query results).`,
      );
    }

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: `${stack.stackName}-analytics`,
      description: 'zoho-export query: SQL over the exported Zoho CRM tables',
      state: 'ENABLED',
      // The stack owns its query history: deleting the stack deletes the workgroup even when it was used.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${bucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const prefix = config.s3Prefix;
    // The typed Parquet files (every module table's location) and the manifests (zoho_exports): lib/exports/layout.ts.
    const readPrefixes = [`${prefix}/parquet/`, manifestsLocation(prefix)];
    const workGroupArn = stack.formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workGroup.ref,
    });
    this.queryPolicy = new iam.ManagedPolicy(this, 'QueryPolicy', {
      description: `Run zoho-export query: Athena in workgroup ${stack.stackName}-analytics on database ${glueDatabase}, read-only on the exported data`,
      statements: [
        new iam.PolicyStatement({
          sid: 'RunQueriesInTheWorkGroup',
          actions: [
            'athena:StartQueryExecution',
            'athena:GetQueryExecution',
            'athena:GetQueryResults',
            'athena:StopQueryExecution',
            'athena:GetWorkGroup',
          ],
          resources: [workGroupArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadTheCatalog',
          actions: [
            'glue:GetDatabase',
            'glue:GetTable',
            'glue:GetTables',
            'glue:GetPartition',
            'glue:GetPartitions',
          ],
          resources: [
            stack.formatArn({ service: 'glue', resource: 'catalog' }),
            stack.formatArn({ service: 'glue', resource: 'database', resourceName: glueDatabase }),
            stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${glueDatabase}/*` }),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'ReadTheData',
          actions: ['s3:GetObject'],
          resources: readPrefixes.map((p) => bucket.arnForObjects(`${p}*`)),
        }),
        new iam.PolicyStatement({
          sid: 'ReadAndWriteResults',
          actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          resources: [bucket.arnForObjects(`${ATHENA_RESULTS_PREFIX}*`)],
        }),
        // Athena asks where the results bucket is: a bucket-level call with no s3:prefix, so a prefix
        // condition would deny it (an absent key fails StringLike).
        new iam.PolicyStatement({
          sid: 'LocateTheBucket',
          actions: ['s3:GetBucketLocation'],
          resources: [bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'ListThesePrefixes',
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: {
            StringLike: {
              's3:prefix': [...readPrefixes, ATHENA_RESULTS_PREFIX].flatMap((p) => [p, `${p}*`]),
            },
          },
        }),
      ],
    });
    // One acknowledgement per wildcard finding, so a new wildcard is still reported.
    const why: Array<[string, string]> = [
      [
        `arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/${glueDatabase}/*`,
        `Module tables (${glueDatabase}/zoho_<module>) and views appear as modules are exported, so the analyst reads every table of the stack's one database; Get* actions only.`,
      ],
      ...readPrefixes.map((p): [string, string] => [
        `${bucketArnOf(bucket)}/${p}*`,
        `Athena reads every object under ${p} (typed Parquet files or manifests, named per export and page at run time); s3:GetObject only.`,
      ]),
      [
        `${bucketArnOf(bucket)}/${ATHENA_RESULTS_PREFIX}*`,
        `Athena writes each query's result under ${ATHENA_RESULTS_PREFIX} with a name it picks (the query id) and the CLI's Athena reads it back; expired by a lifecycle rule.`,
      ],
    ];
    for (const [finding, reason] of why)
      acknowledge(this.queryPolicy, `AwsSolutions-IAM5[Resource::${finding}]`, reason);

    new CfnOutput(stack, 'AthenaWorkGroupName', {
      value: this.workGroup.ref,
      description: 'zoho-export query runs Athena here (results under athena-results/, expired)',
    });
    new CfnOutput(stack, 'QueryPolicyArn', {
      value: this.queryPolicy.managedPolicyArn,
      description: 'Attach to an analyst: run zoho-export query, and nothing more',
    });
  }
}
