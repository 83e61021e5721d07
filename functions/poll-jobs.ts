import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadFunctionConfig } from '../lib/config.js';
import { emitExportHealth } from '../lib/exports/health.js';
import { emitHealthGuarded, type PollSummary, pollOnce } from '../lib/pipeline/poll.js';
import { lambdaRuntime } from '../lib/runtime.js';
import { exportDeps, pollDeps } from '../lib/wiring.js';

const rt = lambdaRuntime('poll-jobs', loadFunctionConfig('poll-jobs'));
const exports = exportDeps(rt.core, rt.exportParts);
const deps = pollDeps(rt.core, { dispatch: rt.queue(rt.config.DOWNLOAD_QUEUE_URL), exports, sweep: true });

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
    await emitHealthGuarded(rt, () =>
      emitExportHealth({ exportsTable: rt.core.exports.table, metrics: rt.metrics, logger: rt.logger }),
    );
    rt.logger.info('poll tick done', { ...summary });
    return summary;
  });
