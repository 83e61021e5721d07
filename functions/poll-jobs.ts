import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadConfig, timingFrom } from '../lib/config.js';
import { createLogger, emfMetrics } from '../lib/observability.js';
import { type PollSummary, pollOnce } from '../lib/pipeline/poll.js';
import { awsClients, jobStore, sqsDispatcher, zohoFromConfig } from '../lib/runtime.js';

const config = loadConfig();
if (!config.DOWNLOAD_QUEUE_URL) throw new Error('invalid configuration: DOWNLOAD_QUEUE_URL is required');
const clients = awsClients();
const logger = createLogger('poll-jobs');
const metrics = emfMetrics('poll-jobs');
const { zoho } = zohoFromConfig(config, { ddb: clients.ddb, secrets: clients.secrets, metrics });
const deps = {
  config,
  timing: timingFrom(config),
  jobs: jobStore(config, clients.ddb),
  zoho,
  dispatch: sqsDispatcher(clients.sqs, config.DOWNLOAD_QUEUE_URL),
  logger,
  metrics,
};

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
