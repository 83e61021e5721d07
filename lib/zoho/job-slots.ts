/**
 * The cap on Zoho Bulk Read jobs in flight (`ZOHO_MAX_CONCURRENT_JOBS`): a counting semaphore in one
 * item of the state table, shared by every function that creates jobs. Zoho counts API concurrency
 * per user and OAuth client, and all our functions share one refresh token, so the cap is global.
 *
 * - `acquire` takes a slot before a create (`withJobSlots` wraps the Zoho client's `createJob`, the one
 *   call every creator goes through). None free: the create is refused here exactly as Zoho's
 *   TOO_MANY_REQUESTS is (a retryable ZohoError, `ZOHO_JOB_SLOTS_FULL`), so each call site keeps its
 *   contract: the sweep retries a wanted page with backoff, `POST /exports` answers 503 with Retry-After.
 * - A created job is bound to its slot (`bind`); a create Zoho refused releases it at once. A create
 *   whose outcome is unknown (no answer) keeps its slot until the slot's lease ends: Zoho may have made it.
 * - `releaseJob` frees the slot when the job leaves ADDED/IN PROGRESS: the status check that records
 *   COMPLETED, FAILURE or expiry (lib/pipeline/poll.ts).
 * - Nothing is held for ever: every slot has an end (`until`: the create's lease, then the job's maximum
 *   age), and `reclaim` (each poller tick) frees the slots of jobs no longer PENDING here, or never
 *   recorded (their creator died).
 *
 * Every change is a compare-and-set on the item's version, retried a bounded number of times with
 * jitter; two callers racing for the last slot cannot both win.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import type { Table } from '../ddb/table.js';
import { VersionedItemStore } from '../ddb/versioned.js';
import { isUncertainCreate } from '../jobs/retry.js';
import { describeError, type MetricsSink } from '../observability.js';
import type { ZohoClient } from './client.js';
import { ZohoError } from './errors.js';

const KEY = { pk: 'zoho-job-slots' };
/** How long a slot taken for a create is held before the job is bound to it (a create takes <= 30 s). */
export const CREATE_LEASE_MS = 2 * 60_000;
/** A bound slot whose job has no record this long after its create was leaked (its creator died). */
export const UNRECORDED_GRACE_MS = 5 * 60_000;
/** Slots refused: every one is held (the cap); contention: the item kept changing under us. */
export const JOB_SLOTS_FULL = 'ZOHO_JOB_SLOTS_FULL';
export const JOB_SLOTS_BUSY = 'ZOHO_JOB_SLOTS_BUSY';

export interface JobSlot {
  /** The holder's random id. */
  id: string;
  /** The Zoho job, once created. */
  job?: string | undefined;
  /** When the slot was taken, or bound to its job (epoch ms). */
  since: number;
  /** When the slot frees itself whatever happened (epoch ms). */
  until: number;
}
interface SlotsItem {
  pk: string;
  version?: number | undefined;
  slots?: JobSlot[] | undefined;
  expires_at?: number | undefined;
}
const ms = z.number().finite();
const slotsItem: z.ZodType<SlotsItem> = z.looseObject({
  pk: z.literal(KEY.pk),
  version: z.number().int().nonnegative().optional(),
  slots: z
    .array(z.object({ id: z.string().min(1), job: z.string().optional(), since: ms, until: ms }))
    .optional(),
  expires_at: ms.optional(),
});

export interface JobSlotsOptions {
  /** Jobs allowed at once (`ZOHO_MAX_CONCURRENT_JOBS`). */
  cap: number;
  /** How long a bound slot may be held at most: a job's maximum age, plus a margin. */
  jobLeaseMs: number;
  now?: () => number;
  /** Compare-and-set attempts before giving up (default 25). */
  maxAttempts?: number;
}

/** Every slot is held: not a failure, a wait (the caller treats it as Zoho's TOO_MANY_REQUESTS). */
export const slotsFull = (cap: number): ZohoError =>
  new ZohoError({
    code: JOB_SLOTS_FULL,
    kind: 'retryable',
    message: `all ${cap} Zoho job slots are taken (ZOHO_MAX_CONCURRENT_JOBS); the job is created when one frees`,
  });

const slotsBusy = (): ZohoError =>
  new ZohoError({
    code: JOB_SLOTS_BUSY,
    kind: 'retryable',
    message: 'the Zoho job slots are too contended right now; the create is tried again later',
  });

export class JobSlots {
  readonly cap: number;
  private readonly jobLeaseMs: number;
  private readonly now: () => number;
  private readonly item: VersionedItemStore<SlotsItem>;

  constructor(table: Table, opts: JobSlotsOptions) {
    this.cap = opts.cap;
    this.jobLeaseMs = opts.jobLeaseMs;
    this.now = opts.now ?? Date.now;
    const attempts = { maxAttempts: opts.maxAttempts ?? 25, busy: slotsBusy };
    this.item = new VersionedItemStore(table, KEY, slotsItem, { pk: KEY.pk }, attempts);
  }

  /** Takes a slot for one create: its id, or undefined when all `cap` are held. */
  acquire(): Promise<string | undefined> {
    const id = randomBytes(9).toString('base64url');
    return this.change((live, now) =>
      live.length >= this.cap
        ? { result: undefined }
        : { next: [...live, { id, since: now, until: now + CREATE_LEASE_MS }], result: id },
    );
  }

  /** The slot `id` now holds Zoho job `jobId` until the job ends (at most the job lease). */
  bind(id: string, jobId: string): Promise<boolean> {
    return this.change((live, now) => {
      if (!live.some((s) => s.id === id)) return { result: false };
      const next = live.map((s) =>
        s.id === id ? { id, job: jobId, since: now, until: now + this.jobLeaseMs } : s,
      );
      return { next, result: true };
    });
  }

