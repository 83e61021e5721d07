/**
 * Records read back from DynamoDB are input like any other: each store parses what it reads with its
 * record's zod schema here, so an item of the wrong shape (written by hand, by a bug, by a release
 * that named things otherwise) is a coded error naming the table, the key and the attribute, instead
 * of a TypeError somewhere downstream.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import { CodedError } from '../errors.js';
import type { Item } from './expr.js';
import type { Table } from './table.js';

/** Where an item came from, for the error: its table and key. */
export interface RecordSource {
  table: string;
  key: Item;
}

/**
 * A stored item that does not parse as its record. Kind `terminal`: reading it again gives the same
 * answer. An API answers 500 INTERNAL_ERROR (the message stays in the log: it names the table); the
 * sweeps log it and go on with the other items.
 */
export class CorruptRecordError extends CodedError {
  constructor(
    readonly table: string,
    readonly key: Item,
    readonly issues: string[],
  ) {
    super({
      code: 'CORRUPT_RECORD',
      kind: 'terminal',
      message: `the item ${JSON.stringify(key)} of table ${table} is not a valid record: ${issues.join('; ')}`,
    });
  }
}

/** Each issue as `path: message` (the path to the attribute; never the value, which may be sensitive). */
function describeIssues(error: z.ZodError): string[] {
  return error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(item)'}: ${i.message}`);
}

/** The item as its record, or a CorruptRecordError. */
export function parseRecord<T>(schema: z.ZodType<T>, item: Item, source: RecordSource): T {
  const r = schema.safeParse(item);
  if (!r.success) throw new CorruptRecordError(source.table, source.key, describeIssues(r.error));
  return r.data;
}

/** Like `parseRecord`, undefined for no item. */
export function parseOptionalRecord<T>(
  schema: z.ZodType<T>,
  item: Item | undefined,
  source: RecordSource,
): T | undefined {
  return item === undefined ? undefined : parseRecord(schema, item, source);
}

/** The item at `key` of `table` as a record (parsed by `schema`), undefined when there is none. */
export async function getRecord<T>(table: Table, schema: z.ZodType<T>, key: Item): Promise<T | undefined> {
  return parseOptionalRecord(schema, await table.get(key), { table: table.name, key });
}

/**
 * The items of a query or scan page as records: the valid ones, and an error for each that is not. A
 * listing for the API throws the first error (one corrupt item must not be hidden from it); a sweep
 * logs the errors and works on the rest.
 */
export function parseRecords<T>(
  schema: z.ZodType<T>,
  items: Item[],
  table: string,
  keyOf: (item: Item) => Item,
): { records: T[]; corrupt: CorruptRecordError[] } {
  const records: T[] = [];
  const corrupt: CorruptRecordError[] = [];
  for (const item of items) {
    const r = schema.safeParse(item);
    if (r.success) records.push(r.data);
    else corrupt.push(new CorruptRecordError(table, keyOf(item), describeIssues(r.error)));
  }
  return { records, corrupt };
}

/** All the items as records, or the first item's error. */
export function parseAllRecords<T>(
  schema: z.ZodType<T>,
  items: Item[],
  table: string,
  keyOf: (item: Item) => Item,
): T[] {
  const { records, corrupt } = parseRecords(schema, items, table, keyOf);
  if (corrupt[0]) throw corrupt[0];
  return records;
}

/** A sweep's report of the items it skipped because they do not parse (one error line each). */
export function logCorrupt(logger: Logger, corrupt: readonly CorruptRecordError[], what: string): void {
  for (const e of corrupt) {
    logger.error(`${what}: a stored item is not a valid record; skipped`, {
      table: e.table,
      key: e.key,
      error: { code: e.code, message: e.message },
    });
  }
}
