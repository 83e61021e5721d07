/**
 * The fake's concurrency limit on Bulk Read jobs (reference §8: 429 TOO_MANY_REQUESTS, "Many requests
 * fired in concurrent than the allowed limit", the standard envelope) and its peak counter (admin stats,
 * resettable); the bench-only extra custom modules; DealHistory's record store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { type FakeZoho, type FakeZohoOptions, startFakeZoho } from '../../local/fake-zoho/index.js';
import { collect, createJob, getJson, type Json, mintToken } from './helpers.js';

let fake: FakeZoho | undefined;
let token: string;
let t = 1_800_000_000_000;
const timeline = { queuedAfterMs: 1_000, inProgressAfterMs: 2_000, completedAfterMs: 10_000 };

async function start(opts: FakeZohoOptions = {}): Promise<FakeZoho> {
  t = 1_800_000_000_000;
  fake = await startFakeZoho({ now: () => t, timeline, ...opts });
  token = await mintToken(fake);
  return fake;
}
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const leads = { query: { module: { api_name: 'Leads' } } };
/** The job id of a 201 create answer. */
const idOf = (r: { json: Json }): string => r.json.data[0].details.id;

describe('fake Zoho: concurrent Bulk Read jobs', () => {
  it('refuses a create beyond maxConcurrentJobs (default 10) with 429 TOO_MANY_REQUESTS, creating nothing', async () => {
    const f = await start();
    expect(f.options().maxConcurrentJobs).toBe(10);
    for (let i = 0; i < 10; i++) expect((await createJob(f, token, leads)).status).toBe(201);
    const jobs = f.requests.filter((r) => r.kind === 'create').length;
    const refused = await createJob(f, token, leads);
    expect(refused).toEqual({
      status: 429,
      json: {
        code: 'TOO_MANY_REQUESTS',
        details: {},
        message: 'Many requests fired in concurrent than the allowed limit',
        status: 'error',
      },
    });
    expect(f.stats()).toMatchObject({ concurrentJobs: 10, peakConcurrentJobs: 10, concurrencyRefusals: 1 });
    expect(f.stats().creates).toBe(jobs);
    // QUEUED and IN PROGRESS still count; a job that reached COMPLETED frees its slot.
    t += 5_000;
    expect((await createJob(f, token, leads)).status).toBe(429);
    t += 5_000;
    expect(f.stats().concurrentJobs).toBe(0);
    expect((await createJob(f, token, leads)).status).toBe(201);
    expect(f.stats()).toMatchObject({ concurrentJobs: 1, peakConcurrentJobs: 10, concurrencyRefusals: 2 });
  });

  it('a FAILURE frees its slot; the limit also holds for page-token creates', async () => {
    const f = await start({ maxConcurrentJobs: 2, perPage: 10, moduleRecords: { Leads: 30 } });
    const a = await createJob(f, token, leads);
    const b = await createJob(f, token, leads);
    expect([a.status, b.status]).toEqual([201, 201]);
    const idA = idOf(a);
    f.setState(idA, 'FAILURE');
    expect((await createJob(f, token, leads)).status).toBe(201);
    // a page token of a COMPLETED job: refused while two jobs run
    t += 10_000;
    const idB = idOf(b);
    const status: Json = (await getJson(`${f.apiDomain}/crm/bulk/v8/read/${idB}`, token)).json;
    const pageToken = status.data[0].result.next_page_token as string;
    expect(pageToken).toBeTruthy();
    expect((await createJob(f, token, leads)).status).toBe(201);
    expect((await createJob(f, token, leads)).status).toBe(201);
    const next = await createJob(f, token, { query: { page_token: pageToken } });
    expect([next.status, next.json.code]).toEqual([429, 'TOO_MANY_REQUESTS']);
    t += 10_000;
    expect((await createJob(f, token, { query: { page_token: pageToken } })).status).toBe(201);
  });

  it('the peak counter: seen at each creation, read and reset through the admin API; the limit is a run-time option', async () => {
    const f = await start({ maxConcurrentJobs: 50 });
    const admin = new FakeZohoAdminClient(f.url);
    for (let i = 0; i < 4; i++) await createJob(f, token, leads);
    t += 10_000;
    await createJob(f, token, leads);
    expect(await admin.stats()).toMatchObject({ concurrentJobs: 1, peakConcurrentJobs: 4 });
    expect(await admin.resetPeakConcurrentJobs()).toMatchObject({ concurrentJobs: 1, peakConcurrentJobs: 1 });
    await createJob(f, token, leads);
    expect((await admin.stats()).peakConcurrentJobs).toBe(2);
    // lowered while running: the next create beyond it is refused
    await admin.setOptions({ maxConcurrentJobs: 2 });
    expect((await createJob(f, token, leads)).status).toBe(429);
    expect((await admin.stats()).peakConcurrentJobs).toBe(2);
    await expect(admin.setOptions({ maxConcurrentJobs: 0 })).rejects.toThrow(/maxConcurrentJobs/);
  });
});

