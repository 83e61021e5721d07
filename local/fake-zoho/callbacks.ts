/**
 * Callbacks: when a job with a callback URL reaches COMPLETED or FAILURE, POST the job details
 * (`{"data":[JobDetail]}`, exactly what the status endpoint answers at that moment) to the URL, with no
 * auth headers. Retried on any non-2xx answer or network error, `callbackAttempts` times in all.
 *
 * Zoho documents no content type for the callback. Two encodings are offered:
 *   json  (default) Content-Type: application/json, the body is the JSON text
 *   form  Content-Type: application/x-www-form-urlencoded; each top-level key of the body is a field
 *         whose value is its JSON text, i.e. `data=<url-encoded JSON array>`
 *
 * With a real clock a timer fires the callback at the completion time; with a fake clock the callback
 * fires on the first request (or clock move, or setState) that finds the job terminal.
 */
import { completedAt, jobDetail, stateOf } from './jobs.js';
import type { Runtime } from './state.js';
import type { CallbackEncoding, CallbackLogEntry } from './types.js';

export function encodeCallback(
  body: Record<string, unknown>,
  encoding: CallbackEncoding,
): { contentType: string; text: string } {
  if (encoding === 'form') {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) form.set(k, JSON.stringify(v));
    return { contentType: 'application/x-www-form-urlencoded', text: form.toString() };
  }
  return { contentType: 'application/json', text: JSON.stringify(body) };
}

function later(rt: Runtime, ms: number, fn: () => void): void {
  const t = setTimeout(() => {
    rt.timers.delete(t);
    fn();
  }, ms);
  t.unref();
  rt.timers.add(t);
}

/** Arms a timer for a job's completion (real-clock runs). */
export function scheduleCallback(rt: Runtime, jobId: string): void {
  const job = rt.jobs.get(jobId);
  if (!job?.callbackUrl || job.callbackFired) return;
  const delay = Math.max(0, completedAt(job) - rt.now());
  // Timers cannot wait longer than ~24.8 days; a later completion is caught by checkCallbacks.
  if (delay < 2 ** 31 - 100) later(rt, delay + 5, () => maybeFireCallback(rt, jobId));
}

/** Fires every callback that is due (called on each request and clock move). */
export function checkCallbacks(rt: Runtime): void {
  for (const id of rt.pendingCallbacks) maybeFireCallback(rt, id);
}

export function maybeFireCallback(rt: Runtime, jobId: string): void {
  const job = rt.jobs.get(jobId);
  if (rt.closed || !job?.callbackUrl || job.callbackFired) {
    rt.pendingCallbacks.delete(jobId);
    return;
  }
  const state = stateOf(rt, job);
  if (state !== 'COMPLETED' && state !== 'FAILURE') return;
  job.callbackFired = true;
  rt.pendingCallbacks.delete(jobId);
  rt.changed('jobs');
  const url = job.callbackUrl;
  const attempt = async (n: number): Promise<void> => {
    const { contentType, text } = encodeCallback({ data: [jobDetail(rt, job)] }, rt.opts.callbackEncoding);
    const entry: CallbackLogEntry = { jobId: job.id, url, attempt: n, contentType, at: rt.now() };
    rt.callbacks.push(entry);
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: text });
      entry.status = r.status;
      await r.arrayBuffer().catch(() => undefined);
      if (r.ok) return;
    } catch (err) {
      entry.error = (err as Error).message;
    }
    if (n < rt.opts.callbackAttempts && !rt.closed)
      later(rt, rt.opts.callbackRetryDelayMs, () => void attempt(n + 1));
  };
  void attempt(1);
}
