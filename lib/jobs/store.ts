import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { STATUS_INDEX } from '../contract.js';
import type { JobError, JobRecord, JobStatus } from './model.js';

type Values = Record<string, unknown>;

/** Thrown when a cursor given to `list` is not one this store produced. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

const encodeCursor = (key: Record<string, unknown> | undefined): string | null =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;

function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    const allowed = new Set(['job_id', 'status', 'next_check_at']);
    for (const [k, val] of Object.entries(v)) {
      if (!allowed.has(k) || (typeof val !== 'string' && typeof val !== 'number')) throw new Error('bad key');
    }
    return v as Record<string, unknown>;
  } catch {
    throw new InvalidCursorError('the cursor is not one this API returned');
  }
}

/**
 * The job table. Every state change is a conditional write: the condition names the state (and the
 * claim token) the writer saw, so two pollers, or a duplicated message, can never both win.
 */
export class JobStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly table: string,
    private readonly now: () => number = Date.now,
  ) {}

  private iso(ms = this.now()): string {
    return new Date(ms).toISOString();
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    const r = await this.ddb.send(
      new GetCommand({ TableName: this.table, Key: { job_id: jobId }, ConsistentRead: true }),
    );
    return r.Item as JobRecord | undefined;
  }

  /** Registers a job; returns the existing record instead if it is already there. */
  async register(
    jobId: string,
    extra: Partial<Pick<JobRecord, 'module' | 'page' | 'previous_job_id' | 'api_version' | 'query'>> = {},
  ): Promise<{ created: boolean; job: JobRecord }> {
    const now = this.now();
    const job: JobRecord = {
      job_id: jobId,
      status: 'PENDING',
      zoho_state: null,
      module: extra.module ?? null,
      page: extra.page ?? null,
      created_at: this.iso(now),
      updated_at: this.iso(now),
      attempts: 0,
      records: null,
      next_check_at: now,
      checks: 0,
      ...(extra.previous_job_id ? { previous_job_id: extra.previous_job_id } : {}),
      ...(extra.api_version ? { api_version: extra.api_version } : {}),
      ...(extra.query ? { query: extra.query } : {}),
    };
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: job,
          ConditionExpression: 'attribute_not_exists(job_id)',
        }),
      );
      return { created: true, job };
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      const existing = await this.get(jobId);
      if (!existing) throw e;
      return { created: false, job: existing };
    }
  }

  /** Lists jobs, by status through the index, or all (a paginated scan, for the API only). */
  async list(opts: {
    status?: JobStatus;
    limit: number;
    cursor?: string;
  }): Promise<{ jobs: JobRecord[]; next: string | null }> {
    const start = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    if (opts.status) {
      const r = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: STATUS_INDEX,
          KeyConditionExpression: '#s = :s',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':s': opts.status },
          Limit: opts.limit,
          ExclusiveStartKey: start,
        }),
      );
      return { jobs: (r.Items ?? []) as JobRecord[], next: encodeCursor(r.LastEvaluatedKey) };
    }
    const r = await this.ddb.send(
      new ScanCommand({ TableName: this.table, Limit: opts.limit, ExclusiveStartKey: start }),
    );
    return { jobs: (r.Items ?? []) as JobRecord[], next: encodeCursor(r.LastEvaluatedKey) };
  }

  /** One page of jobs in `status` whose `next_check_at` has passed. */
  async due(
    status: JobStatus,
    now: number,
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<{ jobs: JobRecord[]; lastKey: Record<string, unknown> | undefined }> {
    const r = await this.ddb.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: STATUS_INDEX,
        KeyConditionExpression: '#s = :s AND next_check_at <= :now',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': status, ':now': now },
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    return { jobs: (r.Items ?? []) as JobRecord[], lastKey: r.LastEvaluatedKey };
  }

  /**
   * Conditional update; returns false when the condition no longer holds (someone else moved the
   * job on). `set` values become `SET` clauses, `remove` names become `REMOVE` clauses.
   */
  async update(
    jobId: string,
    opts: {
      set: Partial<JobRecord> & Record<string, unknown>;
      remove?: string[];
      add?: Record<string, number>;
      condition: string;
      values?: Values;
    },
  ): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Values = { ...(opts.values ?? {}) };
    const sets: string[] = [];
    let i = 0;
    for (const [k, v] of Object.entries({ ...opts.set, updated_at: this.iso() })) {
      if (v === undefined) continue;
      names[`#u${i}`] = k;
      values[`:u${i}`] = v;
      sets.push(`#u${i} = :u${i}`);
      i++;
    }
    const adds: string[] = [];
    for (const [k, v] of Object.entries(opts.add ?? {})) {
      names[`#a${i}`] = k;
      values[`:a${i}`] = v;
      adds.push(`#a${i} :a${i}`);
      i++;
    }
    const removes = (opts.remove ?? []).map((k) => {
      names[`#r${i}`] = k;
      return `#r${i++}`;
    });
    // Condition placeholders: `#status` and friends are written as #name in conditions.
    for (const m of opts.condition.matchAll(/#([a-z_]+)/g)) names[`#${m[1]}`] = m[1]!;
    const expr =
      `SET ${sets.join(', ')}` +
      (adds.length ? ` ADD ${adds.join(', ')}` : '') +
      (removes.length ? ` REMOVE ${removes.join(', ')}` : '');
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { job_id: jobId },
          UpdateExpression: expr,
          ConditionExpression: opts.condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return false;
      throw e;
    }
  }

  /** Claims a due job for one status check: only one poller wins a given `next_check_at`. */
  claimCheck(job: JobRecord, token: string, leaseUntil: number): Promise<boolean> {
    return this.update(job.job_id, {
      set: { poll_token: token, next_check_at: leaseUntil },
      condition: '#status = :pending AND #next_check_at = :old',
      values: { ':pending': 'PENDING', ':old': job.next_check_at },
    });
  }

  /**
   * Ends a job as FAILED (the one way every function does it); `condition` names what the caller
   * saw, `observed` adds what it learnt on the way (the last Zoho state, say).
   */
  fail(
    jobId: string,
    error: JobError,
    condition: string,
    values: Values,
    retentionSeconds: number,
    observed: Partial<JobRecord> = {},
  ): Promise<boolean> {
    return this.update(jobId, {
      set: {
        ...observed,
        status: 'FAILED',
        error,
        next_check_at: this.now(),
        expires_at: Math.floor(this.now() / 1000) + retentionSeconds,
      },
      remove: ['poll_token', 'download_owner', 'dispatch_id', 'last_error'],
      condition,
      values,
    });
  }
}
