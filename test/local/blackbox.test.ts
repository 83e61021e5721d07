import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { csvRecordCount } from '../../local/fake-zoho/index.js';
import { localS3Client } from '../../local/stand-ins.js';
import {
  type Answer,
  callApi,
  getExportAt,
  type NpmStart,
  settledExportAt,
  startNpmStart,
  waitFor,
} from '../support/npm-start.js';

const root = path.resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'zoho-blackbox-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

interface PublicPage {
  page: number;
  job_id: string;
  status: string;
  s3: { bucket: string; key: string } | null;
}
interface PublicExport {
  export_id: string;
  status: string;
  updated_at: string;
  pages: PublicPage[];
}
const errorCode = (a: Answer): unknown => (a.json as { error?: { code?: unknown } }).error?.code;

describe('security-review §9: black-box tests against npm start', () => {
  let stack: NpmStart;
  let api = '';
  let fake: FakeZohoAdminClient;
  let s3Url = '';

  const call = (method: string, p: string, opts: Parameters<typeof callApi>[3] = {}): Promise<Answer> =>
    callApi(api, method, p, opts);
  const getExport = (id: string): Promise<PublicExport> => getExportAt(api, id);
  const settled = (id: string, ms?: number): Promise<PublicExport> => settledExportAt(api, id, ms);
  const listedIds = async (): Promise<string[]> =>
    ((await call('GET', '/exports?limit=100')).json as { exports: PublicExport[] }).exports.map(
      (e) => e.export_id,
    );
  /** The token of the callback URL the product gave Zoho for `exportId`'s page `page`. */
  const tokenOf = (exportId: string, page: number): Promise<{ token: string; jobId: string }> =>
    waitFor(
      `the callback URL of ${exportId} page ${page}`,
      async () => {
        const j = (await fake.jobs()).find((x) =>
          x.callbackUrl?.includes(`/callbacks/zoho/${exportId}.${page}.`),
        );
        return j?.callbackUrl
          ? { token: j.callbackUrl.split('/callbacks/zoho/')[1]!, jobId: j.id }
          : undefined;
      },
      30_000,
    );
  const startExport = async (body: unknown): Promise<string> => {
    const a = await call('POST', '/exports', { body });
    expect([201, 202], JSON.stringify(a.json)).toContain(a.status);
    return (a.json as { export_id: string }).export_id;
  };

  beforeAll(async () => {
    // Rows 2 to 9 leave jobs held IN PROGRESS at the fake for good; the job-slot cap (default 5) is not
    // what these rows check, so the most it allows keeps later rows' exports from queueing behind them.
    stack = await startNpmStart(root, dataDir, { env: { ZOHO_MAX_CONCURRENT_JOBS: '25' } });
    api = `http://127.0.0.1:${stack.ports.api}`;
    s3Url = `http://127.0.0.1:${stack.ports.s3}`;
    fake = new FakeZohoAdminClient(`http://127.0.0.1:${stack.ports.zoho}`);
  }, 240_000);

  afterEach(async () => {
    await fake?.clearFaults();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('1: a callback path with a malformed percent-escape is 404 CALLBACK_NOT_FOUND, with no error log', async () => {
    const before = stack.output().length;
    const a = await call('POST', '/callbacks/zoho/%E0%A4%A', { body: { data: [{ id: '1' }] } });
    expect(a.status).toBe(404);
    expect(errorCode(a)).toBe('CALLBACK_NOT_FOUND');
    await sleep(500);
    expect(stack.output().slice(before)).not.toMatch(/"level":\s*"ERROR"/i);
  });

  it('6: malformed export requests and list queries are refused, with no create at Zoho and nothing listed', async () => {
    const creates = (await fake.stats()).creates;
    const listed = await listedIds();
    const post = (opts: Parameters<typeof call>[2]) => call('POST', '/exports', opts);

    const plain = await post({ raw: JSON.stringify({ module: 'Leads' }), contentType: 'text/plain' });
    expect(plain.status).toBe(415);
    const big = await post({ body: { module: 'Leads', fields: ['x'.repeat(33 * 1024)] } });
    expect(big.status).toBe(413);
    const unknown = await post({ body: { module: 'Leads', colour: 'red' } });
    expect([unknown.status, errorCode(unknown)]).toEqual([400, 'UNKNOWN_FIELD']);
    // Six levels of groups, each with two members.
    const leaf = { api_name: 'Last_Name', comparator: 'equal', value: 'x' };
    let criteria: unknown = leaf;
    for (let i = 0; i < 6; i++) criteria = { group_operator: 'and', group: [criteria, leaf] };
    const deep = await post({ body: { module: 'Leads', criteria } });
    expect([deep.status, errorCode(deep)]).toEqual([400, 'INVALID_CRITERIA']);
    const mod = await post({ body: { module: '../x' } });
    expect([mod.status, errorCode(mod)]).toEqual([400, 'INVALID_MODULE']);
    const fields = await post({
      body: { module: 'Leads', fields: Array.from({ length: 201 }, (_, i) => `Field_${i}`) },
    });
    expect(fields.status).toBe(400);
    for (const q of ['limit=0', 'limit=101', 'foo=1']) {
      expect((await call('GET', `/exports?${q}`)).status, q).toBe(400);
    }

    expect((await fake.stats()).creates).toBe(creates);
    expect(await listedIds()).toEqual(listed);
  });

  it('7: cursors of the wrong key shape are 400 INVALID_CURSOR, never 5xx', async () => {
    const asks = [
      `/jobs?next=${b64url({ job_id: 5 })}`,
      `/exports?next=${b64url({ export_id: 'x' })}`,
      `/exports?module=Leads&next=${b64url({ export_id: 'x' })}`,
    ];
    for (const p of asks) {
      const a = await call('GET', p);
      expect([a.status, errorCode(a)], p).toEqual([400, 'INVALID_CURSOR']);
    }
  });

  it('8: one Idempotency-Key makes one export and one Zoho create; reuse, spaces and 101 characters are refused', async () => {
    const creates = (await fake.stats()).creates;
    const key = `bb-8-${randomBytes(6).toString('hex')}`;
    const body = { module: 'Contacts' };
    const [a, b] = await Promise.all([
      call('POST', '/exports', { body, headers: { 'idempotency-key': key } }),
      call('POST', '/exports', { body, headers: { 'idempotency-key': key } }),
    ]);
    expect([a.status, b.status].sort(), JSON.stringify([a.json, b.json])).toEqual([200, 201]);
    const id = (a.json as PublicExport).export_id;
    expect((b.json as PublicExport).export_id).toBe(id);

    const other = await call('POST', '/exports', {
      body: { module: 'Accounts' },
      headers: { 'idempotency-key': key },
    });
    expect([other.status, errorCode(other)]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    const space = await call('POST', '/exports', { body, headers: { 'idempotency-key': 'a key' } });
    expect(space.status).toBe(400);
    const long = await call('POST', '/exports', { body, headers: { 'idempotency-key': 'k'.repeat(101) } });
    expect(long.status).toBe(400);

    expect((await fake.stats()).creates).toBe(creates + 1);
    expect((await settled(id)).status).toBe('COMPLETED');
  }, 120_000);

  it('9: a slow create and a second request with its key 1 s later: 202/409 or the same export, never 5xx, one create', async () => {
    const creates = (await fake.stats()).creates;
    await fake.inject({ kind: 'create', times: 1, action: { type: 'delay', ms: 12_000 } });
    const key = `bb-9-${randomBytes(6).toString('hex')}`;
    const body = { module: 'Contacts' };
    const createAsks = (await fake.requests()).filter((r) => r.kind === 'create').length;
    const t0 = Date.now();
    const first = call('POST', '/exports', { body, headers: { 'idempotency-key': key } });
    await sleep(1_000);
    const second = await call('POST', '/exports', { body, headers: { 'idempotency-key': key } });
    const a = await first;
    expect(a.status, JSON.stringify(a.json)).toBeLessThan(500);
    expect([201, 202]).toContain(a.status);
    const id = (a.json as PublicExport).export_id;
    expect(second.status, JSON.stringify(second.json)).toBeLessThan(500);
    if (second.status === 409) {
      expect(errorCode(second)).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      expect(second.headers.get('retry-after')).toMatch(/^\d+$/);
    } else {
      expect([200, 201, 202]).toContain(second.status);
      expect((second.json as PublicExport).export_id).toBe(id);
    }
    // Once the create has answered, the key names the one export.
    const again = await call('POST', '/exports', { body, headers: { 'idempotency-key': key } });
    expect(again.status, JSON.stringify(again.json)).toBeLessThan(500);
    if (again.status !== 409) expect((again.json as PublicExport).export_id).toBe(id);
    if (a.status === 202) {
      // Zoho did not answer in time: page 1 awaits Zoho's confirmation instead of a second create.
      expect((a.json as { pending_page?: { code?: string } }).pending_page?.code).toBe(
        'ZOHO_CREATE_UNCERTAIN',
      );
    }
    // Past the delay: a late create would be counted by now.
    await sleep(Math.max(0, t0 + 15_000 - Date.now()));
    expect(
      (await fake.requests()).filter((r) => r.kind === 'create').length - createAsks,
    ).toBeLessThanOrEqual(1);
    // (The fake drops a create whose caller gave up, so it may have made none.)
    expect((await fake.stats()).creates - creates).toBeLessThanOrEqual(1);
  }, 120_000);

  it('3: a valid token replayed for an EXPORTED page changes nothing; with another job id it is 404', async () => {
    const id = await startExport({ module: 'Contacts' });
    const done = await settled(id);
    expect(done.status).toBe('COMPLETED');
    const page = done.pages[0]!;
    expect(page.status).toBe('EXPORTED');
    const { token, jobId } = await tokenOf(id, 1);
    expect(jobId).toBe(page.job_id);
    // Zoho's own callback may still be on its way: let it land before measuring.
    await waitFor(
      "Zoho's callback",
      async () =>
        (await fake.callbacks()).some((c) => c.jobId === jobId && c.status !== undefined) ? true : undefined,
      30_000,
    );
    const s3 = localS3Client(s3Url);
    const head = () => s3.send(new HeadObjectCommand({ Bucket: page.s3!.bucket, Key: page.s3!.key }));
    const etag = (await head()).ETag;
    const eventsOf = async () =>
      ((await call('GET', '/events')).json as { events: unknown[] }).events.filter((e) =>
        JSON.stringify(e).includes(id),
      );
    expect(await eventsOf()).toHaveLength(1);
    const zohoCalls = (await fake.requests()).length;

    for (let i = 0; i < 20; i++) {
      const a = await call('POST', `/callbacks/zoho/${token}`, { body: { data: [{ id: jobId }] } });
      expect([a.status, (a.json as { status?: string }).status]).toEqual([200, 'EXPORTED']);
    }
    expect((await fake.requests()).length).toBe(zohoCalls);
    expect((await head()).ETag).toBe(etag);
    expect(await eventsOf()).toHaveLength(1);
    const after = await getExport(id);
    expect(after.pages.map((p) => [p.job_id, p.status])).toEqual(done.pages.map((p) => [p.job_id, p.status]));

    const seeded = await fake.addJob({ module: 'Contacts' });
    const other = await call('POST', `/callbacks/zoho/${token}`, { body: { data: [{ id: seeded.id }] } });
    expect([other.status, errorCode(other)]).toEqual([404, 'CALLBACK_NOT_FOUND']);
    expect((await getExport(id)).pages.map((p) => p.job_id)).toEqual(done.pages.map((p) => p.job_id));
  }, 120_000);

  it('5: a valid token for a PENDING job posted 50 times in 10 s costs about one status call per check lease', async () => {
    const options = await fake.options();
    // Jobs stay in progress for minutes: the page is PENDING throughout the flood.
    await fake.setOptions({
      timeline: { queuedAfterMs: 0, inProgressAfterMs: 500, completedAfterMs: 600_000 },
    });
    try {
      const id = await startExport({ module: 'Contacts' });
      const { token, jobId } = await tokenOf(id, 1);
      await waitFor(
        'page 1 recorded',
        async () => ((await getExport(id)).pages[0]?.job_id === jobId ? true : undefined),
        30_000,
      );
      const statusCalls = async () =>
        (await fake.requests()).filter((r) => r.kind === 'status' && r.jobId === jobId).length;
      const before = await statusCalls();
      const t0 = Date.now();
      for (let i = 0; i < 50; i++) {
        const a = await call('POST', `/callbacks/zoho/${token}`, { body: { data: [{ id: jobId }] } });
        expect([a.status, (a.json as { status?: string }).status]).toEqual([200, 'PENDING']);
        await sleep(Math.max(0, t0 + (i + 1) * 200 - Date.now()));
      }
      const made = (await statusCalls()) - before;
      // The poller checks a PENDING job at most once per poll interval (1 s here) and backs off; the
      // 50 callbacks add at most one check per 30 s lease. One per POST would be 50.
      expect(made).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 1000) + 1);
      expect((await getExport(id)).pages[0]!.status).toBe('PENDING');
    } finally {
      await fake.setOptions({ timeline: options.timeline });
    }
  }, 120_000);

  it('2: 300 forged tokens in 10 s during an export are all 404, cost no status call and leave the export alone', async () => {
    const options = await fake.options();
    // The export's job completes after the flood, so the flood meets a running export.
    await fake.setOptions({
      timeline: { queuedAfterMs: 0, inProgressAfterMs: 500, completedAfterMs: 14_000 },
    });
    let id = '';
    let real = '';
    try {
      id = await startExport({ module: 'Contacts' });
      real = (await tokenOf(id, 1)).token;
    } finally {
      await fake.setOptions({ timeline: options.timeline });
    }
    const running = await getExport(id);
    expect(running.status).toBe('RUNNING');
    const statusBefore = (await fake.stats()).statusCalls;
    const t0 = Date.now();
    const answers: number[] = [];
    // 30 forged tokens every second for 10 s: the page's real token (nonce, expiry, key id) with a
    // random MAC, the most a forger can know.
    const unsigned = real.slice(0, real.lastIndexOf('.') + 1);
    for (let s = 0; s < 10; s++) {
      const batch = Array.from({ length: 30 }, () => {
        const mac = randomBytes(16).toString('base64url').slice(0, 22);
        return call('POST', `/callbacks/zoho/${unsigned}${mac}`, {
          body: { data: [{ id: running.pages[0]?.job_id ?? '1' }] },
        }).then((a) => a.status);
      });
      answers.push(...(await Promise.all(batch)));
      await sleep(Math.max(0, t0 + (s + 1) * 1000 - Date.now()));
    }
    expect(answers).toHaveLength(300);
    expect(answers.filter((s) => s !== 404)).toEqual([]);
    // Only the poller's own checks (at most one per 1 s poll interval), none per forged token.
    expect((await fake.stats()).statusCalls - statusBefore).toBeLessThanOrEqual(
      Math.ceil((Date.now() - t0) / 1000) + 1,
    );
    const after = await getExport(id);
    // The export moved on by itself at most; the flood itself wrote nothing to it.
    if (after.status === 'RUNNING') expect(after.updated_at).toBe(running.updated_at);
    expect((await settled(id)).status).toBe('COMPLETED');
  }, 120_000);

  /** Every object key in the S3 stand-in, in every bucket. */
  const allKeys = async (): Promise<string[]> => {
    const s3 = localS3Client(s3Url);
    const keys: string[] = [];
    for (const b of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: b.Name!, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of page.Contents ?? []) keys.push(`${b.Name}/${o.Key}`);
        token = page.NextContinuationToken;
      } while (token);
    }
    return keys;
  };
  /** Starts a Contacts export whose page-1 job stays in progress until told; its token and job id. */
  const heldExport = async (): Promise<{ id: string; token: string; jobId: string }> => {
    const options = await fake.options();
    await fake.setOptions({
      timeline: { queuedAfterMs: 0, inProgressAfterMs: 500, completedAfterMs: 600_000 },
    });
    try {
      const id = await startExport({ module: 'Contacts' });
      return { id, ...(await tokenOf(id, 1)) };
    } finally {
      await fake.setOptions({ timeline: options.timeline });
    }
  };

  it('10: a COMPLETED status whose download_url leaves the API domain fails the job UNSAFE_DOWNLOAD_URL and fetches nothing', async () => {
    const urls = [
      `${s3Url}/x`, // the S3 stand-in
      '//evil.test/x',
      '/crm/bulk/../../__fake/health',
      '/crm/bulk/%2e%2e/x',
      'https://a@127.0.0.1/crm/bulk/x',
    ];
    const held = [];
    for (const url of urls) {
      const h = await heldExport();
      await fake.inject({
        kind: 'status',
        jobId: h.jobId,
        times: Number.POSITIVE_INFINITY,
        action: {
          type: 'http',
          status: 200,
          body: {
            data: [
              {
                id: h.jobId,
                operation: 'read',
                state: 'COMPLETED',
                result: { page: 1, per_page: 200000, count: 10, download_url: url, more_records: false },
              },
            ],
          },
        },
      });
      held.push({ ...h, url });
    }
    for (const h of held) {
      const job = await waitFor(
        `job ${h.jobId} (${h.url}) to finish`,
        async () => {
          const j = (await call('GET', `/jobs/${h.jobId}`)).json as { status: string };
          // The refusal may come at the status check or at the download (DOWNLOADING first).
          return ['FAILED', 'EXPORTED'].includes(j.status) ? j : undefined;
        },
        60_000,
      );
      expect([job.status, h.url]).toEqual(['FAILED', h.url]);
      expect(JSON.stringify(job), h.url).toContain('UNSAFE_DOWNLOAD_URL');
    }
    const reqs = await fake.requests();
    for (const h of held) {
      expect(reqs.filter((r) => r.kind === 'download' && r.jobId === h.jobId)).toEqual([]);
    }
    expect(
      reqs.filter((r) => r.path.includes('__fake') || r.path === '/x' || r.path.endsWith('/bulk/x')),
    ).toEqual([]);
    const keys = await allKeys();
    for (const h of held) {
      expect(keys.filter((k) => k.includes(h.jobId) || k.includes(h.id))).toEqual([]);
      // The target named by the first URL (the S3 stand-in itself) holds no such object either.
      expect(keys.filter((k) => k.endsWith('/x'))).toEqual([]);
    }
  }, 180_000);

  it('12: corrupt, truncated, reset and extra-record downloads leave no object; the retry lands one exact CSV and one event', async () => {
    const h = await heldExport();
    for (const action of [
      { type: 'corrupt', what: 'crc' },
      { type: 'truncate', afterBytes: 20_000 },
      { type: 'reset', afterBytes: 20_000 },
      { type: 'csv-extra-record' },
    ] as const) {
      await fake.inject({ kind: 'download', jobId: h.jobId, times: 1, action });
    }
    await fake.completeNow(h.jobId);
    // Each sighting of an object under the job id, with how many downloads had started by then.
    const seen: { keys: string[]; downloadsStarted: number }[] = [];
    const downloadsOf = async () =>
      (await fake.requests()).filter((r) => r.kind === 'download' && r.jobId === h.jobId).length;
    const done = await waitFor(
      'the export to settle',
      async () => {
        // Count first, then keys: a key listed after n downloads had started came from one of them.
        const downloadsStarted = await downloadsOf();
        const keys = (await allKeys()).filter((k) => k.includes(h.jobId));
        const e = await getExport(h.id);
        // Still not EXPORTED after the listing: the keys were listed while the page was in flight.
        if (keys.length > 0 && e.pages[0]?.status !== 'EXPORTED') seen.push({ keys, downloadsStarted });
        return e.status === 'RUNNING' ? undefined : e;
      },
      150_000,
    );
    expect(done.status).toBe('COMPLETED');
    const page = done.pages[0]!;
    // The four refused downloads left nothing behind: the first object under the job id appears
    // only once the fifth download (the good one) had started, and it is the page's final key.
    const finalKey = `${page.s3!.bucket}/${page.s3!.key}`;
    expect(seen.filter((s) => s.downloadsStarted < 5 || s.keys.some((k) => k !== finalKey))).toEqual([]);
    const downloads = (await fake.requests()).filter((r) => r.kind === 'download' && r.jobId === h.jobId);
    expect(downloads.length).toBeGreaterThanOrEqual(5);
    const csvs = (await allKeys()).filter((k) => k.includes(h.jobId) && k.endsWith('.csv'));
    expect(csvs).toEqual([`${page.s3!.bucket}/${page.s3!.key}`]);
    const obj = await localS3Client(s3Url).send(
      new GetObjectCommand({ Bucket: page.s3!.bucket, Key: page.s3!.key }),
    );
    const count = await csvRecordCount(Buffer.from(await obj.Body!.transformToByteArray()));
    expect(count).toBe(await fake.recordCount(h.jobId));
    const events = ((await call('GET', '/events')).json as { events: unknown[] }).events.filter((e) =>
      JSON.stringify(e).includes(h.id),
    );
    expect(events, JSON.stringify(events)).toHaveLength(1);
  }, 200_000);
});
