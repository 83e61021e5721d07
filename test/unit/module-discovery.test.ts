/** Module discovery: the classification (each kind, each reason) and the state-table cache and refusals. */
import { describe, expect, it } from 'vitest';
import {
  type ClassifyOptions,
  classifyModule,
  classifyModules,
  MODULE_KINDS,
  NOT_EXPORTABLE_REASONS,
  type NotExportableReason,
  needsProbe,
} from '../../lib/modules/discovery.js';
import { ModuleCatalog } from '../../lib/modules/store.js';
import { modulesResponse, toZohoModule, type ZohoModule } from '../../lib/zoho/modules.js';
import { memoryTables } from '../support/memory.js';

const mod = (over: Partial<ZohoModule> & { api_name: string }): ZohoModule => ({
  label: over.api_name,
  generated_type: 'default',
  api_supported: true,
  status: 'visible',
  parent: null,
  ...over,
});

describe('kinds', () => {
  it.each([
    ['default', 'standard'],
    ['custom', 'custom'],
    ['subform', 'subform'],
    ['linking', 'linking'],
    ['field_tracker', 'field_tracker'],
    ['web', 'web'],
    ['something_new', 'other'],
    [null, 'other'],
  ] as const)('generated_type %s is %s', (generatedType, kind) => {
    expect(classifyModule(mod({ api_name: 'M', generated_type: generatedType })).kind).toBe(kind);
  });

  it('standard, custom, subform and field tracker modules that are visible or user-hidden are exportable', () => {
    for (const [t, status] of [
      ['default', 'visible'],
      ['custom', 'user_hidden'],
      ['subform', 'visible'],
      ['field_tracker', 'visible'],
    ] as const) {
      const m = classifyModule(mod({ api_name: 'M', generated_type: t, status, parent: 'P' }));
      expect(m).toMatchObject({ exportable: true, reason: null, detail: null, parent: 'P' });
    }
    expect(MODULE_KINDS).toContain('field_tracker');
  });
});

describe('reasons', () => {
  const cases: Array<
    [NotExportableReason, ZohoModule, Parameters<typeof classifyModule>[1]?, ClassifyOptions?]
  > = [
    ['not_api_supported', mod({ api_name: 'Feeds', api_supported: false })],
    // A remembered refusal wins over the deny-list: it is what Zoho said to this org.
    [
      'zoho_refused',
      mod({ api_name: 'Notes', status: 'system_hidden' }),
      { code: 'MODULE_NOT_SUPPORTED', refused_at: '2027-01-01T00:00:00.000Z' },
    ],
    ['bulk_read_unsupported', mod({ api_name: 'Notes', status: 'system_hidden' })],
    ['bulk_read_unsupported', mod({ api_name: 'Attachments', status: 'system_hidden' })],
    ['bulk_read_unsupported', mod({ api_name: 'CTI_Entry' })],
    ['use_child_modules', mod({ api_name: 'Activities' })],
    ['system_hidden', mod({ api_name: 'Actions_Performed', status: 'system_hidden' })],
    [
      'scheduled_for_deletion',
      mod({ api_name: 'Old__c', generated_type: 'custom', status: 'scheduled_for_deletion' }),
    ],
    ['linking_not_enabled', mod({ api_name: 'Contacts_X_Accounts', generated_type: 'linking' })],
    [
      'probe_pending',
      mod({ api_name: 'Contacts_X_Accounts', generated_type: 'linking' }),
      undefined,
      { linking: true },
    ],
    ['not_a_data_module', mod({ api_name: 'Web_Tab', generated_type: 'web' })],
    ['not_a_data_module', mod({ api_name: 'Odd', generated_type: 'something_new' })],
  ];
  it.each(cases)('%s (%o)', (reason, m, refusal, opts) => {
    const c = classifyModule(m, refusal, opts);
    expect(c).toMatchObject({ exportable: false, reason });
    expect(c.detail).toEqual(expect.any(String));
  });

  it('every reason is reachable, and a refusal names Zoho’s code', () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(NOT_EXPORTABLE_REASONS));
    const c = classifyModule(mod({ api_name: 'X__s' }), { code: 'INVALID_MODULE', refused_at: 't' });
    expect(c.detail).toContain('INVALID_MODULE');
  });

  it('linking modules: off, not exportable; on, exportable only once their probe was accepted', () => {
    const linking = mod({ api_name: 'Contacts_X_Accounts', generated_type: 'linking' });
    const accepted = {
      state: 'accepted' as const,
      at: '2027-01-01T00:00:00.000Z',
      supersedes: { module: 'Contacts', field: 'Linked_Accounts' },
    };
    expect(classifyModule(linking, undefined, {}, accepted)).toMatchObject({
      exportable: false,
      reason: 'linking_not_enabled',
      supersedes: null,
    });
    expect(needsProbe(linking, undefined, {})).toBe(false);
    expect(needsProbe(linking, undefined, { linking: true })).toBe(true);
    expect(classifyModule(linking, undefined, { linking: true })).toMatchObject({
      exportable: false,
      reason: 'probe_pending',
    });
    const pending = classifyModule(
      linking,
      undefined,
      { linking: true },
      { state: 'pending', detail: 'x y' },
    );
    expect(pending.detail).toContain('(x y)');
    expect(classifyModule(linking, undefined, { linking: true }, accepted)).toMatchObject({
      exportable: true,
      reason: null,
      supersedes: accepted.supersedes,
    });
    // A refusal (remembered from the probe) wins; a refused or hidden one is not probed.
    const refusal = { code: 'MODULE_NOT_SUPPORTED', refused_at: 't' };
    expect(classifyModule(linking, refusal, { linking: true }, accepted).reason).toBe('zoho_refused');
    expect(needsProbe(linking, refusal, { linking: true })).toBe(false);
    expect(needsProbe({ ...linking, status: 'system_hidden' }, undefined, { linking: true })).toBe(false);
    expect(needsProbe(mod({ api_name: 'Leads' }), undefined, { linking: true })).toBe(false);
  });

  it('Tasks keeps its parent Activities and is exportable', () => {
    expect(classifyModule(mod({ api_name: 'Tasks', parent: 'Activities' }))).toMatchObject({
      exportable: true,
      parent: 'Activities',
    });
  });

  it('classifyModules sorts by API name and applies refusals by name', () => {
    const out = classifyModules([mod({ api_name: 'Zeta' }), mod({ api_name: 'Alpha' })], {
      Zeta: { code: 'MODULE_NOT_SUPPORTED', refused_at: 't' },
    });
    expect(out.map((m) => [m.api_name, m.exportable])).toEqual([
      ['Alpha', true],
      ['Zeta', false],
    ]);
  });
});

