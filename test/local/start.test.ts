import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHILD_SOURCES } from '../../local/entries.js';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { csvRecordCount } from '../../local/fake-zoho/index.js';
import { assertPortFree, localS3Client } from '../../local/stand-ins.js';
import { waitFor } from '../support/npm-start.js';

const root = path.resolve(import.meta.dirname, '../..');
/** What `npm start` runs after building it (package.json: `node local/build.mjs && node <this>`). */
const bundle = path.join(root, '.build', 'local', 'start.mjs');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function newDataDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'zoho-local-'));
  dirs.push(d);
  return d;
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startCli(env: Record<string, string>, dataDir = newDataDir()): Started {
  const child = spawn(process.execPath, [bundle], {
    cwd: root,
    env: { ...process.env, LOCAL_DATA_DIR: dataDir, ...env },
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
  return { child, output: () => out, exited };
}

/**
 * Four free ports below Linux's ephemeral range (32768+), so that servers other tests open on port 0
 * cannot be handed one of them between this check and the CLI binding it.
 */
async function ports() {
  const picked = new Set<number>();
  while (picked.size < 4) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if (picked.has(p)) continue;
    try {
      await assertPortFree(p, 'test', 'test');
      picked.add(p);
    } catch {
      // taken: try another
    }
  }
  const [PORT, LOCAL_S3_PORT, LOCAL_DYNAMODB_PORT, LOCAL_ZOHO_PORT] = [...picked].map(String) as [
    string,
    string,
    string,
    string,
  ];
  return { PORT, LOCAL_S3_PORT, LOCAL_DYNAMODB_PORT, LOCAL_ZOHO_PORT };
}

/** The command lines of `pid`'s descendants, from /proc. */
function descendantCommands(pid: number): string[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: string[] = [];
  const walk = (p: number): void => {
    for (const [c, pp] of parent) {
      if (pp !== p) continue;
      try {
        out.push(readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0').join(' '));
      } catch {
        // gone meanwhile
      }
      walk(c);
    }
  };
  walk(pid);
  return out;
}

describe('npm start (the local stack)', () => {
  beforeAll(() => {
    // The first half of `npm start`: the bundles of the local stack and of each child it forks.
    const script = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    expect(script).toBe(`node local/build.mjs && node ${path.relative(root, bundle)}`);
    execFileSync(process.execPath, ['local/build.mjs'], { cwd: root, stdio: 'inherit' });
    for (const name of Object.keys(CHILD_SOURCES)) {
      expect(existsSync(path.join(root, '.build', 'local', `${name}.mjs`)), name).toBe(true);
    }
  }, 60_000);

  it('exports a demo job end to end over HTTP, then stops on SIGTERM with no child left', async () => {
    const p = await ports();
    const s = startCli({ ...p, POLL_INTERVAL_SECONDS: '1' });
    try {
      await waitFor('Ready', () => (s.output().includes('Ready.') ? true : undefined), 90_000);
      const api = `http://127.0.0.1:${p.PORT}`;
      // Every node process of the stack runs a bundle on plain node, none through tsx's loader.
      const tree = descendantCommands(s.child.pid!);
      expect(
        tree.some((c) => c.includes('.build/local/fake-zoho-child.mjs')),
        tree.join('\n'),
      ).toBe(true);
      expect(
        tree.some((c) => c.includes('.build/local/convert-worker.mjs')),
        tree.join('\n'),
      ).toBe(true);
      expect(tree.filter((c) => c.includes('tsx'))).toEqual([]);
      for (const id of [
        '3652397000000646004',
        '3652397000000646005',
        '3652397000000646006',
        '3652397000000646007',
      ]) {
        expect(s.output()).toContain(id); // the README's demo ids
      }
      const post = await fetch(`${api}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ job_id: '3652397000000646004' }),
      });
      expect(post.status).toBe(201);
      const job = await waitFor(
        'EXPORTED',
        async () => {
          const j = (await (await fetch(`${api}/jobs/3652397000000646004`)).json()) as {
            status: string;
            created_at: string;
            records: number;
            s3: { bucket: string; key: string; bytes: number };
          };
          return j.status === 'EXPORTED' || j.status === 'FAILED' ? j : undefined;
        },
        60_000,
      );
      expect(job.status).toBe('EXPORTED');
      expect(job.records).toBe(1500);
      expect(job.s3.key).toBe(
        'zoho-crm/module=Contacts/export_date=' +
          new Date().toISOString().slice(0, 10) +
          '/3652397000000646004.csv',
      );
      // Anyone can look inside with an ordinary S3 client on the fixed port.
      const s3 = localS3Client(`http://127.0.0.1:${p.LOCAL_S3_PORT}`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: job.s3.bucket, Key: job.s3.key }));
      expect(head.ContentLength).toBe(job.s3.bytes);
      expect(head.ContentType).toContain('text/csv');
      const obj = await s3.send(new GetObjectCommand({ Bucket: job.s3.bucket, Key: job.s3.key }));
      expect(await csvRecordCount(Buffer.from(await obj.Body!.transformToByteArray()))).toBe(1500);
      const list = (await (await fetch(`${api}/jobs?status=EXPORTED`)).json()) as { jobs: unknown[] };
      expect(list.jobs).toHaveLength(1);
      // An export: its Parquet comes from the converter child, bundled like the rest.
      const started = await fetch(`${api}/exports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ module: 'Contacts' }),
      });
      expect(started.status).toBe(201);
      const { export_id } = (await started.json()) as { export_id: string };
      const done = await waitFor(
        'the export COMPLETED',
        async () => {
          const e = (await (await fetch(`${api}/exports/${export_id}`)).json()) as {
            status: string;
            pages: Array<{ parquet: { status: string; bucket: string; key: string; rows: number } }>;
          };
          return e.status === 'COMPLETED' || e.status === 'FAILED' ? e : undefined;
        },
        60_000,
      );
      expect(done.status).toBe('COMPLETED');
      const parquet = done.pages[0]!.parquet;
      expect(parquet).toMatchObject({ status: 'DONE', rows: 1500 });
      const pq = await s3.send(new GetObjectCommand({ Bucket: parquet.bucket, Key: parquet.key }));
      expect(
        Buffer.from(await pq.Body!.transformToByteArray())
          .subarray(0, 4)
          .toString(),
      ).toBe('PAR1');
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('stopped.');
    // Every port is free again: no DynamoDB Local, s3rver or fake Zoho left behind.
    for (const [name, port] of Object.entries(p)) await assertPortFree(Number(port), name, name);
  }, 150_000);

  it('keeps its data across a restart: a download killed by kill -9 is resumed and lands exactly', async () => {
    const p = await ports();
    const dataDir = newDataDir();
    const env = { ...p, POLL_INTERVAL_SECONDS: '1' };
    const api = `http://127.0.0.1:${p.PORT}`;
    const first = startCli(env, dataDir);
    await waitFor('Ready', () => (first.output().includes('Ready.') ? true : undefined), 90_000);
    // Hold the download at the fake, so the process is surely killed in the middle of it.
    const fake = new FakeZohoAdminClient(`http://127.0.0.1:${p.LOCAL_ZOHO_PORT}`);
    await fake.inject({ kind: 'download', action: { type: 'delay', ms: 60_000 } });
    const post = await fetch(`${api}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: '3652397000000646005' }),
    });
    expect(post.status).toBe(201);
    await waitFor(
      'a download in flight',
      async () => ((await fake.requests()).some((r) => r.kind === 'download') ? true : undefined),
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    // Its children go with it (Java through its parent-death signal, s3rver and the fake on IPC
    // disconnect): the ports come free without anyone cleaning up.
    await waitFor(
      'the ports to be free',
      async () => {
        for (const [name, port] of Object.entries(p)) {
          if (
            !(await assertPortFree(Number(port), name, name).then(
              () => true,
              () => false,
            ))
          )
            return undefined;
        }
        return true;
      },
      20_000,
    );
    const second = startCli(env, dataDir);
    try {
      await waitFor('Ready', () => (second.output().includes('Ready.') ? true : undefined), 90_000);
      const job = await waitFor(
        'EXPORTED after the restart',
        async () => {
          const j = (await (await fetch(`${api}/jobs/3652397000000646005`)).json()) as {
            status: string;
            s3: { bucket: string; key: string; bytes: number };
          };
          return j.status === 'EXPORTED' || j.status === 'FAILED' ? j : undefined;
        },
        90_000,
      );
      expect(job.status).toBe('EXPORTED');
      const s3 = localS3Client(`http://127.0.0.1:${p.LOCAL_S3_PORT}`);
      const obj = await s3.send(new GetObjectCommand({ Bucket: job.s3.bucket, Key: job.s3.key }));
      const got = Buffer.from(await obj.Body!.transformToByteArray());
      const want = await new FakeZohoAdminClient(`http://127.0.0.1:${p.LOCAL_ZOHO_PORT}`).csv(
        '3652397000000646005',
      );
      expect(got.equals(want)).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
  }, 300_000);

  it('says plainly when a port is taken', async () => {
    const p = await ports();
    const blocker = createServer().listen(Number(p.PORT), '127.0.0.1');
    try {
      const s = startCli(p);
      expect(await s.exited, s.output()).toBe(1);
      expect(s.output()).toContain(`port ${p.PORT} for the API is already in use`);
      expect(s.output()).toContain('PORT');
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('says plainly when Java is missing', async () => {
    const p = await ports();
    const s = startCli({ ...p, PATH: '/nonexistent' });
    expect(await s.exited, s.output()).toBe(1);
    expect(s.output()).toContain('Java is missing');
    expect(s.output()).toContain('openjdk-17-jre-headless');
  }, 60_000);
});
