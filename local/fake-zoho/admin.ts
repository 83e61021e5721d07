/**
 * The admin API under /__fake/ on the fake's own port (JSON in and out), so a fake in another process
 * can be driven. It maps one to one onto the in-process FakeZoho methods; admin-client.ts is its typed
 * client. No authentication: the fake listens on 127.0.0.1 only. Admin requests are not logged.
 *
 *   GET    /__fake/health                              {ok, url}
 *   POST   /__fake/jobs                 JobSpec        201 SeededJob
 *   GET    /__fake/jobs                                JobInfo[]
 *   GET    /__fake/jobs/{id}                           JobInfo
 *   GET    /__fake/jobs/{id}/csv                       the exact CSV (or ICS) bytes inside the job's ZIP
 *   GET    /__fake/jobs/{id}/record-count              {count}
 *   POST   /__fake/jobs/{id}/complete                  JobInfo
 *   PUT    /__fake/jobs/{id}/state      {state}        JobInfo
 *   POST   /__fake/jobs/{id}/expire-result             JobInfo
 *   POST   /__fake/page-tokens/expire                  {}
 *   GET    /__fake/modules/{module}                    ModuleInfo
 *   PUT    /__fake/modules/{module}/records {count, at?}                 ModuleInfo (reset to count)
 *   GET    /__fake/modules/{module}/records?from=&limit=                 RecordInfo[]
 *   POST   /__fake/modules/{module}/records/create {count, at?}          {ids}
 *   POST   /__fake/modules/{module}/records/modify {ids?, indexes?, at?} {ids}
 *   POST   /__fake/modules/{module}/records/recompute {ids?, indexes?, at?} {ids} (formulas only)
 *   POST   /__fake/modules/{module}/records/delete {ids?, indexes?, at?, type?, by?}  {ids}
 *   POST   /__fake/modules/{module}/records/restore {ids?, indexes?, at?} {ids} (recycle bin only)
 *   GET    /__fake/modules/{subform}/line-items?parentId=                {ids} (live line items)
 *   POST   /__fake/modules/{subform}/line-items {parentId, count?, at?}  {ids} (subforms.ts)
 *   GET    /__fake/fields/{module}                     the metadata the fields endpoint answers
 *   GET    /__fake/faults    POST /__fake/faults (Fault; times may be "Infinity")    DELETE /__fake/faults
 *   GET    /__fake/stats                               FakeZohoStats (peakConcurrentJobs …)
 *   POST   /__fake/stats/reset-peak                    FakeZohoStats (peak = jobs running now)
 *   GET    /__fake/requests  DELETE /__fake/requests
 *   GET    /__fake/callbacks DELETE /__fake/callbacks
 *   GET    /__fake/options   PATCH /__fake/options (RuntimeOptions)               current options
 *   GET    /__fake/clock     POST /__fake/clock {now?} | {advanceMs?}             {now, frozen}
 *   POST   /__fake/tokens/revoke   POST /__fake/tokens/expire
 *   POST   /__fake/refresh-tokens/revoke {refreshToken}
 * Errors: 404 {error} (unknown route, job or record), 400 {error} (bad input).
 */
import { readBody } from './http-util.js';
import { fieldsMetadata } from './metadata.js';
import { StoreError } from './records.js';
import type { Ctx, Runtime } from './state.js';
import type { FakeZoho, Fault, JobSpec, JobState, RecordTarget, RuntimeOptions } from './types.js';

export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const RUNTIME_KEYS: readonly (keyof RuntimeOptions)[] = [
  'timeline',
  'processingMsPerRecord',
  'perPage',
  'downloadsPerMinute',
  'downloadWindow',
  'downloadLockMs',
  'lockExtendsOnReject',
  'retryAfterHeader',
  'resultTtlMs',
  'pageTokenTtlMs',
  'callbackEncoding',
  'callbackAttempts',
  'callbackRetryDelayMs',
  'resultInEveryState',
  'downloadContentType',
  'throttleStatus',
  'legacyExpiresIn',
  'padding',
  'lineEnding',
  'unknownModuleError',
  'dailyJobLimit',
  'zipConcurrency',
  'rejectCallbackUrls',
  'maxConcurrentJobs',
  'extraModules',
];

const STATES: JobState[] = ['ADDED', 'QUEUED', 'IN PROGRESS', 'COMPLETED', 'FAILURE'];

function send(ctx: Ctx, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? {});
  ctx.res.writeHead(status, {
    'Content-Type': 'application/json;charset=UTF-8',
    'Content-Length': Buffer.byteLength(text),
  });
  ctx.res.end(text);
}

