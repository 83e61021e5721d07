/**
 * The Glue Data Catalog: one table per module (`zoho_<module>`, Parquet, read by column name,
 * partition projection on `export_date`, so Athena can query it at once, with no crawler and no
 * `MSCK REPAIR`), created when an export of the module first completes and widened when a later
 * export brings new fields; and the `zoho_exports` table over the manifests (created by the stack),
 * which tells which exports are complete. The table governs: a column keeps its first type, and
 * every file under the table is written with the table's types (lib/exports/schema.ts); each
 * column's comment names the Zoho field it holds (`zoho:<api name>`), the mapping later exports reuse.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type ColumnType, LINEAGE_COLUMNS } from '../analytics/types.js';
import { manifestsLocation, parquetModuleLocation } from './layout.js';
import { tableNameOf } from './table-names.js';
import { fileViewCatalog, type ViewCatalog } from './views.js';

export { tableNameOf };

export interface CatalogColumn {
  Name: string;
  Type: string;
  Comment?: string;
}

/** Glue's TableInput, the part this product sets. */
export interface TableInput {
  Name: string;
  Description: string;
  TableType: 'EXTERNAL_TABLE';
  Parameters: Record<string, string>;
  PartitionKeys: CatalogColumn[];
  StorageDescriptor: {
    Columns: CatalogColumn[];
    Location: string;
    InputFormat: string;
    OutputFormat: string;
    SerdeInfo: { SerializationLibrary: string; Parameters?: Record<string, string> };
  };
}

/** The columns every Parquet file of this product ends with, after the CSV's (lib/analytics/types.ts). */
export const LINEAGE_CATALOG_COLUMNS: readonly CatalogColumn[] = [
  { Name: LINEAGE_COLUMNS.exportId, Type: 'string' },
  { Name: LINEAGE_COLUMNS.jobId, Type: 'string' },
  { Name: LINEAGE_COLUMNS.exportedAt, Type: 'timestamp' },
  { Name: LINEAGE_COLUMNS.conversionErrors, Type: 'string' },
];

/** The Hive/Glue type of a Parquet column (`lib/analytics` column types). */
export function glueType(t: ColumnType): string {
  switch (t.kind) {
    case 'string':
      return 'string';
    case 'int64':
      return 'bigint';
    case 'double':
      return 'double';
    case 'decimal':
      return `decimal(${t.precision},${t.scale})`;
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'timestamp':
      return 'timestamp';
    case 'list':
      return 'array<string>';
  }
}

/** `zoho_contacts`, `zoho_sales_orders`, `zoho_projects__c`. */
export const EXPORTS_TABLE_NAME = 'zoho_exports';
/** The first day projection covers; Athena projects days from it up to today. */
export const PROJECTION_START = '2020-01-01';

const PARQUET = {
  InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
};

/**
 * A Parquet table over `location` (an s3:// URL ending in `/`), read by column name, with
 * `export_date` projected as a date from the S3 layout (no crawler, no partitions to add).
 */
export function projectedParquetTable(opts: {
  name: string;
  description: string;
  location: string;
  module: string;
  columns: CatalogColumn[];
}): TableInput {
  const { location } = opts;
  return {
    Name: opts.name,
    Description: opts.description,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      classification: 'parquet',
      EXTERNAL: 'TRUE',
      'projection.enabled': 'true',
      'projection.export_date.type': 'date',
      'projection.export_date.format': 'yyyy-MM-dd',
      'projection.export_date.range': `${PROJECTION_START},NOW`,
      'projection.export_date.interval': '1',
      'projection.export_date.interval.unit': 'DAYS',
      'storage.location.template': `${location}export_date=\${export_date}/`,
      'zoho.module': opts.module,
    },
    PartitionKeys: [{ Name: 'export_date', Type: 'date' }],
    StorageDescriptor: { Columns: opts.columns, Location: location, ...PARQUET },
  };
}

