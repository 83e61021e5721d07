/**
 * The start of a claimed schedule run, one export or one snapshot: whatever it takes to start it
 * (`start`) releases the claim when it throws (ScheduleRunsFailed); once it exists, `record` makes it
 * the schedule's running one. False there means the claim's lease ran out before the start was done
 * and another start took the schedule: this run goes on (logged as an error, with what it means for
 * the watermarks), it just does not hold the schedule.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { MetricsSink } from '../observability.js';
import type { ScheduleStore } from './store.js';

export async function startClaimedRun<T>(
  deps: { schedules: ScheduleStore; metrics: MetricsSink; logger: Logger },
  claim: { schedule: string; token: string },
  o: {
    start: () => Promise<T>;
    record: (started: T) => Promise<boolean>;
    /** What identifies the run in the log (export_id or snapshot_id), and its details. */
    ids: (started: T) => Record<string, unknown>;
    details: (started: T) => Record<string, unknown>;
    /** What a run that lost its claim means for the watermarks. */
    lostClaim: string;
  },
): Promise<T> {
  let started: T;
  try {
    started = await o.start();
  } catch (err) {
    await deps.schedules.release(claim.schedule, claim.token).catch(() => undefined);
    deps.metrics.count('ScheduleRunsFailed');
    throw err;
  }
  if (!(await o.record(started)))
    deps.logger.error(`schedule run started after its claim ran out; ${o.lostClaim}`, {
      schedule: claim.schedule,
      ...o.ids(started),
    });
  deps.metrics.count('ScheduleRunsStarted');
  deps.logger.info('schedule run started', {
    schedule: claim.schedule,
    ...o.ids(started),
    ...o.details(started),
  });
  return started;
}
