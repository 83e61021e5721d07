/**
 * Child process of the bench runner (bench/sections/download.ts): ONE download measurement, so that its peak RSS is that of the measured
 * code only. bench/core/procs.ts bundles it with esbuild (as the Lambda functions are) and runs `node worker.mjs '<json args>'`; prints one JSON line
 * `{ bytes, seconds, maxRssBytes, ... }`.
 *
 * Modes:
 *   pipeline  the real `downloadJob` (lib/pipeline/download.ts) with a JobStore and token broker on
 *             DynamoDB Local: the job is put in DOWNLOADING state (untimed), then downloadJob is timed.
 *   floor     peak RSS of the bundled worker with its static imports only (no measurement).
 *   inflate   baseline: GET the ZIP, parse the local header, zlib.createInflateRaw (128 KiB chunks),
 *             discard the output.
 */

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createInflateRaw } from 'node:zlib';
import { fakeCredentials } from '../../local/fake-zoho/credentials.js';
import { peakRssBytes } from './rss.js';

export interface PipelineArgs {
  mode: 'pipeline';
  ddbEndpoint: string;
  jobsTable: string;
  stateTable: string;
  tokenKey: string;
  zohoUrl: string;
  jobId: string;
  records: number;
  target: 'discard' | 's3rver';
  s3Endpoint: string;
  bucket: string;
}
/** The floor: `node --import tsx` running this file, nothing measured. */
export interface FloorArgs {
  mode: 'floor';
}
export interface InflateArgs {
  mode: 'inflate';
  url: string;
  token: string;
}
export interface WorkerResult {
  bytes: number;
  seconds: number;
  maxRssBytes: number;
  outcome?: string;
  key?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as PipelineArgs | InflateArgs | FloorArgs;

async function pipelineRun(a: PipelineArgs): Promise<WorkerResult> {
  // Imported here, so that the baselines' peak RSS does not include the AWS SDK.
  const { loadSettings } = await import('../../lib/config.js');
  const { SETTING_NAMES } = await import('../../lib/settings.js');
  const { DynamoTable } = await import('../../lib/ddb/dynamo-table.js');
  const { TABLES } = await import('../../lib/tables.js');
  const { MemoryTable } = await import('../../lib/ddb/memory-table.js');
  const { createLogger, memoryMetrics } = await import('../../lib/observability.js');
  const { downloadJob } = await import('../../lib/pipeline/download.js');
  const { documentClient } = await import('../../lib/runtime.js');
  const { budgetFor, downloadDeps, wiringCore } = await import('../../lib/wiring.js');
  const { localDynamoDbClient, localS3Client } = await import('../../local/stand-ins.js');
  const { exportS3Client } = await import('../../lib/s3.js');
  const { tuneHeapForStreaming } = await import('../../lib/heap.js');
  tuneHeapForStreaming(); // as functions/download-result.ts does at start-up
  const ddb = documentClient(localDynamoDbClient(a.ddbEndpoint));
  const config = {
    ...loadSettings(SETTING_NAMES, { ZOHO_ACCOUNTS_URL: a.zohoUrl, ZOHO_API_DOMAIN: a.zohoUrl }),
    BUCKET: a.bucket,
  };
  const jobsTable = new DynamoTable(ddb, a.jobsTable, TABLES.jobs);
  // The builders the download-result Lambda uses (lib/wiring.ts), its waits included; only the job
  // pipeline is measured (no exports' hooks).
  const core = wiringCore(config, {
    tables: {
      jobs: jobsTable,
      // The bench has no exports table: the downloader without exports' hooks never touches this one.
      exports: new MemoryTable('bench-exports-unused', TABLES.exports),
      state: new DynamoTable(ddb, a.stateTable, TABLES.state),
    },
    credentials: fakeCredentials,
    logger: createLogger('bench', 'SILENT'),
    metrics: memoryMetrics(),
    budget: budgetFor('download-result'),
    tokenKey: a.tokenKey,
  });
  const { jobs } = core;
  const s3 =
    a.target === 's3rver'
      ? localS3Client(a.s3Endpoint)
      : // As deployed: default flexible checksums (a CRC32 per part) and unsigned payloads.
        exportS3Client({
          endpoint: a.s3Endpoint,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
        });

  // Untimed set-up: the job as the poller leaves it (DOWNLOADING, dispatch_id, download_url, records).
  await jobs.register(a.jobId, { module: 'Contacts', page: 1 });
  const dispatchId = randomUUID();
  const ok = await jobsTable.update(
    { job_id: a.jobId },
    {
      set: {
        status: 'DOWNLOADING',
        dispatch_id: dispatchId,
        download_url: `/crm/bulk/v8/read/${a.jobId}/result`,
        records: a.records,
        attempts: 0,
        next_check_at: Date.now(),
      },
      remove: ['download_owner', 's3', 'expires_at'],
    },
  );
  if (!ok) throw new Error('could not put the job in DOWNLOADING state');

  const t0 = performance.now();
  const outcome = await downloadJob(
    downloadDeps(core, {
      s3,
      dispatch: async () => {
        throw new Error('the benchmark download was deferred');
      },
    }),
    { job_id: a.jobId, dispatch_id: dispatchId },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (outcome.outcome !== 'exported') throw new Error(`downloadJob returned ${JSON.stringify(outcome)}`);
  s3.destroy();
  return {
    bytes: outcome.bytes,
    seconds,
    maxRssBytes: peakRssBytes(),
    outcome: outcome.outcome,
    key: outcome.key,
  };
}

async function inflateRun(a: InflateArgs): Promise<WorkerResult> {
  const t0 = performance.now();
  const res = await fetch(a.url, { headers: { Authorization: `Zoho-oauthtoken ${a.token}` } });
  if (res.status !== 200 || !res.body) throw new Error(`download answered ${res.status}`);
  const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>, {
    highWaterMark: 256 * 1024,
  });
  const inflate = createInflateRaw({ chunkSize: 128 * 1024 });
  let bytes = 0;
  inflate.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  const ended = once(inflate, 'end');
  let head: Buffer | undefined = Buffer.alloc(0);
  let finished = false;
  void ended.then(() => {
    finished = true;
  });
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (finished) break;
    let data = chunk;
    if (head) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 30) continue;
      if (head.readUInt32LE(0) !== 0x04034b50) throw new Error('not a ZIP local file header');
      const start = 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
      if (head.length < start) continue;
      data = head.subarray(start);
      head = undefined;
    }
    if (!inflate.write(data)) await Promise.race([once(inflate, 'drain'), ended]);
  }
  if (!finished) inflate.end();
  await ended;
  body.destroy();
  const seconds = (performance.now() - t0) / 1000;
  return { bytes, seconds, maxRssBytes: peakRssBytes() };
}

const result =
  args.mode === 'pipeline'
    ? await pipelineRun(args)
    : args.mode === 'inflate'
      ? await inflateRun(args)
      : { bytes: 0, seconds: 0, maxRssBytes: peakRssBytes() };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
