/**
 * `POST /snapshots`: one export per module under one snapshot id. Every module's export is written at
 * once (with the snapshot, in one transaction) as RUNNING with page 1 wanted, the same intent a
 * follow-up page is (lib/exports/pages.ts). The request then creates the first pages one after the
 * other while its time allows (`deadline`); whatever is left, or is refused for now (Zoho's
 * TOO_MANY_REQUESTS, or every Zoho job slot held: lib/zoho/job-slots.ts; the intent is retried with
 * backoff), the poller's sweep creates, like any wanted page. The job slots keep the modules within
 * `ZOHO_MAX_CONCURRENT_JOBS` without a second scheduler.
 */

import type { TransactOp } from '../ddb/table.js';
import type { ExportDeps } from '../exports/deps.js';
import { formatsOf, sleep } from '../exports/deps.js';
import { ExportRequestError } from '../exports/errors.js';
import { requestHash } from '../exports/idempotency.js';
import { type Criteria, type ExportRecord, newExportId } from '../exports/model.js';
import { createWantedPage } from '../exports/pages.js';
import { describeError } from '../observability.js';
import { MAX_SNAPSHOT_MODULES, newSnapshotId, type SnapshotRecord } from './model.js';
import { snapshotStore } from './store.js';

export interface SnapshotRequest {
  modules: 'all' | string[];
  mode: 'full';
}

/** One module's export in a snapshot: the whole module, or (a schedule's run) what changed since `since`. */
export interface SnapshotMemberSpec {
  module: string;
  mode: ExportRecord['mode'];
  /** Incremental: where the window starts (ISO); the export lands the module's deletions since then. */
  since?: string;
  /** Incremental: `Modified_Time > since` (lib/schedules/incremental.ts). */
  criteria?: Criteria;
}

/** The modules a request names: every exportable module of the org for "all", else the list, checked. */
export async function resolveModules(
  deps: ExportDeps,
  wanted: SnapshotRequest['modules'],
  signal?: AbortSignal,
): Promise<string[]> {
  if (!deps.modules) {
    if (wanted === 'all') throw new Error('module discovery is not configured (lib/wiring.ts exportDeps)');
    return wanted;
  }
  const list = await deps.modules.list(signal ? { signal } : {});
  if (wanted === 'all') {
    const all = list.modules.filter((m) => m.exportable).map((m) => m.api_name);
    if (!all.length)
      throw new ExportRequestError(400, 'NO_EXPORTABLE_MODULES', 'GET /modules lists no exportable module');
    if (all.length > MAX_SNAPSHOT_MODULES)
      throw new ExportRequestError(
        400,
        'TOO_MANY_MODULES',
        `the org has ${all.length} exportable modules; a snapshot takes at most ${MAX_SNAPSHOT_MODULES}: list them in two snapshots`,
      );
    return all;
  }
  const known = new Map(list.modules.map((m) => [m.api_name, m]));
  const unknown = wanted.filter((m) => !known.has(m));
  if (unknown.length)
    throw new ExportRequestError(
      400,
      'UNKNOWN_MODULE',
      `the org has no module ${unknown.join(', ')} (GET /modules lists them; API names are case-sensitive)`,
    );
  const refused = wanted.flatMap((m) => {
    const info = known.get(m);
    return info && !info.exportable ? [`${m} (${info.detail ?? info.reason ?? 'not exportable'})`] : [];
  });
  if (refused.length)
    throw new ExportRequestError(400, 'MODULE_NOT_EXPORTABLE', `not exportable: ${refused.join('; ')}`);
  return wanted;
}

/**
 * Starts a snapshot: records it and its exports, then creates first pages until `deadline`. With an
 * idempotency key, a retry of the same request returns the same snapshot (`created: false`).
 */
export async function startSnapshot(
  deps: ExportDeps,
  req: SnapshotRequest & { idempotencyKey?: string | undefined; deadline: number; signal?: AbortSignal },
): Promise<{ created: boolean; snapshotId: string }> {
  const now = deps.now ?? Date.now;
  let snapshotId = newSnapshotId(now());
  const key = req.idempotencyKey;
  let owner: string | undefined;
  if (key !== undefined) {
    if (!deps.idempotency) throw new Error('idempotency store not configured');
    const hash = requestHash({ kind: 'snapshot', modules: req.modules, mode: req.mode });
    const maxWaitMs = deps.idempotencyWaitMs ?? 10_000;
    const waitStart = performance.now();
    for (;;) {
      const c = await deps.idempotency.claim(key, hash, snapshotId);
      if (c.kind === 'reused')
        throw new ExportRequestError(
          409,
          'IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used with a different request in the last 24 h; use a new key for a new snapshot',
        );
      if (c.kind === 'done') return { created: false, snapshotId: c.exportId };
      if (c.kind === 'claimed') {
        owner = c.owner;
        snapshotId = c.exportId;
        break;
      }
      if (performance.now() - waitStart >= maxWaitMs || req.signal?.aborted)
        throw new ExportRequestError(
          409,
          'IDEMPOTENCY_KEY_IN_PROGRESS',
          'a request with this Idempotency-Key is still creating its snapshot; retry in a few seconds',
          2,
        );
      await sleep(250);
    }
  }
  const release = async (): Promise<void> => {
    if (key !== undefined && owner) await deps.idempotency!.release(key, owner).catch(() => undefined);
  };
  let modules: string[];
  try {
    modules = await resolveModules(deps, req.modules, req.signal);
  } catch (e) {
    await release();
    throw e;
  }
  const s = await recordSnapshot(deps, {
    snapshotId,
    mode: req.mode,
    members: modules.map((module) => ({ module, mode: 'full' })),
    ...(key !== undefined && owner ? { done: deps.idempotency!.doneOp(key, owner) } : {}),
    release,
  });
  await startFirstPages(deps, s, req.deadline, req.signal);
  return { created: true, snapshotId };
}

