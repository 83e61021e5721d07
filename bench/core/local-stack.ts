/**
 * `npm start` as a black box: the real command in its own process group, a fresh LOCAL_DATA_DIR in the
 * run's temp dir, free ports, POLL_INTERVAL_SECONDS=1. It is driven only through its HTTP API and the
 * fake Zoho's HTTP endpoints (admin API, token endpoint, result download); its processes are found in
 * /proc by their command lines:
 *
 *   npm (node) -> sh -> main (node .build/local/start.mjs: API, poller, downloader)
 *                         +- java (DynamoDB Local, under setpriv)
 *                         +- node local/s3rver-child.mjs
 *                         +- node .build/local/fake-zoho-child.mjs
 *                         +- node .build/local/convert-worker.mjs
 *
 * The main process is the parent of the s3rver child. BENCH_LOCAL_CMD overrides the command (default
 * `npm start`), e.g. `node --import tsx local/start.ts` to measure the sources through tsx.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { DEFAULT_CLIENT } from '../../local/fake-zoho/credentials.js';
import { freePort } from '../../local/stand-ins.js';
import { ROOT, tmp } from './config.js';
import { cmdline, descendants, parentPid } from './proc.js';
import { markGroup, onCleanup, track } from './procs.js';
import { log } from './report.js';

export interface StackPids {
  /** The process running the local stack (local/start.ts): API, poller, downloader. */
  main: number;
  java?: number;
  s3rver?: number;
  fake?: number;
  /** The Parquet converter. */
  converter?: number;
  /** npm, sh (and the tsx CLI under BENCH_LOCAL_CMD): the wrappers above the main process. */
  wrappers: Array<{ pid: number; cmd: string }>;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

const SHORT = (cmd: string): string => (cmd.length > 60 ? `${cmd.slice(0, 57)}...` : cmd);

export class LocalStackProcess {
  private readonly lines: string[] = [];
  private exited: string | undefined;
  private readonly unregister: () => void;
  readonly admin: FakeZohoAdminClient;
  pids!: StackPids;
  /** Seconds from spawn to the "Ready." line. */
  startSeconds = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
    readonly apiUrl: string,
    readonly zohoUrl: string,
    readonly s3Url: string,
  ) {
    this.admin = new FakeZohoAdminClient(zohoUrl);
    const keep = (d: Buffer): void => {
      for (const l of d.toString().split('\n')) {
        if (!l) continue;
        this.lines.push(l);
        if (this.lines.length > 400) this.lines.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', (code, sig) => {
      this.exited = `exited with ${code ?? sig}`;
    });
    this.unregister = onCleanup(() => this.stop());
  }

  /** Starts `npm start` and waits for its "Ready." line (at most `readyTimeoutMs`). */
  static async start(
    opts: { label: string; env?: Record<string, string>; readyTimeoutMs?: number } = { label: 'stack' },
  ): Promise<LocalStackProcess> {
    const dataRoot = path.join(tmp, 'local');
    mkdirSync(dataRoot, { recursive: true });
    const dataDir = mkdtempSync(path.join(dataRoot, `${opts.label}-`));
    const [api, s3, ddb, zoho] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(api),
      LOCAL_S3_PORT: String(s3),
      LOCAL_DYNAMODB_PORT: String(ddb),
      LOCAL_ZOHO_PORT: String(zoho),
      LOCAL_DATA_DIR: dataDir,
      POLL_INTERVAL_SECONDS: '1',
      ...opts.env,
    };
    // the built-in fake Zoho, the product's own defaults: nothing of this shell's leaks in
    for (const k of ['ZOHO_ACCOUNTS_URL', 'ZOHO_API_DOMAIN', 'LOG_LEVEL', 'LOCAL_RESET', 'NODE_OPTIONS']) {
      if (!opts.env || !(k in opts.env)) delete env[k];
    }
    const [cmd, ...args] = (process.env.BENCH_LOCAL_CMD ?? 'npm start').split(/\s+/).filter(Boolean);
    const t0 = performance.now();
    const child = markGroup(
      track(spawn(cmd!, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })),
    );
    const stack = new LocalStackProcess(
      child,
      dataDir,
      `http://127.0.0.1:${api}`,
      `http://127.0.0.1:${zoho}`,
      `http://127.0.0.1:${s3}`,
    );
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
    while (!stack.lines.some((l) => l.startsWith('Ready.'))) {
      if (stack.exited || Date.now() > deadline) {
        const why = stack.exited ?? 'not ready in time';
        await stack.stop();
        throw new Error(`${cmd} ${args.join(' ')} ${why}:\n${stack.tail(30)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    stack.startSeconds = (performance.now() - t0) / 1000;
    stack.pids = stack.findPids();
    return stack;
  }

  private findPids(): StackPids {
    const root = this.child.pid!;
    const all = [root, ...descendants(root)].map((pid) => ({ pid, cmd: cmdline(pid) }));
    const find = (re: RegExp) => all.find((p) => re.test(p.cmd))?.pid;
    const s3rver = find(/s3rver-child\.mjs/);
    const java = find(/DynamoDBLocal\.jar/);
    const fake = find(/fake-zoho[-/]child\.(ts|mjs)/);
    const converter = find(/convert-worker\.(ts|mjs)/);
    if (!s3rver)
      throw new Error(`no s3rver child under pid ${root}: ${all.map((p) => SHORT(p.cmd)).join('; ')}`);
    const parent = parentPid(s3rver);
    if (!parent) throw new Error('the s3rver child has no parent');
    const known = new Set([parent, s3rver, java, fake, converter]);
    const pids: StackPids = {
      main: parent,
      ...(java ? { java } : {}),
      s3rver,
      ...(fake ? { fake } : {}),
      ...(converter ? { converter } : {}),
      wrappers: all.filter((p) => !known.has(p.pid)),
    };
    log(
      `${this.dataDir}: main ${pids.main} (${SHORT(cmdline(pids.main))}), java ${java}, s3rver ${s3rver}, fake ${fake}, converter ${converter}; wrappers ${pids.wrappers.map((w) => `${w.pid} ${SHORT(w.cmd)}`).join(', ')}`,
    );
    return pids;
  }

  /** The last `n` lines the stack printed. */
  tail(n: number): string {
    return this.lines.slice(-n).join('\n');
  }

  /** Lines printed so far that match `re`. */
  grep(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  alive(): boolean {
    return this.exited === undefined;
  }

  /** One call of the product's HTTP API (JSON). */
  async api<T>(method: string, p: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.apiUrl}${p}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  }

  /** An access token from the fake's token endpoint (default client, form-encoded refresh grant). */
  async token(): Promise<string> {
    const res = await fetch(`${this.zohoUrl}/oauth/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: DEFAULT_CLIENT.clientId,
        client_secret: DEFAULT_CLIENT.clientSecret,
        refresh_token: DEFAULT_CLIENT.refreshToken,
      }).toString(),
    });
    const body = (await res.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`the fake's token endpoint answered ${res.status}`);
    return body.access_token;
  }

  resultUrl(jobId: string): string {
    return `${this.zohoUrl}/crm/bulk/v8/read/${jobId}/result`;
  }

  /**
   * SIGTERM to the main process (local/start.ts stops the stack and exits), then waits for `npm start`
   * to exit; after 20 s, SIGKILL to the process group this run created.
   */
  async stop(): Promise<void> {
    this.unregister();
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    try {
      process.kill(this.pids?.main ?? this.child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-this.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 20_000);
    await exited;
    clearTimeout(timer);
    // whatever is left in the group (nothing, normally)
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // the group is empty
    }
  }
}
