/**
 * Section `callbacks` (issue 11; not in BENCH_QUICK: ~5-6 minutes whatever the sizes): what Zoho's
 * callback buys, with `npm start` as a black box and `POST /exports`, each stack with
 * OUTPUT_FORMATS=csv (no Parquet conversion competing with the next run; a page's updated_at at
 * EXPORTED is then the transition itself).
 *
 *  1. Latency, POLL_INTERVAL_SECONDS=60 (the deployed default), one stack with LOCAL_CALLBACKS=true and
 *     one with LOCAL_CALLBACKS=false. The fake's Contacts store is reset to 200,000 records (one full
 *     page) and its timeline for jobs created over HTTP set to COMPLETED 10 s after creation. Per run
 *     (BENCH_REPEAT, median): `POST /exports {"module":"Contacts"}`, then `GET /jobs/{id}` every 100 ms
 *     until EXPORTED, then the export until COMPLETED. Afterwards, from the fake:
 *       COMPLETED   the job's completedAt (admin job info: when its timeline makes it COMPLETED)
 *       download    the product's result request in the fake's request log (status 200)
 *       EXPORTED    the job's updated_at at EXPORTED
 *     figure = COMPLETED -> EXPORTED; baseline = download request -> EXPORTED (the download alone, the
 *     same job); target with callbacks: figure <= download + 3 s. Without callbacks the poller finds
 *     the job on its next tick (0-60 s later, wherever the minute stands), so that row is for scale;
 *     each of its runs starts after a random wait of 0-60 s (otherwise every run would start just
 *     after the tick that ended the run before, always the worst phase). Expected over a uniform phase
 *     with this 10 s job: 30 s (a tick 10-60 s after creation finds it COMPLETED; one earlier sees it
 *     pending and the next tick, 60 s later, finds it).
 *  2. Status calls per job: a 5-minute job at POLL_INTERVAL_SECONDS=60 costs as many calls either way
 *     (the backoff caps only matter for long jobs), so the count runs with POLL_INTERVAL_SECONDS=1 and
 *     jobs that take 60 s at Zoho, which is the same schedule scaled 1:60 (every backoff is a multiple
 *     of the poll interval): 60 s at 1 s stands for 1 hour at 60 s. Two stacks at once (callbacks on,
 *     off), three exports each (Contacts, Accounts, Deals at the stack's defaults), the status requests
 *     (`GET /crm/bulk/{v}/read/{id}`) of each job counted in the fake's request log. Baseline: the
 *     jittered backoff of lib/jobs/retry.ts simulated on 1 s ticks (2,000 runs).
 */
import { timingFrom } from '../../lib/config.js';
import { backoffMs } from '../../lib/jobs/retry.js';
import { REPEAT } from '../core/config.js';
import { postExport, sleep, waitExport, waitJobExported } from '../core/exports.js';
import { LocalStackProcess } from '../core/local-stack.js';
import { f1, f2, load, log, notes, row, section, verdict } from '../core/report.js';
import { max, median, min, spread } from '../core/stats.js';

const LATENCY_MODULE = 'Contacts';
const LATENCY_RECORDS = 200_000;
const LATENCY_JOB_MS = 10_000;
const SLACK_S = 3;
const COUNT_JOB_MS = 60_000;
const COUNT_MODULES = ['Contacts', 'Accounts', 'Deals'];
const POLL_MS = 60_000;
/** The random waits before the runs without callbacks (ms), for the notes. */
const phases: number[] = [];

interface LatencyRun {
  /** Zoho COMPLETED -> EXPORTED (s). */
  latency: number;
  /** The product's download request -> EXPORTED (s). */
  download: number;
  /** Zoho COMPLETED -> the download request (s). */
  toDownload: number;
  /** Zoho COMPLETED -> the fake sent the callback (s), with callbacks. */
  toCallback: number | undefined;
  /** POST /exports -> EXPORTED (s). */
  wall: number;
  statusCalls: number;
  records: number;
  csvBytes: number;
}

