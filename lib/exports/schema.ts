/**
 * The table governs a module's column types and names (docs/analytics.md, "Types that never break a
 * query"). Athena reads a Parquet file by column name and needs the file's type to be the table's,
 * so every page is written with the types and names of the module's table as it stands, whatever
 * Zoho's field metadata says now; only fields the table does not have yet take the metadata's type
 * and a new name (lib/analytics/names.ts). finalize.ts checks each page against the table at commit.
 */
import { planColumns, REASON_NOT_IN_METADATA, type ZohoField } from '../analytics/fields.js';
import { assignColumnNames, RESERVED_COLUMN_NAMES } from '../analytics/names.js';
import type { ColumnPlan, ColumnType, PlannedColumn } from '../analytics/types.js';
import { CodedError } from '../errors.js';
import type { ParquetFile } from '../jobs/model.js';
import { type CatalogColumn, glueType, type TypeChange, zohoComment, zohoFieldOf } from './catalog.js';

/** A table column has a type the converter cannot write (the table was edited by hand). */
export class CatalogTypeError extends CodedError {
  override name = 'CatalogTypeError';
  constructor(column: string, type: string) {
    super({
      code: 'CATALOG_TYPE_UNSUPPORTED',
      kind: 'terminal',
      message: `the table's column ${column} has the type ${type}, which the converter does not write`,
    });
  }
}

const norm = (glue: string): string => glue.toLowerCase().replace(/\s+/g, '');

/** The column type of a Glue type this product writes (glueType's inverse); undefined for any other. */
export function columnTypeFromGlue(glue: string): ColumnType | undefined {
  const t = norm(glue);
  const simple: Record<string, ColumnType> = {
    string: { kind: 'string' },
    bigint: { kind: 'int64' },
    double: { kind: 'double' },
    boolean: { kind: 'boolean' },
    date: { kind: 'date' },
    timestamp: { kind: 'timestamp' },
    'array<string>': { kind: 'list' },
  };
  if (Object.hasOwn(simple, t)) return simple[t];
  const d = /^decimal\((\d+),(\d+)\)$/.exec(t);
  return d ? { kind: 'decimal', precision: Number(d[1]), scale: Number(d[2]) } : undefined;
}

const isLineage = (c: CatalogColumn): boolean => RESERVED_COLUMN_NAMES.has(c.Name.toLowerCase());

/**
 * The table's column of each of `fields` (Zoho API names): the column whose comment names the field;
 * for a table written before the mapping was stored (no comment), the column named as the field
 * regardless of case.
 */
export function tableColumnsOf(
  fields: readonly string[],
  table: readonly CatalogColumn[],
): Map<string, CatalogColumn> {
  const byField = new Map<string, CatalogColumn>();
  const legacy = new Map<string, CatalogColumn>();
  for (const c of table) {
    const f = zohoFieldOf(c);
    if (f !== undefined) byField.set(f, c);
    else if (!isLineage(c)) legacy.set(c.Name.toLowerCase(), c);
  }
  const out = new Map<string, CatalogColumn>();
  for (const f of fields) {
    const c = byField.get(f) ?? legacy.get(f.toLowerCase());
    if (c && !byField.has(f)) legacy.delete(f.toLowerCase());
    if (c) out.set(f, c);
  }
  return out;
}

/**
 * The column plan of a page under its module's table (`table`: its columns, undefined when there is
 * none yet). `fields` null: no metadata for this export (`noMetadata` says why).
 * - a field the table has: the table's name and type; when Zoho's metadata now gives it another
 *   type, that type is kept in `metadataType` (reported as a type change) and a value that does not
 *   parse under the table's type is NULL with its text in `_zoho_conversion_errors`;
 * - a field the table does not have: a new name, the metadata's type (STRING without metadata).
 */
export function planUnderTable(
  header: readonly string[],
  fields: readonly ZohoField[] | null,
  noMetadata: string | undefined,
  table: readonly CatalogColumn[] | undefined,
): ColumnPlan {
  const meta = planColumns(header, fields).map((c) =>
    noMetadata && !c.reason ? { ...c, reason: noMetadata } : c,
  );
  const columns = table ?? [];
  const held = tableColumnsOf(header, columns);
  // Every column of the table keeps its name, also those of fields this page does not carry.
  const known = new Map<string, string>();
  for (const c of columns) {
    const f = zohoFieldOf(c);
    if (f !== undefined) known.set(f, c.Name);
  }
  for (const [f, c] of held) known.set(f, c.Name);
  const others = columns.filter((c) => !isLineage(c)).map((c) => c.Name);
  const names = assignColumnNames(header, known, others);
  return header.map((field, i): PlannedColumn => {
    const m = meta[i] as PlannedColumn;
    const name = names.get(field) as string;
    const col = held.get(field);
    if (!col) return { ...m, name, zohoField: field };
    const type = columnTypeFromGlue(col.Type);
    if (!type) throw new CatalogTypeError(col.Name, col.Type);
    if (glueType(m.type) === norm(col.Type)) return { ...m, name, zohoField: field, type };
    const listed = fields !== null && m.reason !== REASON_NOT_IN_METADATA;
    return {
      name,
      zohoField: field,
      type,
      zohoType: m.zohoType,
      ...(listed ? { metadataType: m.type } : {}),
      reason: listed
        ? `the table's type kept (Zoho's metadata now gives ${glueType(m.type)})`
        : `the table's type (${m.reason ?? 'no field metadata'})`,
    };
  });
}

type PageColumn = ParquetFile['columns'][number];
const fieldOfPage = (c: PageColumn): string => c.zoho_field ?? c.name;

/** True when every column of the page is the table's column of its field, with the table's type. */
export function pageAgrees(columns: readonly PageColumn[], table: readonly CatalogColumn[]): boolean {
  const byName = new Map(table.map((c) => [c.Name.toLowerCase(), c]));
  return columns.every((c) => {
    const t = byName.get(c.name.toLowerCase());
    if (!t || norm(t.Type) !== norm(c.type)) return false;
    const f = zohoFieldOf(t);
    return f !== undefined ? f === fieldOfPage(c) : fieldOfPage(c).toLowerCase() === t.Name.toLowerCase();
  });
}

/** The table columns a page asks for, each commented with the Zoho field it holds. */
export function catalogColumnOf(c: PageColumn): CatalogColumn {
  const note = c.reason ?? (c.zoho_type ? `Zoho ${c.zoho_type}` : null);
  return { Name: c.name, Type: c.type, Comment: zohoComment(fieldOfPage(c), note) };
}

/** The columns where the table's type is not the one Zoho's metadata gave when the page was written. */
export function typeChangesOf(pages: ReadonlyArray<readonly PageColumn[]>): TypeChange[] {
  const out = new Map<string, TypeChange>();
  for (const columns of pages) {
    for (const c of columns) {
      if (c.metadata_type && c.metadata_type !== c.type && !out.has(c.name)) {
        out.set(c.name, {
          column: c.name,
          zoho_field: fieldOfPage(c),
          table_type: c.type,
          zoho_type: c.metadata_type,
        });
      }
    }
  }
  return [...out.values()];
}
