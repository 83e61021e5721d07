/**
 * The IAM tests' recorder: local/aws-calls.ts (shared with the local stack's recording mode), keeping
 * the calls in memory.
 */
import { z } from 'zod';
import { FUNCTION_NAMES } from '../../../lib/config.js';
import { TABLE_ROLES, type TableRole } from '../../../lib/tables.js';
import { AwsCallRecorder, type RecordedCall } from '../../../local/aws-calls.js';

export type {
  QueueRole,
  RecordableClient,
  RecordedCall,
  RecordedResource,
  SecretRole,
} from '../../../local/aws-calls.js';

export class IamRecorder extends AwsCallRecorder {
  readonly calls: RecordedCall[];

  constructor(names: { tables: Record<TableRole, string>; bucket: string }) {
    const calls: RecordedCall[] = [];
    super(names, (c) => calls.push(c));
    this.calls = calls;
  }
}

/** One line of the local stack's recording (ZOHO_EXPORT_RECORD_AWS_CALLS), read back. */
export const recordedCallSchema = z.object({
  fn: z.enum(FUNCTION_NAMES),
  service: z.string(),
  action: z.string(),
  via: z.string(),
  context: z.record(z.string(), z.string()).optional(),
  resource: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('table'), table: z.enum(TABLE_ROLES), index: z.string().optional() }),
    z.object({ kind: z.literal('object'), key: z.string() }),
    z.object({ kind: z.literal('bucket') }),
    z.object({ kind: z.literal('queue'), queue: z.enum(['download', 'convert']) }),
    z.object({ kind: z.literal('secret'), secret: z.enum(['zoho', 'callback']) }),
    z.object({ kind: z.literal('glue-catalog') }),
    z.object({ kind: z.literal('glue-database'), database: z.string() }),
    z.object({ kind: z.literal('glue-table'), database: z.string(), table: z.string() }),
    z.object({ kind: z.literal('event-bus'), name: z.string() }),
  ]),
}) satisfies z.ZodType<RecordedCall>;
