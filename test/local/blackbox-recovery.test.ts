/**
 * security-review.md §9, rows 4, 11, 13, 14 and 15: black-box tests against `npm start`, driving only
 * its HTTP API, the fake Zoho's /__fake admin API and the local S3 (plus, for row 13, the S3 stand-in's
 * list of multipart uploads on disk, and for row 15 the fake's token file to know what to search for).
 * One `npm start`, killed with SIGKILL and restarted on the same data directory and ports in row 13.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callbackToken, keyFromSecret } from '../../lib/callbacks/token.js';
import { documentClient } from '../../lib/runtime.js';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { DEFAULT_CLIENT } from '../../local/fake-zoho/index.js';
import { assertPortFree, localDynamoDbClient, localS3Client } from '../../local/stand-ins.js';
import {
  type Answer,
  callApi,
  getExportAt,
  type NpmStart,
  settledExportAt,
  startNpmStart,
  waitFor,
} from '../support/npm-start.js';
import { callbackTokensIn, issuedAccessTokens, secretHits, secretsOf } from '../support/secrets.js';

const root = path.resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'zoho-blackbox-recovery-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const BUCKET = 'zoho-crm-exports';
/** The local stack's settings here: the poller every second (startNpmStart), everything else default. */
const POLL_INTERVAL_MS = 1_000;
/** MAX_JOB_AGE_HOURS' default (its smallest allowed value is 1 h: too long to watch a job expire). */
const MAX_JOB_AGE_MS = 24 * 3_600_000;
/** Jobs answer fast: queued at once, done after 1.5 s. */
const FAST = { queuedAfterMs: 0, inProgressAfterMs: 300, completedAfterMs: 1_500 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PublicPage {
  page: number;
  job_id: string;
  status: string;
  s3: { bucket: string; key: string } | null;
}
interface PublicExport {
  export_id: string;
  status: string;
  pages: PublicPage[];
  manifest: { bucket: string; key: string } | null;
  error: unknown;
}
interface PublicJob {
  job_id: string;
  status: string;
  created_at: string;
  next_check_at: string | null;
}
interface Manifest {
  export_id: string;
  pages: Array<{
    page: number;
    job_id: string;
    records: number;
    csv: { key: string };
    parquet?: { key: string; rows: number };
  }>;
  totals: { pages: number; records: number };
}

describe('security-review §9 rows 4, 11, 13, 14, 15: recovery and secrets against npm start', () => {
  let stack: NpmStart;
  let api = '';
  let fake: FakeZohoAdminClient;
  let s3Url = '';
  /** What every earlier run of `npm start` in this file printed (row 13 kills one). */
  const earlierOutput: string[] = [];
  /** Secrets seen along the way, for row 15's search. */
  const accessTokens = new Set<string>();
  const callbackUrls = new Set<string>();
  /** Valid tokens this test made itself (row 4): the product must not print them either. */
  const tokensSent = new Set<string>();

  const call = (method: string, p: string, body?: unknown): Promise<Answer> =>
    callApi(api, method, p, body === undefined ? {} : { body });
  const getExport = (id: string): Promise<PublicExport> => getExportAt(api, id);
  const getJob = async (id: string): Promise<PublicJob> =>
    (await call('GET', `/jobs/${id}`)).json as PublicJob;
  const settled = (id: string, ms?: number): Promise<PublicExport> => settledExportAt(api, id, ms);
  const startExport = async (body: unknown): Promise<string> => {
    const a = await call('POST', '/exports', body);
    expect(a.status, JSON.stringify(a.json)).toBe(201);
    return (a.json as { export_id: string }).export_id;
  };
  /** The fake's job that is page `page` of `exportId` (by the callback URL the product gave it). */
  const pageJob = (exportId: string, page: number, ms = 30_000) =>
    waitFor(
      `the job of ${exportId} page ${page}`,
      async () => {
        const j = (await fake.jobs()).find((x) =>
          x.callbackUrl?.includes(`/callbacks/zoho/${exportId}.${page}.`),
        );
        return j?.callbackUrl ? { id: j.id, token: j.callbackUrl.split('/callbacks/zoho/')[1]! } : undefined;
      },
      ms,
      100,
    );
  /** Every job the product ever created at the fake for `exportId`. */
  const jobsOf = async (exportId: string): Promise<string[]> =>
    (await fake.jobs())
      .filter((j) => j.callbackUrl?.includes(`/callbacks/zoho/${exportId}.`))
      .map((j) => j.id);
  const s3 = () => localS3Client(s3Url);
  const allKeys = async (prefix = ''): Promise<string[]> => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3().send(
        new ListObjectsV2Command({
          Bucket: BUCKET,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? []) keys.push(o.Key!);
      token = page.NextContinuationToken;
    } while (token);
    return keys;
  };
  const getBytes = async (key: string): Promise<Buffer> => {
    const o = await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await o.Body!.transformToByteArray());
  };
  const manifestOf = async (e: PublicExport): Promise<Manifest> => {
    expect(e.manifest?.bucket).toBe(BUCKET);
    return JSON.parse((await getBytes(e.manifest!.key)).toString('utf8')) as Manifest;
  };
  const eventsOf = async (exportId: string): Promise<string[]> =>
    ((await call('GET', '/events')).json as { events: unknown[] }).events
      .map((e) => JSON.stringify(e))
      .filter((e) => e.includes(exportId));
  /** Leads in pages of `perPage` records (the fake's page size), `records` in all. */
  const leads = async (records: number, perPage: number, padding = 0): Promise<void> => {
    await fake.setModuleRecords('Leads', records);
    await fake.setOptions({ perPage, padding, timeline: FAST });
  };
  /** Collects what row 15 searches for, while the fake still holds it. */
  const collectSecrets = async (): Promise<void> => {
    for (const t of issuedAccessTokens(dataDir)) accessTokens.add(t);
    for (const j of await fake.jobs()) if (j.callbackUrl) callbackUrls.add(j.callbackUrl);
    for (const c of await fake.callbacks()) callbackUrls.add(c.url);
  };

  const connect = (s: NpmStart): void => {
    stack = s;
    api = `http://127.0.0.1:${s.ports.api}`;
    s3Url = `http://127.0.0.1:${s.ports.s3}`;
    fake = new FakeZohoAdminClient(`http://127.0.0.1:${s.ports.zoho}`);
  };

  beforeAll(async () => {
    connect(await startNpmStart(root, dataDir));
    await fake.setOptions({ timeline: FAST });
  }, 240_000);

  afterEach(async () => {
    if (stack?.child.exitCode === null) await fake.clearFaults();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /**
   * The nonce of `exportId`'s open intent for `page`: where the product keeps it (DynamoDB Local; the
   * one reading of the product's own storage here, see row 4).
   */
  const intentNonce = (exportId: string, page: number): Promise<string> =>
    waitFor(
      `page ${page} of ${exportId} to be an open intent`,
      async () => {
        const ddb = documentClient(localDynamoDbClient(`http://127.0.0.1:${stack.ports.dynamodb}`));
        const got = await ddb.send(
          new GetCommand({ TableName: 'zoho-crm-bulk-export-exports', Key: { export_id: exportId } }),
        );
        const e = z
          .object({
            intent_page: z.number().optional(),
            intent_nonce: z.string().optional(),
            page_jobs: z.array(z.string()),
          })
          .parse(got.Item);
        return e.intent_page === page && e.page_jobs.length === page - 1 ? e.intent_nonce : undefined;
      },
      30_000,
    );

  /**
   * Row 4. The page-2 token exists only in the create request Zoho got: with `delay` the fake has not
   * made the job yet, and once the callback function's create gives up (after its ~8 s Zoho budget)
   * the fake drops it, while the product waits for the job's callback (the adoption window, 1 h); when
   * the poller makes it instead, the job is recorded after the delay, with no window to see its token. So
   * the token is made as the review's setup says (HMAC with the data directory's callback key), with
   * the open intent's nonce read from the product's table: a valid token of exactly that attempt.
   */
  it('4: a valid page-2 token naming a job of another module while the page is being created is 404; nothing of it lands', async () => {
    await leads(30, 10);
    const id = await startExport({ module: 'Leads' });
    // Page 1 is made; page 2's create (once page 1 completes) takes 20 s at Zoho.
    await fake.inject({ kind: 'create', times: 1, action: { type: 'delay', ms: 20_000 } });
    const delayedAt = Date.now();
    const seeded = await fake.addJob({ module: 'Contacts', totalRecords: 5, timeline: FAST });
    const nonce = await intentNonce(id, 2);
    const key = keyFromSecret(readFileSync(path.join(dataDir, 'callback-key'), 'utf8'));
    const token = callbackToken(key, id, 2, { nonce, expiresAt: Date.now() + 3_600_000 });
    tokensSent.add(token);
    const statusBefore = (await fake.requests()).filter((r) => r.kind === 'status' && r.jobId === seeded.id);
    expect(statusBefore).toEqual([]);
    const forged = await call('POST', `/callbacks/zoho/${token}`, { data: [{ id: seeded.id }] });
    expect([forged.status, (forged.json as { error?: { code?: string } }).error?.code]).toEqual([
      404,
      'CALLBACK_NOT_FOUND',
    ]);
    // The token was right: the product asked Zoho about the job (and refused it for its module).
    expect((await fake.requests()).filter((r) => r.kind === 'status' && r.jobId === seeded.id).length).toBe(
      1,
    );
    expect(await intentNonce(id, 2)).toBe(nonce);

    // Past the create's delay: page 2 is still not the Contacts job, and nothing of it landed.
    await sleep(Math.max(0, delayedAt + 25_000 - Date.now()));
    // Which function made page 2 decides what follows: the poller (30 s Zoho budget) waited the delay
    // out and recorded Zoho's job; the callback function (~8 s) gave up and waits for the job's callback.
    let e = await getExport(id);
    expect(e.pages.map((p) => p.job_id)).not.toContain(seeded.id);
    if (e.pages.length > 1) {
      e = await settled(id);
      expect(e.status).toBe('COMPLETED');
      const own = await pageJob(id, 2);
      expect(e.pages.map((p) => p.job_id)).toEqual([e.pages[0]!.job_id, own.id, e.pages[2]!.job_id]);
      expect((await fake.jobInfo(own.id)).module).toBe('Leads');
    } else expect(e.pages.map((p) => [p.page, p.status])).toEqual([[1, 'EXPORTED']]);
    const keys = await allKeys();
    expect(keys.filter((k) => k.includes(seeded.id))).toEqual([]);
    expect(keys.filter((k) => k.includes('module=Contacts') && k.includes(id))).toEqual([]);
    expect((await fake.requests()).filter((r) => r.kind === 'download' && r.jobId === seeded.id)).toEqual([]);
  }, 120_000);

  it('11: a download answered with a redirect to another host is not followed: nothing reaches it, nothing lands', async () => {
    const hits: string[] = [];
    const listener: Server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(200).end('zip');
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (listener.address() as { port: number }).port;
      await fake.setOptions({ timeline: { ...FAST, completedAfterMs: 600_000 } });
      const id = await startExport({ module: 'Contacts' });
      const { id: jobId } = await pageJob(id, 1);
      await fake.setOptions({ timeline: FAST });
      await fake.inject({
        kind: 'download',
        jobId,
        times: Number.POSITIVE_INFINITY,
        action: { type: 'http', status: 302, headers: { Location: `http://127.0.0.1:${port}/result.zip` } },
      });
      await fake.completeNow(jobId);
      const job = await waitFor(
        'the job to fail',
        async () => {
          const j = await getJob(jobId);
          return j.status === 'FAILED' || j.status === 'EXPORTED' ? j : undefined;
        },
        90_000,
      );
      expect(job.status).toBe('FAILED');
      const redirected = (await fake.requests()).filter((r) => r.kind === 'download' && r.jobId === jobId);
      expect(redirected.length).toBeGreaterThan(0);
      expect(redirected.every((r) => r.status === 302)).toBe(true);
      expect(hits).toEqual([]);
      expect((await allKeys()).filter((k) => k.includes(jobId))).toEqual([]);
    } finally {
      await new Promise((r) => listener.close(r));
    }
  }, 120_000);

  it('14: page 2 whose result expired before its download: the export completes through recovery, exact and without leftovers', async () => {
    // Slow enough to expire page 2's result before it completes.
    await leads(30, 10);
    await fake.setOptions({ timeline: { ...FAST, completedAfterMs: 3_000 } });
    const id = await startExport({ module: 'Leads' });
    const page2 = await pageJob(id, 2, 60_000);
    await fake.expireResult(page2.id);
    expect(
      (await fake.requests()).filter(
        (r) => r.kind === 'download' && r.jobId === page2.id && r.status === 200,
      ),
    ).toEqual([]);
    await fake.setOptions({ timeline: FAST });

    const done = await settled(id, 120_000);
    expect(done.status, JSON.stringify(done.error)).toBe('COMPLETED');
    const manifest = await manifestOf(done);
    expect(manifest.pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(manifest.totals.records).toBe(30);
    const kept = new Set(manifest.pages.map((p) => p.job_id));
    const dropped = (await jobsOf(id)).filter((j) => !kept.has(j));
    expect(dropped).toContain(page2.id);
    expect(kept.has(page2.id)).toBe(false);
    const keys = await allKeys();
    expect(keys.filter((k) => dropped.some((j) => k.includes(j)))).toEqual([]);
    // Every file of the export is one the manifest lists.
    const listed = new Set([
      done.manifest!.key,
      ...manifest.pages.flatMap((p) => [p.csv.key, ...(p.parquet ? [p.parquet.key] : [])]),
    ]);
    expect(keys.filter((k) => k.includes(id) && !listed.has(k))).toEqual([]);

    // The Parquet files of the module, read back: rows per _export_id are each export's manifest total.
    const dir = mkdtempSync(path.join(tmpdir(), 'bb14-'));
    try {
      const files: string[] = [];
      for (const k of await allKeys('zoho-crm/parquet/module=Leads/')) {
        const f = path.join(dir, `${files.length}.parquet`);
        writeFileSync(f, await getBytes(k));
        files.push(f);
      }
      expect(files.length).toBeGreaterThanOrEqual(3);
      const db = await DuckDBInstance.create(':memory:');
      const con = await db.connect();
      let rows: Array<{ export_id: string; n: number }>;
      try {
        const r = await con.runAndReadAll(
          `SELECT _export_id AS export_id, count(*)::INTEGER AS n FROM read_parquet([${files
            .map((f) => `'${f}'`)
            .join(',')}], union_by_name = true) GROUP BY 1 ORDER BY 1`,
        );
        rows = r.getRowObjectsJson() as Array<{ export_id: string; n: number }>;
      } finally {
        con.closeSync();
      }
      expect(rows.map((r) => r.export_id)).toContain(id);
      for (const r of rows) {
        const e = await getExport(r.export_id);
        // (Row 4's export waits for page 2: it has no manifest to compare with.)
        if (e.status !== 'COMPLETED') continue;
        expect([r.export_id, r.n]).toEqual([r.export_id, (await manifestOf(e)).totals.records]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  /** The S3 stand-in's unfinished multipart uploads (on disk: `<bucket>/._S3rver_uploads/<id>/`) with a part stored. */
  const uploadsInFlight = (exportId: string): string[] => {
    const dir = path.join(dataDir, 's3', BUCKET, '._S3rver_uploads');
    if (!existsSync(dir)) return [];
    const out: string[] = [];
    for (const u of readdirSync(dir)) {
      try {
        const key = readFileSync(path.join(dir, u, 'key'), 'utf8');
        if (key.includes(exportId) && existsSync(path.join(dir, u, '1.md5'))) out.push(key);
      } catch {
        // completed (and removed) meanwhile
      }
    }
    return out;
  };

  it('13: SIGKILL during a multipart upload, then a restart: the download resumes, each page once, nothing else, one event', async () => {
    // Two pages of ~16 MiB each: four 5 MiB parts per page.
    await leads(6_000, 3_000, 5_000);
    const id = await startExport({ module: 'Leads' });
    const inFlight = await waitFor(
      'a multipart upload of the export in flight',
      () => {
        const u = uploadsInFlight(id);
        return u.length ? u : undefined;
      },
      90_000,
      20,
    );
    await collectSecrets();
    stack.child.kill('SIGKILL');
    await stack.exited;
    earlierOutput.push(stack.output());
    const ports = stack.ports;
    await waitFor(
      'the ports to be free',
      async () => {
        for (const p of Object.values(ports))
          if (
            !(await assertPortFree(p, 'test', 'test').then(
              () => true,
              () => false,
            ))
          )
            return undefined;
        return true;
      },
      20_000,
    );
    connect(await startNpmStart(root, dataDir, { ports, build: false }));
    await fake.setOptions({ timeline: FAST });

    const done = await settled(id, 150_000);
    expect(done.status, JSON.stringify(done.error)).toBe('COMPLETED');
    const manifest = await manifestOf(done);
    expect(manifest.pages.map((p) => p.page)).toEqual([1, 2]);
    expect(new Set(manifest.pages.map((p) => p.job_id)).size).toBe(2);
    expect(manifest.totals.records).toBe(6_000);
    // The upload cut short was of a page that landed after the restart (a download made again).
    const interrupted = manifest.pages.find((p) => inFlight.includes(p.csv.key));
    expect(interrupted, `${inFlight} among ${manifest.pages.map((p) => p.csv.key)}`).toBeDefined();
    // The restarted stack dispatched the cut-off download again at once (not after its lease).
    expect(stack.output()).toMatch(
      new RegExp(`resuming a download the last run left unfinished[^\\n]*${interrupted!.job_id}`),
    );
    const listed = new Set([
      done.manifest!.key,
      ...manifest.pages.flatMap((p) => [p.csv.key, ...(p.parquet ? [p.parquet.key] : [])]),
    ]);
    expect((await allKeys()).filter((k) => k.includes(id) && !listed.has(k))).toEqual([]);
    const events = await eventsOf(id);
    expect(events).toHaveLength(1);
    expect(events[0]).toContain('Export Completed');
    await leads(30, 10);
  }, 300_000);

  it('15a: a status 429 with an absurd Retry-After: the next check is within 10 poll intervals, so the job still expires at its maximum age', async () => {
    await fake.setOptions({ timeline: { ...FAST, completedAfterMs: 600_000 } });
    const id = await startExport({ module: 'Contacts' });
    const { id: jobId } = await pageJob(id, 1);
    await fake.setOptions({ timeline: FAST });
    await fake.inject({
      kind: 'status',
      jobId,
      times: Number.POSITIVE_INFINITY,
      action: { type: 'http', status: 429, headers: { 'Retry-After': '99999999' }, body: {} },
    });
    const throttled = async () =>
      (await fake.requests()).filter((r) => r.kind === 'status' && r.jobId === jobId && r.status === 429);
    await waitFor(
      'a throttled status check',
      async () => ((await throttled()).length ? true : undefined),
      30_000,
    );
    const first = (await throttled()).length;
    for (let i = 0; i < 3; i++) {
      const asked = Date.now();
      const job = await getJob(jobId);
      expect(job.status).toBe('PENDING');
      const next = Date.parse(job.next_check_at!);
      expect(next).toBeLessThanOrEqual(asked + 10 * POLL_INTERVAL_MS);
      expect(next).toBeLessThanOrEqual(Date.parse(job.created_at) + MAX_JOB_AGE_MS);
      await sleep(1_000);
    }
    // And it is checked again (each check first asks whether the job is past its maximum age).
    await waitFor(
      'another throttled status check',
      async () => ((await throttled()).length > first ? true : undefined),
      10 * POLL_INTERVAL_MS + 15_000,
    );
    expect((await getJob(jobId)).status).toBe('PENDING');
  }, 90_000);

  it('15b: with the refresh token revoked, POST /exports is 503 with retry-after and writes nothing', async () => {
    await collectSecrets();
    const exportsBefore = ((await call('GET', '/exports?limit=100')).json as { exports: PublicExport[] })
      .exports;
    const jobsBefore = ((await call('GET', '/jobs?limit=100')).json as { jobs: PublicJob[] }).jobs;
    const keysBefore = await allKeys();
    const creates = (await fake.stats()).creates;
    // The refresh token first, then the live access tokens: no token can be minted or used after.
    await fake.revokeRefreshToken(DEFAULT_CLIENT.refreshToken);
    await fake.revokeTokens();

    const a = await call('POST', '/exports', { module: 'Contacts' });
    expect(a.status, JSON.stringify(a.json)).toBe(503);
    expect(a.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    await sleep(2_000);
    const exportsAfter = ((await call('GET', '/exports?limit=100')).json as { exports: PublicExport[] })
      .exports;
    const jobsAfter = ((await call('GET', '/jobs?limit=100')).json as { jobs: PublicJob[] }).jobs;
    expect(exportsAfter.map((e) => e.export_id).sort()).toEqual(exportsBefore.map((e) => e.export_id).sort());
    expect(jobsAfter.map((j) => j.job_id).sort()).toEqual(jobsBefore.map((j) => j.job_id).sort());
    expect(await allKeys()).toEqual(keysBefore);
    expect((await fake.stats()).creates).toBe(creates);
  }, 60_000);

  it('15c: npm start printed no refresh token, client secret, access token or callback token in the whole run', async () => {
    await collectSecrets();
    expect(await stack.stop()).toBe(0);
    const runs = [...earlierOutput, stack.output()];
    expect(runs).toHaveLength(2);
    expect(accessTokens.size).toBeGreaterThan(0);
    const tokens = [...callbackTokensIn(callbackUrls), ...tokensSent];
    // Page tokens of every export above (rows 4, 11, 13, 14, 15a).
    expect(tokens.length).toBeGreaterThanOrEqual(10);
    const hits = secretHits(
      runs.map((text, i) => ({ where: `npm start run ${i + 1} stdout/stderr`, text })),
      secretsOf(accessTokens, tokens),
    );
    expect(hits).toEqual([]);
  }, 60_000);
});
