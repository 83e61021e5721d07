import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { tuneHeapForStreaming } from '../lib/heap.js';
import { downloadMessage } from '../lib/jobs/model.js';
import { describeError } from '../lib/observability.js';
import { downloadJob } from '../lib/pipeline/download.js';
import { DownloadBudget } from '../lib/pipeline/download-budget.js';
import { lambdaRuntime } from '../lib/runtime.js';

tuneHeapForStreaming();
const rt = lambdaRuntime('download-result');
const { config, logger, metrics } = rt;
if (!config.BUCKET) throw new Error('invalid configuration: BUCKET is required');
const deps = {
  ...rt,
  s3: rt.clients.s3,
  budget: new DownloadBudget(rt.clients.ddb, config.STATE_TABLE, config.DOWNLOADS_PER_MINUTE),
};

/**
 * SQS (batch size 1): exports one job. Retries are driven by the job record; a message is reported
 * as failed (and so reaches the dead-letter queue after its retries) only when it is malformed or
 * the job's state could not be recorded.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>({ timeoutEarlyInMillis: 20_000 }).handler(
  async (event: SQSEvent, _context: Context, { signal }: { signal: AbortSignal }) => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        body = undefined;
      }
      const msg = downloadMessage.safeParse(body);
      if (!msg.success) {
        logger.error('malformed download message', { messageId: record.messageId });
        batchItemFailures.push({ itemIdentifier: record.messageId });
        continue;
      }
      try {
        const outcome = await downloadJob(deps, msg.data, { signal });
        logger.info('download handled', { job_id: msg.data.job_id, ...outcome });
      } catch (e) {
        logger.error('download could not be recorded', { job_id: msg.data.job_id, error: describeError(e) });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    metrics.flush();
    return { batchItemFailures };
  },
);
