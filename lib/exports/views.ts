/**
 * The views step of the commit (lib/exports/finalize.ts, right after the manifest): rewrites the
 * module's `zoho_<module>_current` and `zoho_<module>_history` views (SQL: lib/tables/views.ts) from
 * the source of truth, the manifests in S3 (the exports table forgets exports after its retention;
 * the manifests stay as long as the data). Idempotent: the same committed exports give the same view.
 *
 * Two commits at once: each reads the view's version, THEN lists the manifests (its own is written),
 * then writes only over that version (Glue UpdateTable with VersionId; the file catalog compares the
 * file under a lock); the loser starts over. So the last successful write listed the manifests after
 * every earlier write, and no committed export is left out.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  type CommittedExport,
  currentView,
  historyView,
  type TableColumn,
  type ViewDefinition,
  ViewsError,
  type ViewTableInput,
  viewTableInput,
} from '../tables/views.js';
import { manifestsLocation } from './layout.js';
import { EXPORT_MODES } from './model.js';
import { deletionsTableName, tableNameOf } from './table-names.js';

/** The catalog's side of the views: a table's columns, and a view read and written by version. */
export interface ViewCatalog {
  /** The columns of a table (undefined when it does not exist). */
  tableColumns(table: string): Promise<TableColumn[] | undefined>;
  readView(name: string): Promise<{ input: ViewTableInput; version: string } | undefined>;
  /**
   * Creates the view (`version` undefined) or replaces the one at `version`; false when another
   * writer got there first (the view exists, or is at another version): read again and retry.
   */
  writeView(input: ViewTableInput, version: string | undefined): Promise<boolean>;
}

// ------------------------------------------------------------------------ committed exports (manifests)

const manifestSchema = z.object({
  export_id: z.string(),
  module: z.string().nullable(),
  mode: z.enum(EXPORT_MODES).optional(),
  formats: z.array(z.string()).optional(),
  created_at: z.string(),
  export_date: z.string(),
  deletions: z.object({ parquet: z.object({ key: z.string() }).optional() }).optional(),
  query: z.looseObject({ criteria: z.unknown().optional(), fields: z.array(z.string()).nullish() }).nullish(),
});

/** Manifests read at once. */
const READS_AT_ONCE = 8;

