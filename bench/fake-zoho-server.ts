/**
 * Child process of bench/run.ts: runs the fake Zoho (local/fake-zoho) on 127.0.0.1, so its CPU and
 * memory stay out of the measured process. Controlled over the fork IPC channel:
 *
 *   { id, cmd: 'addJobs', n, spec }          seeds n jobs, answers { ids }
 *   { id, cmd: 'inject', fault }             fault.times may be the string 'Infinity'
 *   { id, cmd: 'cacheZip', jobId, file }     downloads the job's ZIP once from the fake into `file`;
 *                                            from then on the front serves these bytes for that job
 *   { id, cmd: 'stats' }                     fake.stats() plus status calls per job (min / max / jobs)
 *   { id, cmd: 'clearRequests' }
 *
 * It listens on two ports: the fake itself (`fakeUrl`) and a front (`url`) that forwards every request
 * to the fake, except a download of a cached job, which it serves from the cached ZIP file after the
 * fake has accepted the caller's token (a status call with the same Authorization header). The fake
 * deflates on the fly at about 200 MiB/s of CSV on this kind of machine, which would cap every
 * download figure; the cached bytes are the fake's own, byte for byte.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEFAULT_CLIENT, type Fault, type JobSpec, startFakeZoho } from '../local/fake-zoho/index.js';

const downloadsPerMinute = 1000;
const fake = await startFakeZoho({
  downloadsPerMinute,
  timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
});
const cached = new Map<string, string>();
const fakePort = fake.port;

function forward(req: IncomingMessage, res: ServerResponse): void {
  const up = request(
    { host: '127.0.0.1', port: fakePort, method: req.method, path: req.url, headers: req.headers },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
}

async function tokenAccepted(auth: string | undefined, version: string, jobId: string): Promise<boolean> {
  const r = await fetch(`${fake.url}/crm/bulk/${version}/read/${jobId}`, {
    headers: auth ? { authorization: auth } : {},
  });
  await r.arrayBuffer();
  return r.status === 200;
}

const front = createServer((req, res) => {
  const m = /^\/crm\/bulk\/([^/]+)\/read\/(\d+)\/result$/.exec(req.url ?? '');
  const file = m ? cached.get(m[2]!) : undefined;
  if (!m || !file || req.method !== 'GET') {
    forward(req, res);
    return;
  }
  tokenAccepted(req.headers.authorization, m[1]!, m[2]!)
    .then((ok) => {
      if (!ok) {
        forward(req, res);
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'application/x-download',
        'Content-Disposition': `attachment; filename="${m[2]}.zip"`,
      });
      return pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), res);
    })
    .catch(() => res.destroy());
});
front.listen(0, '127.0.0.1');
await new Promise((r) => front.once('listening', r));
const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;

async function mint(): Promise<string> {
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

let helperToken: string | undefined;

interface Msg {
  id: number;
  cmd: string;
  n?: number;
  spec?: JobSpec;
  fault?: Omit<Fault, 'times'> & { times?: number | 'Infinity' };
  jobId?: string;
  file?: string;
}

async function handle(msg: Msg): Promise<unknown> {
  switch (msg.cmd) {
    case 'addJobs': {
      const ids: string[] = [];
      for (let i = 0; i < (msg.n ?? 1); i++) ids.push(fake.addJob(msg.spec ?? {}).id);
      return { ids };
    }
    case 'inject': {
      const f = msg.fault!;
      fake.inject({ ...f, times: f.times === 'Infinity' ? Number.POSITIVE_INFINITY : f.times } as Fault);
      return {};
    }
    case 'cacheZip': {
      helperToken ??= await mint();
      const r = await fetch(`${fake.url}/crm/bulk/v8/read/${msg.jobId}/result`, {
        headers: { authorization: `Zoho-oauthtoken ${helperToken}` },
      });
      if (r.status !== 200 || !r.body) throw new Error(`download of ${msg.jobId} answered ${r.status}`);
      await pipeline(
        Readable.fromWeb(r.body as unknown as WebReadableStream<Uint8Array>),
        createWriteStream(msg.file!),
      );
      cached.set(msg.jobId!, msg.file!);
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
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

process.on('message', (msg: Msg) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result }),
    (e: unknown) => process.send?.({ id: msg.id, ok: false, error: String((e as Error)?.stack ?? e) }),
  );
});

const stop = (): void => {
  front.close();
  front.closeAllConnections();
  void fake.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.send?.({ ready: true, url, fakeUrl: fake.url });
