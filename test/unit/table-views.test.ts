/**
 * The views' SQL (lib/tables/views.ts): what it names (only committed exports, literal bounds), the
 * Athena view format, and what it answers, run in DuckDB over small tables made in memory.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import {
  type CommittedExport,
  currentScope,
  currentView,
  historyView,
  prestoType,
  prestoViewOf,
  ViewsError,
  viewTableInput,
} from '../../lib/tables/views.js';

const COLUMNS = [
  { Name: 'id', Type: 'bigint' },
  { Name: 'Last_Name', Type: 'string' },
  { Name: 'Modified_Time', Type: 'timestamp' },
  { Name: '_export_id', Type: 'string' },
  { Name: '_job_id', Type: 'string' },
  { Name: '_exported_at', Type: 'timestamp' },
  { Name: '_zoho_conversion_errors', Type: 'string' },
];

const ex = (id: string, mode: 'full' | 'incremental', day: string, deletions = false): CommittedExport => ({
  export_id: id,
  mode,
  export_date: day,
  created_at: `${day}T01:00:00.000Z`,
  deletions,
});

// ex_a full (old), ex_b full (the baseline), ex_c and ex_d incremental after it; ex_z never committed.
const EXPORTS = [
  ex('ex_a', 'full', '2025-01-01'),
  ex('ex_b', 'full', '2025-02-01'),
  ex('ex_c', 'incremental', '2025-02-02', true),
  ex('ex_d', 'incremental', '2025-02-03', true),
];
const input = (exports = EXPORTS, columns = COLUMNS) => ({
  database: 'zoho_crm',
  table: 'zoho_contacts',
  deletionsTable: 'zoho_contacts_deletions',
  columns,
  exports,
});

/** Rows: [id, last_name, modified_time, export_id, export_date]. */
type Row = [number, string, string, string, string];
const ROWS: Row[] = [
  [1, 'a1', '2025-01-01 00:00:00', 'ex_a', '2025-01-01'],
  [1, 'a1', '2025-01-01 00:00:00', 'ex_b', '2025-02-01'], // the same version again
  [2, 'b1', '2025-01-05 00:00:00', 'ex_b', '2025-02-01'],
  [2, 'b2', '2025-02-01 12:00:00', 'ex_c', '2025-02-02'], // modified
  [3, 'c1', '2025-01-06 00:00:00', 'ex_b', '2025-02-01'], // deleted in ex_c
  [4, 'd1', '2025-01-07 00:00:00', 'ex_b', '2025-02-01'], // deleted in ex_c, restored and modified in ex_d
  [4, 'd2', '2025-02-02 12:00:00', 'ex_d', '2025-02-03'],
  [5, 'e1', '2025-02-02 13:00:00', 'ex_d', '2025-02-03'], // created
  [6, 'f1', '2024-12-01 00:00:00', 'ex_a', '2025-01-01'], // only in the old full export: gone
  [7, 'z1', '2025-02-03 00:00:00', 'ex_z', '2025-02-03'], // a page of an uncommitted export
  [2, 'zz', '2025-02-03 00:00:00', 'ex_z', '2025-02-03'],
];
/** [id, deleted_time, export_id, export_date]. */
const DELETIONS: Array<[string, string, string, string]> = [
  ['3', '2025-02-01 18:00:00', 'ex_c', '2025-02-02'],
  ['4', '2025-02-01 19:00:00', 'ex_c', '2025-02-02'],
  ['5', '2025-02-03 00:00:00', 'ex_z', '2025-02-03'], // uncommitted: ignored
];

