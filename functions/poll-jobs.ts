import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { type PollSummary, pollOnce } from '../lib/pipeline/poll.js';
import { lambdaRuntime, sqsDispatcher } from '../lib/runtime.js';

const rt = lambdaRuntime('poll-jobs');
const { config, logger, metrics } = rt;
if (!config.DOWNLOAD_QUEUE_URL) throw new Error('invalid configuration: DOWNLOAD_QUEUE_URL is required');
const deps = { ...rt, dispatch: sqsDispatcher(rt.clients.sqs, config.DOWNLOAD_QUEUE_URL) };

/** Stop taking new jobs this long before the Lambda timeout, so checks in flight can finish. */
const SAFETY_MS = 30_000;

/** EventBridge schedule: one poller tick. */
export const handler = middy<ScheduledEvent, PollSummary>({ timeoutEarlyInMillis: 5_000 }).handler(
  async (_event: ScheduledEvent, context: Context, { signal }: { signal: AbortSignal }) => {
    const deadline = Date.now() + Math.max(1_000, context.getRemainingTimeInMillis() - SAFETY_MS);
    try {
      const summary = await pollOnce(deps, { deadline, signal });
      logger.info('poll tick done', { ...summary });
      return summary;
    } finally {
      metrics.flush();
    }
  },
);
