import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/**
 * Zoho allows 10 result downloads a minute per org, then refuses every download for the rest of the
 * minute. This budget is shared by every downloader through one counter per clock minute in the
 * state table (a conditional increment), so the pipeline never trips the lock on its own.
 */
export class DownloadBudget {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one download slot in the current minute; returns when the next minute starts if none is left. */
  async take(): Promise<{ ok: true } | { ok: false; retryAt: number }> {
    const now = this.now();
    const minute = Math.floor(now / 60_000);
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `download-window#${minute}` },
          UpdateExpression: 'ADD used :one SET expires_at = :exp',
          ConditionExpression: 'attribute_not_exists(used) OR used < :max',
          ExpressionAttributeValues: {
            ':one': 1,
            ':max': this.perMinute,
            ':exp': Math.floor(now / 1000) + 3600,
          },
        }),
      );
      return { ok: true };
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return { ok: false, retryAt: (minute + 1) * 60_000 };
      throw e;
    }
  }

  /** After a Zoho 429 the whole minute is gone: mark it used up for everyone. */
  async exhaust(): Promise<void> {
    const now = this.now();
    const minute = Math.floor(now / 60_000);
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `download-window#${minute}` },
        UpdateExpression: 'SET used = :max, expires_at = :exp',
        ExpressionAttributeValues: { ':max': this.perMinute, ':exp': Math.floor(now / 1000) + 3600 },
      }),
    );
  }
}
