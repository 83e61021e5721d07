/** `GET /schedules` and `POST /schedules/{name}/runs`: the configured schedules, and a run started now. */
import { readExport } from '../exports/read.js';
import { SCHEDULE_NAME_PATTERN } from '../schedules/definitions.js';
import { findSchedule, listSchedules, runSchedule, type ScheduleDeps } from '../schedules/run.js';
import { readSnapshot } from '../snapshots/read.js';
import { firstPagesWindowMs, subformOf } from '../wiring.js';
import type { ApiDeps } from './deps.js';
import { startRefusal } from './exports.js';
import { ApiError, type Event, json, pathParamMatching, type Result } from './http.js';

function scheduleDeps(deps: ApiDeps): ScheduleDeps {
  if (!deps.schedules) throw new Error('the schedules store is not configured');
  return { ...deps, schedules: deps.schedules, isSubform: subformOf(deps.modules, deps.logger) };
}

export async function getSchedules(deps: ApiDeps): Promise<Result> {
  return json(200, { schedules: await listSchedules(scheduleDeps(deps)) });
}

/**
 * Starts a run now: 201 and its export (a multi-module schedule: its snapshot); 409 while the previous
 * run is still running.
 */
export async function startScheduleRun(deps: ApiDeps, event: Event, signal?: AbortSignal): Promise<Result> {
  const begun = (deps.now ?? Date.now)();
  const name = pathParamMatching(
    event,
    'name',
    'INVALID_SCHEDULE_NAME',
    SCHEDULE_NAME_PATTERN,
    'a schedule name is 1 to 64 letters, digits, ".", "_" or "-" (GET /schedules lists them)',
  );
  const def = findSchedule(deps, name);
  if (!def) {
    const names = (deps.scheduleDefinitions ?? []).map((d) => d.name);
    throw new ApiError(
      404,
      'SCHEDULE_NOT_FOUND',
      `no schedule ${JSON.stringify(name)}; ${names.length ? `the schedules are ${names.join(', ')}` : 'none is configured (CDK context "schedules", or LOCAL_SCHEDULES for npm start)'}`,
    );
  }
  let outcome: Awaited<ReturnType<typeof runSchedule>>;
  try {
    outcome = await runSchedule(scheduleDeps(deps), def, {
      deadline: begun + firstPagesWindowMs('api'),
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    throw startRefusal(e);
  }
  if (outcome.kind === 'skipped') {
    throw new ApiError(
      409,
      'SCHEDULE_RUNNING',
      `schedule ${name} is still running${outcome.runningExportId ? ` (export ${outcome.runningExportId})` : ''}${outcome.runningSnapshotId ? ` (snapshot ${outcome.runningSnapshotId})` : ''}; a schedule never runs twice at once`,
    );
  }
  if (outcome.kind === 'snapshot') {
    const sid = outcome.snapshot.export_id;
    return json(201, await readSnapshot(deps, outcome.snapshot), { location: `/snapshots/${sid}` });
  }
  if (outcome.kind === 'nothing') throw new ApiError(409, 'SCHEDULE_NOTHING_TO_EXPORT', outcome.reason);
  const id = outcome.record.export_id;
  return json(201, await readExport(deps, id), { location: `/exports/${id}` });
}
