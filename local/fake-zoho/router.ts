/**
 * Request classification and dispatch. Every CRM and accounts request is logged (`requests`) with its
 * kind, status, time and job id; requests to the admin API (`/__fake/…`) are not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handleAdmin } from './admin.js';
import { checkCallbacks, maybeFireCallback } from './callbacks.js';
import { handleCreate } from './create.js';
import { handleDeleted } from './deleted.js';
import { findJob, handleDownload } from './download.js';
import { errorEnvelope, HttpError, zohoError } from './errors.js';
import { applyFault } from './faults.js';
import { maskToken, SECRET_PARAMS, sendJson } from './http-util.js';
import { jobDetail } from './jobs.js';
import { handleFields } from './metadata.js';
import { handleModules } from './modules.js';
import { authenticate, handleToken, requireBulkScope, requireModuleScope } from './oauth.js';
import { flush } from './persistence.js';
import type { Ctx, Runtime } from './state.js';
import { API_VERSIONS, type FakeZoho, type RequestKind, type RequestLogEntry } from './types.js';

export interface Route {
  kind: RequestKind;
  version?: string;
  jobId?: string;
  module?: string;
  admin?: boolean;
}

export function classify(method: string, path: string): Route {
  if (path === '/__fake' || path.startsWith('/__fake/')) return { kind: 'other', admin: true };
  if (path === '/oauth/v2/token') return { kind: 'token' };
  const bulk = /^\/crm\/bulk\/([^/]+)\/read(?:\/([^/]+)(\/result)?)?\/?$/.exec(path);
  if (bulk) {
    const version = bulk[1]!;
    if (!bulk[2]) return { kind: method === 'POST' ? 'create' : 'other', version };
    return { kind: bulk[3] ? 'download' : 'status', version, jobId: bulk[2] };
  }
  const fields = /^\/crm\/([^/]+)\/settings\/fields\/?$/.exec(path);
  if (fields) return { kind: 'fields', version: fields[1]! };
  const modules = /^\/crm\/([^/]+)\/settings\/modules\/?$/.exec(path);
  if (modules) return { kind: 'modules', version: modules[1]! };
  const deleted = /^\/crm\/([^/]+)\/([A-Za-z][A-Za-z0-9_]*)\/deleted\/?$/.exec(path);
  if (deleted) return { kind: 'deleted', version: deleted[1]!, module: deleted[2]! };
  return { kind: 'other' };
}

function handleStatus(rt: Runtime, ctx: Ctx, id: string): void {
  const auth = authenticate(rt, ctx);
  requireBulkScope(auth);
  const job = findJob(rt, id);
  requireModuleScope(auth, job.module);
  sendJson(ctx, 200, { data: [jobDetail(rt, job)] });
  maybeFireCallback(rt, job.id);
}

export function createHandler(rt: Runtime, fake: () => FakeZoho) {
  async function dispatch(ctx: Ctx, route: Route): Promise<void> {
    const { kind, version, jobId } = route;
    const method = ctx.req.method ?? 'GET';
    if (kind !== 'other') {
      const fault = rt.faults.take(kind, jobId, false);
      if (fault && (await applyFault(rt, ctx, fault))) return;
    }
    if (kind === 'token') return handleToken(rt, ctx);
    if (version === undefined) throw zohoError('INVALID_URL_PATTERN');
    if (!(API_VERSIONS as readonly string[]).includes(version)) throw zohoError('INVALID_URL_PATTERN');
    if (kind === 'fields') return handleFields(rt, ctx);
    if (kind === 'modules') return handleModules(rt, ctx);
    if (kind === 'deleted') return handleDeleted(rt, ctx, route.module!);
    if (kind === 'other') throw zohoError('INVALID_REQUEST_METHOD'); // non-POST on /read
    if (kind === 'create') return handleCreate(rt, ctx, version);
    if (method !== 'GET') throw zohoError('INVALID_REQUEST_METHOD');
    if (kind === 'status') return handleStatus(rt, ctx, jobId!);
    return handleDownload(rt, ctx, jobId!);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const route = classify(method, url.pathname);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = SECRET_PARAMS.has(k) ? '***' : v;
    const entry: RequestLogEntry = {
      method,
      path: url.pathname,
      query,
      authorization: maskToken(req.headers.authorization),
      kind: route.kind,
      status: 0,
      at: rt.now(),
    };
    if (route.jobId) entry.jobId = route.jobId;
    const ctx: Ctx = { req, res, entry, url };
    checkCallbacks(rt);
    try {
      if (route.admin) return await handleAdmin(rt, fake(), ctx);
      rt.requests.push(entry);
      if (route.kind === 'status') rt.counters.statusCalls++;
      return await dispatch(ctx, route);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(ctx, err.status, err.body, err.headers);
      if (!res.headersSent) return sendJson(ctx, 500, errorEnvelope('INTERNAL_ERROR'));
      res.destroy(err as Error);
    } finally {
      try {
        flush(rt);
      } catch {
        // a failed state write must not take the request down; the next flush retries
      }
    }
  };
}
