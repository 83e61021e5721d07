/**
 * The catalog in AWS Glue: the module tables (GetTable, then CreateTable or UpdateTable, optimistic on
 * the table version) and their views (lib/exports/views.ts), through the same GetTable and writes.
 */
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  type GlueClient,
  type TableInput as GlueTableInput,
  type Table,
  UpdateTableCommand,
} from '@aws-sdk/client-glue';
import {
  type Catalog,
  type CatalogColumn,
  mergeColumns,
  type TableChange,
  type TableInput,
} from './catalog.js';
import { type ViewCatalog, viewInputSchema, viewTableInputOf } from './views.js';

/** The table (or view) `name`, or undefined when there is none. */
async function getTable(client: GlueClient, database: string, name: string): Promise<Table | undefined> {
  try {
    return (await client.send(new GetTableCommand({ DatabaseName: database, Name: name }))).Table;
  } catch (e) {
    if (e instanceof EntityNotFoundException) return undefined;
    throw e;
  }
}

/**
 * Creates the table (`at` undefined: there was none), or replaces it only at the version read
 * (UpdateTable with VersionId: a write made meanwhile fails this one).
 */
async function writeTable(
  client: GlueClient,
  database: string,
  input: GlueTableInput,
  at: { version: string | undefined } | undefined,
): Promise<void> {
  if (!at) await client.send(new CreateTableCommand({ DatabaseName: database, TableInput: input }));
  else
    await client.send(
      new UpdateTableCommand({
        DatabaseName: database,
        TableInput: input,
        VersionId: at.version,
        SkipArchive: true,
      }),
    );
}

/** Another writer created or changed the table meanwhile: read it again and merge. */
const lostRace = (e: unknown): boolean =>
  e instanceof AlreadyExistsException || e instanceof ConcurrentModificationException;

export function glueCatalog(client: GlueClient, database: string): Catalog {
  const get = async (
    name: string,
  ): Promise<{ columns: CatalogColumn[]; version: string | undefined } | undefined> => {
    const t = await getTable(client, database, name);
    if (!t) return undefined;
    return {
      // The comments are kept: they hold the Zoho field of each column (the name mapping).
      columns: (t.StorageDescriptor?.Columns ?? []).map((c) => ({
        Name: c.Name ?? '',
        Type: c.Type ?? 'string',
        ...(c.Comment !== undefined ? { Comment: c.Comment } : {}),
      })),
      version: t.VersionId,
    };
  };
  const ensure = async (input: TableInput, tries: number): Promise<TableChange> => {
    const existing = await get(input.Name);
    const merged = mergeColumns(existing?.columns, input.StorageDescriptor.Columns);
    const tableInput = {
      ...input,
      StorageDescriptor: { ...input.StorageDescriptor, Columns: merged.columns },
    };
    const change: TableChange = {
      database,
      table: input.Name,
      created: !existing,
      added: merged.added,
      type_changes: [],
    };
    try {
      // Conditional on the version read: a widening made meanwhile fails this one, which merges again.
      if (!existing || merged.added.length) await writeTable(client, database, tableInput, existing);
      return change;
    } catch (e) {
      // Another export created or widened the table meanwhile: merge again with what it wrote.
      if (lostRace(e) && tries > 1) return ensure(input, tries - 1);
      throw e;
    }
  };
  return {
    database,
    getColumns: async (name) => (await get(name))?.columns,
    ensureModuleTable: (input) => ensure(input, 5),
    views: glueViewCatalog(client, database),
  };
}

/** The views in AWS Glue: CreateTable, or UpdateTable at the version read (optimistic). */
export function glueViewCatalog(client: GlueClient, database: string): ViewCatalog {
  return {
    async tableColumns(table) {
      const t = await getTable(client, database, table);
      return t?.StorageDescriptor?.Columns?.map((c) => ({ Name: c.Name ?? '', Type: c.Type ?? 'string' }));
    },
    async readView(name) {
      const t = await getTable(client, database, name);
      if (!t) return undefined;
      const parsed = viewInputSchema.safeParse({
        Name: t.Name,
        Description: t.Description ?? '',
        TableType: t.TableType,
        Parameters: t.Parameters ?? {},
        PartitionKeys: [],
        ViewOriginalText: t.ViewOriginalText ?? '',
        ViewExpandedText: t.ViewExpandedText ?? '',
        StorageDescriptor: {
          Columns: (t.StorageDescriptor?.Columns ?? []).map((c) => ({
            Name: c.Name ?? '',
            Type: c.Type ?? '',
          })),
          SerdeInfo: {},
        },
      });
      // Something else under the view's name (a table made by hand): replaced at its version.
      const input = parsed.success ? parsed.data : viewTableInputOf(name);
      return { input, version: t.VersionId ?? '' };
    },
    async writeView(input, version) {
      try {
        await writeTable(client, database, input, version === undefined ? undefined : { version });
        return true;
      } catch (e) {
        if (lostRace(e)) return false;
        throw e;
      }
    },
  };
}
