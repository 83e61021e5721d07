/**
 * Formula refresh schedules end to end (DynamoDB Local, s3rver, the fake Zoho): a full export, then
 * the fake recomputes a formula of some records without touching Modified_Time, then formula_refresh
 * runs; the views' SQL (as the views step wrote it) run in DuckDB over the Parquet files in S3.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../analytics/helpers.js';
import { apiOf, finish } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { queryView } from '../support/views.js';

const SCHEDULES = [
  { name: 'deals-formulas', module: 'Deals', mode: 'formula_refresh', schedule: 'cron(55 23 * * ? *)' },
  { name: 'contacts-formulas', module: 'Contacts', mode: 'formula_refresh', schedule: 'rate(1 day)' },
];

let h: Harness | undefined;
const tmp = tempDir();
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const COLS =
  'CAST(v."id" AS VARCHAR) AS id, v."margin__c" AS margin, epoch_ms(v."modified_time") AS mt, v."deal_name" AS name';

describe('formula_refresh schedules', () => {
  it('refresh the formula values of _current; _history gets a version only for a changed value', async () => {
    h = await pipelineHarness({
      config: { SCHEDULES: JSON.stringify(SCHEDULES), OUTPUT_FORMATS: 'csv,parquet' },
      fake: { moduleRecords: { Deals: 20, Contacts: 5 } },
    });
    const hh = h;
    const api = apiOf(hh);
    const current = () => queryView(hh, tmp.dir, 'Deals', 'zoho_deals_current', COLS);
    const history = () =>
      queryView(
        hh,
        tmp.dir,
        'Deals',
        'zoho_deals_history',
        `${COLS}, epoch_ms(v."_valid_from") AS valid_from, epoch_ms(v."_valid_to") AS valid_to, v."_is_current" AS is_current`,
      );
    const refresh = async () => {
      const r = await api('POST', '/schedules/deals-formulas/runs');
      expect(r.status).toBe(201);
      expect(r.body.mode).toBe('formula_refresh');
      expect(r.body.query).toMatchObject({ fields: ['id', 'Modified_Time', 'Margin__c'], criteria: null });
      const e = await finish(hh, r.body.export_id);
      expect(e.status).toBe('COMPLETED');
      return e;
    };

    const full = await api('POST', '/exports', { body: JSON.stringify({ module: 'Deals' }) });
    expect(full.status).toBe(201);
    expect((await finish(hh, full.body.export_id)).status).toBe('COMPLETED');
    const before = await current();
    expect(before).toHaveLength(20);
    const historyBefore = await history();
    expect(historyBefore).toHaveLength(20);

    // Zoho recomputes the formula of three deals: new values, the same Modified_Time.
    hh.clock.advance(3_600_000);
    const changed = new Set(hh.fake.recomputeFormulas('Deals', { indexes: [2, 5, 11] }));
    expect(changed.size).toBe(3);
    hh.clock.advance(60_000);
    const r1 = await refresh();

    const after = await current();
    expect(after.map((r) => [r.id, r.mt, r.name])).toEqual(before.map((r) => [r.id, r.mt, r.name]));
    for (const [i, row] of after.entries()) {
      if (changed.has(String(row.id))) expect(row.margin).not.toEqual(before[i]!.margin);
      else expect(row.margin).toEqual(before[i]!.margin);
    }
    // The manifest names the refresh; the views never take it as a version.
    const manifest = JSON.parse(
      (await hh.objectBytes(`${hh.config.S3_PREFIX}/_manifests/${r1.export_id}.json`)).toString(),
    );
    expect(manifest.mode).toBe('formula_refresh');

    const h1 = await history();
    expect(h1).toHaveLength(23);
    for (const id of changed) {
      const rows = h1.filter((r) => r.id === id).sort((a, b) => Number(a.valid_from) - Number(b.valid_from));
      expect(rows).toHaveLength(2);
      const [old, now] = rows;
      expect(old!.margin).toEqual(before.find((r) => r.id === id)!.margin);
      expect(old!.valid_from).toEqual(old!.mt);
      expect(old!.valid_to).toEqual(now!.valid_from);
      expect(Number(now!.valid_from)).toBeGreaterThan(Number(old!.mt));
      expect([now!.margin, now!.name, now!.valid_to, now!.is_current]).toEqual([
        after.find((r) => r.id === id)!.margin,
        old!.name,
        null,
        true,
      ]);
      expect(old!.is_current).toBe(false);
    }
    const unchanged = h1.filter((r) => !changed.has(String(r.id)));
    expect(unchanged).toEqual(historyBefore.filter((r) => !changed.has(String(r.id))));

    // A second refresh with nothing recomputed adds no version.
    hh.clock.advance(3_600_000);
    await refresh();
    expect(await current()).toEqual(after);
    expect(await history()).toEqual(h1);

    // A fresh full export reads what the refresh read: _current and _history stay as they are.
    hh.clock.advance(3_600_000);
    const full2 = await api('POST', '/exports', { body: JSON.stringify({ module: 'Deals' }) });
    expect((await finish(hh, full2.body.export_id)).status).toBe('COMPLETED');
    expect((await current()).map((r) => [r.id, r.margin])).toEqual(after.map((r) => [r.id, r.margin]));
    expect((await history()).map((r) => [r.id, r.margin, r.valid_from])).toEqual(
      h1.map((r) => [r.id, r.margin, r.valid_from]),
    );
  });

  it('a module without formula fields: the run is skipped with its reason, nothing exported', async () => {
    h = await pipelineHarness({
      config: { SCHEDULES: JSON.stringify(SCHEDULES), OUTPUT_FORMATS: 'csv,parquet' },
      fake: { moduleRecords: { Deals: 20, Contacts: 5 } },
    });
    const api = apiOf(h);
    const r = await api('POST', '/schedules/contacts-formulas/runs');
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('SCHEDULE_NOTHING_TO_EXPORT');
    expect(r.body.error.message).toMatch(/Contacts has no formula field/);
    const s = (await api('GET', '/schedules')).body.schedules.find(
      (x: { name: string }) => x.name === 'contacts-formulas',
    );
    expect(s).toMatchObject({ mode: 'formula_refresh', running: false, skipped_runs: 1, last_run: null });
    expect((await api('GET', '/exports?module=Contacts')).body.exports).toEqual([]);
  });
});
