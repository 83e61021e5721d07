/**
 * The two views of a module table that read only committed exports (pure: SQL text and Glue input):
 *
 *   zoho_<module>_current  one row per record as of the latest committed full export and every later
 *                          committed incremental one, minus the records deleted after their version
 *   zoho_<module>_history  every version (id, modified_time) in the committed exports, with
 *                          _valid_from, _valid_to (next version, or deletion, or NULL) and _is_current
 *
 * Committed formula refreshes update the formula columns of both (lib/tables/formulas.ts).
 *
 * Each view names its exports literally (`export_date >= DATE '…'` prunes the projected partitions;
 * `_export_id IN (…)` keeps out pages of RUNNING or FAILED exports, and prunes row groups by their
 * statistics, one export per file), so the SQL is rewritten whenever an export commits
 * (lib/exports/views.ts). The SQL keeps to what Trino (Athena engine v3) and DuckDB both run: CTEs,
 * window functions, DATE literals, CAST, double-quoted lower-case identifiers (Glue lower-cases
 * column names; DuckDB matches quoted identifiers case-insensitively).
 */
import { z } from 'zod';
import {
  formulaPlan,
  historyStates,
  refreshedCte,
  refreshedPick,
  refreshJoin,
  statesSelect,
  versionExports,
} from './formulas.js';
import {
  byCreation,
  type CommittedExport,
  literal,
  quote,
  rowsOf,
  type Shape,
  type TableColumn,
  ViewsError,
} from './sql.js';

export { type CommittedExport, type TableColumn, ViewsError } from './sql.js';

export interface ViewDefinition {
  name: string;
  sql: string;
  /** The view's columns, names lower-cased, Hive types. */
  columns: TableColumn[];
}

export const currentViewName = (table: string): string => `${table}_current`;
export const historyViewName = (table: string): string => `${table}_history`;

/**
 * The exports `_current` reads: the latest committed unfiltered full export (the baseline), and every
 * committed export created after it (incremental ones, and filtered full ones, which only add versions);
 * formula refreshes are never in it (lib/tables/formulas.ts).
 * Undefined while no unfiltered full export is committed (nothing is a complete baseline yet).
 */
export function currentScope(exports: CommittedExport[]): CommittedExport[] | undefined {
  const sorted = versionExports(exports).sort(byCreation);
  const baseline = sorted.findLastIndex((e) => e.mode === 'full' && !e.filtered);
  if (baseline < 0) return undefined;
  return sorted.slice(baseline);
}

/** The table's columns, with `id` and `Modified_Time` found whatever their case. */
function shapeOf(columns: TableColumn[]): Shape {
  const lower = columns.map((c) => ({ Name: c.Name.toLowerCase(), Type: c.Type.toLowerCase() }));
  const id = lower.find((c) => c.Name === 'id');
  const modified = lower.find((c) => c.Name === 'modified_time');
  if (!id || !modified) {
    throw new ViewsError('the table has no id or Modified_Time column: the exports must include both fields');
  }
  // A deletion is compared with the version's time; a string Modified_Time (no field metadata) cannot be.
  if (!modified.Type.startsWith('timestamp')) {
    throw new ViewsError(
      `Modified_Time is ${modified.Type}, not timestamp (the field metadata scope is missing)`,
    );
  }
  for (const need of ['_export_id', '_exported_at']) {
    if (!lower.some((c) => c.Name === need)) throw new ViewsError(`the table has no ${need} column`);
  }
  return {
    id: quote(id.Name),
    idType: id.Type === 'bigint' ? 'BIGINT' : 'VARCHAR',
    modified: quote(modified.Name),
    columns: lower,
  };
}

const PARTITION: TableColumn = { Name: 'export_date', Type: 'date' };

/**
 * A deletions file's id (a string column) as the table's id type: the few deleted ids are cast, not the
 * million versions' ids (measured: casting every version's id to text was a fifth of a `_current` query).
 * TRY_CAST: a malformed id matches nothing rather than failing the query.
 */
const deletedId = (shape: Shape, alias: string): string =>
  shape.idType === 'VARCHAR' ? `${alias}."id"` : `TRY_CAST(${alias}."id" AS ${shape.idType})`;

