/**
 * Section `local`: `npm start` as a black box (bench/core/local-stack.ts), driven only through its HTTP
 * API and the fake Zoho's HTTP endpoints, memory and CPU read from /proc.
 *
 *  1. Idle: VmRSS of the main process (API + poller + downloader) right after its API first answers, on
 *     several starts (the strictest reading: V8 has not yet given back the heap start-up used), and
 *     some seconds after "Ready.", beside an idle plain `node` (the floor of any node process), and of
 *     each child.
 *  2. Exports: jobs of 200,000 records with `padding` for a ~200 MB and a ~600 MB CSV (BENCH_QUICK: ~50
 *     and ~150 MB) are added to the fake (already COMPLETED), their ZIP downloaded once with curl so
 *     that it is in the fake's result cache, then, alternating which goes first, BENCH_REPEAT times:
 *       - baseline: `curl -s <result URL> | funzip > file` on the same ZIP from the same fake;
 *       - the product: `POST /jobs`, then `GET /jobs/{id}` until EXPORTED. Throughput = CSV MiB / (the
 *         job's updated_at at EXPORTED - the time of its download request in the fake's request log).
 *     Peak RSS of the main process per export: VmHWM after resetting it (/proc/<pid>/clear_refs) just
 *     before `POST /jobs`, with VmRSS sampled every 100 ms as a cross-check. CPU of each process of the
 *     stack (from /proc/<pid>/stat) from DOWNLOADING to EXPORTED shows which one is the bound.
 *
 * The fake's download limit is raised to 1,000 a minute for this section (admin API), so that the
 * curl baselines cannot make the product's downloads meet a 429; the product's own budget (10 a
 * minute) is unchanged. BENCH_PROFILE=dir makes every node process of the stack write a CPU profile.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { MB, MiB, QUICK, REPEAT, ROOT, tmp } from '../core/config.js';
import { type ApiJob as PublicJob, sleep } from '../core/exports.js';
import { LocalStackProcess } from '../core/local-stack.js';
import { CpuWindow, memStatus, RssSampler, resetPeak } from '../core/proc.js';
import { commandExists, timeShell, track } from '../core/procs.js';
import { f0, f1, f2, log, notes, row, section, verdict } from '../core/report.js';
import { max, median, spread } from '../core/stats.js';

const RECORDS = 200_000;

interface ExportRun {
  seconds: number;
  csvBytes: number;
  /** VmHWM of the main process over the export (after a reset), or undefined if it could not be reset. */
  hwm: number | undefined;
  sampledPeak: number;
  cores: Record<string, number>;
  /** CPU seconds per process from DOWNLOADING to EXPORTED. */
  cpu: Record<string, number>;
  /** From POST /jobs to seeing EXPORTED, for the notes. */
  wallSeconds: number;
  /** From s3rver's final object file appearing on disk (CompleteMultipartUpload copying the parts) to EXPORTED. */
  completeSeconds: number | undefined;
}

/**
 * Watches s3rver's folder (LOCAL_DATA_DIR/s3) for the object file of a key holding `id`: s3rver writes
 * it only in CompleteMultipartUpload, when it re-reads every part and writes them out again as one file.
 */
function watchObjectFile(dataDir: string, id: string): { stop(): number | undefined } {
  const root = path.join(dataDir, 's3');
  let seen: number | undefined;
  const look = (): void => {
    if (seen !== undefined) return;
    try {
      const hit = (readdirSync(root, { recursive: true }) as string[]).some(
        (f) => f.endsWith('._S3rver_object') && f.includes(id),
      );
      if (hit) seen = Date.now();
    } catch {
      // not there yet
    }
  };
  const timer = setInterval(look, 50);
  return {
    stop() {
      clearInterval(timer);
      return seen;
    },
  };
}

