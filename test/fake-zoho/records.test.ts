import { afterEach, describe, expect, it } from 'vitest';
import {
  csvRecordCount,
  DEFAULT_CLIENT,
  type FakeZoho,
  type FakeZohoOptions,
  recordId,
  schemaFor,
  startFakeZoho,
} from '../../local/fake-zoho/index.js';
import {
  authed,
  collect,
  createdId,
  createJob,
  csvRecords,
  downloadCsv,
  getJson,
  type Json,
  mintFor,
  mintToken,
  parseCsv,
} from './helpers.js';

let fake: FakeZoho | undefined;
let token: string;
let t = 1_800_000_000_000;
const instant = { queuedAfterMs: 0, inProgressAfterMs: 0, completedAfterMs: 0 };

async function start(opts: FakeZohoOptions = {}): Promise<FakeZoho> {
  t = 1_800_000_000_000;
  fake = await startFakeZoho({ now: () => t, timeline: instant, ...opts });
  token = await mintToken(fake);
  return fake;
}
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const leads = (extra: Record<string, unknown> = {}) => ({
  query: { module: { api_name: 'Leads' }, ...extra },
});

async function csvOf(f: FakeZoho, id: string): Promise<string> {
  return (await collect(f.csv(id))).toString('utf8');
}

async function detail(f: FakeZoho, id: string): Promise<Json> {
  const r = await getJson(`${f.apiDomain}/crm/bulk/v8/read/${id}`, token);
  expect(r.status).toBe(200);
  return r.json.data[0];
}

/** Rows of a CSV keyed by id, as raw record text. */
function rowsById(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rec of csvRecords(text).slice(1)) out.set(rec.slice(0, rec.indexOf(',')), rec);
  return out;
}

