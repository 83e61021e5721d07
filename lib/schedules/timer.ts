/**
 * The local stack's stand-in for EventBridge Scheduler: at each minute it runs the schedules whose
 * expression fires in that minute (cron: in the schedule's time zone; rate: every n units from the
 * timer's start, as a new Scheduler schedule counts from its creation). Same runner as the deployed
 * target (lib/schedules/run.ts), so skips and watermarks behave the same.
 */
import type { ScheduleDefinition } from './definitions.js';
import { cronMatches, parseScheduleExpression } from './expression.js';

const MINUTE_MS = 60_000;

/** The schedules that fire in the minute starting at `minuteMs`, for a timer started at `startMs`. */
export function dueSchedules(
  defs: readonly ScheduleDefinition[],
  minuteMs: number,
  startMs: number,
): ScheduleDefinition[] {
  const minute = Math.floor(minuteMs / MINUTE_MS) * MINUTE_MS;
  const anchor = Math.floor(startMs / MINUTE_MS) * MINUTE_MS;
  return defs.filter((d) => {
    const x = parseScheduleExpression(d.schedule);
    if (x.kind === 'cron') return cronMatches(x.fields, minute, d.timezone);
    return minute > anchor && (minute - anchor) % x.ms === 0;
  });
}

export interface ScheduleTimer {
  stop(): Promise<void>;
}

/** Calls `run` for each schedule due at every minute boundary until stopped; runs never overlap a stop. */
export function startScheduleTimer(
  defs: readonly ScheduleDefinition[],
  run: (def: ScheduleDefinition) => Promise<void>,
  now: () => number = Date.now,
): ScheduleTimer {
  const start = now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const arm = () => {
    if (stopped || !defs.length) return;
    const t = now();
    const next = (Math.floor(t / MINUTE_MS) + 1) * MINUTE_MS;
    timer = setTimeout(
      () => {
        for (const d of dueSchedules(defs, next, start)) {
          const p = run(d).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        arm();
      },
      next - t + 50,
    );
  };
  arm();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
