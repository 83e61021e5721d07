/**
 * `POST /callbacks/zoho/{token}`: Zoho says a job it ran for us has finished. The one route without IAM
 * authorization (Zoho cannot sign), so nothing in the request is trusted:
 *
 * - the token must carry a valid MAC under a known key, not be expired (lib/callbacks/token.ts), and
 *   name an export, a page and the page's creation attempt (its nonce);
 * - the job id in the body must be the job recorded for that page, created with the token's nonce (or,
 *   while the page's creation is not recorded yet, it is adopted as that page if the intent's nonce is
 *   the token's and Zoho says the job is the export's query, made after the intent: see
 *   tryAdoptPageJob); otherwise 404 and nothing changes;
 * - the body's state, result and download_url are ignored: the job is made due now and checked at once
 *   with the normal status call, so a COMPLETED job's download is dispatched within seconds, and the
 *   download URL is always the one Zoho's status answer gives (from the configured API domain).
 *
 * Idempotent: Zoho retries callbacks, and a job that is no longer PENDING is left alone (200); a job
 * made due by a callback less than a check lease ago is not checked again (200): a replayed token costs
 * at most one status call per lease. A rejected callback is logged with its reason and the caller's
 * address, never with the token, and counted towards the callbacks' health (lib/callbacks/health.ts).
 */
import pLimit from 'p-limit';
import { z } from 'zod';
import type { ExportDeps } from '../exports/deps.js';
import { EXPORT_ID_PATTERN } from '../exports/model.js';
import { tryAdoptPageJob } from '../exports/pages.js';
import { JOB_ID_PATTERN, type JobRecord } from '../jobs/model.js';
import { describeError } from '../observability.js';
import { checkJob, type PollDeps } from '../pipeline/poll.js';
import type { CallbackTarget, TokenCheck } from './token.js';

/** Larger bodies are refused (Zoho's callback is one job's details: well under 4 KiB). */
export const MAX_CALLBACK_BYTES = 64 * 1024;

export interface CallbackDeps {
  exports: ExportDeps;
  poll: PollDeps;
  /** The export, page and attempt a token names, when its key, MAC and expiry are right. */
  verify: (token: string) => Promise<TokenCheck>;
}

export interface CallbackRequest {
  token: string;
  body: string;
  contentType?: string | undefined;
  sourceIp?: string | undefined;
  signal?: AbortSignal;
}

export interface CallbackAnswer {
  status: number;
  body: Record<string, unknown>;
}

const jobId = z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(JOB_ID_PATTERN));
/** What is read from the body: the job id only (Zoho's `{"data":[{"id": ...}]}`). */
const callbackBody = z.union([
  z.object({ data: z.array(z.object({ id: jobId })).min(1) }).transform((v) => v.data[0]!.id),
  z.object({ id: jobId }).transform((v) => v.id),
  z.object({ job_id: jobId }).transform((v) => v.job_id),
]);