describe('module record stores', () => {
  it('exports the store over HTTP: 19-digit ids above 2^53 in id order, count = rows', async () => {
    const f = await start({ moduleRecords: { Leads: 250 } });
    const id = await createdId(f, token, leads());
    const d = await detail(f, id);
    expect(d.result).toMatchObject({ count: 250, more_records: false, page: 1 });
    const csv = await downloadCsv(f, token, id);
    expect(csv.equals(await collect(f.csv(id)))).toBe(true);
    const rows = parseCsv(csv.toString('utf8'));
    expect(rows[0]).toEqual(schemaFor('Leads').defaultColumns);
    const ids = rows.slice(1).map((r) => r[0]!);
    expect(ids).toHaveLength(250);
    expect(ids[0]).toBe(recordId('Leads', 0));
    expect(ids.every((x) => /^\d{19}$/.test(x) && BigInt(x) > BigInt(Number.MAX_SAFE_INTEGER))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(await csvRecordCount(csv)).toBe(250);
    expect(f.moduleInfo('Leads')).toMatchObject({ count: 250, slots: 250, deleted: 0 });
  });

  it('a job keeps its snapshot; changes show in later jobs; unmodified rows are byte-identical', async () => {
    const f = await start({ moduleRecords: { Leads: 100 } });
    const a = await createdId(f, token, leads());
    const before = await csvOf(f, a);

    t += 60_000;
    const modifiedAt = t;
    const [modified] = f.modifyRecords('Leads', { indexes: [5] });
    f.deleteRecords('Leads', { ids: [recordId('Leads', 7)] });
    const created = f.createRecords('Leads', 3);
    expect(modified).toBe(recordId('Leads', 5));
    expect(created).toEqual([100, 101, 102].map((i) => recordId('Leads', i)));
    expect(f.moduleInfo('Leads')).toMatchObject({ count: 102, slots: 103, deleted: 1 });

    // Job a: same bytes, same count, whatever happened since.
    expect(await csvOf(f, a)).toBe(before);
    expect(f.recordCount(a)).toBe(100);
    expect((await detail(f, a)).result.count).toBe(100);

    const b = await createdId(f, token, leads());
    expect((await detail(f, b)).result.count).toBe(102);
    const after = await csvOf(f, b);
    const rowsA = rowsById(before);
    const rowsB = rowsById(after);
    expect(rowsB.has(recordId('Leads', 7))).toBe(false);
    for (const id of created) expect(rowsB.has(id)).toBe(true);
    expect(rowsB.get(modified!)).not.toBe(rowsA.get(modified!));
    let same = 0;
    for (const [id, row] of rowsA) {
      if (id === modified || id === recordId('Leads', 7)) continue;
      expect(rowsB.get(id)).toBe(row);
      same++;
    }
    expect(same).toBe(98);

    // The modified record: Modified_Time = the modification time; new records: created then.
    const header = parseCsv(after)[0]!;
    const mt = header.indexOf('Modified_Time');
    const ct = header.indexOf('Created_Time');
    const parsed = new Map(
      parseCsv(after)
        .slice(1)
        .map((r) => [r[0]!, r]),
    );
    expect(Date.parse(parsed.get(modified!)![mt]!)).toBe(modifiedAt);
    expect(Date.parse(parsed.get(created[0]!)![ct]!)).toBe(modifiedAt);
    expect(Date.parse(parsed.get(created[0]!)![mt]!)).toBe(modifiedAt);
    expect(f.records('Leads', { from: 5, limit: 1 })[0]).toMatchObject({
      version: 1,
      modifiedMs: modifiedAt,
    });
  });

  it('setModuleRecords resets the store for new jobs only; a second modification bumps the version again', async () => {
    const f = await start({ moduleRecords: { Deals: 10 } });
    const a = await createdId(f, token, { query: { module: { api_name: 'Deals' } } });
    f.setModuleRecords('Deals', 4);
    const b = await createdId(f, token, { query: { module: { api_name: 'Deals' } } });
    expect([f.recordCount(a), f.recordCount(b)]).toEqual([10, 4]);
    f.modifyRecords('Deals', { indexes: [1] });
    f.modifyRecords('Deals', { indexes: [1] });
    expect(f.records('Deals', { from: 1, limit: 1 })[0]!.version).toBe(2);
    expect(() => f.modifyRecords('Deals', { indexes: [9] })).toThrow(/no record/);
    f.deleteRecords('Deals', { indexes: [2] });
    expect(() => f.modifyRecords('Deals', { indexes: [2] })).toThrow(/deleted/);
    expect(() => f.setModuleRecords('Nope', 3)).toThrow(/no record store/);
  });

  it('pages a store job by perPage matches, with next_page_token and page + 1', async () => {
    const f = await start({ perPage: 40, moduleRecords: { Contacts: 100 } });
    const p1 = await createdId(f, token, { query: { module: { api_name: 'Contacts' } } });
    const d1 = await detail(f, p1);
    expect(d1.result).toMatchObject({ count: 40, more_records: true });
    const p2 = await createdId(f, token, { query: { page_token: d1.result.next_page_token } });
    const p3 = await createdId(f, token, { query: { module: { api_name: 'Contacts' }, page: 3 } }, 'v6');
    expect([f.recordCount(p2), f.recordCount(p3)]).toEqual([40, 20]);
    const ids2 = parseCsv(await csvOf(f, p2))
      .slice(1)
      .map((r) => r[0]);
    expect(ids2[0]).toBe(recordId('Contacts', 40));
    expect((await detail(f, p3)).result.more_records).toBe(false);
  });
});

describe('criteria', () => {
  it('filters on Modified_Time: count and rows are exactly the matching records', async () => {
    const f = await start({ moduleRecords: { Leads: 600 } });
    const all = f.records('Leads');
    const cut = all[300]!.modifiedTime;
    const want = all.filter((r) => r.modifiedMs > Date.parse(cut)).map((r) => r.id);
    expect(want.length).toBeGreaterThan(100);
    expect(want.length).toBeLessThan(600);
    const id = await createdId(
      f,
      token,
      leads({ criteria: { field: { api_name: 'Modified_Time' }, comparator: 'greater_than', value: cut } }),
    );
    expect((await detail(f, id)).result.count).toBe(want.length);
    const csv = await downloadCsv(f, token, id);
    const rows = parseCsv(csv.toString('utf8'));
    expect(rows.slice(1).map((r) => r[0])).toEqual(want);
    const mt = rows[0]!.indexOf('Modified_Time');
    expect(rows.slice(1).every((r) => Date.parse(r[mt]!) > Date.parse(cut))).toBe(true);
  });

  it('between, and/or groups (nested), id comparators and Created_Time; other fields do not filter', async () => {
    const f = await start({ moduleRecords: { Leads: 200 } });
    const all = f.records('Leads');
    const lo = all[50]!.createdTime;
    const hi = all[59]!.createdTime;
    const between = { field: { api_name: 'Created_Time' }, comparator: 'between', value: [lo, hi] };
    const idIn = { field: { api_name: 'id' }, comparator: 'in', value: [all[150]!.id, all[151]!.id] };
    const lastName = { field: { api_name: 'Last_Name' }, comparator: 'equal', value: 'Boyle' };
    const idGe = { api_name: 'id', comparator: 'greater_equal', value: all[190]!.id };
    const criteria = {
      group_operator: 'or',
      group: [
        { group_operator: 'and', group: [between, lastName] },
        idIn,
        { group_operator: 'AND', group: [idGe, { ...idGe, comparator: 'not_equal', value: all[199]!.id }] },
      ],
    };
    const id = await createdId(f, token, leads({ criteria }));
    const ids = parseCsv(await csvOf(f, id))
      .slice(1)
      .map((r) => r[0]);
    const expected = [
      ...all.slice(50, 60).map((r) => r.id),
      all[150]!.id,
      all[151]!.id,
      ...all.slice(190, 199).map((r) => r.id),
    ];
    expect(ids).toEqual(expected);
    expect(f.recordCount(id)).toBe(21);
  });

  it('criteria see the snapshot: a record modified after the cut-off is exported by a later job', async () => {
    const f = await start({ moduleRecords: { Accounts: 50 } });
    const since = new Date(t).toISOString().replace(/\.\d{3}Z$/, '+00:00');
    const q = {
      query: {
        module: { api_name: 'Accounts' },
        criteria: { field: { api_name: 'Modified_Time' }, comparator: 'greater_equal', value: since },
      },
    };
    const none = await createdId(f, token, q);
    expect(f.recordCount(none)).toBe(0);
    expect(parseCsv(await csvOf(f, none))).toHaveLength(1); // header only
    t += 1000;
    f.modifyRecords('Accounts', { indexes: [3, 4] });
    f.createRecords('Accounts', 1);
    const some = await createdId(f, token, q);
    expect(
      parseCsv(await csvOf(f, some))
        .slice(1)
        .map((r) => r[0]),
    ).toEqual([3, 4, 50].map((i) => recordId('Accounts', i)));
    expect(f.recordCount(none)).toBe(0);
  });

  it('validates criteria against the field types', async () => {
    const f = await start();
    const bad = async (criteria: unknown, code: string) => {
      const r = await createJob(f, token, leads({ criteria }));
      expect([r.status, r.json.code]).toEqual([400, code]);
    };
    const mt = { field: { api_name: 'Modified_Time' } };
    await bad({ ...mt, comparator: 'contains', value: '2021' }, 'FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED');
    await bad(
      { ...mt, comparator: 'greater_than', value: '2021-07-25T02:13:17.000-07:00' },
      'FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
    );
    await bad(
      { ...mt, comparator: 'greater_than', value: '2021-07-25T09:13:17Z' },
      'FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
    );
    await bad(
      { field: { api_name: 'Description' }, comparator: 'equal', value: 'x' },
      'FIELD_IN_CRITERIA_NOT_SUPPORTED',
    );
    await bad(
      { field: { api_name: 'Nope' }, comparator: 'equal', value: 'x' },
      'FIELD_IN_CRITERIA_NOT_SUPPORTED',
    );
    await bad(
      { field: { api_name: 'Email_Opt_Out' }, comparator: 'not_equal', value: true },
      'FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED',
    );
    await bad(
      { field: { api_name: 'Annual_Revenue' }, comparator: 'greater_than', value: 'lots' },
      'FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE',
    );
    const ok = await createJob(
      f,
      token,
      leads({ criteria: { ...mt, comparator: 'less_equal', value: '2021-07-25T02:13:17+05:30' } }),
    );
    expect(ok.status).toBe(201);
  });
});

describe('fields', () => {
  it('recomputing formulas changes only the formula values: same version, same Modified_Time', async () => {
    const f = await start({ moduleRecords: { Deals: 10 } });
    const deals = { query: { module: { api_name: 'Deals' } } };
    const a = await createdId(f, token, deals);
    t += 60_000;
    const ids = f.recomputeFormulas('Deals', { indexes: [2, 4] });
    expect(ids).toEqual([2, 4].map((i) => recordId('Deals', i)));
    const b = await createdId(f, token, deals);
    const [header, ...before] = parseCsv(await csvOf(f, a));
    const after = parseCsv(await csvOf(f, b)).slice(1);
    const margin = header!.indexOf('Margin__c');
    expect(margin).toBeGreaterThan(0);
    for (const [i, row] of after.entries()) {
      const old = before[i]!;
      if (ids.includes(row[0]!)) {
        expect(row[margin]).not.toBe(old[margin]);
        expect(row[margin]).toMatch(/^\d+\.\d{2}$/);
        // Every other field, Modified_Time included, as before.
        expect(row.filter((_, j) => j !== margin)).toEqual(old.filter((_, j) => j !== margin));
      } else expect(row).toEqual(old);
    }
    expect(f.records('Deals', { from: 2, limit: 1 })[0]).toMatchObject({ version: 0 });
    // A second recomputation draws again; an edit computes afresh (a new version).
    f.recomputeFormulas('Deals', { indexes: [2] });
    const c = await createdId(f, token, deals);
    const again = parseCsv(await csvOf(f, c)).slice(1);
    expect(again[2]![margin]).not.toBe(after[2]![margin]);
    expect(() => f.recomputeFormulas('Deals', { indexes: [99] })).toThrow(/no record at index 99/);
  });

  it('columns follow `fields` in order, with id first when not requested', async () => {
    const f = await start({ moduleRecords: { Deals: 5 } });
    const a = await createdId(f, token, {
      query: {
        module: { api_name: 'Deals' },
        fields: ['Stage', 'Amount', 'Account_Name.Account_Name', 'Owner.last_name'],
      },
    });
    expect(parseCsv(await csvOf(f, a))[0]).toEqual([
      'id',
      'Stage',
      'Amount',
      'Account_Name.Account_Name',
      'Owner.last_name',
    ]);
    const b = await createdId(f, token, {
      query: { module: { api_name: 'Deals' }, fields: ['Amount', 'id'] },
    });
    expect(parseCsv(await csvOf(f, b))[0]).toEqual(['Amount', 'id']);
    expect((await detail(f, b)).query.fields).toEqual(['Amount', 'id']);
    // the same field has the same value whatever else is exported
    const amountA = parseCsv(await csvOf(f, a)).map((r) => r[2]);
    const amountB = parseCsv(await csvOf(f, b)).map((r) => r[0]);
    expect(amountA.slice(1)).toEqual(amountB.slice(1));
  });

  it('unknown fields are INVALID_DATA with details.api_name, and no job is created', async () => {
    const f = await start();
    const before = f.stats().creates;
    const r = await createJob(f, token, leads({ fields: ['Last_Name', 'Nope__c'] }));
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      code: 'INVALID_DATA',
      details: { api_name: 'Nope__c' },
      message: 'invalid data',
      status: 'error',
    });
    for (const bad of ['Account_Name.Account_Name', 'Owner.shoe_size', 'Company.Name']) {
      const x = await createJob(f, token, leads({ fields: [bad] }));
      expect([x.status, x.json.code, x.json.details]).toEqual([400, 'INVALID_DATA', { api_name: bad }]);
    }
    const img = await createJob(f, token, leads({ fields: ['Record_Image'] }));
    expect(img.json.code).toBe('FIELD_NOT_SUPPORTED');
    expect(f.stats().creates).toBe(before);
    expect(f.requests.filter((q) => q.kind === 'create' && q.status === 201)).toHaveLength(0);
    expect((await createJob(f, token, leads({ fields: ['$converted', 'Owner.email'] }))).status).toBe(201);
  });

  it('more than 200 fields means all fields (documented), even names the module lacks', async () => {
    const f = await start({ moduleRecords: { Leads: 3 } });
    const many = Array.from({ length: 201 }, (_, i) => `Field_${i}__c`);
    const id = await createdId(f, token, leads({ fields: many }));
    expect(parseCsv(await csvOf(f, id))[0]).toEqual(schemaFor('Leads').defaultColumns);
  });
});

