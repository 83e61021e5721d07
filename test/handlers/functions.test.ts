/**
 * The Lambda entries themselves, imported and invoked in this process (the bundle test does the same
 * with the esbuild bundles, in child processes): each validates its environment at load, wires its
 * dependencies and handles its kind of event against DynamoDB Local.
 */
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../local/stand-ins.js';
import { freshAws, type TestAws } from '../support/aws.js';

let aws: TestAws;
const context = {
  getRemainingTimeInMillis: () => 120_000,
  functionName: 'test',
  awsRequestId: 'req-1',
} as unknown as Context;

beforeAll(async () => {
  aws = await freshAws();
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: inject('ddbEndpoint'),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
    AWS_MAX_ATTEMPTS: '1',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    LOG_LEVEL: 'SILENT',
    JOBS_TABLE: aws.jobsTable,
    EXPORTS_TABLE: aws.exportsTable,
    STATE_TABLE: aws.stateTable,
    BUCKET: aws.bucket,
    DOWNLOAD_QUEUE_URL: 'http://127.0.0.1:9/queue/none',
    CONVERT_QUEUE_URL: 'http://127.0.0.1:9/queue/convert',
    ZOHO_ACCOUNTS_URL: 'http://127.0.0.1:9',
    ZOHO_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:none',
  });
});

describe('Lambda entries, in-process', () => {
  it('api: registers a job and refuses a number id', async () => {
    const { handler } = await import('../../functions/api.js');
    const event = {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/jobs',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path: '/jobs' } },
      body: '{"job_id":"3652397000000646004"}',
      isBase64Encoded: false,
    } as never;
    const r = await handler(event, context);
    expect(r.statusCode).toBe(201);
    const bad = await handler({ ...(event as object), body: '{"job_id": 1}' } as never, context);
    expect(bad.statusCode).toBe(400);
  });

  it('poll-jobs: a tick without reachable credentials keeps the job PENDING and says why', async () => {
    const { handler } = await import('../../functions/poll-jobs.js');
    const r = await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' } as never, context);
    expect(r).toMatchObject({ failed: 0, retried: 1, stoppedEarly: true });
  });

  it('download-result: a stale message is ignored, a malformed one is reported as a batch item failure', async () => {
    const { handler } = await import('../../functions/download-result.js');
    const record = (messageId: string, body: string) => ({
      messageId,
      body,
      receiptHandle: 'r',
      attributes: {},
    });
    const r = await handler(
      {
        Records: [
          record('stale', '{"job_id":"3652397000000646004","dispatch_id":"old"}'),
          record('bad', 'not json'),
        ],
      } as never,
      context,
    );
    expect(r.batchItemFailures).toEqual([{ itemIdentifier: 'bad' }]);
  });
});