/**
 * A multi-module schedule's run (lib/schedules/snapshot-run.ts): a snapshot of the given exports (each
 * module full or incremental), `source: schedule:<name>`, first pages created until `deadline`.
 */
export async function startScheduleSnapshot(
  deps: ExportDeps,
  req: {
    schedule: string;
    mode: SnapshotRecord['mode'];
    members: SnapshotMemberSpec[];
    deadline: number;
    signal?: AbortSignal;
  },
): Promise<SnapshotRecord> {
  const snapshotId = newSnapshotId((deps.now ?? Date.now)());
  const s = await recordSnapshot(deps, {
    snapshotId,
    mode: req.mode,
    members: req.members,
    source: `schedule:${req.schedule}`,
  });
  await startFirstPages(deps, s, req.deadline, req.signal);
  return s;
}

/** Writes the snapshot and its exports (RUNNING, page 1 wanted) in one transaction. */
async function recordSnapshot(
  deps: ExportDeps,
  r: {
    snapshotId: string;
    mode: SnapshotRecord['mode'];
    members: SnapshotMemberSpec[];
    source?: `schedule:${string}`;
    /** The idempotency key's completion, written in the same transaction. */
    done?: TransactOp;
    release?: () => Promise<void>;
  },
): Promise<SnapshotRecord> {
  const now = deps.now ?? Date.now;
  const exports: ExportRecord[] = r.members.map((m) => ({
    ...deps.exports.newExport({
      export_id: newExportId(now()),
      module: m.module,
      source: r.source ?? 'api',
      query: { fields: null, criteria: m.criteria ?? null, cvid: null },
      api_version: deps.config.ZOHO_API_VERSION ?? 'v8',
      formats: formatsOf(deps),
      mode: m.mode,
      since: m.since,
    }),
    snapshot_id: r.snapshotId,
  }));
  const at = new Date(now()).toISOString();
  const snapshot: SnapshotRecord = {
    export_id: r.snapshotId,
    kind: 'snapshot',
    mode: r.mode,
    ...(r.source ? { source: r.source } : {}),
    modules: exports.map((e) => ({ module: e.module ?? '', export_id: e.export_id })),
    created_at: at,
    updated_at: at,
  };
  const written = await deps.exports.table.transact([
    snapshotStore(deps).createOp(snapshot),
    ...exports.map((e) => deps.exports.queuedOp(e)),
    ...(r.done ? [r.done] : []),
  ]);
  if (!written) {
    await r.release?.();
    throw new ExportRequestError(
      409,
      'SNAPSHOT_CONFLICT',
      'the snapshot could not be recorded (its id or the Idempotency-Key was taken meanwhile); list the snapshots before retrying',
    );
  }
  deps.metrics.count('ExportsStarted', exports.length);
  deps.logger.info('snapshot started', {
    snapshot_id: r.snapshotId,
    modules: exports.length,
    ...(r.source ? { source: r.source } : {}),
  });
  return snapshot;
}

/**
 * Creates the first pages one module at a time until the deadline. A page Zoho did not create for now
 * (throttled, unreachable) stops the run: its intent waits its backoff, and the sweep creates the rest.
 */
async function startFirstPages(
  deps: ExportDeps,
  s: SnapshotRecord,
  deadline: number,
  signal?: AbortSignal,
): Promise<void> {
  const now = deps.now ?? Date.now;
  for (const e of s.modules) {
    if (now() >= deadline || signal?.aborted) return;
    try {
      if (await createWantedPage(deps, e.export_id)) continue;
      const after = await deps.exports.get(e.export_id);
      // FAILED (Zoho refused the module): the others go on; still wanted: Zoho pushes back, stop here.
      if (after?.status === 'RUNNING') return;
    } catch (err) {
      deps.logger.warn('snapshot: a first page was not created; the sweep goes on', {
        export_id: e.export_id,
        error: describeError(err),
      });
      return;
    }
  }
}
