/**
 * Wiring, the Lambda half: a function's validated configuration, and only the AWS clients its spec
 * (lib/config.ts FUNCTIONS) says it uses, handed to the builders of lib/wiring.ts, which the local
 * stack, the tests and the bench call too with their own parts. Only the clients, the credentials and
 * the dispatchers differ between those places.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GlueClient } from '@aws-sdk/client-glue';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type CallbackWiring, cachedKey, callbackWiring, keyRingFromSecret } from './callbacks/token.js';
import { FUNCTIONS, type FunctionName, type ResourceName } from './config.js';
import { DynamoTable } from './ddb/dynamo-table.js';
import type { ConvertMessage } from './exports/convert-message.js';
import { eventBridgePublisher } from './exports/events.js';
import { glueCatalog } from './exports/glue.js';
import type { DownloadMessage } from './jobs/model.js';
import { createLogger, emfMetrics } from './observability.js';
import { exportS3Client } from './s3.js';
import type { Settings } from './settings.js';
import { TABLES, type TableRole } from './tables.js';
import {
  budgetFor,
  type Core,
  type CoreConfig,
  type ExportParts,
  type Tables,
  wiringCore,
} from './wiring.js';
import { credentialsFromSecret } from './zoho/credentials.js';

export { stores, type Tables } from './wiring.js';

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

/** The product's tables in DynamoDB, by role. */
export function dynamoTables(ddb: DynamoDBDocumentClient, names: Record<TableRole, string>): Tables {
  return {
    jobs: new DynamoTable(ddb, names.jobs, TABLES.jobs),
    exports: new DynamoTable(ddb, names.exports, TABLES.exports),
    state: new DynamoTable(ddb, names.state, TABLES.state),
  };
}

/** SQS allows a message delay of at most 15 minutes; a longer wait is re-deferred on arrival. */
const MAX_SQS_DELAY_S = 900;

/** Dispatches downloads through SQS, delayed by up to 15 minutes. */
export function sqsDispatcher<M extends object = DownloadMessage>(
  sqs: SQSClient,
  queueUrl: string,
): (msg: M, delayMs?: number) => Promise<void> {
  return async (msg: M, delayMs = 0) => {
    const DelaySeconds = Math.min(MAX_SQS_DELAY_S, Math.max(0, Math.ceil(delayMs / 1000)));
    await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(msg), DelaySeconds }),
    );
  };
}

/** Callbacks from the configuration: on when both the base URL and the key's secret are given. */
export function callbacksFromSecret(
  secrets: SecretsManagerClient,
  config: { CALLBACK_BASE_URL?: string | undefined; CALLBACK_SECRET_ARN?: string | undefined },
): CallbackWiring | undefined {
  const { CALLBACK_BASE_URL: base, CALLBACK_SECRET_ARN: arn } = config;
  if (!base || !arn) return undefined;
  const key = cachedKey(async () => {
    const r = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!r.SecretString) throw new Error('the callback key secret has no value');
    return keyRingFromSecret(r.SecretString);
  });
  return callbackWiring(base, key);
}

/** What every function's environment has (each spec lists these resources); the rest is optional here. */
export type LambdaConfig = CoreConfig &
  Pick<Record<ResourceName, string>, 'JOBS_TABLE' | 'EXPORTS_TABLE' | 'STATE_TABLE' | 'ZOHO_SECRET_ARN'> &
  Partial<Record<ResourceName, string>> &
  Partial<Pick<Settings, 'GLUE_DATABASE'>>;

/** The AWS clients one function uses, decided by its spec; a client it does not use is not created. */
export function clientsFor(fn: FunctionName, config: Pick<LambdaConfig, 'GLUE_DATABASE'>) {
  const spec: { resources: readonly ResourceName[]; settings: readonly string[] } = FUNCTIONS[fn];
  const has = (r: ResourceName): boolean => spec.resources.includes(r);
  // The functions that move jobs along (a bucket or the download queue) run the pages' hooks: they
  // fail exports (event). Those with a bucket also finish them (manifest) and delete a replaced page's
  // files; the callback function (no bucket) writes and deletes no object (lib/wiring.ts callbackDeps).
  const pipeline = has('BUCKET') || has('DOWNLOAD_QUEUE_URL');
  return {
    ddb: documentClient(new DynamoDBClient({})),
    secrets: new SecretsManagerClient({}),
    s3: has('BUCKET') ? exportS3Client() : undefined,
    sqs: has('DOWNLOAD_QUEUE_URL') || has('CONVERT_QUEUE_URL') ? new SQSClient({}) : undefined,
    events: pipeline ? new EventBridgeClient({}) : undefined,
    glue: spec.settings.includes('GLUE_DATABASE') && config.GLUE_DATABASE ? new GlueClient({}) : undefined,
  };
}

export interface LambdaRuntime<C extends LambdaConfig> {
  config: C;
  core: Core<C>;
  clients: ReturnType<typeof clientsFor>;
  logger: Core['logger'];
  metrics: ReturnType<typeof emfMetrics>;
  /** S3, the event bus, the Glue catalog, the converter's queue and callbacks, as far as this function has them. */
  exportParts: ExportParts;
  callbacks: CallbackWiring | undefined;
  /** The SQS dispatcher of one of this function's queues. */
  queue<M extends object = DownloadMessage>(url: string): (msg: M, delayMs?: number) => Promise<void>;
}

/**
 * What a Lambda builds at cold start, given its config (`loadFunctionConfig(fn)`, so the builders of
 * lib/wiring.ts check its type): its clients, logger and EMF metrics, and the core (stores, Zoho client
 * with the shared token broker, every wait from its timeout).
 */
export function lambdaRuntime<C extends LambdaConfig>(fn: FunctionName, config: C): LambdaRuntime<C> {
  const clients = clientsFor(fn, config);
  const logger = createLogger(fn);
  const metrics = emfMetrics(fn);
  const tables = dynamoTables(clients.ddb, {
    jobs: config.JOBS_TABLE,
    exports: config.EXPORTS_TABLE,
    state: config.STATE_TABLE,
  });
  const core = wiringCore(config, {
    tables,
    credentials: credentialsFromSecret(clients.secrets, config.ZOHO_SECRET_ARN),
    logger,
    metrics,
    budget: budgetFor(fn),
  });
  const queue = <M extends object>(url: string) => {
    if (!clients.sqs) throw new Error(`${fn} has no queue in its spec`);
    return sqsDispatcher<M>(clients.sqs, url);
  };
  const callbacks = callbacksFromSecret(clients.secrets, config);
  const exportParts: ExportParts = {
    ...(clients.s3 ? { s3: clients.s3 } : {}),
    ...(clients.events ? { events: eventBridgePublisher(clients.events) } : {}),
    ...(clients.glue && config.GLUE_DATABASE
      ? { catalog: glueCatalog(clients.glue, config.GLUE_DATABASE) }
      : {}),
    ...(config.CONVERT_QUEUE_URL ? { convert: queue<ConvertMessage>(config.CONVERT_QUEUE_URL) } : {}),
    ...(callbacks ? { callbacks } : {}),
  };
  return { config, core, clients, logger, metrics, exportParts, callbacks, queue };
}
