/**
 * Completing an export whose every page is in: `finalizeExport`, in named steps (failed pages, the
 * finalize claim, the catalog, the deletions, the manifest, the views, the completion).
 *
 * Order, and why: the manifest is the commit point a consumer reads (lib/exports/manifest.ts), so it
 * must be written once, by one finalizer, and describe the COMPLETED record exactly. A finalizer first
 * takes the export's finalize claim (ExportStore.claimFinalize, a conditional write with a lease);
 * only the holder touches the catalog, lands the deletions, writes the manifest and then completes the
 * export (ExportStore.complete, conditional on the claim) with the manifest's own `completed_at`. A
 * concurrent finalizer loses the claim and writes nothing. The other order (complete first, manifest
 * after, the sweep finishing a manifest a dead winner left unwritten) was not chosen: the manifest
 * holds the catalog change and the deletions file landed by that winner, which a later sweep cannot
 * rebuild as they were. If the holder dies, its claim's lease runs out (it outlasts every function
 * that finalizes) and the page's follow-through, still flagged, finalizes again.
 *
 * The views (`zoho_<module>_current`, `_history`, lib/exports/views.ts) are rewritten after the
 * manifest (they may name only committed exports) and before COMPLETED, so a failure there (Glue
 * down) leaves the export RUNNING and the sweep finalizes it again; the step is idempotent.
 */
import { compressionOf } from '../analytics/compression.js';
import { FUNCTIONS } from '../config.js';
import type { JobRecord } from '../jobs/model.js';
import { describeError } from '../observability.js';
import { landDeletions, type ManifestDeletions } from '../schedules/deletions.js';
import {
  type CatalogColumn,
  LINEAGE_CATALOG_COLUMNS,
  moduleTableInput,
  type TableChange,
} from './catalog.js';
import { type ExportDeps, pageJobs, sleep } from './deps.js';
import { failExport, scheduleRunEnded } from './end.js';
import { manifestKey } from './layout.js';
import { buildManifest, type Manifest, writeManifest } from './manifest.js';
import type { ExportRecord, ManifestLocation } from './model.js';
import { publishEvent } from './publish.js';
import { recoverPage } from './recovery.js';
import { catalogColumnOf, pageAgrees, typeChangesOf } from './schema.js';
import { refreshViews } from './views.js';

/**
 * How long a finalizer holds its claim: longer than the longest function that may finalize runs, so
 * a claim is only ever taken over from a finalizer that is surely gone.
 */
export const FINALIZE_LEASE_MS =
  Math.max(...Object.values(FUNCTIONS).map((f) => f.timeoutSeconds)) * 1000 + 60_000;

export type FinalizeOutcome =
  /** The export is COMPLETED (by this call). */
  | { kind: 'completed' }
  /** The export was failed (a page failed, or the deletions could not be landed). */
  | { kind: 'failed' }
  /** Nothing to do now: not RUNNING, a page still out, or the export changed meanwhile. */
  | { kind: 'not-ready' }
  /** Another finalizer holds the claim until `until`: look again then, in case it died. */
  | { kind: 'busy'; until: number };

const NOT_READY: FinalizeOutcome = { kind: 'not-ready' };

/** What the finalizer needs of the deps (S3 and where the manifest goes are required). */
type Finalizing = ExportDeps & {
  s3: NonNullable<ExportDeps['s3']>;
  config: ExportDeps['config'] & { BUCKET: string; S3_PREFIX: string };
};

function finalizing(deps: ExportDeps): Finalizing {
  const { s3, config } = deps;
  const { BUCKET, S3_PREFIX } = config;
  if (!s3 || !BUCKET || S3_PREFIX === undefined) throw new Error('finalizing an export needs S3');
  return { ...deps, s3, config: { ...config, BUCKET, S3_PREFIX } };
}

/**
 * Completes an export whose every page is EXPORTED (and converted, when it is written as Parquet) and
 * whose last page has no more records (see the top of the file for the order). An export with a
 * FAILED page (or a failed conversion) is failed. Anything not ready yet is left for a later call;
 * calling it twice, or twice at once, does no harm.
 */
