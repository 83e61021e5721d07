import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Repository root (infra/..): the esbuild project root and home of package-lock.json. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** ESM bundles have no `require`; some CommonJS dependencies inside the bundle still call it. */
const ESM_REQUIRE_SHIM =
  "import { createRequire as __bundleCreateRequire } from 'module'; const require = __bundleCreateRequire(import.meta.url);";

export interface ExporterFunctionProps {
  /** File name under functions/, e.g. 'poll-jobs.ts'. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The one place that sets the defaults every exporter Lambda shares: Node.js 22 on arm64, ESM bundle with
 * the AWS SDK bundled in (the versions we tested, not the runtime's), source maps, an explicit log group
 * with retention, and an execution role that may only write to that log group (no AWSLambdaBasicExecutionRole
 * managed policy, whose logs:* permissions cover every log group in the account).
 */
export class ExporterFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ExporterFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, { retention: props.logRetention });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    super(scope, id, {
      entry: path.join(PROJECT_ROOT, 'functions', props.entry),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: lambda.Tracing.DISABLED,
      role,
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        sourceMap: true,
        minify: true,
        bundleAwsSDK: true,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_SHIM,
      },
    });
    logGroup.grantWrite(role);
  }
}
