/**
 * Synthesizes the stack with REAL esbuild bundling and invokes each bundled handler, straight from
 * the cloud assembly, with a sample event of its kind against the local stand-ins: a bundling
 * mistake (a missing import, an ESM/CJS clash, a module-load crash) fails here, not in AWS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { configFromContext } from '../../infra/config.js';
import { FUNCTION_TAG } from '../../infra/function.js';
import { ZohoCrmBulkExportStack } from '../../infra/stack.js';
import type { FunctionName } from '../../lib/config.js';
import { LOCAL_CREDENTIALS } from '../../local/stand-ins.js';
import { freshAws, type TestAws } from '../support/aws.js';

const run = promisify(execFile);
let outdir = '';
let aws: TestAws;
const bundles: Record<FunctionName, string> = {
  api: '',
  'poll-jobs': '',
  'download-result': '',
  'convert-parquet': '',
  'zoho-callback': '',
  'run-schedule': '',
};

interface CfnResource {
  Type: string;
  Properties?: { Tags?: Array<{ Key: string; Value: string }>; Handler?: string; Runtime?: string };
  Metadata?: Record<string, string>;
}

beforeAll(async () => {
  aws = await freshAws();
  outdir = mkdtempSync(path.join(tmpdir(), 'zoho-bundle-test-'));
  const app = new App({
    outdir,
    context: {
      'aws:cdk:enable-asset-metadata': true,
      // With a schedule, so the schedule runner is bundled too.
      schedules: [{ name: 'nightly', module: 'Contacts', mode: 'full', schedule: 'rate(1 day)' }],
    },
  });
  const config = configFromContext((k) => app.node.tryGetContext(k));
  const stack = new ZohoCrmBulkExportStack(app, 'BundleTest', { config });
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as {
    Resources: Record<string, CfnResource>;
  };
  for (const res of Object.values(template.Resources)) {
    if (res.Type !== 'AWS::Lambda::Function' || !res.Metadata?.['aws:asset:path']) continue;
    const file = path.join(outdir, res.Metadata['aws:asset:path'], 'index.mjs');
    const fn = res.Properties?.Tags?.find((t) => t.Key === FUNCTION_TAG)?.Value as FunctionName | undefined;
    if (fn) bundles[fn] = file;
  }
}, 180_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** Runs `handler(event, context)` of a bundle in a fresh Node process, as Lambda would. */
async function invoke(bundle: string, event: unknown, env: Record<string, string>): Promise<unknown> {
  const script = path.join(outdir, `invoke-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    script,
    `const { handler } = await import(${JSON.stringify(bundle)});
     const context = { getRemainingTimeInMillis: () => 120000, functionName: 'test', awsRequestId: 'req-1' };
     const result = await handler(${JSON.stringify(event)}, context);
     process.stdout.write('\\nRESULT ' + JSON.stringify(result) + '\\n');`,
  );
  const ddb = inject('ddbEndpoint');
  const { stdout } = await run(process.execPath, [script], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: ddb,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_METRICS_DISABLED: 'true',
      JOBS_TABLE: aws.jobsTable,
      EXPORTS_TABLE: aws.exportsTable,
      BUCKET: aws.bucket,
      CONVERT_QUEUE_URL: 'http://127.0.0.1:9/queue/convert',
      ZOHO_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:none',
      STATE_TABLE: aws.stateTable,
      ...env,
    },
    timeout: 60_000,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`no result from ${bundle}: ${stdout}`);
  return JSON.parse(line.slice(7));
}

describe('bundled handlers from the synthesized cloud assembly', () => {
  it('bundles every function as ESM with the AWS SDK inside', () => {
    for (const [name, file] of Object.entries(bundles)) {
      expect(file, name).not.toBe('');
      expect(statSync(file).size).toBeGreaterThan(50_000);
      expect(readFileSync(file, 'utf8')).toContain('createRequire');
    }
  });

  it('api answers an API Gateway v2 event (and writes to DynamoDB)', async () => {
    const event = {
      version: '2.0',
      routeKey: 'POST /jobs',
      rawPath: '/jobs',
      rawQueryString: '',
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path: '/jobs' } },
      body: '{"job_id":"3652397000000646004"}',
      isBase64Encoded: false,
    };
    const r = (await invoke(bundles.api, event, {})) as { statusCode: number; body: string };
    expect(r.statusCode).toBe(201);
    expect(JSON.parse(r.body)).toMatchObject({ job_id: '3652397000000646004', status: 'PENDING' });
    const bad = (await invoke(bundles.api, { ...event, body: '{"job_id": 1}' }, {})) as {
      statusCode: number;
    };
    expect(bad.statusCode).toBe(400);
  }, 60_000);

  it('poll-jobs runs a tick for an EventBridge scheduled event', async () => {
    const event = {
      version: '0',
      id: 'e1',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: {},
    };
    // The registered job is due; with no reachable Zoho credentials it must stay PENDING, not crash.
    const r = (await invoke(bundles['poll-jobs'], event, {
      DOWNLOAD_QUEUE_URL: 'http://127.0.0.1:9/queue/none',
      CONVERT_QUEUE_URL: 'http://127.0.0.1:9/queue/convert',
      ZOHO_ACCOUNTS_URL: 'http://127.0.0.1:9',
      ZOHO_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:none',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
      AWS_MAX_ATTEMPTS: '1',
    })) as { checked: number; retried: number; failed: number };
    expect(r.failed).toBe(0);
    expect(r.retried).toBe(1);
  }, 60_000);

  it('download-result handles an SQS event (a stale message is ignored, a malformed one reported)', async () => {
    const record = (body: string) => ({
      messageId: `m-${body.length}`,
      receiptHandle: 'r',
      body,
      attributes: {},
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:q',
      awsRegion: 'us-east-1',
    });
    const r = (await invoke(
      bundles['download-result'],
      { Records: [record('{"job_id":"3652397000000646004","dispatch_id":"old"}'), record('not json')] },
      {
        BUCKET: aws.bucket,
        DOWNLOAD_QUEUE_URL: 'http://127.0.0.1:9/queue/none',
        CONVERT_QUEUE_URL: 'http://127.0.0.1:9/queue/convert',
        ZOHO_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:none',
      },
    )) as { batchItemFailures: Array<{ itemIdentifier: string }> };
    expect(r.batchItemFailures).toEqual([{ itemIdentifier: 'm-8' }]);
  }, 60_000);
});
