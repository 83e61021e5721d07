/**
 * GET /crm/bulk/{version}/read/{id}/result: the rate limit and lock, the state and expiry
 * checks, stream faults, and the ZIP, generated on the fly or served from the result cache.
 *
 * Result cache (option resultCacheDir): Zoho builds the file once; it does not re-zip per download. The
 * first download of a COMPLETED job streams the ZIP to the client and, at the same time, to a temp file
 * (constant memory, both with backpressure); only when the whole archive was written and its size
 * checked is the temp file renamed into place, so a partial file is never served. Later downloads
 * stream the file. Downloads with a fault that changes the bytes (corrupt, csv-extra-record) bypass the
 * cache; reset/truncate faults cut the cached bytes like the generated ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { errorEnvelope, HttpError, zohoError } from './errors.js';
import { drainOrClose } from './http-util.js';
import { completedAt, fileStream, type Job, stateOf } from './jobs.js';
import { authenticate, requireBulkScope, requireModuleScope } from './oauth.js';
import type { Ctx, Runtime } from './state.js';
import { zipSingleEntry } from './zip.js';

export function findJob(rt: Runtime, id: string): Job {
  const job = /^\d+$/.test(id) ? rt.jobs.get(id) : undefined;
  if (!job) throw zohoError('RESOURCE_NOT_FOUND', { resource: id });
  return job;
}

function tooMany(rt: Runtime, lockUntil: number): HttpError {
  rt.counters.download429s++;
  return new HttpError(429, errorEnvelope('TOO_MANY_REQUESTS'), rt.limiter.retryAfter(rt, lockUntil));
}

/** Whether the job's result can no longer be downloaded (24 h after completion, or expireResult). */
export function resultGone(rt: Runtime, job: Job, t = rt.now()): boolean {
  return job.resultExpired === true || t > completedAt(job) + rt.opts.resultTtlMs;
}

// ---------------------------------------------------------------- result cache

/** What determines the job's bytes: the cache file name carries its hash, so a reused folder is safe. */
function contentKey(rt: Runtime, job: Job): string {
  const identity: Record<string, unknown> = {
    id: job.id,
    module: job.module,
    fields: job.fields ?? null,
    criteria: job.criteria ?? null,
    page: job.page,
    perPage: job.perPage,
    source: job.source,
    padding: job.padding,
    lineEnding: job.lineEnding,
    zip64: job.zip64,
    fileType: job.fileType,
  };
  if (job.source.kind === 'store') {
    identity.log = rt.stores.get(job.module).log.slice(0, job.source.seq);
  }
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 20);
}

export function cacheFile(rt: Runtime, job: Job): string | undefined {
  if (!rt.resultCacheDir) return undefined;
  return join(rt.resultCacheDir, `${job.id}-${contentKey(rt, job)}.zip`);
}

/** Removes every cached ZIP of a job (its result expired). */
export function dropCached(rt: Runtime, jobId: string): void {
  if (!rt.resultCacheDir || !existsSync(rt.resultCacheDir)) return;
  for (const f of readdirSync(rt.resultCacheDir)) {
    if (f.startsWith(`${jobId}-`)) rmSync(join(rt.resultCacheDir, f), { force: true });
  }
}

/** Writes the chunks to `tmp`, then renames it to `final` if `complete()` says the source ended normally. */
class CacheWriter {
  private readonly out;
  private written = 0;
  private failed = false;

