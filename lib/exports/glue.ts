/** The catalog in AWS Glue: GetTable, then CreateTable or UpdateTable (optimistic on the table version). */
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  type GlueClient,
  UpdateTableCommand,
} from '@aws-sdk/client-glue';
import {
  type Catalog,
  type CatalogColumn,
  mergeColumns,
  type TableChange,
  type TableInput,
} from './catalog.js';
import { glueViewCatalog } from './views.js';

export function glueCatalog(client: GlueClient, database: string): Catalog {
  const get = async (
    name: string,
  ): Promise<{ columns: CatalogColumn[]; version: string | undefined } | undefined> => {
    try {
      const t = await client.send(new GetTableCommand({ DatabaseName: database, Name: name }));
      return {
        // The comments are kept: they hold the Zoho field of each column (the name mapping).
        columns: (t.Table?.StorageDescriptor?.Columns ?? []).map((c) => ({
          Name: c.Name ?? '',
          Type: c.Type ?? 'string',
          ...(c.Comment !== undefined ? { Comment: c.Comment } : {}),
        })),
        version: t.Table?.VersionId,
      };
    } catch (e) {
      if (e instanceof EntityNotFoundException) return undefined;
      throw e;
    }
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
      if (!existing)
        await client.send(new CreateTableCommand({ DatabaseName: database, TableInput: tableInput }));
      else if (merged.added.length) {
        // Conditional on the version read: a widening made meanwhile fails this one, which merges again.
        await client.send(
          new UpdateTableCommand({
            DatabaseName: database,
            TableInput: tableInput,
            VersionId: existing.version,
            SkipArchive: true,
          }),
        );
      }
      return change;
    } catch (e) {
      // Another export created or widened the table meanwhile: merge again with what it wrote.
      if (
        (e instanceof AlreadyExistsException || e instanceof ConcurrentModificationException) &&
        tries > 1
      ) {
        return ensure(input, tries - 1);
      }
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
