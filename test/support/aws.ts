import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { documentClient } from '../../lib/runtime.js';
import {
  createTables,
  localDynamoDbClient,
  localS3Client,
  type TableDefinition,
} from '../../local/stand-ins.js';

export interface TestAws {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  jobsTable: string;
  stateTable: string;
  bucket: string;
}

/** Fresh tables (from the CDK template) and a fresh bucket for one test file or test. */
export async function freshAws(): Promise<TestAws> {
  const raw = localDynamoDbClient(inject('ddbEndpoint'));
  const ddb = documentClient(raw);
  const defs = JSON.parse(inject('tableDefs')) as TableDefinition[];
  const id = randomUUID().slice(0, 8);
  const names = await createTables(raw, defs, `t${id}`);
  const s3 = localS3Client(inject('s3Endpoint'));
  const bucket = `b-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return { ddb, s3, ...names, bucket };
}