  /** Frees slot `id` (a create Zoho refused). False if it was not held. */
  release(id: string): Promise<boolean> {
    return this.drop((s) => s.id === id);
  }

  /** Frees the slot of Zoho job `jobId` (it left ADDED/IN PROGRESS). False if none held it. */
  releaseJob(jobId: string): Promise<boolean> {
    return this.drop((s) => s.job === jobId);
  }

  /** The slots held now (expired ones left out). */
  async held(): Promise<JobSlot[]> {
    const now = this.now();
    return ((await this.read()).slots ?? []).filter((s) => s.until > now);
  }

  /**
   * Frees the slots whose job is no longer active here (`active(jobId)` false: finished, failed,
   * replaced, or never recorded) once bound for `UNRECORDED_GRACE_MS`. Returns how many were freed.
   */
  async reclaim(active: (jobId: string) => Promise<boolean>): Promise<number> {
    const now = this.now();
    const dead = new Set<string>();
    for (const s of await this.held()) {
      if (s.job !== undefined && now - s.since >= UNRECORDED_GRACE_MS && !(await active(s.job)))
        dead.add(s.id);
    }
    if (!dead.size) return 0;
    return this.change((live) => {
      const next = live.filter((s) => !dead.has(s.id));
      return next.length === live.length ? { result: 0 } : { next, result: live.length - next.length };
    });
  }

  private drop(match: (s: JobSlot) => boolean): Promise<boolean> {
    return this.change((live) => {
      const next = live.filter((s) => !match(s));
      return next.length === live.length ? { result: false } : { next, result: true };
    });
  }

  private read(): Promise<SlotsItem> {
    return this.item.read();
  }

  /** Read, decide on the live slots, compare-and-set; again on a lost race (lib/ddb/versioned.ts). */
  private change<T>(step: (live: JobSlot[], now: number) => { next?: JobSlot[]; result: T }): Promise<T> {
    return this.item.change((item) => {
      const now = this.now();
      const live = (item.slots ?? []).filter((s) => s.until > now);
      const { next, result } = step(live, now);
      if (!next) return { result };
      const horizon = Math.max(now, ...next.map((s) => s.until));
      return {
        result,
        set: {
          slots: next.map((s) => (s.job === undefined ? { id: s.id, since: s.since, until: s.until } : s)),
          expires_at: Math.floor(horizon / 1000) + 3600,
        },
      };
    });
  }
}

/**
 * The Zoho client whose `createJob` holds a slot: taken before the request, bound to the job Zoho
 * made, released at once when Zoho refused (or the request never left). An answer that never came
 * keeps the slot until its lease ends. Slots full: `ZohoJobSlotsFull` counted, the create refused.
 */
export function withJobSlots(
  zoho: ZohoClient,
  slots: JobSlots,
  obs: { metrics: MetricsSink; logger: Logger },
): ZohoClient {
  const quiet = (what: string, p: Promise<unknown>): Promise<unknown> =>
    p.catch((e) =>
      obs.logger.warn(`Zoho job slot not ${what}; it frees itself when its lease ends`, {
        error: describeError(e),
      }),
    );
  return {
    apiVersion: zoho.apiVersion,
    getJob: (jobId, opts) => zoho.getJob(jobId, opts),
    getFields: (module, opts) => zoho.getFields(module, opts),
    listModules: (opts) => zoho.listModules(opts),
    downloadResult: (url, opts) => zoho.downloadResult(url, opts),
    getDeletedRecords: (module, opts) => zoho.getDeletedRecords(module, opts),
    async createJob(query, opts) {
      const id = await slots.acquire();
      if (id === undefined) {
        obs.metrics.count('ZohoJobSlotsFull');
        obs.logger.info('Zoho job slots full; the create waits', { cap: slots.cap });
        throw slotsFull(slots.cap);
      }
      let created: Awaited<ReturnType<ZohoClient['createJob']>>;
      try {
        created = await zoho.createJob(query, opts);
      } catch (e) {
        if (!isUncertainCreate(e)) await quiet('released', slots.release(id));
        throw e;
      }
      await quiet('bound', slots.bind(id, created.id));
      return created;
    },
  };
}

/** Frees job `jobId`'s slot (it left ADDED/IN PROGRESS); a failure is logged, the slot's lease or `reclaim` frees it. */
export async function freeJobSlot(slots: JobSlots | undefined, jobId: string, logger: Logger): Promise<void> {
  if (!slots) return;
  try {
    await slots.releaseJob(jobId);
  } catch (e) {
    logger.warn('Zoho job slot not released; the poller reclaims it', {
      job_id: jobId,
      error: describeError(e),
    });
  }
}

/**
 * The poller's reclaim: frees the slots of jobs that are no longer PENDING here (or were never
 * recorded: their creator died). Never the tick's failure.
 */
export async function reclaimJobSlots(
  slots: JobSlots | undefined,
  jobs: { get(jobId: string): Promise<{ status: string } | undefined> },
  logger: Logger,
): Promise<number> {
  if (!slots) return 0;
  try {
    const freed = await slots.reclaim(async (jobId) => (await jobs.get(jobId))?.status === 'PENDING');
    if (freed) logger.warn('Zoho job slots reclaimed (their jobs ended without releasing them)', { freed });
    return freed;
  } catch (e) {
    logger.warn('Zoho job slots not reclaimed this tick', { error: describeError(e) });
    return 0;
  }
}