const onOff = (on: boolean): string => (on ? 'on' : 'off');
const s = (ms: number): number => ms / 1000;

async function latencyRuns(callbacks: boolean): Promise<LatencyRun[]> {
  log(`callbacks: starting npm start with POLL_INTERVAL_SECONDS=60, LOCAL_CALLBACKS=${callbacks}`);
  const stack = await LocalStackProcess.start({
    label: `callbacks-${onOff(callbacks)}`,
    env: { POLL_INTERVAL_SECONDS: '60', LOCAL_CALLBACKS: String(callbacks), OUTPUT_FORMATS: 'csv' },
  });
  const runs: LatencyRun[] = [];
  try {
    await stack.admin.setOptions({
      timeline: { queuedAfterMs: 1_000, inProgressAfterMs: 2_000, completedAfterMs: LATENCY_JOB_MS },
    });
    await stack.admin.setModuleRecords(LATENCY_MODULE, LATENCY_RECORDS);
    for (let k = 0; k < REPEAT; k++) {
      await stack.admin.clearRequests();
      await stack.admin.clearCallbacks();
      if (!callbacks) {
        // Each run would otherwise start just after the tick that finished the one before: always the
        // worst phase. Exports start at any moment of the poller's minute.
        const phase = Math.random() * POLL_MS;
        log(`callbacks off: waiting ${f1(phase / 1000)} s (a random phase of the poll interval)`);
        await sleep(phase);
        phases.push(phase);
      }
      log(`callbacks ${onOff(callbacks)}: run ${k + 1} of ${REPEAT}, load ${load()}`);
      const posted = Date.now();
      const e = await postExport(stack, { module: LATENCY_MODULE });
      const jobId = e.pages[0]?.job_id;
      if (!jobId) throw new Error(`POST /exports answered no page 1 job: ${JSON.stringify(e)}`);
      const landed = await waitJobExported(stack, jobId, { everyMs: 100, timeoutMs: 4 * 60_000 });
      await waitExport(stack, e.export_id, (x) => x.status === 'COMPLETED', {
        everyMs: 200,
        timeoutMs: 60_000,
      });
      const info = await stack.admin.jobInfo(jobId);
      const requests = (await stack.admin.requests()).filter((r) => r.jobId === jobId);
      const download = requests.find((r) => r.kind === 'download' && r.status === 200);
      if (!download) throw new Error(`the fake logged no successful download of ${jobId}`);
      const callback = (await stack.admin.callbacks()).find((c) => c.jobId === jobId);
      if (callbacks && !callback) throw new Error(`the fake sent no callback for ${jobId}`);
      if (!callbacks && info.callbackUrl)
        throw new Error(`LOCAL_CALLBACKS=false, yet ${jobId} has a callback URL`);
      const run: LatencyRun = {
        latency: s(landed.exportedAt - info.completedAt),
        download: s(landed.exportedAt - download.at),
        toDownload: s(download.at - info.completedAt),
        toCallback: callback ? s(callback.at - info.completedAt) : undefined,
        wall: s(landed.exportedAt - posted),
        statusCalls: requests.filter((r) => r.kind === 'status').length,
        records: landed.job.records ?? 0,
        csvBytes: landed.job.s3?.bytes ?? 0,
      };
      log(
        `callbacks ${onOff(callbacks)} run ${k + 1}: COMPLETED -> EXPORTED ${f2(run.latency)} s, download ${f2(run.download)} s, ` +
          `COMPLETED -> download request ${f2(run.toDownload)} s, ${run.statusCalls} status calls`,
      );
      runs.push(run);
    }
  } finally {
    await stack.stop();
  }
  return runs;
}

