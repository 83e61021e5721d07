/**
 * `--watch`: polls an export (and the job of its current page, for Zoho's state) until it ends.
 * On a terminal a live view (cli-progress: records against Zoho's count when known, pages, bytes,
 * the current page's Zoho state, elapsed time); otherwise one line per change. Both go to stderr, so
 * stdout keeps only the result. Transient trouble (network, 5xx, 429) is retried a few times.
 */
import { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { ApiClient } from './client.js';
import { ApiError, type CliError, NetworkError } from './errors.js';
import { bytes, duration, num } from './format.js';
import type { ApiExport, ApiJob } from './types.js';

export interface Snapshot {
  id: string;
  module: string | null;
  status: string;
  pagesDone: number;
  pagesTotal: number;
  records: number;
  bytes: number;
  /** The sum of Zoho's counts of the pages Zoho has finished (null while none is known). */
  recordsKnown: number | null;
  /** The page being worked on, its job status and Zoho's state. */
  current: { page: number; jobId: string; status: string; zohoState: string | null } | null;
  startedAt: number;
  /** When it ended (COMPLETED/FAILED), for the elapsed time. */
  endedAt?: number;
}

export interface Renderer {
  update(s: Snapshot): void;
  note(line: string): void;
  stop(): void;
}

export interface Stream {
  write(s: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/**
 * A `Stream` as the Node writable cli-progress asks for: writes go straight through (synchronously:
 * strings are not decoded), and `isTTY` and `columns` are the stream's own at each read (a resize).
 */
export class ProgressStream extends Writable {
  constructor(private readonly out: Stream) {
    super({ decodeStrings: false });
  }
  override _write(chunk: unknown, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.out.write(String(chunk));
    done();
  }
  get isTTY(): boolean | undefined {
    return this.out.isTTY;
  }
  get columns(): number | undefined {
    return this.out.columns;
  }
}

export interface WatchOptions {
  intervalMs: number;
  renderer: Renderer;
  signal?: AbortSignal;
  /** Consecutive transient failures tolerated before giving up (exit 3). */
  maxFailures?: number;
}

export class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

/** Waits `ms`, or rejects with Interrupted when `signal` aborts (Ctrl-C). */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new Interrupted('interrupted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Interrupted('interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** A failure worth another poll: the network, a 5xx or a 429. */
export const transient = (e: unknown): boolean =>
  e instanceof NetworkError || (e instanceof ApiError && (e.status >= 500 || e.status === 429));

function snapshotOf(e: ApiExport, job: ApiJob | undefined, startedAt: number): Snapshot {
  const done = e.pages.filter((p) => p.status === 'EXPORTED').length;
  const counted = e.pages.filter((p) => p.records !== null);
  const current = [...e.pages].reverse().find((p) => p.status !== 'EXPORTED' && p.status !== 'FAILED');
  return {
    id: e.export_id,
    module: e.module,
    status: e.status,
    pagesDone: done,
    pagesTotal: e.pages.length,
    records: e.records,
    bytes: e.bytes,
    recordsKnown: counted.length ? counted.reduce((n, p) => n + (p.records ?? 0), 0) : null,
    current: current
      ? {
          page: current.page,
          jobId: current.job_id,
          status: current.status,
          zohoState: job && job.job_id === current.job_id ? job.zoho_state : null,
        }
      : null,
    startedAt,
    ...(e.status !== 'RUNNING' ? { endedAt: Date.parse(e.completed_at ?? e.updated_at) || Date.now() } : {}),
  };
}

/** Polls `GET /exports/{id}` until the export is COMPLETED or FAILED; returns it. */
export async function watchExport(client: ApiClient, id: string, o: WatchOptions): Promise<ApiExport> {
  const maxFailures = o.maxFailures ?? 6;
  let failures = 0;
  let job: ApiJob | undefined;
  let startedAt: number | undefined;
  try {
    for (;;) {
      let exp: ApiExport;
      try {
        exp = await client.get<ApiExport>(`/exports/${encodeURIComponent(id)}`);
        failures = 0;
      } catch (e) {
        if (!transient(e) || ++failures > maxFailures) throw e;
        o.renderer.note(`retrying (${failures}/${maxFailures}): ${(e as CliError).message}`);
        await sleep(Math.min(o.intervalMs * 2 ** failures, 30_000), o.signal);
        continue;
      }
      startedAt ??= Date.parse(exp.created_at) || Date.now();
      const current = [...exp.pages].reverse().find((p) => p.status !== 'EXPORTED' && p.status !== 'FAILED');
      if (current && exp.status === 'RUNNING') {
        // Zoho's state of the page being worked on: the export does not carry it.
        job = await client.get<ApiJob>(`/jobs/${encodeURIComponent(current.job_id)}`).catch((e) => {
          if (transient(e)) return job;
          throw e;
        });
      }
      o.renderer.update(snapshotOf(exp, job, startedAt));
      if (exp.status !== 'RUNNING') return exp;
      await sleep(o.intervalMs, o.signal);
    }
  } finally {
    o.renderer.stop();
  }
}

/** Polls `GET /jobs/{id}` until EXPORTED or FAILED (a job that belongs to no export). */
export async function watchJob(client: ApiClient, id: string, o: WatchOptions): Promise<ApiJob> {
  const maxFailures = o.maxFailures ?? 6;
  let failures = 0;
  try {
    for (;;) {
      let j: ApiJob;
      try {
        j = await client.get<ApiJob>(`/jobs/${encodeURIComponent(id)}`);
        failures = 0;
      } catch (e) {
        if (!transient(e) || ++failures > maxFailures) throw e;
        o.renderer.note(`retrying (${failures}/${maxFailures}): ${(e as CliError).message}`);
        await sleep(Math.min(o.intervalMs * 2 ** failures, 30_000), o.signal);
        continue;
      }
      const finished = j.status === 'EXPORTED' || j.status === 'FAILED';
      o.renderer.update({
        id: j.job_id,
        module: j.module,
        status: j.status,
        pagesDone: j.status === 'EXPORTED' ? 1 : 0,
        pagesTotal: 1,
        records: j.status === 'EXPORTED' ? (j.records ?? 0) : 0,
        bytes: j.s3?.bytes ?? 0,
        recordsKnown: j.records,
        current: finished
          ? null
          : { page: j.page ?? 1, jobId: j.job_id, status: j.status, zohoState: j.zoho_state },
        startedAt: Date.parse(j.created_at) || Date.now(),
        ...(finished ? { endedAt: Date.parse(j.updated_at) || Date.now() } : {}),
      });
      if (finished) return j;
      await sleep(o.intervalMs, o.signal);
    }
  } finally {
    o.renderer.stop();
  }
}

// ------------------------------------------------------------------------------------ renderers

const currentText = (s: Snapshot): string => {
  if (!s.current) return s.status === 'RUNNING' ? 'finishing (manifest)' : '';
  const zoho = s.current.zohoState ? `Zoho ${s.current.zohoState}` : 'Zoho -';
  return `page ${s.current.page}: ${zoho}, ${s.current.status}`;
};

const recordsText = (s: Snapshot): string =>
  s.recordsKnown === null
    ? `${num(s.records)} records (Zoho's count not known yet)`
    : `${num(s.records)}/${num(s.recordsKnown)} records`;

/** One line per change (no terminal): what a log or CI shows. */
export function lineRenderer(out: Stream, now: () => number = Date.now): Renderer {
  let last = '';
  return {
    update(s) {
      const text = [
        s.status,
        `pages ${s.pagesDone}/${s.pagesTotal} done`,
        recordsText(s),
        bytes(s.bytes),
        currentText(s),
      ]
        .filter(Boolean)
        .join(', ');
      if (text === last) return;
      last = text;
      out.write(
        `[${duration((s.endedAt ?? now()) - s.startedAt)}] ${s.id} ${s.module ?? ''} ${text}\n`.replace(
          / {2,}/g,
          ' ',
        ),
      );
    },
    note(line) {
      out.write(`${line}\n`);
    },
    stop() {},
  };
}

const BAR_WIDTH = 30;

function bar(value: number, total: number | null): string {
  if (!total) return `[${'░'.repeat(BAR_WIDTH)}]`;
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round((value / total) * BAR_WIDTH)));
  return `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}]`;
}

/** The live view on a terminal: three lines redrawn in place by cli-progress. */
export function liveRenderer(out: Stream): Renderer {
  let snap: Snapshot | undefined;
  const multi = new cliProgress.MultiBar({
    stream: new ProgressStream(out),
    hideCursor: true,
    clearOnComplete: false,
    gracefulExit: false,
    linewrap: false,
    fps: 5,
    format: (_o, _p, payload: { line: (s: Snapshot) => string }) => (snap ? payload.line(snap) : ''),
  });
  const lines: Array<(s: Snapshot) => string> = [
    (s) =>
      `${s.id}  ${s.module ?? ''}  ${s.status}  elapsed ${duration((s.endedAt ?? Date.now()) - s.startedAt)}`,
    (s) => {
      const pct = s.recordsKnown ? ` ${Math.floor((100 * s.records) / s.recordsKnown)}%` : '';
      return `records ${bar(s.records, s.recordsKnown)} ${recordsText(s)}${pct}`;
    },
    (s) =>
      `pages ${s.pagesDone}/${s.pagesTotal} done, ${bytes(s.bytes)} landed${s.current || s.status === 'RUNNING' ? `, ${currentText(s)}` : ''}`,
  ];
  let started = false;
  const bars: cliProgress.SingleBar[] = [];
  return {
    update(s) {
      snap = s;
      if (!started) {
        for (const line of lines) bars.push(multi.create(1, 0, { line }));
        started = true;
      }
      for (const b of bars) b.update(0);
    },
    note(line) {
      multi.log(`${line}\n`);
    },
    stop() {
      if (started) multi.stop();
    },
  };
}
