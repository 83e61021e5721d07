/**
 * Records every AWS call a function's code makes, as IAM authorizes it: the service, the IAM action and
 * the resource, per function. DynamoDB and S3 calls are recorded by an SDK middleware on the function's
 * own clients; the stand-ins for SQS, EventBridge, Glue and Secrets Manager (the local stack's in-process
 * queues, events file and file catalog; the test harness's) are recorded at their interface, as the call
 * the production adapter makes (lib/runtime.ts `sqsDispatcher`, `callbacksFromSecret`;
 * lib/exports/events.ts `eventBridgePublisher`; lib/exports/glue.ts `glueCatalog`;
 * lib/zoho/credentials.ts `credentialsFromSecret`).
 *
 * Used by the local stack's opt-in recording (ZOHO_EXPORT_RECORD_AWS_CALLS) and the IAM tests
 * (test/support/iam/). Resources are recorded by role (table `jobs`, queue `convert`, an object's key),
 * not by names: test/support/iam/template.ts turns them into the ARNs the synthesized template's
 * statements name. Nothing here imports an AWS SDK.
 */
import { appendFileSync } from 'node:fs';
import type { FunctionName } from '../lib/config.js';
import type { Catalog } from '../lib/exports/catalog.js';
import type { TableRole } from '../lib/tables.js';

export type QueueRole = 'download' | 'convert';
export type SecretRole = 'zoho' | 'callback';

export type RecordedResource =
  | { kind: 'table'; table: TableRole; index?: string }
  | { kind: 'object'; key: string }
  | { kind: 'bucket' }
  | { kind: 'queue'; queue: QueueRole }
  | { kind: 'secret'; secret: SecretRole }
  | { kind: 'glue-catalog' }
  | { kind: 'glue-database'; database: string }
  | { kind: 'glue-table'; database: string; table: string }
  | { kind: 'event-bus'; name: string };

export interface RecordedCall {
  fn: FunctionName;
  /** IAM's service prefix (`dynamodb`, `s3`, ...). */
  service: string;
  /** IAM's action name, without the prefix (`PutItem`, `PutObject`, ...). */
  action: string;
  resource: RecordedResource;
  /** The SDK command (or adapter call) that made it. */
  via: string;
  /** The request's condition keys IAM sees (a listing's `s3:prefix`). */
  context?: Record<string, string>;
}

type Input = Record<string, unknown>;
const isRecord = (v: unknown): v is Input => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Input, k: string): string | undefined => (typeof o[k] === 'string' ? o[k] : undefined);

/**
 * The part of an SDK client the recorder needs: its middleware stack. Structural, so the DynamoDB,
 * document and S3 clients fit without their generic parameters.
 */
export interface RecordableClient {
  middlewareStack: {
    add(
      mw: (
        next: (args: { input: object }) => Promise<{ output: unknown; response: unknown }>,
        context: { commandName?: string },
      ) => (args: { input: object }) => Promise<{ output: unknown; response: unknown }>,
      options: { step: 'initialize'; name: string; override: boolean },
    ): void;
  };
}

/** Where recorded calls go. */
export type CallSink = (call: RecordedCall) => void;

/** A sink appending each call as one JSON line to `file` (synchronously: a crash loses no call). */
export function jsonLinesSink(file: string): CallSink {
  return (call) => appendFileSync(file, `${JSON.stringify(call)}\n`);
}

export class AwsCallRecorder {
  /** Table name -> role. */
  private readonly tables: Map<string, TableRole>;
  /** The export bucket. */
  private readonly bucket: string;

  constructor(
    names: { tables: Record<TableRole, string>; bucket: string },
    private readonly sink: CallSink,
  ) {
    this.tables = new Map(Object.entries(names.tables).map(([role, name]) => [name, role as TableRole]));
    this.bucket = names.bucket;
  }

  record(
    fn: FunctionName,
    service: string,
    action: string,
    resource: RecordedResource,
    via: string,
    context?: Record<string, string>,
  ): void {
    this.sink(
      context ? { fn, service, action, resource, via, context } : { fn, service, action, resource, via },
    );
  }

  /** Records function `fn`'s DynamoDB calls through `client` (a DynamoDBClient or its document client). */
  attachDynamo(client: RecordableClient, fn: FunctionName): void {
    this.attach(client, (command, input) => this.dynamo(fn, command, input));
  }

