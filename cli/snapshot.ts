/**
 * `zoho-export snapshot --all | --modules a,b [--watch]`: starts a snapshot (POST /snapshots) and, with
 * --watch, polls GET /snapshots/{id} until it ends: one line per module and a total line (redrawn in
 * place on a terminal, a line per change otherwise, both on stderr), then the tables it touched.
 */
import cliProgress from 'cli-progress';
import { tableNameOf } from '../lib/exports/catalog.js';
import { REFUSAL_CODES } from '../lib/modules/discovery.js';
import type { PublicSnapshot, PublicSnapshotModule } from '../lib/snapshots/model.js';
import type { ApiClient } from './client.js';
import type { WatchFlags } from './commands.js';
import type { Context } from './context.js';
import { type CliError, EXIT, FailedError, UsageError } from './errors.js';
import { bytes, num, table } from './format.js';
import { checkModule } from './module-arg.js';
import { Interrupted, ProgressStream, type Stream, sleep, transient } from './watch.js';

export type ApiSnapshot = PublicSnapshot;

/** The Glue database the tables are in (the stack's default, lib/settings.ts). */
const DATABASE = 'zoho_crm';
/** Polls no faster than the CLI's floor and no slower than this, whatever --interval says. */
const MAX_INTERVAL_MS = 60_000;

export interface SnapshotFlags extends WatchFlags {
  all?: boolean;
  modules?: string;
}

/** `--all` or `--modules a,b`: exactly one; the body's `modules`. */
export function snapshotModules(f: { all?: boolean; modules?: string }): 'all' | string[] {
  if (f.all && f.modules !== undefined) throw new UsageError('give either --all or --modules a,b, not both');
  if (f.all) return 'all';
  if (f.modules === undefined)
    throw new UsageError('say which modules: --all (every exportable module) or --modules Contacts,Leads');
  const list = f.modules
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (!list.length)
    throw new UsageError('--modules: give module API names separated by commas, e.g. Contacts,Leads');
  for (const m of list) checkModule(m);
  const twice = list.find((m, i) => list.indexOf(m) !== i);
  if (twice) throw new UsageError(`--modules: ${twice} is listed twice`);
  return list;
}

/** `zoho_crm.zoho_<module>_current` for every COMPLETED module. */
export const touchedTables = (s: ApiSnapshot): string[] =>
  s.modules
    .filter((m) => m.status === 'COMPLETED')
    .map((m) => `${DATABASE}.${tableNameOf(m.module)}_current`);

const moduleLine = (m: PublicSnapshotModule): string =>
  `${m.module}  ${m.status}  pages ${m.pages}  records ${num(m.records)}  ${bytes(m.bytes)}${m.error ? `  ${m.error.code}` : ''}`;

const totalLine = (s: ApiSnapshot): string =>
  `total  ${s.status}  ${s.totals.completed}/${s.totals.modules} completed, ${s.totals.failed} failed, ${s.totals.running} running  records ${num(s.totals.records)}  ${bytes(s.totals.bytes)}`;

export interface SnapshotRenderer {
  update(s: ApiSnapshot): void;
  note(line: string): void;
  stop(): void;
}

/** No terminal: a module's line when it changed, and the total line when it changed. */
export function snapshotLineRenderer(out: Stream): SnapshotRenderer {
  const last = new Map<string, string>();
  const put = (key: string, text: string) => {
    if (last.get(key) === text) return;
    last.set(key, text);
    out.write(`${text}\n`);
  };
  return {
    update(s) {
      for (const m of s.modules) put(m.module, moduleLine(m));
      put('', totalLine(s));
    },
    note: (line) => out.write(`${line}\n`),
    stop() {},
  };
}

/** A terminal: one line per module and a total line, redrawn in place by cli-progress. */
export function snapshotLiveRenderer(out: Stream): SnapshotRenderer {
  let snap: ApiSnapshot | undefined;
  const multi = new cliProgress.MultiBar({
    stream: new ProgressStream(out),
    hideCursor: true,
    clearOnComplete: false,
    gracefulExit: false,
    linewrap: false,
    fps: 5,
    format: (_o, _p, payload: { line: (s: ApiSnapshot) => string }) => (snap ? payload.line(snap) : ''),
  });
  const bars: cliProgress.SingleBar[] = [];
  return {
    update(s) {
      snap = s;
      if (!bars.length) {
        // The modules are fixed when the snapshot starts: one bar each, in the snapshot's order.
        s.modules.forEach((_m, i) => {
          bars.push(
            multi.create(1, 0, { line: (x: ApiSnapshot) => (x.modules[i] ? moduleLine(x.modules[i]) : '') }),
          );
        });
        bars.push(multi.create(1, 0, { line: totalLine }));
      }
      for (const b of bars) b.update(0);
    },
    note: (line) => multi.log(`${line}\n`),
    stop() {
      if (bars.length) multi.stop();
    },
  };
}

