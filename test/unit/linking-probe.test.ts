/**
 * The probe of linking modules (lib/modules/probe.ts) over an in-memory state table and a scripted
 * Zoho: accepted (remembered 30 days, supersedes found), refused (remembered as the module's refusal),
 * throttled (bounded retries with backoff, then pending), and one lease between two listings.
 */
import { describe, expect, it } from 'vitest';
import type { ZohoField } from '../../lib/analytics/fields.js';
import { columnTypeOf } from '../../lib/analytics/fields.js';
import { PROBE_REFUSAL_CODES } from '../../lib/modules/discovery.js';
import { LinkingProbe, PROBE_ATTEMPTS, PROBE_RETRY_MS, PROBE_TTL_MS } from '../../lib/modules/probe.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryTables } from '../support/memory.js';

type Answer = 'ok' | ZohoError;

function setup(answers: Answer[]) {
  let t = Date.UTC(2027, 0, 1);
  const tables = memoryTables();
  const creates: Array<{ module?: string; fields?: string[] }> = [];
  const refusals: Array<[string, string]> = [];
  const waits: number[] = [];
  const fields: Record<string, ZohoField[]> = {
    Contacts_X_Accounts: [
      { api_name: 'id', data_type: 'bigint' },
      { api_name: 'Contact', data_type: 'lookup', lookup: { module: { api_name: 'Contacts' } } } as ZohoField,
      { api_name: 'Account', data_type: 'lookup', lookup: { module: { api_name: 'Accounts' } } } as ZohoField,
    ],
    Contacts: [
      { api_name: 'Last_Name', data_type: 'text' },
      {
        api_name: 'Linked_Accounts',
        data_type: 'multiselectlookup',
        multiselectlookup: { linking_details: { module: { api_name: 'Contacts_X_Accounts' } } },
      },
    ],
    Accounts: [],
  };
  const probe = new LinkingProbe({
    table: tables.state,
    zoho: {
      createJob: async (q) => {
        creates.push({
          ...(q.module ? { module: q.module } : {}),
          ...(q.fields ? { fields: q.fields } : {}),
        });
        const a = answers.shift() ?? 'ok';
        if (a !== 'ok') throw a;
        return { id: `job-${creates.length}`, state: 'ADDED' };
      },
      getFields: async (m) => fields[m] ?? [],
    },
    recordRefusal: async (m, code) => {
      refusals.push([m, code]);
    },
    now: () => t,
    random: () => 1,
    sleep: async (ms) => {
      waits.push(ms);
      t += ms;
    },
  });
  const run = () => probe.states(['Contacts_X_Accounts'], { deadline: t + 10_000 });
  return { probe, run, creates, refusals, waits, tables, advance: (ms: number) => (t += ms), now: () => t };
}

const terminal = (code: string) => new ZohoError({ code, message: code, kind: 'terminal' });
const throttled = () => new ZohoError({ code: 'TOO_MANY_REQUESTS', message: 'busy', kind: 'retryable' });

describe('LinkingProbe', () => {
  it('accepted: one job asking for `id` only, remembered 30 days with the superseded field', async () => {
    const k = setup(['ok']);
    expect((await k.run()).Contacts_X_Accounts).toMatchObject({
      state: 'accepted',
      supersedes: { module: 'Contacts', field: 'Linked_Accounts' },
    });
    expect(k.creates).toEqual([{ module: 'Contacts_X_Accounts', fields: ['id'] }]);
    k.advance(PROBE_TTL_MS - 60_000);
    expect((await k.run()).Contacts_X_Accounts).toMatchObject({
      state: 'accepted',
      supersedes: { module: 'Contacts', field: 'Linked_Accounts' },
    });
    expect(k.creates).toHaveLength(1);
    // Past 30 days: probed again (Zoho may have changed its mind).
    k.advance(120_000);
    await k.run();
    expect(k.creates).toHaveLength(2);
  });

  it('refused with a module code: remembered as the refusal, not retried', async () => {
    const k = setup([terminal('MODULE_NOT_SUPPORTED')]);
    expect((await k.run()).Contacts_X_Accounts).toEqual({ state: 'refused', code: 'MODULE_NOT_SUPPORTED' });
    expect(k.refusals).toEqual([['Contacts_X_Accounts', 'MODULE_NOT_SUPPORTED']]);
    expect(k.creates).toHaveLength(1);
    expect(PROBE_REFUSAL_CODES.has('INVALID_MODULE')).toBe(true);
  });

  it('a terminal answer about the credentials is not the module’s refusal: pending, nothing remembered', async () => {
    const k = setup([terminal('OAUTH_SCOPE_MISMATCH')]);
    const r = (await k.run()).Contacts_X_Accounts;
    expect(r).toMatchObject({ state: 'pending' });
    expect(r?.state === 'pending' && r.detail).toContain('OAUTH_SCOPE_MISMATCH');
    expect(k.refusals).toEqual([]);
    // Not tried again by every listing: after PROBE_RETRY_MS, and then it is accepted.
    const waiting = (await k.run()).Contacts_X_Accounts;
    expect(waiting?.state === 'pending' && waiting.detail).toContain(
      'the last probe got OAUTH_SCOPE_MISMATCH',
    );
    expect(k.creates).toHaveLength(1);
    k.advance(PROBE_RETRY_MS);
    expect((await k.run()).Contacts_X_Accounts).toMatchObject({ state: 'accepted' });
    expect(k.creates).toHaveLength(2);
  });

  it('throttled: a bounded number of tries with growing waits, then pending; within the deadline', async () => {
    const k = setup(Array.from({ length: PROBE_ATTEMPTS }, throttled));
    const started = k.now();
    const r = (await k.run()).Contacts_X_Accounts;
    expect(r).toMatchObject({ state: 'pending' });
    expect(k.creates).toHaveLength(PROBE_ATTEMPTS);
    expect(k.waits).toHaveLength(PROBE_ATTEMPTS - 1);
    expect(k.waits[1]!).toBeGreaterThan(k.waits[0]!);
    expect(k.now() - started).toBeLessThan(10_000);
    // Past the deadline: not tried at all.
    k.advance(PROBE_RETRY_MS);
    expect(
      (await k.probe.states(['Contacts_X_Accounts'], { deadline: k.now() })).Contacts_X_Accounts,
    ).toEqual({ state: 'pending', detail: 'not probed within this request; tried again next listing' });
    expect(k.creates).toHaveLength(PROBE_ATTEMPTS);
  });

  it('one lease: a listing while another probes does not create a second job', async () => {
    const k = setup([]);
    await k.tables.state.update(
      { pk: 'module-probe#Contacts_X_Accounts' },
      { set: { lease_until: k.now() + 30_000, lease_owner: 'other' } },
    );
    expect((await k.run()).Contacts_X_Accounts).toEqual({
      state: 'pending',
      detail: 'another request is probing it',
    });
    expect(k.creates).toEqual([]);
  });
});

describe('the parent’s multi-select lookup column', () => {
  it('its Glue comment names the linking module that supersedes it', () => {
    const c = columnTypeOf({
      api_name: 'Linked_Accounts',
      data_type: 'multiselectlookup',
      json_type: 'jsonarray',
      multiselectlookup: { linking_details: { module: { api_name: 'Contacts_X_Accounts' } } },
    });
    expect(c.reason).toContain('superseded by the linking module Contacts_X_Accounts');
    expect(
      columnTypeOf({ api_name: 'X', data_type: 'multiselectlookup', json_type: 'jsonarray' }).reason,
    ).toBe('multiselectlookup: CSV form undocumented, kept as text');
  });
});
