/**
 * POST /crm/bulk/{version}/read: validation of the body, then a job over the module's
 * record store (or, for a page token of a seeded job, the next seeded page).
 */
import { MAX_CRITERIA, validateCriteria } from './criteria.js';
import { planColumns } from './csv.js';
import { zohoError } from './errors.js';
import { BULK_EXCLUDED_MODULES, isSupportedModule, schemaFor } from './fields.js';
import { readBody, sendJson } from './http-util.js';
import { concurrentJobs, type Job, MAX_PAGE, makeSeededJob, makeStoreJob, type StoredQuery } from './jobs.js';
import { BULK_REFUSED_WHEN_TRIED } from './modules.js';
import { authenticate, requireBulkScope, requireModuleScope } from './oauth.js';
import type { Ctx, Runtime } from './state.js';
import { isoWithOffset } from './vocab.js';

const DAY_MS = 24 * 3600 * 1000;

/** Throws MODULE_NOT_SUPPORTED / INVALID_MODULE (or MODULE_NOT_AVAILABLE) for a module bulk read refuses. */
export function checkModule(rt: Runtime, module: string, forBulk: boolean): void {
  if (forBulk && (BULK_EXCLUDED_MODULES.includes(module) || BULK_REFUSED_WHEN_TRIED.includes(module)))
    throw zohoError('MODULE_NOT_SUPPORTED', { api_name: module }, module);
  if (BULK_EXCLUDED_MODULES.includes(module) || isSupportedModule(module)) return;
  if (rt.opts.unknownModuleError === 'MODULE_NOT_AVAILABLE')
    throw zohoError('MODULE_NOT_AVAILABLE', { api_name: module }, module);
  throw zohoError('INVALID_MODULE', {});
}

/**
 * `fields` of a query: more than 200 → all fields (documented), unknown names → INVALID_DATA with
 * details.api_name (the stricter reading: Zoho's docs also list FIELD_NOT_SUPPORTED / FIELD_NOT_AVAILABLE;
 * the fake uses FIELD_NOT_SUPPORTED for fields that exist but cannot be exported, like profile images).
 */
function checkFields(module: string, raw: unknown, fileType: 'csv' | 'ics'): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.some((f) => typeof f !== 'string' || f.trim() === '')) {
    throw zohoError('FIELD_NOT_SUPPORTED', { api_name: 'fields', module }, String(raw), module);
  }
  if (fileType === 'ics' && raw.length > 0) throw zohoError('NOT_SUPPORTED_FEATURE', { api_name: 'fields' });
  if (raw.length === 0 || raw.length > 200) return undefined;
  const fields = raw as string[];
  const planned = planColumns(module, fields, true);
  if ('unknown' in planned) {
    const def = schemaFor(module).byName.get(planned.unknown);
    if (def && def.exported === false) {
      throw zohoError('FIELD_NOT_SUPPORTED', { api_name: planned.unknown, module }, planned.unknown, module);
    }
    throw zohoError('INVALID_DATA', { api_name: planned.unknown });
  }
  return fields;
}

/**
 * Zoho's concurrency limit (§8 of the reference: 429 TOO_MANY_REQUESTS, "Many requests fired in
 * concurrent than the allowed limit", the standard envelope, no Retry-After): a create while
 * `maxConcurrentJobs` jobs are not yet COMPLETED or FAILURE is refused and creates nothing.
 */
function checkConcurrency(rt: Runtime): void {
  if (concurrentJobs(rt) < rt.opts.maxConcurrentJobs) return;
  rt.counters.concurrencyRefusals++;
  throw zohoError('TOO_MANY_REQUESTS');
}

function checkDailyLimit(rt: Runtime): void {
  const limit = rt.opts.dailyJobLimit;
  if (limit === undefined) return;
  const t = rt.now();
  rt.createTimes = rt.createTimes.filter((x) => x > t - DAY_MS);
  if (rt.createTimes.length >= limit) throw zohoError('LIMIT_EXCEEDED', { limit });
  rt.createTimes.push(t);
}

