import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { emitExportHealth } from '../lib/exports/health.js';
import { pageHooks } from '../lib/exports/hooks.js';
import { sweepExports } from '../lib/exports/sweep.js';
import { type PollSummary, pollOnce } from '../lib/pipeline/poll.js';
import { lambdaRuntime, sqsDispatcher } from '../lib/runtime.js';

const rt = lambdaRuntime('poll-jobs');
const deps = {
  ...rt,
  dispatch: sqsDispatcher(rt.clients.sqs, rt.config.DOWNLOAD_QUEUE_URL),
  pages: pageHooks(rt.exportDeps),
  sweep: (o: { deadline: number }) => sweepExports(rt.exportDeps, o),
};

/** Stop taking new jobs this long before the Lambda timeout, so checks in flight can finish. */
const SAFETY_MS = 30_000;

/** EventBridge schedule: one poller tick. */
export const handler = middy<ScheduledEvent, PollSummary>({ timeoutEarlyInMillis: 5_000 })
  .use(injectLambdaContext(rt.logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler(async (_event: ScheduledEvent, context: Context, { signal }: { signal: AbortSignal }) => {
    const deadline = Date.now() + Math.max(1_000, context.getRemainingTimeInMillis() - SAFETY_MS);
    const summary = await pollOnce(deps, { deadline, signal });
    // Every tick, even one that stopped early: the stuck-export alarm reads this gauge.
    await emitExportHealth({
      exportsTable: rt.exportDeps.exports.table,
      metrics: rt.metrics,
      logger: rt.logger,
    });
    rt.logger.info('poll tick done', { ...summary });
    return summary;
  });
