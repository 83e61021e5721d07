/**
 * Runs the fake Zoho in a child process, so its CPU (CSV generation, deflate) and memory stay out of
 * the process under test. Two halves:
 *
 *   serveFakeZohoChild(options, hooks)  inside the child (child.ts, bench/fake-zoho-server.ts): starts
 *       the fake, reports `{ready: true, url, port}` over IPC and on stdout, and stops on SIGTERM,
 *       SIGINT or when the parent goes away (IPC disconnect);
 *   startFakeZohoChild(options)  in the parent: forks child.ts (through tsx, or its bundle when the
 *       parent is one: local/entries.ts), waits for ready and returns {url, port, admin, stop}; the
 *       child is killed if the parent exits first.
 *
 * Options travel as JSON (argv[2], or the FAKE_ZOHO_OPTIONS environment variable), so `now` cannot be
 * passed: use `frozenClockAt` and the admin clock endpoints instead.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { childEntry, PROJECT_ROOT } from '../entries.js';
import { FakeZohoAdminClient } from './admin-client.js';
import type { FakeZoho, FakeZohoOptions } from './types.js';

export type ChildOptions = Omit<FakeZohoOptions, 'now'>;

export interface ReadyMessage {
  ready: true;
  url: string;
  port: number;
  pid: number;
  [extra: string]: unknown;
}

export interface ChildHooks {
  /** Extra fields of the ready message. */
  ready?: (fake: FakeZoho) => Record<string, unknown>;
  /** Handles an IPC message `{id, cmd, …}`; the answer goes back as `{id, ok, result | error}`. */
  onMessage?: (
    fake: FakeZoho,
    msg: { id: number; cmd: string } & Record<string, unknown>,
  ) => Promise<unknown>;
  /** Runs before the fake closes on a stop signal. */
  onStop?: () => void | Promise<void>;
}

/** Parses the child's options: argv[2] (JSON), else FAKE_ZOHO_OPTIONS, else {}. */
export function childOptionsFromProcess(argv = process.argv, env = process.env): ChildOptions {
  const raw = argv[2] ?? env.FAKE_ZOHO_OPTIONS;
  if (!raw) return {};
  const v = JSON.parse(raw) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new Error('fake-zoho child: options must be a JSON object');
  return v as ChildOptions;
}

/** Inside the child: start the fake and report ready. */
export async function serveFakeZohoChild(options: ChildOptions, hooks: ChildHooks = {}): Promise<FakeZoho> {
  const { startFakeZoho } = await import('./server.js');
  const fake = await startFakeZoho(options);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      try {
        await hooks.onStop?.();
      } finally {
        await fake.close().catch(() => undefined);
        process.exit(0);
      }
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  if (hooks.onMessage) {
    const onMessage = hooks.onMessage;
    process.on('message', (m: unknown) => {
      const msg = m as { id?: unknown; cmd?: unknown } & Record<string, unknown>;
      if (typeof msg?.id !== 'number' || typeof msg.cmd !== 'string') return;
      const id = msg.id;
      onMessage(fake, msg as { id: number; cmd: string } & Record<string, unknown>).then(
        (result) => process.send?.({ id, ok: true, result }),
        (e: unknown) => process.send?.({ id, ok: false, error: String((e as Error)?.stack ?? e) }),
      );
    });
  }
  const ready: ReadyMessage = {
    ready: true,
    url: fake.url,
    port: fake.port,
    pid: process.pid,
    ...hooks.ready?.(fake),
  };
  process.send?.(ready);
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  return fake;
}

// ---------------------------------------------------------------- parent side

export interface FakeZohoChild {
  url: string;
  port: number;
  pid: number;
  admin: FakeZohoAdminClient;
  child: ChildProcess;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

export async function startFakeZohoChild(
  options: ChildOptions = {},
  spawnOptions: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {},
): Promise<FakeZohoChild> {
  const entry = childEntry('fake-zoho-child');
  const child = fork(entry.path, [JSON.stringify(options)], {
    cwd: PROJECT_ROOT,
    execArgv: entry.execArgv,
    env: spawnOptions.env ?? process.env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  running.add(child);
  killAllOnExit();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  void exited.then(() => running.delete(child));

  const ready = await new Promise<ReadyMessage>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`fake-zoho child not ready after ${spawnOptions.readyTimeoutMs ?? 30000} ms\n${stderr}`),
      );
    }, spawnOptions.readyTimeoutMs ?? 30000);
    child.on('message', (m: unknown) => {
      const msg = m as Partial<ReadyMessage>;
      if (msg?.ready === true) {
        clearTimeout(timer);
        resolveReady(msg as ReadyMessage);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`fake-zoho child exited with ${code} before it was ready\n${stderr}`));
    });
  });

  return {
    url: ready.url,
    port: ready.port,
    pid: ready.pid,
    admin: new FakeZohoAdminClient(ready.url),
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
