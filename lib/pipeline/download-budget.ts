/**
 * Zoho allows 10 result downloads a minute per org, then answers 429 and refuses every download for a
 * minute. Zoho does not say whether "a minute" is a clock minute or the last 60 seconds, so this budget
 * keeps the stricter promise, which is safe under both readings: at most `perMinute` download starts in
 * **any** 60-second interval, and none at all before a recorded lock ends.
 *
 * One item in the state table holds the recent download starts (past and reserved) and the lock; every
 * change is a compare-and-set on its version, so any number of downloaders share it and two racing for
 * the last slot cannot both win. A downloader that finds no free slot gets a **reservation**: the
 * earliest time its start is allowed, recorded in the item so that later callers queue behind it
 * (first come, first served). It comes back at that time and starts without asking again; a
 * reservation not used within `slackMs` of its time is void. A reservation carries a random token,
 * so only its holder can use it: a lock voids it, and a later reservation at the same time is not
 * mistaken for it.
 *
 * Each entry is the interval in which its download can start (`[t, t]` for a start now, `[at, at +
 * slack]` for a reservation). Entries stay in ascending order, and a new one never begins before the
 * last one begins, nor before the end of the `perMinute`-th last one plus the window: then any
 * `perMinute + 1` real starts span more than 60 s, whether each came on time or late.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Table } from '../ddb/table.js';
import { VersionedItemStore } from '../ddb/versioned.js';
import { CodedError } from '../errors.js';

const KEY = { pk: 'download-budget' };
/** Zoho's window plus a margin for clock skew between machines and request latency. */
export const WINDOW_MS = 60_000 + 500;
/** After a download 429, nothing starts before the 429's time plus this. */
export const LOCK_MS = 60_000 + 2_000;

interface BudgetItem {
  pk: string;
  version?: number;
  /** `[earliest, latest, token?]` start of recent and reserved downloads (epoch ms, ascending). */
  slots?: Slot[];
  lock_until?: number;
  expires_at?: number;
}
/** A start (`[t, t]`) or a reservation (`[at, at + slack, token]`). */
type Slot = [number, number] | [number, number, string];
const ms = z.number().finite();
const budgetItem: z.ZodType<BudgetItem> = z.looseObject({
  pk: z.literal(KEY.pk),
  version: z.number().int().nonnegative().optional(),
  slots: z.array(z.union([z.tuple([ms, ms]), z.tuple([ms, ms, z.string()])])).optional(),
  lock_until: ms.optional(),
  expires_at: ms.optional(),
});
type BudgetState = Required<Pick<BudgetItem, 'slots'>> & Pick<BudgetItem, 'lock_until'>;

export type SlotDecision =
  /** Start now. */
  | { ok: true }
  /** Come back at `at` and pass this to `take` again; the reservation holds until `at + slackMs`. */
  | { ok: false; at: number; token: string };

/** A reservation `take` handed out. */
export interface Reservation {
  at: number;
  token: string;
}

export interface DownloadBudgetOptions {
  perMinute: number;
  /** How late a reservation may still be used (default 2 s). */
  slackMs?: number;
  now?: () => number;
  /** Compare-and-set attempts before giving up (default 25). */
  maxAttempts?: number;
}

/** The budget's compare-and-set kept losing to other downloaders: busy right now, not wrong. */
export class BudgetContentionError extends CodedError {
  override readonly name = 'BudgetContentionError';
  constructor(message: string) {
    super({ code: 'BUDGET_CONTENTION', kind: 'retryable', message });
  }
}

export class DownloadBudget {
  readonly perMinute: number;
  readonly slackMs: number;
  private readonly now: () => number;
  private readonly item: VersionedItemStore<BudgetItem>;

  constructor(table: Table, opts: DownloadBudgetOptions) {
    this.perMinute = opts.perMinute;
    this.slackMs = opts.slackMs ?? 2_000;
    this.now = opts.now ?? Date.now;
    this.item = new VersionedItemStore(
      table,
      KEY,
      budgetItem,
      { pk: KEY.pk },
      {
        maxAttempts: opts.maxAttempts ?? 25,
        busy: () =>
          new BudgetContentionError('the shared download budget is too contended right now; try again'),
      },
    );
  }

  /**
   * Asks to start a download now. `reservation` is one this caller was given before: from its time
   * until `at + slackMs` it starts without taking another slot (unless a lock voided it meanwhile).
   */
  take(reservation?: Reservation): Promise<SlotDecision> {
    const token = randomBytes(9).toString('base64url');
    return this.change<SlotDecision>((s, now) => {
      const lock = s.lock_until ?? 0;
      const mine =
        reservation !== undefined &&
        s.slots.some(([e, , t]) => e === reservation.at && t === reservation.token);
      if (mine && lock <= now) {
        if (now < reservation.at) return { result: { ok: false, ...reservation } };
        if (now <= reservation.at + this.slackMs) return { result: { ok: true } };
      }
      const slots = s.slots.filter(([, l]) => l > now - WINDOW_MS);
      let at = Math.max(now, lock);
      const last = slots[slots.length - 1];
      if (last) at = Math.max(at, last[0]);
      const nth = slots.length >= this.perMinute ? slots[slots.length - this.perMinute] : undefined;
      if (nth) at = Math.max(at, nth[1] + WINDOW_MS);
      if (at <= now) return { next: { ...s, slots: [...slots, [now, now]] }, result: { ok: true } };
      return {
        next: { ...s, slots: [...slots, [at, at + this.slackMs, token]] },
        result: { ok: false, at, token },
      };
    });
  }

  /**
   * After a Zoho download 429 at `at`: nobody starts a download before `at + LOCK_MS`. Reservations
   * inside the lock are void; their holders queue again after it.
   */
  lock(at: number = this.now()): Promise<number> {
    return this.change<number>((s, now) => {
      const until = Math.max(s.lock_until ?? 0, at + LOCK_MS);
      if (until === s.lock_until) return { result: until };
      return { next: { slots: s.slots.filter(([e]) => e <= now), lock_until: until }, result: until };
    });
  }

  /** The end of the current lock, if any. */
  async lockedUntil(): Promise<number | undefined> {
    const l = (await this.read()).lock_until;
    return l !== undefined && l > this.now() ? l : undefined;
  }

  private read(): Promise<BudgetItem> {
    return this.item.read();
  }

  /** Read, decide, compare-and-set; again on a lost race (lib/ddb/versioned.ts). */
  private change<T>(step: (s: BudgetState, now: number) => { next?: BudgetState; result: T }): Promise<T> {
    return this.item.change((item) => {
      const now = this.now();
      const { next, result } = step({ slots: item.slots ?? [], lock_until: item.lock_until }, now);
      if (!next) return { result };
      const horizon = Math.max(now, next.lock_until ?? 0, next.slots[next.slots.length - 1]?.[1] ?? 0);
      return {
        result,
        set: {
          slots: next.slots,
          lock_until: next.lock_until,
          expires_at: Math.floor(horizon / 1000) + 3600,
        },
      };
    });
  }
}
