import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadFunctionConfig } from '../lib/config.js';
import { tuneHeapForStreaming } from '../lib/heap.js';
import { downloadMessage } from '../lib/jobs/model.js';
import { downloadJob } from '../lib/pipeline/download.js';
import { lambdaRuntime } from '../lib/runtime.js';
import { sqsJsonRecordHandler } from '../lib/sqs-record.js';
import { downloadDeps, exportDeps } from '../lib/wiring.js';

tuneHeapForStreaming();
const rt = lambdaRuntime('download-result', loadFunctionConfig('download-result'));
const { config, logger } = rt;
const { s3 } = rt.clients;
if (!s3) throw new Error('download-result has a bucket in its spec, so an S3 client');
const deps = downloadDeps(rt.core, {
  s3,
  // Deferred downloads come back through the same queue, delayed until their slot.
  dispatch: rt.queue(config.DOWNLOAD_QUEUE_URL),
  exports: exportDeps(rt.core, rt.exportParts),
});
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
      sqsJsonRecordHandler(downloadMessage, 'download message', logger, async (msg) => {
        const outcome = await downloadJob(deps, msg, { signal });
        logger.info('download handled', { job_id: msg.job_id, ...outcome });
      }),
      processor,
      { context, throwOnFullBatchFailure: false },
    ),
  );
