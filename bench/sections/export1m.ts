/**
 * Section `export1m` (issue 11; not in BENCH_QUICK): a 1,000,000-record export through `POST /exports`
 * end to end, `npm start` as a black box (POLL_INTERVAL_SECONDS=1, callbacks on: the stack's
 * defaults). The fake's Leads store is reset to 1,000,000 records; the fake's page size (200,000) and
 * its timeline for jobs created over HTTP are the stack's own (read back and printed), so the export
 * has 5 pages, each created by the product when the one before is COMPLETED (Zoho's more_records).
 *
 * Two stacks, one after the other: OUTPUT_FORMATS=csv (the comparison with the ideal, which has no
 * conversion in it) and the product default csv,parquet (COMPLETED waits for every page's Parquet).
 * While the export runs only the product's API is polled: `GET /exports/{id}` every 100 ms and, once
 * a page shows EXPORTED, its `GET /jobs/{id}` once (EXPORTED = the smaller of its updated_at and the
 * time it was seen). Afterwards, from the fake's admin API and request log:
 *   job time       per page: the fake's createdAt -> completedAt (how the fake schedules it)
 *   download time  per page, measured alone after the export: the real downloadJob of the same ZIP
 *                  into the stack's s3rver, one page at a time (see downloadsAlone)
 *   ideal          sum of the job times + sum of the download times (every page one after the other)
 *   figure         POST /exports -> the export's completed_at (COMPLETED)
 * The product creates page N+1 when page N is COMPLETED, so page N downloads while N+1 runs at Zoho:
 * it can beat the ideal; the critical path of that pipeline (sum of job times + the last download) is
 * in the notes. Also there: the downloads as they went in the run (result request -> EXPORTED, up to
 * two at once: LOCAL_DOWNLOAD_CONCURRENCY), each page's ZIP fetched again with
 * `curl | funzip > /dev/null` from the fake's result cache (no S3 upload), and the gaps between a
 * page's COMPLETED and the creation of the next.
 */
import { MB } from '../core/config.js';
import { ensureDdb, tables } from '../core/ddb.js';
import { type ApiExport, type ApiJob, getExport, postExport, sleep } from '../core/exports.js';
import { LocalStackProcess } from '../core/local-stack.js';
import { commandExists, runWorker, timeShell } from '../core/procs.js';
import { f1, f2, load, log, notes, row, section, verdict } from '../core/report.js';
import type { PipelineArgs, WorkerResult } from '../workers/download-worker.js';

const MODULE = 'Leads';
const RECORDS = 1_000_000;
const PAGES = 5;

interface PageRun {
  page: number;
  jobId: string;
  records: number;
  csvBytes: number;
  createdAt: number;
  completedAt: number;
  downloadAt: number;
  exportedAt: number;
  statusCalls: number;
}

interface Export1mRun {
  formats: string;
  posted: number;
  completedAt: number;
  export: ApiExport;
  pages: PageRun[];
  perPage: number;
  timeline: { queuedAfterMs: number; inProgressAfterMs: number; completedAfterMs: number };
  /** Per page: the real downloadJob alone (s), see downloadsAlone. */
  alone: number[];
  curl: number[];
}

/**
 * Each page's download measured alone, after the export: the real `downloadJob` (the download section's
 * bundled worker, own process, one page at a time) of the same job's ZIP from the stack's fake (served
 * from its result cache: Zoho builds a result once) into the stack's s3rver, with its own job table on
 * the bench's DynamoDB Local. Then `curl | funzip > /dev/null` of the same ZIPs, for scale.
 */
