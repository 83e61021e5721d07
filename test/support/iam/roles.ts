/**
 * Each function's dependencies for the harness, as its Lambda entry (functions/*.ts) builds them through
 * lib/wiring.ts, with its own clients and the IAM recorder attached: so every call the harness makes
 * is recorded under the function whose code made it. Which parts a function gets (S3, the event bus,
 * the catalog, the converter's queue, callbacks) follows lib/runtime.ts `clientsFor` and its spec.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type CallbackWiring, cachedKey, callbackWiring } from '../../../lib/callbacks/token.js';
import { FUNCTION_NAMES, FUNCTIONS, type FunctionName, type ResourceName } from '../../../lib/config.js';
import type { Catalog } from '../../../lib/exports/catalog.js';
import type { ConvertDeps } from '../../../lib/exports/convert.js';
import type { ConvertMessage } from '../../../lib/exports/convert-message.js';
import type { ExportDeps } from '../../../lib/exports/deps.js';
import type { EventPublisher } from '../../../lib/exports/events.js';
import type { DownloadMessage } from '../../../lib/jobs/model.js';
import type { MetricsSink } from '../../../lib/observability.js';
import type { DownloadDeps } from '../../../lib/pipeline/download.js';
import type { PollDeps } from '../../../lib/pipeline/poll.js';
import { clientsFor, documentClient, dynamoTables } from '../../../lib/runtime.js';
import type { Settings } from '../../../lib/settings.js';
import {
  apiDeps,
  convertDeps,
  downloadDeps,
  type ExportParts,
  exportDeps,
  pollDeps,
  wiringCore,
} from '../../../lib/wiring.js';
import { recordingCatalog } from '../../../local/aws-calls.js';
import { localDynamoDbClient, localS3Client } from '../../../local/stand-ins.js';
import type { TestAws } from '../aws.js';
import { FAKE_CREDENTIALS } from '../zoho.js';
import type { IamRecorder } from './recorder.js';

export interface RoleDeps {
  exports: ExportDeps;
  /** The job pipeline as this function runs it (with the pages' hooks). */
  poll: PollDeps;
  /** Set for the functions with the bucket. */
  download?: DownloadDeps;
  convert?: ConvertDeps;
  /** Set when the harness has callbacks and the function's spec takes them. */
  callbacks?: CallbackWiring;
}

export interface RoleInputs {
  recorder: IamRecorder;
  /** DynamoDB Local's and s3rver's endpoints (the global setup's). */
  endpoints: { ddb: string; s3: string };
  config: Settings & { BUCKET: string };
  aws: TestAws;
  logger: Logger;
  metrics: MetricsSink;
  now: () => number;
  /** The harness's queues, event bus and catalog, shared by every function (the resources are). */
  dispatch: (msg: DownloadMessage, delayMs?: number) => Promise<void>;
  convert: (msg: ConvertMessage, delayMs?: number) => Promise<void>;
  events: EventPublisher;
  catalog: Catalog;
  partSize: number;
  overrides?: Partial<ExportDeps>;
  callbacks?: { base: string; key: Buffer };
}

export function recordedRoles(i: RoleInputs): Record<FunctionName, RoleDeps> {
  const out: Partial<Record<FunctionName, RoleDeps>> = {};
  for (const fn of FUNCTION_NAMES) out[fn] = roleDeps(fn, i);
  return out as Record<FunctionName, RoleDeps>;
}

function roleDeps(fn: FunctionName, i: RoleInputs): RoleDeps {
  const { recorder } = i;
  const spec: { resources: readonly ResourceName[]; optional?: readonly ResourceName[] } = FUNCTIONS[fn];
  const has = (r: ResourceName) => spec.resources.includes(r) || (spec.optional ?? []).includes(r);
  // Which clients the Lambda creates (constructing them sends nothing); this function's own replace them.
  const lambda = clientsFor(fn, i.config);
  const raw = localDynamoDbClient(i.endpoints.ddb);
  recorder.attachDynamo(raw, fn);
  const tables = dynamoTables(documentClient(raw), {
    jobs: i.aws.jobsTable,
    exports: i.aws.exportsTable,
    state: i.aws.stateTable,
  });
  const s3 = lambda.s3 ? localS3Client(i.endpoints.s3) : undefined;
  if (s3) recorder.attachS3(s3, fn);
  const core = wiringCore(i.config, {
    tables,
    credentials: async () => {
      recorder.getSecretValue(fn, 'zoho');
      return FAKE_CREDENTIALS;
    },
    logger: i.logger,
    metrics: i.metrics,
    now: i.now,
  });
  const events: EventPublisher = {
    publish: async (e) => {
      recorder.putEvents(fn);
      await i.events.publish(e);
    },
  };
  const catalog = recordingCatalog(recorder, fn, i.catalog);
  const callbacks =
    i.callbacks && has('CALLBACK_BASE_URL')
      ? callbackWiring(
          i.callbacks.base,
          cachedKey(async () => {
            recorder.getSecretValue(fn, 'callback');
            return i.callbacks!.key;
          }),
        )
      : undefined;
  const parts: ExportParts = {
    ...(s3 ? { s3 } : {}),
    ...(lambda.events ? { events } : {}),
    ...(lambda.glue ? { catalog } : {}),
    ...(has('CONVERT_QUEUE_URL')
      ? {
          convert: async (m: ConvertMessage, delayMs?: number) => {
            recorder.sendMessage(fn, 'convert');
            await i.convert(m, delayMs);
          },
        }
      : {}),
    ...(callbacks ? { callbacks } : {}),
  };
  const dispatch = async (m: DownloadMessage, delayMs?: number) => {
    recorder.sendMessage(fn, 'download');
    await i.dispatch(m, delayMs);
  };
  // The API's as functions/api.ts builds them (it may not end snapshots: lib/exports/deps.ts).
  const base = fn === 'api' ? apiDeps(core, parts) : exportDeps(core, parts);
  const exports: ExportDeps = { ...base, ...i.overrides };
  // Only the poller runs the exports' sweep (functions/poll-jobs.ts).
  const poll = pollDeps(core, { dispatch, exports, sweep: fn === 'poll-jobs' });
  return {
    exports,
    poll,
    ...(s3 ? { download: downloadDeps(core, { s3, dispatch, exports, partSize: i.partSize }) } : {}),
    ...(s3 ? { convert: convertDeps(core, { ...parts, s3 }) } : {}),
    ...(callbacks ? { callbacks } : {}),
  };
}
