/**
 * Driving `POST /exports` of a LocalStackProcess and watching its pages, for the sections that time
 * exports from the outside (callbacks, export1m; local and pacing use its job shape and sleep). Only
 * the product's HTTP API is polled while a measurement runs (the fake's admin API is read afterwards),
 * so the fake sees only the product.
 */
import type { LocalStackProcess } from './local-stack.js';

export interface ApiJob {
  job_id: string;
  status: string;
  updated_at: string;
  records: number | null;
  s3: { bucket: string; key: string; bytes: number } | null;
  error: { code: string; message: string } | null;
  last_error: { code: string; message: string } | null;
}

export interface ApiExport {
  export_id: string;
  status: string;
  created_at: string;
  completed_at: string | null;
  pages: Array<{ page: number; job_id: string; status: string; records: number | null }>;
  records: number;
  bytes: number;
  manifest: { bucket: string; key: string } | null;
  error: unknown;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `POST /exports`; throws unless it answers 201. */
export async function postExport(
  stack: LocalStackProcess,
  body: Record<string, unknown>,
): Promise<ApiExport> {
  const r = await stack.api<ApiExport>('POST', '/exports', body);
  if (r.status !== 201) throw new Error(`POST /exports answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function getExport(stack: LocalStackProcess, id: string): Promise<ApiExport> {
  const r = await stack.api<ApiExport>('GET', `/exports/${id}`);
  if (r.status !== 200) throw new Error(`GET /exports/${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Polls `GET /exports/{id}` until `done` (FAILED throws). */
export async function waitExport(
  stack: LocalStackProcess,
  id: string,
  done: (e: ApiExport) => boolean,
  opts: { everyMs: number; timeoutMs: number },
): Promise<ApiExport> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const e = await getExport(stack, id);
    if (e.status === 'FAILED') throw new Error(`export ${id} FAILED: ${JSON.stringify(e.error)}`);
    if (done(e)) return e;
    if (Date.now() > deadline)
      throw new Error(`export ${id} still ${e.status} after ${opts.timeoutMs / 1000} s`);
    if (!stack.alive()) throw new Error(`npm start exited:\n${stack.tail(30)}`);
    await sleep(opts.everyMs);
  }
}

export interface Landed {
  job: ApiJob;
  /**
   * When the page became EXPORTED (epoch ms): the smaller of the job's updated_at in the first answer
   * that shows EXPORTED and the time that answer was received. Both are at or after the transition;
   * updated_at is the transition itself unless a later write (the Parquet conversion's) came first.
   */
  exportedAt: number;
  /** When this poller first saw EXPORTED. */
  seenAt: number;
}

/** Polls `GET /jobs/{id}` every `everyMs` until EXPORTED (FAILED throws). */
export async function waitJobExported(
  stack: LocalStackProcess,
  jobId: string,
  opts: { everyMs: number; timeoutMs: number },
): Promise<Landed> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const r = await stack.api<ApiJob>('GET', `/jobs/${jobId}`);
    const seenAt = Date.now();
    if (r.status !== 200)
      throw new Error(`GET /jobs/${jobId} answered ${r.status}: ${JSON.stringify(r.body)}`);
    const job = r.body;
    if (job.status === 'FAILED') throw new Error(`job ${jobId} FAILED: ${JSON.stringify(job.error)}`);
    if (job.status === 'EXPORTED')
      return { job, seenAt, exportedAt: Math.min(Date.parse(job.updated_at), seenAt) };
    if (Date.now() > deadline)
      throw new Error(
        `job ${jobId} still ${job.status} after ${opts.timeoutMs / 1000} s (${JSON.stringify(job.last_error)})`,
      );
    if (!stack.alive()) throw new Error(`npm start exited:\n${stack.tail(30)}`);
    await sleep(opts.everyMs);
  }
}
