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
import { apiOf } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { queryView } from '../support/views.js';

let h: Harness | undefined;
const tmp = tempDir();
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Ticks until the snapshot has ended; its JSON as `GET /snapshots/{id}` shows it. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
async function untilEnded(x: Harness, id: string, maxTicks = 60): Promise<any> {
  const api = apiOf(x);
  for (let i = 0; i < maxTicks; i++) {
    await x.tick();
    const r = await api('GET', `/snapshots/${id}`);
    expect(r.status, r.raw).toBe(200);
    if (r.body.status !== 'RUNNING' && r.body.manifest) return r.body;
  }
  throw new Error(`snapshot ${id} still running after ${maxTicks} ticks`);
}

/** Each module's export of a snapshot, as `GET /exports/{id}` shows it. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
async function exportsOf(x: Harness, snapshot: any): Promise<Record<string, any>> {
  const api = apiOf(x);
  const out: Record<string, unknown> = {};
  for (const m of snapshot.modules as { module: string; export_id: string }[]) {
    const r = await api('GET', `/exports/${m.export_id}`);
    expect(r.status, r.raw).toBe(200);
    out[m.module] = r.body;
  }
  return out;
}

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
      const done = await untilEnded(hh, r.body.snapshot_id);
      expect(done.status).toBe('COMPLETED');
      return exportsOf(hh, done);
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