async function downloadsAlone(
  stack: LocalStackProcess,
  pages: PageRun[],
): Promise<{ alone: number[]; curl: number[] }> {
  // the product's budget is not involved here; the fake must not refuse the extra downloads
  await stack.admin.setOptions({ downloadsPerMinute: 1000 });
  const alone: number[] = [];
  for (const p of pages) {
    const t = await tables(`export1m-${p.jobId}`);
    const r = await runWorker<WorkerResult>('download-worker.ts', {
      mode: 'pipeline',
      ddbEndpoint: await ensureDdb(),
      jobsTable: t.jobsTable,
      stateTable: t.stateTable,
      tokenKey: 'zoho-token#bench-export1m',
      zohoUrl: stack.zohoUrl,
      jobId: p.jobId,
      records: p.records,
      target: 's3rver',
      s3Endpoint: stack.s3Url,
      bucket: 'zoho-crm-exports',
    } satisfies PipelineArgs);
    if (r.bytes !== p.csvBytes)
      throw new Error(`downloadJob alone of ${p.jobId}: ${r.bytes} bytes, CSV is ${p.csvBytes}`);
    alone.push(r.seconds);
  }
  const curl: number[] = [];
  if (commandExists('curl') && commandExists('funzip')) {
    const auth = `Authorization: Zoho-oauthtoken ${await stack.token()}`;
    for (const p of pages) {
      const r = await timeShell('curl -sf -H "$AUTH" "$URL" | funzip > /dev/null', {
        AUTH: auth,
        URL: stack.resultUrl(p.jobId),
      });
      curl.push(r.seconds);
    }
  }
  return { alone, curl };
}

async function runOnce(formats: 'csv' | 'csv,parquet'): Promise<Export1mRun> {
  log(`export1m: starting npm start (OUTPUT_FORMATS=${formats}, POLL_INTERVAL_SECONDS=1, callbacks on)`);
  const stack = await LocalStackProcess.start({
    label: `export1m-${formats.replace(',', '-')}`,
    env: { OUTPUT_FORMATS: formats },
  });
  try {
    const opts = await stack.admin.options();
    await stack.admin.setModuleRecords(MODULE, RECORDS);
    await stack.admin.clearRequests();
    await stack.admin.clearCallbacks();
    log(`export1m ${formats}: POST /exports ${MODULE} (${RECORDS} records), load ${load()}`);
    const posted = Date.now();
    const created = await postExport(stack, { module: MODULE });
    const id = created.export_id;
    const exported = new Map<string, { job: ApiJob; at: number }>();
    const deadline = Date.now() + 6 * 60_000;
    let e: ApiExport = created;
    let lastLog = Date.now();
    for (;;) {
      e = await getExport(stack, id);
      const seenAt = Date.now();
      if (e.status === 'FAILED') throw new Error(`export ${id} FAILED: ${JSON.stringify(e.error)}`);
      for (const p of e.pages) {
        if (p.status !== 'EXPORTED' || exported.has(p.job_id)) continue;
        const r = await stack.api<ApiJob>('GET', `/jobs/${p.job_id}`);
        if (r.status !== 200) throw new Error(`GET /jobs/${p.job_id} answered ${r.status}`);
        exported.set(p.job_id, { job: r.body, at: Math.min(Date.parse(r.body.updated_at), seenAt) });
      }
      if (e.status === 'COMPLETED') break;
      if (Date.now() > deadline) throw new Error(`export ${id} still ${e.status} after 6 minutes`);
      if (!stack.alive()) throw new Error(`npm start exited:\n${stack.tail(30)}`);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(
          `export1m ${formats}: ${e.pages.length} pages created, ${exported.size} EXPORTED, ${e.records} records after ${f1((Date.now() - posted) / 1000)} s`,
        );
      }
      await sleep(100);
    }
    if (!e.completed_at) throw new Error(`export ${id} COMPLETED without completed_at`);
    const requests = await stack.admin.requests();
    const pages: PageRun[] = [];
    for (const p of e.pages) {
      const info = await stack.admin.jobInfo(p.job_id);
      const landed = exported.get(p.job_id);
      if (!landed) throw new Error(`page ${p.page} (${p.job_id}) was never seen EXPORTED`);
      const download = requests.find(
        (r) => r.kind === 'download' && r.jobId === p.job_id && r.status === 200,
      );
      if (!download) throw new Error(`the fake logged no successful download of ${p.job_id}`);
      pages.push({
        page: p.page,
        jobId: p.job_id,
        records: p.records ?? 0,
        csvBytes: landed.job.s3?.bytes ?? 0,
        createdAt: info.createdAt,
        completedAt: info.completedAt,
        downloadAt: download.at,
        exportedAt: landed.at,
        statusCalls: requests.filter((r) => r.kind === 'status' && r.jobId === p.job_id).length,
      });
    }
    log(`export1m ${formats}: each page's download alone (downloadJob worker, then curl | funzip)`);
    const { alone, curl } = await downloadsAlone(stack, pages);
    return {
      formats,
      posted,
      completedAt: Date.parse(e.completed_at),
      export: e,
      pages,
      perPage: opts.perPage,
      timeline: opts.timeline,
      alone,
      curl,
    };
  } finally {
    await stack.stop();
  }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const sec = (ms: number): string => `${f1(ms / 1000)} s`;

