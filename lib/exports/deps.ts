/**
 * What every export module needs: `ExportDeps` (the stores, Zoho, S3, the catalog, the converter
 * dispatch...) and the small helpers they share. It imports no other export module with behaviour, so
 * any of them (recovery.ts included) can import it without a cycle.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { CallbackBinding } from '../callbacks/token.js';
import type { Timing } from '../config.js';
import type { JobRecord } from '../jobs/model.js';
import type { JobStore } from '../jobs/store.js';
import type { ModuleCatalog } from '../modules/store.js';
import type { MetricsSink } from '../observability.js';
import type { ScheduleDefinition } from '../schedules/definitions.js';
import type { ScheduleStore } from '../schedules/store.js';
import type { Settings } from '../settings.js';
import type { ZohoClient } from '../zoho/client.js';
import { API_VERSIONS, type ApiVersion } from '../zoho/data-centers.js';
import type { Catalog } from './catalog.js';
import type { ConvertMessage } from './convert-message.js';
import type { EventPublisher } from './events.js';
import type { IdempotencyStore } from './idempotency.js';
import type { ExportRecord } from './model.js';
import type { ExportStore } from './store.js';

export type ConvertDispatch = (msg: ConvertMessage, delayMs?: number) => Promise<void>;

/** The callback URL for one creation attempt of a page's Zoho job (lib/callbacks/token.ts). */
export type CallbackUrl = (exportId: string, page: number, binding: CallbackBinding) => Promise<string>;

export interface ExportDeps {
  exports: ExportStore;
  jobs: JobStore;
  zoho: ZohoClient;
  /** The API version and formats of new exports (the API needs them), where manifests go (finalizing needs them). */
  config: Partial<
    Pick<Settings, 'ZOHO_API_VERSION' | 'S3_PREFIX' | 'OUTPUT_FORMATS' | 'PARQUET_COMPRESSION'>
  > & { BUCKET?: string };
  /** Hands a page to the Parquet converter (SQS in AWS, a worker process locally), after `delayMs`. */
  convert?: ConvertDispatch;
  /** Where the module tables go when an export with Parquet completes. */
  catalog?: Catalog;
  timing: Timing;
  logger: Logger;
  metrics: MetricsSink;
  idempotency?: IdempotencyStore;
  /** The schedules' state (watermarks, running runs): a schedule's export ending frees it. */
  schedules?: ScheduleStore;
  /** The configured schedules (the API lists and runs them). */
  scheduleDefinitions?: ScheduleDefinition[];
  s3?: S3Client;
  /**
   * Whether this function may delete export files (default true). False in the internet-facing
   * callback function, which has no delete grant: a recovery that would drop landed pages is left,
   * whole, to the poller's sweep (lib/exports/recovery.ts).
   */
  mayDelete?: boolean;
  /**
   * Whether this function may end a snapshot (write its manifest under `_snapshots/`; default true).
   * False in the API and the callback function, which have no grant there: an export of theirs that
   * ends its snapshot leaves its event to the poller's sweep (lib/exports/publish.ts).
   */
  endsSnapshots?: boolean;
  events?: EventPublisher;
  callbackUrl?: CallbackUrl;
  /** The org's modules (`GET /modules`); a start that Zoho refuses with MODULE_NOT_SUPPORTED is remembered there. */
  modules?: ModuleCatalog;
  /** How long a request waits for another with the same Idempotency-Key (default 10 s; the API's budget sets it). */
  idempotencyWaitMs?: number;
  now?: () => number;
  random?: () => number;
}

/** `v` if it is an API version this exporter speaks. */
export const asVersion = (v: string | undefined): ApiVersion | undefined =>
  (API_VERSIONS as readonly string[]).includes(v ?? '') ? (v as ApiVersion) : undefined;

/** What new exports are written as: the configured formats (csv always). */
export const formatsOf = (deps: Pick<ExportDeps, 'config'>): ExportRecord['formats'] =>
  deps.config.OUTPUT_FORMATS ?? ['csv'];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The job of each page of `e`, in page order (undefined where a job record is missing). */
export async function pageJobs(
  deps: Pick<ExportDeps, 'jobs'>,
  e: ExportRecord,
): Promise<Array<JobRecord | undefined>> {
  const limit = pLimit(10);
  return Promise.all(
    e.page_jobs.map((id) => limit(() => (id ? deps.jobs.get(id) : Promise.resolve(undefined)))),
  );
}

/** The job record of page `page` of export `e`: Zoho's job `jobId`, made with `version`. */
export function exportPageJob(
  deps: Pick<ExportDeps, 'jobs'>,
  e: ExportRecord,
  p: {
    jobId: string;
    page: number;
    previousJobId: string | undefined;
    module: string | null;
    version: ApiVersion;
    /** The nonce of the callback token Zoho was given for the job, if any. */
    callbackNonce: string | undefined;
  },
): JobRecord {
  return deps.jobs.newJob(p.jobId, {
    module: p.module,
    page: p.page,
    previous_job_id: p.previousJobId,
    api_version: p.version,
    export_id: e.export_id,
    export_date: e.export_date,
    export_source: e.source,
    parquet_wanted: (e.formats ?? []).includes('parquet'),
    callback: p.callbackNonce !== undefined,
    ...(p.callbackNonce !== undefined ? { callback_nonce: p.callbackNonce } : {}),
  });
}
