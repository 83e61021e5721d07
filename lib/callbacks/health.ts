/**
 * Whether Zoho's callbacks can be relied on right now. The callback route's throttle is shared by
 * Zoho's real callbacks and anyone else's, so a flood of forged callbacks gets Zoho's real ones
 * throttled (429) or lost, and a job created with a callback URL is polled only as a fallback (backoff
 * up to CALLBACK_BACKOFF_CAP_FACTOR poll intervals). Throttled requests never reach the function, so
 * callbacks are deemed *degraded* for `DEGRADED_MS` on either sign the function can see:
 *
 * - more than `REJECTIONS_PER_MINUTE` callbacks refused in one clock minute (a flood that fills the
 *   throttle is mostly refused callbacks);
 * - the poller found a job COMPLETED whose callback never came (lost, throttled or misrouted).
 *
 * While degraded, jobs with a callback are polled like every job but with a cap of two poll intervals
 * (lib/pipeline/poll.ts), and the jobs already waiting longer are pulled in once per degraded period:
 * so no export waits more than two poll intervals longer than polling alone would take.
 *
 * The state is two small items in the state table (safe to lose: losing it only ends a degraded
 * period early): a per-minute rejection counter (TTL) and `callbacks_degraded_until`.
 */
import { and, eq, exists, lt, missing, ne, or } from '../ddb/expr.js';
import type { Table } from '../ddb/table.js';

/** Refused callbacks in one clock minute above which callbacks are deemed degraded. */
export const REJECTIONS_PER_MINUTE = 30;
/** How long callbacks stay degraded after the last sign (extended while signs keep coming). */
export const DEGRADED_MS = 15 * 60_000;
/** How long a reader trusts what it read of the state (one read per poller tick or so). */
const CACHE_MS = 10_000;

const HEALTH = { pk: 'callback-health' };
const rejectionsKey = (minute: number) => ({ pk: `callback-rejections#${minute}` });

/** The state of a degraded period (as stored). */
export interface DegradedState {
  until: number;
  /** When this period began: the poller pulls in the waiting jobs once per period. */
  since: number;
  /** The period whose waiting jobs were pulled in already (`since` of it). */
  pulledIn?: number;
}

export class CallbackHealth {
  private cached: { at: number; state: DegradedState | undefined } | undefined;

  constructor(
    private readonly table: Table,
    private readonly now: () => number = Date.now,
    private readonly opts: { rejectionsPerMinute?: number; degradedMs?: number } = {},
  ) {}

  private async read(): Promise<DegradedState | undefined> {
    const item = await this.table.get(HEALTH);
    const until = item?.callbacks_degraded_until;
    const since = item?.callbacks_degraded_since;
    const pulledIn = item?.callbacks_pulled_in;
    if (typeof until !== 'number' || typeof since !== 'number') return undefined;
    return { until, since, ...(typeof pulledIn === 'number' ? { pulledIn } : {}) };
  }

  /** The current degraded period, if callbacks are degraded now (cached for a few seconds). */
  async degraded(): Promise<DegradedState | undefined> {
    const now = this.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) this.cached = { at: now, state: await this.read() };
    const s = this.cached.state;
    return s && s.until > now ? s : undefined;
  }

  /**
   * Callbacks are degraded from now for `DEGRADED_MS`. A period still running is extended (at most once a minute); a new one starts otherwise. True when written.
   */
  async degrade(): Promise<boolean> {
    const now = this.now();
    const window = this.opts.degradedMs ?? DEGRADED_MS;
    const until = now + window;
    // A new period (none, or the last one is over).
    const started = await this.table.update(
      HEALTH,
      {
        set: {
          callbacks_degraded_until: until,
          callbacks_degraded_since: now,
          expires_at: secs(until) + 86_400,
        },
      },
      or(missing('callbacks_degraded_until'), lt('callbacks_degraded_until', now)),
    );
    if (started) {
      this.cached = undefined;
      return true;
    }
    const extended = await this.table.update(
      HEALTH,
      { set: { callbacks_degraded_until: until, expires_at: secs(until) + 86_400 } },
      and(exists('callbacks_degraded_until'), lt('callbacks_degraded_until', until - 60_000)),
    );
    this.cached = undefined;
    return extended !== false;
  }

  /** A callback was refused: counted in this minute's counter; past the threshold, callbacks are degraded. */
  async rejected(): Promise<boolean> {
    const now = this.now();
    const minute = Math.floor(now / 60_000);
    const item = await this.table.update(rejectionsKey(minute), {
      set: { expires_at: secs(now) + 3_600 },
      add: { count: 1 },
    });
    const count = item === false ? 0 : Number(item.count ?? 0);
    // Once past the threshold, a write a minute is enough (`degrade` extends at most once a minute).
    if (count > (this.opts.rejectionsPerMinute ?? REJECTIONS_PER_MINUTE)) return this.degrade();
    return false;
  }

  /**
   * Claims the pull-in of the jobs waiting longer than the degraded cap, once per degraded period:
   * true for the one caller that should do it.
   */
  async claimPullIn(state: DegradedState): Promise<boolean> {
    const ok = await this.table.update(
      HEALTH,
      { set: { callbacks_pulled_in: state.since } },
      and(
        eq('callbacks_degraded_since', state.since),
        or(missing('callbacks_pulled_in'), ne('callbacks_pulled_in', state.since)),
      ),
    );
    this.cached = undefined;
    return ok !== false;
  }
}

const secs = (ms: number): number => Math.floor(ms / 1000);
