import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeZoho, type FakeZohoOptions, startFakeZoho } from '../../local/fake-zoho/index.js';
import { createdId, getJson, type Json, mintToken } from './helpers.js';

interface Received {
  contentType: string | undefined;
  authorization: string | undefined;
  body: string;
}

let fake: FakeZoho | undefined;
let sink: Server | undefined;
afterEach(async () => {
  await fake?.close();
  if (sink) await new Promise((r) => sink!.close(r));
  fake = undefined;
  sink = undefined;
});

/** A callback receiver answering the given statuses in turn (then 200). */
async function startSink(statuses: number[] = []): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  sink = createServer((req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      received.push({
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body: Buffer.concat(parts).toString('utf8'),
      });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/cb?secret=s1`, received };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 150 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

let t = 1_800_000_000_000;
async function start(opts: FakeZohoOptions): Promise<{ f: FakeZoho; token: string }> {
  t = 1_800_000_000_000;
  fake = await startFakeZoho({
    now: () => t,
    timeline: { queuedAfterMs: 1000, inProgressAfterMs: 2000, completedAfterMs: 5000 },
    callbackRetryDelayMs: 20,
    ...opts,
  });
  return { f: fake, token: await mintToken(fake) };
}

describe('callbacks', () => {
  it('JSON: POSTs exactly the job details the status endpoint answers, once, on completion', async () => {
    const { url, received } = await startSink();
    const { f, token } = await start({});
    const id = await createdId(f, token, {
      callback: { url, method: 'post' },
      query: { module: { api_name: 'Contacts' } },
    });
    await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id}`, token); // ADDED: no callback yet
    t += 2000;
    await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id}`, token); // IN PROGRESS: none either
    expect(received).toHaveLength(0);
    t += 3000; // COMPLETED: the next request (or clock move) fires it
    f.advanceClock(0);
    await until('callback', () => received.length === 1 && f.callbacks[0]?.status === 200);
    const status = await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id}`, token);
    expect(received[0]!.contentType).toBe('application/json');
    expect(received[0]!.authorization).toBeUndefined();
    expect(JSON.parse(received[0]!.body)).toEqual(status.json);
    expect(status.json.data[0]).toMatchObject({ id, state: 'COMPLETED', result: { count: 1000 } });
    expect(f.callbacks).toEqual([
      { jobId: id, url, attempt: 1, contentType: 'application/json', status: 200, at: t },
    ]);
    await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id}`, token);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toHaveLength(1);
  });

  it('form: data=<url-encoded JSON>, retried on non-2xx answers', async () => {
    const { url, received } = await startSink([500, 404]);
    const { f, token } = await start({ callbackEncoding: 'form' });
    const job = f.addJob({ module: 'Leads', totalRecords: 10, callbackUrl: url });
    f.setState(job.id, 'FAILURE');
    await until('three attempts', () => f.callbacks.filter((c) => c.status !== undefined).length === 3);
    expect(f.callbacks.map((c) => [c.attempt, c.status])).toEqual([
      [1, 500],
      [2, 404],
      [3, 200],
    ]);
    expect(received.every((r) => r.contentType === 'application/x-www-form-urlencoded')).toBe(true);
    const form = new URLSearchParams(received[2]!.body);
    expect([...form.keys()]).toEqual(['data']);
    expect(received[2]!.body.startsWith('data=%5B%7B%22id%22')).toBe(true);
    const data = JSON.parse(form.get('data')!) as Json[];
    const status = await getJson(`${f.apiDomain}/crm/bulk/v8/read/${job.id}`, token);
    expect({ data }).toEqual(status.json);
    expect(data[0].state).toBe('FAILURE');
    expect(data[0].result.error_message.code).toBe('INTERNAL_SERVER_ERROR');
  });

  it('gives up after callbackAttempts network errors; the encoding can change at run time', async () => {
    const { f } = await start({ callbackAttempts: 2 });
    f.setOptions({ callbackEncoding: 'form' });
    const job = f.addJob({ totalRecords: 1, callbackUrl: 'http://127.0.0.1:9/unreachable' });
    f.completeNow(job.id);
    await until('two failed attempts', () => f.callbacks.filter((c) => c.error !== undefined).length === 2);
    await new Promise((r) => setTimeout(r, 60));
    expect(f.callbacks).toHaveLength(2);
    expect(f.callbacks.every((c) => c.contentType === 'application/x-www-form-urlencoded')).toBe(true);
    f.clearCallbacks();
    expect(f.callbacks).toHaveLength(0);
  });
});