export async function finalizeExport(deps: ExportDeps, exportId: string): Promise<FinalizeOutcome> {
  const e = await deps.exports.get(exportId);
  if (e?.status !== 'RUNNING' || e.intent_page !== undefined || e.page_jobs.length === 0) return NOT_READY;
  const jobs = await pageJobs(deps, e);
  if (await failedPage(deps, exportId, jobs)) return { kind: 'failed' };
  if (!pagesReady(e, jobs)) return NOT_READY;
  const d = finalizing(deps);
  const owner = await d.exports.claimFinalize(e, FINALIZE_LEASE_MS);
  if (!owner) return claimHeld(d, exportId);
  let done: Committed;
  try {
    done = await commit(d, e, jobs, owner);
  } catch (err) {
    // Let the next attempt (the page's follow-through, via the sweep) in at once, not after the lease.
    await d.exports.releaseFinalize(exportId, owner).catch(() => undefined);
    throw err;
  }
  if (done.kind === 'failed') return { kind: 'failed' };
  if (done.kind === 'lost' || done.kind === 'reconverting') {
    // The pages changed under the claim (a recovery), or some are being converted again under the
    // table: the next finalization (when they are) must not wait for this claim.
    await d.exports.releaseFinalize(exportId, owner);
    return NOT_READY;
  }
  recordCompletion(d, e, done.manifest, done.deletions);
  await scheduleRunEnded(d, exportId, 'COMPLETED');
  await publishEvent(d, exportId);
  return { kind: 'completed' };
}

/**
 * A page that FAILED (or whose conversion did) fails the export, unless it is being recovered.
 * Normally the page's failure already failed the export; this is the safety net. True when the
 * export is not to be completed because of it.
 */
async function failedPage(
  deps: ExportDeps,
  exportId: string,
  jobs: Array<JobRecord | undefined>,
): Promise<boolean> {
  for (const [i, j] of jobs.entries()) {
    const error =
      j?.status === 'FAILED' ? j.error : j?.parquet_status === 'FAILED' ? j.parquet_error : undefined;
    if (j && error !== undefined) {
      if (j.status === 'FAILED' && (await recoverPage(deps, j, error)).kind !== 'fail') return true;
      await failExport(deps, exportId, {
        ...(error ?? { code: 'FAILED', message: 'a page failed' }),
        page: i + 1,
        job_id: j.job_id,
      });
      return true;
    }
  }
  return false;
}

/** Every page is EXPORTED (and converted, for Parquet), and the last one has no more records. */
function pagesReady(e: ExportRecord, jobs: Array<JobRecord | undefined>): jobs is JobRecord[] {
  if (!jobs.every((j): j is JobRecord => j?.status === 'EXPORTED')) return false;
  if (jobs[jobs.length - 1]?.more_records) return false; // the next page is still to be wanted
  if (!(e.formats ?? []).includes('parquet')) return true;
  return jobs.every((j) => j?.parquet_status === 'DONE' && j.parquet);
}

/** The claim was not ours: busy while another finalizer holds it, else the export moved on. */
async function claimHeld(deps: ExportDeps, exportId: string): Promise<FinalizeOutcome> {
  const fresh = await deps.exports.get(exportId);
  const until = fresh?.finalize_until;
  if (fresh?.status === 'RUNNING' && fresh.finalize_owner && until !== undefined)
    return { kind: 'busy', until };
  return NOT_READY;
}

type Committed =
  | { kind: 'completed'; manifest: Manifest; deletions: ManifestDeletions | undefined }
  /** The deletions could not be landed: the export was failed. */
  | { kind: 'failed' }
  /** The export changed under the claim: nothing was completed. */
  | { kind: 'lost' }
  /** Pages disagree with the module's table: they are converted again, then the export finalizes. */
  | { kind: 'reconverting' };

/** The claim holder's work: the catalog, the deletions, the manifest, then COMPLETED. */
async function commit(
  deps: Finalizing,
  e: ExportRecord,
  jobs: JobRecord[],
  owner: string,
): Promise<Committed> {
  const now = deps.now ?? Date.now;
  const parquet = (e.formats ?? []).includes('parquet');
  const catalog = await updateCatalog(deps, e, jobs, parquet);
  if (catalog === 'reconverting') return { kind: 'reconverting' };
  const deletions = await deletionsOrFail(deps, e, parquet);
  if (deletions === 'failed') return { kind: 'failed' };
  const completedAt = new Date(now()).toISOString();
  const manifest = buildManifest(e, jobs, completedAt, catalog, deletions);
  const location: ManifestLocation = {
    bucket: deps.config.BUCKET,
    key: manifestKey(deps.config.S3_PREFIX, e.export_id),
  };
  await writeManifest(deps.s3, location, manifest);
  if (parquet) await updateViews(deps, e);
  if (!(await deps.exports.complete(e, location, completedAt, owner))) return { kind: 'lost' };
  return { kind: 'completed', manifest, deletions };
}

/**
 * Parquet: creates or widens the module's table with the pages' new columns, then checks every page
 * against the table as it now is. A page written before another export gave one of its columns
 * another type or name (two exports of a module committing at once) is converted again under the
 * table ('reconverting': the export finalizes when those pages are DONE again), so every file under
 * the table reads under its types. Type changes (the table's type kept, Zoho's metadata giving
 * another) are reported.
 */