  constructor(
    private readonly tmp: string,
    private readonly final: string,
  ) {
    this.out = createWriteStream(tmp);
    this.out.on('error', () => {
      this.failed = true;
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) return;
    this.written += chunk.length;
    if (!this.out.write(chunk)) await drainOrClose(this.out);
  }

  async commit(expectedBytes: number): Promise<void> {
    if (this.failed) return this.abort();
    this.out.end();
    await once(this.out, 'close').catch(() => undefined);
    if (this.failed || this.written !== expectedBytes || statSync(this.tmp).size !== expectedBytes) {
      return this.abort();
    }
    renameSync(this.tmp, this.final);
  }

  abort(): void {
    this.out.destroy();
    rmSync(this.tmp, { force: true });
  }
}

// ---------------------------------------------------------------- handler

export async function handleDownload(rt: Runtime, ctx: Ctx, id: string): Promise<void> {
  const { req, res } = ctx;
  const auth = authenticate(rt, ctx);
  requireBulkScope(auth);
  const t = rt.now();
  // During the lock every download is refused, whatever the job (Zoho: "all downloads").
  if (rt.limiter.isLocked(t)) {
    const until = rt.opts.lockExtendsOnReject
      ? rt.limiter.lock(t, rt.opts.downloadLockMs)
      : rt.limiter.lockUntil;
    throw tooMany(rt, until);
  }
  const job = findJob(rt, id);
  requireModuleScope(auth, job.module);
  if (stateOf(rt, job) !== 'COMPLETED')
    throw new HttpError(400, errorEnvelope('RESOURCE_NOT_FOUND', { resource: id }));
  if (resultGone(rt, job, t)) throw zohoError('RESOURCE_NOT_FOUND', { resource: id });
  if (!rt.limiter.allows(rt, t)) throw tooMany(rt, rt.limiter.lock(t, rt.opts.downloadLockMs));
  rt.limiter.start(t);
  rt.counters.downloads++;

  const fault = rt.faults.take('download', job.id, true);
  const changesBytes = fault?.type === 'corrupt' || fault?.type === 'csv-extra-record';
  const file = changesBytes ? undefined : cacheFile(rt, job);
  let source: AsyncIterable<Buffer>;
  let writer: CacheWriter | undefined;
  if (file && existsSync(file)) {
    rt.counters.cacheHits++;
    source = createReadStream(file, { highWaterMark: 256 * 1024 });
  } else {
    source = zipSingleEntry(
      `${job.id}.${job.fileType}`,
      fileStream(rt, job, fault?.type === 'csv-extra-record'),
      {
        zip64: job.zip64,
        corrupt: fault?.type === 'corrupt' ? fault.what : undefined,
        parallel: rt.opts.zipConcurrency,
      },
    );
    if (file && !fault) writer = new CacheWriter(`${file}.tmp-${randomBytes(4).toString('hex')}`, file);
  }

  ctx.entry.status = 200;
  res.writeHead(200, {
    'Content-Type': rt.opts.downloadContentType,
    'Content-Disposition': `attachment; filename="${job.id}.zip"`,
  });
  const limit =
    fault?.type === 'reset' || fault?.type === 'truncate' ? fault.afterBytes : Number.POSITIVE_INFINITY;
  let sent = 0;
  let total = 0;
  let gone = false;
  let complete = false;
  const onClose = () => {
    gone = true;
  };
  res.on('close', onClose);
  try {
    for await (const chunk of source) {
      if (gone || res.destroyed) break;
      total += chunk.length;
      let piece = chunk;
      if (sent + chunk.length > limit) piece = chunk.subarray(0, Math.max(0, limit - sent));
      sent += piece.length;
      const more = piece.length > 0 ? res.write(piece) : true;
      if (writer) await writer.write(chunk);
      if (sent >= limit) break;
      // (the cache write above may have let 'drain' pass already: check the flag, not the event)
      if (!more && !gone && res.writableNeedDrain) await drainOrClose(res);
    }
    complete = !gone && !res.destroyed && sent < limit;
  } finally {
    res.off('close', onClose);
    if (writer) {
      if (complete) await writer.commit(total).catch(() => writer?.abort());
      else writer.abort();
    }
  }
  if (gone || res.destroyed) return;
  if (fault?.type === 'reset' && sent >= limit) {
    // make sure the headers and the bytes so far leave, then cut the connection
    await new Promise<void>((resolve) => res.write('', () => resolve()));
    req.socket.destroy();
    return;
  }
  res.end();
}
