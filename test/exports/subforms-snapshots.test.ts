/**
 * Line items across incremental snapshots (DynamoDB Local, s3rver, the fake Zoho): a multi-module
 * incremental schedule of Quotes and Quoted_Items runs twice, with line items edited, removed and added
 * and a parent quote deleted in between. The second snapshot reads Quotes since its watermark (its
 * deletions with it) and Quoted_Items whole (a subform has no deletions endpoint), so
 * `zoho_quoted_items_current` (its SQL run in DuckDB over the Parquet in S3) is exactly the fake's live
 * line items and `zoho_quotes_current` no longer has the deleted quote.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../analytics/helpers.js';
import { apiOf, snapshotExports, untilSnapshotEnded } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { queryView } from '../support/views.js';

let h: Harness | undefined;
const tmp = tempDir();
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('line items across incremental snapshots', () => {
  it('edits, removals, additions and a deleted parent between two snapshots: _current is exactly Zoho', async () => {
    h = await pipelineHarness({
      config: {
        SCHEDULES: JSON.stringify([
          {
            name: 'quotes',
            modules: ['Quotes', 'Quoted_Items'],
            mode: 'incremental',
            schedule: 'rate(1 hour)',
          },
        ]),
        OUTPUT_FORMATS: 'csv,parquet',
      },
      // 4 quotes, 3 line items each.
      fake: { moduleRecords: { Quotes: 4, Quoted_Items: 12 } },
    });
    const hh = h;
    const api = apiOf(hh);
    const run = async () => {
      const r = await api('POST', '/schedules/quotes/runs');
      expect(r.status, r.raw).toBe(201);
      const done = await untilSnapshotEnded(hh, r.body.snapshot_id);
      expect(done.status).toBe('COMPLETED');
      return snapshotExports(hh, done);
    };
    const live = (module: string) => hh.fake.records(module).filter((r) => !r.deleted);
    const key = (r: { id: string; modifiedMs: number; parentId?: string }) =>
      `${r.id}@${r.modifiedMs}<${r.parentId ?? ''}`;

    const run1 = await run();
    for (const m of ['Quotes', 'Quoted_Items']) expect(run1[m], m).toMatchObject({ mode: 'full' });

    const quotes = hh.fake.records('Quotes').map((q) => q.id);
    hh.clock.advance(3_600_000);
    const [first, second] = hh.fake.lineItems('Quoted_Items', quotes[0]!);
    hh.fake.modifyRecords('Quoted_Items', { ids: [first!, second!] }); // edited
    const removed = hh.fake.lineItems('Quoted_Items', quotes[1]!).slice(0, 2);
    hh.fake.deleteRecords('Quoted_Items', { ids: removed }); // removed from their quote
    const added = hh.fake.addLineItems('Quoted_Items', quotes[3]!, 2); // added
    const gone = hh.fake.lineItems('Quoted_Items', quotes[2]!);
    expect(gone).toHaveLength(3);
    hh.fake.deleteRecords('Quotes', { ids: [quotes[2]!] }); // the quote deleted: its lines go too
    hh.fake.modifyRecords('Quotes', { ids: [quotes[0]!] }); // and another quote edited
    expect(hh.fake.lineItems('Quoted_Items', quotes[2]!)).toEqual([]);
    hh.clock.advance(60_000);
    const run2 = await run();

    // Quotes since its watermark (with its deletions); Quoted_Items whole.
    expect(run2.Quotes).toMatchObject({ mode: 'incremental', records: 1 });
    expect(run2.Quotes.since).not.toBeNull();
    const manifest = JSON.parse((await hh.objectBytes(run2.Quotes.manifest.key)).toString('utf8'));
    expect(manifest.deletions).toMatchObject({ since: run2.Quotes.since, csv: { records: 1 } });
    expect(run2.Quoted_Items).toMatchObject({
      mode: 'full',
      since: null,
      records: live('Quoted_Items').length,
    });

    const at = `CAST(v."id" AS VARCHAR) || '@' || CAST(epoch_ms(v."modified_time") AS VARCHAR) || '<' || COALESCE(CAST(v."parent_id" AS VARCHAR), '') AS v`;
    const lines = await queryView(hh, tmp.dir, 'Quoted_Items', 'zoho_quoted_items_current', at);
    const expected = live('Quoted_Items').map(key).sort();
    expect(expected).toHaveLength(12 - 2 + 2 - 3);
    expect(lines.map((r) => r.v)).toEqual(expected);
    const ids = lines.map((r) => String(r.v).split('@')[0]);
    expect(ids).toEqual(expect.arrayContaining(added));
    for (const id of [...removed, ...gone]) expect(ids).not.toContain(id);

    const quoteAt = `CAST(v."id" AS VARCHAR) || '@' || CAST(epoch_ms(v."modified_time") AS VARCHAR) || '<' AS v`;
    const current = await queryView(hh, tmp.dir, 'Quotes', 'zoho_quotes_current', quoteAt);
    expect(current.map((r) => r.v)).toEqual(live('Quotes').map(key).sort());
    expect(current.map((r) => String(r.v).split('@')[0])).not.toContain(quotes[2]);
  });
});
