import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { configFromContext } from '../infra/config.js';
import { ZohoCrmBulkExportStack } from '../infra/stack.js';
import { type TableDefinition, tablesFromTemplate } from './stand-ins.js';

/**
 * Synthesizes the real CDK stack in-process (bundling skipped, nothing deployed) and returns the
 * DynamoDB table definitions in it, so local tables are created from the same source as AWS's.
 */
export function tableDefinitionsFromStack(): TableDefinition[] {
  const outdir = mkdtempSync(path.join(tmpdir(), 'zoho-local-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const config = configFromContext((key) => app.node.tryGetContext(key));
    const stack = new ZohoCrmBulkExportStack(app, 'LocalStack', { config });
    const assembly = app.synth();
    const template = assembly.getStackArtifact(stack.artifactId).template as Parameters<
      typeof tablesFromTemplate
    >[0];
    return tablesFromTemplate(template);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
