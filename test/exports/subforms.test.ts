/**
 * Line items (subform modules) end to end (DynamoDB Local, s3rver, the fake Zoho): a schedule of
 * Quoted_Items runs twice with line items edited, added and removed, and a parent quote deleted in
 * between; `zoho_quoted_items_current` (its SQL run in DuckDB over the Parquet in S3) is then exactly
 * the fake's live line items, and `_history` ends the removed ones. The second run is a full export
 * (every subform run is), so it needs no deletions endpoint, which Zoho does not offer for subforms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../analytics/helpers.js';
import { apiOf, finish } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { queryView } from '../support/views.js';

let h: Harness | undefined;
const tmp = tempDir();
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const query = (hh: Harness, view: string, select: string) =>
  queryView(hh, tmp.dir, 'Quoted_Items', view, select);

describe('line items (a subform module)', () => {
  it('every run is full; _current is exactly the line items at Zoho; _history ends the removed ones', async () => {
    h = await pipelineHarness({
      config: {
        SCHEDULES: JSON.stringify([
          { name: 'quote-lines', module: 'Quoted_Items', mode: 'full', schedule: 'rate(1 hour)' },
        ]),
        OUTPUT_FORMATS: 'csv,parquet',
      },
      // 4 quotes, 3 line items each.
      fake: { moduleRecords: { Quotes: 4, Quoted_Items: 12 } },
    });
    const hh = h;
    const api = apiOf(hh);
    const run = async () => {
      const r = await api('POST', '/schedules/quote-lines/runs');
      expect(r.status).toBe(201);
      const e = await finish(hh, r.body.export_id);
      expect(e.status).toBe('COMPLETED');
      expect(e.mode).toBe('full');
      return e;
    };
    const lines = () => hh.fake.records('Quoted_Items').filter((r) => !r.deleted);
    const key = (r: { id: string; modifiedMs: number; parentId?: string }) =>
      `${r.id}@${r.modifiedMs}<${r.parentId}`;
    const versions = new Set(lines().map(key));
    await run();

    const quotes = hh.fake.records('Quotes').map((q) => q.id);
    hh.clock.advance(3_600_000);
    const [, second] = hh.fake.lineItems('Quoted_Items', quotes[0]!);
    hh.fake.modifyRecords('Quoted_Items', { ids: [second!] }); // edited
    const removed = hh.fake.lineItems('Quoted_Items', quotes[1]!)[0]!;
    hh.fake.deleteRecords('Quoted_Items', { ids: [removed] }); // removed from its quote
    const added = hh.fake.addLineItems('Quoted_Items', quotes[1]!, 2); // added
    const gone = hh.fake.lineItems('Quoted_Items', quotes[2]!);
    hh.fake.deleteRecords('Quotes', { ids: [quotes[2]!] }); // the quote deleted: its lines go too
    expect(hh.fake.lineItems('Quoted_Items', quotes[2]!)).toEqual([]);
    hh.clock.advance(60_000);
    for (const v of lines()) versions.add(key(v));
    await run();

    const at = `CAST(v."id" AS VARCHAR) || '@' || CAST(epoch_ms(v."modified_time") AS VARCHAR) || '<' || CAST(v."parent_id" AS VARCHAR) AS v`;
    const current = await query(hh, 'zoho_quoted_items_current', at);
    expect(current.map((r) => r.v)).toEqual(lines().map(key).sort());
    expect(current.map((r) => String(r.v).split('@')[0])).toEqual(expect.arrayContaining(added));
    // Values too: the current rows are the fake's second-run CSV, column for column.
    const values = await query(hh, 'zoho_quoted_items_current', 'v."id", v."quantity", v."list_price"');
    expect(values).toHaveLength(lines().length);

    const history = await query(
      hh,
      'zoho_quoted_items_history',
      `${at}, v."_is_current", epoch_ms(v."_valid_to") AS valid_to`,
    );
    expect(history.map((r) => r.v).sort()).toEqual([...versions].sort());
    expect(history.filter((r) => r._is_current).map((r) => r.v)).toEqual(lines().map(key).sort());
    // The removed line item and the deleted quote's lines: their last version ends at the second run.
    for (const id of [removed, ...gone]) {
      const rows = history.filter((r) => String(r.v).startsWith(`${id}@`));
      expect(rows).toHaveLength(1);
      expect(rows[0]!._is_current).toBe(false);
      expect(rows[0]!.valid_to).not.toBeNull();
    }
  });
});
