/**
 * Section `snapshot` (issue 22; not in BENCH_QUICK's default set): `POST /snapshots` of 30 modules,
 * 3,000,000 records in all (BENCH_SNAPSHOT_RECORDS, e.g. 30000 for a smoke run), end to end through
 * `npm start` as a black box (the product's real wiring: DynamoDB Local, s3rver, the fake Zoho as its
 * child process, OUTPUT_FORMATS the default csv,parquet): POST -> every module's export COMPLETED
 * (its Parquet landed) -> the snapshot COMPLETED.
 *
 * The 30 modules: the exportable modules of the fake's org as the product's `GET /modules` lists them
 * (but Locking_Information__s, which Zoho refuses when tried), then bench-only custom modules
 * `Bench_01__c` … added through the fake's run-time option `extraModules` (the default org has none),
 * each store reset to records/30 records. The product is given ZOHO_MAX_CONCURRENT_JOBS = the cap
 * (BENCH_SNAPSHOT_MAX_JOBS, default 10, also the fake's `maxConcurrentJobs`: a create beyond it answers
 * 429 TOO_MANY_REQUESTS); a product without that setting ignores it, and the fake's limit holds.
 *
 * First, in the same stack, one module alone (`POST /snapshots` of Leads, the widest module, with the
 * same records per module): its after-Zoho time (its job's COMPLETED at the fake -> its export
 * COMPLETED: download, CSV to S3, Parquet) over its CSV bytes gives the stack's single-module
 * throughput B (bytes/s). Then the 30-module snapshot; afterwards each module's job times come from the
 * fake's admin API and its CSV bytes from `GET /exports/{id}`.
 *
 * The ideal (a lower bound on POST -> COMPLETED) is the largest of three bounds:
 *   jobs       ceil(P / C) * J + min_i T_i
 *              P pages (one per module at 200,000 records a page), C = min(fake limit, product cap)
 *              jobs at once, J = the fake's job duration (its timeline + processingMsPerRecord, the
 *              longest job of the run): the last wave of jobs cannot end before ceil(P / C) * J, and its
 *              page must still land;
 *   downloads  J + sum_i T_i / D
 *              T_i = bytes_i / B (page i's after-Zoho time at the measured single-module throughput),
 *              D = LOCAL_DOWNLOAD_CONCURRENCY (2, the stack's default): no download starts before a
 *              job has run, and D at a time;
 *   budget     J + floor((P - 1) / R) * 60 s + (sum of the L smallest T_i) / D
 *              R = downloads per minute (Zoho's 10, the product's DOWNLOADS_PER_MINUTE and the fake's
 *              downloadsPerMinute): the downloads of the last minute's L = P - floor((P - 1) / R) * R
 *              pages cannot start before floor((P - 1) / R) minutes after the first, and they take at
 *              least the L shortest T_i, D at a time. (The single-module run's download counts in the
 *              same budget: the section waits for its minute to pass before the snapshot.)
 * Target: POST -> COMPLETED <= 1.2x the ideal. Also reported: the peak number of jobs the fake saw at
 * once (its peak counter, reset just before the POST) against C (target <= C), the creates it refused
 * with 429 TOO_MANY_REQUESTS, download 429s, records landed (target = all).
 */
import { BULK_REFUSED_WHEN_TRIED } from '../../local/fake-zoho/modules.js';
import { MB, QUICK } from '../core/config.js';
import { type ApiExport, getExport, sleep } from '../core/exports.js';
import { LocalStackProcess } from '../core/local-stack.js';
import { f1, f2, load, log, notes, row, section, verdict } from '../core/report.js';

const MODULES = 30;
const RECORDS = Math.max(
  MODULES,
  Number(process.env.BENCH_SNAPSHOT_RECORDS ?? (QUICK ? 30_000 : 3_000_000)) || 3_000_000,
);
const CAP = Math.max(1, Number(process.env.BENCH_SNAPSHOT_MAX_JOBS ?? 10) || 10);
/** The stack's LOCAL_DOWNLOAD_CONCURRENCY (local/local-stack.ts default). */
const DOWNLOAD_CONCURRENCY = 2;
const SINGLE = 'Leads';
const TIMEOUT_MS = 60 * 60_000;

interface SnapshotModule {
  module: string;
  export_id: string;
  status: string;
  records: number;
  bytes: number;
  error: { code: string; message: string } | null;
}
interface Snapshot {
  snapshot_id: string;
  status: string;
  modules: SnapshotModule[];
  totals: { records: number; bytes: number; completed: number };
  completed_at: string | null;
}

interface ModuleRun {
  module: string;
  records: number;
  bytes: number;
  pages: number;
  /** The fake's job: created -> COMPLETED (ms), per page. */
  jobMs: number[];
  /** Last page's COMPLETED at the fake -> the export's completed_at (ms). */
  afterZohoMs: number;
  completedAt: number;
}

interface Run {
  posted: number;
  completedAt: number;
  modules: ModuleRun[];
  requestMs: number;
}