/** `database.table`, quoted. */
const qualified = (database: string, table: string): string => `${quote(database)}.${quote(table)}`;

export interface ViewsInput {
  database: string;
  /** `zoho_<module>` and its deletions table `zoho_<module>_deletions`. */
  table: string;
  deletionsTable: string;
  columns: TableColumn[];
  /** The module's committed Parquet exports. */
  exports: CommittedExport[];
  /**
   * A record absent from a later unfiltered full export is gone: `_history` ends its last version at
   * that export (the earliest `_exported_at` of its rows), so `_is_current` agrees with `_current`.
   * Default true. It is how a subform's removed line items end (no deletions file ever reports them:
   * lib/schedules/subforms.ts), and a record deleted before the first incremental run's window.
   */
  absenceEnds?: boolean;
}

/** `_current`, or undefined while no full export is committed. */
export function currentView(input: ViewsInput): ViewDefinition | undefined {
  const shape = shapeOf(input.columns);
  const scope = currentScope(input.exports);
  if (!scope) return undefined;
  const table = qualified(input.database, input.table);
  const deleting = scope.filter((e) => e.mode === 'incremental' && e.deletions);
  // Formula refreshes after the baseline (an older one read values the baseline already has).
  const formulas = formulaPlan(shape, input.exports, scope[0]);
  const out = [...shape.columns, PARTITION];
  const pick = (c: TableColumn) => (formulas && refreshedPick(formulas, c.Name)) ?? `v.${quote(c.Name)}`;
  const select = out.map((c) => `${pick(c)} AS ${quote(c.Name)}`).join(', ');
  const joinRefresh = formulas ? [refreshJoin(shape)] : [];
  const sql = [
    'WITH "versions" AS (',
    `  SELECT t.*, row_number() OVER (PARTITION BY t.${shape.id} ORDER BY t.${shape.modified} DESC, t."_exported_at" DESC, t."_export_id" DESC) AS "_rn"`,
    `  ${rowsOf(table, 't', scope)}`,
    ')',
    ...(formulas ? refreshedCte(table, shape, formulas) : []),
    ...(deleting.length
      ? [
          ', "gone" AS (',
          `  SELECT ${deletedId(shape, 'd')} AS "id", max(d."deleted_time") AS "deleted_time"`,
          `  ${rowsOf(qualified(input.database, input.deletionsTable), 'd', deleting)}`,
          `  GROUP BY ${deletedId(shape, 'd')}`,
          ')',
          `SELECT ${select}`,
          'FROM "versions" v',
          ...joinRefresh,
          `LEFT JOIN "gone" g ON g."id" = v.${shape.id} AND g."deleted_time" >= v.${shape.modified}`,
          'WHERE v."_rn" = 1 AND g."id" IS NULL',
        ]
      : [`SELECT ${select}`, 'FROM "versions" v', ...joinRefresh, 'WHERE v."_rn" = 1']),
  ].join('\n');
  return { name: currentViewName(input.table), sql, columns: out };
}

