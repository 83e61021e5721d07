import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBFORM_PARENTS } from '../../local/fake-zoho/fields.js';
import { type FakeZoho, startFakeZoho } from '../../local/fake-zoho/index.js';
import { FAKE_MODULES } from '../../local/fake-zoho/modules.js';
import { FAKE_CREDENTIALS } from '../support/zoho.js';
import { createJob, getJson, type Json, mintToken } from './helpers.js';

let fake: FakeZoho;
let token: string;

beforeAll(async () => {
  fake = await startFakeZoho();
  token = await mintToken(fake);
});
afterAll(async () => {
  await fake.close();
});

const byName = (mods: Json[]): Map<string, Json> => new Map(mods.map((m) => [m.api_name, m]));

describe('GET /crm/{v}/settings/modules', () => {
  it('lists the kinds, statuses and parents of a real org, in Zoho key names', async () => {
    const r = await getJson(`${fake.apiDomain}/crm/v8/settings/modules`, token);
    expect(r.status).toBe(200);
    const m = byName(r.json.modules);
    expect(m.get('Leads')).toMatchObject({
      generated_type: 'default',
      status: 'visible',
      api_supported: true,
      plural_label: 'Leads',
      parent_module: {},
      id: expect.stringMatching(/^\d+$/),
    });
    for (const [sub, parent] of [
      ['Quoted_Items', 'Quotes'],
      ['Ordered_Items', 'Sales_Orders'],
      ['Invoiced_Items', 'Invoices'],
      ['Purchase_Items', 'Purchase_Orders'],
    ] as const) {
      expect(m.get(sub)).toMatchObject({ generated_type: 'subform', parent_module: { api_name: parent } });
    }
    expect(m.get('Tasks')?.parent_module).toMatchObject({ api_name: 'Activities' });
    expect(m.get('DealHistory')).toMatchObject({
      generated_type: 'field_tracker',
      parent_module: { api_name: 'Deals' },
    });
    expect(m.get('Shipments__c')?.generated_type).toBe('custom');
    expect(m.get('Contacts_X_Accounts')?.generated_type).toBe('linking');
    // Notes and Attachments: API-supported and system-hidden (Bulk Read refuses them: below).
    expect(m.get('Notes')).toMatchObject({ api_supported: true, status: 'system_hidden' });
    expect(m.get('Emails')?.api_supported).toBe(false);
    expect(m.get('Home')?.api_supported).toBe(false);
    expect(fake.requests.at(-1)?.kind).toBe('modules');
  });

  it('lists each module once; the line-item modules the record stores serve are subforms of their parents', () => {
    const names = FAKE_MODULES.map((m) => m.apiName);
    expect(new Set(names).size).toBe(names.length);
    for (const [subform, parent] of Object.entries(SUBFORM_PARENTS)) {
      expect(FAKE_MODULES.find((m) => m.apiName === subform)).toMatchObject({
        generatedType: 'subform',
        parent,
      });
    }
  });

  it('status= filters; an unknown status is INVALID_DATA', async () => {
    const hidden = await getJson(`${fake.apiDomain}/crm/v8/settings/modules?status=system_hidden`, token);
    expect(hidden.status).toBe(200);
    expect(new Set(hidden.json.modules.map((x: Json) => x.status))).toEqual(new Set(['system_hidden']));
    expect(hidden.json.modules.map((x: Json) => x.api_name)).toContain('Attachments');
    const bad = await getJson(`${fake.apiDomain}/crm/v8/settings/modules?status=gone`, token);
    expect([bad.status, bad.json.code]).toEqual([400, 'INVALID_DATA']);
  });

  it('Bulk Read refuses Notes, Attachments and Locking_Information__s (only when tried)', async () => {
    for (const module of ['Notes', 'Attachments', 'Locking_Information__s']) {
      const r = await createJob(fake, token, { query: { module: { api_name: module } } });
      expect([r.status, r.json.code]).toEqual([400, 'MODULE_NOT_SUPPORTED']);
    }
    expect((await createJob(fake, token, { query: { module: { api_name: 'Shipments__c' } } })).status).toBe(
      201,
    );
  });

  it('needs ZohoCRM.settings.modules.READ (or .ALL, or settings.ALL): else 401 OAUTH_SCOPE_MISMATCH', async () => {
    const f = await startFakeZoho({
      clients: [
        { ...FAKE_CREDENTIALS, scopes: ['ZohoCRM.bulk.ALL', 'ZohoCRM.modules.ALL'] },
        { ...FAKE_CREDENTIALS, refreshToken: 'all-settings', scopes: ['ZohoCRM.settings.ALL'] },
      ],
    });
    try {
      const refused = await getJson(`${f.apiDomain}/crm/v8/settings/modules`, await mintToken(f));
      expect([refused.status, refused.json.code]).toEqual([401, 'OAUTH_SCOPE_MISMATCH']);
      const ok = await getJson(`${f.apiDomain}/crm/v8/settings/modules`, await mintToken(f, 'all-settings'));
      expect(ok.status).toBe(200);
    } finally {
      await f.close();
    }
  });
});
