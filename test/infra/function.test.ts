import { App, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { ExporterFunction } from '../../infra/function.js';

/** A stack with bundling skipped (as in test/infra/synth.ts), holding one exporter function. */
function withFunction() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'FunctionTest');
  const fn = new ExporterFunction(stack, 'Fn', {
    name: 'api',
    description: 'test',
    memorySize: 128,
    settings: {},
    logRetention: logs.RetentionDays.ONE_DAY,
  });
  return { app, stack, fn };
}

describe('ExporterFunction binding', () => {
  it('fails synth while a resource the function reads (lib/config.ts) is not bound, naming it', () => {
    const { app } = withFunction();
    expect(() => app.synth()).toThrow(/api reads JOBS_TABLE .*nothing is bound/);
  });

  it('cannot bind a variable the function does not read', () => {
    const { stack, fn } = withFunction();
    const queue = new sqs.Queue(stack, 'Q');
    // The API sends to the converter's queue, but never reads the download queue's URL.
    expect(() => fn.bindQueue(queue, 'DOWNLOAD_QUEUE_URL', { send: true })).toThrow(
      /api does not read DOWNLOAD_QUEUE_URL/,
    );
  });

  it('cannot bind one variable to two resources', () => {
    const { stack, fn } = withFunction();
    fn.bindQueue(new sqs.Queue(stack, 'A'), 'CONVERT_QUEUE_URL', { send: true });
    expect(() => fn.bindQueue(new sqs.Queue(stack, 'B'), 'CONVERT_QUEUE_URL', { send: true })).toThrow(
      /bound twice/,
    );
  });
});
