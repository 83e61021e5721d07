import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TableDefinition } from '../tables.js';
import { type Cond, compileCond, compileUpdate, ExpressionBuilder, type Item, type Update } from './expr.js';
import { type Page, type QueryInput, type Table, type TransactOp, toItem } from './table.js';

/** Expression attribute names/values, or nothing when the expression uses none (DynamoDB refuses empty maps). */
function attrs(b: ExpressionBuilder): {
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  return {
    ...(Object.keys(b.names).length ? { ExpressionAttributeNames: b.names } : {}),
    ...(Object.keys(b.values).length ? { ExpressionAttributeValues: b.values } : {}),
  };
}

/** A write's result, or false when its condition failed (the one error a conditional write expects). */
async function unlessConditionFails<T>(write: Promise<T>): Promise<T | false> {
  try {
    return await write;
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException) return false;
    throw e;
  }
}

/** A table in DynamoDB (or DynamoDB Local), through the document client. */
export class DynamoTable implements Table {
  constructor(
    readonly ddb: DynamoDBDocumentClient,
    readonly name: string,
    readonly definition: TableDefinition,
  ) {}

  async get(key: Item): Promise<Item | undefined> {
    const r = await this.ddb.send(new GetCommand({ TableName: this.name, Key: key, ConsistentRead: true }));
    return r.Item;
  }

  async put(item: object, condition?: Cond): Promise<boolean> {
    const b = new ExpressionBuilder();
    const ConditionExpression = condition ? compileCond(condition, b) : undefined;
    const put = new PutCommand({
      TableName: this.name,
      Item: toItem(item),
      ConditionExpression,
      ...attrs(b),
    });
    return (await unlessConditionFails(this.ddb.send(put))) !== false;
  }

  async update(key: Item, update: Update, condition?: Cond): Promise<Item | false> {
    const b = new ExpressionBuilder();
    const UpdateExpression = compileUpdate(update, b);
    const ConditionExpression = condition ? compileCond(condition, b) : undefined;
    const r = await unlessConditionFails(
      this.ddb.send(
        new UpdateCommand({
          TableName: this.name,
          Key: key,
          UpdateExpression,
          ConditionExpression,
          ReturnValues: 'ALL_NEW',
          ...attrs(b),
        }),
      ),
    );
    return r === false ? false : (r.Attributes ?? {});
  }

  async delete(key: Item, condition?: Cond): Promise<boolean> {
    const b = new ExpressionBuilder();
    const ConditionExpression = condition ? compileCond(condition, b) : undefined;
    const del = new DeleteCommand({ TableName: this.name, Key: key, ConditionExpression, ...attrs(b) });
    return (await unlessConditionFails(this.ddb.send(del))) !== false;
  }

  async query(q: QueryInput): Promise<Page> {
    const def = q.index ? this.definition.indexes.find((i) => i.name === q.index) : this.definition;
    if (!def) throw new Error(`table ${this.name} has no index ${q.index}`);
    const b = new ExpressionBuilder();
    let key = `${b.name(def.partitionKey.name)} = ${b.value(q.partition)}`;
    if (q.sort) {
      if (!def.sortKey) throw new Error(`${q.index ?? this.name} has no sort key`);
      const sk = b.name(def.sortKey.name);
      const v = b.value(q.sort.value);
      key +=
        q.sort.op === 'begins_with'
          ? ` AND begins_with(${sk}, ${v})`
          : q.sort.op === 'between'
            ? ` AND ${sk} BETWEEN ${v} AND ${b.value(q.sort.to)}`
            : ` AND ${sk} ${{ eq: '=', lt: '<', le: '<=', gt: '>', ge: '>=' }[q.sort.op]} ${v}`;
    }
    const FilterExpression = q.filter ? compileCond(q.filter, b) : undefined;
    const r = await this.ddb.send(
      new QueryCommand({
        TableName: this.name,
        IndexName: q.index,
        KeyConditionExpression: key,
        FilterExpression,
        Limit: q.limit,
        ExclusiveStartKey: q.startKey,
        ScanIndexForward: !q.descending,
        ...attrs(b),
      }),
    );
    return { items: r.Items ?? [], lastKey: r.LastEvaluatedKey };
  }

  async scan(input: { limit: number; startKey?: Item | undefined }): Promise<Page> {
    const r = await this.ddb.send(
      new ScanCommand({ TableName: this.name, Limit: input.limit, ExclusiveStartKey: input.startKey }),
    );
    return { items: r.Items ?? [], lastKey: r.LastEvaluatedKey };
  }

  async transact(ops: TransactOp[]): Promise<boolean> {
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = ops.map((op) => {
      if (!(op.table instanceof DynamoTable)) throw new Error('a transaction mixes table kinds');
      const TableName = op.table.name;
      const b = new ExpressionBuilder();
      const ConditionExpression = op.condition ? compileCond(op.condition, b) : undefined;
      switch (op.type) {
        case 'put':
          return { Put: { TableName, Item: toItem(op.item), ConditionExpression, ...attrs(b) } };
        case 'delete':
          return { Delete: { TableName, Key: op.key, ConditionExpression, ...attrs(b) } };
        case 'check':
          return {
            ConditionCheck: {
              TableName,
              Key: op.key,
              ConditionExpression: ConditionExpression!,
              ...attrs(b),
            },
          };
        default: {
          const UpdateExpression = compileUpdate(op.update, b);
          return {
            Update: { TableName, Key: op.key, UpdateExpression, ConditionExpression, ...attrs(b) },
          };
        }
      }
    });
    try {
      await this.ddb.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (e) {
      if (
        e instanceof TransactionCanceledException &&
        (e.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
      ) {
        return false;
      }
      throw e;
    }
  }
}