async function modulesOf(stack: LocalStackProcess): Promise<string[]> {
  const r = await stack.api<{ modules: Array<{ api_name: string; exportable: boolean }> }>(
    'GET',
    '/modules?refresh=true',
  );
  if (r.status !== 200) throw new Error(`GET /modules answered ${r.status}`);
  return r.body.modules.filter((m) => m.exportable).map((m) => m.api_name);
}

/**
 * POST /snapshots of `modules`, then GET /snapshots/{id} every 250 ms until it has ended: no module
 * RUNNING and its end recorded (completed_at: the sweep wrote its manifest).
 */
async function runSnapshot(stack: LocalStackProcess, modules: string[], label: string): Promise<Run> {
  const posted = Date.now();
  const r = await stack.api<Snapshot>('POST', '/snapshots', { modules });
  const requestMs = Date.now() - posted;
  if (r.status !== 201) throw new Error(`POST /snapshots answered ${r.status}: ${JSON.stringify(r.body)}`);
  const id = r.body.snapshot_id;
  const deadline = posted + TIMEOUT_MS;
  let s: Snapshot = r.body;
  let lastLog = Date.now();
  for (;;) {
    const g = await stack.api<Snapshot>('GET', `/snapshots/${id}`);
    if (g.status !== 200) throw new Error(`GET /snapshots/${id} answered ${g.status}`);
    s = g.body;
    if (s.status !== 'RUNNING' && s.completed_at !== null) break;
    if (Date.now() > deadline)
      throw new Error(`snapshot ${id} still RUNNING after ${TIMEOUT_MS / 60_000} min`);
    if (!stack.alive()) throw new Error(`npm start exited:\n${stack.tail(30)}`);
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      log(
        `${label}: ${s.totals.completed}/${modules.length} modules COMPLETED, ${s.totals.records} records after ${f1((Date.now() - posted) / 1000)} s, load ${load()}`,
      );
    }
    await sleep(250);
  }
  if (s.status !== 'COMPLETED')
    throw new Error(
      `snapshot ${id} ${s.status}: ${JSON.stringify(s.modules.filter((m) => m.status !== 'COMPLETED'))}`,
    );
  const out: ModuleRun[] = [];
  for (const m of s.modules) {
    const e: ApiExport = await getExport(stack, m.export_id);
    if (!e.completed_at) throw new Error(`export ${m.export_id} COMPLETED without completed_at`);
    const jobs = await Promise.all(e.pages.map((p) => stack.admin.jobInfo(p.job_id)));
    const completedAt = Date.parse(e.completed_at);
    out.push({
      module: m.module,
      records: e.records,
      bytes: e.bytes,
      pages: e.pages.length,
      jobMs: jobs.map((j) => j.completedAt - j.createdAt),
      afterZohoMs: completedAt - Math.max(...jobs.map((j) => j.completedAt)),
      completedAt,
    });
  }
  if (!s.completed_at) throw new Error(`snapshot ${id} COMPLETED without completed_at`);
  return { posted, completedAt: Date.parse(s.completed_at), modules: out, requestMs };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const sec = (ms: number): string => `${f1(ms / 1000)} s`;

export async function snapshotSection(): Promise<void> {
  const perModule = Math.floor(RECORDS / MODULES);
  const total = perModule * MODULES;
  log(`snapshot: starting npm start (ZOHO_MAX_CONCURRENT_JOBS=${CAP}, csv,parquet, POLL 1 s)`);
  const stack = await LocalStackProcess.start({
    label: 'snapshot',
    env: { ZOHO_MAX_CONCURRENT_JOBS: String(CAP) },
  });
  try {
    await stack.admin.setOptions({ maxConcurrentJobs: CAP });
    const org = (await modulesOf(stack)).filter((m) => !BULK_REFUSED_WHEN_TRIED.includes(m));
    const own = org.slice(0, MODULES);
    const bench = Array.from(
      { length: MODULES - own.length },
      (_, i) => `Bench_${String(i + 1).padStart(2, '0')}__c`,
    );
    await stack.admin.setOptions({ extraModules: bench });
    const listed = await modulesOf(stack);
    const missing = bench.filter((m) => !listed.includes(m));
    if (missing.length) throw new Error(`GET /modules does not list ${missing.join(', ')} as exportable`);
    const modules = [...own, ...bench];
    for (const m of modules) await stack.admin.setModuleRecords(m, perModule);
    const opts = await stack.admin.options();

    log(`snapshot: ${SINGLE} alone (${perModule} records), load ${load()}`);
    const single = await runSnapshot(stack, [SINGLE], 'snapshot single');
    const one = single.modules[0]!;
    const throughput = one.bytes / (one.afterZohoMs / 1000);
    // Its download spent one of the minute's budget: the snapshot starts with the whole budget, as the
    // ideal assumes, once that download's minute is over (it began before the run completed).
    const clear = single.completedAt + 61_000 - Date.now();
    if (clear > 0) {
      log(`snapshot: waiting ${f1(clear / 1000)} s for the download budget's minute to pass`);
      await sleep(clear);
    }

    await stack.admin.resetPeakConcurrentJobs();
    const before = await stack.admin.stats();
    log(
      `snapshot: ${MODULES} modules, ${total} records (${own.length} of the org + ${bench.length} Bench_NN__c), load ${load()}`,
    );
    const run = await runSnapshot(stack, modules, 'snapshot');
    const after = await stack.admin.stats();
    report({
      run,
      single: one,
      throughput,
      total,
      perModule,
      own: own.length,
      bench: bench.length,
      fakeLimit: opts.maxConcurrentJobs,
      perMinute: Math.min(opts.downloadsPerMinute, 10),
      peak: after.peakConcurrentJobs,
      refusals: after.concurrencyRefusals - before.concurrencyRefusals,
      download429s: after.download429s - before.download429s,
    });
  } finally {
    await stack.stop();
  }
}

