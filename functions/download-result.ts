import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { pageHooks } from '../lib/exports/hooks.js';
import { tuneHeapForStreaming } from '../lib/heap.js';
import { downloadMessage } from '../lib/jobs/model.js';
import { downloadJob } from '../lib/pipeline/download.js';
import { DownloadBudget } from '../lib/pipeline/download-budget.js';
import { lambdaRuntime, sqsDispatcher } from '../lib/runtime.js';

tuneHeapForStreaming();
const rt = lambdaRuntime('download-result');
const { config, logger } = rt;
const deps = {
  ...rt,
  s3: rt.clients.s3,
  budget: new DownloadBudget(rt.tables.state, { perMinute: config.DOWNLOADS_PER_MINUTE }),
  // Deferred downloads come back through the same queue, delayed until their slot.
  dispatch: sqsDispatcher(rt.clients.sqs, config.DOWNLOAD_QUEUE_URL),
  pages: pageHooks(rt.exportDeps),
};
const processor = new BatchProcessor(EventType.SQS);

/**
 * SQS (batch size 1): exports one job. Retries are driven by the job record; a message is reported
 * as failed (and so reaches the dead-letter queue after its retries) only when it is malformed or
 * the job's state could not be recorded.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>({ timeoutEarlyInMillis: 20_000 })
  .use(injectLambdaContext(logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler(async (event: SQSEvent, context: Context, { signal }: { signal: AbortSignal }) =>
    processPartialResponse(
      event,
      async (record: SQSRecord) => {
        let body: unknown;
        try {
          body = JSON.parse(record.body);
        } catch {
          body = undefined;
        }
        const msg = downloadMessage.safeParse(body);
        if (!msg.success) {
          logger.error('malformed download message', { messageId: record.messageId });
          throw new Error('malformed download message');
        }
        const outcome = await downloadJob(deps, msg.data, { signal });
        logger.info('download handled', { job_id: msg.data.job_id, ...outcome });
      },
      processor,
      { context, throwOnFullBatchFailure: false },
    ),
  );