describe("Zoho's answer", () => {
  it('parses the sample shape: parent {} or an object, label from plural_label, api_supported absent = false', () => {
    const r = modulesResponse.parse({
      modules: [
        {
          api_name: 'Quoted_Items',
          plural_label: 'Quoted Items',
          generated_type: 'subform',
          api_supported: true,
          status: 'visible',
          parent_module: { api_name: 'Quotes', id: '1' },
          profiles: [],
        },
        {
          api_name: 'Home',
          module_name: 'Home',
          generated_type: 'default',
          status: 'visible',
          parent_module: {},
        },
      ],
    });
    expect(r.modules.map(toZohoModule)).toEqual([
      {
        api_name: 'Quoted_Items',
        label: 'Quoted Items',
        generated_type: 'subform',
        api_supported: true,
        status: 'visible',
        parent: 'Quotes',
      },
      {
        api_name: 'Home',
        label: 'Home',
        generated_type: 'default',
        api_supported: false,
        status: 'visible',
        parent: null,
      },
    ]);
    expect(modulesResponse.safeParse({ modules: [{ api_name: 'bad name' }] }).success).toBe(false);
    expect(modulesResponse.safeParse({ data: [] }).success).toBe(false);
  });
});

describe('ModuleCatalog (state table)', () => {
  function catalog(modules: ZohoModule[]) {
    let t = Date.UTC(2027, 0, 1);
    const calls: number[] = [];
    const tables = memoryTables();
    const c = new ModuleCatalog({
      table: tables.state,
      zoho: {
        listModules: async () => {
          calls.push(t);
          return modules;
        },
      },
      now: () => t,
    });
    return { c, calls, tables, advance: (ms: number) => (t += ms) };
  }

  it('caches for an hour; refresh asks Zoho again', async () => {
    const k = catalog([mod({ api_name: 'Leads' })]);
    expect((await k.c.list()).cached).toBe(false);
    k.advance(59 * 60_000);
    const second = await k.c.list();
    expect([second.cached, k.calls.length]).toEqual([true, 1]);
    expect(second.cache_max_age_seconds).toBe(3600);
    expect((await k.c.list({ refresh: true })).cached).toBe(false);
    expect(k.calls.length).toBe(2);
    k.advance(60 * 60_000);
    expect((await k.c.list()).cached).toBe(false);
    expect(k.calls.length).toBe(3);
  });

  it('a refusal is remembered (conditional write, once), and makes the cached list stale', async () => {
    const k = catalog([mod({ api_name: 'Leads' }), mod({ api_name: 'Locking_Information__s' })]);
    await k.c.list();
    k.advance(1000);
    expect(await k.c.recordRefusal('Locking_Information__s', 'INVALID_DATA')).toBe(false);
    expect(await k.c.recordRefusal('Locking_Information__s', 'MODULE_NOT_SUPPORTED')).toBe(true);
    // The same refusal again within a day: not written again.
    expect(await k.c.recordRefusal('Locking_Information__s', 'MODULE_NOT_SUPPORTED')).toBe(false);
    const after = await k.c.list();
    expect(after.cached).toBe(false);
    expect(after.modules.find((m) => m.api_name === 'Locking_Information__s')).toMatchObject({
      exportable: false,
      reason: 'zoho_refused',
    });
    // The fresh answer holds the refusal, and is cached again.
    const again = await k.c.list();
    expect(again.cached).toBe(true);
    expect(again.modules.find((m) => m.api_name === 'Locking_Information__s')?.reason).toBe('zoho_refused');
    const item = await k.tables.state.get({ pk: 'module-refusal#Locking_Information__s' });
    expect(item).toMatchObject({ code: 'MODULE_NOT_SUPPORTED', expires_at: expect.any(Number) });
  });

  it('a cache item of the wrong shape is a CORRUPT_RECORD, not a crash downstream', async () => {
    const k = catalog([mod({ api_name: 'Leads' })]);
    await k.tables.state.put({ pk: 'modules#cache', fetched_at: 'soon', modules: [] });
    await expect(k.c.list()).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
  });
});
