/**
 * Formula refreshes in the views (lib/tables/formulas.ts): `_current` takes the newest refresh of the
 * version in force, `_history` gets a row only when a refreshed value changed; run in DuckDB over a
 * small table made in memory.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { type CommittedExport, currentScope, currentView, historyView } from '../../lib/tables/views.js';

const COLUMNS = [
  { Name: 'id', Type: 'bigint' },
  { Name: 'Last_Name', Type: 'string' },
  { Name: 'Score__c', Type: 'double' },
  { Name: 'Modified_Time', Type: 'timestamp' },
  { Name: '_export_id', Type: 'string' },
  { Name: '_exported_at', Type: 'timestamp' },
];
const FORMULA_FIELDS = ['id', 'Modified_Time', 'Score__c'];

const ex = (id: string, mode: CommittedExport['mode'], day: string, fields?: string[]): CommittedExport => ({
  export_id: id,
  mode,
  export_date: day,
  created_at: `${day}T01:00:00.000Z`,
  deletions: false,
  ...(fields ? { fields } : {}),
});

// ex_a full, ex_r1 refresh, ex_b incremental, ex_r2 refresh; ex_z a refresh that never committed.
const EXPORTS = [
  ex('ex_a', 'full', '2025-01-01'),
  ex('ex_r1', 'formula_refresh', '2025-01-02', FORMULA_FIELDS),
  ex('ex_b', 'incremental', '2025-01-03'),
  ex('ex_r2', 'formula_refresh', '2025-01-04', FORMULA_FIELDS),
];
const input = (exports = EXPORTS) => ({
  database: 'zoho_crm',
  table: 'zoho_deals',
  deletionsTable: 'zoho_deals_deletions',
  columns: COLUMNS,
  exports,
});

/** [id, last_name (null in a refresh), score, modified_time, export_id, export_date]. */
type Row = [number, string | null, number | null, string, string, string];
const M = '2024-12-01 00:00:00';
const ROWS: Row[] = [
  [1, 'a1', 10, M, 'ex_a', '2025-01-01'],
  [2, 'b1', 20, M, 'ex_a', '2025-01-01'],
  [3, 'c1', 30, M, 'ex_a', '2025-01-01'],
  [4, 'd1', 40, M, 'ex_a', '2025-01-01'],
  [5, 'e1', 50, M, 'ex_a', '2025-01-01'],
  [1, null, 10, M, 'ex_r1', '2025-01-02'], // unchanged
  [2, null, 25, M, 'ex_r1', '2025-01-02'], // changed
  [3, null, 35, M, 'ex_r1', '2025-01-02'], // changed, then the record is edited
  [4, null, null, M, 'ex_r1', '2025-01-02'], // the formula is now empty
  [5, null, 50, M, 'ex_r1', '2025-01-02'],
  [3, 'c2', 40, '2025-01-02 12:00:00', 'ex_b', '2025-01-03'], // the edit
  [1, null, 15, M, 'ex_r2', '2025-01-04'], // changed
  [2, null, 25, M, 'ex_r2', '2025-01-04'], // unchanged
  [3, null, 40, '2025-01-02 12:00:00', 'ex_r2', '2025-01-04'], // unchanged
  [4, null, null, M, 'ex_r2', '2025-01-04'],
  [5, null, 99, '2025-01-03 12:00:00', 'ex_r2', '2025-01-04'], // edited after ex_b: waits for its export
  [1, null, 77, M, 'ex_z', '2025-01-05'], // uncommitted
  // ex_c: a later full export (read only where named): the values the refreshes read; 5 is gone.
  [1, 'a1', 15, M, 'ex_c', '2025-01-06'],
  [2, 'b1', 25, M, 'ex_c', '2025-01-06'],
  [3, 'c2', 40, '2025-01-02 12:00:00', 'ex_c', '2025-01-06'],
  [4, 'd1', null, M, 'ex_c', '2025-01-06'],
];

const sqlValue = (v: string | number | null): string =>
  v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v}'`;