export async function handleCreate(rt: Runtime, ctx: Ctx, version: string): Promise<void> {
  const { req } = ctx;
  const auth = authenticate(rt, ctx);
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  const body = await readBody(req);
  if (!ct.split(';')[0]!.trim().startsWith('application/json')) throw zohoError('MEDIA_TYPE_NOT_SUPPORTED');
  requireBulkScope(auth);
  if (body.length === 0 || body.toString('utf8').trim() === '') throw zohoError('REQUEST_BODY_IS_EMPTY');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw zohoError('REQUEST_BODY_NOT_READABLE');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw zohoError('REQUEST_BODY_NOT_SUPPORTED');
  const b = parsed as Record<string, unknown>;
  const qRaw = b.query ?? {};
  if (!qRaw || typeof qRaw !== 'object' || Array.isArray(qRaw)) throw zohoError('REQUEST_BODY_NOT_SUPPORTED');
  const q = qRaw as Record<string, unknown>;
  const modern = version === 'v7' || version === 'v8';

  // callback
  let callbackUrl: string | undefined;
  if (b.callback !== undefined && b.callback !== null) {
    const cb = b.callback as Record<string, unknown>;
    if (typeof cb !== 'object') throw zohoError('INVALID_CALLBACK_URL', {}, String(cb));
    if (cb.method !== 'post') throw zohoError('INVALID_CALLBACK_METHOD', {}, String(cb.method));
    let ok = false;
    if (typeof cb.url === 'string') {
      try {
        const u = new URL(cb.url);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        ok = false;
      }
    }
    if (!ok || rt.opts.rejectCallbackUrls) throw zohoError('INVALID_CALLBACK_URL', {}, String(cb.url));
    callbackUrl = cb.url as string;
  }

  // page token (v7/v8): the token carries the query
  if (q.page_token !== undefined) {
    if (!modern) throw zohoError('QUERY_NOT_SUPPORTED', { api_name: 'page_token' }, 'page_token');
    const pt = typeof q.page_token === 'string' ? rt.pageTokens.get(q.page_token) : undefined;
    if (!pt || pt.userId !== auth.userId || rt.now() - pt.issuedAt > rt.opts.pageTokenTtlMs) {
      throw zohoError('INVALID_REQUEST', { api_name: 'page_token' });
    }
    requireModuleScope(auth, pt.query.module);
    if (pt.nextPage > MAX_PAGE) throw zohoError('PAGE_RANGE_EXCEEDED', { max_limit: MAX_PAGE }, pt.nextPage);
    checkConcurrency(rt);
    checkDailyLimit(rt);
    const job =
      pt.query.totalRecords !== undefined
        ? makeSeededJob(rt, {
            version,
            page: pt.nextPage,
            userId: auth.userId,
            callbackUrl,
            query: pt.query,
            padding: rt.opts.padding,
          })
        : makeStoreJob(rt, { version, page: pt.nextPage, userId: auth.userId, callbackUrl, query: pt.query });
    return created(rt, ctx, job);
  }

  // module: a string on v2, an object from v2.1 on
  let moduleName: string | undefined;
  if (version === 'v2') {
    if (typeof q.module === 'string') moduleName = q.module;
  } else if (q.module && typeof q.module === 'object' && !Array.isArray(q.module)) {
    const an = (q.module as Record<string, unknown>).api_name;
    if (typeof an === 'string') moduleName = an;
  }
  if (moduleName === undefined) {
    throw zohoError(
      'MODULE_NOT_SUPPORTED',
      { api_name: 'module' },
      typeof q.module === 'string' ? q.module : '',
    );
  }
  checkModule(rt, moduleName, true);
  requireModuleScope(auth, moduleName);

  // file type: accepted at the top level and in the query
  const ftRaw = b.file_type ?? q.file_type ?? 'csv';
  if (ftRaw !== 'csv' && ftRaw !== 'ics') throw zohoError('NOT_SUPPORTED_FEATURE', { api_name: 'file_type' });
  const fileType = ftRaw;
  if (fileType === 'ics' && moduleName !== 'Events') {
    throw zohoError('NOT_SUPPORTED_FEATURE', { api_name: 'file_type', module: moduleName });
  }

  const fields = checkFields(moduleName, q.fields, fileType);

  // cvid: validated, but the fake has no custom views (it does not filter)
  if (q.cvid !== undefined && !(typeof q.cvid === 'string' && /^\d+$/.test(q.cvid))) {
    throw zohoError('CVID_NOT_SUPPORTED', { api_name: 'cvid' });
  }

  if (q.criteria !== undefined && q.criteria !== null) {
    const leaves = validateCriteria(q.criteria, moduleName);
    if (leaves > MAX_CRITERIA)
      throw zohoError('CRITERIA_LIMIT_EXCEEDED', { max_limit: MAX_CRITERIA }, MAX_CRITERIA);
  }

  let page = 1;
  if (q.page !== undefined) {
    const p = q.page;
    const n = typeof p === 'number' ? p : typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : Number.NaN;
    if (!Number.isInteger(n) || n < 1) throw zohoError('PAGE_NOT_SUPPORTED', { api_name: 'page' }, String(p));
    if (n > MAX_PAGE) throw zohoError('PAGE_RANGE_EXCEEDED', { max_limit: MAX_PAGE }, n);
    page = n;
  }

  checkConcurrency(rt);
  checkDailyLimit(rt);
  const query: StoredQuery = { module: moduleName, fileType };
  if (fields) query.fields = fields;
  if (q.criteria !== undefined && q.criteria !== null) query.criteria = q.criteria;
  if (typeof q.cvid === 'string') query.cvid = q.cvid;
  const job = makeStoreJob(rt, { version, page, userId: auth.userId, callbackUrl, query });
  return created(rt, ctx, job);
}

function created(rt: Runtime, ctx: Ctx, job: Job): void {
  rt.counters.creates++;
  ctx.entry.jobId = job.id;
  sendJson(ctx, 201, {
    data: [
      {
        status: 'success',
        code: 'ADDED_SUCCESSFULLY',
        message: 'Added successfully.',
        details: {
          id: job.id,
          operation: 'read',
          state: 'ADDED',
          created_by: { id: job.userId, name: job.userName },
          created_time: isoWithOffset(job.createdAt),
        },
      },
    ],
    info: {},
  });
}
