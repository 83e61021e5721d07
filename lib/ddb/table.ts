import type { TableDefinition } from '../tables.js';
import type { Cond, Item, Scalar, Update } from './expr.js';

export type { Item };

export interface SortCondition {
  op: 'eq' | 'lt' | 'le' | 'gt' | 'ge' | 'begins_with' | 'between';
  value: Scalar;
  /** Upper bound of `between`. */
  to?: Scalar;
}

export interface QueryInput {
  /** A GSI name, or the table itself. */
  index?: string;
  partition: Scalar;
  sort?: SortCondition;
  limit: number;
  startKey?: Item | undefined;
  /** Sort key order: ascending unless true. */
  descending?: boolean;
  /** Applied after the key condition (it does not change what `limit` counts). */
  filter?: Cond;
}

export interface Page {
  items: Item[];
  lastKey: Item | undefined;
}

/** One write of a transaction. */
export type TransactOp =
  | { type: 'put'; table: Table; item: object; condition?: Cond }
  | { type: 'update'; table: Table; key: Item; update: Update; condition?: Cond }
  | { type: 'delete'; table: Table; key: Item; condition?: Cond }
  | { type: 'check'; table: Table; key: Item; condition: Cond };

/**
 * What the product needs of a DynamoDB table. Two implementations: `DynamoTable` (the real thing,
 * DynamoDB Local in the integration tests) and `MemoryTable` (unit tests, no Java). Conditional writes
 * answer `false` when their condition does not hold: that is a normal outcome (someone else moved the
 * item on), not an error. Reads are strongly consistent.
 */
export interface Table {
  readonly name: string;
  readonly definition: TableDefinition;
  get(key: Item): Promise<Item | undefined>;
  /** Writes a record as it is typed (its store's record type): no cast to a bag of attributes. */
  put(item: object, condition?: Cond): Promise<boolean>;
  /** Returns the item after the update, or false when the condition failed. */
  update(key: Item, update: Update, condition?: Cond): Promise<Item | false>;
  delete(key: Item, condition?: Cond): Promise<boolean>;
  query(input: QueryInput): Promise<Page>;
  scan(input: { limit: number; startKey?: Item | undefined }): Promise<Page>;
  /** All or nothing; false when any condition failed. Every op must target a table of the same kind. */
  transact(ops: TransactOp[]): Promise<boolean>;
}

/** A record as DynamoDB's attribute bag (its own enumerable properties). */
export function toItem(record: object): Item {
  return Object.fromEntries(Object.entries(record));
}

/** The key attributes of an item, per its table's definition. */
export function keyOf(def: TableDefinition, item: Item): Item {
  const key: Item = { [def.partitionKey.name]: item[def.partitionKey.name] };
  if (def.sortKey) key[def.sortKey.name] = item[def.sortKey.name];
  return key;
}
