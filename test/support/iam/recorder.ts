/**
 * The IAM tests' recorder: local/aws-calls.ts (shared with the local stack's recording mode), keeping
 * the calls in memory.
 */
import type { TableRole } from '../../../lib/tables.js';
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