function report(r: Export1mRun): void {
  const jobTimes = r.pages.map((p) => p.completedAt - p.createdAt);
  /** In the run: the product's result request -> the page's EXPORTED (ms). */
  const inRun = r.pages.map((p) => p.exportedAt - p.downloadAt);
  const alone = r.alone.map((x) => x * 1000);
  const ideal = sum(jobTimes) + sum(alone);
  const e2e = r.completedAt - r.posted;
  const lastExported = Math.max(...r.pages.map((p) => p.exportedAt));
  const label = `export1m ${r.formats}`;
  section(
    `${label}: POST /exports of ${RECORDS.toLocaleString('en-US')} ${MODULE}, ${r.perPage.toLocaleString('en-US')} a page, ` +
      `fake job COMPLETED ${f1(r.timeline.completedAfterMs / 1000)} s after creation, npm start (POLL 1 s, callbacks on)`,
  );
  row({
    measurement: `${label}: POST -> COMPLETED`,
    figure: sec(e2e),
    baseline: `ideal ${sec(ideal)}`,
    ratio: `${f2(e2e / ideal)}x`,
    target: 'info',
  });
  row({
    measurement: `${label}: POST -> last page EXPORTED`,
    figure: sec(lastExported - r.posted),
    baseline: `ideal ${sec(ideal)}`,
    ratio: `${f2((lastExported - r.posted) / ideal)}x`,
    target: 'info',
  });
  row({
    measurement: `${label}: records landed`,
    figure: r.export.records.toLocaleString('en-US'),
    baseline: `${f1(r.export.bytes / MB)} MB CSV`,
    target: `= ${RECORDS.toLocaleString('en-US')}`,
    pass: verdict(r.export.records === RECORDS && r.export.manifest !== null),
  });
  row({
    measurement: `${label}: pages`,
    figure: String(r.pages.length),
    baseline: r.pages.map((p) => p.records).join(' + '),
    target: `= ${PAGES}`,
    pass: verdict(r.pages.length === PAGES && r.pages.every((p) => p.records === r.perPage)),
  });
  const gaps = r.pages.slice(1).map((p, i) => p.createdAt - r.pages[i]!.completedAt);
  const critical = sum(jobTimes) + alone[alone.length - 1]!;
  notes.push(
    `${label}: ideal = job times ${jobTimes.map((t) => f1(t / 1000)).join(' + ')} s + downloads alone (downloadJob -> s3rver) ${alone.map((t) => f1(t / 1000)).join(' + ')} s; ` +
      `the same downloads in the run (result request -> EXPORTED, up to 2 at once) ${inRun.map((t) => f1(t / 1000)).join(' + ')} s; ` +
      `pipelined critical path (job times + last download) ${sec(critical)}; ` +
      `page COMPLETED -> next page created ${gaps.map((g) => f2(g / 1000)).join(', ')} s; ` +
      `COMPLETED -> download request ${r.pages.map((p) => f2((p.downloadAt - p.completedAt) / 1000)).join(', ')} s; ` +
      `last page EXPORTED -> export COMPLETED ${f2((r.completedAt - lastExported) / 1000)} s; ` +
      `status calls per page ${r.pages.map((p) => p.statusCalls).join(', ')}; CSV per page ${r.pages.map((p) => f1(p.csvBytes / MB)).join(', ')} MB` +
      (r.curl.length
        ? `; curl | funzip > /dev/null of each cached ZIP afterwards ${r.curl.map((t) => f2(t)).join(' + ')} = ${f1(sum(r.curl))} s`
        : ''),
  );
}

export async function export1mSection(): Promise<void> {
  const csv = await runOnce('csv');
  report(csv);
  const parquet = await runOnce('csv,parquet');
  report(parquet);
}
