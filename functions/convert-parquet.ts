import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadFunctionConfig } from '../lib/config.js';
import { convertPage, fieldsCache } from '../lib/exports/convert.js';
import { convertMessage } from '../lib/exports/convert-message.js';
import { lambdaRuntime } from '../lib/runtime.js';
import { sqsJsonRecordHandler } from '../lib/sqs-record.js';
import { convertDeps } from '../lib/wiring.js';

const rt = lambdaRuntime('convert-parquet', loadFunctionConfig('convert-parquet'));
const { s3 } = rt.clients;
if (!s3) throw new Error('convert-parquet has a bucket in its spec, so an S3 client');
const deps = convertDeps(rt.core, { ...rt.exportParts, s3 });
const fields = fieldsCache(deps);
const processor = new BatchProcessor(EventType.SQS);

/**
 * SQS (batch size 1): converts one landed page to Parquet. Retries are driven by the job record (a
 * delayed message comes back); a message is reported as failed only when it is malformed or the job's
 * state could not be recorded.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>({ timeoutEarlyInMillis: 20_000 })
  .use(injectLambdaContext(rt.logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler(async (event: SQSEvent, context: Context, { signal }: { signal: AbortSignal }) =>
    processPartialResponse(
      event,
      sqsJsonRecordHandler(convertMessage, 'conversion message', rt.logger, async (msg) => {
        const outcome = await convertPage(deps, msg, { signal, fields });
        rt.logger.info('conversion handled', { job_id: msg.job_id, ...outcome });
      }),
      processor,
      { context, throwOnFullBatchFailure: false },
    ),
  );
