/**
 * The HTTP API's routes, as data: the CDK stack creates exactly these API Gateway routes and the
 * handler's router serves exactly these, so the two cannot drift.
 */
export const API_ROUTES = [
  { id: 'registerJob', method: 'POST', path: '/jobs' },
  { id: 'listJobs', method: 'GET', path: '/jobs' },
  { id: 'getJob', method: 'GET', path: '/jobs/{job_id}' },
  { id: 'createExport', method: 'POST', path: '/exports' },
  { id: 'listExports', method: 'GET', path: '/exports' },
  { id: 'getExport', method: 'GET', path: '/exports/{export_id}' },
  { id: 'convertExport', method: 'POST', path: '/exports/{export_id}/convert' },
  { id: 'createSnapshot', method: 'POST', path: '/snapshots' },
  { id: 'listSnapshots', method: 'GET', path: '/snapshots' },
  { id: 'getSnapshot', method: 'GET', path: '/snapshots/{snapshot_id}' },
  { id: 'listModules', method: 'GET', path: '/modules' },
  { id: 'listSchedules', method: 'GET', path: '/schedules' },
  { id: 'runSchedule', method: 'POST', path: '/schedules/{name}/runs' },
] as const;

export type RouteId = (typeof API_ROUTES)[number]['id'];
export type RouteMethod = (typeof API_ROUTES)[number]['method'];