  /** Records function `fn`'s S3 calls through `client`. */
  attachS3(client: RecordableClient, fn: FunctionName): void {
    this.attach(client, (command, input) => this.s3(fn, command, input));
  }

  private attach(client: RecordableClient, onCall: (command: string, input: Input) => void): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = (context.commandName ?? '').replace(/Command$/, '');
        onCall(command, isRecord(args.input) ? args.input : {});
        return next(args);
      },
      { step: 'initialize', name: 'iamRecorder', override: true },
    );
  }

  private tableRole(name: string | undefined, command: string): TableRole {
    const role = name === undefined ? undefined : this.tables.get(name);
    if (!role) throw new Error(`iam recorder: ${command} on an unknown table ${name}`);
    return role;
  }

  /** One DynamoDB command as the per-table actions IAM checks. */
  private dynamo(fn: FunctionName, command: string, input: Input): void {
    const on = (action: string, tableName: string | undefined, index?: string) =>
      this.record(
        fn,
        'dynamodb',
        action,
        { kind: 'table', table: this.tableRole(tableName, command), ...(index ? { index } : {}) },
        command,
      );
    // The document client's commands name the low-level action they send.
    const low: Record<string, string> = {
      Get: 'GetItem',
      Put: 'PutItem',
      Update: 'UpdateItem',
      Delete: 'DeleteItem',
      BatchGet: 'BatchGetItem',
      BatchWrite: 'BatchWriteItem',
      TransactGet: 'TransactGetItems',
      TransactWrite: 'TransactWriteItems',
    };
    const action = low[command] ?? command;
    switch (action) {
      case 'Query':
      case 'Scan':
        on(action, str(input, 'TableName'), str(input, 'IndexName'));
        return;
      case 'BatchGetItem':
      case 'BatchWriteItem': {
        const items = isRecord(input.RequestItems) ? input.RequestItems : {};
        for (const table of Object.keys(items)) on(action, table);
        return;
      }
      case 'TransactWriteItems':
      case 'TransactGetItems': {
        // IAM authorizes a transaction per item, with the item's own action.
        const perItem: Record<string, string> = {
          Put: 'PutItem',
          Update: 'UpdateItem',
          Delete: 'DeleteItem',
          ConditionCheck: 'ConditionCheckItem',
          Get: 'GetItem',
        };
        const items = Array.isArray(input.TransactItems) ? input.TransactItems : [];
        for (const item of items) {
          if (!isRecord(item)) continue;
          for (const [op, body] of Object.entries(item)) {
            const a = perItem[op];
            if (!a || !isRecord(body)) throw new Error(`iam recorder: ${command} with an unknown item ${op}`);
            on(a, str(body, 'TableName'));
          }
        }
        return;
      }
      default:
        on(action, str(input, 'TableName'));
    }
  }

  /** One S3 command as the action IAM checks, on the object (or, for a listing, the bucket). */
  private s3(fn: FunctionName, command: string, input: Input): void {
    const bucket = str(input, 'Bucket');
    if (bucket !== this.bucket) throw new Error(`iam recorder: ${command} on an unknown bucket ${bucket}`);
    const objectAction: Record<string, string> = {
      PutObject: 'PutObject',
      CreateMultipartUpload: 'PutObject',
      UploadPart: 'PutObject',
      CompleteMultipartUpload: 'PutObject',
      AbortMultipartUpload: 'AbortMultipartUpload',
      GetObject: 'GetObject',
      HeadObject: 'GetObject',
      DeleteObject: 'DeleteObject',
      CopyObject: 'PutObject',
    };
    const bucketAction: Record<string, string> = {
      ListObjectsV2: 'ListBucket',
      ListObjects: 'ListBucket',
      HeadBucket: 'ListBucket',
      ListMultipartUploads: 'ListBucketMultipartUploads',
    };
    const a = objectAction[command];
    if (a) {
      const key = str(input, 'Key');
      if (key === undefined) throw new Error(`iam recorder: ${command} without a key`);
      this.record(fn, 's3', a, { kind: 'object', key }, command);
      // A copy also reads its source (`bucket/key`).
      const source = str(input, 'CopySource');
      if (command === 'CopyObject' && source) {
        const [, ...rest] = decodeURIComponent(source).replace(/^\//, '').split('/');
        this.record(fn, 's3', 'GetObject', { kind: 'object', key: rest.join('/') }, command);
      }
      return;
    }
    if (command === 'DeleteObjects') {
      const del = isRecord(input.Delete) ? input.Delete : {};
      const objects = Array.isArray(del.Objects) ? del.Objects : [];
      for (const o of objects) {
        const key = isRecord(o) ? str(o, 'Key') : undefined;
        if (key !== undefined) this.record(fn, 's3', 'DeleteObject', { kind: 'object', key }, command);
      }
      return;
    }
    const b = bucketAction[command];
    if (!b) throw new Error(`iam recorder: no IAM mapping for S3 ${command}`);
    const prefix = str(input, 'Prefix');
    this.record(
      fn,
      's3',
      b,
      { kind: 'bucket' },
      command,
      prefix === undefined ? undefined : { 's3:prefix': prefix },
    );
  }

  // ------------------------------------------------------------ the stand-ins' calls, as the adapters make them

  /** `sqsDispatcher`: one SendMessage on the queue. */
  sendMessage(fn: FunctionName, queue: QueueRole): void {
    this.record(fn, 'sqs', 'SendMessage', { kind: 'queue', queue }, 'SendMessage');
  }

  /** `eventBridgePublisher`: PutEvents on the default bus (it names no bus). */
  putEvents(fn: FunctionName): void {
    this.record(fn, 'events', 'PutEvents', { kind: 'event-bus', name: 'default' }, 'PutEvents');
  }

  /** `credentialsFromSecret` / `callbacksFromSecret`: GetSecretValue. */
  getSecretValue(fn: FunctionName, secret: SecretRole): void {
    this.record(fn, 'secretsmanager', 'GetSecretValue', { kind: 'secret', secret }, 'GetSecretValue');
  }

  /**
   * `glueCatalog.ensureModuleTable`: GetTable, then CreateTable (a new table) or UpdateTable (new columns).
   * Glue authorizes a table call on the catalog, the database and the table.
   */
  glueEnsureTable(
    fn: FunctionName,
    change: { database: string; table: string; created: boolean; added: string[] },
  ) {
    const actions = [
      'GetTable',
      ...(change.created ? ['CreateTable'] : change.added.length ? ['UpdateTable'] : []),
    ];
    for (const action of actions) {
      const via = `ensureModuleTable:${action}`;
      this.record(fn, 'glue', action, { kind: 'glue-catalog' }, via);
      this.record(fn, 'glue', action, { kind: 'glue-database', database: change.database }, via);
      this.record(
        fn,
        'glue',
        action,
        { kind: 'glue-table', database: change.database, table: change.table },
        via,
      );
    }
  }

  /** `glueCatalog.getColumns`: GetTable (the converter reads the module's table). */
  glueGetTable(fn: FunctionName, database: string, table: string): void {
    this.glueTable(fn, 'GetTable', database, table, 'getColumns:GetTable');
  }

  /** `glueViewCatalog` (lib/exports/glue.ts): one GetTable, CreateTable or UpdateTable on `table`. */
  glueTable(fn: FunctionName, action: string, database: string, table: string, via: string): void {
    this.record(fn, 'glue', action, { kind: 'glue-catalog' }, via);
    this.record(fn, 'glue', action, { kind: 'glue-database', database }, via);
    this.record(fn, 'glue', action, { kind: 'glue-table', database, table }, via);
  }
}

/**
 * `catalog` with every call recorded as function `fn`'s Glue calls (the production adapters: lib/exports/glue.ts
 * `glueCatalog` and `glueViewCatalog`). Used by the local stack and the IAM test harness.
 */
export function recordingCatalog(rec: AwsCallRecorder, fn: FunctionName, catalog: Catalog): Catalog {
  const { database, views } = catalog;
  return {
    database,
    getColumns: async (table) => {
      rec.glueGetTable(fn, database, table);
      return catalog.getColumns(table);
    },
    ensureModuleTable: async (input) => {
      const change = await catalog.ensureModuleTable(input);
      rec.glueEnsureTable(fn, change);
      return change;
    },
    views: {
      tableColumns: async (table) => {
        rec.glueTable(fn, 'GetTable', database, table, 'views:tableColumns');
        return views.tableColumns(table);
      },
      readView: async (name) => {
        rec.glueTable(fn, 'GetTable', database, name, 'views:readView');
        return views.readView(name);
      },
      writeView: async (input, version) => {
        const action = version === undefined ? 'CreateTable' : 'UpdateTable';
        rec.glueTable(fn, action, database, input.Name, `views:${action}`);
        return views.writeView(input, version);
      },
    },
  };
}
