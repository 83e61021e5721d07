/** The commands: each returns its exit code, or throws a CliError (see errors.ts for the codes). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Context } from './context.js';
import { ApiError, CliError, EXIT, FailedError, UsageError } from './errors.js';
import {
  bytes,
  duration,
  exportsTable,
  exportView,
  jobsTable,
  jobView,
  landedView,
  modulesTable,
  num,
  s3Uri,
  schedulesTable,
} from './format.js';
import { checkModule } from './module-arg.js';
import { type ApiSnapshot, followSnapshot, snapshotFailed } from './snapshot.js';
import {
  type ApiExport,
  type ApiJob,
  type ApiModuleList,
  type ApiSchedule,
  EXPORT_ID_PATTERN,
  EXPORT_STATUSES,
  type ExportList,
  IDEMPOTENCY_KEY_PATTERN,
  JOB_ID_PATTERN,
  JOB_STATUSES,
  type JobList,
} from './types.js';
import { Interrupted, lineRenderer, liveRenderer, type Renderer, watchExport, watchJob } from './watch.js';

// ------------------------------------------------------------------------------- argument checks

export function checkExportId(id: string): string {
  if (!EXPORT_ID_PATTERN.test(id)) {
    throw new UsageError(
      `${JSON.stringify(id)} is not an export id: "ex_" and 26 characters, as \`zoho-export export\` printed it`,
    );
  }
  return id;
}

export function checkJobId(id: string): string {
  if (!JOB_ID_PATTERN.test(id)) {
    throw new UsageError(
      `${JSON.stringify(id)} is not a Zoho job id: 1 to 19 digits (data[0].details.id of Zoho's answer)`,
    );
  }
  return id;
}

export function parseStatus<T extends string>(raw: string, allowed: readonly T[], what: string): T {
  const s = raw.trim().toUpperCase();
  if (!(allowed as readonly string[]).includes(s)) {
    throw new UsageError(`--status ${raw}: ${what} status is one of ${allowed.join(', ')}`);
  }
  return s as T;
}

export function parseLimit(raw: string): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1)
    throw new UsageError(`--limit ${raw}: give a whole number, 1 or more`);
  return Number(raw);
}

export function parseFields(raw: string): string[] {
  const fields = raw
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (!fields.length)
    throw new UsageError('--fields: give field API names separated by commas, e.g. Last_Name,Email');
  return fields;
}

/** `--criteria '{"api_name":...}'` or `--criteria @file.json`. */
export function parseCriteria(raw: string, cwd: string): unknown {
  let text = raw;
  if (raw.startsWith('@')) {
    const file = resolve(cwd, raw.slice(1));
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(
        `--criteria ${raw}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `--criteria is not valid JSON (${(e as Error).message}); e.g. '{"api_name":"Lead_Source","comparator":"equal","value":"Web"}' or @criteria.json`,
    );
  }
}

// ------------------------------------------------------------------------------------ watching

export interface WatchFlags {
  watch?: boolean;
  interval: number;
}

function renderer(ctx: Context): Renderer {
  // A person at a terminal gets the live view even with --json (it goes to stderr); a log gets
  // one line per change, unless --json asked for machine-readable output only.
  if (ctx.io.stderr.isTTY) return liveRenderer(ctx.io.stderr);
  if (ctx.json) return { update() {}, note() {}, stop() {} };
  return lineRenderer(ctx.io.stderr);
}

function exportFailed(e: ApiExport): FailedError {
  const err = e.error;
  const where = err?.page ? ` on page ${err.page}${err.job_id ? ` (job ${err.job_id})` : ''}` : '';
  return new FailedError(
    `export ${e.export_id} FAILED${where}: ${err?.code ?? 'FAILED'}: ${err?.message ?? 'no message'}`,
    err?.code ?? 'FAILED',
  );
}

/** The result of a watched (or just read) export: output, and exit 1 if it FAILED. */
function reportExport(ctx: Context, e: ApiExport, opts: { summary: boolean }): number {
  if (ctx.json) ctx.printJson(e);
  else if (opts.summary) {
    const took = e.completed_at ? `, ${duration(Date.parse(e.completed_at) - Date.parse(e.created_at))}` : '';
    ctx.out(
      `${e.status} ${e.export_id} ${e.module ?? ''}: ${num(e.records)} records, ${bytes(e.bytes)} in ${e.pages.length} page(s)${took}`,
    );
    const landed = landedView(e);
    if (landed) ctx.out(landed);
  } else ctx.out(exportView(e));
  if (e.status === 'FAILED') throw exportFailed(e);
  return EXIT.OK;
}

async function watchAndReport(ctx: Context, exportId: string, w: WatchFlags): Promise<number> {
  const { client } = await ctx.api();
  let final: ApiExport;
  try {
    final = await watchExport(client, exportId, {
      intervalMs: w.interval * 1000,
      renderer: renderer(ctx),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
  } catch (e) {
    if (e instanceof Interrupted) {
      throw new Interrupted(
        `stopped watching ${exportId}; the export goes on (zoho-export exports get ${exportId} --watch)`,
      );
    }
    throw e;
  }
  return reportExport(ctx, final, { summary: true });
}

// ------------------------------------------------------------------------------------ exports

export interface ExportFlags extends WatchFlags {
  fields?: string;
  criteria?: string;
  cvid?: string;
  idempotencyKey?: string;
}

export async function exportCommand(ctx: Context, module: string, f: ExportFlags): Promise<number> {
  const body: Record<string, unknown> = { module: checkModule(module) };
  if (f.fields !== undefined) body.fields = parseFields(f.fields);
  if (f.criteria !== undefined) body.criteria = parseCriteria(f.criteria, ctx.io.cwd);
  if (f.cvid !== undefined) {
    if (!/^[0-9]{1,19}$/.test(f.cvid))
      throw new UsageError(`--cvid ${f.cvid}: a custom view id is 1 to 19 digits`);
    body.cvid = f.cvid;
  }
  const headers: Record<string, string> = {};
  if (f.idempotencyKey !== undefined) {
    if (!IDEMPOTENCY_KEY_PATTERN.test(f.idempotencyKey)) {
      throw new UsageError('--idempotency-key: 1 to 100 visible ASCII characters (no spaces)');
    }
    headers['idempotency-key'] = f.idempotencyKey;
  }
  const { client } = await ctx.api();
  const res = await client.request<ApiExport>('POST', '/exports', { body, headers });
  const e = res.body;
  if (f.watch) {
    if (!ctx.json) {
      ctx.err(
        res.status === 201 || res.status === 202
          ? `export ${e.export_id} of ${e.module} started${e.pending_page ? `; ${e.pending_page.message}` : ''}`
          : `export ${e.export_id} already exists for this idempotency key (${e.status})`,
      );
    }
    if (e.status !== 'RUNNING') return reportExport(ctx, e, { summary: true });
    return watchAndReport(ctx, e.export_id, f);
  }
  if (ctx.json) ctx.printJson(e);
  else {
    ctx.out(
      res.status === 201 || res.status === 202
        ? `export ${e.export_id} of ${e.module} started (${e.status})${e.pending_page ? `; ${e.pending_page.message}` : ''}`
        : `export ${e.export_id} of ${e.module} already exists for this idempotency key (${e.status})`,
    );
    ctx.out(`  follow it: zoho-export exports get ${e.export_id} --watch`);
  }
  if (e.status === 'FAILED') throw exportFailed(e);
  return EXIT.OK;
}

export interface ListFlags {
  status?: string;
  limit?: string;
  next?: string;
  pageSize?: string;
}

function parsePageSize(raw: string | undefined): number {
  if (raw === undefined) return 100;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > 100) {
    throw new UsageError(`--page-size ${raw}: a whole number from 1 to 100`);
  }
  return Number(raw);
}

/** Follows `next` until the list ends or `limit` items are in. */
async function collect<T>(
  fetchPage: (limit: number, next: string | undefined) => Promise<{ items: T[]; next: string | null }>,
  limit: number | undefined,
  next: string | undefined,
  pageSize: number,
): Promise<{ items: T[]; next: string | null }> {
  const items: T[] = [];
  let cursor = next;
  for (;;) {
    const want = limit === undefined ? pageSize : Math.min(pageSize, limit - items.length);
    const page = await fetchPage(want, cursor);
    items.push(...page.items);
    if (!page.next) return { items, next: null };
    if (limit !== undefined && items.length >= limit)
      return { items: items.slice(0, limit), next: page.next };
    cursor = page.next;
  }
}

export async function exportsList(ctx: Context, f: ListFlags & { module?: string }): Promise<number> {
  const module = f.module === undefined ? undefined : checkModule(f.module);
  const status = f.status === undefined ? undefined : parseStatus(f.status, EXPORT_STATUSES, 'an export');
  const limit = f.limit === undefined ? undefined : parseLimit(f.limit);
  const pageSize = parsePageSize(f.pageSize);
  const { client } = await ctx.api();
  const { items, next } = await collect(
    async (n, cursor) => {
      const r = await client.get<ExportList>('/exports', { module, status, limit: n, next: cursor });
      return { items: r.exports, next: r.next };
    },
    limit,
    f.next,
    pageSize,
  );
  if (ctx.json) ctx.printJson({ exports: items, next });
  else {
    ctx.out(items.length ? exportsTable(items) : 'no exports');
    if (next) ctx.err(`more: zoho-export exports list ${limit ? `--limit ${limit} ` : ''}--next ${next}`);
  }
  return EXIT.OK;
}

export async function exportsGet(ctx: Context, id: string, w: WatchFlags): Promise<number> {
  checkExportId(id);
  if (w.watch) return watchAndReport(ctx, id, w);
  const { client } = await ctx.api();
  const e = await client.get<ApiExport>(`/exports/${encodeURIComponent(id)}`);
  return reportExport(ctx, e, { summary: false });
}

// ------------------------------------------------------------------------------------ jobs

function jobFailed(j: ApiJob): FailedError {
  return new FailedError(
    `job ${j.job_id} FAILED: ${j.error?.code ?? 'FAILED'}: ${j.error?.message ?? 'no message'}`,
    j.error?.code ?? 'FAILED',
  );
}

export async function jobsRegister(ctx: Context, id: string, w: WatchFlags): Promise<number> {
  checkJobId(id);
  const { client } = await ctx.api();
  const res = await client.request<ApiJob>('POST', '/jobs', { body: { job_id: id } });
  const j = res.body;
  const said =
    res.status === 201
      ? `job ${j.job_id} registered (${j.status})${j.export_id ? `, page 1 of export ${j.export_id}` : ''}`
      : `job ${j.job_id} was already registered (${j.status})${j.export_id ? `, export ${j.export_id}` : ''}`;
  if (w.watch) {
    if (!ctx.json) ctx.err(said);
    // The export the job belongs to: it also follows the pages Zoho's more_records adds.
    if (j.export_id) return watchAndReport(ctx, j.export_id, w);
    const final = await watchJob(client, id, {
      intervalMs: w.interval * 1000,
      renderer: renderer(ctx),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    if (ctx.json) ctx.printJson(final);
    else ctx.out(jobView(final));
    if (final.status === 'FAILED') throw jobFailed(final);
    return EXIT.OK;
  }
  if (ctx.json) ctx.printJson(j);
  else {
    ctx.out(said);
    ctx.out(
      `  follow it: zoho-export ${j.export_id ? `exports get ${j.export_id}` : `jobs get ${j.job_id}`}${j.export_id ? ' --watch' : ''}`,
    );
  }
  if (j.status === 'FAILED') throw jobFailed(j);
  return EXIT.OK;
}

export async function jobsGet(ctx: Context, id: string): Promise<number> {
  checkJobId(id);
  const { client } = await ctx.api();
  const j = await client.get<ApiJob>(`/jobs/${encodeURIComponent(id)}`);
  if (ctx.json) ctx.printJson(j);
  else ctx.out(jobView(j));
  if (j.status === 'FAILED') throw jobFailed(j);
  return EXIT.OK;
}

export async function jobsList(ctx: Context, f: ListFlags): Promise<number> {
  const status = f.status === undefined ? undefined : parseStatus(f.status, JOB_STATUSES, 'a job');
  const limit = f.limit === undefined ? undefined : parseLimit(f.limit);
  const pageSize = parsePageSize(f.pageSize);
  const { client } = await ctx.api();
  const { items, next } = await collect(
    async (n, cursor) => {
      const r = await client.get<JobList>('/jobs', { status, limit: n, next: cursor });
      return { items: r.jobs, next: r.next };
    },
    limit,
    f.next,
    pageSize,
  );
  if (ctx.json) ctx.printJson({ jobs: items, next });
  else {
    ctx.out(items.length ? jobsTable(items) : 'no jobs');
    if (next) ctx.err(`more: zoho-export jobs list ${limit ? `--limit ${limit} ` : ''}--next ${next}`);
  }
  return EXIT.OK;
}

// ------------------------------------------------------------------------------------ schedules

/** A 404 for the route itself: this server has no schedules yet. */
function noSchedules(e: unknown, what: string): unknown {
  if (e instanceof ApiError && e.status === 404 && e.code === 'ROUTE_NOT_FOUND') {
    return new CliError(
      EXIT.API,
      `this API has no schedules yet (${what} answered 404 ROUTE_NOT_FOUND): schedules come with a newer version of the exporter; deploy it (or restart npm start from an updated checkout)`,
      'SCHEDULES_NOT_AVAILABLE',
    );
  }
  return e;
}

/** `zoho-export modules [--exportable] [--refresh]`: the org's modules (GET /modules). */
export async function modulesList(
  ctx: Context,
  f: { exportable?: boolean; refresh?: boolean },
): Promise<number> {
  const { client } = await ctx.api();
  const r = await client.get<ApiModuleList>('/modules', f.refresh ? { refresh: 'true' } : undefined);
  const modules = f.exportable ? r.modules.filter((m) => m.exportable) : r.modules;
  if (ctx.json) ctx.printJson({ ...r, modules });
  else {
    ctx.out(modules.length ? modulesTable(modules) : 'no modules');
    const n = r.modules.filter((m) => m.exportable).length;
    ctx.err(
      `${n} of ${r.modules.length} modules exportable; listed by Zoho at ${r.fetched_at}${r.cached ? ' (cached; --refresh asks Zoho again)' : ''}`,
    );
  }
  return EXIT.OK;
}

export async function schedulesList(ctx: Context): Promise<number> {
  const { client } = await ctx.api();
  let r: { schedules: ApiSchedule[] };
  try {
    r = await client.get<{ schedules: ApiSchedule[] }>('/schedules');
  } catch (e) {
    throw noSchedules(e, 'GET /schedules');
  }
  if (ctx.json) ctx.printJson(r);
  else ctx.out(r.schedules.length ? schedulesTable(r.schedules) : 'no schedules');
  return EXIT.OK;
}

export async function schedulesRun(ctx: Context, name: string, w: WatchFlags): Promise<number> {
  if (name.trim() === '' || name.length > 256)
    throw new UsageError('give the name of a schedule (zoho-export schedules list)');
  const { client } = await ctx.api();
  let res: { status: number; body: ApiExport | ApiSnapshot };
  try {
    res = await client.request<ApiExport | ApiSnapshot>(
      'POST',
      `/schedules/${encodeURIComponent(name)}/runs`,
    );
  } catch (e) {
    throw noSchedules(e, `POST /schedules/${name}/runs`);
  }
  if ('snapshot_id' in res.body && !('export_id' in res.body)) {
    // A multi-module schedule: its run is a snapshot.
    const s = res.body;
    const what = `schedule ${name}: snapshot ${s.snapshot_id} of ${s.modules.length} module(s) started`;
    if (w.watch) {
      if (!ctx.json) ctx.err(what);
      return followSnapshot(ctx, s, w);
    }
    if (ctx.json) ctx.printJson(s);
    else {
      ctx.out(`${what} (${s.status})`);
      ctx.out(`  follow it: GET /snapshots/${s.snapshot_id}`);
    }
    if (s.status === 'FAILED') throw snapshotFailed(s);
    return EXIT.OK;
  }
  const e = res.body;
  if (w.watch) {
    if (!ctx.json) ctx.err(`schedule ${name}: export ${e.export_id} of ${e.module} started`);
    if (e.status !== 'RUNNING') return reportExport(ctx, e, { summary: true });
    return watchAndReport(ctx, e.export_id, w);
  }
  if (ctx.json) ctx.printJson(e);
  else {
    ctx.out(`schedule ${name}: export ${e.export_id} of ${e.module} started (${e.status})`);
    ctx.out(`  follow it: zoho-export exports get ${e.export_id} --watch`);
  }
  if (e.status === 'FAILED') throw exportFailed(e);
  return EXIT.OK;
}

// ------------------------------------------------------------------------------------ download

export async function downloadCommand(
  ctx: Context,
  id: string,
  f: { dir?: string; format: string },
): Promise<number> {
  checkExportId(id);
  const format = f.format.toLowerCase();
  if (format !== 'csv' && format !== 'parquet') throw new UsageError(`--format ${f.format}: csv or parquet`);
  const { client } = await ctx.api();
  const s3 = await ctx.s3();
  const { download } = await import('./download.js');
  try {
    const r = await download({
      client,
      s3: s3.client,
      s3Where: s3.where,
      exportId: id,
      cwd: ctx.io.cwd,
      format,
      ...(f.dir !== undefined ? { dir: f.dir } : {}),
      ...(ctx.json && !ctx.io.stderr.isTTY ? {} : { progress: ctx.io.stderr }),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    if (ctx.json) ctx.printJson(r);
    else {
      const fetched = r.files.filter((x) => !x.skipped).length;
      ctx.out(
        `${r.export_id} ${r.module ?? ''}: ${r.totals.files} ${format.toUpperCase()} file(s), ${num(r.totals.records)} records, ${bytes(r.totals.bytes)} in ${r.dir} (${fetched} downloaded, ${r.totals.files - fetched} already there; every file verified)`,
      );
      for (const x of r.files)
        ctx.out(`  ${x.path}  ${bytes(x.bytes)}${x.crc32 ? `  crc32 ${x.crc32}` : ''}  from ${x.s3}`);
      ctx.out(`  manifest ${r.manifest}`);
    }
    return EXIT.OK;
  } finally {
    s3.client.destroy();
  }
}

export { s3Uri };
