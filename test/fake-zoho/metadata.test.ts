import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeZoho, schemaFor, startFakeZoho } from '../../local/fake-zoho/index.js';
import { collect, createdId, createJob, getJson, type Json, mintToken, parseCsv } from './helpers.js';

let fake: FakeZoho;
let token: string;
const RICH = ['Leads', 'Contacts', 'Accounts', 'Deals'];

beforeAll(async () => {
  fake = await startFakeZoho({
    timeline: { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 },
    moduleRecords: { Leads: 3000, Contacts: 3000, Accounts: 3000, Deals: 3000, Tasks: 50 },
  });
  token = await mintToken(fake);
});
afterAll(async () => {
  await fake.close();
});

async function metadata(module: string, version = 'v8'): Promise<Json[]> {
  const r = await getJson(`${fake.apiDomain}/crm/${version}/settings/fields?module=${module}`, token);
  expect(r.status).toBe(200);
  return r.json.fields;
}

/** What a CSV value of each data type looks like (the formats fields.ts documents). */
const FORMAT: Record<string, RegExp> = {
  bigint: /^\d{1,19}$/,
  integer: /^-?\d+$/,
  double: /^-?\d+(\.\d+)?$/,
  currency: /^\d+\.\d{2}$/,
  decimal: /^\d+\.\d{3}$/,
  percent: /^\d+(\.\d+)?$/,
  formula: /^-?\d+(\.\d+)?$/,
  boolean: /^(true|false)$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  datetime: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/,
  lookup: /^\d{19}$/,
  ownerlookup: /^\d{19}$/,
  email: /^[^@\s]+@[^@\s]+$/,
  website: /^https?:\/\//,
  autonumber: /^[A-Z]+-\d+$/,
};

