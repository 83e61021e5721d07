/**
 * `npm run bench` (= `tsx bench/run.ts`): throughput, memory, poll cost and cold start of the exporter,
 * each figure beside a baseline measured in the same run. Not part of `npm test`. Talks only to
 * 127.0.0.1; every child process and temp file is removed at the end (also on Ctrl-C or a crash).
 *
 * Flags (environment variables):
 *   BENCH_QUICK=1        small sizes for a quick check: CSV of ~0.1 and ~0.2 GB, poll ticks of 200 and
 *                        1,000 jobs, 3 cold-start runs instead of 5.
 *   BENCH_ONLY=a,b       run only some sections: download, poll, cold (default: all three).
 *   BENCH_LIVE_ZIP=1     serve downloads straight from the fake Zoho, which deflates on the fly at about
 *                        200 MiB/s of CSV (it then caps every download figure); by default the fake's ZIP is
 *                        generated once, cached in a temp file and served from it (same bytes).
 *   BENCH_REPEAT=n       runs of each download measurement except s3rver (default 2, best taken).
 *
 * Sections:
 *   1. Download: the real `downloadJob` (JobStore on DynamoDB Local, token broker, ZIP from the fake Zoho
 *      over loopback HTTP, VerifyingCounter, lib-storage Upload with 5 MiB parts / queue 2) into an
 *      S3 endpoint that discards bodies (bench/discard-s3.ts) and into s3rver, beside `zlib.inflateRaw`
 *      to nowhere and `curl | funzip > /dev/null` on the same ZIP bytes. Every measurement runs in its
 *      own child process (bench/download-worker.ts); the fake Zoho runs in another
 *      (bench/fake-zoho-server.ts). The fake's padding column is free text drawn from a 1 MiB word pool, so
 *      the ZIP compresses about 3.5:1, like a real export.
 *   2. Poll: one `pollOnce` tick over N due jobs that all answer IN PROGRESS after 50 ms
 *      (bench/poll-worker.ts, fake Zoho in its own process).
 *   3. Cold start: the three Lambda entries bundled like infra/function.ts (esbuild, ESM, minified,
 *      source maps, AWS SDK bundled, createRequire banner; target node20 here), module load time of
 *      `await import(bundle)` in a fresh node, beside an empty ESM module.
 */
import { type ChildProcess, execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { DynamoTable } from '../lib/ddb/dynamo-table.js';
import { JobStore } from '../lib/jobs/store.js';
import { documentClient } from '../lib/runtime.js';
import { TABLES } from '../lib/tables.js';
import {
  createTables,
  localDynamoDbClient,
  localS3Client,
  type RunningService,
  startDynamoDbLocal,
  startS3rver,
  stopChild,
} from '../local/stand-ins.js';
import type { FloorArgs, InflateArgs, PipelineArgs, WorkerResult } from './download-worker.js';
import type { PollArgs } from './poll-worker.js';

// The pinned AWS SDK runs on Node 20; its notice about future releases needing Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const LIVE_ZIP = process.env.BENCH_LIVE_ZIP === '1';
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2) || 2);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'download,poll,cold').split(',').map((s) => s.trim()));

const MiB = 1024 * 1024;
const MB = 1e6;
const tmp = mkdtempSync(path.join(tmpdir(), 'zoho-bench-'));
const children = new Set<ChildProcess>();
const services: RunningService[] = [];

// ------------------------------------------------------------------ table

interface Row {
  measurement: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
  pass: string;
}
const rows: Row[] = [];
const notes: string[] = [];
const row = (r: Partial<Row> & { measurement: string }): void => {
  rows.push({ figure: '-', baseline: '-', ratio: '-', target: '-', pass: '-', ...r });
};
const section = (title: string): void => {
  rows.push({ measurement: `-- ${title}`, figure: '', baseline: '', ratio: '', target: '', pass: '' });
};
const log = (s: string): void => {
  process.stderr.write(`[bench] ${s}\n`);
};
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);
const verdict = (ok: boolean): string => (ok ? 'ok' : 'MISS');

