/**
 * Wiring: builds the dependencies of the pipeline functions from a Config and the AWS clients.
 * Lambda entries (functions/) and the local stack (local/) both call these, so the same code runs
 * in both places; only the clients and the download dispatcher differ.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Config, loadConfig, timingFrom } from './config.js';
import type { MetricService } from './contract.js';
import type { DownloadMessage } from './jobs/model.js';
import { JobStore } from './jobs/store.js';
import { createLogger, emfMetrics, type MetricsSink } from './observability.js';
import { exportS3Client } from './s3.js';
import { createZohoClient, type ZohoClient } from './zoho/client.js';
import { credentialsFromSecret } from './zoho/credentials.js';
import { resolveEndpoints } from './zoho/data-centers.js';
import type { FetchFn } from './zoho/http.js';
import { type CredentialsProvider, credentialsFromEnv, TokenBroker } from './zoho/token-broker.js';

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

export interface AwsClients {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  secrets: SecretsManagerClient;
  sqs: SQSClient;
}

/** Clients created once per Lambda container. */
export function awsClients(): AwsClients {
  return {
    ddb: documentClient(new DynamoDBClient({})),
    s3: exportS3Client(),
    secrets: new SecretsManagerClient({}),
    sqs: new SQSClient({}),
  };
}

export function jobStore(config: Pick<Config, 'JOBS_TABLE'>, ddb: DynamoDBDocumentClient): JobStore {
  return new JobStore(ddb, config.JOBS_TABLE);
}

export interface ZohoWiring {
  zoho: ZohoClient;
  broker: TokenBroker;
}

/** The Zoho client with the shared token broker. */
export function zohoFromConfig(
  config: Pick<
    Config,
    | 'STATE_TABLE'
    | 'ZOHO_DATA_CENTER'
    | 'ZOHO_ACCOUNTS_URL'
    | 'ZOHO_API_DOMAIN'
    | 'ZOHO_API_VERSION'
    | 'ZOHO_SECRET_ARN'
  >,
  deps: {
    ddb: DynamoDBDocumentClient;
    secrets?: SecretsManagerClient;
    credentials?: CredentialsProvider;
    fetch?: FetchFn;
    metrics?: MetricsSink;
  },
): ZohoWiring {
  const endpoints = resolveEndpoints({
    dataCenter: config.ZOHO_DATA_CENTER,
    accountsUrl: config.ZOHO_ACCOUNTS_URL,
  });
  const credentials =
    deps.credentials ??
    (config.ZOHO_SECRET_ARN
      ? credentialsFromSecret(deps.secrets ?? new SecretsManagerClient({}), config.ZOHO_SECRET_ARN)
      : credentialsFromEnv());
  const broker = new TokenBroker({
    ddb: deps.ddb,
    table: config.STATE_TABLE,
    credentials,
    accountsUrl: endpoints.accountsUrl,
    defaultApiDomain: config.ZOHO_API_DOMAIN ?? endpoints.defaultApiDomain,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onMint: () => deps.metrics?.count('TokenMints'),
  });
  const zoho = createZohoClient({
    tokens: broker,
    apiVersion: config.ZOHO_API_VERSION,
    apiDomain: config.ZOHO_API_DOMAIN,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  return { zoho, broker };
}

/** Dispatches downloads through SQS. */
export function sqsDispatcher(sqs: SQSClient, queueUrl: string): (msg: DownloadMessage) => Promise<void> {
  return async (msg) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(msg) }));
  };
}

/**
 * Everything a pipeline Lambda builds at cold start: validated config, AWS clients, logger, EMF
 * metrics, the job store and the Zoho client with the shared token broker.
 */
export function lambdaRuntime(serviceName: MetricService) {
  const config = loadConfig();
  const clients = awsClients();
  const logger = createLogger(serviceName);
  const metrics = emfMetrics(serviceName);
  const { zoho } = zohoFromConfig(config, { ddb: clients.ddb, secrets: clients.secrets, metrics });
  return {
    config,
    clients,
    logger,
    metrics,
    zoho,
    timing: timingFrom(config),
    jobs: jobStore(config, clients.ddb),
  };
}
