/**
 * Process management: every child the runner starts is tracked and stopped at the end (also on
 * Ctrl-C, SIGTERM or a crash), and the run's temp dir is removed. Workers print one JSON line.
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { ESM_REQUIRE_SHIM } from '../../infra/esm-shim.mjs';
import { type RunningService, stopChild } from '../../local/stand-ins.js';
import { ROOT, tmp } from './config.js';
import { log } from './report.js';

const children = new Set<ChildProcess>();
/** Services (DynamoDB Local, s3rver) and other stoppables, stopped in reverse order by `cleanup`. */
export const services: RunningService[] = [];
const stoppers: Array<() => Promise<void>> = [];

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Registers something to stop at the end of the run (e.g. a whole `npm start`). Returns an unregister. */
export function onCleanup(stop: () => Promise<void>): () => void {
  stoppers.push(stop);
  return () => {
    const i = stoppers.indexOf(stop);
    if (i >= 0) stoppers.splice(i, 1);
  };
}

export async function cleanup(): Promise<void> {
  for (const s of stoppers.splice(0).reverse()) await s().catch(() => undefined);
  for (const s of services.splice(0)) await s.stop().catch(() => undefined);
  await Promise.all([...children].map((c) => stopChild(c)));
  rmSync(tmp, { recursive: true, force: true });
}

let installed = false;
/** Ctrl-C / SIGTERM clean up and exit 130; on any exit, children still alive are killed. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  process.once('exit', () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      // a detached child leads its own process group: kill the group (the ones this run made)
      if (c.pid && (c as ChildProcess & { benchGroup?: boolean }).benchGroup) {
        try {
          process.kill(-c.pid, 'SIGKILL');
          continue;
        } catch {
          // fall through
        }
      }
      c.kill('SIGKILL');
    }
    rmSync(tmp, { recursive: true, force: true });
  });
}

/** Marks a child started with `detached: true` as the leader of a process group of this run's own. */
export function markGroup(child: ChildProcess): ChildProcess {
  (child as ChildProcess & { benchGroup?: boolean }).benchGroup = true;
  return child;
}

/**
 * Workers in this list run as an esbuild bundle, built like the Lambda functions (ESM, everything
 * bundled), so their peak RSS is that of the code Lambda runs, without tsx's compiler in memory.
 */
const BUNDLED = new Set(['download-worker.ts']);
const bundledWorkers = new Map<string, string>();

export async function bundle(entry: string, outName: string, external: string[] = []): Promise<string> {
  const done = bundledWorkers.get(entry);
  if (done) return done;
  const outfile = path.join(tmp, 'workers', outName);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    external,
    banner: { js: ESM_REQUIRE_SHIM },
  });
  bundledWorkers.set(entry, outfile);
  return outfile;
}

export const workerPath = (file: string): string => path.join(ROOT, 'bench', 'workers', file);

/** Runs a bench worker (bundled, or `node --import tsx <file>`) and parses the last JSON line it prints. */
export async function runWorker<T>(file: string, args: unknown): Promise<T> {
  const argv = BUNDLED.has(file)
    ? [await bundle(workerPath(file), file.replace(/\.ts$/, '.mjs')), JSON.stringify(args)]
    : ['--import', 'tsx', workerPath(file), JSON.stringify(args)];
  return runNodeJson<T>(argv, file);
}

/** `node <argv>` as a tracked child; resolves with the last line of its stdout parsed as JSON. */
export function runNodeJson<T>(argv: string[], what: string, env: NodeJS.ProcessEnv = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, argv, {
        cwd: ROOT,
        env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', ...env },
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
        reject(new Error(`${what} exited with ${code ?? sig}\n${err}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${what} printed no JSON result: ${last}\n${err}`));
      }
    });
  });
}

export interface FakeChild {
  url: string;
  fakeUrl: string;
  call<T>(cmd: string, extra?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/** The bench's own fake Zoho child (bench/workers/fake-zoho-server.ts), driven over IPC. */
export async function startFakeChild(): Promise<FakeChild> {
  const child = track(
    fork(workerPath('fake-zoho-server.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const ready = new Promise<{ url: string; fakeUrl: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fake Zoho child exited with ${code}`)));
    child.on('message', (m: { ready?: boolean; url: string; fakeUrl: string }) => {
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

/** The discarding S3 endpoint (bench/workers/discard-s3.ts). */
export async function startDiscardS3(): Promise<{ url: string; child: ChildProcess }> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', workerPath('discard-s3.ts')], {
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

export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs a shell pipeline; wall time, and via /usr/bin/time if present the peak RSS of its largest
 * process and the user + system CPU seconds of the whole pipeline (every process in it).
 */
export function timeShell(
  script: string,
  env: Record<string, string>,
): Promise<{ seconds: number; maxRssBytes: number | undefined; cpuSeconds: number | undefined }> {
  const haveTime = commandExists('/usr/bin/time');
  const rssFile = path.join(tmp, `time-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  const [cmd, args] = haveTime
    ? ['/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, 'sh', '-c', script]]
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
      let cpuSeconds: number | undefined;
      if (haveTime) {
        const [kb, user, sys] = (readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ');
        maxRssBytes = Number(kb) * 1024;
        cpuSeconds = Number(user) + Number(sys);
        rmSync(rssFile, { force: true });
      }
      resolve({ seconds, maxRssBytes, cpuSeconds });
    });
  });
}
