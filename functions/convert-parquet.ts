import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { convertPage, fieldsCache } from '../lib/exports/convert.js';
import { convertMessage } from '../lib/exports/convert-message.js';
import { lambdaRuntime } from '../lib/runtime.js';

const rt = lambdaRuntime('convert-parquet');
const deps = { ...rt.exportDeps, s3: rt.clients.s3 };
const fields = fieldsCache(rt.exportDeps);
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
      async (record: SQSRecord) => {
        let body: unknown;
        try {
          body = JSON.parse(record.body);
        } catch {
          body = undefined;
        }
        const msg = convertMessage.safeParse(body);
        if (!msg.success) {
          rt.logger.error('malformed conversion message', { messageId: record.messageId });
          throw new Error('malformed conversion message');
        }
        const outcome = await convertPage(deps, msg.data, { signal, fields });
        rt.logger.info('conversion handled', { job_id: msg.data.job_id, ...outcome });
      },
      processor,
      { context, throwOnFullBatchFailure: false },
    ),
  );
