import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { FUNCTIONS, type FunctionName } from '../lib/config.js';
import { acknowledge } from './function.js';

/** A message that failed this many times goes to the dead-letter queue. */
const MAX_RECEIVE_COUNT = 3;
/**
 * AWS recommends a source-queue visibility timeout of at least 6x the function timeout: when the Lambda poller
 * is throttled it keeps retrying the invoke while the message stays invisible, and a shorter timeout would let
 * the message reappear (and count towards maxReceiveCount) while a download is still running. A crashed
 * download is recovered earlier than this by the poller, which re-dispatches jobs whose DOWNLOADING lease ran
 * out (the stale message is then ignored thanks to its dispatch_id), so the long timeout costs no latency.
 */
const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface QueueWithDlq {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
}

/** Encrypted, TLS-only, and kept 14 days (time to look and redrive). */
function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
}

/**
 * A work queue consumed by one function (`<id>Queue`) and its dead-letter queue (`<id>DeadLetterQueue`):
 * encrypted, TLS-only, the visibility timeout derived from the consumer's timeout (lib/config.ts).
 */
export function queueWithDlq(scope: Construct, id: string, consumer: FunctionName): QueueWithDlq {
  const dlq = deadLetterQueue(scope, `${id}DeadLetterQueue`);
  const queue = new sqs.Queue(scope, `${id}Queue`, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    visibilityTimeout: Duration.seconds(FUNCTIONS[consumer].timeoutSeconds * VISIBILITY_TIMEOUT_FACTOR),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
  });
  return { queue, deadLetterQueue: dlq };
}

/**
 * The exporter's queues: downloads, conversions, and the dead-letter queue of the EventBridge targets (the
 * poller's rule, the Scheduler schedules). Created in the stack's own scope (not a child construct) so the
 * queues keep their logical ids, and with them the messages they hold.
 */
export class Queues {
  readonly download: QueueWithDlq;
  readonly convert: QueueWithDlq;
  readonly scheduleDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct) {
    this.download = queueWithDlq(scope, 'Download', 'download-result');
    this.convert = queueWithDlq(scope, 'Convert', 'convert-parquet');
    this.scheduleDeadLetterQueue = deadLetterQueue(scope, 'ScheduleDeadLetterQueue');
    acknowledge(
      this.scheduleDeadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter queue (of the EventBridge schedule target); cdk-nag only recognises ' +
        'dead-letter queues that another queue names in its redrive policy.',
    );
  }
}
