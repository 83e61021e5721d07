/**
 * Wiring: builds the dependencies of the pipeline functions from their validated configuration and
 * the AWS clients. Lambda entries (functions/) and the local stack (local/) both call these, so the
 * same code runs in both places; only the clients, the credentials and the dispatcher differ.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type FunctionConfig, type FunctionName, loadFunctionConfig, timingFrom } from './config.js';
import { DynamoTable } from './ddb/dynamo-table.js';
import type { Table } from './ddb/table.js';
import type { DownloadMessage } from './jobs/model.js';
import { JobStore } from './jobs/store.js';
import { createLogger, emfMetrics, type MetricsSink } from './observability.js';
import type { Dispatch } from './pipeline/poll.js';
import { exportS3Client } from './s3.js';
import type { Settings } from './settings.js';
import { TABLES } from './tables.js';
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

/** The product's tables in DynamoDB, by role. */
export function dynamoTables(
  ddb: DynamoDBDocumentClient,
  names: { jobs: string; state: string },
): { jobs: Table; state: Table } {
  return {
    jobs: new DynamoTable(ddb, names.jobs, TABLES.jobs),
    state: new DynamoTable(ddb, names.state, TABLES.state),
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
export function sqsDispatcher(sqs: SQSClient, queueUrl: string): Dispatch {
  return async (msg: DownloadMessage, delayMs = 0) => {
    const DelaySeconds = Math.min(MAX_SQS_DELAY_S, Math.max(0, Math.ceil(delayMs / 1000)));
    await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(msg), DelaySeconds }),
    );
  };
}

/** Clients created once per Lambda container. */
function awsClients(): {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  secrets: SecretsManagerClient;
  sqs: SQSClient;
} {
  return {
    ddb: documentClient(new DynamoDBClient({})),
    s3: exportS3Client(),
    secrets: new SecretsManagerClient({}),
    sqs: new SQSClient({}),
  };
}

/** What every Lambda builds at cold start: validated config, clients, logger, EMF metrics. */
export function lambdaBase<F extends FunctionName>(fn: F) {
  const config = loadFunctionConfig(fn);
  return { config, clients: awsClients(), logger: createLogger(fn), metrics: emfMetrics(fn) };
}

/** What the poller and the downloader both read. */
type PipelineCommon = Pick<
  FunctionConfig<'poll-jobs'> & FunctionConfig<'download-result'>,
  | 'JOBS_TABLE'
  | 'STATE_TABLE'
  | 'ZOHO_SECRET_ARN'
  | 'ZOHO_DATA_CENTER'
  | 'ZOHO_ACCOUNTS_URL'
  | 'ZOHO_API_DOMAIN'
  | 'POLL_INTERVAL_SECONDS'
  | 'RETENTION_DAYS'
> &
  Partial<Pick<Settings, 'ZOHO_API_VERSION' | 'MAX_JOB_AGE_HOURS'>>;

/** A pipeline Lambda (poller, downloader): the base plus the tables, the job store and the Zoho client. */
export function pipelineRuntime<F extends 'poll-jobs' | 'download-result'>(fn: F) {
  const base = lambdaBase(fn);
  const common = base.config as unknown as PipelineCommon;
  const tables = dynamoTables(base.clients.ddb, { jobs: common.JOBS_TABLE, state: common.STATE_TABLE });
  const timing = timingFrom(common);
  const { zoho } = zohoFromConfig(common, {
    state: tables.state,
    credentials: credentialsFromSecret(base.clients.secrets, common.ZOHO_SECRET_ARN),
    metrics: base.metrics,
  });
  return {
    ...base,
    tables,
    timing,
    zoho,
    jobs: new JobStore(tables.jobs, Date.now, timing.retentionSeconds),
  };
}
