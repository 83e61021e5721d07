/**
 * Child process of the bench runner (bench/core/procs.ts startFakeChild): the fake Zoho's child runner (local/fake-zoho/child-runner.ts) with
 * the bench's options and the IPC commands the download and poll sections send:
 *
 *   { id, cmd: 'addJobs', n, spec }          seeds n jobs, answers { ids }
 *   { id, cmd: 'inject', fault }             fault.times may be the string 'Infinity'
 *   { id, cmd: 'cacheZip', jobId, file }     makes sure the job's ZIP is in the fake's result cache and
 *                                            copies it to `file` (the bench reports its size)
 *   { id, cmd: 'stats' }                     fake.stats() plus status calls per job (min / max / jobs)
 *   { id, cmd: 'clearRequests' }
 *
 * The fake runs with a result cache (resultCacheDir): the first download of a job generates and
 * deflates the ZIP on the fly (the "live ZIP" figure) and writes it to the cache at the same time;
 * later downloads stream those bytes from disk, as Zoho serves a file it built once. With
 * BENCH_LIVE_ZIP=1 there is no cache and every download deflates on the fly. `url` and `fakeUrl` are
 * the same server.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveFakeZohoChild } from '../../local/fake-zoho/child-runner.js';
import { DEFAULT_CLIENT } from '../../local/fake-zoho/credentials.js';
import type { FakeZoho, Fault, JobSpec } from '../../local/fake-zoho/types.js';

const live = process.env.BENCH_LIVE_ZIP === '1';
const cacheDir = live ? undefined : mkdtempSync(join(tmpdir(), 'bench-fake-zoho-cache-'));
let helperToken: string | undefined;

async function mint(fake: FakeZoho): Promise<string> {
  const q = new URLSearchParams({
    grant_type: 'refresh_token',
    client_id: DEFAULT_CLIENT.clientId,
    client_secret: DEFAULT_CLIENT.clientSecret,
    refresh_token: DEFAULT_CLIENT.refreshToken,
  });
  const r = await fetch(`${fake.url}/oauth/v2/token`, { method: 'POST', body: q });
  const body = (await r.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`token endpoint answered ${r.status}`);
  return body.access_token;
}

async function handle(fake: FakeZoho, msg: Record<string, unknown>): Promise<unknown> {
  switch (msg.cmd) {
    case 'addJobs': {
      const ids: string[] = [];
      for (let i = 0; i < ((msg.n as number | undefined) ?? 1); i++)
        ids.push(fake.addJob((msg.spec as JobSpec) ?? {}).id);
      return { ids };
    }
    case 'inject': {
      const f = msg.fault as Omit<Fault, 'times'> & { times?: number | 'Infinity' };
      fake.inject({ ...f, times: f.times === 'Infinity' ? Number.POSITIVE_INFINITY : f.times } as Fault);
      return {};
    }
    case 'cacheZip': {
      const jobId = msg.jobId as string;
      const file = msg.file as string;
      const cached = (): string | undefined =>
        readdirSync(cacheDir!).find((n) => n.startsWith(`${jobId}-`) && n.endsWith('.zip'));
      if (!cacheDir) throw new Error('cacheZip needs the result cache (BENCH_LIVE_ZIP is set)');
      if (!cached()) {
        helperToken ??= await mint(fake);
        const r = await fetch(`${fake.url}/crm/bulk/v8/read/${jobId}/result`, {
          headers: { authorization: `Zoho-oauthtoken ${helperToken}` },
        });
        if (r.status !== 200 || !r.body) throw new Error(`download of ${jobId} answered ${r.status}`);
        await r.arrayBuffer();
      }
      const name = cached();
      if (!name) throw new Error(`the ZIP of ${jobId} did not reach the result cache`);
      copyFileSync(join(cacheDir, name), file);
      return {};
    }
    case 'stats': {
      const perJob = new Map<string, number>();
      for (const r of fake.requests) {
        if (r.kind === 'status' && r.jobId) perJob.set(r.jobId, (perJob.get(r.jobId) ?? 0) + 1);
      }
      const counts = [...perJob.values()];
      return {
        ...fake.stats(),
        statusJobs: counts.length,
        statusMin: counts.length ? Math.min(...counts) : 0,
        statusMax: counts.length ? Math.max(...counts) : 0,
        requests: fake.requests.length,
      };
    }
    case 'clearRequests':
      fake.clearRequests();
      return {};
    default:
      throw new Error(`unknown command ${String(msg.cmd)}`);
  }
}

await serveFakeZohoChild(
  {
    downloadsPerMinute: 1000,
    // its own process: let the thread pool deflate four 1 MiB blocks at a time
    zipConcurrency: 4,
    timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
    ...(cacheDir ? { resultCacheDir: cacheDir } : {}),
  },
  {
    ready: (fake) => ({ fakeUrl: fake.url }),
    onMessage: handle,
    onStop: () => {
      if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    },
  },
);