describe('fake Zoho: bench modules and DealHistory', () => {
  it('extraModules: listed as visible custom modules after the org, exported like any custom module; none by default', async () => {
    const f = await start();
    const list = async (): Promise<Json[]> =>
      (await getJson(`${f.apiDomain}/crm/v8/settings/modules`, token)).json.modules;
    expect((await list()).some((m) => /^Bench_/.test(m.api_name))).toBe(false);
    f.setOptions({ extraModules: ['Bench_01__c', 'Bench_02__c'] });
    const modules = await list();
    expect(modules.slice(-2).map((m) => [m.api_name, m.generated_type, m.status, m.api_supported])).toEqual([
      ['Bench_01__c', 'custom', 'visible', true],
      ['Bench_02__c', 'custom', 'visible', true],
    ]);
    f.setModuleRecords('Bench_02__c', 7);
    const r = await createJob(f, token, { query: { module: { api_name: 'Bench_02__c' } } });
    expect(r.status).toBe(201);
    expect(f.jobInfo(idOf(r)).count).toBe(7);
    expect(() => f.setOptions({ extraModules: ['Leads'] })).toThrow(/__c/);
  });

  it('DealHistory: a Bulk Read job of its store, three stage changes per deal, each naming its deal', async () => {
    const f = await start({ moduleRecords: { Deals: 4 } });
    expect(f.moduleInfo('DealHistory').count).toBe(12);
    const fields = (await getJson(`${f.apiDomain}/crm/v8/settings/fields?module=DealHistory`, token)).json
      .fields as Json[];
    expect(fields.map((x) => x.api_name)).toEqual([
      'id',
      'Deal_Name',
      'Stage',
      'Amount',
      'Probability',
      'Closing_Date',
      'Modified_By',
      'Created_Time',
      'Modified_Time',
    ]);
    expect(fields.find((x) => x.api_name === 'Deal_Name')).toMatchObject({
      data_type: 'lookup',
      lookup: { module: { api_name: 'Deals' } },
    });
    const r = await createJob(f, token, { query: { module: { api_name: 'DealHistory' } } });
    expect(r.status).toBe(201);
    const id = idOf(r);
    t += 10_000;
    const csv = (await collect(f.csv(id))).toString('utf8').trim().split('\n');
    const header = csv[0]!.split(',');
    const rows = csv.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    expect(rows).toHaveLength(12);
    const deals = f.records('Deals').map((d) => d.id);
    for (const [i, row] of rows.entries()) {
      expect(row.Deal_Name).toBe(deals[Math.floor(i / 3)]);
      expect(row.id).toMatch(/^\d{19}$/);
      const step = i % 3;
      if (step === 0) expect([row.Stage, row.Probability]).toEqual(['Qualification', '10']);
      if (step === 1) expect([row.Stage, row.Probability]).toEqual(['Proposal/Price Quote', '75']);
      if (step === 2) expect(['Closed Won', 'Closed Lost']).toContain(row.Stage);
    }
    // the one module still refused only when tried
    const locked = await createJob(f, token, { query: { module: { api_name: 'Locking_Information__s' } } });
    expect([locked.status, locked.json.code]).toEqual([400, 'MODULE_NOT_SUPPORTED']);
  });
});