function printTable(): void {
  const head: Row = {
    measurement: 'measurement',
    figure: 'figure',
    baseline: 'baseline',
    ratio: 'ratio',
    target: 'target',
    pass: 'pass',
  };
  const cols = Object.keys(head) as (keyof Row)[];
  const width = Object.fromEntries(
    cols.map((c) => [
      c,
      Math.max(
        head[c].length,
        ...rows.filter((r) => !r.measurement.startsWith('--')).map((r) => r[c].length),
      ),
    ]),
  ) as Record<keyof Row, number>;
  const line = (r: Row): string =>
    cols
      .map((c) => r[c].padEnd(width[c]))
      .join(' | ')
      .trimEnd();
  const out = [line(head), cols.map((c) => '-'.repeat(width[c])).join('-+-')];
  for (const r of rows) out.push(r.measurement.startsWith('--') ? r.measurement : line(r));
  process.stdout.write(`${out.join('\n')}\n`);
}

// ------------------------------------------------------------------ children

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * The download worker runs as an esbuild bundle, built like the Lambda functions (ESM, everything
 * bundled), so its peak RSS is that of the code Lambda runs, without tsx's compiler in memory.
 */
const bundledWorkers = new Map<string, string>();
async function bundleWorker(file: string): Promise<string> {
  const done = bundledWorkers.get(file);
  if (done) return done;
  const outfile = path.join(tmp, 'workers', file.replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [path.join(ROOT, 'bench', file)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    banner: {
      js: "import { createRequire as __bundleCreateRequire } from 'module'; const require = __bundleCreateRequire(import.meta.url);",
    },
  });
  bundledWorkers.set(file, outfile);
  return outfile;
}

/** Runs a bench worker (bundled, or `node --import tsx <file>`) and parses the last JSON line it prints. */
async function runWorker<T>(file: string, args: unknown): Promise<T> {
  const argv =
    file === 'download-worker.ts'
      ? [await bundleWorker(file), JSON.stringify(args)]
      : ['--import', 'tsx', path.join(ROOT, 'bench', file), JSON.stringify(args)];
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, argv, {
        cwd: ROOT,
        env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
    });
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`${file} exited with ${code ?? sig}\n${err}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${file} printed no JSON result: ${last}\n${err}`));
      }
    });
  });
}

interface FakeChild {
  url: string;
  fakeUrl: string;
  call<T>(cmd: string, extra?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

async function startFakeChild(): Promise<FakeChild> {
  const child = track(
    fork(path.join(ROOT, 'bench', 'fake-zoho-server.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ready = new Promise<{ url: string; fakeUrl: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fake Zoho child exited with ${code}`)));
    child.on('message', (m: { ready?: boolean; url: string; fakeUrl: string; id?: number; ok?: boolean }) => {
      if (m.ready) resolve(m);
    });
  });
  child.on('message', (m: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
    if (m.id === undefined) return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(`fake Zoho: ${m.error}`));
  });
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`fake Zoho child exited with ${code}`));
    pending.clear();
  });
  const { url, fakeUrl } = await ready;
  return {
    url,
    fakeUrl,
    call<T>(cmd: string, extra: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, cmd, ...extra });
      });
    },
    stop: () => stopChild(child),
  };
}

async function startDiscardS3(): Promise<{ url: string; child: ChildProcess }> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'discard-s3.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve((JSON.parse(buf.slice(0, nl)) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`discard S3 exited with ${code}`)));
  });
  return { url, child };
}

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a shell pipeline; wall time, and peak RSS of its largest process via /usr/bin/time if present. */
function timeShell(
  script: string,
  env: Record<string, string>,
): Promise<{ seconds: number; maxRssBytes: number | undefined }> {
  const haveTime = commandExists('/usr/bin/time');
  const rssFile = path.join(tmp, `time-${Date.now()}.txt`);
  const [cmd, args] = haveTime
    ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, 'sh', '-c', script]]
    : ['sh', ['-c', script]];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = track(
      spawn(cmd as string, args as string[], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) {
        reject(new Error(`${script} exited with ${code}: ${err}`));
        return;
      }
      let maxRssBytes: number | undefined;
      if (haveTime) {
        maxRssBytes = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) * 1024;
        rmSync(rssFile, { force: true });
      }
      resolve({ seconds, maxRssBytes });
    });
  });
}

