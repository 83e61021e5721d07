import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { exportsTableInput, type TableInput } from '../lib/exports/catalog.js';
import { TABLES, type TableDefinition } from '../lib/tables.js';
import type { ExporterConfig } from './config.js';
import { acknowledge, type ExportBucket } from './function.js';

/** Server access logs are kept a year, then expire. */
const ACCESS_LOG_EXPIRATION = Duration.days(365);

/**
 * Where the exporter keeps its data: the DynamoDB tables (lib/tables.ts), the export bucket (created, or
 * an existing one by name), the Zoho credentials secret and the Glue catalog over the bucket.
 *
 * Not a child construct: its resources are created in the stack's own scope so their logical ids stay
 * what they have always been. A new scope would rename, i.e. replace, the retained tables and bucket.
 */
export class Storage {
  readonly jobsTable: dynamodb.Table;
  readonly exportsTable: dynamodb.Table;
  /** Only a cache (OAuth access token, refresh lease, download budget): safe to destroy. */
  readonly stateTable: dynamodb.Table;
  readonly bucket: s3.IBucket;
  /** The bucket with the key prefix every grant is scoped to. */
  readonly exportBucket: ExportBucket;
  readonly secret: secretsmanager.ISecret;
  readonly glueDatabase: glue.CfnDatabase;

  constructor(scope: Construct, config: ExporterConfig) {
    this.jobsTable = table(scope, 'JobsTable', TABLES.jobs);
    this.exportsTable = table(scope, 'ExportsTable', TABLES.exports);
    this.stateTable = table(scope, 'StateTable', TABLES.state);

    if (config.bucketName) {
      // An imported bucket's settings are not the stack's to change: its owner must version it.
      this.bucket = s3.Bucket.fromBucketName(scope, 'ExportBucket', config.bucketName);
      Annotations.of(this.bucket).addWarningV2(
        'zoho-export:unversioned-bucket',
        `The export bucket ${config.bucketName} is imported, so this stack cannot enable its versioning: ` +
          'enable it (with a noncurrent-version expiry), or a re-conversion or delete loses the previous object.',
      );
    } else {
      this.bucket = createExportBucket(scope, Duration.days(config.noncurrentVersionDays));
    }
    this.exportBucket = { bucket: this.bucket, prefix: config.s3Prefix };

    this.secret = config.secretName
      ? secretsmanager.Secret.fromSecretNameV2(scope, 'ZohoSecret', config.secretName)
      : createZohoSecret(scope);

    // The Glue catalog (lib/exports/catalog.ts): the database, and the manifests' table.
    const account = Stack.of(scope).account;
    this.glueDatabase = new glue.CfnDatabase(scope, 'GlueDatabase', {
      catalogId: account,
      databaseInput: {
        name: config.glueDatabase,
        description:
          'Zoho CRM exports: zoho_<module> tables (typed Parquet) and zoho_exports (the manifests)',
      },
    });
    const exportsGlueTable = new glue.CfnTable(scope, 'ExportsGlueTable', {
      catalogId: account,
      databaseName: config.glueDatabase,
      tableInput: cfnTableInput(
        exportsTableInput({ bucket: this.bucket.bucketName, prefix: config.s3Prefix }),
      ),
    });
    exportsGlueTable.addResourceDependency(this.glueDatabase);
  }
}

/** A table from its definition in lib/tables.ts: on-demand, AWS-managed encryption, TTL, PITR. */
function table(scope: Construct, id: string, def: TableDefinition): dynamodb.Table {
  const attr = (a: { name: string; type: 'S' | 'N' }): dynamodb.Attribute => ({
    name: a.name,
    type: a.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  });
  const created = new dynamodb.Table(scope, id, {
    partitionKey: attr(def.partitionKey),
    ...(def.sortKey ? { sortKey: attr(def.sortKey) } : {}),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: def.ttlAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: def.pointInTimeRecovery },
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy: def.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  });
  for (const index of def.indexes) {
    created.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: attr(index.partitionKey),
      ...(index.sortKey ? { sortKey: attr(index.sortKey) } : {}),
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
  return created;
}

/**
 * Versioned, so no overwrite (a re-conversion rewrites Parquet files and manifests in place) or delete
 * loses data; previous versions, and the delete markers left alone, expire after `noncurrentExpiry`.
 */
function createExportBucket(scope: Construct, noncurrentExpiry: Duration): s3.Bucket {
  const accessLogBucket = new s3.Bucket(scope, 'AccessLogBucket', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ id: 'expire-access-logs', expiration: ACCESS_LOG_EXPIRATION }],
    removalPolicy: RemovalPolicy.RETAIN,
    autoDeleteObjects: false,
  });
  return new s3.Bucket(scope, 'ExportBucket', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    lifecycleRules: [
      { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: noncurrentExpiry },
      { id: 'expire-delete-markers', expiredObjectDeleteMarker: true },
    ],
    serverAccessLogsBucket: accessLogBucket,
    serverAccessLogsPrefix: 'export-bucket/',
    removalPolicy: RemovalPolicy.RETAIN,
    autoDeleteObjects: false,
  });
}

function createZohoSecret(scope: Construct): secretsmanager.Secret {
  // No credential ever appears in the template: client_id/client_secret start empty and refresh_token is a
  // random placeholder, all to be replaced by the operator (see README) before the first job runs.
  const secret = new secretsmanager.Secret(scope, 'ZohoSecret', {
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
