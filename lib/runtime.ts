/**
 * Wiring: builds the dependencies of the pipeline functions from their validated configuration and
 * the AWS clients. Lambda entries (functions/) and the local stack (local/) both call these, so the
 * same code runs in both places; only the clients, the credentials and the dispatcher differ.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GlueClient } from '@aws-sdk/client-glue';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type CallbackWiring, cachedKey, callbackWiring, keyFromSecret } from './callbacks/token.js';
import {
  type FunctionConfig,
  type FunctionName,
  loadFunctionConfig,
  type Timing,
  timingFrom,
} from './config.js';
import { DynamoTable } from './ddb/dynamo-table.js';
import type { Table } from './ddb/table.js';
import type { ConvertMessage } from './exports/convert-message.js';
import type { ExportDeps } from './exports/deps.js';
import { eventBridgePublisher } from './exports/events.js';
import { glueCatalog } from './exports/glue.js';
import { IdempotencyStore } from './exports/idempotency.js';
import { ExportStore } from './exports/store.js';
import type { DownloadMessage } from './jobs/model.js';
import { JobStore } from './jobs/store.js';
import { createLogger, emfMetrics, type MetricsSink } from './observability.js';
import { exportS3Client } from './s3.js';
import { ScheduleStore } from './schedules/store.js';
import type { Settings } from './settings.js';
import { TABLES, type TableRole } from './tables.js';
import { createZohoClient, type ZohoClient } from './zoho/client.js';
import { credentialsFromSecret } from './zoho/credentials.js';
import { resolveEndpoints } from './zoho/data-centers.js';
import type { FetchFn } from './zoho/http.js';
import { type CredentialsProvider, TokenBroker } from './zoho/token-broker.js';

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

export type Tables = Record<TableRole, Table>;

/** The product's tables in DynamoDB, by role. */
export function dynamoTables(ddb: DynamoDBDocumentClient, names: Record<TableRole, string>): Tables {
  return {
    jobs: new DynamoTable(ddb, names.jobs, TABLES.jobs),
    exports: new DynamoTable(ddb, names.exports, TABLES.exports),
    state: new DynamoTable(ddb, names.state, TABLES.state),
  };
}

/** The stores over the tables: the two state machines, the idempotency keys, the schedules' state. */
export function stores(tables: Tables, timing: Timing, now: () => number = Date.now) {
  const jobs = new JobStore(tables.jobs, now, timing.retentionSeconds);
  return {
    jobs,
    exports: new ExportStore(tables.exports, jobs, now, timing.retentionSeconds),
    idempotency: new IdempotencyStore(tables.state, now),
    schedules: new ScheduleStore(tables.state, now),
  };
}

export interface ZohoWiring {
  zoho: ZohoClient;
  broker: TokenBroker;
}

/** The Zoho client with the shared token broker. */
export function zohoFromConfig(
  config: Pick<Settings, 'ZOHO_DATA_CENTER' | 'ZOHO_ACCOUNTS_URL' | 'ZOHO_API_DOMAIN'> &
    Partial<Pick<Settings, 'ZOHO_API_VERSION'>>,
  deps: { state: Table; credentials: CredentialsProvider; fetch?: FetchFn; metrics?: MetricsSink },
): ZohoWiring {
  const endpoints = resolveEndpoints({
    dataCenter: config.ZOHO_DATA_CENTER,
    accountsUrl: config.ZOHO_ACCOUNTS_URL,
  });
  const broker = new TokenBroker({
    table: deps.state,
    credentials: deps.credentials,
    accountsUrl: endpoints.accountsUrl,
    defaultApiDomain: config.ZOHO_API_DOMAIN ?? endpoints.defaultApiDomain,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onMint: () => deps.metrics?.count('TokenMints'),
  });
  const zoho = createZohoClient({
    tokens: broker,
    ...(config.ZOHO_API_VERSION ? { apiVersion: config.ZOHO_API_VERSION } : {}),
    apiDomain: config.ZOHO_API_DOMAIN,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  return { zoho, broker };
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

/** Clients created once per Lambda container. */
function awsClients() {
  return {
    ddb: documentClient(new DynamoDBClient({})),
    s3: exportS3Client(),
    secrets: new SecretsManagerClient({}),
    sqs: new SQSClient({}),
    events: new EventBridgeClient({}),
    glue: new GlueClient({}),
  };
}

/** What every function reads: its tables, the Zoho secret, the retention and poll interval. */
type Common = Pick<
  FunctionConfig<'api'>,
  | 'JOBS_TABLE'
  | 'EXPORTS_TABLE'
  | 'STATE_TABLE'
  | 'ZOHO_SECRET_ARN'
  | 'ZOHO_DATA_CENTER'
  | 'ZOHO_ACCOUNTS_URL'
  | 'ZOHO_API_DOMAIN'
  | 'POLL_INTERVAL_SECONDS'
  | 'RETENTION_DAYS'
> &
  Partial<
    Pick<
      Settings,
      | 'ZOHO_API_VERSION'
      | 'MAX_JOB_AGE_HOURS'
      | 'S3_PREFIX'
      | 'GLUE_DATABASE'
      | 'OUTPUT_FORMATS'
      | 'SCHEDULES'
    >
  > & {
    BUCKET?: string;
    CONVERT_QUEUE_URL?: string;
    CALLBACK_BASE_URL?: string;
    CALLBACK_SECRET_ARN?: string;
  };

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
    return keyFromSecret(r.SecretString);
  });
  return callbackWiring(base, key);
}

/**
 * What a Lambda builds at cold start: its validated config, the AWS clients, logger and EMF metrics,
 * the tables and stores, the Zoho client with the shared token broker, and the exports' dependencies.
 */
export function lambdaRuntime<F extends FunctionName>(fn: F) {
  const config = loadFunctionConfig(fn);
  const common = config as unknown as Common;
  const clients = awsClients();
  const logger = createLogger(fn);
  const metrics = emfMetrics(fn);
  const tables = dynamoTables(clients.ddb, {
    jobs: common.JOBS_TABLE,
    exports: common.EXPORTS_TABLE,
    state: common.STATE_TABLE,
  });
  const timing = timingFrom(common);
  const { zoho } = zohoFromConfig(common, {
    state: tables.state,
    credentials: credentialsFromSecret(clients.secrets, common.ZOHO_SECRET_ARN),
    metrics,
  });
  const s = stores(tables, timing);
  const callbacks = callbacksFromSecret(clients.secrets, common);
  const exportDeps: ExportDeps = {
    ...s,
    zoho,
    config: common,
    timing,
    logger,
    metrics,
    s3: clients.s3,
    events: eventBridgePublisher(clients.events),
    // The Parquet converter's queue, and the Glue catalog, for the functions that are given them.
    ...(common.CONVERT_QUEUE_URL
      ? { convert: sqsDispatcher<ConvertMessage>(clients.sqs, common.CONVERT_QUEUE_URL) }
      : {}),
    ...(common.GLUE_DATABASE ? { catalog: glueCatalog(clients.glue, common.GLUE_DATABASE) } : {}),
    ...(callbacks ? { callbackUrl: callbacks.url } : {}),
    ...(common.SCHEDULES ? { scheduleDefinitions: common.SCHEDULES } : {}),
  };
  return { config, clients, logger, metrics, tables, timing, zoho, ...s, exportDeps, callbacks };
}
