/**
 * GET /crm/{version}/{module}/deleted?type=all|recycle|permanent&page=N&per_page=M — the records
 * deleted from a module's store (records.ts).
 *
 * The fake's choices where Zoho's docs are thin:
 *   - order: newest deletion first (deleted_time descending, then id descending);
 *   - `If-Modified-Since` (an HTTP date or ISO 8601): only records deleted strictly after it;
 *   - per_page defaults to 200, and more than 200 (or a bad type/page) is 400 INVALID_DATA (strict);
 *   - nothing to list → 204 with an empty body (Zoho's usual "no content");
 *   - needs the module scope (ZohoCRM.modules.ALL or ZohoCRM.modules.<module>.READ/.ALL);
 *   - Notes, Attachments and Emails have no store in the fake: always 204.
 */
import { checkModule } from './create.js';
import { zohoError } from './errors.js';
import { BULK_EXCLUDED_MODULES, recordId, schemaFor, userName } from './fields.js';
import { sendJson, sendNoContent } from './http-util.js';
import { authenticate, requireModuleScope } from './oauth.js';
import type { Ctx, Runtime } from './state.js';
import { isSubformModule } from './subforms.js';
import { hashString, isoWithOffset, mix32, RowCtx } from './vocab.js';

function parseSince(h: string | undefined): number | undefined {
  if (h === undefined || h.trim() === '') return undefined;
  const t = Date.parse(h);
  if (!Number.isFinite(t)) throw zohoError('INVALID_DATA', { api_name: 'If-Modified-Since' });
  return t;
}

function intParam(ctx: Ctx, name: string, def: number, max: number): number {
  const raw = ctx.url.searchParams.get(name);
  if (raw === null) return def;
  if (!/^\d+$/.test(raw)) throw zohoError('INVALID_DATA', { api_name: name });
  const n = Number(raw);
  if (n < 1 || n > max) throw zohoError('INVALID_DATA', { api_name: name, maximum: max });
  return n;
}

export function handleDeleted(rt: Runtime, ctx: Ctx, module: string): void {
  if (ctx.req.method !== 'GET') throw zohoError('INVALID_REQUEST_METHOD');
  const auth = authenticate(rt, ctx);
  checkModule(rt, module, false);
  requireModuleScope(auth, module);
  const type = ctx.url.searchParams.get('type') ?? 'all';
  if (type !== 'all' && type !== 'recycle' && type !== 'permanent')
    throw zohoError('INVALID_DATA', { api_name: 'type' });
  const page = intParam(ctx, 'page', 1, 100_000);
  const perPage = intParam(ctx, 'per_page', 200, 200);
  const sinceHeader = ctx.req.headers['if-modified-since'];
  const since = parseSince(Array.isArray(sinceHeader) ? sinceHeader[0] : sinceHeader);
  // Zoho's list of modules this API supports has no subform (subforms.ts): refuse, never answer empty.
  if (isSubformModule(module)) throw zohoError('MODULE_NOT_SUPPORTED', { api_name: module }, module);
  if (BULK_EXCLUDED_MODULES.includes(module)) {
    sendNoContent(ctx);
    return;
  }

  const store = rt.stores.get(module);
  const state = store.state();
  const rows: { n: number; at: number; type: 'recycle' | 'permanent'; by: string }[] = [];
  for (const [n, d] of state.deleted) {
    if (type !== 'all' && d.type !== type) continue;
    if (since !== undefined && d.at <= since) continue;
    rows.push({ n, ...d });
  }
  rows.sort((a, b) => b.at - a.at || b.n - a.n);
  const slice = rows.slice((page - 1) * perPage, page * perPage);
  if (slice.length === 0) {
    sendNoContent(ctx);
    return;
  }

  const schema = schemaFor(module);
  const c = new RowCtx();
  const view = { n: 0, id: '', version: 0, createdMs: 0, modifiedMs: 0 };
  const data = slice.map((r) => {
    store.view(state, r.n, view);
    c.setRecord(store.salt, r.n, view.version);
    c.id = view.id;
    return {
      id: recordId(module, r.n),
      display_name: schema.displayName(c),
      type: r.type,
      deleted_by: { id: r.by, name: rt.users.get(r.by) ?? userName(r.by) ?? 'Unknown User' },
      deleted_time: isoWithOffset(r.at),
      created_by: createdBy(rt, module, c),
    };
  });
  sendJson(ctx, 200, {
    data,
    info: { per_page: perPage, count: data.length, page, more_records: rows.length > page * perPage },
  });
}

/** The record's creator: its Created_By value, exactly as the CSV has it. */
function createdBy(rt: Runtime, module: string, c: RowCtx): { id: string; name: string } {
  // Modules without a Created_By column get the value that column would hold.
  const field = schemaFor(module).byName.get('Created_By') ?? schemaFor('Leads').byName.get('Created_By')!;
  c.reseed(mix32(c.seed ^ hashString('Created_By')));
  const id = field.gen(c);
  return { id, name: rt.users.get(id) ?? userName(id) ?? 'Unknown User' };
}
