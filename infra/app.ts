import { App } from 'aws-cdk-lib';
import { ConfigError, configFromContext } from './config.js';
import { ZohoCrmBulkExportStack } from './stack.js';

const app = new App();

let config: ReturnType<typeof configFromContext>;
try {
  config = configFromContext((key) => app.node.tryGetContext(key));
} catch (error) {
  if (error instanceof ConfigError) {
    // A short, readable message instead of a stack trace; the CLI then reports the failed synth.
    console.error(`\n${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

// Environment-agnostic unless the CLI knows the account/region; the stack never does context lookups, so
// `cdk synth` works without credentials.
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;

new ZohoCrmBulkExportStack(app, 'ZohoCrmBulkExportStack', {
  stackName: config.stackName,
  description: 'Zoho CRM Bulk Read to Amazon S3 exporter',
  ...(account || region ? { env: { account, region } } : {}),
  config,
});

app.synth();
