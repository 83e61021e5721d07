import * as events from 'aws-cdk-lib/aws-events';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionName } from '../lib/config.js';
import type { Callbacks } from './api.js';
import { type ExporterConfig, settingsEnv } from './config.js';
import { ExporterFunction, type TableAction } from './function.js';
import type { Queues } from './queues.js';
import type { Storage } from './storage.js';

export interface FunctionsProps {
  readonly config: ExporterConfig;
  readonly storage: Storage;
  readonly queues: Queues;
  /** Set when callbacks are on (infra/api.ts). */
  readonly callbacks: Callbacks | undefined;
}

/**
 * The exporter's Lambda functions, each given its resources with one `bind*` call per resource (the
 * variable, exactly its grant, the acknowledgement of its wildcard: infra/function.ts). Memory sizes are set
 * here; timeouts come from lib/config.ts. Created in the stack's own scope so their logical ids stay.
 */
export class Functions {
  readonly api: ExporterFunction;
  readonly poll: ExporterFunction;
  readonly download: ExporterFunction;
  readonly convert: ExporterFunction;
  /** `POST /callbacks/zoho/{token}` (when callbacks are on). */
  readonly callback: ExporterFunction | undefined;
  /** EventBridge Scheduler's target: one run of a schedule (when `schedules` has entries). */
  readonly schedule: ExporterFunction | undefined;

