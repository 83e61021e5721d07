/**
 * Over 450 lines: the local stack's whole assembly (stand-ins, every function, server, banner) in one place.
 *
 * The whole product on one machine, no AWS account: DynamoDB Local (data on disk under
 * LOCAL_DATA_DIR) and s3rver as stand-ins, tables from lib/tables.ts, the HTTP API on PORT served by
 * the same handler code as in Lambda, the poller on a timer, downloads dispatched to the same download
 * code through an in-process queue, and the built-in fake Zoho unless ZOHO_ACCOUNTS_URL points at a
 * real accounts server. Nothing here loads aws-cdk-lib.
 */

import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { createApiHandler } from '../lib/api/handler.js';
import { createCallbackHandler } from '../lib/callbacks/http.js';
import { keyFromSecret } from '../lib/callbacks/token.js';
import { ConfigError, type FunctionName, loadSettings } from '../lib/config.js';
import { fileCatalog } from '../lib/exports/catalog.js';
import type { ConvertMessage } from '../lib/exports/convert-message.js';
import type { ConvertDispatch } from '../lib/exports/deps.js';
import { fileEventPublisher } from '../lib/exports/events.js';
import { tuneHeapForStreaming } from '../lib/heap.js';
import type { DownloadMessage } from '../lib/jobs/model.js';
import { createLogger, describeError, memoryMetrics } from '../lib/observability.js';
import { downloadJob } from '../lib/pipeline/download.js';
import { pollOnce } from '../lib/pipeline/poll.js';
import { runSchedule } from '../lib/schedules/run.js';
import { startScheduleTimer } from '../lib/schedules/timer.js';
import { SETTING_NAMES, type Settings } from '../lib/settings.js';
import {
  apiDeps,
  callbackDeps,
  downloadDeps,
  exportDeps,
  firstPagesWindowMs,
  pollDeps,
  scheduleDeps,
} from '../lib/wiring.js';
import { credentialsFromEnv } from '../lib/zoho/token-broker.js';
import { AwsCallRecorder, jsonLinesSink } from './aws-calls.js';
import type { ConvertWorkerConfig } from './convert-worker.js';
import { childEntry } from './entries.js';
import type { FakeZohoAdminClient } from './fake-zoho/admin-client.js';
import { type FakeZohoChild, startFakeZohoChild } from './fake-zoho/child-runner.js';
import { DEFAULT_CLIENT } from './fake-zoho/credentials.js';
import type { JobSpec } from './fake-zoho/types.js';
import { type LocalFunction, localFunction } from './function-parts.js';
import { toApiGatewayEvent, writeApiGatewayResult } from './http-adapter.js';
import {
  assertJava,
  assertPortFree,
  createTables,
  killOnExit,
  LOCAL_CREDENTIALS,
  localDynamoDbClient,
  type RunningService,
  startDynamoDbLocal,
  startS3rver,
  stopChild,
  type TableNames,
} from './stand-ins.js';

const port = (def: number) => z.coerce.number().int().min(1).max(65535).default(def);
const flag = z
  .string()
  .optional()
  .transform((v) => v !== undefined && /^(1|true|yes)$/i.test(v.trim()));

export const localEnvSchema = z.object({
  PORT: port(3000),
  LOCAL_S3_PORT: port(4569),
  LOCAL_DYNAMODB_PORT: port(8000),
  LOCAL_ZOHO_PORT: port(4570),
  LOCAL_DATA_DIR: z.string().default('.local-data'),
  LOCAL_BUCKET: z.string().default('zoho-crm-exports'),
  LOCAL_TABLE_PREFIX: z.string().default('zoho-crm-bulk-export'),
  LOCAL_DOWNLOAD_CONCURRENCY: z.coerce.number().int().min(1).max(10).default(2),
  /** Start from empty: delete LOCAL_DATA_DIR's tables, objects and fake Zoho state first. */
  LOCAL_RESET: flag,
  /** Give Zoho jobs our callback URL (default on; `false`: polling only). */
  LOCAL_CALLBACKS: z
    .string()
    .optional()
    .transform((v) => v === undefined || !/^(0|false|no)$/i.test(v.trim())),
  /** Where Zoho's callbacks go (default: this stack's own API, http://127.0.0.1:PORT). */
  LOCAL_CALLBACK_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Record every AWS call each function makes, one JSON line per call, to this file (local/aws-calls.ts). */
  ZOHO_EXPORT_RECORD_AWS_CALLS: z.string().min(1).optional(),
  ZOHO_ACCOUNTS_URL: z.string().optional(),
});

