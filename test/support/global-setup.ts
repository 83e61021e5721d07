/**
 * Starts the stand-ins once for the whole run: DynamoDB Local and s3rver, each a child process
 * killed at the end. Table definitions come from the synthesized CDK stack. Test files create
 * their own tables (unique names) and buckets, so they can run in parallel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { type RunningService, startDynamoDbLocal, startS3rver } from '../../local/stand-ins.js';
import { tableDefinitionsFromStack } from '../../local/template.js';

declare module 'vitest' {
  export interface ProvidedContext {
    ddbEndpoint: string;
    s3Endpoint: string;
    tableDefs: string;
  }
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let services: RunningService[] = [];
let s3dir = '';

export async function setup(project: TestProject): Promise<void> {
  s3dir = mkdtempSync(path.join(tmpdir(), 'zoho-s3rver-'));
  const [ddb, s3] = await Promise.all([
    startDynamoDbLocal(),
    startS3rver({ directory: s3dir, buckets: ['exports'] }),
  ]);
  services = [ddb, s3];
  project.provide('ddbEndpoint', ddb.endpoint);
  project.provide('s3Endpoint', s3.endpoint);
  project.provide('tableDefs', JSON.stringify(tableDefinitionsFromStack()));
}

export async function teardown(): Promise<void> {
  await Promise.all(services.map((s) => s.stop()));
  if (s3dir) rmSync(s3dir, { recursive: true, force: true });
}
