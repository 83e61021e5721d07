/**
 * The fake's line items (local/fake-zoho/subforms.ts): subform modules exported by Bulk Read with
 * `Parent_Id`, field metadata, line items added / edited / removed, a deleted parent taking its line
 * items (and a restore bringing them back), and the deleted-records API refusing subforms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeZoho, startFakeZoho } from '../../local/fake-zoho/index.js';
import { createJob, getJson, type Json, mintToken } from './helpers.js';

let fake: FakeZoho | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** The CSV of a store job over `module`, parsed naively (the subform's values hold no commas here). */
async function exportRows(f: FakeZoho, token: string, module: string, fields: string[]): Promise<string[][]> {
  const r = await createJob(f, token, { query: { module: { api_name: module }, fields } });
  expect(r.status).toBe(201);
  const id: string = (r.json as Json).data[0].details.id;
  f.completeNow(id);
  const chunks: Buffer[] = [];
  for await (const c of f.csv(id)) chunks.push(c);
  return Buffer.concat(chunks)
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));
}

describe('fake Zoho line items (subform modules)', () => {
  it('exports Quoted_Items with Parent_Id, and follows edits, removals and parent deletions', async () => {
    let t = 1_800_000_000_000;
    fake = await startFakeZoho({ now: () => t, moduleRecords: { Quotes: 3 } });
    const token = await mintToken(fake);
    // 3 quotes → 9 line items by default, 3 per quote.
    const quotes = fake.records('Quotes').map((q) => q.id);
    expect(fake.records('Quoted_Items')).toHaveLength(9);
    expect(fake.lineItems('Quoted_Items', quotes[1]!)).toHaveLength(3);

    const fields = ['Parent_Id', 'Quantity', 'Modified_Time'];
    const first = await exportRows(fake, token, 'Quoted_Items', fields);
    expect(first[0]).toEqual(['id', ...fields]);
    const parents = first.slice(1).map((r) => r[1]);
    expect(parents).toEqual(quotes.flatMap((q) => [q, q, q]));

    t += 60_000;
    const [a, b] = fake.lineItems('Quoted_Items', quotes[0]!);
    fake.modifyRecords('Quoted_Items', { ids: [a!] });
    fake.deleteRecords('Quoted_Items', { ids: [b!] });
    const added = fake.addLineItems('Quoted_Items', quotes[0]!, 2);
    fake.deleteRecords('Quotes', { ids: [quotes[2]!] });
    // Line items never move their parent's Modified_Time (the stricter reading).
    expect(fake.records('Quotes')[0]!.version).toBe(0);
    const [, , c] = first.slice(1).map((r) => r[0]);
    expect(fake.lineItems('Quoted_Items', quotes[0]!)).toEqual([a, c, ...added]);
    expect(fake.lineItems('Quoted_Items', quotes[2]!)).toEqual([]);
    expect(fake.records('Quoted_Items').find((r) => r.id === b)!.deleted!.type).toBe('permanent');

    const second = await exportRows(fake, token, 'Quoted_Items', fields);
    const ids = second.slice(1).map((r) => r[0]);
    const live = fake.records('Quoted_Items').filter((r) => !r.deleted);
    expect(ids).toEqual(live.map((r) => r.id));
    expect(second.slice(1).map((r) => r[1])).toEqual(live.map((r) => r.parentId));
    expect(ids).not.toContain(b);
    expect(ids).toEqual(expect.arrayContaining(added));

    // Restoring the quote from the recycle bin brings back the line items its deletion took.
    fake.restoreRecords('Quotes', { ids: [quotes[2]!] });
    expect(fake.lineItems('Quoted_Items', quotes[2]!)).toHaveLength(3);
    expect(() => fake!.addLineItems('Quoted_Items', '1', 1)).toThrow(/no record/);
    expect(() => fake!.addLineItems('Quotes', quotes[0]!, 1)).toThrow(/not a subform/);
  });

  it('has field metadata with Parent_Id; the deleted-records API refuses subforms', async () => {
    fake = await startFakeZoho({ moduleRecords: { Invoices: 2 } });
    const token = await mintToken(fake);
    const meta = await getJson(`${fake.apiDomain}/crm/v8/settings/fields?module=Invoiced_Items`, token);
    expect(meta.status).toBe(200);
    const parent = meta.json.fields.find((f: Json) => f.api_name === 'Parent_Id');
    expect(parent).toMatchObject({ data_type: 'lookup', lookup: { module: { api_name: 'Invoices' } } });
    expect(meta.json.fields.map((f: Json) => f.api_name)).toEqual(
      expect.arrayContaining(['id', 'Created_Time', 'Modified_Time']),
    );
    const del = await getJson(`${fake.apiDomain}/crm/v8/Invoiced_Items/deleted`, token);
    expect(del.status).toBe(400);
    expect(del.json.code).toBe('MODULE_NOT_SUPPORTED');
    const parent204 = await fetch(`${fake.apiDomain}/crm/v8/Invoices/deleted`, {
      headers: { authorization: `Zoho-oauthtoken ${token}` },
    });
    expect(parent204.status).toBe(204);
  });
});
