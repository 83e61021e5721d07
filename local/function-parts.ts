/**
 * One function of the local stack as its Lambda is built (lib/runtime.ts `lambdaRuntime`): its own
 * DynamoDB and S3 clients, and only the parts its spec gives it (S3, the event bus, the catalog, the
 * converter's queue, the download queue, callbacks; `clientsFor` and FUNCTIONS decide). The stand-ins
 * (in-process queues, the events file, the file catalog) are shared, as the resources are. With a
 * recorder, every AWS call the function's code makes is recorded under its name (local/aws-calls.ts).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import { cachedKey, callbackWiring } from '../lib/callbacks/token.js';
import { FUNCTIONS, type FunctionName, type ResourceName } from '../lib/config.js';
import type { Catalog } from '../lib/exports/catalog.js';
import type { ConvertDispatch } from '../lib/exports/deps.js';
import type { EventPublisher } from '../lib/exports/events.js';
import type { DownloadMessage } from '../lib/jobs/model.js';
import type { MetricsSink } from '../lib/observability.js';
import { clientsFor, documentClient, dynamoTables } from '../lib/runtime.js';
import type { Settings } from '../lib/settings.js';
import { budgetFor, type Core, type ExportParts, wiringCore } from '../lib/wiring.js';
import type { CredentialsProvider } from '../lib/zoho/token-broker.js';
import { type AwsCallRecorder, recordingCatalog } from './aws-calls.js';
import { localDynamoDbClient, localS3Client, type TableNames } from './stand-ins.js';

type Dispatch = (msg: DownloadMessage, delayMs?: number) => Promise<void>;
export type LocalConfig = Settings & { BUCKET: string };

export interface LocalFunctionInputs {
  endpoints: { ddb: string; s3: string };
  tables: TableNames;
  config: LocalConfig;
  credentials: CredentialsProvider;
  logger: Logger;
  metrics: MetricsSink;
  events: EventPublisher;
  catalog: Catalog;
  /** The converter's queue and the download queue (stand-ins), for the functions whose spec names them. */
  convert?: ConvertDispatch;
  dispatch?: Dispatch;
  /** Callbacks on: the base URL and the signing key. */
  callbacks?: { base: string; key: Buffer };
  recorder?: AwsCallRecorder;
}

export interface LocalFunction {
  core: Core<LocalConfig>;
  parts: ExportParts;
  s3: S3Client | undefined;
  /** The download queue, when the function's spec has it. */
  dispatch: Dispatch | undefined;
}

export function localFunction(fn: FunctionName, i: LocalFunctionInputs): LocalFunction {
  const spec: { resources: readonly ResourceName[]; optional?: readonly ResourceName[] } = FUNCTIONS[fn];
  const has = (r: ResourceName) => spec.resources.includes(r) || (spec.optional ?? []).includes(r);
  const rec = i.recorder;
  // Which clients the Lambda creates (constructing them sends nothing); the stand-ins' replace them.
  const lambda = clientsFor(fn, i.config);
  const raw = localDynamoDbClient(i.endpoints.ddb);
  rec?.attachDynamo(raw, fn);
  const s3 = lambda.s3 ? localS3Client(i.endpoints.s3) : undefined;
  if (s3) rec?.attachS3(s3, fn);
  const core = wiringCore(i.config, {
    tables: dynamoTables(documentClient(raw), i.tables),
    credentials: rec
      ? async () => {
          rec.getSecretValue(fn, 'zoho');
          return i.credentials();
        }
      : i.credentials,
    logger: i.logger,
    metrics: i.metrics,
    budget: budgetFor(fn),
  });
  const events: EventPublisher = rec
    ? {
        publish: async (e) => {
          rec.putEvents(fn);
          await i.events.publish(e);
        },
      }
    : i.events;
  const catalog: Catalog = rec ? recordingCatalog(rec, fn, i.catalog) : i.catalog;
  const queue = <M>(
    send: ((m: M, delayMs?: number) => Promise<void>) | undefined,
    q: 'download' | 'convert',
  ) =>
    send && rec
      ? async (m: M, delayMs?: number) => {
          rec.sendMessage(fn, q);
          await send(m, delayMs);
        }
      : send;
  const convert = has('CONVERT_QUEUE_URL') ? queue(i.convert, 'convert') : undefined;
  const cb = i.callbacks;
  const callbacks =
    cb && has('CALLBACK_BASE_URL')
      ? callbackWiring(
          cb.base,
          cachedKey(async () => {
            rec?.getSecretValue(fn, 'callback');
            return cb.key;
          }),
        )
      : undefined;
  return {
    core,
    parts: {
      ...(s3 ? { s3 } : {}),
      ...(lambda.events ? { events } : {}),
      ...(lambda.glue ? { catalog } : {}),
      ...(convert ? { convert } : {}),
      ...(callbacks ? { callbacks } : {}),
    },
    s3,
    dispatch: has('DOWNLOAD_QUEUE_URL') ? queue(i.dispatch, 'download') : undefined,
  };
}