describe('modules', () => {
  it('Notes, Attachments and Emails are MODULE_NOT_SUPPORTED; unknown modules INVALID_MODULE', async () => {
    const f = await start();
    for (const m of ['Notes', 'Attachments', 'Emails']) {
      const r = await createJob(f, token, { query: { module: { api_name: m } } });
      expect([r.status, r.json.code, r.json.message]).toEqual([
        400,
        'MODULE_NOT_SUPPORTED',
        `Invalid module for the query. Module '${m}' is not supported.`,
      ]);
    }
    const r = await createJob(f, token, { query: { module: { api_name: 'Widgets' } } });
    expect([r.status, r.json]).toEqual([
      400,
      {
        code: 'INVALID_MODULE',
        details: {},
        message: 'the module name given seems to be invalid',
        status: 'error',
      },
    ]);
    for (const m of ['Widgets__c', 'Appointments__s', 'Sales_Orders']) {
      expect((await createJob(f, token, { query: { module: { api_name: m } } })).status).toBe(201);
    }
    f.setOptions({ unknownModuleError: 'MODULE_NOT_AVAILABLE' });
    const r2 = await createJob(f, token, { query: { module: { api_name: 'Widgets' } } });
    expect([r2.status, r2.json.code, r2.json.message]).toEqual([
      400,
      'MODULE_NOT_AVAILABLE',
      "Requested module 'Widgets' is not available.",
    ]);
  });

  it('LIMIT_EXCEEDED after dailyJobLimit jobs in a rolling day', async () => {
    const f = await start({ dailyJobLimit: 2 });
    expect((await createJob(f, token, leads())).status).toBe(201);
    expect((await createJob(f, token, leads())).status).toBe(201);
    const r = await createJob(f, token, leads());
    expect([r.status, r.json.code]).toEqual([400, 'LIMIT_EXCEEDED']);
    t += 24 * 3600 * 1000 + 1;
    token = await mintToken(f);
    expect((await createJob(f, token, leads())).status).toBe(201);
  });
});

