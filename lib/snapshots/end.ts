/**
 * A snapshot ends when its last module's export ends: whichever export's end comes last writes the
 * snapshot manifest (`{prefix}/_snapshots/<snapshot_id>.json`, the module manifests of the
 * modules that landed) and publishes ONE event, `Snapshot Completed` or `Snapshot Failed`. Called from
 * each snapshot export's event publication (lib/exports/publish.ts), which the sweep retries until it
 * goes out: a failure here is thrown, so the export's event (and this check) are tried again. The
 * snapshot's end is claimed with a conditional write (a lease), so two exports ending at once end it once.
 */
import type { ExportDeps } from '../exports/deps.js';
import { EVENT_SOURCE, SNAPSHOT_EVENT_TYPES } from '../exports/events.js';
import { putJsonWithMd5 } from '../exports/manifest.js';
import type { ExportRecord } from '../exports/model.js';
import { type PublicSnapshot, snapshotView } from './model.js';
import { snapshotModules } from './read.js';
import { snapshotStore } from './store.js';

/** How long one taker holds a snapshot's end: ample for a PutObject and a PutEvents. */
const END_LEASE_MS = 60_000;

/**
 * Beside `_manifests/`, not under it: the manifests table (Athena) and the module views read every
 * object under `_manifests/` as an export's manifest.
 */
export const snapshotManifestKey = (prefix: string, snapshotId: string): string =>
  `${prefix ? `${prefix}/` : ''}_snapshots/${snapshotId}.json`;

/**
 * The manifest's body (the snapshot and, per module, its export's manifest, null where it failed), and
 * when the last of its exports expires (the snapshot item goes with them).
 */
async function manifestOf(
  deps: ExportDeps,
  view: PublicSnapshot,
): Promise<{ body: Record<string, unknown>; expiresAt: number | undefined }> {
  const records = await Promise.all(view.modules.map((m) => deps.exports.get(m.export_id)));
  const modules = view.modules.map((m, i) => ({ ...m, manifest: records[i]?.manifest ?? null }));
  const expiries = records.flatMap((r) => (r?.expires_at !== undefined ? [r.expires_at] : []));
  return {
    body: {
      manifest_version: 1,
      snapshot_id: view.snapshot_id,
      status: view.status,
      created_at: view.created_at,
      completed_at: view.completed_at,
      failed_modules: view.failed_modules,
      totals: view.totals,
      manifests: modules.flatMap((m) => (m.status === 'COMPLETED' && m.manifest ? [m.manifest] : [])),
      modules,
    },
    expiresAt: expiries.length ? Math.max(...expiries) : undefined,
  };
}

/** Whether the end of export `e` ends its snapshot now (every module's export has ended, the snapshot not yet). */
export async function endsSnapshot(deps: ExportDeps, e: ExportRecord): Promise<boolean> {
  if (!e.snapshot_id) return false;
  const s = await snapshotStore(deps).get(e.snapshot_id);
  if (!s || s.ended_at) return false;
  return (await snapshotModules(deps, s)).every((m) => m.status !== 'RUNNING');
}

/** The export `e` has ended: if it was its snapshot's last, end the snapshot (once). True when it did. */
export async function snapshotMemberEnded(deps: ExportDeps, e: ExportRecord): Promise<boolean> {
  // Its manifest is part of its end: a function that cannot write it leaves the end to one that can.
  const s3 = deps.s3;
  const bucket = deps.config.BUCKET;
  if (!e.snapshot_id || !s3 || !bucket) return false;
  const store = snapshotStore(deps);
  const s = await store.get(e.snapshot_id);
  if (!s || s.ended_at) return false;
  const modules = await snapshotModules(deps, s);
  if (modules.some((m) => m.status === 'RUNNING')) return false;
  const owner = await store.claimEnd(s.export_id, END_LEASE_MS);
  if (!owner) return false;
  try {
    const view = {
      ...snapshotView(s, modules),
      completed_at: new Date((deps.now ?? Date.now)()).toISOString(),
    };
    const manifest = { bucket, key: snapshotManifestKey(deps.config.S3_PREFIX ?? '', s.export_id) };
    const m = await manifestOf(deps, view);
    await putJsonWithMd5(s3, manifest, m.body, { 'snapshot-id': s.export_id });
    await deps.events?.publish({
      source: EVENT_SOURCE,
      detailType: view.status === 'COMPLETED' ? SNAPSHOT_EVENT_TYPES.COMPLETED : SNAPSHOT_EVENT_TYPES.FAILED,
      detail: { ...view, manifest },
    });
    await store.ended(s.export_id, owner, manifest, m.expiresAt);
  } catch (err) {
    await store.releaseEnd(s.export_id, owner).catch(() => undefined);
    throw err;
  }
  deps.logger.info('snapshot ended', { snapshot_id: s.export_id });
  return true;
}