/** `_history`, or undefined while no export is committed. */
export function historyView(input: ViewsInput): ViewDefinition | undefined {
  const shape = shapeOf(input.columns);
  const scope = versionExports(input.exports).sort(byCreation);
  if (scope.length === 0) return undefined;
  const formulas = formulaPlan(shape, input.exports);
  const table = qualified(input.database, input.table);
  const deleting = scope.filter((e) => e.mode === 'incremental' && e.deletions);
  const fulls = scope.filter((e) => e.mode === 'full' && !e.filtered);
  const absent = (input.absenceEnds ?? true) && fulls.length > 1 ? fulls : undefined;
  const end = absent ? '"_closed"' : '"_end"';
  const out: TableColumn[] = [
    ...shape.columns,
    PARTITION,
    { Name: '_valid_from', Type: 'timestamp' },
    { Name: '_valid_to', Type: 'timestamp' },
    { Name: '_is_current', Type: 'boolean' },
  ];
  const select = [...shape.columns, PARTITION]
    .map((c) => `s.${quote(c.Name)} AS ${quote(c.Name)}`)
    .join(', ');
  const sql = [
    // One copy of each version: an overlap or a later full export exports it again.
    'WITH "copies" AS (',
    `  SELECT t.*, row_number() OVER (PARTITION BY t.${shape.id}, t.${shape.modified} ORDER BY t."_exported_at" DESC, t."_export_id" DESC) AS "_copy"`,
    `  ${rowsOf(table, 't', scope)}`,
    '), "versions" AS (',
    `  SELECT c.*, lead(c.${shape.modified}) OVER (PARTITION BY c.${shape.id} ORDER BY c.${shape.modified}) AS "_next"`,
    '  FROM "copies" c WHERE c."_copy" = 1',
    ')',
    ...(deleting.length
      ? [
          // The first deletion at or after each version: it ends the version unless a newer one came first.
          ', "ends" AS (',
          `  SELECT v.${shape.id} AS "id", v.${shape.modified} AS "modified_time", min(d."deleted_time") AS "deleted_time"`,
          '  FROM "versions" v',
          `  JOIN (SELECT DISTINCT ${deletedId(shape, 'd')} AS "id", d."deleted_time" ${rowsOf(qualified(input.database, input.deletionsTable), 'd', deleting)}) d`,
          `    ON d."id" = v.${shape.id} AND d."deleted_time" >= v.${shape.modified}`,
          `  GROUP BY v.${shape.id}, v.${shape.modified}`,
          '), "spans" AS (',
          '  SELECT v.*, CASE WHEN e."deleted_time" IS NOT NULL AND (v."_next" IS NULL OR e."deleted_time" < v."_next")',
          '    THEN e."deleted_time" ELSE v."_next" END AS "_end"',
          '  FROM "versions" v',
          `  LEFT JOIN "ends" e ON e."id" = v.${shape.id} AND e."modified_time" = v.${shape.modified}`,
          ')',
        ]
      : [', "spans" AS (', '  SELECT v.*, v."_next" AS "_end" FROM "versions" v', ')']),
    ...(absent ? absenceSql(table, shape, scope, absent) : []),
    ...(formulas
      ? [
          ...historyStates(table, shape, formulas, scope),
          ...statesSelect(
            shape,
            formulas,
            [...shape.columns, PARTITION].map((c) => c.Name),
            absent ? '"closed"' : '"spans"',
            end,
          ),
        ]
      : [
          `SELECT ${select}, s.${shape.modified} AS "_valid_from", s.${end} AS "_valid_to", s.${end} IS NULL AS "_is_current"`,
          `FROM ${absent ? '"closed"' : '"spans"'} s`,
        ]),
  ].join('\n');
  return { name: historyViewName(input.table), sql, columns: out };
}

/**
 * CTEs that end a record's last version at the first unfiltered full export after the last export
 * holding the record (`fulls`, in creation order) when an earlier end (a deletion) is not known. The
 * time is that export's earliest `_exported_at`: a column of the table's own timestamp type, so the
 * comparison holds in Trino and DuckDB alike (a literal would not match both engines' types).
 */
function absenceSql(
  table: string,
  shape: Shape,
  scope: CommittedExport[],
  fulls: CommittedExport[],
): string[] {
  const ord = `CASE t."_export_id" ${scope.map((e, i) => `WHEN ${literal(e.export_id)} THEN ${i}`).join(' ')} END`;
  return [
    ', "seen" AS (',
    `  SELECT t.${shape.id} AS "id", max(${ord}) AS "ord"`,
    `  ${rowsOf(table, 't', scope)}`,
    `  GROUP BY t.${shape.id}`,
    '), "fulls" AS (',
    `  SELECT ${ord} AS "ord", min(t."_exported_at") AS "at"`,
    `  ${rowsOf(table, 't', fulls)}`,
    '  GROUP BY 1',
    '), "absent" AS (',
    '  SELECT s."id", min(f."at") AS "at" FROM "seen" s JOIN "fulls" f ON f."ord" > s."ord" GROUP BY s."id"',
    '), "closed" AS (',
    // A new column, not `* REPLACE`: Trino has no REPLACE.
    '  SELECT p.*, CASE WHEN p."_next" IS NULL AND a."at" IS NOT NULL AND (p."_end" IS NULL OR a."at" < p."_end")',
    '    THEN a."at" ELSE p."_end" END AS "_closed"',
    '  FROM "spans" p',
    `  LEFT JOIN "absent" a ON a."id" = p.${shape.id}`,
    ')',
  ];
}