async function run(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    await con.run("SET TimeZone='UTC'");
    await con.run('CREATE SCHEMA zoho_crm');
    await con.run(
      `CREATE TABLE zoho_crm.zoho_deals ("id" BIGINT, "Last_Name" VARCHAR, "Score__c" DOUBLE, "Modified_Time" TIMESTAMPTZ, "_export_id" VARCHAR, "_exported_at" TIMESTAMPTZ, "export_date" DATE)`,
    );
    for (const [id, name, score, mt, eid, day] of ROWS) {
      await con.run(
        `INSERT INTO zoho_crm.zoho_deals VALUES (${id}, ${sqlValue(name)}, ${sqlValue(score)}, TIMESTAMPTZ '${mt}+00', '${eid}', TIMESTAMPTZ '${day} 02:00:00+00', DATE '${day}')`,
      );
    }
    return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

describe('formula refreshes in the views', () => {
  it('are never a baseline nor a version of their own', () => {
    expect(currentScope(EXPORTS)?.map((e) => e.export_id)).toEqual(['ex_a', 'ex_b']);
    expect(currentScope([ex('ex_r1', 'formula_refresh', '2025-01-02', FORMULA_FIELDS)])).toBeUndefined();
    expect(
      historyView(input([ex('ex_r1', 'formula_refresh', '2025-01-02', FORMULA_FIELDS)])),
    ).toBeUndefined();
    const sql = currentView(input())!.sql;
    expect(sql).toContain(`t."_export_id" IN ('ex_a', 'ex_b')`);
    expect(sql).toContain(`r."_export_id" IN ('ex_r1', 'ex_r2')`);
    expect(sql).not.toContain('ex_z');
  });

  it('_current: the newest refresh of the version in force, else its own values', async () => {
    const rows = await run(`${currentView(input())!.sql} ORDER BY 1`);
    expect(rows.map((r) => [r.id, r.last_name, r.score__c, r._export_id])).toEqual([
      ['1', 'a1', 15, 'ex_a'],
      ['2', 'b1', 25, 'ex_a'],
      ['3', 'c2', 40, 'ex_b'],
      ['4', 'd1', null, 'ex_a'],
      ['5', 'e1', 50, 'ex_a'],
    ]);
  });

  it('_history: a new row only where a refreshed value changed', async () => {
    const rows = await run(`${historyView(input())!.sql} ORDER BY 1, "_valid_from"`);
    const at = (d: string) => `${d} 02:00:00+00`;
    expect(
      rows.map((r) => [r.id, r.last_name, r.score__c, r._valid_from, r._valid_to, r._is_current]),
    ).toEqual([
      ['1', 'a1', 10, `${M}+00`, at('2025-01-04'), false],
      ['1', 'a1', 15, at('2025-01-04'), null, true],
      ['2', 'b1', 20, `${M}+00`, at('2025-01-02'), false],
      ['2', 'b1', 25, at('2025-01-02'), null, true],
      ['3', 'c1', 30, `${M}+00`, at('2025-01-02'), false],
      ['3', 'c1', 35, at('2025-01-02'), '2025-01-02 12:00:00+00', false],
      ['3', 'c2', 40, '2025-01-02 12:00:00+00', null, true],
      ['4', 'd1', 40, `${M}+00`, at('2025-01-02'), false],
      ['4', 'd1', null, at('2025-01-02'), null, true],
      ['5', 'e1', 50, `${M}+00`, null, true],
    ]);
  });

  it('with a later full export (absence ends versions): the same states', async () => {
    const later = [...EXPORTS, ex('ex_c', 'full', '2025-01-06')];
    const sql = historyView(input(later))!.sql;
    expect(sql).toContain('"absent"');
    // ex_c's copies read what the refreshes read: no new state (the lineage columns are the latest
    // copy's); 5, absent from it, ends there.
    const rows = await run(`${sql} ORDER BY 1, "_valid_from"`);
    const plain = await run(`${historyView(input())!.sql} ORDER BY 1, "_valid_from"`);
    const five = plain.at(-1)!;
    expect(five).toMatchObject({ id: '5', _valid_to: null, _is_current: true });
    const ended = { ...five, _valid_to: '2025-01-06 02:00:00+00', _is_current: false };
    expect(rows.map((r) => ({ ...r, export_date: null, _export_id: null, _exported_at: null }))).toEqual(
      [...plain.slice(0, -1), ended].map((r) => ({
        ...r,
        export_date: null,
        _export_id: null,
        _exported_at: null,
      })),
    );
  });

  it('a refresh that lacks a formula field of the newest one does not count', async () => {
    const older = [
      ex('ex_a', 'full', '2025-01-01'),
      ex('ex_r1', 'formula_refresh', '2025-01-02', ['id', 'Modified_Time']),
    ];
    // No formula field in the newest refresh: the views are exactly those without refreshes.
    expect(currentView(input(older))!.sql).toBe(currentView(input([older[0]!]))!.sql);
    expect(historyView(input(older))!.sql).toBe(historyView(input([older[0]!]))!.sql);
    const mixed = [...older, ex('ex_r2', 'formula_refresh', '2025-01-04', FORMULA_FIELDS)];
    const sql = currentView(input(mixed))!.sql;
    expect(sql).toContain(`r."_export_id" IN ('ex_r2')`);
  });
});
