/**
 * Starts the stand-ins once for the integration project: DynamoDB Local and s3rver, each a child
 * process killed at the end. Test files create their own tables (from lib/tables.ts, unique names)
 * and buckets, so they can run in parallel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { type RunningService, startDynamoDbLocal, startS3rver } from '../../local/stand-ins.js';

declare module 'vitest' {
  export interface ProvidedContext {
    ddbEndpoint: string;
    s3Endpoint: string;
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
}

export async function teardown(): Promise<void> {
  await Promise.all(services.map((s) => s.stop()));
  if (s3dir) rmSync(s3dir, { recursive: true, force: true });
}
