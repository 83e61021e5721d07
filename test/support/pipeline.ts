import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { type ApiDeps, createApiHandler } from '../../lib/api/handler.js';
import type { FunctionName } from '../../lib/config.js';
import { loadSettings } from '../../lib/config.js';
import type { MemoryTable } from '../../lib/ddb/memory-table.js';
import { fileCatalog } from '../../lib/exports/catalog.js';
import { type ConvertDeps, convertPage, fieldsCache } from '../../lib/exports/convert.js';
import type { ConvertMessage } from '../../lib/exports/convert-message.js';
import type { ExportDeps } from '../../lib/exports/deps.js';
import type { BusEvent, EventPublisher } from '../../lib/exports/events.js';
import type { ExportStore } from '../../lib/exports/store.js';
import type { DownloadMessage, JobRecord } from '../../lib/jobs/model.js';
import type { JobStore } from '../../lib/jobs/store.js';
import { createLogger, memoryMetrics } from '../../lib/observability.js';
import { type DownloadDeps, type DownloadOutcome, downloadJob } from '../../lib/pipeline/download.js';
import { type PollDeps, type PollSummary, pollOnce } from '../../lib/pipeline/poll.js';
import { exportS3Client } from '../../lib/s3.js';
import { SETTING_NAMES, type Settings } from '../../lib/settings.js';
import {
  downloadDeps as buildDownloadDeps,
  exportDeps as buildExportDeps,
  pollDeps as buildPollDeps,
  type Tables,
  wiringCore,
} from '../../lib/wiring.js';
import { type FakeZoho, type FakeZohoOptions, startFakeZoho } from '../../local/fake-zoho/index.js';
// Types only: './aws.js' (vitest's `inject` of the stand-ins) is loaded when the AWS backend is asked for.
import type { TestAws } from './aws.js';
import { type ChecksumS3, startChecksumS3 } from './checksum-s3.js';
import type { IamRecorder } from './iam/recorder.js';
import { type RoleDeps, recordedRoles } from './iam/roles.js';
import { memoryTables } from './memory.js';
import { FAKE_CREDENTIALS, sha256OfIterable } from './zoho.js';

/** Where a harness keeps its items and objects: what every backend gives. */
export interface HarnessStorage {
  s3: S3Client;
  tables: Tables;
  bucket: string;
}

/** The unit tier's backend: MemoryTable tables and the in-process S3 of checksum-s3.ts (no Java, no s3rver). */
export interface MemoryStorage extends HarnessStorage {
  memory: { jobs: MemoryTable; exports: MemoryTable; state: MemoryTable };
  s3server: ChecksumS3;
}

export interface HarnessOptions {
  fake?: FakeZohoOptions;
  config?: Record<string, string>;
  exportDeps?: Partial<ExportDeps>;
  /**
   * Record every AWS call per function (test/support/iam/recorder.ts); callbacks signed with `key`.
   * Needs the AWS backend: each function gets its own DynamoDB and S3 clients.
   */
  iam?: { recorder: IamRecorder; callbacks?: { base: string; key: Buffer } };
}

const isTestAws = (s: HarnessStorage): s is TestAws => 'jobsTable' in s && 'ddb' in s;

/**
 * The job pipeline and the exports in-process, with the fake Zoho and the test's clock. `A` is its
 * storage: DynamoDB Local and s3rver (the default, integration tier), or memory (unit tier).
 */