/** Polls `GET /snapshots/{id}` until it is COMPLETED or FAILED; returns it. */
export async function watchSnapshot(
  client: ApiClient,
  id: string,
  o: { intervalMs: number; renderer: SnapshotRenderer; signal?: AbortSignal; maxFailures?: number },
): Promise<ApiSnapshot> {
  const maxFailures = o.maxFailures ?? 6;
  const interval = Math.min(Math.max(o.intervalMs, 200), MAX_INTERVAL_MS);
  let failures = 0;
  try {
    for (;;) {
      let s: ApiSnapshot;
      try {
        s = await client.get<ApiSnapshot>(`/snapshots/${encodeURIComponent(id)}`);
        failures = 0;
      } catch (e) {
        if (!transient(e) || ++failures > maxFailures) throw e;
        o.renderer.note(`retrying (${failures}/${maxFailures}): ${(e as CliError).message}`);
        await sleep(Math.min(interval * 2 ** failures, 30_000), o.signal);
        continue;
      }
      o.renderer.update(s);
      if (s.status !== 'RUNNING') return s;
      await sleep(interval, o.signal);
    }
  } finally {
    o.renderer.stop();
  }
}

export function snapshotFailed(s: ApiSnapshot): FailedError {
  const why = s.modules
    .filter((m) => m.status === 'FAILED')
    .map((m) => `${m.module}${m.error ? ` (${m.error.code}: ${m.error.message})` : ''}`);
  // A module Zoho's Bulk Read refused is remembered by discovery: say that "all" leaves it out now.
  const refused = s.modules.filter(
    (m) => m.status === 'FAILED' && m.error && REFUSAL_CODES.has(m.error.code),
  );
  const hint = refused.length
    ? `. Zoho refused ${refused.map((m) => m.module).join(', ')}: GET /modules now lists ${refused.length === 1 ? 'it' : 'them'} as not exportable (zoho_refused), so the next --all leaves ${refused.length === 1 ? 'it' : 'them'} out${refused.length === s.failed_modules.length ? '; every other module landed' : ''}`
    : '';
  return new FailedError(
    `snapshot ${s.snapshot_id} FAILED: ${s.failed_modules.length} module(s) failed: ${s.failed_modules.join(', ')}${why.length ? `; ${why.join('; ')}` : ''}${hint}`,
    'SNAPSHOT_FAILED',
  );
}

/** The ended snapshot: its modules, the tables it touched; exit 1 (naming the modules) if FAILED. */
function reportSnapshot(ctx: Context, s: ApiSnapshot): number {
  if (ctx.json) ctx.printJson({ ...s, tables: touchedTables(s) });
  else {
    ctx.out(
      `${s.status} ${s.snapshot_id}: ${s.totals.completed} of ${s.totals.modules} module(s) completed, ${num(s.totals.records)} records, ${bytes(s.totals.bytes)}`,
    );
    ctx.out(
      table(
        ['MODULE', 'STATUS', 'PAGES', 'RECORDS', 'SIZE', 'EXPORT_ID'],
        s.modules.map((m) => [
          m.module,
          m.status,
          String(m.pages),
          num(m.records),
          bytes(m.bytes),
          m.export_id,
        ]),
      ),
    );
    const tables = touchedTables(s);
    if (tables.length) ctx.out(['tables:', ...tables.map((t) => `  ${t}`)].join('\n'));
  }
  if (s.status === 'FAILED') throw snapshotFailed(s);
  return EXIT.OK;
}

export async function snapshotCommand(ctx: Context, f: SnapshotFlags): Promise<number> {
  const modules = snapshotModules(f);
  const { client } = await ctx.api();
  const res = await client.request<ApiSnapshot>('POST', '/snapshots', { body: { modules, mode: 'full' } });
  const s = res.body;
  if (!f.watch) {
    if (ctx.json) ctx.printJson(s);
    else {
      ctx.out(
        `snapshot ${s.snapshot_id} started (${s.status}): ${s.modules.map((m) => m.module).join(', ')}`,
      );
      ctx.out(`  follow it: GET /snapshots/${s.snapshot_id}, or start it with --watch`);
    }
    if (s.status === 'FAILED') throw snapshotFailed(s);
    return EXIT.OK;
  }
  if (!ctx.json) ctx.out(`snapshot ${s.snapshot_id} started: ${s.modules.length} module(s)`);
  return followSnapshot(ctx, s, f);
}

/** Watches a started snapshot (`snapshot --watch`, a multi-module `schedules run --watch`) to its end. */
export async function followSnapshot(ctx: Context, s: ApiSnapshot, f: WatchFlags): Promise<number> {
  if (s.status !== 'RUNNING') return reportSnapshot(ctx, s);
  const { client } = await ctx.api();
  const renderer: SnapshotRenderer = ctx.io.stderr.isTTY
    ? snapshotLiveRenderer(ctx.io.stderr)
    : ctx.json
      ? { update() {}, note() {}, stop() {} }
      : snapshotLineRenderer(ctx.io.stderr);
  let final: ApiSnapshot;
  try {
    final = await watchSnapshot(client, s.snapshot_id, {
      intervalMs: f.interval * 1000,
      renderer,
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
  } catch (e) {
    if (e instanceof Interrupted)
      throw new Interrupted(
        `stopped watching ${s.snapshot_id}; the snapshot goes on (GET /snapshots/${s.snapshot_id})`,
      );
    throw e;
  }
  return reportSnapshot(ctx, final);
}