/** Mean status calls per job the backoff of lib/jobs/retry.ts gives on `tickMs` ticks (see the file comment). */
function modelCalls(jobMs: number, baseMs: number, capMs: number, tickMs: number, runs = 2000): number {
  let total = 0;
  for (let r = 0; r < runs; r++) {
    let t = Math.random() * tickMs; // the first tick after the job was created: its first check
    let calls = 0;
    while (t < jobMs) {
      calls++;
      // the next check: the first tick at or after the backoff
      t += Math.max(1, Math.ceil(backoffMs(calls - 1, baseMs, capMs) / tickMs)) * tickMs;
    }
    // the check that finds COMPLETED: the poller's at t, or with a callback the callback's at jobMs
    total += calls + 1;
  }
  return total / runs;
}

interface CountResult {
  calls: number[];
  callbacksSent: number;
  startSeconds: number;
}

async function countOn(stack: LocalStackProcess, callbacks: boolean): Promise<CountResult> {
  await stack.admin.setOptions({
    timeline: { queuedAfterMs: 1_000, inProgressAfterMs: 2_000, completedAfterMs: COUNT_JOB_MS },
  });
  await stack.admin.clearRequests();
  await stack.admin.clearCallbacks();
  const jobs: string[] = [];
  for (const module of COUNT_MODULES) {
    const e = await postExport(stack, { module });
    const id = e.pages[0]?.job_id;
    if (!id) throw new Error(`POST /exports answered no page 1 job: ${JSON.stringify(e)}`);
    jobs.push(id);
  }
  for (const id of jobs) await waitJobExported(stack, id, { everyMs: 500, timeoutMs: 4 * 60_000 });
  const requests = await stack.admin.requests();
  const calls = jobs.map((id) => requests.filter((r) => r.kind === 'status' && r.jobId === id).length);
  const sent = (await stack.admin.callbacks()).filter((c) => jobs.includes(c.jobId)).length;
  log(
    `callbacks count ${onOff(callbacks)}: status calls per job ${calls.join(', ')}; callbacks sent ${sent}`,
  );
  return { calls, callbacksSent: sent, startSeconds: stack.startSeconds };
}

