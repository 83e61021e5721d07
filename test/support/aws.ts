import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { documentClient, dynamoTables, type Tables } from '../../lib/runtime.js';
import { createTables, localDynamoDbClient, localS3Client } from '../../local/stand-ins.js';

export interface TestAws {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  jobsTable: string;
  exportsTable: string;
  stateTable: string;
  tables: Tables;
  bucket: string;
}

/** Fresh tables (from lib/tables.ts) in DynamoDB Local and a fresh bucket in s3rver. */
export async function freshAws(): Promise<TestAws> {
  const raw = localDynamoDbClient(inject('ddbEndpoint'));
  const ddb = documentClient(raw);
  const id = randomUUID().slice(0, 8);
  const names = await createTables(raw, `t${id}`);
  const s3 = localS3Client(inject('s3Endpoint'));
  const bucket = `b-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    ddb,
    s3,
    jobsTable: names.jobs,
    exportsTable: names.exports,
    stateTable: names.state,
    tables: dynamoTables(ddb, names),
    bucket,
  };
}