async function run(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    await con.run("SET TimeZone='UTC'");
    await con.run('CREATE SCHEMA zoho_crm');
    await con.run(
      `CREATE TABLE zoho_crm.zoho_contacts ("id" BIGINT, "Last_Name" VARCHAR, "Modified_Time" TIMESTAMPTZ, "_export_id" VARCHAR, "_job_id" VARCHAR, "_exported_at" TIMESTAMPTZ, "_zoho_conversion_errors" VARCHAR, "export_date" DATE)`,
    );
    for (const [id, name, mt, eid, day] of ROWS) {
      await con.run(
        `INSERT INTO zoho_crm.zoho_contacts VALUES (${id}, '${name}', TIMESTAMPTZ '${mt}+00', '${eid}', 'j', TIMESTAMPTZ '${day} 02:00:00+00', NULL, DATE '${day}')`,
      );
    }
    await con.run(
      'CREATE TABLE zoho_crm.zoho_contacts_deletions (id VARCHAR, type VARCHAR, deleted_time TIMESTAMPTZ, "_export_id" VARCHAR, export_date DATE)',
    );
    for (const [id, at, eid, day] of DELETIONS) {
      await con.run(
        `INSERT INTO zoho_crm.zoho_contacts_deletions VALUES ('${id}', 'recycle', TIMESTAMPTZ '${at}+00', '${eid}', DATE '${day}')`,
      );
    }
    const r = await con.runAndReadAll(sql);
    return r.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

describe('the views of a module table', () => {
  it('_current reads the latest full export and the incremental ones after it, by literal bounds', () => {
    expect(currentScope(EXPORTS)?.map((e) => e.export_id)).toEqual(['ex_b', 'ex_c', 'ex_d']);
    expect(currentScope([ex('ex_c', 'incremental', '2025-02-02')])).toBeUndefined();
    // A filtered full export (criteria) adds versions but never becomes the baseline.
    const filtered = { ...ex('ex_e', 'full', '2025-02-04'), filtered: true };
    expect(currentScope([...EXPORTS, filtered])?.map((e) => e.export_id)).toEqual([
      'ex_b',
      'ex_c',
      'ex_d',
      'ex_e',
    ]);
    expect(currentScope([filtered])).toBeUndefined();
    const sql = currentView(input())!.sql;
    expect(sql).toContain(
      `t."export_date" >= DATE '2025-02-01' AND t."_export_id" IN ('ex_b', 'ex_c', 'ex_d')`,
    );
    expect(sql).toContain(`d."_export_id" IN ('ex_c', 'ex_d')`);
    expect(sql).not.toContain('ex_a');
    // Column names lower-cased, whatever the table's case.
    expect(sql).toContain('"modified_time"');
    expect(sql).not.toContain('Modified_Time');
  });

  it('_current: one row per live record, deletions applied, a restored and modified record back', async () => {
    const rows = await run(currentView(input())!.sql);
    expect(rows.map((r) => [r.id, r.last_name]).sort()).toEqual([
      ['1', 'a1'],
      ['2', 'b2'],
      ['4', 'd2'],
      ['5', 'e1'],
    ]);
    expect(Object.keys(rows[0]!)).toEqual([...COLUMNS.map((c) => c.Name.toLowerCase()), 'export_date']);
  });

  it('_history: one row per (id, modified_time) with its validity', async () => {
    const rows = await run(`${historyView(input())!.sql} ORDER BY 1, 3`);
    const got = rows.map((r) => [r.id, r.last_name, r._valid_to, r._is_current]);
    expect(got).toEqual([
      ['1', 'a1', null, true],
      ['2', 'b1', '2025-02-01 12:00:00+00', false],
      ['2', 'b2', null, true],
      ['3', 'c1', '2025-02-01 18:00:00+00', false],
      ['4', 'd1', '2025-02-01 19:00:00+00', false],
      ['4', 'd2', null, true],
      ['5', 'e1', null, true],
      // Absent from the later full export ex_b: ended when ex_b saw it gone (its rows' _exported_at).
      ['6', 'f1', '2025-02-01 02:00:00+00', false],
    ]);
    expect(rows.every((r) => r._valid_from === r.modified_time)).toBe(true);
    // _is_current agrees with _current.
    const current = (await run(currentView(input())!.sql)).map((r) => r.id).sort();
    expect(
      rows
        .filter((r) => r._is_current)
        .map((r) => r.id)
        .sort(),
    ).toEqual(current);
  });

  it('without deletions files, and without any committed export', async () => {
    const plain = [ex('ex_b', 'full', '2025-02-01')];
    const sql = currentView(input(plain))!.sql;
    expect(sql).not.toContain('zoho_contacts_deletions');
    expect((await run(sql)).map((r) => r.id).sort()).toEqual(['1', '2', '3', '4']);
    expect((await run(historyView(input(plain))!.sql)).length).toBe(4);
    expect(currentView(input([]))).toBeUndefined();
    expect(historyView(input([]))).toBeUndefined();
  });

  it('needs id and a timestamp Modified_Time', () => {
    expect(() => currentView(input(EXPORTS, COLUMNS.slice(1)))).toThrow(ViewsError);
    const untyped = COLUMNS.map((c) => (c.Name === 'Modified_Time' ? { ...c, Type: 'string' } : c));
    expect(() => historyView(input(EXPORTS, untyped))).toThrow(/not timestamp/);
  });

  it("is stored in Athena's view format", () => {
    const view = currentView(input())!;
    const t = viewTableInput('zoho_crm', view, 'd');
    expect(t).toMatchObject({
      TableType: 'VIRTUAL_VIEW',
      ViewExpandedText: '/* Presto View */',
      Parameters: { presto_view: 'true', comment: 'Presto View' },
    });
    expect(t.ViewOriginalText).toMatch(/^\/\* Presto View: [A-Za-z0-9+/=]+ \*\/$/);
    const presto = prestoViewOf(t);
    expect(presto).toMatchObject({ originalSql: view.sql, catalog: 'awsdatacatalog', schema: 'zoho_crm' });
    expect(presto.columns.slice(0, 3)).toEqual([
      { name: 'id', type: 'bigint' },
      { name: 'last_name', type: 'varchar' },
      { name: 'modified_time', type: 'timestamp' },
    ]);
    expect(t.StorageDescriptor.Columns[1]).toEqual({ Name: 'last_name', Type: 'string' });
    expect(prestoType('array<string>')).toBe('array(varchar)');
    expect(prestoType('struct<a:int,b:array<string>>')).toBe('row(a integer, b array(varchar))');
    expect(prestoType('decimal(12,2)')).toBe('decimal(12,2)');
  });
});
