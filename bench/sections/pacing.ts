/**
 * Section `pacing` (not in BENCH_QUICK: ~5 minutes whatever the sizes): 50 small jobs due at once
 * through the whole pipeline of `npm start` (poller, in-process queue, download budget on DynamoDB
 * Local, downloader), with the fake Zoho in its strict mode: at most 10 download starts in any 60 s
 * (sliding), a 429 locks downloads for 60 s.
 *
 * The 50 jobs are added to the fake already COMPLETED (2,000 records each) and registered with
 * `POST /jobs` at once; the section waits until `GET /jobs?status=EXPORTED` lists them all. From the
 * fake's request log and each job's updated_at:
 *   figure    first download request (the first dispatch; the dispatch precedes it by the claim and the
 *             budget's read-and-write, a few ms) -> the last job's EXPORTED
 *   baseline  the ideal at 10 per 60 s: four full windows (4 x 60 s) plus the last batch's own time
 *             (its first download start -> the last EXPORTED)
 *   checks    Zoho download 429s (target 0) and the most download starts in any 60 s (at most 10)
 */
import { type ApiJob as PublicJob, sleep } from '../core/exports.js';
import { LocalStackProcess } from '../core/local-stack.js';
import { f1, f2, log, notes, row, section, verdict } from '../core/report.js';

const JOBS = 50;
const PER_MINUTE = 10;
const WINDOW_MS = 60_000;

/** Every job the product lists with `status`, across pages. */
async function listAll(stack: LocalStackProcess, status: string): Promise<PublicJob[]> {
  const out: PublicJob[] = [];
  let next: string | null | undefined;
  do {
    const q = `/jobs?status=${status}&limit=100${next ? `&next=${encodeURIComponent(next)}` : ''}`;
    const { status: code, body } = await stack.api<{ jobs: PublicJob[]; next: string | null }>('GET', q);
    if (code !== 200) throw new Error(`GET ${q} answered ${code}`);
    out.push(...body.jobs);
    next = body.next;
  } while (next);
  return out;
}

export async function pacingSection(): Promise<void> {
  log('pacing: starting `npm start` (fresh LOCAL_DATA_DIR, free ports, POLL_INTERVAL_SECONDS=1)');
  const stack = await LocalStackProcess.start({ label: 'pacing' });
  try {
    await stack.admin.setOptions({
      downloadWindow: 'sliding',
      downloadsPerMinute: PER_MINUTE,
      downloadLockMs: 60_000,
      lockExtendsOnReject: true,
    });
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const job = await stack.admin.addJob({
        totalRecords: 2000,
        timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
      });
      ids.push(job.id);
    }
    await stack.admin.clearRequests();
    const stats0 = await stack.admin.stats();
    log(`pacing: registering ${JOBS} COMPLETED jobs at once`);
    const tRegister = Date.now();
    const answers = await Promise.all(ids.map((id) => stack.api('POST', '/jobs', { job_id: id })));
    const refused = answers.filter((a) => a.status !== 201);
    if (refused.length)
      throw new Error(`POST /jobs refused ${refused.length} jobs: ${JSON.stringify(refused[0])}`);
    const tRegistered = Date.now();

    const deadline = Date.now() + 10 * 60_000;
    let exported: PublicJob[] = [];
    let lastLog = 0;
    for (;;) {
      exported = (await listAll(stack, 'EXPORTED')).filter((j) => ids.includes(j.job_id));
      if (exported.length >= JOBS) break;
      const failed = (await listAll(stack, 'FAILED')).filter((j) => ids.includes(j.job_id));
      if (failed.length) throw new Error(`pacing: ${failed.length} jobs FAILED`);
      if (Date.now() > deadline) break;
      if (!stack.alive()) throw new Error(`npm start exited:\n${stack.tail(30)}`);
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`pacing: ${exported.length} of ${JOBS} EXPORTED after ${f1((Date.now() - tRegister) / 1000)} s`);
      }
      await sleep(1000);
    }
    const stats1 = await stack.admin.stats();
    const requests = await stack.admin.requests();
    const downloads = requests.filter((r) => r.kind === 'download' && ids.includes(r.jobId ?? ''));
    const starts = downloads
      .filter((r) => r.status === 200)
      .map((r) => r.at)
      .sort((a, b) => a - b);
    const done = exported.map((j) => Date.parse(j.updated_at)).sort((a, b) => a - b);
    const first = starts[0] ?? Number.NaN;
    const lastExported = done[done.length - 1] ?? Number.NaN;
    const fullWindows = Math.ceil(JOBS / PER_MINUTE) - 1;
    const lastBatchStart = starts[fullWindows * PER_MINUTE] ?? Number.NaN;
    const lastBatch = lastExported - lastBatchStart;
    const ideal = fullWindows * WINDOW_MS + lastBatch;
    const figure = lastExported - first;
    let most = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[j]! <= starts[i]! - WINDOW_MS) j++;
      most = Math.max(most, i - j + 1);
    }
    const rejected = stats1.download429s - stats0.download429s;
    section(
      `pacing: ${JOBS} COMPLETED jobs registered at once, npm start, fake Zoho sliding ${PER_MINUTE} downloads / 60 s`,
    );
    row({
      measurement: `pacing: first dispatch -> last EXPORTED`,
      figure: `${f1(figure / 1000)} s`,
      baseline: `ideal ${f1(ideal / 1000)} s`,
      ratio: `${f2(figure / ideal)}x`,
      target: '<= 1.1x',
      pass: verdict(exported.length === JOBS && figure / ideal <= 1.1),
    });
    row({
      measurement: 'pacing: jobs EXPORTED',
      figure: `${exported.length} of ${JOBS}`,
      baseline: `${starts.length} download starts`,
      target: `= ${JOBS}`,
      pass: verdict(exported.length === JOBS && starts.length === JOBS),
    });
    row({
      measurement: 'pacing: Zoho download 429s',
      figure: String(rejected),
      baseline: `${downloads.length} download requests`,
      target: '= 0',
      pass: verdict(rejected === 0),
    });
    row({
      measurement: 'pacing: most download starts in any 60 s',
      figure: String(most),
      baseline: `Zoho allows ${PER_MINUTE}`,
      target: `<= ${PER_MINUTE}`,
      pass: verdict(most <= PER_MINUTE),
    });
    const batchStarts = Array.from({ length: fullWindows + 1 }, (_, b) => starts[b * PER_MINUTE]).map((t) =>
      t === undefined ? '-' : f1((t - first) / 1000),
    );
    notes.push(
      `pacing: batches started at ${batchStarts.join(', ')} s after the first download; last batch ${f1(lastBatch / 1000)} s ` +
        `(its first start -> last EXPORTED); POST /jobs of all ${JOBS} took ${f1((tRegistered - tRegister) / 1000)} s; ` +
        `registration -> first download ${f1((first - tRegister) / 1000)} s; token mints ${stats1.mints - stats0.mints}`,
    );
    const gaps: string[] = [];
    for (let b = 1; b <= fullWindows; b++) {
      const prevFirst = starts[(b - 1) * PER_MINUTE];
      const thisFirst = starts[b * PER_MINUTE];
      if (prevFirst !== undefined && thisFirst !== undefined) gaps.push(f1((thisFirst - prevFirst) / 1000));
    }
    notes.push(
      `pacing: gap between the first starts of consecutive batches ${gaps.join(', ')} s (a window is 60 s)`,
    );
  } finally {
    log('pacing: stopping npm start');
    await stack.stop();
  }
}
