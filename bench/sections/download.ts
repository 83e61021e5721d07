/**
 * Section `download`: the real `downloadJob` (JobStore on DynamoDB Local, token broker, ZIP from the
 * fake Zoho over loopback HTTP, VerifyingCounter, lib-storage Upload with 5 MiB parts / queue 2) into an
 * S3 endpoint that discards bodies (bench/workers/discard-s3.ts) and into s3rver, beside
 * `zlib.inflateRaw` to nowhere and `curl | funzip > /dev/null` on the same ZIP bytes. Every measurement
 * runs in its own child process (bench/workers/download-worker.ts); the fake Zoho runs in another
 * (bench/workers/fake-zoho-server.ts). The fake's padding column is free text drawn from a 1 MiB word
 * pool, so the ZIP compresses about 3.5:1, like a real export. Figures are the best of BENCH_REPEAT runs
 * (s3rver: one run), peak RSS the highest.
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { localS3Client, startS3rver, stopChild } from '../../local/stand-ins.js';
import { LIVE_ZIP, MB, MiB, QUICK, REPEAT, tmp } from '../core/config.js';
import { ensureDdb, tables } from '../core/ddb.js';
import {
  commandExists,
  runWorker,
  services,
  startDiscardS3,
  startFakeChild,
  timeShell,
} from '../core/procs.js';
import { f1, f2, log, notes, row, section, verdict } from '../core/report.js';
import { repeat } from '../core/stats.js';
import type { FloorArgs, InflateArgs, PipelineArgs, WorkerResult } from '../workers/download-worker.js';

const best = (rs: WorkerResult[]): WorkerResult => ({
  ...rs.reduce((a, b) => (b.seconds < a.seconds ? b : a)),
  maxRssBytes: Math.max(...rs.map((r) => r.maxRssBytes)),
});

export async function downloadSection(): Promise<void> {
  const sizes = QUICK
    ? [
        { label: '~0.1 GB', padding: 300 },
        { label: '~0.2 GB', padding: 900 },
      ]
    : [
        { label: '0.5 GB', padding: 2400 },
        { label: '1.5 GB', padding: 7250 },
      ];
  const ddbEndpoint = await ensureDdb();
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
