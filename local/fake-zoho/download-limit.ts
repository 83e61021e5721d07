/**
 * The download rate limit: "10 download requests per minute; the 11th gets HTTP 429 and all
 * downloads are refused for a minute". Zoho does not say which minute, so both readings are offered:
 *   sliding       (default, the stricter reading) at most N download starts in any 60 s interval
 *                 (t - 60 s, t]; the next one gets 429
 *   clock-minute  at most N starts per UTC clock minute
 * Only starts count (requests answered 200); a refused or failed request does not. In both modes a 429
 * starts a lock: every download request before lockUntil = (time of the 429) + downloadLockMs gets 429
 * too. With lockExtendsOnReject (default, strict) a request refused during the lock extends it to its
 * own time + downloadLockMs, so a client that keeps knocking stays locked out.
 */
import type { Runtime } from './state.js';

export const WINDOW_MS = 60_000;

export class DownloadLimiter {
  /** Times of the download starts of the last 60 s (sliding mode). */
  private starts: number[] = [];
  private minute = { minute: -1, count: 0 };
  lockUntil = 0;

  isLocked(t: number): boolean {
    return t < this.lockUntil;
  }

  /** Starts (or extends) the lock; returns its end. */
  lock(t: number, ms: number): number {
    this.lockUntil = Math.max(this.lockUntil, t + ms);
    return this.lockUntil;
  }

  /** Whether one more download may start at `t` under the current mode and limit. */
  allows(rt: Runtime, t: number): boolean {
    const max = rt.opts.downloadsPerMinute;
    if (rt.opts.downloadWindow === 'clock-minute') {
      const minute = Math.floor(t / WINDOW_MS);
      if (this.minute.minute !== minute) this.minute = { minute, count: 0 };
      return this.minute.count < max;
    }
    this.prune(t);
    return this.starts.length < max;
  }

  /** Records a download start at `t` (both counters, so switching the mode keeps a consistent view). */
  start(t: number): void {
    this.prune(t);
    this.starts.push(t);
    const minute = Math.floor(t / WINDOW_MS);
    if (this.minute.minute !== minute) this.minute = { minute, count: 0 };
    this.minute.count++;
  }

  private prune(t: number): void {
    let i = 0;
    while (i < this.starts.length && this.starts[i]! <= t - WINDOW_MS) i++;
    if (i > 0) this.starts = this.starts.slice(i);
  }

  /** The Retry-After header for a 429, when the option asks for one. */
  retryAfter(rt: Runtime, lockUntil: number): Record<string, string> {
    if (!rt.opts.retryAfterHeader) return {};
    return { 'Retry-After': String(Math.max(1, Math.ceil((lockUntil - rt.now()) / 1000))) };
  }

  lockEnd(t: number): number | null {
    return t < this.lockUntil ? this.lockUntil : null;
  }
}