  constructor(scope: Construct, { config, storage, queues, callbacks }: FunctionsProps) {
    const settings = settingsEnv(config);
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const { exportBucket } = storage;
    const defaultBus = events.EventBus.fromEventBusName(scope, 'DefaultBus', 'default');
    /**
     * Every function keeps its state in the three tables and reaches Zoho with the credentials secret.
     * The table actions are what the code sends (lib/ddb/dynamo-table.ts; a transaction's items are
     * authorized as their Put/Update): jobs are read, created (follow-up pages, restarts) and updated by
     * all; exports are read and updated by all, created only where exports start (`starts`); the state
     * table holds the token cache, the download budget, the Zoho job slots (every function with a Zoho
     * client takes one per job it creates; the poller and callback free them) and the schedules
     * (Get/Update), and the API's
     * idempotency keys (Put, and Delete when a start fails). Scan is the API's `GET /jobs` without a status.
     */
    const create = (
      id: string,
      name: FunctionName,
      memorySize: number,
      description: string,
      extra: { starts?: boolean; api?: boolean } = {},
    ) => {
      const fn = new ExporterFunction(scope, id, { name, description, memorySize, settings, logRetention });
      const write: TableAction[] = ['GetItem', 'UpdateItem', 'Query'];
      fn.bindTable(storage.jobsTable, 'JOBS_TABLE', [
        ...write,
        'PutItem',
        ...(extra.api ? ['Scan' as const] : []),
      ]);
      fn.bindTable(storage.exportsTable, 'EXPORTS_TABLE', extra.starts ? [...write, 'PutItem'] : write);
      fn.bindTable(
        storage.stateTable,
        'STATE_TABLE',
        extra.api ? ['GetItem', 'UpdateItem', 'PutItem', 'DeleteItem'] : ['GetItem', 'UpdateItem'],
      );
      fn.bindSecret(storage.secret, 'ZOHO_SECRET_ARN');
      return fn;
    };
    /** Where a dropped page's files are (lib/exports/layout.ts, lib/exports/recovery.ts `dropPage`). */
    const pageFiles = ['module=*', 'parquet/module=*'];

    // The API starts exports (creates the first Zoho job) and reads them; POST /exports/{id}/convert
    // sends a page to the converter.
    this.api = create(
      'ApiFunction',
      'api',
      256,
      'Zoho CRM bulk export: the HTTP API (start and read exports, register and read jobs)',
      { starts: true, api: true },
    );
    this.api.bindQueue(queues.convert.queue, 'CONVERT_QUEUE_URL', { send: true });
    if (callbacks) this.api.bindCallbacks(callbacks.key, callbacks.baseUrl);

    // The poller checks jobs, dispatches downloads, dispatches a lost conversion again, and its sweep
    // completes exports whose last page landed while it was away.
    this.poll = create(
      'PollJobsFunction',
      'poll-jobs',
      512,
      'Zoho CRM bulk export: scheduled poller (checks job status, creates follow-up pages, dispatches downloads)',
    );
    this.poll.bindBucket(
      exportBucket,
      {
        put: ['_manifests/*', '_snapshots/*', 'deletions/*', 'parquet/deletions/*'],
        get: ['_manifests/*'],
        delete: pageFiles,
      },
      'The poller completes exports (one manifest each; for an incremental export its deletions files first, ' +
        'CSV and Parquet; then it reads every manifest to rewrite the module views), and recovery from expiry ' +
        '(lib/exports/recovery.ts) deletes the files of the pages it drops.',
    );
    this.poll.grantListing(exportBucket, '_manifests/');
    this.poll.bindQueue(queues.download.queue, 'DOWNLOAD_QUEUE_URL', { send: true });
    this.poll.bindQueue(queues.convert.queue, 'CONVERT_QUEUE_URL', { send: true });
    this.poll.bindEventBus(defaultBus);
    this.poll.bindGlueTables(config.glueDatabase);
    if (callbacks) this.poll.bindCallbacks(callbacks.key, callbacks.baseUrl);

    // At most 5 downloads at once: Zoho allows 10 a minute per org, and each takes tens of seconds. A
    // download waiting for a slot of the shared budget comes back as a delayed message on its own queue.
    this.download = create(
      'DownloadResultFunction',
      'download-result',
      config.downloaderMemoryMb,
      'Zoho CRM bulk export: streams a finished Zoho result (ZIP with one CSV) into S3',
    );
    this.download.bindBucket(
      exportBucket,
      {
        // The page's CSV (one multipart upload), and what completing a CSV-only export writes.
        put: ['module=*', '_manifests/*', '_snapshots/*', 'deletions/*', 'parquet/deletions/*'],
        abort: ['module=*'],
        get: ['module=*'],
        delete: pageFiles,
      },
      'The downloader streams each page into S3 under module=, checks the stored size (HeadObject needs ' +
        's3:GetObject), deletes a CSV that came out wrong, completes the export of its last page (manifest, ' +
        'deletions) and, recovering from expiry, deletes the files of the pages it drops.',
    );
    this.download.bindQueue(queues.download.queue, 'DOWNLOAD_QUEUE_URL', {
      send: true,
      consume: { maxConcurrency: 5 },
    });
    this.download.bindQueue(queues.convert.queue, 'CONVERT_QUEUE_URL', { send: true });
    this.download.bindEventBus(defaultBus);

    // Two conversions at once: each is CPU-bound and takes seconds to a minute per 200,000-record page.
    // A conversion tried again later goes back on its own queue.
    this.convert = create(
      'ConvertParquetFunction',
      'convert-parquet',
      config.converterMemoryMb,
      'Zoho CRM bulk export: converts a landed CSV page into typed Parquet, completes its export',
    );
    this.convert.bindBucket(
      exportBucket,
      {
        // HeadObject of the Parquet file it wrote needs GetObject too.
        get: ['module=*', 'parquet/module=*', '_manifests/*'],
        put: ['parquet/*', '_manifests/*', '_snapshots/*', 'deletions/*'],
        abort: ['parquet/module=*'],
        delete: pageFiles,
      },
      'The converter reads a landed CSV, writes its Parquet file (aborting or deleting one that failed), ' +
        'completes exports (manifest, deletions file, then the module views from every manifest), and recovery ' +
        'from expiry deletes the pages it drops.',
    );
    this.convert.grantListing(exportBucket, '_manifests/');
    this.convert.bindQueue(queues.convert.queue, 'CONVERT_QUEUE_URL', {
      send: true,
      consume: { maxConcurrency: 2 },
    });
    this.convert.bindEventBus(defaultBus);
    this.convert.bindGlueTables(config.glueDatabase);

    // The callback function checks a job at once: like the poller it may dispatch its download, create
    // the next page (with its own callback URL) or fail the export (its event). It is internet-facing, so
    // it has no S3 grant: a recovery from expiry that drops pages is left to the poller (lib/wiring.ts
    // callbackDeps, lib/exports/recovery.ts).
    if (callbacks) {
      this.callback = create(
        'ZohoCallbackFunction',
        'zoho-callback',
        256,
        "Zoho CRM bulk export: Zoho's job callbacks (checks the signed token, then the job's status at once)",
      );
      this.callback.bindCallbacks(callbacks.key, callbacks.baseUrl);
      this.callback.bindQueue(queues.download.queue, 'DOWNLOAD_QUEUE_URL', { send: true });
      this.callback.bindEventBus(defaultBus);
    }

    if (config.schedules.length) {
      this.schedule = create(
        'RunScheduleFunction',
        'run-schedule',
        256,
        'Zoho CRM bulk export: starts one run of a schedule (full or incremental), skipped while the last runs',
        { starts: true },
      );
      if (callbacks) this.schedule.bindCallbacks(callbacks.key, callbacks.baseUrl);
    }
  }

  /** Every function of the stack. */
  all(): ExporterFunction[] {
    return [
      this.api,
      this.poll,
      this.download,
      this.convert,
      ...(this.callback ? [this.callback] : []),
      ...(this.schedule ? [this.schedule] : []),
    ];
  }
}