export interface Harness<A extends HarnessStorage = TestAws> {
  aws: A;
  fake: FakeZoho;
  jobs: JobStore;
  config: Settings & { BUCKET: string };
  exports: ExportStore;
  exportDeps: ExportDeps;
  events: ReturnType<typeof memoryEvents>;
  clock: { now: () => number; advance: (ms: number) => void };
  pollDeps: PollDeps;
  downloadDeps: DownloadDeps;
  api: ApiDeps;
  /**
   * With `iam`: each function's own dependencies (its own clients, the recorder attached). The fields above
   * are then the API's (`exportDeps`, `api`), the poller's, the downloader's and the converter's.
   */
  roles?: Record<FunctionName, RoleDeps>;
  /** Dispatched download messages that are due (delayed ones join when the clock reaches them). */
  queue: DownloadMessage[];
  /** Messages whose handler threw three times (the dead-letter queue). */
  dlq: DownloadMessage[];
  metrics: ReturnType<typeof memoryMetrics>;
  register(jobId: string): Promise<JobRecord>;
  poll(): Promise<PollSummary>;
  deliver(): Promise<DownloadOutcome[]>;
  /** One scheduled tick: poll, deliver every dispatched download, advance the clock. */
  tick(advanceMs?: number): Promise<{ poll: PollSummary; downloads: DownloadOutcome[] }>;
  /** Ticks until every job is EXPORTED or FAILED; returns them all. */
  settle(maxTicks?: number, advanceMs?: number): Promise<JobRecord[]>;
  allJobs(): Promise<JobRecord[]>;
  objectBytes(key: string): Promise<Buffer>;
  objectKeys(): Promise<string[]>;
  expectExportedExactly(job: JobRecord): Promise<void>;
  close(): Promise<void>;
}

/** An in-memory event bus: every published event, in order. */
export function memoryEvents(): EventPublisher & { published: BusEvent[]; failNext: number } {
  const bus = {
    published: [] as BusEvent[],
    failNext: 0,
    async publish(e: BusEvent) {
      if (bus.failNext > 0) {
        bus.failNext--;
        throw new Error('EventBridge is unavailable (test)');
      }
      bus.published.push(e);
    },
  };
  return bus;
}

