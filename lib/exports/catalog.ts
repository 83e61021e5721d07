/**
 * The Glue Data Catalog: one table per module (`zoho_<module>`, Parquet, read by column name,
 * partition projection on `export_date`, so Athena can query it at once, with no crawler and no
 * `MSCK REPAIR`), created when an export of the module first completes and widened when a later
 * export brings new fields; and the `zoho_exports` table over the manifests (created by the stack),
 * which tells which exports are complete. A column whose type changes keeps its first type in the
 * table (the files stay readable); the change is reported.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ColumnType } from '../analytics/types.js';
import { manifestsLocation, parquetModuleLocation } from './layout.js';
import { fileViewCatalog, type ViewCatalog } from './views.js';

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
export const tableNameOf = (module: string): string =>
  `zoho_${module.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
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
  /** Columns whose type in this export differs from the table's; the table keeps its type. */
  type_changes: Array<{ column: string; table_type: string; export_type: string }>;
}

/** Merges an export's columns into a table's: new ones appended, the table's types kept. */
export function mergeColumns(
  existing: CatalogColumn[] | undefined,
  wanted: CatalogColumn[],
): { columns: CatalogColumn[]; added: string[]; typeChanges: TableChange['type_changes'] } {
  if (!existing) return { columns: wanted, added: [], typeChanges: [] };
  const byName = new Map(existing.map((c) => [c.Name.toLowerCase(), c]));
  const columns = [...existing];
  const added: string[] = [];
  const typeChanges: TableChange['type_changes'] = [];
  for (const c of wanted) {
    const had = byName.get(c.Name.toLowerCase());
    if (!had) {
      columns.push(c);
      added.push(c.Name);
    } else if (had.Type !== c.Type) {
      typeChanges.push({ column: c.Name, table_type: had.Type, export_type: c.Type });
    }
  }
  return { columns, added, typeChanges };
}

/** Where module tables are kept: Glue in AWS, JSON files in the local stack. */
export interface Catalog {
  readonly database: string;
  /** Creates the module's table, or adds the export's new columns to it. */
  ensureModuleTable(input: TableInput): Promise<TableChange>;
  /** The module tables' views (`_current`, `_history`: lib/exports/views.ts). */
  readonly views: ViewCatalog;
}

/** The table definitions the local stack would give Glue, as JSON files under `dir/<database>/`. */
export function fileCatalog(
  dir: string,
  database: string,
): Catalog & { read(table: string): Promise<TableInput | undefined> } {
  const path = (table: string) => join(dir, database, `${table}.json`);
  const read = async (table: string): Promise<TableInput | undefined> => {
    try {
      return JSON.parse(await readFile(path(table), 'utf8')) as TableInput;
    } catch {
      return undefined;
    }
  };
  const write = async (t: TableInput): Promise<void> => {
    await mkdir(join(dir, database), { recursive: true });
    const tmp = `${path(t.Name)}.tmp`;
    await writeFile(tmp, `${JSON.stringify(t, null, 2)}\n`);
    await rename(tmp, path(t.Name));
  };
  return {
    database,
    read,
    views: fileViewCatalog(dir, database),
    async ensureModuleTable(input) {
      const existing = await read(input.Name);
      const merged = mergeColumns(existing?.StorageDescriptor.Columns, input.StorageDescriptor.Columns);
      if (!existing || merged.added.length) {
        await write({ ...input, StorageDescriptor: { ...input.StorageDescriptor, Columns: merged.columns } });
      }
      return {
        database,
        table: input.Name,
        created: !existing,
        added: merged.added,
        type_changes: merged.typeChanges,
      };
    },
  };
}