/** The callback signing key of this data directory: made once, kept beside the tables. */
async function localCallbackKey(dataDir: string): Promise<Buffer> {
  const file = resolve(dataDir, 'callback-key');
  try {
    return keyFromSecret(await readFile(file, 'utf8'));
  } catch {
    await mkdir(dataDir, { recursive: true });
    const text = randomBytes(32).toString('base64');
    await writeFile(file, `${text}\n`, { mode: 0o600 });
    return keyFromSecret(text);
  }
}
export type LocalEnv = z.infer<typeof localEnvSchema>;

/** The local stack polls every 5 s unless POLL_INTERVAL_SECONDS says otherwise. */
const LOCAL_POLL_INTERVAL_SECONDS = '5';

export interface DemoJob {
  id: string;
  module: string;
  records: number;
  note: string;
}

export interface LocalStack {
  apiUrl: string;
  s3Endpoint: string;
  dynamoDbEndpoint: string;
  bucket: string;
  /** LOCAL_DATA_DIR, absolute: the file catalog (catalog/<database>/) and `zoho-export query`'s cache. */
  dataDir: string;
  tables: TableNames;
  zohoUrl: string | undefined;
  demoJobs: DemoJob[];
  settings: Settings;
  stop(): Promise<void>;
}

export class LocalStackError extends Error {
  override readonly name = 'LocalStackError';
}

