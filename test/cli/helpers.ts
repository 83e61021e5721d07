/** Running the CLI in tests: as a process (the bin shim, real exit codes), in-process, or under a pty. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunOptions } from '../../cli/main.js';
import { type Io, run } from '../../cli/main.js';
import { createApiHandler } from '../../lib/api/handler.js';
import { toApiGatewayEvent, writeApiGatewayResult } from '../../local/http-adapter.js';
import { assertPortFree } from '../../local/stand-ins.js';
import type { Harness, MemoryStorage } from '../support/pipeline.js';

export const root = path.resolve(import.meta.dirname, '../..');
export const shim = path.join(root, 'cli', 'zoho-export.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** AWS settings of the machine running the tests, which must not leak into a CLI under test. */
export function isolatedAwsEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_') || k.startsWith('ZOHO_EXPORT_')) delete env[k];
  env.HOME = home;
  env.AWS_CONFIG_FILE = path.join(home, 'no-aws-config');
  env.AWS_SHARED_CREDENTIALS_FILE = path.join(home, 'no-aws-credentials');
  env.AWS_EC2_METADATA_DISABLED = 'true';
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return env;
}

/** Runs `node cli/zoho-export.mjs ...args` (what `npx zoho-export` runs) and waits for it. */
export function cli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [shim, ...args], {
      cwd: opts.cwd ?? root,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs the CLI under a pseudo-terminal (`script` from util-linux), as a person at a terminal would:
 * returns everything the terminal received (stdout and stderr interleaved, with control sequences)
 * and the CLI's exit code.
 */
export function cliOnTty(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const quoted = [process.execPath, shim, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    // -q quiet, -f flush at once, -e the child's exit code, -c the command; the log goes to /dev/null
    // and the terminal's output to our stdout pipe.
    const child = spawn('script', ['-qfec', `stty cols 140 rows 40; exec ${quoted}`, '/dev/null'], {
      cwd: root,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
  });
}

/** A writable that keeps what it was given. */
export function capture(isTTY = false): { write(s: string): boolean; text(): string; isTTY: boolean } {
  let text = '';
  return {
    isTTY,
    write(s: string) {
      text += s;
      return true;
    },
    text: () => text,
  };
}

/** Runs the CLI in this process (fast; for commands that need no process-level environment). */
export async function cliInProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; run?: RunOptions } = {},
): Promise<CliResult> {
  const stdout = capture();
  const stderr = capture();
  const io: Io = { stdout, stderr, env: opts.env ?? {}, cwd: opts.cwd ?? root };
  const code = await run(args, io, opts.run);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

const dirs: string[] = [];
export function tempDir(prefix = 'zoho-cli-'): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Free ports below Linux's ephemeral range, so servers other tests open on port 0 cannot take them. */
export async function freePorts(n: number): Promise<number[]> {
  const picked = new Set<number>();
  while (picked.size < n) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if (picked.has(p)) continue;
    try {
      await assertPortFree(p, 'test', 'test');
      picked.add(p);
    } catch {
      // taken: try another
    }
  }
  return [...picked];
}

/** Strips terminal control sequences, for reading what a terminal showed. */
export const plain = (s: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal control sequences are the point
  s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

/**
 * A harness's API served over HTTP through the local server's adapter (as `npm start` serves it), on a
 * free port: for CLI commands run in process against it.
 */
export async function serveApi(harness: Harness<MemoryStorage>): Promise<{ url: string; server: Server }> {
  const api = createApiHandler(harness.api);
  const server = createServer((req, res) => {
    void (async () => {
      const event = await toApiGatewayEvent(req);
      if (event === 'too-large') throw new Error('too large');
      writeApiGatewayResult(res, await api(event));
    })().catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
