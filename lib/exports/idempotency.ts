/**
 * `Idempotency-Key` for `POST /exports`: the same key with the same request within 24 h returns the
 * export it created, without asking Zoho again; the same key with another request is refused. Kept in
 * the state table (the key is stored hashed), claimed with a conditional put before Zoho is called, so
 * concurrent identical requests create one Zoho job.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { and, eq, lt, missing, or } from '../ddb/expr.js';
import { getRecord } from '../ddb/record.js';
import type { Table, TransactOp } from '../ddb/table.js';

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** A claim older than this is from a request that died: another may take over. */
export const IDEMPOTENCY_LEASE_MS = 60_000;
/** One to 100 visible ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,100}$/;

interface IdemItem {
  pk: string;
  request_hash: string;
  export_id: string;
  state: 'creating' | 'done';
  owner: string;
  lease_until: number;
  expires_at: number;
}

const idemItem: z.ZodType<IdemItem> = z.looseObject({
  pk: z.string().startsWith('idem#'),
  request_hash: z.string().min(1),
  export_id: z.string().min(1),
  state: z.enum(['creating', 'done']),
  owner: z.string().min(1),
  lease_until: z.number().finite(),
  expires_at: z.number().finite(),
});

export type IdemClaim =
  | { kind: 'claimed'; owner: string; exportId: string }
  | { kind: 'done'; exportId: string }
  | { kind: 'reused' }
  | { kind: 'in-progress'; exportId: string };

/** A stable hash of a request: JSON with sorted keys. */
export function requestHash(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex');
}

export class IdempotencyStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => number = Date.now,
  ) {}

  private key(idempotencyKey: string): { pk: string } {
    return { pk: `idem#${createHash('sha256').update(idempotencyKey).digest('hex')}` };
  }

  /** Claims the key for a new export `exportId`, or says what the key already stands for. */
  async claim(idempotencyKey: string, hash: string, exportId: string): Promise<IdemClaim> {
    const now = this.now();
    const owner = randomUUID();
    const item: IdemItem = {
      ...this.key(idempotencyKey),
      request_hash: hash,
      export_id: exportId,
      state: 'creating',
      owner,
      lease_until: now + IDEMPOTENCY_LEASE_MS,
      expires_at: Math.floor((now + IDEMPOTENCY_TTL_MS) / 1000),
    };
    // Free, expired (DynamoDB's TTL deletes lazily), or abandoned by a request that died.
    const free = or(
      missing('pk'),
      lt('expires_at', Math.floor(now / 1000)),
      and(eq('state', 'creating'), lt('lease_until', now)),
    );
    if (await this.table.put(item, free)) return { kind: 'claimed', owner, exportId };
    const seen = await getRecord(this.table, idemItem, this.key(idempotencyKey));
    if (!seen) return this.claim(idempotencyKey, hash, exportId);
    if (seen.request_hash !== hash) return { kind: 'reused' };
    if (seen.state === 'done') return { kind: 'done', exportId: seen.export_id };
    return { kind: 'in-progress', exportId: seen.export_id };
  }

  /** The transaction write that marks the claim done (with the export it created). */
  doneOp(idempotencyKey: string, owner: string): TransactOp {
    return {
      type: 'update',
      table: this.table,
      key: this.key(idempotencyKey),
      update: { set: { state: 'done' } },
      condition: eq('owner', owner),
    };
  }

  /** Zoho refused or failed: nothing was created, the key is free again. */
  async release(idempotencyKey: string, owner: string): Promise<void> {
    await this.table.delete(this.key(idempotencyKey), eq('owner', owner));
  }
}
