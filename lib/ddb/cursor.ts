/**
 * The list cursor: DynamoDB's `LastEvaluatedKey`, base64url JSON, handed to API callers as `next`.
 * A cursor comes back from the internet, so decoding checks it against the exact key of the table or
 * index being read (every attribute present, of its type, nothing else): a cursor of the wrong shape
 * is the caller's mistake (`400 INVALID_CURSOR`), never a DynamoDB ValidationException.
 */
import { z } from 'zod';
import { CodedError } from '../errors.js';
import type { TableDefinition } from '../tables.js';

/** Thrown when a cursor is not one this store produced for this listing. */
export class InvalidCursorError extends CodedError {
  override name = 'InvalidCursorError';
  constructor(message = 'the cursor is not one this API returned for this listing') {
    super({ code: 'INVALID_CURSOR', kind: 'invalid', httpStatus: 400, message });
  }
}

/** A key's attributes and their DynamoDB types: `S` (string) or `N` (number). */
export type KeyShape = Readonly<Record<string, 'S' | 'N'>>;

/**
 * The key a read of `def` (or of its index `indexName`) pages with: DynamoDB's LastEvaluatedKey holds
 * the table's key attributes, plus the index's when reading an index.
 */
export function readKeyShape(def: TableDefinition, indexName?: string): KeyShape {
  const index = indexName === undefined ? undefined : def.indexes.find((i) => i.name === indexName);
  if (indexName !== undefined && !index) throw new Error(`the table has no index ${indexName}`);
  const attrs = [def.partitionKey, def.sortKey, index?.partitionKey, index?.sortKey];
  return Object.fromEntries(attrs.flatMap((a) => (a ? [[a.name, a.type]] : [])));
}

export const encodeCursor = (key: Record<string, unknown> | undefined): string | null =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;

const schemaOf = (shape: KeyShape) =>
  z.strictObject(
    Object.fromEntries(
      Object.entries(shape).map(([k, t]) => [
        k,
        t === 'S' ? z.string().min(1).max(1024) : z.number().finite(),
      ]),
    ),
  );

/** Decodes a cursor made by `encodeCursor` for a read whose key is `shape`; else `InvalidCursorError`. */
export function decodeCursor(cursor: string, shape: KeyShape): Record<string, string | number> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  const parsed = schemaOf(shape).safeParse(v);
  if (!parsed.success) throw new InvalidCursorError();
  return parsed.data as Record<string, string | number>;
}