/** A module's table: every exported page of the module, typed. */
export function moduleTableInput(opts: {
  bucket: string;
  prefix: string;
  module: string;
  columns: CatalogColumn[];
}): TableInput {
  return projectedParquetTable({
    name: tableNameOf(opts.module),
    description: `Zoho CRM ${opts.module}: every exported page, typed from Zoho's field metadata (filter on _export_id; see zoho_exports)`,
    location: `s3://${opts.bucket}/${parquetModuleLocation(opts.prefix, opts.module)}`,
    module: opts.module,
    columns: opts.columns,
  });
}

/** `zoho_exports`: one row per COMPLETED export, read from the manifests (one JSON object per file). */
export function exportsTableInput(opts: { bucket: string; prefix: string }): TableInput {
  const csv = 'struct<bucket:string,key:string,bytes:bigint,crc32:string>';
  const parquet = 'struct<bucket:string,key:string,bytes:bigint,rows:bigint,row_groups:int>';
  return {
    Name: EXPORTS_TABLE_NAME,
    Description: 'Every COMPLETED export of the Zoho CRM bulk exporter, from its manifest (the commit point)',
    TableType: 'EXTERNAL_TABLE',
    Parameters: { classification: 'json', EXTERNAL: 'TRUE' },
    PartitionKeys: [],
    StorageDescriptor: {
      Columns: [
        { Name: 'manifest_version', Type: 'int' },
        { Name: 'export_id', Type: 'string' },
        { Name: 'module', Type: 'string' },
        { Name: 'source', Type: 'string' },
        { Name: 'mode', Type: 'string' },
        { Name: 'zoho_api_version', Type: 'string' },
        { Name: 'created_at', Type: 'string' },
        { Name: 'completed_at', Type: 'string' },
        { Name: 'export_date', Type: 'string' },
        { Name: 'formats', Type: 'array<string>' },
        { Name: 'totals', Type: 'struct<pages:int,records:bigint,bytes:bigint>' },
        {
          Name: 'pages',
          Type: `array<struct<page:int,job_id:string,records:bigint,csv:${csv},parquet:${parquet}>>`,
        },
      ],
      Location: `s3://${opts.bucket}/${manifestsLocation(opts.prefix)}`,
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      SerdeInfo: {
        SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
        Parameters: { 'ignore.malformed.json': 'FALSE' },
      },
    },
  };
}

export interface TableChange {
  database: string;
  table: string;
  created: boolean;
  /** Columns added to an existing table (a later export brought new fields). */
  added: string[];
  /**
   * Columns whose type in the table differs from the one Zoho's metadata gives the field now: the
   * export's files were written with the table's type (`zoho_type`: the metadata's, as a Glue type).
   */
  type_changes: TypeChange[];
}

export interface TypeChange {
  column: string;
  zoho_field: string;
  table_type: string;
  zoho_type: string;
}

/** How a column's Glue comment names the Zoho field it holds: `zoho:Owner.last_name; <note>`. */
const ZOHO_COMMENT = /^zoho:([^;]*)/;
/** Glue's longest column comment. */
const MAX_COMMENT = 255;

export function zohoComment(field: string, note?: string | null): string {
  return `zoho:${field}${note ? `; ${note}` : ''}`.slice(0, MAX_COMMENT);
}

/** The Zoho API name a column holds, from its comment (undefined: a lineage column, or a table from before the mapping). */
export function zohoFieldOf(c: CatalogColumn): string | undefined {
  return ZOHO_COMMENT.exec(c.Comment ?? '')?.[1];
}

/**
 * Merges an export's columns into a table's: the table's columns kept as they are (name, type and
 * the field they hold), the export's new ones appended. A wanted column whose name or Zoho field the
 * table already has is not added (its pages are converted again under the table, see finalize.ts).
 */
export function mergeColumns(
  existing: CatalogColumn[] | undefined,
  wanted: CatalogColumn[],
): { columns: CatalogColumn[]; added: string[] } {
  if (!existing) return { columns: wanted, added: [] };
  const names = new Set(existing.map((c) => c.Name.toLowerCase()));
  const fields = new Set(existing.map(zohoFieldOf).filter((f) => f !== undefined));
  const columns = [...existing];
  const added: string[] = [];
  for (const c of wanted) {
    const field = zohoFieldOf(c);
    if (names.has(c.Name.toLowerCase()) || (field !== undefined && fields.has(field))) continue;
    columns.push(c);
    added.push(c.Name);
    names.add(c.Name.toLowerCase());
    if (field !== undefined) fields.add(field);
  }
  return { columns, added };
}