async function cleanup(): Promise<void> {
  for (const s of services.splice(0)) await s.stop().catch(() => undefined);
  await Promise.all([...children].map((c) => stopChild(c)));
  rmSync(tmp, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

// ------------------------------------------------------------------ machine

function machine(): string[] {
  let model = 'unknown';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return [
    `date:    ${new Date().toISOString()}`,
    `cpu:     ${model}, ${cpus().length} cores`,
    `memory:  ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `node:    ${process.version} (kernel ${release()})`,
    `mode:    ${QUICK ? 'BENCH_QUICK=1 (small sizes)' : 'full'}${LIVE_ZIP ? ', BENCH_LIVE_ZIP=1' : ''}, repeat ${REPEAT}`,
  ];
}

// ------------------------------------------------------------------ shared AWS stand-ins

let ddbEndpoint = '';
async function ensureDdb(): Promise<void> {
  if (ddbEndpoint) return;
  log('starting DynamoDB Local');
  const ddb = await startDynamoDbLocal();
  services.push(ddb);
  ddbEndpoint = ddb.endpoint;
}
async function tables(prefix: string): Promise<{ jobsTable: string; stateTable: string }> {
  await ensureDdb();
  const raw = localDynamoDbClient(ddbEndpoint);
  try {
    const names = await createTables(raw, prefix);
    return { jobsTable: names.jobs, stateTable: names.state };
  } finally {
    raw.destroy();
  }
}

// ------------------------------------------------------------------ 1. download

const best = (rs: WorkerResult[]): WorkerResult => ({
  ...rs.reduce((a, b) => (b.seconds < a.seconds ? b : a)),
  maxRssBytes: Math.max(...rs.map((r) => r.maxRssBytes)),
});

async function repeat<T>(n: number, f: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}

async function downloadSection(): Promise<void> {
  const sizes = QUICK
    ? [
        { label: '~0.1 GB', padding: 300 },
        { label: '~0.2 GB', padding: 900 },
      ]
    : [
        { label: '0.5 GB', padding: 2400 },
        { label: '1.5 GB', padding: 7250 },
      ];
  const { jobsTable, stateTable } = await tables('bench-dl');
  log('starting the fake Zoho, the discarding S3 endpoint and s3rver (child processes)');
  const fake = await startFakeChild();
  const discard = await startDiscardS3();
  const s3dir = path.join(tmp, 's3rver');
  const s3rver = await startS3rver({ directory: s3dir, buckets: ['bench'] });
  services.push(s3rver);
  const s3rverClient = localS3Client(s3rver.endpoint);
  const haveCurl = commandExists('curl');
  const haveFunzip = commandExists('funzip');
  if (!haveCurl || !haveFunzip) {
    notes.push(
      `curl | funzip baseline skipped: ${[!haveCurl && 'curl', !haveFunzip && 'funzip'].filter(Boolean).join(' and ')} missing (apt-get install -y unzip curl)`,
    );
  }
  const tokenRes = await fetch(`${fake.url}/oauth/v2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: 'fake-client-id',
      client_secret: 'fake-client-secret',
      refresh_token: 'fake-refresh-token',
    }),
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  interface DiscardStats {
    bytes: number;
    failedBodies: number;
    lastComplete: { listed: number; missing: number[]; bytes: number; duplicates: number };
  }
  const discardStats = async (): Promise<DiscardStats> =>
    (await fetch(`${discard.url}/__stats`)).json() as Promise<DiscardStats>;
  const lost: string[] = [];

  const floor = await runWorker<WorkerResult>('download-worker.ts', { mode: 'floor' } satisfies FloorArgs);
  section('download: memory floor');
  row({
    measurement: 'peak RSS of the idle bundled download worker',
    figure: `${f1(floor.maxRssBytes / MB)} MB`,
    target: 'info',
  });
  for (const size of sizes) {
    const { ids } = await fake.call<{ ids: string[] }>('addJobs', {
      n: 1,
      spec: { totalRecords: 200_000, padding: size.padding },
    });
    const jobId = ids[0]!;
    const dlPath = `/crm/bulk/v8/read/${jobId}/result`;
    section(`download ${size.label} CSV (200,000 records, padding ${size.padding})`);

    // The fake's own on-the-fly ZIP, for the record.
    log(`${size.label}: fake Zoho generating the ZIP live (curl > /dev/null)`);
    const live = await timeShell('curl -sf -H "$AUTH" "$URL" > /dev/null', {
      AUTH: `Authorization: Zoho-oauthtoken ${token}`,
      URL: `${fake.fakeUrl}${dlPath}`,
    });
    if (!LIVE_ZIP) {
      log(`${size.label}: caching the fake's ZIP`);
      await fake.call('cacheZip', { jobId, file: path.join(tmp, `${jobId}.zip`) });
    }
    const zipBytes = LIVE_ZIP ? undefined : statSync(path.join(tmp, `${jobId}.zip`)).size;
    const url = `${fake.url}${dlPath}`;

    log(`${size.label}: baseline inflateRaw`);
    const inflate = best(
      await repeat(REPEAT, () =>
        runWorker<WorkerResult>('download-worker.ts', { mode: 'inflate', url, token } satisfies InflateArgs),
      ),
    );
    const csvBytes = inflate.bytes;
    const csvMiB = csvBytes / MiB;
    const inflateRate = csvMiB / inflate.seconds;
    notes.push(
      `${size.label}: CSV ${csvBytes.toLocaleString('en')} bytes (${f1(csvMiB)} MiB)` +
        (zipBytes ? `, ZIP ${zipBytes.toLocaleString('en')} bytes (${f1(csvBytes / zipBytes)}:1)` : ''),
    );
    row({
      measurement: `${size.label} fake Zoho live ZIP (curl > /dev/null)`,
      figure: `${f1(csvMiB / live.seconds)} MiB/s`,
      target: 'info',
    });
    row({
      measurement: `${size.label} baseline inflateRaw -> nowhere`,
      figure: `${f1(inflateRate)} MiB/s`,
      target: 'info',
    });
    row({
      measurement: `${size.label} baseline inflateRaw peak RSS`,
      figure: `${f1(inflate.maxRssBytes / MB)} MB`,
      target: 'info',
    });
    let funzipRate: number | undefined;
    if (haveCurl && haveFunzip) {
      log(`${size.label}: baseline curl | funzip`);
      const runs = await repeat(REPEAT, () =>
        timeShell('curl -sf -H "$AUTH" "$URL" | funzip > /dev/null', {
          AUTH: `Authorization: Zoho-oauthtoken ${token}`,
          URL: url,
        }),
      );
      const fastest = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
      funzipRate = csvMiB / fastest.seconds;
      const rss = runs.map((r) => r.maxRssBytes).filter((x): x is number => x !== undefined);
      row({
        measurement: `${size.label} baseline curl | funzip > /dev/null`,
        figure: `${f1(funzipRate)} MiB/s`,
        baseline: rss.length ? `RSS ${f1(Math.max(...rss) / MB)} MB` : 'RSS -',
        target: 'info',
      });
    }

    const pipelineArgs = (target: 'discard' | 's3rver'): PipelineArgs => ({
      mode: 'pipeline',
      ddbEndpoint,
      jobsTable,
      stateTable,
      tokenKey: 'zoho-token#bench-download',
      zohoUrl: fake.url,
      jobId,
      records: 200_000,
      target,
      s3Endpoint: target === 's3rver' ? s3rver.endpoint : discard.url,
      bucket: 'bench',
    });

    log(`${size.label}: downloadJob -> discarding S3 endpoint`);
    const discardRuns = await repeat(REPEAT, async () => {
      const before = await discardStats();
      const r = await runWorker<WorkerResult>('download-worker.ts', pipelineArgs('discard'));
      const after = await discardStats();
      const received = after.bytes - before.bytes;
      if (r.bytes !== csvBytes || received !== csvBytes) {
        const lc = after.lastComplete;
        lost.push(
          `${size.label}: downloadJob reported ${r.bytes} bytes exported, the discarding endpoint received ` +
            `${received} (CSV ${csvBytes}); CompleteMultipartUpload listed ${lc.listed} parts, ` +
            `${lc.missing.length} never received (${lc.missing.slice(0, 10).join(', ')}), ` +
            `listed parts hold ${lc.bytes} bytes, duplicate part uploads ${lc.duplicates}, ` +
            `failed part bodies ${after.failedBodies - before.failedBodies}`,
        );
      }
      return r;
    });
    const dis = best(discardRuns);
    const disRate = csvMiB / dis.seconds;
    row({
      measurement: `${size.label} downloadJob -> discarding S3`,
      figure: `${f1(disRate)} MiB/s`,
      baseline: `inflate ${f1(inflateRate)}`,
      ratio: `${f2(disRate / inflateRate)}x`,
      target: '>= 0.6x',
      pass: verdict(disRate / inflateRate >= 0.6),
    });
    if (funzipRate !== undefined) {
      row({
        measurement: `${size.label} downloadJob -> discarding S3`,
        figure: `${f1(disRate)} MiB/s`,
        baseline: `funzip ${f1(funzipRate)}`,
        ratio: `${f2(disRate / funzipRate)}x`,
        target: 'info',
      });
    }
    row({
      measurement: `${size.label} downloadJob -> discarding S3 peak RSS`,
      figure: `${f1(dis.maxRssBytes / MB)} MB`,
      baseline: `inflate ${f1(inflate.maxRssBytes / MB)} MB`,
      ratio: `${f2(dis.maxRssBytes / inflate.maxRssBytes)}x`,
      target: '<= 200 MB',
      pass: verdict(dis.maxRssBytes <= 200 * MB),
    });

    log(`${size.label}: downloadJob -> s3rver`);
    const s3r = await runWorker<WorkerResult>('download-worker.ts', pipelineArgs('s3rver'));
    if (s3r.bytes !== csvBytes) throw new Error(`s3rver run: ${s3r.bytes} bytes, CSV is ${csvBytes}`);
    if (s3r.key) await s3rverClient.send(new DeleteObjectCommand({ Bucket: 'bench', Key: s3r.key }));
    const s3rRate = csvMiB / s3r.seconds;
    row({
      measurement: `${size.label} downloadJob -> s3rver`,
      figure: `${f1(s3rRate)} MiB/s`,
      baseline: `inflate ${f1(inflateRate)}`,
      ratio: `${f2(s3rRate / inflateRate)}x`,
      target: 'info',
    });
    if (funzipRate !== undefined) {
      row({
        measurement: `${size.label} downloadJob -> s3rver`,
        figure: `${f1(s3rRate)} MiB/s`,
        baseline: `funzip ${f1(funzipRate)}`,
        ratio: `${f2(s3rRate / funzipRate)}x`,
        target: 'info',
      });
    }
    row({
      measurement: `${size.label} downloadJob -> s3rver peak RSS`,
      figure: `${f1(s3r.maxRssBytes / MB)} MB`,
      baseline: `inflate ${f1(inflate.maxRssBytes / MB)} MB`,
      ratio: `${f2(s3r.maxRssBytes / inflate.maxRssBytes)}x`,
      target: '<= 200 MB',
      pass: verdict(s3r.maxRssBytes <= 200 * MB),
    });
    rmSync(path.join(tmp, `${jobId}.zip`), { force: true });
  }
  section('download: integrity at the discarding endpoint');
  row({
    measurement: 'bytes received = CSV bytes, every run',
    figure: lost.length ? `${lost.length} run(s) short` : 'all exact',
    target: 'exact',
    pass: verdict(lost.length === 0),
  });
  for (const l of lost) notes.push(`SHORT UPLOAD ${l}`);
  s3rverClient.destroy();
  await fake.stop();
  await stopChild(discard.child);
}

// ------------------------------------------------------------------ 2. poll

interface PollResult {
  seconds: number;
  summary: { checked: number; pending: number; skipped: number; retried: number; stoppedEarly: boolean };
  ddbCalls: number;
  ddbMs: number;
  byCommand: Record<string, number>;
  mints: number;
  maxRssBytes: number;
}
interface FakeStats {
  mints: number;
  statusCalls: number;
  statusJobs: number;
  statusMin: number;
  statusMax: number;
}

async function pollSection(): Promise<void> {
  const sizes = QUICK ? [200, 1000] : [1000, 10_000];
  const concurrency = 5;
  const delayMs = 50;
  log('starting the fake Zoho for the poll ticks (child process)');
  const fake = await startFakeChild();
  await fake.call('inject', {
    fault: { kind: 'status', times: 'Infinity', action: { type: 'delay', ms: delayMs } },
  });
  let stateTable = '';
  let workerMints = 0;
  for (const n of sizes) {
    const t = await tables(`bench-poll-${n}`);
    stateTable ||= t.stateTable; // one token cache for the whole run
    log(`poll ${n}: seeding jobs at the fake and registering them (untimed)`);
    const { ids } = await fake.call<{ ids: string[] }>('addJobs', {
      n,
      spec: {
        totalRecords: 1000,
        timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 1e12 },
      },
    });
    const raw = localDynamoDbClient(ddbEndpoint);
    const store = new JobStore(new DynamoTable(documentClient(raw), t.jobsTable, TABLES.jobs));
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => store.register(id, { module: 'Contacts' })));
    }
    raw.destroy();
    await new Promise((r) => setTimeout(r, 5)); // every next_check_at is now in the past
    await fake.call('clearRequests');
    const before = await fake.call<FakeStats>('stats');
    log(`poll ${n}: one pollOnce tick`);
    const r = await runWorker<PollResult>('poll-worker.ts', {
      ddbEndpoint,
      jobsTable: t.jobsTable,
      stateTable,
      tokenKey: 'zoho-token#bench-poll',
      zohoUrl: fake.fakeUrl,
      concurrency,
    } satisfies PollArgs);
    const after = await fake.call<FakeStats>('stats');
    workerMints += r.mints;
    if (r.summary.pending !== n) {
      notes.push(`poll ${n}: tick summary ${JSON.stringify(r.summary)} (expected ${n} pending)`);
    }
    const ideal = (n * delayMs) / concurrency / 1000;
    const ratio = r.seconds / ideal;
    const statusCalls = after.statusCalls - before.statusCalls;
    section(
      `poll tick, ${n.toLocaleString('en')} due jobs, Zoho answers after ${delayMs} ms, concurrency ${concurrency}`,
    );
    row({
      measurement: `poll ${n} jobs: tick time`,
      figure: `${f2(r.seconds)} s`,
      baseline: `ideal ${f2(ideal)} s`,
      ratio: `${f2(ratio)}x`,
      target: '<= 1.3x',
      pass: verdict(ratio <= 1.3),
    });
    row({
      measurement: `poll ${n} jobs: Zoho status calls per job`,
      figure: `${f2(statusCalls / n)} (min ${after.statusMin}, max ${after.statusMax}, ${after.statusJobs} jobs)`,
      baseline: '1',
      target: '= 1',
      pass: verdict(
        statusCalls === n && after.statusMin === 1 && after.statusMax === 1 && after.statusJobs === n,
      ),
    });
    row({
      measurement: `poll ${n} jobs: DynamoDB calls per job`,
      figure: `${f2(r.ddbCalls / n)} (${r.ddbCalls} total)`,
      baseline: `${Object.entries(r.byCommand)
        .map(([k, v]) => `${k.replace(/Command$/, '')} ${v}`)
        .join(', ')}`,
      target: 'info',
    });
    row({
      measurement: `poll ${n} jobs: DynamoDB time per job`,
      figure: `${f1(r.ddbMs / n)} ms`,
      baseline: `status delay ${delayMs} ms`,
      ratio: `${f2(r.ddbMs / n / delayMs)}x`,
      target: 'info',
    });
    notes.push(
      `poll ${n}: worker peak RSS ${f1(r.maxRssBytes / MB)} MB; summary ${JSON.stringify(r.summary)}`,
    );
  }
  const final = await fake.call<FakeStats>('stats');
  section('poll: tokens');
  row({
    measurement: 'poll: token mints for the whole run',
    figure: `${final.mints} (broker onMint ${workerMints})`,
    baseline: '1',
    target: '= 1',
    pass: verdict(final.mints === 1),
  });
  await fake.stop();
}

