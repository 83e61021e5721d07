import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionName } from '../lib/config.js';

/** Repository root (infra/..): the esbuild project root and home of package-lock.json. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** ESM bundles have no `require`; some CommonJS dependencies inside the bundle still call it. */
const ESM_REQUIRE_SHIM =
  "import { createRequire as __bundleCreateRequire } from 'module'; const require = __bundleCreateRequire(import.meta.url);";

/** The tag that names which function of lib/config.ts a Lambda is (tests map the template with it). */
export const FUNCTION_TAG = 'zoho-export:function';

export interface ExporterFunctionProps {
  /** The function (lib/config.ts): its entry is functions/<name>.ts, its environment is described there. */
  readonly name: FunctionName;
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
      entry: path.join(PROJECT_ROOT, 'functions', `${props.name}.ts`),
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
    Tags.of(this).add(FUNCTION_TAG, props.name);
  }
}
