import httpRouterHandler, { type Route } from '@middy/http-router';
import type { Context } from 'aws-lambda';
import { CodedError, isTransient } from '../errors.js';
import { describeError } from '../observability.js';
import { ZohoError } from '../zoho/errors.js';
import type { ApiDeps } from './deps.js';
import { convertExport, createExport, getExport, listExports } from './exports.js';
import { ApiError, type Event, errorResult, type Result } from './http.js';
import { getJob, listJobs, registerJob } from './jobs.js';
import { listModules } from './modules.js';
import { API_ROUTES, type RouteId } from './routes.js';
import { getSchedules, startScheduleRun } from './schedules.js';
import { createSnapshot, getSnapshot, listSnapshots } from './snapshots.js';

export type { ApiDeps } from './deps.js';

/** `signal`: aborted before the Lambda's time runs out (a Zoho create in flight gives up: 202 or 504). */
type RouteHandler = (deps: ApiDeps, event: Event, signal?: AbortSignal) => Promise<Result>;
const HANDLERS: Record<RouteId, RouteHandler> = {
  registerJob,
  listJobs,
  getJob,
  createExport: (deps, event, signal) => createExport(deps, event, signal),
  listExports,
  getExport,
  convertExport,
  createSnapshot: (deps, event, signal) => createSnapshot(deps, event, signal),
  listSnapshots,
  getSnapshot,
  listModules: (deps, event, signal) => listModules(deps, event, signal),
  listSchedules: (deps) => getSchedules(deps),
  runSchedule: (deps, event, signal) => startScheduleRun(deps, event, signal),
};

/** `/jobs/{job_id}` → a regular expression for a concrete path. */
const pattern = (path: string): RegExp => new RegExp(`^${path.replace(/\{[^/]+\}/g, '[^/]+')}/?$`);

function notFound(method: string, path: string): never {
  const shown = path.slice(0, 200);
  const allowed = API_ROUTES.filter((r) => pattern(r.path).test(path)).map((r) => r.method);
  if (allowed.length) {
    const allow = [...new Set(allowed)].sort().join(', ');
    throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${shown}; use ${allow}`, {
      allow,
    });
  }
  const routes = API_ROUTES.map((r) => `${r.method} ${r.path}`).join(', ');
  throw new ApiError(404, 'ROUTE_NOT_FOUND', `no route for ${method} ${shown}; the API has ${routes}`);
}

/** The kinds whose `httpStatus` is the API's answer: the caller's mistake, stated in the message. */
const CALLER_KINDS = new Set(['invalid', 'not_found', 'conflict']);
/** Without a hint from the error, a throttled or unreachable dependency is worth trying again after this. */
const DEFAULT_RETRY_AFTER_MS = 5_000;

/**
 * The answer to an error no route turned into one. An ApiError as it is; a coded error the caller
 * caused (a bad cursor) with its status and code; a dependency throttled or unreachable (Zoho, an AWS
 * throttle, a socket error) 503 with Retry-After; anything else 500. A ZohoError's `httpStatus` is
 * Zoho's, never the API's answer. `logged` says whether the error is worth an error log.
 */
export function answerFor(e: unknown): { error: ApiError; logged: boolean } {
  if (e instanceof ApiError) return { error: e, logged: false };
  if (
    e instanceof CodedError &&
    !(e instanceof ZohoError) &&
    e.httpStatus !== undefined &&
    CALLER_KINDS.has(e.kind)
  ) {
    return { error: new ApiError(e.httpStatus, e.code, e.message), logged: false };
  }
  if (isTransient(e) || (e instanceof ZohoError && e.kind === 'auth')) {
    const ms = e instanceof CodedError ? (e.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS) : DEFAULT_RETRY_AFTER_MS;
    const retryAfter = String(Math.max(1, Math.ceil(ms / 1000)));
    return {
      error: new ApiError(503, 'SERVICE_UNAVAILABLE', 'the service is unavailable right now; try again', {
        'retry-after': retryAfter,
      }),
      logged: true,
    };
  }
  return {
    error: new ApiError(500, 'INTERNAL_ERROR', 'the request failed because of an internal error'),
    logged: true,
  };
}

/** The router reads requestContext.http; the local server and tests may only give rawPath. */
function normalise(e: Event): void {
  if (!e.requestContext) e.requestContext = {} as Event['requestContext'];
  const http = e.requestContext.http ?? ({} as Event['requestContext']['http']);
  http.method = (http.method ?? 'GET').toUpperCase();
  http.path = e.rawPath ?? http.path ?? '/';
  e.requestContext.http = http;
}

/**
 * The API as a function of an API Gateway (payload 2.0) event. `signal` (the Lambda entry's, from
 * middy) reaches the route, so a Zoho call in flight is aborted before the function's timeout.
 */
export function createApiHandler(
  deps: ApiDeps,
): (event: Event, context?: Context, signal?: AbortSignal) => Promise<Result> {
  // Each request's signal, found by its event (the router passes the route no options of ours).
  const signals = new WeakMap<Event, AbortSignal>();
  const routes: Array<Route<Event, Result>> = API_ROUTES.flatMap((r) => {
    const handler = (event: Event) => HANDLERS[r.id](deps, event, signals.get(event));
    // HEAD is answered like GET (API Gateway and clients use it to probe a resource).
    const methods = r.method === 'GET' ? (['GET', 'HEAD'] as const) : ([r.method] as const);
    return methods.map((method) => ({ method, path: r.path, handler }));
  });
  const router = httpRouterHandler<Event, Result>({
    routes,
    notFoundResponse: ({ method, path }) => notFound(method, path),
  });
  const failed = (event: Event, e: unknown): Result => {
    const { error, logged } = answerFor(e);
    if (logged) {
      const http = event.requestContext?.http;
      deps.logger.error('request failed', {
        error: describeError(e),
        answer: error.status,
        method: http?.method,
        path: http?.path?.slice(0, 200),
      });
    }
    return errorResult(error);
  };
  // The router is called directly (no second middy inside the entry's): the entry's signal reaches it.
  return async (event, context, signal) => {
    try {
      normalise(event);
      if (signal) signals.set(event, signal);
      const result = await router(event, context ?? ({} as Context));
      if (!result) throw new Error(`no answer from the route of ${event.requestContext.http.path}`);
      return result;
    } catch (e) {
      return failed(event, e);
    }
  };
}
