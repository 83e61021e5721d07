/** Helpers of the suites that drive the bundled `npm start` from outside (start, black-box, no-secrets). */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import type { PublicExport } from '../../lib/exports/model.js';
import { assertPortFree } from '../../local/stand-ins.js';

/** `n` free ports below Linux's ephemeral range (the stack's children bind them after the check). */
export async function freePorts(n: number): Promise<number[]> {
  const picked = new Set<number>();
  while (picked.size < n) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if (picked.has(p)) continue;
    if (
      await assertPortFree(p, 'test', 'test').then(
        () => true,
        () => false,
      )
    )
      picked.add(p);
  }
  return [...picked];
}

async function freePortSet(): Promise<NpmStart['ports']> {
  const [api, s3, dynamodb, zoho] = (await freePorts(4)) as [number, number, number, number];
  return { api, s3, dynamodb, zoho };
}

/** Polls `fn` every `stepMs` until it answers a value, or fails naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms: number,
  stepMs = 250,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A running `npm start` bundle: its process, everything it printed so far, its ports. */
export interface NpmStart {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  ports: { api: number; s3: number; dynamodb: number; zoho: number };
  /** SIGTERM, then its exit code (null if it was already gone). */
  stop: () => Promise<number | null>;
}

export interface NpmStartOptions {
  /** Extra environment (settings such as MAX_DOWNLOAD_ATTEMPTS; LOCAL_* of local/local-stack.ts). */
  env?: Record<string, string>;
  /** The ports of an earlier run (a restart on the same data directory); otherwise free ones. */
  ports?: NpmStart['ports'];
  /** Build the bundle first (default true; a restart can skip it). */
  build?: boolean;
}

/**
 * Builds the local stack (`node local/build.mjs`, as `npm start` does) and starts its bundle on spare
 * ports with `dataDir`, the poller every second, and `env` on top; resolves once it prints "Ready.".
 */
export async function startNpmStart(
  root: string,
  dataDir: string,
  opts: NpmStartOptions = {},
): Promise<NpmStart> {
  if (opts.build ?? true)
    execFileSync(process.execPath, ['local/build.mjs'], { cwd: root, stdio: 'inherit' });
  const { api, s3, dynamodb, zoho } = opts.ports ?? (await freePortSet());
  const child = spawn(process.execPath, [path.join(root, '.build', 'local', 'start.mjs')], {
    cwd: root,
    env: {
      ...process.env,
      LOCAL_DATA_DIR: dataDir,
      PORT: String(api),
      LOCAL_S3_PORT: String(s3),
      LOCAL_DYNAMODB_PORT: String(dynamodb),
      LOCAL_ZOHO_PORT: String(zoho),
      POLL_INTERVAL_SECONDS: '1',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // Generous: on a loaded 2-core machine DynamoDB Local's JVM alone can take a minute to start.
  await waitFor('Ready', () => (out.includes('Ready.') ? true : undefined), 180_000);
  return {
    child,
    output: () => out,
    exited,
    ports: { api, s3, dynamodb, zoho },
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** An answer of the product's HTTP API: its JSON body (or the text, when it is not JSON). */
export interface Answer {
  status: number;
  headers: Headers;
  json: unknown;
}

/** One request to the API at `base`: `body` as JSON, or `raw` as it is (with `contentType`). */
export async function callApi(
  base: string,
  method: string,
  p: string,
  opts: { body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(`${base}${p}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json' }),
      ...opts.headers,
    },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

/** GET /exports/{id}. */
export const getExportAt = async (base: string, id: string): Promise<PublicExport> =>
  (await callApi(base, 'GET', `/exports/${id}`)).json as PublicExport;

/** The export once it is COMPLETED or FAILED. */
export const settledExportAt = (base: string, id: string, ms = 90_000): Promise<PublicExport> =>
  waitFor(
    `export ${id} to settle`,
    async () => {
      const e = await getExportAt(base, id);
      return e.status === 'COMPLETED' || e.status === 'FAILED' ? e : undefined;
    },
    ms,
  );