// ------------------------------------------------------------------------------ Athena's view format

/**
 * A Hive type as Presto/Trino spells it in a view's column list: `string` → `varchar`, `int` →
 * `integer`, `array<t>` → `array(t)`, `map<k,v>` → `map(k,v)`, `struct<a:t>` → `row(a t)`.
 */
export function prestoType(hive: string): string {
  const t = hive.trim().toLowerCase();
  const inner = (prefix: string) => t.slice(prefix.length, -1);
  if (t.startsWith('array<')) return `array(${prestoType(inner('array<'))})`;
  if (t.startsWith('map<')) return `map(${splitTop(inner('map<')).map(prestoType).join(', ')})`;
  if (t.startsWith('struct<')) {
    return `row(${splitTop(inner('struct<'))
      .map((f) => {
        const at = f.indexOf(':');
        return `${f.slice(0, at).trim()} ${prestoType(f.slice(at + 1))}`;
      })
      .join(', ')})`;
  }
  const simple: Record<string, string> = {
    string: 'varchar',
    int: 'integer',
    float: 'real',
    binary: 'varbinary',
  };
  return simple[t] ?? t;
}

/** Splits `a, b<c, d>, e` at the top-level commas. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '<' || ch === '(') depth++;
    else if (ch === '>' || ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out;
}

/** Glue's TableInput of an Athena view (the part this product sets). */
export interface ViewTableInput {
  Name: string;
  Description: string;
  TableType: 'VIRTUAL_VIEW';
  Parameters: Record<string, string>;
  PartitionKeys: [];
  ViewOriginalText: string;
  ViewExpandedText: string;
  StorageDescriptor: {
    Columns: TableColumn[];
    SerdeInfo: Record<string, never>;
  };
}

/** What `ViewOriginalText` encodes (Athena reads the SQL and the column types from it). */
const prestoViewSchema = z.object({
  originalSql: z.string(),
  catalog: z.literal('awsdatacatalog'),
  schema: z.string(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
});
export type PrestoView = z.infer<typeof prestoViewSchema>;

/**
 * A view as Athena writes it into Glue on `CREATE VIEW`: TableType VIRTUAL_VIEW, the Presto view (SQL,
 * catalog, schema, columns in Presto types) as base64 JSON inside `/* Presto View: … *\/`, Hive types in
 * the storage descriptor, `presto_view` = true. Athena documents no API for this; the format is the
 * one Athena itself stores, as used by e.g. github.com/iconara/terraform-aws-athena-view (main.tf) and
 * stackoverflow.com/questions/56289272 (create AWS Athena view programmatically).
 */
export function viewTableInput(
  database: string,
  view: ViewDefinition,
  description: string,
  parameters: Record<string, string> = {},
): ViewTableInput {
  const presto: PrestoView = {
    originalSql: view.sql,
    catalog: 'awsdatacatalog',
    schema: database,
    columns: view.columns.map((c) => ({ name: c.Name, type: prestoType(c.Type) })),
  };
  return {
    Name: view.name,
    Description: description,
    TableType: 'VIRTUAL_VIEW',
    Parameters: { presto_view: 'true', comment: 'Presto View', ...parameters },
    PartitionKeys: [],
    ViewOriginalText: `/* Presto View: ${Buffer.from(JSON.stringify(presto), 'utf8').toString('base64')} */`,
    ViewExpandedText: '/* Presto View */',
    StorageDescriptor: { Columns: view.columns, SerdeInfo: {} },
  };
}

/** The Presto view inside a view's `ViewOriginalText` (the local query command runs its SQL). */
export function prestoViewOf(input: Pick<ViewTableInput, 'ViewOriginalText'>): PrestoView {
  const m = /^\/\* Presto View: ([A-Za-z0-9+/=]+) \*\/$/.exec(input.ViewOriginalText);
  if (!m) throw new ViewsError('not an Athena view: ViewOriginalText is not /* Presto View: <base64> */');
  return prestoViewSchema.parse(JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8')));
}