async function waitJob(
  stack: LocalStackProcess,
  id: string,
  done: (j: PublicJob) => boolean,
  everyMs: number,
  timeoutMs: number,
): Promise<PublicJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await stack.api<PublicJob>('GET', `/jobs/${id}`);
    if (status !== 200) throw new Error(`GET /jobs/${id} answered ${status}: ${JSON.stringify(body)}`);
    if (body.status === 'FAILED') throw new Error(`job ${id} FAILED: ${JSON.stringify(body.error)}`);
    if (done(body)) return body;
    if (Date.now() > deadline) {
      throw new Error(
        `job ${id} still ${body.status} after ${timeoutMs / 1000} s (${JSON.stringify(body.last_error)})`,
      );
    }
    if (!stack.alive()) throw new Error(`npm start exited:\n${stack.tail(30)}`);
    await sleep(everyMs);
  }
}

/** Registers `id` with the product and waits until it is EXPORTED; see the file comment. */
async function exportOnce(stack: LocalStackProcess, id: string): Promise<ExportRun> {
  const { main, s3rver, fake, java } = stack.pids;
  const named: Array<[string, number | undefined]> = [
    ['main', main],
    ['s3rver', s3rver],
    ['fake', fake],
    ['java', java],
  ];
  await stack.admin.clearRequests();
  const canReset = resetPeak(main);
  const sampler = new RssSampler([main], 100);
  const t0 = performance.now();
  const reg = await stack.api<PublicJob>('POST', '/jobs', { job_id: id });
  if (reg.status !== 201)
    throw new Error(`POST /jobs ${id} answered ${reg.status}: ${JSON.stringify(reg.body)}`);
  await waitJob(stack, id, (j) => j.status !== 'PENDING', 50, 120_000);
  const cpu = new CpuWindow(named.flatMap(([, p]) => (p ? [p] : [])));
  const objectFile = watchObjectFile(stack.dataDir, id);
  const job = await waitJob(stack, id, (j) => j.status === 'EXPORTED', 200, 15 * 60_000);
  const wallSeconds = (performance.now() - t0) / 1000;
  const { byPid } = cpu.stop();
  const objectSeen = objectFile.stop();
  const sampledPeak = sampler.stop().get(main) ?? 0;
  const hwm = canReset ? memStatus(main)?.hwm : undefined;
  const downloads = (await stack.admin.requests()).filter((r) => r.kind === 'download' && r.jobId === id);
  const started = downloads.find((r) => r.status === 200);
  if (!started) throw new Error(`the fake logged no successful download of ${id}`);
  if (downloads.length > 1)
    notes.push(
      `local ${id}: ${downloads.length} download requests (${downloads.map((d) => d.status).join(', ')})`,
    );
  const seconds = (Date.parse(job.updated_at) - started.at) / 1000;
  const cores: Record<string, number> = {};
  const cpuSeconds: Record<string, number> = {};
  for (const [name, pid] of named) {
    if (!pid) continue;
    cores[name] = byPid.get(pid)?.cores ?? 0;
    cpuSeconds[name] = byPid.get(pid)?.cpu ?? 0;
  }
  const completeSeconds =
    objectSeen === undefined ? undefined : (Date.parse(job.updated_at) - objectSeen) / 1000;
  return {
    seconds,
    csvBytes: job.s3?.bytes ?? 0,
    hwm,
    sampledPeak,
    cores,
    cpu: cpuSeconds,
    wallSeconds,
    completeSeconds,
  };
}

/** VmRSS of an idle `node [--import tsx]` (the floor of a node process, with tsx's loader), after 3 s. */
async function idleNodeRss(tsx: boolean): Promise<number> {
  const child = track(
    spawn(process.execPath, [...(tsx ? ['--import', 'tsx'] : []), '-e', 'setInterval(() => {}, 1000)'], {
      cwd: ROOT,
      stdio: 'ignore',
    }),
  );
  await sleep(3000);
  const rss = memStatus(child.pid!)?.rss ?? 0;
  child.kill('SIGTERM');
  return rss;
}