function report(x: {
  run: Run;
  single: ModuleRun;
  throughput: number;
  total: number;
  perModule: number;
  own: number;
  bench: number;
  fakeLimit: number;
  perMinute: number;
  peak: number;
  refusals: number;
  download429s: number;
}): void {
  const { run } = x;
  const c = Math.min(x.fakeLimit, CAP);
  const pages = sum(run.modules.map((m) => m.pages));
  const j = Math.max(...run.modules.flatMap((m) => m.jobMs));
  const t = run.modules.map((m) => (m.bytes / x.throughput) * 1000);
  const tMin = Math.min(...t);
  // The pages of the budget's last minute (at least one): the smallest of them, D at a time.
  const lastCount = pages - Math.floor((pages - 1) / x.perMinute) * x.perMinute;
  const lastWindow = [...t].sort((a, b) => a - b).slice(0, lastCount);
  const bounds = {
    jobs: Math.ceil(pages / c) * j + tMin,
    downloads: j + sum(t) / DOWNLOAD_CONCURRENCY,
    budget: j + Math.floor((pages - 1) / x.perMinute) * 60_000 + sum(lastWindow) / DOWNLOAD_CONCURRENCY,
  };
  const ideal = Math.max(bounds.jobs, bounds.downloads, bounds.budget);
  const e2e = run.completedAt - run.posted;
  const records = sum(run.modules.map((m) => m.records));
  const bytes = sum(run.modules.map((m) => m.bytes));
  const label = 'snapshot';
  section(
    `${label}: POST /snapshots of ${MODULES} modules (${x.own} of the org + ${x.bench} Bench_NN__c), ` +
      `${x.total.toLocaleString('en-US')} records (${x.perModule.toLocaleString('en-US')} each), csv,parquet, npm start, ` +
      `jobs at once C = ${c}, fake job ${sec(j)}, ${x.perMinute} downloads/min, ${DOWNLOAD_CONCURRENCY} at once`,
  );
  row({
    measurement: `${label}: POST -> COMPLETED`,
    figure: sec(e2e),
    baseline: `ideal ${sec(ideal)}`,
    ratio: `${f2(e2e / ideal)}x`,
    target: '<= 1.2x',
    pass: verdict(e2e <= 1.2 * ideal),
  });
  row({
    measurement: `${label}: peak Zoho jobs at once`,
    figure: String(x.peak),
    baseline: `cap ${c}`,
    target: `<= ${c}`,
    pass: verdict(x.peak <= c),
  });
  row({
    measurement: `${label}: creates refused 429 (concurrency)`,
    figure: String(x.refusals),
    target: 'info',
  });
  row({
    measurement: `${label}: records landed`,
    figure: records.toLocaleString('en-US'),
    baseline: `${f1(bytes / MB)} MB CSV, ${pages} pages`,
    target: `= ${x.total.toLocaleString('en-US')}`,
    pass: verdict(records === x.total && run.modules.length === MODULES),
  });
  row({
    measurement: `${label}: ${SINGLE} alone, after Zoho (download, S3, Parquet)`,
    figure: `${f1(x.throughput / MB)} MB/s`,
    baseline: `${sec(x.single.afterZohoMs)} for ${f1(x.single.bytes / MB)} MB`,
    target: 'info',
  });
  const order = [...run.modules].sort((a, b) => a.completedAt - b.completedAt);
  notes.push(
    `${label}: ideal = max(jobs ceil(${pages}/${c}) x ${sec(j)} + ${sec(tMin)} = ${sec(bounds.jobs)}; ` +
      `downloads ${sec(j)} + ${sec(sum(t))}/${DOWNLOAD_CONCURRENCY} = ${sec(bounds.downloads)}; ` +
      `budget ${sec(j)} + floor(${pages - 1}/${x.perMinute}) min + ${sec(sum(lastWindow))}/${DOWNLOAD_CONCURRENCY} = ${sec(bounds.budget)}), ` +
      `T_i = CSV bytes / ${f1(x.throughput / MB)} MB/s (${SINGLE} alone in the same stack); ` +
      `POST /snapshots answered after ${sec(run.requestMs)}; download 429s ${x.download429s}; ` +
      `modules COMPLETED after ${order.map((m) => f1((m.completedAt - run.posted) / 1000)).join(', ')} s`,
  );
}
