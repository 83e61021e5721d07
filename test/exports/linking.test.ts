/**
 * Linking modules end to end (DynamoDB Local, the fake Zoho): with EXPORT_LINKING_MODULES, the first
 * `GET /modules` probes each linking module with one minimal Bulk Read job; the fake's
 * Contacts_X_Accounts is accepted (exportable, superseding Contacts.Linked_Accounts) and LeadsXProducts
 * refused (MODULE_NOT_SUPPORTED, remembered); neither is probed again; an export of the accepted one
 * lands rows carrying both lookup ids.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { apiOf, finish } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const creates = (x: Harness) => x.fake.requests.filter((r) => r.kind === 'create').length;
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
const find = (body: any, name: string) => body.modules.find((m: { api_name: string }) => m.api_name === name);

describe('linking modules (EXPORT_LINKING_MODULES)', () => {
  it('off: linking_not_enabled, and nothing is probed', async () => {
    h = await pipelineHarness();
    const r = await apiOf(h)('GET', '/modules');
    expect(find(r.body, 'Contacts_X_Accounts')).toMatchObject({
      exportable: false,
      reason: 'linking_not_enabled',
      supersedes: null,
    });
    expect(creates(h)).toBe(0);
  });

  it('on: one probe each; accepted is exportable with supersedes, refused is remembered; the export lands both lookup ids', async () => {
    h = await pipelineHarness({
      config: { EXPORT_LINKING_MODULES: 'true' },
      fake: { moduleRecords: { Contacts_X_Accounts: 40 } },
    });
    const hh = h;
    const api = apiOf(hh);
    const first = await api('GET', '/modules');
    expect(first.status, first.raw).toBe(200);
    expect(find(first.body, 'Contacts_X_Accounts')).toMatchObject({
      kind: 'linking',
      exportable: true,
      reason: null,
      supersedes: { module: 'Contacts', field: 'Linked_Accounts' },
    });
    expect(find(first.body, 'LeadsXProducts')).toMatchObject({ exportable: false, reason: 'zoho_refused' });
    expect(find(first.body, 'LeadsXProducts').detail).toContain('MODULE_NOT_SUPPORTED');
    // The probe: one create per linking module (the accepted job is never polled nor downloaded).
    const probes = hh.fake.requests.filter((r) => r.kind === 'create');
    expect(probes.map((r) => r.status).sort()).toEqual([201, 400]);
    expect(hh.fake.requests.filter((r) => r.kind === 'status' || r.kind === 'download')).toEqual([]);

    // Remembered: not probed again, neither from the cache nor after a refresh from Zoho.
    const again = await api('GET', '/modules?refresh=true');
    expect(find(again.body, 'Contacts_X_Accounts')).toMatchObject({
      exportable: true,
      supersedes: { module: 'Contacts', field: 'Linked_Accounts' },
    });
    expect(find(again.body, 'LeadsXProducts').reason).toBe('zoho_refused');
    expect(creates(hh)).toBe(2);

    // A snapshot may name the proven module; the refused one is refused by name.
    const bad = await api('POST', '/snapshots', { body: JSON.stringify({ modules: ['LeadsXProducts'] }) });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'MODULE_NOT_EXPORTABLE']);

    const started = await api('POST', '/exports', {
      body: JSON.stringify({ module: 'Contacts_X_Accounts' }),
    });
    expect(started.status, started.raw).toBe(201);
    const e = await finish(hh, started.body.export_id);
    expect(e.status).toBe('COMPLETED');
    const csv = (await hh.objectBytes(e.pages[0].s3.key)).toString('utf8').trim().split(/\r?\n/);
    const header = csv[0]!.split(',');
    expect(header).toEqual(
      expect.arrayContaining(['id', 'Contact', 'Account', 'Created_Time', 'Modified_Time']),
    );
    const rows = csv.slice(1).map((l) => l.split(','));
    expect(rows).toHaveLength(40);
    const contact = header.indexOf('Contact');
    const account = header.indexOf('Account');
    const contacts = new Set(hh.fake.records('Contacts').map((r) => r.id));
    const accounts = new Set(hh.fake.records('Accounts').map((r) => r.id));
    for (const r of rows) {
      expect(contacts.has(r[contact]!)).toBe(true);
      expect(accounts.has(r[account]!)).toBe(true);
    }
    // Its Glue table: both lookups as ids (BIGINT), each column naming the Zoho field it holds.
    const columns = await hh.exportDeps.catalog!.getColumns('zoho_contacts_x_accounts');
    expect(columns?.filter((c) => c.Name === 'contact' || c.Name === 'account')).toEqual([
      expect.objectContaining({
        Name: 'contact',
        Type: 'bigint',
        Comment: expect.stringMatching(/^zoho:Contact\b/),
      }),
      expect.objectContaining({
        Name: 'account',
        Type: 'bigint',
        Comment: expect.stringMatching(/^zoho:Account\b/),
      }),
    ]);
  });
});