/** The job id a callback body names, in JSON or form encoding (each field's value JSON text). */
export function callbackJobId(body: string, contentType: string | undefined): string | undefined {
  const media = contentType?.split(';')[0]?.trim().toLowerCase();
  let value: unknown;
  if (media === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(body);
    const obj: Record<string, unknown> = {};
    for (const [k, v] of form) {
      try {
        obj[k] = JSON.parse(v);
      } catch {
        obj[k] = v;
      }
    }
    value = obj;
  } else {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const r = callbackBody.safeParse(value);
  return r.success ? r.data : undefined;
}

const notFound = (): CallbackAnswer => ({
  status: 404,
  body: { error: { code: 'CALLBACK_NOT_FOUND', message: 'no such callback' } },
});

export async function handleZohoCallback(deps: CallbackDeps, req: CallbackRequest): Promise<CallbackAnswer> {
  const { logger, metrics } = deps.poll;
  const now = deps.poll.now ?? Date.now;
  const reject = async (reason: string, extra: Record<string, unknown> = {}): Promise<CallbackAnswer> => {
    metrics.count('CallbackRejected');
    logger.warn('callback rejected', { reason, source_ip: req.sourceIp, ...extra });
    // Refusals in bulk mean Zoho's own callbacks may be throttled: polling tightens (health.ts).
    await deps.poll.callbackHealth?.rejected().then(
      (degraded) => degraded && logger.warn('callbacks refused in bulk; callbacks deemed degraded'),
      (e: unknown) => logger.warn('callback health not recorded', { error: describeError(e) }),
    );
    return notFound();
  };
  if (Buffer.byteLength(req.body, 'utf8') > MAX_CALLBACK_BYTES) return reject('body too large');
  const check = await deps.verify(req.token);
  if (!check.ok) return reject(check.reason);
  const target = check.target;
  if (!EXPORT_ID_PATTERN.test(target.exportId)) return reject('malformed token');
  const id = callbackJobId(req.body, req.contentType);
  const where = { export_id: target.exportId, page: target.page, token_version: target.version };
  if (!id) return reject('no job id in the body', where);

  const e = await deps.exports.exports.get(target.exportId);
  if (!e) return reject('unknown export', where);
  const recorded = e.page_jobs[target.page - 1];
  let job: JobRecord | undefined;
  if (recorded === id) {
    job = await deps.poll.jobs.get(id);
    if (!job) return reject('job not recorded', { ...where, job_id: id });
    const refused = tokenRefusal(target, job, now(), deps.poll.timing.maxAgeMs);
    if (refused) return reject(refused, { ...where, job_id: id });
  } else {
    // Not recorded yet: the creator died (or lost Zoho's answer) after Zoho made the job. Only a v2
    // token of the intent's current attempt may adopt, and only a job Zoho says is this page's query.
    if (recorded !== undefined) return reject('job id is not this page', { ...where, job_id: id });
    if (target.version !== 2) return reject('a v1 token never adopts a job', { ...where, job_id: id });
    const a = await tryAdoptPageJob(deps.exports, target.exportId, target.page, id, {
      nonce: target.nonce,
      signal: req.signal,
    });
    if (!a.adopted) return reject(`not adopted: ${a.reason}`, { ...where, job_id: id });
    job = await deps.poll.jobs.get(id);
    if (!job) return reject('job not recorded', { ...where, job_id: id });
  }

  metrics.count('CallbackAccepted');
  if (job.status !== 'PENDING') {
    logger.info('callback for a job already past PENDING', { ...where, job_id: id, status: job.status });
    return { status: 200, body: { job_id: id, status: job.status } };
  }
  // Due now, then the normal status check: the body's state and URLs are never used. At most once per
  // check lease: a replayed token costs no more than one status call per lease.
  const made = await deps.poll.jobs.makeDue(job, deps.poll.timing.checkLeaseMs);
  if (made !== 'now') {
    logger.info('callback for a job checked or made due moments ago; no status call now', {
      ...where,
      job_id: id,
      due: made,
    });
    return { status: 200, body: { job_id: id, status: job.status } };
  }
  const due = await deps.poll.jobs.get(id);
  let outcome = 'pending';
  if (due?.status === 'PENDING') {
    try {
      const o = await checkJob(deps.poll, due, {
        limit: pLimit(1),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      outcome = o.kind;
    } catch (err) {
      // Due now: the next poll checks it.
      logger.error('status check after a callback failed; the poller will check', {
        ...where,
        job_id: id,
        error: describeError(err),
      });
    }
  }
  const after = await deps.poll.jobs.get(id);
  logger.info('callback handled', { ...where, job_id: id, outcome, status: after?.status });
  return { status: 200, body: { job_id: id, status: after?.status ?? job.status } };
}

/**
 * Why a verified token may not speak for the recorded job (undefined when it may): a v2 token must
 * carry the nonce the job was created with; a v1 token (made before v2) only for a job created before
 * v2 (it has no nonce), within the maximum job age.
 */
export function tokenRefusal(
  target: CallbackTarget,
  job: JobRecord,
  now: number,
  maxAgeMs: number,
): string | undefined {
  if (target.version === 2) {
    if (job.callback_nonce === undefined) return 'the job was created without a v2 token';
    return job.callback_nonce === target.nonce
      ? undefined
      : 'the token is of another creation attempt of the page';
  }
  if (job.callback_nonce !== undefined) return 'a v1 token for a job created with a v2 token';
  if (now - Date.parse(job.created_at) > maxAgeMs) return 'a v1 token past the maximum job age';
  return undefined;
}