async function updateCatalog(
  deps: Finalizing,
  e: ExportRecord,
  jobs: JobRecord[],
  parquet: boolean,
): Promise<TableChange | 'reconverting' | undefined> {
  if (!parquet || !e.module) return undefined;
  if (!deps.catalog) throw new Error('finalizing a Parquet export needs the catalog');
  const input = moduleTableInput({
    bucket: deps.config.BUCKET,
    prefix: deps.config.S3_PREFIX,
    module: e.module,
    columns: catalogColumns(jobs),
  });
  const change = await deps.catalog.ensureModuleTable(input);
  const table = (await deps.catalog.getColumns(input.Name)) ?? [];
  const stale = jobs.filter((j) => !pageAgrees(j.parquet?.columns ?? [], table));
  if (stale.length > 0) {
    if (!deps.convert) throw new Error('pages disagree with the table and there is no converter');
    for (const j of stale) {
      await deps.jobs.requestConversion(j.job_id);
      await deps.convert({ job_id: j.job_id });
    }
    deps.logger.warn("pages disagree with the module's table; converted again under it", {
      export_id: e.export_id,
      table: input.Name,
      pages: stale.map((j) => j.job_id),
    });
    return 'reconverting';
  }
  const catalog: TableChange = {
    ...change,
    type_changes: typeChangesOf(jobs.map((j) => j.parquet?.columns ?? [])),
  };
  for (const c of catalog.type_changes) {
    deps.metrics.count('CatalogTypeChanges');
    deps.logger.warn("a field's type in Zoho differs from the table's; the table's type was written", {
      export_id: e.export_id,
      table: catalog.table,
      ...c,
    });
  }
  return catalog;
}

/** The module's views, from the committed exports (the manifest just written among them). */
async function updateViews(deps: Finalizing, e: ExportRecord): Promise<void> {
  if (!e.module || !deps.catalog) return;
  const r = await refreshViews(
    {
      s3: deps.s3,
      bucket: deps.config.BUCKET,
      prefix: deps.config.S3_PREFIX,
      database: deps.catalog.database,
      views: deps.catalog.views,
    },
    e.module,
  );
  if (r.kind === 'unsupported')
    deps.logger.warn('the module has no views', { export_id: e.export_id, reason: r.reason });
  else if (r.views.length) deps.logger.info('views rewritten', { export_id: e.export_id, views: r.views });
}

/** The table's columns: every page's columns in order of first appearance, then the lineage columns. */
function catalogColumns(jobs: JobRecord[]): CatalogColumn[] {
  const seen = new Map<string, CatalogColumn>();
  for (const j of jobs) {
    for (const c of j.parquet?.columns ?? []) {
      if (!seen.has(c.name.toLowerCase())) seen.set(c.name.toLowerCase(), catalogColumnOf(c));
    }
  }
  return [...seen.values(), ...LINEAGE_CATALOG_COLUMNS];
}

/**
 * An incremental export's deletions file (lib/schedules/deletions.ts), landed before its manifest;
 * undefined for a full export. When Zoho's deleted records cannot be read the export fails ('failed').
 */
async function deletionsOrFail(
  deps: Finalizing,
  e: ExportRecord,
  parquet: boolean,
): Promise<ManifestDeletions | undefined | 'failed'> {
  if (e.mode !== 'incremental' || !e.since || !e.module) return undefined;
  try {
    return await landDeletions(
      {
        zoho: deps.zoho,
        s3: deps.s3,
        bucket: deps.config.BUCKET,
        prefix: deps.config.S3_PREFIX,
        catalog: parquet ? deps.catalog : undefined,
        compression: deps.config.PARQUET_COMPRESSION && compressionOf(deps.config.PARQUET_COMPRESSION),
        logger: deps.logger,
        now: deps.now ?? Date.now,
        sleep,
        ...(deps.random ? { random: deps.random } : {}),
      },
      e,
      e.since,
      parquet,
    );
  } catch (err) {
    const error = describeError(err);
    deps.logger.error("Zoho's deleted records could not be landed; the export failed", {
      export_id: e.export_id,
      error,
    });
    await failExport(deps, e.export_id, {
      code: error.code === 'INTERNAL_ERROR' ? 'DELETIONS_FAILED' : error.code,
      message: `deleted records not landed: ${error.message}`,
    });
    return 'failed';
  }
}

/** The metrics and the log line of a completed export. */
function recordCompletion(
  deps: ExportDeps,
  e: ExportRecord,
  manifest: Manifest,
  deletions: ManifestDeletions | undefined,
): void {
  const now = deps.now ?? Date.now;
  deps.metrics.count('ExportsCompleted');
  deps.metrics.count('ExportRecords', manifest.totals.records);
  deps.metrics.count(
    'ExportDurationSeconds',
    Math.max(0, Math.round((now() - Date.parse(e.created_at)) / 1000)),
  );
  deps.logger.info('export completed', {
    export_id: e.export_id,
    records: manifest.totals.records,
    pages: manifest.totals.pages,
    ...(deletions ? { deletions: deletions.csv.records } : {}),
  });
}
