import { defineConfig } from 'vitest/config';

const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

/**
 * Pure suites: no Java, no stand-in (DynamoDB Local, s3rver), no `inject(...)`. They run on any machine
 * with Node and `unzip`, in seconds. A file lands here only if nothing in it (or its helpers) calls
 * test/support/aws.ts or test/support/pipeline.ts, or starts a stand-in of its own.
 */
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/analytics/columns.test.ts',
  'test/analytics/convert.test.ts',
  'test/analytics/csv.test.ts',
  'test/analytics/compression-setting.test.ts',
  'test/analytics/engines.test.ts',
  'test/analytics/fields.test.ts',
  'test/cli/resolve.test.ts',
  // The fake's suites but child.test.ts, which spawns and restarts the fake as a child process.
  'test/fake-zoho/!(child).test.ts',
  'test/infra/analytics.test.ts',
  'test/infra/function.test.ts',
  'test/infra/iam.test.ts',
  'test/infra/nag.test.ts',
  'test/infra/stack.test.ts',
  'test/schedules/expression.test.ts',
];

/**
 * Suites with a case or a setup over 60 s here (2 shared cores): 512 MiB through the converter, the CLI against a real
 * `npm start`, `npm start` itself (build, Java, restarts), the bundled handlers from the cloud assembly.
 */
const SLOW = [
  'test/analytics/convert-large.test.ts',
  'test/cli/local-stack.test.ts',
  'test/iam/local-stack-iam.test.ts',
  'test/infra/bundle.test.ts',
  'test/local/blackbox-recovery.test.ts',
  'test/local/blackbox.test.ts',
  'test/local/start.test.ts',
  'test/security/no-secrets.test.ts',
];

/** The stand-ins for the suites that need them (integration, and the bundle test in slow). */
const standIns: { globalSetup: string[]; hookTimeout: number; pool: 'forks'; maxWorkers: number } = {
  globalSetup: ['test/support/global-setup.ts'],
  hookTimeout: 120_000,
  pool: 'forks',
  maxWorkers: 2,
};

/**
 * Three projects: `unit` (the pure suites above), `integration` (everything else: DynamoDB Local, s3rver and
 * the fake Zoho; its global setup starts the stand-ins) and `slow`. `npm test` runs unit then integration (under
 * 6 minutes on 2 cores), `npm run test:slow` the slow tier (CI runs both), `npm run test:all` all three.
 * `npm run test:unit` needs no Java and no s3rver.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: UNIT,
          sequence: { groupOrder: 0 },
          testTimeout: 20_000,
          // The CDK suites synthesize the stack in beforeAll: seconds alone, more on a busy 2-core machine.
          hookTimeout: 60_000,
          // Vitest's default is one worker less than the cores: one worker on a 2-core machine. These files
          // mostly wait on child processes and sockets, so two workers halve the wall time there.
          maxWorkers: 2,
          // No stand-ins and no module state worth a fresh copy per file: one module graph per worker saves
          // the ~20 s of re-importing aws-cdk-lib, the AWS SDK and the product's modules for every file.
          isolate: false,
          env,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...SLOW],
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          ...standIns,
          env,
        },
      },
      {
        test: {
          name: 'slow',
          include: SLOW,
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          ...standIns,
          env,
        },
      },
    ],
  },
});