async function countRuns(): Promise<{ on: CountResult; off: CountResult }> {
  log(
    'callbacks: starting two npm start (POLL_INTERVAL_SECONDS=1, callbacks on and off) for the status-call count',
  );
  const started = await Promise.allSettled(
    [true, false].map((cb) =>
      LocalStackProcess.start({
        label: `count-${onOff(cb)}`,
        env: { POLL_INTERVAL_SECONDS: '1', LOCAL_CALLBACKS: String(cb), OUTPUT_FORMATS: 'csv' },
      }),
    ),
  );
  const stacks = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  try {
    const bad = started.find((r) => r.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
    const [on, off] = await Promise.all([countOn(stacks[0]!, true), countOn(stacks[1]!, false)]);
    return { on: on!, off: off! };
  } finally {
    await Promise.all(stacks.map((st) => st.stop()));
  }
}

export async function callbacksSection(): Promise<void> {
  const on = await latencyRuns(true);
  const off = await latencyRuns(false);
  const count = await countRuns();

  const med = (rs: LatencyRun[], f: (r: LatencyRun) => number): number => median(rs.map(f));
  section(
    `callbacks: POST /exports of ${LATENCY_RECORDS.toLocaleString('en-US')} Contacts (1 page, COMPLETED ${s(LATENCY_JOB_MS)} s after creation), ` +
      `POLL_INTERVAL_SECONDS=60, OUTPUT_FORMATS=csv, median of ${REPEAT}`,
  );
  for (const [cb, rs] of [
    [true, on],
    [false, off],
  ] as const) {
    const lat = med(rs, (r) => r.latency);
    const dl = med(rs, (r) => r.download);
    row({
      measurement: `callbacks ${onOff(cb)}: Zoho COMPLETED -> EXPORTED`,
      figure: `${f2(lat)} s`,
      baseline: `download alone ${f2(dl)} s`,
      ratio: `${f2(lat / dl)}x`,
      target: cb ? `<= download + ${SLACK_S} s` : 'info',
      pass: cb ? verdict(max(rs.map((r) => r.latency - r.download)) <= SLACK_S) : '-',
    });
  }
  for (const [cb, rs] of [
    [true, on],
    [false, off],
  ] as const) {
    row({
      measurement: `callbacks ${onOff(cb)}: Zoho COMPLETED -> download request`,
      figure: `${f2(med(rs, (r) => r.toDownload))} s`,
      baseline: cb
        ? `callback sent +${f2(med(rs, (r) => r.toCallback ?? Number.NaN))} s`
        : 'poll interval 60 s',
      target: 'info',
    });
  }
  const landedOk = [...on, ...off].every((r) => r.records === LATENCY_RECORDS);
  row({
    measurement: 'callbacks: records per page landed',
    figure: [...on, ...off].map((r) => String(r.records)).join(', '),
    baseline: `CSV ${f1(median([...on, ...off].map((r) => r.csvBytes)) / 1e6)} MB`,
    target: `= ${LATENCY_RECORDS}`,
    pass: verdict(landedOk),
  });
  for (const [cb, rs] of [
    [true, on],
    [false, off],
  ] as const) {
    notes.push(
      `callbacks ${onOff(cb)} (POLL 60 s), per run: COMPLETED -> EXPORTED ${rs.map((r) => f2(r.latency)).join(', ')} s; ` +
        `download ${rs.map((r) => f2(r.download)).join(', ')} s; COMPLETED -> download request ${rs.map((r) => f2(r.toDownload)).join(', ')} s; ` +
        `POST -> EXPORTED ${rs.map((r) => f1(r.wall)).join(', ')} s; status calls ${rs.map((r) => r.statusCalls).join(', ')}` +
        (cb ? '' : `; random wait before each run ${phases.map((p) => f1(p / 1000)).join(', ')} s`),
    );
  }

  const t = timingFrom({ POLL_INTERVAL_SECONDS: 1, RETENTION_DAYS: 90 });
  const modelOn = modelCalls(COUNT_JOB_MS, t.baseMs, t.callbackCapMs, 1000);
  const modelOff = modelCalls(COUNT_JOB_MS, t.baseMs, t.capMs, 1000);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const describe = (xs: number[]): string =>
    `${f1(mean(xs))} (min ${min(xs)}, max ${max(xs)}, ${xs.length} jobs)`;
  section(
    `callbacks: Zoho status calls per job, POLL_INTERVAL_SECONDS=1, jobs COMPLETED ${s(COUNT_JOB_MS)} s after creation (= 1 h at 60 s), ${COUNT_MODULES.join('/')}`,
  );
  row({
    measurement: 'callbacks on: status calls per job',
    figure: describe(count.on.calls),
    baseline: `model ${f1(modelOn)}`,
    target: `< off`,
    pass: verdict(mean(count.on.calls) < mean(count.off.calls)),
  });
  row({
    measurement: 'callbacks off: status calls per job',
    figure: describe(count.off.calls),
    baseline: `model ${f1(modelOff)}`,
    target: 'info',
  });
  row({
    measurement: 'callbacks on: callbacks the fake sent',
    figure: String(count.on.callbacksSent),
    baseline: `${count.on.calls.length} jobs`,
    target: `= ${count.on.calls.length}`,
    pass: verdict(count.on.callbacksSent === count.on.calls.length),
  });
  notes.push(
    `callbacks count: status calls per job on ${count.on.calls.join(', ')}, off ${count.off.calls.join(', ')} ` +
      `(${COUNT_MODULES.join(', ')}); model = backoffMs of lib/jobs/retry.ts (base ${t.baseMs} ms, cap ${t.callbackCapMs} ms with a callback, ` +
      `${t.capMs} ms without) on 1 s ticks, 2,000 runs, one call more for the check that finds COMPLETED; ` +
      `latency stacks: median of ${spread(
        [...on, ...off].map((r) => r.download),
        f2,
      )} s download`,
  );
}
