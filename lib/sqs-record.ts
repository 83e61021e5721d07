/**
 * One SQS record whose body is a JSON message: parsed with its zod schema; a malformed one is logged
 * and thrown, so the batch reports it as failed (and it reaches the dead-letter queue after its
 * retries). The SQS consumers (downloader, converter) share this.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import type { z } from 'zod';

export function sqsJsonRecordHandler<S extends z.ZodType>(
  schema: S,
  what: string,
  logger: Pick<Logger, 'error'>,
  handle: (msg: z.output<S>) => Promise<void>,
): (record: SQSRecord) => Promise<void> {
  return async (record) => {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      body = undefined;
    }
    const msg = schema.safeParse(body);
    if (!msg.success) {
      logger.error(`malformed ${what}`, { messageId: record.messageId });
      throw new Error(`malformed ${what}`);
    }
    await handle(msg.data);
  };
}