/** The module's committed Parquet exports: one per manifest under `_manifests/`. */
export async function committedExports(
  s3: S3Client,
  bucket: string,
  prefix: string,
  module: string,
): Promise<CommittedExport[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: manifestsLocation(prefix),
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const out: CommittedExport[] = [];
  for (let i = 0; i < keys.length; i += READS_AT_ONCE) {
    const read = await Promise.all(
      keys.slice(i, i + READS_AT_ONCE).map(async (key) => {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return manifestSchema.parse(JSON.parse((await r.Body?.transformToString('utf8')) ?? ''));
      }),
    );
    for (const m of read) {
      if (m.module !== module || !(m.formats ?? []).includes('parquet')) continue;
      out.push({
        export_id: m.export_id,
        mode: m.mode ?? 'full',
        export_date: m.export_date,
        created_at: m.created_at,
        deletions: m.deletions?.parquet !== undefined,
        // An incremental export's own Modified_Time bound is not in its stored criteria (its mode says it).
        filtered: m.query?.criteria !== undefined && m.query.criteria !== null,
        ...(m.query?.fields ? { fields: m.query.fields } : {}),
      });
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------ the step

export interface ViewsDeps {
  s3: S3Client;
  bucket: string;
  prefix: string;
  database: string;
  views: ViewCatalog;
}

export type ViewsOutcome =
  | { kind: 'written'; views: string[] }
  /** The table cannot have the views (ViewsError): nothing written, the reason. */
  | { kind: 'unsupported'; reason: string };

/** Tries of one view's read-list-write before giving up (the finalize is retried by the sweep). */
const WRITE_TRIES = 8;

/**
 * Rewrites the module's views from its committed exports (see the top of the file). Called after
 * the manifest is written, so the export that commits is among them.
 */
export async function refreshViews(deps: ViewsDeps, module: string): Promise<ViewsOutcome> {
  const table = tableNameOf(module);
  const written: string[] = [];
  for (const which of [currentView, historyView]) {
    for (let attempt = 1; ; attempt++) {
      const existing = await deps.views.readView(
        which === currentView ? `${table}_current` : `${table}_history`,
      );
      let view: ViewDefinition | undefined;
      try {
        view = await wanted(deps, module, table, which);
      } catch (e) {
        if (e instanceof ViewsError) return { kind: 'unsupported', reason: e.message };
        throw e;
      }
      if (!view) break;
      const input = viewTableInput(
        deps.database,
        view,
        which === currentView
          ? `Zoho CRM ${module}: one row per record as of the latest committed full export and the incremental ones after it, deletions applied (rewritten at each commit)`
          : `Zoho CRM ${module}: every version of every record in the committed exports, with _valid_from, _valid_to, _is_current (rewritten at each commit)`,
        { 'zoho.module': module },
      );
      if (existing && sameView(existing.input, input)) break;
      if (await deps.views.writeView(input, existing?.version)) {
        written.push(input.Name);
        break;
      }
      if (attempt >= WRITE_TRIES)
        throw new Error(`view ${input.Name}: ${WRITE_TRIES} concurrent writes in a row`);
    }
  }
  return { kind: 'written', views: written };
}

async function wanted(
  deps: ViewsDeps,
  module: string,
  table: string,
  which: typeof currentView,
): Promise<ViewDefinition | undefined> {
  const columns = await deps.views.tableColumns(table);
  if (!columns) return undefined;
  const exports = await committedExports(deps.s3, deps.bucket, deps.prefix, module);
  return which({
    database: deps.database,
    table,
    deletionsTable: deletionsTableName(module),
    columns,
    exports,
  });
}

const sameView = (a: ViewTableInput, b: ViewTableInput): boolean =>
  a.ViewOriginalText === b.ViewOriginalText &&
  JSON.stringify(a.StorageDescriptor.Columns) === JSON.stringify(b.StorageDescriptor.Columns) &&
  a.Description === b.Description;

// ------------------------------------------------------------------------------- the two catalogs

export const viewInputSchema = z.object({
  Name: z.string(),
  Description: z.string(),
  TableType: z.literal('VIRTUAL_VIEW'),
  Parameters: z.record(z.string(), z.string()),
  PartitionKeys: z.tuple([]),
  ViewOriginalText: z.string(),
  ViewExpandedText: z.string(),
  StorageDescriptor: z.object({
    Columns: z.array(z.object({ Name: z.string(), Type: z.string() })),
    SerdeInfo: z.object({}).strict(),
  }),
});
const tableFileSchema = z.object({
  StorageDescriptor: z.object({ Columns: z.array(z.object({ Name: z.string(), Type: z.string() })) }),
});

/** A lock older than this was left by a writer that died. */
const STALE_LOCK_MS = 30_000;

/**
 * The local stack's views: the same TableInput JSON as Glue gets, beside the tables under
 * `dir/<database>/`. The version is the file's hash; a write compares it under a lock file (the
 * converter runs in another process).
 */
export function fileViewCatalog(dir: string, database: string): ViewCatalog {
  const path = (name: string) => join(dir, database, `${name}.json`);
  const text = async (name: string): Promise<string | undefined> => {
    try {
      return await readFile(path(name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  };
  const hash = (s: string) => createHash('sha256').update(s).digest('hex');
  const locked = async <T>(name: string, f: () => Promise<T>): Promise<T | undefined> => {
    const lock = `${path(name)}.lock`;
    await mkdir(join(dir, database), { recursive: true });
    try {
      await (await open(lock, 'wx')).close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await rm(lock, { force: true });
      return undefined; // busy: the caller reads again and retries
    }
    try {
      return await f();
    } finally {
      await rm(lock, { force: true });
    }
  };
  return {
    async tableColumns(table) {
      const t = await text(table);
      return t === undefined ? undefined : tableFileSchema.parse(JSON.parse(t)).StorageDescriptor.Columns;
    },
    async readView(name) {
      const t = await text(name);
      return t === undefined ? undefined : { input: viewInputSchema.parse(JSON.parse(t)), version: hash(t) };
    },
    async writeView(input, version) {
      const done = await locked(input.Name, async () => {
        const now = await text(input.Name);
        if ((now === undefined ? undefined : hash(now)) !== version) return false;
        const tmp = `${path(input.Name)}.tmp`;
        await writeFile(tmp, `${JSON.stringify(input, null, 2)}\n`);
        await rename(tmp, path(input.Name));
        return true;
      });
      return done === true;
    },
  };
}

/** An empty view input (what a foreign table under a view's name compares as: never equal). */
export const viewTableInputOf = (name: string): ViewTableInput => ({
  Name: name,
  Description: '',
  TableType: 'VIRTUAL_VIEW',
  Parameters: {},
  PartitionKeys: [],
  ViewOriginalText: '',
  ViewExpandedText: '',
  StorageDescriptor: { Columns: [], SerdeInfo: {} },
});
