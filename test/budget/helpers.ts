/** Shared by the download-budget tests: seeding due downloads and reading the fake's download log. */
import { expect } from 'vitest';
import type { JobRecord } from '../../lib/jobs/model.js';
import type { DownloadWindow, JobSpec, RequestLogEntry } from '../../local/fake-zoho/types.js';
import { type Harness, type HarnessStorage, pipelineHarness } from '../support/pipeline.js';

/** A harness on either backend (the helpers use only what both give). */
export type AnyHarness = Harness<HarnessStorage>;

export const MODES: DownloadWindow[] = ['sliding', 'clock-minute'];

/** A harness whose fake Zoho counts downloads in `mode`, its clock `msBeforeMinute` before a minute turns. */
export async function budgetHarness(
  mode: DownloadWindow,
  opts: { msBeforeMinute?: number; config?: Record<string, string>; backend?: 'aws' | 'memory' } = {},
): Promise<AnyHarness> {
  const base = { fake: { downloadWindow: mode }, ...(opts.config ? { config: opts.config } : {}) };
  const h: AnyHarness =
    opts.backend === 'memory'
      ? await pipelineHarness({ ...base, backend: 'memory' })
      : await pipelineHarness(base);
  if (opts.msBeforeMinute !== undefined) {
    const now = h.clock.now();
    const next = Math.ceil((now + 1) / 60_000) * 60_000;
    h.clock.advance(next - now - opts.msBeforeMinute);
  }
  expect(h.fake.options().downloadWindow).toBe(mode);
  return h;
}

/** Seeds `n` small jobs, COMPLETED at Zoho now, and registers them: `n` downloads due at once. */
export async function dueDownloads(h: AnyHarness, n: number, spec: JobSpec = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = h.fake.addJob({ module: 'Leads', totalRecords: 20 + (i % 7), ...spec });
    h.fake.completeNow(s.id);
    await h.register(s.id);
    ids.push(s.id);
  }
  return ids;
}

export const downloads = (h: AnyHarness): RequestLogEntry[] =>
  h.fake.requests.filter((r) => r.kind === 'download');

/** Most entries in any window of `windowMs` (a sliding count over sorted times). */
export function maxInWindow(times: number[], windowMs = 60_000): number {
  const s = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i]! - s[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** Most entries in one UTC clock minute. */
export function maxInClockMinute(times: number[]): number {
  const per = new Map<number, number>();
  for (const t of times) per.set(Math.floor(t / 60_000), (per.get(Math.floor(t / 60_000)) ?? 0) + 1);
  return Math.max(0, ...per.values());
}

/** Every job EXPORTED with exactly Zoho's bytes; none FAILED; a wait for a slot never counted as an attempt. */
export async function expectAllExact(h: AnyHarness, jobs: JobRecord[], n: number): Promise<void> {
  expect(jobs).toHaveLength(n);
  expect(jobs.filter((j) => j.status === 'FAILED').map((j) => j.error)).toEqual([]);
  for (const j of jobs) await h.expectExportedExactly(j);
}

/**
 * Drives the harness the way SQS would deliver the deferred downloads: after each poll and delivery the
 * clock jumps to the next delayed message (plus `lateMs(i)` of delivery lateness; at most `maxStepMs`
 * at a time), until every job is EXPORTED or FAILED. Returns the jobs.
 */
export async function drive(
  h: AnyHarness,
  opts: {
    lateMs?: (step: number) => number;
    maxStepMs?: number;
    maxSteps?: number;
    /** Runs after each step's poll and delivery (e.g. to inject a fault). */
    afterStep?: (step: number) => void;
  } = {},
): Promise<JobRecord[]> {
  const pending: number[] = [];
  const dispatch = h.downloadDeps.dispatch;
  h.downloadDeps.dispatch = async (msg, delayMs = 0) => {
    if (delayMs > 0) pending.push(h.clock.now() + delayMs);
    return dispatch(msg, delayMs);
  };
  try {
    for (let step = 0; step < (opts.maxSteps ?? 400); step++) {
      await h.poll();
      await h.deliver();
      opts.afterStep?.(step);
      const jobs = await h.allJobs();
      if (jobs.every((j) => j.status === 'EXPORTED' || j.status === 'FAILED')) return jobs;
      const now = h.clock.now();
      const future = pending.filter((t) => t > now);
      pending.splice(0, pending.length, ...future);
      const next = future.length ? Math.min(...future) - now : 5_000;
      h.clock.advance(Math.min(opts.maxStepMs ?? 60_000, next + (opts.lateMs?.(step) ?? 0)));
    }
    throw new Error('downloads still unfinished');
  } finally {
    h.downloadDeps.dispatch = dispatch;
  }
}