function parseLocalEnv(env: NodeJS.ProcessEnv): LocalEnv {
  const r = localEnvSchema.safeParse(env);
  if (!r.success) {
    throw new LocalStackError(
      `invalid configuration: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return r.data;
}

/** Records per module in the fake's record stores: what `POST /exports` exports locally. */
export const DEMO_MODULE_RECORDS: Record<string, number> = {
  Contacts: 1_500,
  Accounts: 10_000,
  Deals: 25_000,
  Leads: 450_000,
};

/** The demo jobs for `POST /jobs` (registered jobs made "elsewhere"), seeded unless the fake already has them. */
async function seedDemoJobs(admin: FakeZohoAdminClient): Promise<DemoJob[]> {
  const demo: DemoJob[] = [];
  const add = async (spec: JobSpec & { id: string; module: string; totalRecords: number }, note: string) => {
    const known = await admin.jobInfo(spec.id).then(
      () => true,
      () => false,
    );
    if (!known) await admin.addJob(spec);
    demo.push({ id: spec.id, module: spec.module, records: spec.totalRecords, note });
  };
  // Fixed ids (above 2^53, like Zoho's), so the README's commands work as written.
  await add({ id: '3652397000000646004', module: 'Contacts', totalRecords: 1500 }, '1,500 contacts');
  await add({ id: '3652397000000646005', module: 'Deals', totalRecords: 25_000 }, '25,000 deals');
  await add(
    { id: '3652397000000646006', module: 'Leads', totalRecords: 250_000 },
    '250,000 leads: two pages, the second created automatically (more_records)',
  );
  await add(
    {
      id: '3652397000000646007',
      module: 'Accounts',
      totalRecords: 10,
      failWith: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error occurred.' },
    },
    'ends in FAILURE at Zoho, so FAILED here',
  );
  return demo;
}

/**
 * The Parquet converter in its own process (local/convert-worker.ts), fed like a queue: messages, some
 * delayed; the worker converts one page at a time and may ask for a message again later.
 */
async function startConvertWorker(
  cfg: ConvertWorkerConfig,
): Promise<{ send: ConvertDispatch; stop(): Promise<void> }> {
  const entry = childEntry('convert-worker');
  const child = fork(entry.path, [JSON.stringify(cfg)], {
    execArgv: entry.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const dispose = killOnExit(child);
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;
  const send: ConvertDispatch = async (msg, delayMs = 0) => {
    if (stopping) return;
    const t = setTimeout(
      () => {
        timers.delete(t);
        if (!stopping && child.connected) child.send({ type: 'convert', msg });
      },
      Math.max(0, delayMs),
    );
    timers.add(t);
  };
  child.on('message', (m: { type?: string; msg?: ConvertMessage; delayMs?: number }) => {
    if (m?.type === 'convert' && m.msg) void send(m.msg, m.delayMs);
  });
  await new Promise<void>((ok, fail) => {
    child.once('message', (m: { type?: string }) =>
      m?.type === 'ready' ? ok() : fail(new Error('convert worker')),
    );
    child.once('exit', (code) =>
      fail(new LocalStackError(`the Parquet converter process exited (${code}) before it was ready`)),
    );
  });
  return {
    send,
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      await stopChild(child, dispose);
    },
  };
}

/** An in-process stand-in for SQS: bounded concurrency, delayed messages, stops cleanly. */
function localQueue(
  handle: (msg: DownloadMessage, signal: AbortSignal) => Promise<void>,
  concurrency: number,
): { send(msg: DownloadMessage, delayMs?: number): Promise<void>; stop(): Promise<void> } {
  const queue: DownloadMessage[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const inflight = new Set<Promise<void>>();
  const abort = new AbortController();
  let active = 0;
  let stopping = false;
  const pump = (): void => {
    while (!stopping && active < concurrency && queue.length) {
      const msg = queue.shift()!;
      active++;
      const p = handle(msg, abort.signal).finally(() => {
        active--;
        inflight.delete(p);
        pump();
      });
      inflight.add(p);
    }
  };
  return {
    async send(msg, delayMs = 0) {
      if (stopping) return;
      const t = setTimeout(
        () => {
          timers.delete(t);
          queue.push(msg);
          pump();
        },
        Math.max(0, delayMs),
      );
      timers.add(t);
    },
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      abort.abort();
      await Promise.allSettled([...inflight]);
    },
  };
}

export async function startLocalStack(
  env: NodeJS.ProcessEnv = process.env,
  opts: { logger?: Logger; say?: (line: string) => void } = {},
): Promise<LocalStack> {
  const local = parseLocalEnv(env);
  const say = opts.say ?? ((l: string) => console.log(l));
  const logger = opts.logger ?? createLogger('local-stack');
  const useFake = !local.ZOHO_ACCOUNTS_URL;
  const dataDir = resolve(local.LOCAL_DATA_DIR);

  // Fail early and plainly: Java for DynamoDB Local first, then the ports.
  assertJava();
  await assertPortFree(local.PORT, 'the API', 'PORT');
  if (useFake) await assertPortFree(local.LOCAL_ZOHO_PORT, 'the fake Zoho', 'LOCAL_ZOHO_PORT');
  if (local.LOCAL_RESET) {
    for (const sub of ['dynamodb', 's3', 'fake-zoho'])
      await rm(resolve(dataDir, sub), { recursive: true, force: true });
  }
  // The downloader runs here: the same V8 heap setting as the download Lambda.
  tuneHeapForStreaming();

  const stoppers: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
    stoppers.length = 0;
  };
  try {
    const [ddbService, s3Service] = await Promise.all([
      startDynamoDbLocal({ port: local.LOCAL_DYNAMODB_PORT, dataDir: resolve(dataDir, 'dynamodb') }),
      startS3rver({
        port: local.LOCAL_S3_PORT,
        directory: resolve(dataDir, 's3'),
        buckets: [local.LOCAL_BUCKET],
      }),
    ]);
    stoppers.push(
      () => (ddbService as RunningService).stop(),
      () => (s3Service as RunningService).stop(),
    );

    const raw = localDynamoDbClient(ddbService.endpoint);
    const names = await createTables(raw, local.LOCAL_TABLE_PREFIX);

    let fake: FakeZohoChild | undefined;
    let demoJobs: DemoJob[] = [];
    const zohoEnv: NodeJS.ProcessEnv = { ...env };
    if (useFake) {
      // Its own process (its CPU and memory are not the product's), its state and its result files on
      // disk under LOCAL_DATA_DIR, so a restart finds every job it knew.
      fake = await startFakeZohoChild({
        port: local.LOCAL_ZOHO_PORT,
        timeline: { queuedAfterMs: 2_000, inProgressAfterMs: 4_000, completedAfterMs: 10_000 },
        moduleRecords: DEMO_MODULE_RECORDS,
        stateDir: resolve(dataDir, 'fake-zoho', 'state'),
        resultCacheDir: resolve(dataDir, 'fake-zoho', 'results'),
      });
      const f = fake;
      stoppers.push(() => f.stop());
      demoJobs = await seedDemoJobs(fake.admin);
      zohoEnv.ZOHO_ACCOUNTS_URL = fake.url;
      // The fake's plain-http API domain, named explicitly: a token answer may only send us there.
      zohoEnv.ZOHO_API_DOMAIN = fake.url;
      zohoEnv.ZOHO_CLIENT_ID = DEFAULT_CLIENT.clientId;
      zohoEnv.ZOHO_CLIENT_SECRET = DEFAULT_CLIENT.clientSecret;
      zohoEnv.ZOHO_REFRESH_TOKEN = DEFAULT_CLIENT.refreshToken;
    }

    let settings: Settings;
    try {
      settings = loadSettings(SETTING_NAMES, {
        ...zohoEnv,
        POLL_INTERVAL_SECONDS: zohoEnv.POLL_INTERVAL_SECONDS ?? LOCAL_POLL_INTERVAL_SECONDS,
        // The schedules npm start runs (same shape as the CDK context `schedules`).
        SCHEDULES: zohoEnv.LOCAL_SCHEDULES ?? zohoEnv.SCHEDULES,
      });
    } catch (e) {
      if (e instanceof ConfigError)
        throw new LocalStackError(
          zohoEnv.LOCAL_SCHEDULES !== undefined
            ? e.message.replace(/\bSCHEDULES:/, 'LOCAL_SCHEDULES:')
            : e.message,
        );
      throw e;
    }
    const metrics = memoryMetrics();
    const credentials = credentialsFromEnv(zohoEnv);
    // Fail now, not on the first poll, if the credentials are missing.
    await credentials();
    const config = { ...settings, BUCKET: local.LOCAL_BUCKET };
    const recordFile = local.ZOHO_EXPORT_RECORD_AWS_CALLS && resolve(local.ZOHO_EXPORT_RECORD_AWS_CALLS);
    const recorder = recordFile
      ? new AwsCallRecorder({ tables: names, bucket: local.LOCAL_BUCKET }, jsonLinesSink(recordFile))
      : undefined;
    // Locally the completion events go to a JSON-lines file (and GET /events), not EventBridge, and the
    // table definitions Glue would get to JSON files under catalog/.
    const events = fileEventPublisher(resolve(dataDir, 'events.jsonl'));
    const catalog = fileCatalog(resolve(dataDir, 'catalog'), settings.GLUE_DATABASE);
    const converter = await startConvertWorker({
      ddbEndpoint: ddbService.endpoint,
      s3Endpoint: s3Service.endpoint,
      tables: names,
      bucket: local.LOCAL_BUCKET,
      dataDir,
      env: { ...zohoEnv, POLL_INTERVAL_SECONDS: String(settings.POLL_INTERVAL_SECONDS) },
      ...(recordFile ? { recordFile } : {}),
    });
    stoppers.push(() => converter.stop());
    const callbacks = local.LOCAL_CALLBACKS
      ? {
          base: local.LOCAL_CALLBACK_BASE_URL ?? `http://127.0.0.1:${local.PORT}`,
          key: await localCallbackKey(dataDir),
        }
      : undefined;
    // Each function of the stack is built as its Lambda is: its own clients and core (stores, Zoho
    // client, waits from its timeout), only the parts its spec gives it. They share the tables, so the
    // access token is still minted once.
    const fnOf = (fn: FunctionName) =>
      localFunction(fn, {
        endpoints: { ddb: ddbService.endpoint, s3: s3Service.endpoint },
        tables: names,
        config,
        credentials,
        logger,
        metrics,
        events,
        catalog,
        convert: converter.send,
        // The download queue is made below; nothing dispatches before it exists.
        dispatch: (msg, delayMs) => downloads.send(msg, delayMs),
        ...(callbacks ? { callbacks } : {}),
        ...(recorder ? { recorder } : {}),
      });
    const withDispatch = (f: LocalFunction) => {
      if (!f.dispatch) throw new LocalStackError('this function has no download queue in its spec');
      return f.dispatch;
    };
    const withS3 = (f: LocalFunction) => {
      if (!f.s3) throw new LocalStackError('this function has no bucket in its spec');
      return f.s3;
    };
    const apiFn = fnOf('api');
    const api = createApiHandler(apiDeps(apiFn.core, apiFn.parts));

    // Downloads: an in-process queue served by the same download code the Lambda runs.
    const downloads = localQueue(async (msg, signal) => {
      try {
        const o = await downloadJob(download, msg, { signal });
        logger.info('download handled', { job_id: msg.job_id, ...o });
      } catch (e) {
        logger.error('download could not be recorded', { job_id: msg.job_id, error: describeError(e) });
      }
    }, local.LOCAL_DOWNLOAD_CONCURRENCY);
    const downloadFn = fnOf('download-result');
    const download = downloadDeps(downloadFn.core, {
      s3: withS3(downloadFn),
      dispatch: withDispatch(downloadFn),
      exports: exportDeps(downloadFn.core, downloadFn.parts),
    });
    stoppers.push(() => downloads.stop());

    // The poller's: the resumed downloads below are its dispatches.
    const pollFn = fnOf('poll-jobs');
    const { jobs, timing } = pollFn.core;
    const dispatch = withDispatch(pollFn);

    // Downloads the last run of this stack was doing when it stopped (or was killed) have no owner
    // now: dispatch them again at once instead of waiting for their leases to run out.
    for (let page = await jobs.due('DOWNLOADING', Number.MAX_SAFE_INTEGER, 100); ; ) {
      for (const job of page.jobs) {
        const dispatchId = await jobs.redispatch(job, Date.now() + timing.dispatchGraceMs);
        if (dispatchId) {
          logger.info('resuming a download the last run left unfinished', { job_id: job.job_id });
          await dispatch({ job_id: job.job_id, dispatch_id: dispatchId });
        }
      }
      if (!page.lastKey) break;
      page = await jobs.due('DOWNLOADING', Number.MAX_SAFE_INTEGER, 100, page.lastKey);
    }

    // The poller on a timer; a tick never overlaps the next.
    let timer: NodeJS.Timeout | undefined;
    let ticking: Promise<unknown> | undefined;
    let stopping = false;
    const abort = new AbortController();
    const intervalMs = settings.POLL_INTERVAL_SECONDS * 1000;
    const poll = pollDeps(pollFn.core, {
      dispatch,
      exports: exportDeps(pollFn.core, pollFn.parts),
      sweep: true,
    });
    const tick = async () => {
      if (stopping) return;
      try {
        const s = await pollOnce(poll, {
          deadline: Date.now() + Math.max(intervalMs * 10, 60_000),
          signal: abort.signal,
        });
        if (s.checked || s.failed || s.redispatched) logger.info('poll tick', { ...s });
      } catch (e) {
        logger.error('poll tick failed', { error: describeError(e) });
      }
      if (!stopping) timer = setTimeout(() => (ticking = tick()), intervalMs);
    };

    // Zoho's callbacks (no auth, like the deployed route: the token in the path is checked).
    const callbackFn = fnOf('zoho-callback');
    const callbackExports = exportDeps(callbackFn.core, callbackFn.parts);
    const callbackHandler = callbackFn.parts.callbacks
      ? createCallbackHandler(
          callbackDeps(
            callbackExports,
            pollDeps(callbackFn.core, { dispatch: withDispatch(callbackFn), exports: callbackExports }),
            callbackFn.parts.callbacks,
          ),
        )
      : undefined;
    const server: Server = createServer((req, res) => {
      // The local stack only: the completion events, as EventBridge would have carried them.
      if (req.method === 'GET' && (req.url === '/events' || req.url?.startsWith('/events?'))) {
        events
          .read()
          .then((list) =>
            writeApiGatewayResult(res, {
              statusCode: 200,
              headers: { 'content-type': 'application/json; charset=utf-8' },
              body: JSON.stringify({ events: list }),
            }),
          )
          .catch(() => writeApiGatewayResult(res, { statusCode: 500, body: '' }));
        return;
      }
      // The local stack only: where its files are, for `zoho-export query` (DuckDB over them).
      if (req.method === 'GET' && req.url === '/local') {
        writeApiGatewayResult(res, {
          statusCode: 200,
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({
            s3_endpoint: s3Service.endpoint,
            bucket: local.LOCAL_BUCKET,
            prefix: settings.S3_PREFIX,
            database: settings.GLUE_DATABASE,
            data_dir: dataDir,
          }),
        });
        return;
      }
      toApiGatewayEvent(req)
        .then(async (event) => {
          if (event === 'too-large') {
            writeApiGatewayResult(res, {
              statusCode: 413,
              headers: { 'content-type': 'application/json; charset=utf-8' },
              body: JSON.stringify({
                error: { code: 'PAYLOAD_TOO_LARGE', message: 'the body is larger than 1 MiB' },
              }),
            });
            return;
          }
          const isCallback = callbackHandler && event.rawPath.startsWith('/callbacks/');
          writeApiGatewayResult(res, await (isCallback ? callbackHandler(event) : api(event)));
        })
        .catch((e) => {
          logger.error('request failed', { error: describeError(e) });
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'INTERNAL_ERROR', message: 'internal error' } }));
        });
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(local.PORT, '127.0.0.1', () => ok());
    });
    stoppers.push(
      () =>
        new Promise<void>((ok) => {
          server.close(() => ok());
          server.closeAllConnections();
        }),
    );
    stoppers.push(async () => {
      stopping = true;
      clearTimeout(timer);
      abort.abort();
      await ticking?.catch(() => undefined);
    });
    ticking = tick();

    // LOCAL_SCHEDULES: a timer stands in for EventBridge Scheduler, with the same runner.
    const scheduleFn = fnOf('run-schedule');
    const scheduleRunDeps = scheduleDeps(exportDeps(scheduleFn.core, scheduleFn.parts), scheduleFn.core);
    const scheduleTimer = startScheduleTimer(settings.SCHEDULES, async (def) => {
      try {
        const o = await runSchedule(scheduleRunDeps, def, {
          deadline: Date.now() + firstPagesWindowMs('run-schedule'),
        });
        if (o.kind === 'started')
          logger.info('schedule run', { schedule: def.name, export_id: o.record.export_id });
        if (o.kind === 'snapshot')
          logger.info('schedule run', { schedule: def.name, snapshot_id: o.snapshot.export_id });
      } catch (e) {
        logger.error('schedule run failed', { schedule: def.name, error: describeError(e) });
      }
    });
    stoppers.push(() => scheduleTimer.stop());

    say('Zoho CRM bulk export, local stack');
    say(
      `  API            http://127.0.0.1:${local.PORT}  (POST /exports, GET /exports, POST /jobs, GET /jobs, ...; GET /events)`,
    );
    say(
      `  S3 (s3rver)    ${s3Service.endpoint}  bucket ${local.LOCAL_BUCKET}, credentials ${LOCAL_CREDENTIALS.accessKeyId}/${LOCAL_CREDENTIALS.secretAccessKey}, path-style`,
    );
    say(
      `  DynamoDB Local ${ddbService.endpoint}  tables ${Object.values(names).join(', ')} (any credentials, region us-east-1), data in ${resolve(dataDir, 'dynamodb')}`,
    );
    say(
      `  Zoho           ${useFake ? `built-in fake at ${fake!.url}` : `${settings.ZOHO_ACCOUNTS_URL} (real)`}`,
    );
    say(`  poller         every ${settings.POLL_INTERVAL_SECONDS} s`);
    if (recordFile) say(`  AWS calls      recorded per function to ${recordFile}`);
    if (settings.SCHEDULES.length)
      say(
        `  schedules      ${settings.SCHEDULES.map((d) => `${d.name} (${d.mode} ${d.module ?? (d.modules === 'all' ? 'all modules' : d.modules.join(', '))}, ${d.schedule} ${d.timezone})`).join('; ')}`,
      );
    if (demoJobs.length) {
      // Exports first, as in the README: registering a job made elsewhere is the secondary path.
      say('');
      say(
        `Export a whole module (the fake has ${Object.entries(DEMO_MODULE_RECORDS)
          .map(([m, n]) => `${m} ${n.toLocaleString('en-US')}`)
          .join(', ')} records):`,
      );
      say(
        `  curl -s -X POST http://127.0.0.1:${local.PORT}/exports -H 'content-type: application/json' -d '{"module":"Leads"}'`,
      );
      say(`  curl -s 'http://127.0.0.1:${local.PORT}/exports?module=Leads'`);
      say(`  curl -s http://127.0.0.1:${local.PORT}/events`);
      // The CLI finds the local stack by itself on the default port only.
      say(
        `  npx zoho-export export Contacts --watch${local.PORT === 3000 ? '' : ` --api http://127.0.0.1:${local.PORT}`}`,
      );
      say('');
      say('Or every module of the org at once (a snapshot; line items included), then query a table:');
      const apiFlag = local.PORT === 3000 ? '' : ` --api http://127.0.0.1:${local.PORT}`;
      say(`  npx zoho-export modules${apiFlag}`);
      say(`  npx zoho-export snapshot --all --watch${apiFlag}`);
      say(`  npx zoho-export query "SELECT count(*) FROM zoho_quoted_items_current"`);
      say('');
      say(
        'Or register a Zoho bulk read job made elsewhere (demo jobs on the fake) and watch its CSV land in S3:',
      );
      for (const d of demoJobs) say(`  ${d.id}  ${d.module.padEnd(9)} ${d.note}`);
      say('');
      say(
        `  curl -s -X POST http://127.0.0.1:${local.PORT}/jobs -H 'content-type: application/json' -d '{"job_id":"${demoJobs[0]!.id}"}'`,
      );
      say(`  curl -s http://127.0.0.1:${local.PORT}/jobs/${demoJobs[0]!.id}`);
      say(`  curl -s 'http://127.0.0.1:${local.PORT}/jobs?status=EXPORTED'`);
      say('');
    }
    say(`Ready. Ctrl-C stops everything; data stays in ${dataDir} (npm start -- --reset starts from empty).`);

    return {
      apiUrl: `http://127.0.0.1:${local.PORT}`,
      s3Endpoint: s3Service.endpoint,
      dynamoDbEndpoint: ddbService.endpoint,
      bucket: local.LOCAL_BUCKET,
      dataDir,
      tables: names,
      zohoUrl: fake?.url,
      demoJobs,
      settings,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