/** Fresh in-memory tables and an empty in-process S3 (bucket `exports`; the fake S3 needs no CreateBucket). */
export async function memoryStorage(): Promise<MemoryStorage> {
  const memory = memoryTables();
  const s3server = await startChecksumS3();
  // The product's client (flexible CRC32 checksums, unsigned payloads), which the fake S3 checks.
  const s3 = exportS3Client({
    endpoint: s3server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return { memory, tables: memory, s3, s3server, bucket: 'exports' };
}

export function pipelineHarness(
  opts: HarnessOptions & { backend: 'memory' },
): Promise<Harness<MemoryStorage>>;
export function pipelineHarness(opts?: HarnessOptions & { backend?: 'aws'; aws?: TestAws }): Promise<Harness>;
export async function pipelineHarness(
  opts: HarnessOptions & { backend?: 'aws' | 'memory'; aws?: TestAws } = {},
): Promise<Harness<HarnessStorage>> {
  if (opts.backend === 'memory') {
    const storage = await memoryStorage();
    return harnessOn(storage, opts, () => storage.s3server.close());
  }
  const aws = opts.aws ?? (await (await import('./aws.js')).freshAws());
  return harnessOn(aws, opts, async () => undefined);
}

async function harnessOn<A extends HarnessStorage>(
  aws: A,
  opts: HarnessOptions,
  closeStorage: () => Promise<void>,
): Promise<Harness<A>> {
  let t = Date.now();
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
  const fake = await startFakeZoho({
    now: clock.now,
    timeline: { queuedAfterMs: 60_000, inProgressAfterMs: 120_000, completedAfterMs: 240_000 },
    ...opts.fake,
  });
  const config = {
    ...loadSettings(SETTING_NAMES, {
      ZOHO_ACCOUNTS_URL: fake.accountsUrl,
      POLL_INTERVAL_SECONDS: '60',
      ...opts.config,
    }),
    BUCKET: aws.bucket,
  };
  const logger = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'SILENT');
  const metrics = memoryMetrics();
  // The same builders as the Lambdas, with the test's clock and no budget (today's default waits).
  const core = wiringCore(config, {
    tables: aws.tables,
    credentials: async () => FAKE_CREDENTIALS,
    logger,
    metrics,
    now: clock.now,
  });
  const { jobs, exports } = core;
  const queue: DownloadMessage[] = [];
  const delayed: Array<{ msg: DownloadMessage; at: number }> = [];
  const dispatch = async (m: DownloadMessage, delayMs = 0): Promise<void> => {
    if (delayMs > 0) delayed.push({ msg: m, at: clock.now() + delayMs });
    else queue.push(m);
  };
  const releaseDelayed = (): void => {
    for (let i = delayed.length - 1; i >= 0; i--) {
      if (delayed[i]!.at <= clock.now()) queue.push(...delayed.splice(i, 1).map((d) => d.msg));
    }
  };
  const events = memoryEvents();
  // The converter's queue (delayed messages join when the clock reaches them) and a catalog on disk.
  const conversions: Array<{ msg: ConvertMessage; at: number; receives?: number }> = [];
  const convert = async (msg: ConvertMessage, delayMs = 0): Promise<void> => {
    conversions.push({ msg, at: clock.now() + delayMs });
  };
  const catalogDir = mkdtempSync(path.join(tmpdir(), 'zoho-catalog-'));
  const catalog = fileCatalog(catalogDir, config.GLUE_DATABASE);
  const partSize = 5 * 1024 * 1024;
  if (opts.iam && !isTestAws(aws)) throw new Error('recording AWS calls needs the AWS backend');
  const roles =
    opts.iam && isTestAws(aws)
      ? recordedRoles({
          recorder: opts.iam.recorder,
          endpoints: { ddb: inject('ddbEndpoint'), s3: inject('s3Endpoint') },
          config,
          aws,
          logger,
          metrics,
          now: clock.now,
          dispatch,
          convert,
          events,
          catalog,
          partSize,
          ...(opts.exportDeps ? { overrides: opts.exportDeps } : {}),
          ...(opts.iam.callbacks ? { callbacks: opts.iam.callbacks } : {}),
        })
      : undefined;
  const exportDeps: ExportDeps = roles?.api.exports ?? {
    ...buildExportDeps(core, { s3: aws.s3, events, convert, catalog }),
    ...opts.exportDeps,
  };
  const convertWith: ConvertDeps = roles?.['convert-parquet'].convert ?? {
    ...exportDeps,
    config,
    s3: aws.s3,
  };
  const fields = fieldsCache(convertWith, clock.now);
  const pollDeps =
    roles?.['poll-jobs'].poll ?? buildPollDeps(core, { dispatch, exports: exportDeps, sweep: true });
  const downloadDeps =
    roles?.['download-result'].download ??
    buildDownloadDeps(core, { s3: aws.s3, dispatch, exports: exportDeps, partSize });
  const api: ApiDeps = exportDeps;
  const handleApi = createApiHandler(api);
  const receives = new Map<DownloadMessage, number>();
  const redeliver: DownloadMessage[] = [];
  const dlq: DownloadMessage[] = [];

  const h: Harness<A> = {
    aws,
    fake,
    jobs,
    exports,
    exportDeps,
    events,
    config,
    clock,
    pollDeps,
    downloadDeps,
    api,
    ...(roles ? { roles } : {}),
    queue,
    dlq,
    metrics,
    async register(jobId) {
      const res = await handleApi({
        version: '2.0',
        routeKey: 'POST /jobs',
        rawPath: '/jobs',
        rawQueryString: '',
        headers: { 'content-type': 'application/json' },
        requestContext: { http: { method: 'POST' } },
        body: JSON.stringify({ job_id: jobId }),
        isBase64Encoded: false,
      } as never);
      if (res.statusCode !== 201 && res.statusCode !== 200)
        throw new Error(`register ${jobId}: ${res.statusCode} ${res.body}`);
      return (await jobs.get(jobId))!;
    },
    poll: () => pollOnce(pollDeps, { deadline: clock.now() + 600_000 }),
    async deliver() {
      // Like SQS with maxReceiveCount 3: a handler that throws gets the message again, then the DLQ.
      const out: DownloadOutcome[] = [];
      releaseDelayed();
      while (queue.length) {
        const msg = queue.shift()!;
        try {
          out.push(await downloadJob(downloadDeps, msg));
        } catch {
          const n = (receives.get(msg) ?? 0) + 1;
          receives.set(msg, n);
          if (n < 3) redeliver.push(msg);
          else dlq.push(msg);
        }
      }
      queue.push(...redeliver.splice(0));
      // Then the conversions that are due (the converter runs after the raw landing).
      for (let i = 0; i < conversions.length; ) {
        const c = conversions[i]!;
        if (c.at > clock.now()) {
          i++;
          continue;
        }
        conversions.splice(i, 1);
        try {
          await convertPage(convertWith, c.msg, { fields });
        } catch {
          // Like SQS: the message comes back after its visibility timeout (the DLQ after three).
          const n = (c.receives ?? 0) + 1;
          if (n < 3) conversions.push({ ...c, at: clock.now() + 1, receives: n });
        }
      }
      return out;
    },
    async tick(advanceMs = config.POLL_INTERVAL_SECONDS * 1000) {
      const poll = await h.poll();
      const downloads = await h.deliver();
      clock.advance(advanceMs);
      return { poll, downloads };
    },
    async settle(maxTicks = 200, advanceMs) {
      for (let i = 0; i < maxTicks; i++) {
        await h.tick(advanceMs);
        const all = await h.allJobs();
        if (all.every((j) => j.status === 'EXPORTED' || j.status === 'FAILED')) return all;
      }
      const stuck = (await h.allJobs()).filter((j) => j.status !== 'EXPORTED' && j.status !== 'FAILED');
      throw new Error(`jobs still unfinished after ${maxTicks} ticks: ${JSON.stringify(stuck.slice(0, 3))}`);
    },
    async allJobs() {
      const out: JobRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await jobs.list({ limit: 100, ...(cursor ? { cursor } : {}) });
        out.push(...page.jobs);
        cursor = page.next ?? undefined;
      } while (cursor);
      return out;
    },
    async objectBytes(key) {
      const r = await aws.s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    async objectKeys() {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const r = await aws.s3.send(
          new ListObjectsV2Command({ Bucket: aws.bucket, ContinuationToken: token }),
        );
        for (const o of r.Contents ?? []) if (!/\/(_manifests|parquet)\//.test(o.Key!)) keys.push(o.Key!);
        token = r.NextContinuationToken;
      } while (token);
      return keys;
    },
    async expectExportedExactly(job) {
      if (job.status !== 'EXPORTED' || !job.s3)
        throw new Error(`job ${job.job_id} is ${job.status}: ${JSON.stringify(job.error)}`);
      const r = await aws.s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: job.s3.key }));
      const got = await sha256OfIterable(r.Body as AsyncIterable<Buffer>);
      const want = await sha256OfIterable(fake.csv(job.job_id));
      if (got.hash !== want.hash || got.bytes !== want.bytes || job.s3.bytes !== want.bytes) {
        throw new Error(
          `S3 object of ${job.job_id} differs from the CSV in the ZIP (${got.bytes} vs ${want.bytes} bytes)`,
        );
      }
      if (job.records !== fake.recordCount(job.job_id))
        throw new Error(`record count of ${job.job_id} is ${job.records}`);
      const head = await aws.s3.send(new HeadObjectCommand({ Bucket: aws.bucket, Key: job.s3.key }));
      if (head.Metadata?.['zoho-job-id'] !== job.job_id) throw new Error('object metadata lacks the job id');
    },
    async close() {
      await fake.close();
      await closeStorage();
    },
  };
  return h;
}