// ------------------------------------------------------------------ 3. cold start

const ESM_REQUIRE_SHIM =
  "import { createRequire as __bundleCreateRequire } from 'module'; const require = __bundleCreateRequire(import.meta.url);";

async function coldSection(): Promise<void> {
  const runs = QUICK ? 3 : 5;
  const dir = path.join(tmp, 'bundles');
  const loader = path.join(tmp, 'load.mjs');
  writeFileSync(
    loader,
    "import { pathToFileURL } from 'node:url';\n" +
      'const t = performance.now();\n' +
      'await import(pathToFileURL(process.argv[2]).href);\n' +
      'process.stdout.write(String(performance.now() - t) + "\\n");\n' +
      'process.exit(0);\n',
  );
  const empty = path.join(dir, 'empty', 'index.mjs');
  mkdirSync(path.dirname(empty), { recursive: true });
  writeFileSync(empty, 'export {};\n');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    JOBS_TABLE: 'bench-jobs',
    STATE_TABLE: 'bench-state',
    BUCKET: 'bench-bucket',
    DOWNLOAD_QUEUE_URL: 'http://127.0.0.1:9/000000000000/bench-queue',
    ZOHO_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9', // nothing may leave this machine, even by accident
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const loadMs = async (file: string, sourceMaps: boolean): Promise<number> => {
    const times: number[] = [];
    for (let i = -1; i < runs; i++) {
      const out = execFileSync(process.execPath, [loader, file], {
        env: sourceMaps ? { ...env, NODE_OPTIONS: '--enable-source-maps' } : env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      if (i >= 0) times.push(Number(out.trim())); // run -1 warms the page cache
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  };
  const baseline = await loadMs(empty, false);
  const baselineMaps = await loadMs(empty, true);
  section(
    `cold start: esbuild bundle (ESM, minify, sourcemap, node20), median of ${runs} fresh node processes`,
  );
  row({
    measurement: 'empty ESM module load',
    figure: `${f2(baseline)} ms`,
    baseline: `${f2(baselineMaps)} ms w/ maps`,
    target: 'info',
  });
  for (const fn of ['api', 'poll-jobs', 'download-result']) {
    const outfile = path.join(dir, fn, 'index.mjs');
    log(`cold start: bundling functions/${fn}.ts`);
    await build({
      entryPoints: [path.join(ROOT, 'functions', `${fn}.ts`)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      banner: { js: ESM_REQUIRE_SHIM },
      logLevel: 'error',
      absWorkingDir: ROOT,
    });
    const kb = statSync(outfile).size / 1024;
    const mapKb = statSync(`${outfile}.map`).size / 1024;
    const ms = await loadMs(outfile, false);
    const msMaps = await loadMs(outfile, true);
    row({
      measurement: `${fn}: bundle size`,
      figure: `${f1(kb)} KB`,
      baseline: `map ${f1(mapKb)} KB`,
      target: 'info',
    });
    row({
      measurement: `${fn}: module load`,
      figure: `${f1(ms)} ms`,
      baseline: `empty ${f2(baseline)} ms`,
      ratio: `${f1(ms / baseline)}x`,
      target: 'info',
    });
    row({
      measurement: `${fn}: module load, --enable-source-maps`,
      figure: `${f1(msMaps)} ms`,
      baseline: `empty ${f2(baselineMaps)} ms`,
      ratio: `${f1(msMaps / baselineMaps)}x`,
      target: 'info',
    });
  }
}

// ------------------------------------------------------------------ main

const started = performance.now();
let failed = false;
try {
  for (const l of machine()) log(l);
  if (ONLY.has('download')) await downloadSection();
  if (ONLY.has('poll')) await ensureDdb().then(pollSection);
  if (ONLY.has('cold')) await coldSection();
} catch (e) {
  failed = true;
  process.stderr.write(`[bench] FAILED: ${(e as Error)?.stack ?? e}\n`);
} finally {
  await cleanup();
}
process.stdout.write(`\n${machine().join('\n')}\n`);
process.stdout.write(`total:   ${f1((performance.now() - started) / 1000)} s\n\n`);
printTable();
if (notes.length) process.stdout.write(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}\n`);
process.stdout.write(
  '\nMiB/s = MiB of CSV (unzipped) per second; MB = 10^6 bytes; peak RSS = VmHWM of the measuring child process.\n' +
    "The fake's padding column is free text from a 1 MiB word pool: each ZIP compresses about 3.5:1, as a real export does.\n",
);
process.exit(failed ? 1 : 0);