describe('field metadata', () => {
  it('answers {fields: [...]} with Zoho key names on every version', async () => {
    for (const v of ['v2', 'v2.1', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8']) {
      const fields = await metadata('Leads', v);
      expect(fields.length).toBeGreaterThan(20);
    }
    const fields = await metadata('Deals');
    for (const f of fields) {
      expect(f).toMatchObject({
        api_name: expect.any(String),
        data_type: expect.any(String),
        json_type: expect.stringMatching(/^(string|integer|double|boolean|jsonobject|jsonarray)$/),
        length: expect.any(Number),
        field_label: expect.any(String),
        id: expect.stringMatching(/^\d{19}$/),
        system_mandatory: expect.any(Boolean),
        read_only: expect.any(Boolean),
      });
      expect(f.decimal_place === null || typeof f.decimal_place === 'number').toBe(true);
    }
    const by = new Map(fields.map((f: Json) => [f.api_name, f]));
    expect(by.get('id')).toMatchObject({ data_type: 'bigint', json_type: 'string', read_only: true });
    expect(by.get('Amount')).toMatchObject({
      data_type: 'currency',
      json_type: 'double',
      decimal_place: 2,
      currency: { precision: 2, rounding_option: 'normal' },
    });
    expect(by.get('Discount_Rate__c')).toMatchObject({ data_type: 'decimal', decimal_place: 3 });
    expect(by.get('Margin__c')).toMatchObject({ data_type: 'formula', formula: { return_type: 'double' } });
    expect(by.get('Account_Name')).toMatchObject({
      data_type: 'lookup',
      json_type: 'jsonobject',
      lookup: { module: { api_name: 'Accounts', id: expect.stringMatching(/^\d{19}$/) } },
    });
    expect(by.get('Owner')).toMatchObject({
      data_type: 'ownerlookup',
      lookup: { module: { api_name: 'users' } },
    });
    expect(by.get('Stage')).toMatchObject({ data_type: 'picklist', system_mandatory: true });
    expect(by.get('Stage').pick_list_values).toContainEqual({
      display_value: 'Closed Won',
      actual_value: 'Closed Won',
    });
    expect(by.get('Description')).toMatchObject({ data_type: 'textarea', textarea: { type: 'large' } });
    expect(by.get('Deal_Number')).toMatchObject({ data_type: 'autonumber', auto_number: { prefix: 'DL-' } });
    expect(by.get('Stage').lookup).toBeUndefined();
    expect(by.get('Amount').pick_list_values).toBeUndefined();
  });

  it('covers every data type across Leads, Contacts, Accounts and Deals', async () => {
    const types = new Set<string>();
    const pairs = new Set<string>();
    for (const m of RICH) {
      for (const f of await metadata(m)) {
        types.add(f.data_type);
        pairs.add(`${f.data_type}:${f.json_type}`);
        if (f.data_type === 'bigint' && f.api_name !== 'id') types.add('bigint (non-id)');
      }
    }
    for (const t of [
      'bigint',
      'bigint (non-id)',
      'text',
      'textarea',
      'email',
      'phone',
      'website',
      'picklist',
      'multiselectpicklist',
      'integer',
      'double',
      'currency',
      'percent',
      'decimal',
      'boolean',
      'date',
      'datetime',
      'lookup',
      'ownerlookup',
      'autonumber',
      'formula',
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    // data_type → json_type as in Zoho's samples
    for (const p of [
      'bigint:string',
      'integer:integer',
      'currency:double',
      'boolean:boolean',
      'lookup:jsonobject',
    ]) {
      expect(pairs.has(p), p).toBe(true);
    }
    expect(pairs.has('multiselectpicklist:jsonarray')).toBe(true);
    expect(pairs.has('datetime:string')).toBe(true);
  });

  it('default CSV columns = the exported metadata fields, in a fixed order that is not alphabetical', async () => {
    for (const m of [...RICH, 'Tasks', 'Widgets__c']) {
      // Not exported by Bulk Read: profile images, and (the stricter reading) multi-select lookups.
      const fields = (await metadata(m)).filter(
        (f: Json) => f.data_type !== 'profileimage' && f.data_type !== 'multiselectlookup',
      );
      const cols = fields.map((f: Json) => f.api_name);
      expect(schemaFor(m).defaultColumns).toEqual(cols);
      expect([...cols].sort()).not.toEqual(cols);
      if (m === 'Widgets__c') continue;
      const id = await createdId(fake, token, { query: { module: { api_name: m } } });
      const header = parseCsv((await collect(fake.csv(id))).toString('utf8'))[0];
      expect(header).toEqual(cols);
    }
    expect((await metadata('Leads')).some((f: Json) => f.data_type === 'profileimage')).toBe(true);
  });

  it('a multi-select lookup names its linking module, whose two lookups point back; Bulk Read does not export it', async () => {
    const field = (await metadata('Contacts')).find((f: Json) => f.data_type === 'multiselectlookup');
    expect(field).toMatchObject({
      api_name: 'Linked_Accounts',
      json_type: 'jsonarray',
      multiselectlookup: {
        linking_details: {
          module: { api_name: 'Contacts_X_Accounts' },
          lookup_field: { api_name: 'Contact' },
          connected_lookup_field: { api_name: 'Account' },
        },
        connected_module: { api_name: 'Accounts' },
      },
    });
    const linking = await metadata('Contacts_X_Accounts');
    expect(linking.map((f: Json) => [f.api_name, f.lookup?.module?.api_name ?? f.data_type])).toEqual([
      ['id', 'bigint'],
      ['Contact', 'Contacts'],
      ['Account', 'Accounts'],
      ['Created_Time', 'datetime'],
      ['Modified_Time', 'datetime'],
    ]);
    const r = await createJob(fake, token, {
      query: { module: { api_name: 'Contacts' }, fields: ['id', 'Linked_Accounts'] },
    });
    expect([r.status, r.json.code]).toEqual([400, 'FIELD_NOT_SUPPORTED']);
    // The linking modules at Bulk Read: Contacts_X_Accounts exports, LeadsXProducts is refused.
    const ok = await createJob(fake, token, { query: { module: { api_name: 'Contacts_X_Accounts' } } });
    expect(ok.status).toBe(201);
    const refused = await createJob(fake, token, { query: { module: { api_name: 'LeadsXProducts' } } });
    expect([refused.status, refused.json.code]).toEqual([400, 'MODULE_NOT_SUPPORTED']);
  });

  it('CSV values follow the declared types; exactly one field (Accounts.Employees) does not', async () => {
    const mismatches: string[] = [];
    for (const m of RICH) {
      const meta = new Map((await metadata(m)).map((f: Json) => [f.api_name, f]));
      const id = await createdId(fake, token, { query: { module: { api_name: m } } });
      const rows = parseCsv((await collect(fake.csv(id))).toString('utf8'));
      const header = rows[0]!;
      header.forEach((col, i) => {
        const f = meta.get(col);
        expect(f, `${m}.${col} has metadata`).toBeDefined();
        const values = rows.slice(1).map((r) => r[i]!);
        const nonEmpty = values.filter((v) => v !== '');
        if (f.system_mandatory || col === 'id')
          expect(nonEmpty.length, `${m}.${col} never empty`).toBe(values.length);
        let re = FORMAT[f.data_type];
        if (f.data_type === 'picklist') {
          const allowed = new Set(f.pick_list_values.map((p: Json) => p.actual_value));
          expect(
            nonEmpty.every((v) => allowed.has(v)),
            `${m}.${col} picklist`,
          ).toBe(true);
        }
        if (f.data_type === 'multiselectpicklist') {
          const allowed = new Set(f.pick_list_values.map((p: Json) => p.actual_value));
          expect(
            nonEmpty.every((v) => v.split(';').every((x) => allowed.has(x))),
            `${m}.${col}`,
          ).toBe(true);
          expect(nonEmpty.some((v) => v.includes(';'))).toBe(true);
        }
        if (f.data_type === 'text' && f.api_name.endsWith('Name')) re = undefined;
        if (!re) return;
        const bad = nonEmpty.filter((v) => !re.test(v));
        if (bad.length > 0) mismatches.push(`${m}.${col}: ${bad.slice(0, 3).join(' | ')}`);
      });
    }
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0]).toMatch(/^Accounts\.Employees: \d+-\d+/);
  });

  it('text values exercise RFC 4180: quotes, commas, LF and CRLF inside quotes, non-ASCII, emoji, spaces', async () => {
    const id = await createdId(fake, token, { query: { module: { api_name: 'Leads' } } });
    const text = (await collect(fake.csv(id))).toString('utf8');
    const values = parseCsv(text).slice(1).flat();
    expect(values.some((v) => v.includes('\r\n'))).toBe(true);
    expect(values.some((v) => /[^\r]\n/.test(v))).toBe(true);
    expect(values.some((v) => v.includes('"'))).toBe(true);
    expect(values.some((v) => v.includes(','))).toBe(true);
    expect(values.some((v) => v.startsWith(' ') && v.endsWith(' '))).toBe(true);
    expect(text).toMatch(/\p{Extended_Pictographic}/u);
    expect(text).toMatch(/山田|日本語/);
  });

  it('answers INVALID_MODULE for an unknown module and REQUIRED_PARAM_MISSING without one', async () => {
    const r = await getJson(`${fake.apiDomain}/crm/v8/settings/fields?module=Widgets`, token);
    expect([r.status, r.json.code]).toEqual([400, 'INVALID_MODULE']);
    const r2 = await getJson(`${fake.apiDomain}/crm/v8/settings/fields`, token);
    expect([r2.status, r2.json.code]).toEqual([400, 'REQUIRED_PARAM_MISSING']);
    const r3 = await getJson(`${fake.apiDomain}/crm/v9/settings/fields?module=Leads`, token);
    expect(r3.status).toBe(404);
    expect((await metadata('Notes')).length).toBeGreaterThan(0); // a real module, just not for bulk read
    expect(fake.requests.filter((q) => q.kind === 'fields').length).toBeGreaterThan(5);
  });
});