describe('scopes', () => {
  const narrow = {
    clientId: 'narrow-client',
    clientSecret: 'narrow-secret',
    refreshToken: 'narrow-refresh',
    scopes: ['zohocrm.bulk.read', 'ZohoCRM.modules.leads.READ'],
  };
  const noBulk = {
    clientId: 'nobulk-client',
    clientSecret: 'nobulk-secret',
    refreshToken: 'nobulk-refresh',
    scopes: ['ZohoCRM.modules.ALL', 'ZohoCRM.settings.ALL'],
  };

  it('the token response reflects the client scopes; missing scopes give 401 OAUTH_SCOPE_MISMATCH', async () => {
    const f = await start({ clients: [DEFAULT_CLIENT, narrow, noBulk] });
    const n = await mintFor(f, narrow);
    expect(n.scope).toBe('zohocrm.bulk.read ZohoCRM.modules.leads.READ');
    const mismatch = { code: 'OAUTH_SCOPE_MISMATCH', details: {}, message: 'Unauthorized', status: 'error' };

    const leadsJob = await createdId(f, n.token, leads());
    const contacts = await createJob(f, n.token, { query: { module: { api_name: 'Contacts' } } });
    expect([contacts.status, contacts.json]).toEqual([401, mismatch]);
    expect((await getJson(`${f.apiDomain}/crm/bulk/v8/read/${leadsJob}`, n.token)).status).toBe(200);
    expect((await downloadCsv(f, n.token, leadsJob)).length).toBeGreaterThan(0);
    const seeded = f.addJob({ module: 'Contacts' });
    const st = await getJson(`${f.apiDomain}/crm/bulk/v8/read/${seeded.id}`, n.token);
    expect([st.status, st.json]).toEqual([401, mismatch]);
    const dl = await fetch(`${f.apiDomain}/crm/bulk/v8/read/${seeded.id}/result`, {
      headers: authed(n.token),
    });
    expect(dl.status).toBe(401);
    await dl.arrayBuffer();
    const fields = await getJson(`${f.apiDomain}/crm/v8/settings/fields?module=Leads`, n.token);
    expect([fields.status, fields.json]).toEqual([401, mismatch]);

    const nb = await mintFor(f, noBulk);
    const c = await createJob(f, nb.token, leads());
    expect([c.status, c.json.code]).toEqual([401, 'OAUTH_SCOPE_MISMATCH']);
    expect((await getJson(`${f.apiDomain}/crm/bulk/v8/read/${leadsJob}`, nb.token)).status).toBe(401);
    expect((await getJson(`${f.apiDomain}/crm/v8/settings/fields?module=Leads`, nb.token)).status).toBe(200);
  });
});