async function json(ctx: Ctx): Promise<Record<string, unknown>> {
  const b = await readBody(ctx.req, 16 * 1024 * 1024);
  if (b.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8'));
  } catch {
    throw new AdminError(400, 'body is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new AdminError(400, 'body must be a JSON object');
  return v as Record<string, unknown>;
}

const optNumber = (v: unknown, name: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AdminError(400, `${name} must be a number`);
  return v;
};

function target(b: Record<string, unknown>): RecordTarget {
  const t: RecordTarget = {};
  if (b.ids !== undefined) {
    if (!Array.isArray(b.ids)) throw new AdminError(400, 'ids must be an array of strings');
    t.ids = b.ids.map(String);
  }
  if (b.indexes !== undefined) {
    if (!Array.isArray(b.indexes) || b.indexes.some((x) => typeof x !== 'number'))
      throw new AdminError(400, 'indexes must be an array of numbers');
    t.indexes = b.indexes as number[];
  }
  if (!t.ids && !t.indexes) throw new AdminError(400, 'give ids or indexes');
  return t;
}

/** A Fault from JSON: `times` may be "Infinity" or null (JSON has no Infinity). */
export function faultFromJson(b: Record<string, unknown>): Fault {
  if (typeof b.kind !== 'string' || !b.action || typeof b.action !== 'object')
    throw new AdminError(400, 'a fault needs kind and action');
  const raw = b.times;
  const times = raw === 'Infinity' || raw === null ? Number.POSITIVE_INFINITY : (raw as number | undefined);
  return { ...(b as unknown as Fault), times };
}

function jobId(fake: FakeZoho, id: string): string {
  try {
    fake.jobInfo(id);
  } catch {
    throw new AdminError(404, `unknown job ${id}`);
  }
  return id;
}

export async function handleAdmin(rt: Runtime, fake: FakeZoho, ctx: Ctx): Promise<void> {
  try {
    await route(rt, fake, ctx);
  } catch (err) {
    if (ctx.res.headersSent) {
      ctx.res.destroy();
      return;
    }
    if (err instanceof AdminError) return send(ctx, err.status, { error: err.message });
    if (err instanceof StoreError) return send(ctx, 400, { error: err.message });
    const msg = (err as Error).message ?? String(err);
    return send(ctx, /unknown job/.test(msg) ? 404 : 400, { error: msg });
  }
}

async function route(rt: Runtime, fake: FakeZoho, ctx: Ctx): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const parts = ctx.url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent); // drop "__fake"
  const [a, b, c, d] = parts;
  const is = (m: string, n: number) => method === m && parts.length === n;

  if (a === 'health' && is('GET', 1)) return send(ctx, 200, { ok: true, url: fake.url });

  if (a === 'jobs') {
    if (is('POST', 1)) return send(ctx, 201, fake.addJob((await json(ctx)) as JobSpec));
    if (is('GET', 1))
      return send(
        ctx,
        200,
        [...rt.jobs.keys()].map((id) => fake.jobInfo(id)),
      );
    if (b === undefined) throw new AdminError(404, 'no such route');
    const id = jobId(fake, b);
    if (is('GET', 2)) return send(ctx, 200, fake.jobInfo(id));
    if (c === 'csv' && is('GET', 3)) {
      const info = fake.jobInfo(id);
      ctx.res.writeHead(200, {
        'Content-Type': info.fileType === 'ics' ? 'text/calendar' : 'text/csv; charset=utf-8',
      });
      for await (const chunk of fake.csv(id)) {
        if (!ctx.res.write(chunk)) await new Promise((r) => ctx.res.once('drain', r));
      }
      ctx.res.end();
      return;
    }
    if (c === 'record-count' && is('GET', 3)) return send(ctx, 200, { count: fake.recordCount(id) });
    if (c === 'complete' && is('POST', 3)) {
      fake.completeNow(id);
      return send(ctx, 200, fake.jobInfo(id));
    }
    if (c === 'state' && is('PUT', 3)) {
      const body = await json(ctx);
      if (!STATES.includes(body.state as JobState))
        throw new AdminError(400, `state must be one of ${STATES.join(', ')}`);
      fake.setState(id, body.state as JobState);
      return send(ctx, 200, fake.jobInfo(id));
    }
    if (c === 'expire-result' && is('POST', 3)) {
      fake.expireResult(id);
      return send(ctx, 200, fake.jobInfo(id));
    }
  }

  if (a === 'page-tokens' && b === 'expire' && is('POST', 2)) {
    fake.expirePageTokens();
    return send(ctx, 200, {});
  }

  if (a === 'modules' && b !== undefined) {
    const module = b;
    if (is('GET', 2)) return send(ctx, 200, fake.moduleInfo(module));
    if (c === 'line-items') {
      if (is('GET', 3)) {
        const parentId = ctx.url.searchParams.get('parentId');
        if (!parentId) throw new AdminError(400, 'parentId is required');
        return send(ctx, 200, { ids: fake.lineItems(module, parentId) });
      }
      if (is('POST', 3)) {
        const body = await json(ctx);
        if (typeof body.parentId !== 'string')
          throw new AdminError(400, 'parentId (a record id) is required');
        const count = optNumber(body.count, 'count') ?? 1;
        return send(ctx, 200, {
          ids: fake.addLineItems(module, body.parentId, count, optNumber(body.at, 'at')),
        });
      }
    }
    if (c === 'records') {
      if (is('GET', 3)) {
        const q = ctx.url.searchParams;
        const range: { from?: number; limit?: number } = {};
        if (q.has('from')) range.from = Number(q.get('from'));
        if (q.has('limit')) range.limit = Number(q.get('limit'));
        return send(ctx, 200, fake.records(module, range));
      }
      if (is('PUT', 3)) {
        const body = await json(ctx);
        const count = optNumber(body.count, 'count');
        if (count === undefined) throw new AdminError(400, 'count is required');
        return send(ctx, 200, fake.setModuleRecords(module, count, optNumber(body.at, 'at')));
      }
      if (method === 'POST' && parts.length === 4) {
        const body = await json(ctx);
        const at = optNumber(body.at, 'at');
        if (d === 'create') {
          const count = optNumber(body.count, 'count') ?? 1;
          return send(ctx, 200, { ids: fake.createRecords(module, count, at) });
        }
        if (d === 'modify') return send(ctx, 200, { ids: fake.modifyRecords(module, target(body), at) });
        if (d === 'recompute')
          return send(ctx, 200, { ids: fake.recomputeFormulas(module, target(body), at) });
        if (d === 'restore') return send(ctx, 200, { ids: fake.restoreRecords(module, target(body), at) });
        if (d === 'delete') {
          const type = body.type ?? 'recycle';
          if (type !== 'recycle' && type !== 'permanent')
            throw new AdminError(400, 'type must be recycle or permanent');
          const opts: { at?: number; type: 'recycle' | 'permanent'; by?: string } = { type };
          if (at !== undefined) opts.at = at;
          if (typeof body.by === 'string') opts.by = body.by;
          return send(ctx, 200, { ids: fake.deleteRecords(module, target(body), opts) });
        }
      }
    }
  }

  if (a === 'fields' && b !== undefined && is('GET', 2))
    return send(ctx, 200, { fields: fieldsMetadata(rt, b) });

  if (a === 'faults') {
    if (is('GET', 1)) return send(ctx, 200, rt.faults.list());
    if (is('POST', 1)) {
      fake.inject(faultFromJson(await json(ctx)));
      return send(ctx, 200, {});
    }
    if (is('DELETE', 1)) {
      fake.clearFaults();
      return send(ctx, 200, {});
    }
  }

  if (a === 'stats' && is('GET', 1)) return send(ctx, 200, fake.stats());
  if (a === 'stats' && b === 'reset-peak' && is('POST', 2))
    return send(ctx, 200, fake.resetPeakConcurrentJobs());

  if (a === 'requests') {
    if (is('GET', 1)) return send(ctx, 200, fake.requests);
    if (is('DELETE', 1)) {
      fake.clearRequests();
      return send(ctx, 200, {});
    }
  }

  if (a === 'callbacks') {
    if (is('GET', 1)) return send(ctx, 200, fake.callbacks);
    if (is('DELETE', 1)) {
      fake.clearCallbacks();
      return send(ctx, 200, {});
    }
  }

  if (a === 'options') {
    if (is('GET', 1)) return send(ctx, 200, fake.options());
    if (is('PATCH', 1)) {
      const body = await json(ctx);
      const unknown = Object.keys(body).filter((k) => !RUNTIME_KEYS.includes(k as keyof RuntimeOptions));
      if (unknown.length > 0) throw new AdminError(400, `not a run-time option: ${unknown.join(', ')}`);
      fake.setOptions(body as RuntimeOptions);
      return send(ctx, 200, fake.options());
    }
  }

  if (a === 'clock') {
    if (is('GET', 1)) return send(ctx, 200, { now: fake.now(), frozen: rt.clock.frozenAt !== undefined });
    if (is('POST', 1)) {
      const body = await json(ctx);
      const now = optNumber(body.now, 'now');
      const advance = optNumber(body.advanceMs, 'advanceMs');
      if (now !== undefined) fake.setClock(now);
      if (advance !== undefined) fake.advanceClock(advance);
      return send(ctx, 200, { now: fake.now(), frozen: rt.clock.frozenAt !== undefined });
    }
  }

  if (a === 'tokens' && is('POST', 2)) {
    if (b === 'revoke') {
      fake.revokeTokens();
      return send(ctx, 200, {});
    }
    if (b === 'expire') {
      fake.expireTokens();
      return send(ctx, 200, {});
    }
  }
  if (a === 'refresh-tokens' && b === 'revoke' && is('POST', 2)) {
    const body = await json(ctx);
    if (typeof body.refreshToken !== 'string') throw new AdminError(400, 'refreshToken is required');
    fake.revokeRefreshToken(body.refreshToken);
    return send(ctx, 200, {});
  }

  throw new AdminError(404, `no such route: ${method} ${ctx.url.pathname}`);
}
