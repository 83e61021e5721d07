import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { loadFunctionConfig } from '../lib/config.js';
import { ExportRequestError } from '../lib/exports/errors.js';
import { lambdaRuntime } from '../lib/runtime.js';
import { findSchedule, type RunOutcome, runSchedule } from '../lib/schedules/run.js';
import { exportDeps, firstPagesWindowMs, scheduleDeps } from '../lib/wiring.js';
import { ZohoError } from '../lib/zoho/errors.js';

const rt = lambdaRuntime('run-schedule', loadFunctionConfig('run-schedule'));
const deps = scheduleDeps(exportDeps(rt.core, rt.exportParts), rt.core);

/** What each EventBridge Scheduler schedule sends (infra/stack.ts). */
const scheduleEvent = z.strictObject({ schedule: z.string().min(1).max(64) });

type Result = { schedule: string } & (
  | { outcome: 'started'; export_id: string; mode: string }
  | { outcome: 'started'; snapshot_id: string; modules: number; mode: string }
  | { outcome: 'skipped'; running_export_id: string | null; running_snapshot_id: string | null }
  | { outcome: 'nothing'; reason: string }
  | { outcome: 'refused'; code: string }
);

/**
 * EventBridge Scheduler: one run of a schedule. A transient failure (Zoho or DynamoDB unreachable)
 * throws, so Scheduler retries it (retry policy in the stack); Zoho's refusal of the query is final:
 * logged and counted (ScheduleRunsFailed, its alarm), not retried; so is a modules list the org does
 * not have (UNKNOWN_MODULE, MODULE_NOT_EXPORTABLE: a 4xx of lib/snapshots/start.ts resolveModules).
 */
export const handler = middy<unknown, Result>()
  .use(injectLambdaContext(rt.logger))
  .use(logMetrics(rt.metrics.powertools))
  .handler(async (event: unknown): Promise<Result> => {
    const parsed = scheduleEvent.safeParse(event);
    if (!parsed.success) throw new Error('the event must be {"schedule": "<name>"}');
    const name = parsed.data.schedule;
    const def = findSchedule(deps, name);
    if (!def) throw new Error(`no schedule ${JSON.stringify(name)} is configured (SCHEDULES)`);
    let outcome: RunOutcome;
    try {
      outcome = await runSchedule(deps, def, { deadline: Date.now() + firstPagesWindowMs('run-schedule') });
    } catch (e) {
      if (e instanceof ZohoError && e.kind === 'terminal' && e.stage !== 'oauth') {
        rt.logger.error('Zoho refused the schedule run', { schedule: name, code: e.code, error: e.message });
        return { schedule: name, outcome: 'refused', code: e.code };
      }
      if (e instanceof ExportRequestError && e.status < 500) {
        rt.logger.error('the schedule run was refused', { schedule: name, code: e.code, error: e.message });
        return { schedule: name, outcome: 'refused', code: e.code };
      }
      throw e;
    }
    if (outcome.kind === 'nothing') return { schedule: name, outcome: 'nothing', reason: outcome.reason };
    if (outcome.kind === 'started')
      return { schedule: name, outcome: 'started', export_id: outcome.record.export_id, mode: outcome.mode };
    if (outcome.kind === 'snapshot')
      return {
        schedule: name,
        outcome: 'started',
        snapshot_id: outcome.snapshot.export_id,
        modules: outcome.members.length,
        mode: outcome.snapshot.mode,
      };
    return {
      schedule: name,
      outcome: 'skipped',
      running_export_id: outcome.runningExportId ?? null,
      running_snapshot_id: outcome.runningSnapshotId ?? null,
    };
  });