/** Where module tables are kept: Glue in AWS, JSON files in the local stack. */
export interface Catalog {
  readonly database: string;
  /** A table's columns as they are now; undefined when there is no such table. */
  getColumns(table: string): Promise<CatalogColumn[] | undefined>;
  /**
   * Creates the table, or adds the input's new columns to it (a conditional update: a concurrent
   * widening is merged again, never overwritten). `type_changes` is left empty (finalize.ts fills it).
   */
  ensureModuleTable(input: TableInput): Promise<TableChange>;
  /** The module tables' views (`_current`, `_history`: lib/exports/views.ts). */
  readonly views: ViewCatalog;
}

/** How long the local catalog waits for a table's lock, and when it takes over a dead holder's. */
const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 30_000;

/**
 * The table definitions the local stack would give Glue, as JSON files under `dir/<database>/`. A
 * widening reads, merges and writes under a lock file (created exclusively), so two processes
 * widening one table at once both keep their columns.
 */
export function fileCatalog(
  dir: string,
  database: string,
): Catalog & { read(table: string): Promise<TableInput | undefined> } {
  const path = (table: string) => join(dir, database, `${table}.json`);
  const read = async (table: string): Promise<TableInput | undefined> => {
    let text: string;
    try {
      text = await readFile(path(table), 'utf8');
    } catch (e) {
      if (isCode(e, 'ENOENT')) return undefined;
      throw e;
    }
    return tableInputSchema.parse(JSON.parse(text));
  };
  const write = async (t: TableInput): Promise<void> => {
    const tmp = `${path(t.Name)}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(t, null, 2)}\n`);
    await rename(tmp, path(t.Name));
  };
  const locked = async <T>(table: string, fn: () => Promise<T>): Promise<T> => {
    await mkdir(join(dir, database), { recursive: true });
    const lock = `${path(table)}.lock`;
    const until = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await writeFile(lock, String(process.pid), { flag: 'wx' });
        break;
      } catch (e) {
        if (!isCode(e, 'EEXIST')) throw e;
        const age = await stat(lock).then(
          (st) => Date.now() - st.mtimeMs,
          () => 0,
        );
        if (age > LOCK_STALE_MS) await rm(lock, { force: true });
        else if (Date.now() > until) throw new Error(`the catalog table ${table} stays locked (${lock})`);
        else await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { force: true });
    }
  };
  return {
    database,
    read,
    getColumns: async (table) => (await read(table))?.StorageDescriptor.Columns,
    views: fileViewCatalog(dir, database),
    ensureModuleTable: (input) =>
      locked(input.Name, async () => {
        const existing = await read(input.Name);
        const merged = mergeColumns(existing?.StorageDescriptor.Columns, input.StorageDescriptor.Columns);
        if (!existing || merged.added.length) {
          await write({
            ...input,
            StorageDescriptor: { ...input.StorageDescriptor, Columns: merged.columns },
          });
        }
        return { database, table: input.Name, created: !existing, added: merged.added, type_changes: [] };
      }),
  };
}

const isCode = (e: unknown, code: string): boolean => e instanceof Error && 'code' in e && e.code === code;

const columnSchema = z.object({ Name: z.string(), Type: z.string(), Comment: z.string().optional() });
/** A table file as `write` leaves it (read back through zod: the file may have been edited by hand). */
const tableInputSchema = z.looseObject({
  Name: z.string(),
  Description: z.string(),
  TableType: z.literal('EXTERNAL_TABLE'),
  Parameters: z.record(z.string(), z.string()),
  PartitionKeys: z.array(columnSchema),
  StorageDescriptor: z.looseObject({
    Columns: z.array(columnSchema),
    Location: z.string(),
    InputFormat: z.string(),
    OutputFormat: z.string(),
    SerdeInfo: z.looseObject({
      SerializationLibrary: z.string(),
      Parameters: z.record(z.string(), z.string()).optional(),
    }),
  }),
});