export async function localSection(): Promise<void> {
  if (!commandExists('curl') || !commandExists('funzip')) {
    throw new Error('the local section needs curl and funzip (apt-get install -y curl unzip)');
  }
  const sizes = QUICK
    ? [
        { label: '~50 MB', padding: 0 },
        { label: '~150 MB', padding: 500 },
      ]
    : [
        { label: '~200 MB', padding: 750 },
        { label: '~600 MB', padding: 2750 },
      ];
  const profileDir = process.env.BENCH_PROFILE ? path.resolve(process.env.BENCH_PROFILE) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const [tsxRss, plainRss] = [await idleNodeRss(true), await idleNodeRss(false)];
  // ---------------------------------------------------------------- first answer
  const starts = QUICK ? 2 : 5;
  log(
    `local: ${starts} starts of \`npm start\`, VmRSS of the main process right after GET /jobs first answers`,
  );
  const firstAnswer: number[] = [];
  for (let i = 0; i < starts; i++) {
    const s = await LocalStackProcess.start({ label: `first-answer-${i}` });
    try {
      const answer = await s.api('GET', '/jobs');
      if (answer.status !== 200) throw new Error(`GET /jobs answered ${answer.status}`);
      firstAnswer.push(memStatus(s.pids.main)?.rss ?? 0);
    } finally {
      await s.stop();
    }
  }
  log('local: starting `npm start` (fresh LOCAL_DATA_DIR, free ports, POLL_INTERVAL_SECONDS=1)');
  const stack = await LocalStackProcess.start({
    label: 'local',
    ...(profileDir
      ? {
          env: {
            NODE_OPTIONS: `--require ${path.join(ROOT, 'bench', 'core', 'profile-preload.cjs')}`,
            BENCH_PROFILE_DIR: profileDir,
          },
        }
      : {}),
  });
  const { main, java, s3rver, fake, converter } = stack.pids;
  const children: Array<[string, number | undefined]> = [
    ['java (DynamoDB Local)', java],
    ['s3rver', s3rver],
    ['fake Zoho', fake],
    ['Parquet converter', converter],
  ];
  try {
    // ---------------------------------------------------------------- idle
    const settle = QUICK ? 5 : 10;
    log(`local: idle for ${settle} s, then VmRSS sampled for 5 s`);
    await sleep(settle * 1000);
    const idleSamples: number[] = [];
    for (let i = 0; i < 20; i++) {
      idleSamples.push(memStatus(main)?.rss ?? 0);
      await sleep(250);
    }
    const idle = median(idleSamples);
    const startupPeak = memStatus(main)?.hwm ?? 0;
    const split = memStatus(main);
    if (split) {
      notes.push(
        `local: main process at idle: RssAnon ${f1(split.anon / MB)} MB, RssFile ${f1(split.file / MB)} MB, RssShmem ${f1(split.shmem / MB)} MB; ` +
          `an idle plain node is ${f1(plainRss / MB)} MB, with tsx's loader ${f1(tsxRss / MB)} MB`,
      );
    }
    section(
      `local: npm start, idle (${starts} starts read right after the API first answers; ${settle} s after "Ready.", median VmRSS of 20 samples over 5 s)`,
    );
    row({
      measurement: `local: main process RSS right after the API first answers (max of ${starts} starts)`,
      figure: `${f1(max(firstAnswer) / MB)} MB (${firstAnswer.map((r) => f1(r / MB)).join(', ')})`,
      baseline: `idle node ${f1(plainRss / MB)} MB`,
      ratio: `${f2(max(firstAnswer) / plainRss)}x`,
      target: '<= 150 MB',
      pass: verdict(max(firstAnswer) <= 150 * MB),
    });
    row({
      measurement: 'local: main process idle RSS',
      figure: `${f1(idle / MB)} MB`,
      baseline: `idle node ${f1(plainRss / MB)} MB`,
      ratio: `${f2(idle / plainRss)}x`,
      target: '<= 150 MB',
      pass: verdict(idle <= 150 * MB),
    });
    row({
      measurement: 'local: main process start-up peak (VmHWM)',
      figure: `${f1(startupPeak / MB)} MB`,
      baseline: `idle ${f1(idle / MB)} MB`,
      target: 'info',
    });
    for (const [name, pid] of children) {
      const m = pid ? memStatus(pid) : undefined;
      row({
        measurement: `local: ${name} idle RSS`,
        figure: m ? `${f1(m.rss / MB)} MB` : 'not found',
        target: 'info',
      });
    }
    row({
      measurement: 'local: npm start to "Ready."',
      figure: `${f1(stack.startSeconds)} s`,
      target: 'info',
    });
    const wrappers = stack.pids.wrappers
      .map((w) => `${w.cmd.split(' ').slice(0, 2).join(' ')} ${f1((memStatus(w.pid)?.rss ?? 0) / MB)} MB`)
      .join('; ');
    notes.push(`local: processes above the main one (not in its figures): ${wrappers}`);

    // ---------------------------------------------------------------- exports
    await stack.admin.setOptions({ downloadsPerMinute: 1000 });
    const stats0 = await stack.admin.stats();
    const token = await stack.token();
    const auth = `Authorization: Zoho-oauthtoken ${token}`;
    const peaks: number[] = [];
    let integrity = 0;
    for (const size of sizes) {
      const product: ExportRun[] = [];
      const funzip: number[] = [];
      /** CPU seconds of curl + funzip per GiB of CSV. */
      const funzipCost: number[] = [];
      const live: number[] = [];
      let csvBytes = 0;
      for (let k = 0; k < REPEAT; k++) {
        const job = await stack.admin.addJob({
          totalRecords: RECORDS,
          padding: size.padding,
          timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
        });
        const url = stack.resultUrl(job.id);
        log(`local ${size.label}: job ${job.id}: first download, into the fake's result cache`);
        const warm = await timeShell('curl -sf -H "$AUTH" "$URL" > /dev/null', { AUTH: auth, URL: url });
        const runBaseline = async (): Promise<void> => {
          log(`local ${size.label}: curl | funzip > file (run ${k + 1} of ${REPEAT})`);
          const out = path.join(tmp, `funzip-${job.id}.csv`);
          const r = await timeShell('curl -s -H "$AUTH" "$URL" | funzip > "$OUT"', {
            AUTH: auth,
            URL: url,
            OUT: out,
          });
          const bytes = statSync(out).size;
          rmSync(out, { force: true });
          csvBytes = bytes;
          funzip.push(bytes / MiB / r.seconds);
          if (r.cpuSeconds !== undefined) funzipCost.push((r.cpuSeconds * 1024) / (bytes / MiB));
          live.push(bytes / MiB / warm.seconds);
        };
        const runProduct = async (): Promise<void> => {
          log(`local ${size.label}: POST /jobs ${job.id} -> EXPORTED (run ${k + 1} of ${REPEAT})`);
          product.push(await exportOnce(stack, job.id));
        };
        if (k % 2 === 0) {
          await runBaseline();
          await runProduct();
        } else {
          await runProduct();
          await runBaseline();
        }
        const last = product[product.length - 1]!;
        if (last.csvBytes !== csvBytes) {
          integrity++;
          notes.push(
            `local ${size.label}: S3 holds ${last.csvBytes} bytes for ${job.id}, funzip wrote ${csvBytes}`,
          );
        }
      }
      const csvMiB = median(product.map((r) => r.csvBytes)) / MiB;
      const rates = product.map((r) => r.csvBytes / MiB / r.seconds);
      const rate = median(rates);
      const base = median(funzip);
      const hwms = product.map((r) => r.hwm ?? r.sampledPeak);
      const peak = max(hwms);
      peaks.push(peak);
      section(
        `local: npm start exporting a ${size.label} CSV (${f1(csvMiB)} MiB, ${RECORDS.toLocaleString('en')} records, padding ${size.padding}) into s3rver, median of ${REPEAT}`,
      );
      row({
        measurement: `local ${size.label}: download start -> EXPORTED`,
        figure: `${f1(rate)} MiB/s`,
        baseline: `curl|funzip>file ${f1(base)}`,
        ratio: `${f2(rate / base)}x`,
        target: '>= 0.6x',
        pass: verdict(rate / base >= 0.6),
      });
      row({
        measurement: `local ${size.label}: main process peak RSS`,
        figure: `${f1(peak / MB)} MB`,
        baseline: `idle ${f1(idle / MB)} MB`,
        ratio: `${f2(peak / idle)}x`,
        target: '<= 250 MB',
        pass: verdict(peak <= 250 * MB),
      });
      const completes = product.flatMap((r) => (r.completeSeconds === undefined ? [] : [r.completeSeconds]));
      if (completes.length) {
        const whole = median(product.map((r) => r.seconds));
        row({
          measurement: `local ${size.label}: s3rver Complete (object file seen -> EXPORTED)`,
          figure: `${f1(median(completes))} s`,
          baseline: `download start -> EXPORTED ${f1(whole)} s`,
          ratio: `${f2(median(completes) / whole)}x`,
          target: 'info',
        });
      }
      const cores = (name: string) => median(product.map((r) => r.cores[name] ?? 0));
      row({
        measurement: `local ${size.label}: CPU, DOWNLOADING -> EXPORTED`,
        figure: `s3rver ${f2(cores('s3rver'))}, main ${f2(cores('main'))}`,
        baseline: `fake ${f2(cores('fake'))}, java ${f2(cores('java'))}`,
        target: 'info (cores)',
      });
      // CPU cost per GiB of CSV, less sensitive to a shared machine than throughput: the process with
      // the largest cost bounds the export at (1 core / its cost) even on an idle machine
      const perGiB = (name: string) =>
        median(product.map((r) => ((r.cpu[name] ?? 0) * 1024) / (r.csvBytes / MiB)));
      const costs = ['s3rver', 'main', 'fake']
        .map((n) => [n, perGiB(n)] as const)
        .sort((a, b) => b[1] - a[1]);
      row({
        measurement: `local ${size.label}: CPU s per GiB of CSV`,
        figure: `s3rver ${f1(perGiB('s3rver'))}, main ${f1(perGiB('main'))}`,
        baseline: `fake ${f1(perGiB('fake'))}, java ${f1(perGiB('java'))}; curl+funzip ${f1(median(funzipCost))}`,
        ratio: `${costs[0]![0]} bound ${f0(1024 / costs[0]![1])} MiB/s`,
        target: 'info',
      });
      notes.push(
        `local ${size.label}: product ${spread(rates, f1)} MiB/s, funzip ${spread(funzip, f1)} MiB/s, fake's first (live) ZIP ${spread(live, f1)} MiB/s; ` +
          `main VmHWM ${product.map((r) => (r.hwm === undefined ? 'n/a' : f1(r.hwm / MB))).join(', ')} MB, sampled VmRSS peak ${product.map((r) => f1(r.sampledPeak / MB)).join(', ')} MB; ` +
          `POST /jobs -> EXPORTED seen ${product.map((r) => f1(r.wallSeconds)).join(', ')} s`,
      );
    }
    const stats1 = await stack.admin.stats();
    section('local: memory growth, integrity, children');
    const small = peaks[0]!;
    const big = peaks[peaks.length - 1]!;
    row({
      measurement: `local: main peak RSS ${sizes[sizes.length - 1]!.label} vs ${sizes[0]!.label}`,
      figure: `${f1(big / MB)} MB`,
      baseline: `${f1(small / MB)} MB`,
      ratio: `${f2(big / small)}x`,
      target: '<= 1.10x (flat)',
      pass: verdict(big / small <= 1.1),
    });
    row({
      measurement: 'local: S3 object bytes = funzip bytes, every run',
      figure: integrity ? `${integrity} run(s) differ` : 'all exact',
      target: 'exact',
      pass: verdict(integrity === 0),
    });
    notes.push(
      `local: the fake served ${stats1.cacheHits - stats0.cacheHits} of ${stats1.downloads - stats0.downloads} downloads from its result cache (each job's first download fills it)`,
    );
    row({
      measurement: 'local: Zoho download 429s in the section',
      figure: String(stats1.download429s - stats0.download429s),
      baseline: `${stats1.downloads - stats0.downloads} downloads`,
      target: '= 0',
      pass: verdict(stats1.download429s === stats0.download429s),
    });
    for (const [name, pid] of children) {
      const m = pid ? memStatus(pid) : undefined;
      row({
        measurement: `local: ${name} peak RSS (VmHWM, whole section)`,
        figure: m ? `${f1(m.hwm / MB)} MB` : 'not found',
        baseline: m ? `now ${f1(m.rss / MB)} MB` : '-',
        target: 'info',
      });
    }
  } finally {
    log('local: stopping npm start');
    await stack.stop();
    rmSync(stack.dataDir, { recursive: true, force: true });
  }
  if (profileDir) notes.push(`local: CPU profiles of the stack's node processes in ${profileDir}`);
}
