import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { configFromContext } from '../../infra/config.js';
import { ZohoCrmBulkExportStack } from '../../infra/stack.js';

export interface Synthesized {
  app: App;
  stack: ZohoCrmBulkExportStack;
  /** Removes the cloud-assembly folder; call it in afterAll. */
  cleanup: () => void;
}

/**
 * Builds the stack the way infra/app.ts does (config read from CDK context), with bundling skipped and the
 * cloud assembly written to a temporary folder.
 */
export function buildStack(context: Record<string, unknown> = {}): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'zoho-cdk-test-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const config = configFromContext((key) => app.node.tryGetContext(key));
  const stack = new ZohoCrmBulkExportStack(app, 'TestStack', { config });
  return { app, stack, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}
