/** `GET /modules` end to end: the harness's API, DynamoDB Local's state table, the fake Zoho's org. */
import { afterEach, describe, expect, it } from 'vitest';
import { apiOf } from '../support/exports.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { FAKE_CREDENTIALS } from '../support/zoho.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const asked = (x: Harness) => x.fake.requests.filter((r) => r.kind === 'modules').length;
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
const find = (body: any, name: string) => body.modules.find((m: { api_name: string }) => m.api_name === name);

describe('GET /modules', () => {
  it('classifies every module of the org; a refusal of POST /exports is remembered; cached 1 h; refresh', async () => {
    h = await pipelineHarness();
    const api = apiOf(h);
    const first = await api('GET', '/modules');
    expect(first.status, first.raw).toBe(200);
    expect(first.body.cached).toBe(false);
    expect(find(first.body, 'Leads')).toEqual({
      api_name: 'Leads',
      label: 'Leads',
      kind: 'standard',
      generated_type: 'default',
      status: 'visible',
      parent: null,
      exportable: true,
      reason: null,
      detail: null,
      supersedes: null,
    });
    expect(find(first.body, 'Quoted_Items')).toMatchObject({
      kind: 'subform',
      parent: 'Quotes',
      exportable: true,
    });
    expect(find(first.body, 'DealHistory')).toMatchObject({
      kind: 'field_tracker',
      parent: 'Deals',
      exportable: true,
    });
    expect(find(first.body, 'Shipments__c')).toMatchObject({ kind: 'custom', exportable: true });
    expect(find(first.body, 'Notes')).toMatchObject({ exportable: false, reason: 'bulk_read_unsupported' });
    expect(find(first.body, 'Actions_Performed')).toMatchObject({
      exportable: false,
      reason: 'system_hidden',
    });
    expect(find(first.body, 'Emails')).toMatchObject({ exportable: false, reason: 'not_api_supported' });
    expect(find(first.body, 'Contacts_X_Accounts')).toMatchObject({
      kind: 'linking',
      reason: 'linking_not_enabled',
    });
    expect(find(first.body, 'Locking_Information__s')).toMatchObject({ exportable: true });
    expect(asked(h)).toBe(1);

    // Within the hour: the cache (Zoho not asked).
    h.clock.advance(30 * 60_000);
    const cached = await api('GET', '/modules');
    expect([cached.body.cached, asked(h)]).toEqual([true, 1]);

    // Zoho refuses the module that looked exportable: remembered, and the list is fresh again at once.
    const refused = await api('POST', '/exports', {
      body: JSON.stringify({ module: 'Locking_Information__s' }),
    });
    expect([refused.status, refused.body.error.code]).toEqual([400, 'MODULE_NOT_SUPPORTED']);
    const after = await api('GET', '/modules');
    expect(after.body.cached).toBe(false);
    expect(find(after.body, 'Locking_Information__s')).toMatchObject({
      exportable: false,
      reason: 'zoho_refused',
    });
    expect(find(after.body, 'Locking_Information__s').detail).toContain('MODULE_NOT_SUPPORTED');
    expect(asked(h)).toBe(2);

    // Past the hour: Zoho again; ?refresh=true: Zoho again at once; the refusal stays.
    h.clock.advance(61 * 60_000);
    expect((await api('GET', '/modules')).body.cached).toBe(false);
    expect(asked(h)).toBe(3);
    const refreshed = await api('GET', '/modules?refresh=true');
    expect([refreshed.body.cached, asked(h)]).toEqual([false, 4]);
    expect(find(refreshed.body, 'Locking_Information__s').reason).toBe('zoho_refused');
    expect((await api('GET', '/modules?refresh=maybe')).body.error.code).toBe('INVALID_QUERY');
    expect((await api('GET', '/modules?module=Leads')).body.error.code).toBe('INVALID_QUERY');
  });

  it('without ZohoCRM.settings.modules.READ: 403 OAUTH_SCOPE_MISMATCH naming the scope', async () => {
    h = await pipelineHarness({
      fake: { clients: [{ ...FAKE_CREDENTIALS, scopes: ['ZohoCRM.bulk.ALL', 'ZohoCRM.modules.ALL'] }] },
    });
    const r = await apiOf(h)('GET', '/modules');
    expect([r.status, r.body.error.code]).toEqual([403, 'OAUTH_SCOPE_MISMATCH']);
    expect(r.body.error.message).toContain('ZohoCRM.settings.modules.READ');
  });
});
