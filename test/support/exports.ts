/**
 * Helpers for the export tests: the HTTP API called in-process against a harness (DynamoDB Local and
 * s3rver, or the memory backend; the fake Zoho), table snapshots that prove a refused request wrote nothing, and a reader for
 * the manifest an export leaves in S3.
 */
import { crc32 } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { expect } from 'vitest';
import { createApiHandler } from '../../lib/api/handler.js';
import type { Table } from '../../lib/ddb/table.js';
import type { CreateJobOptions, CreateJobQuery, ZohoClient } from '../../lib/zoho/client.js';
import type { Harness as HarnessOn, HarnessStorage } from './pipeline.js';

/** A harness on either backend (DynamoDB Local and s3rver, or memory). */
type Harness = HarnessOn<HarnessStorage>;

export interface ApiAnswer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field by the tests
  body: any;
  raw: string;
}

export interface ApiCallOptions {
  body?: string | undefined;
  headers?: Record<string, string>;
  /** Without a content-type header (the default is application/json). */
  noContentType?: boolean;
  isBase64Encoded?: boolean;
}

/** The API of a harness, as API Gateway (payload 2.0) would call it. */
export function apiOf(
  h: Harness,
): (method: string, target: string, opts?: ApiCallOptions) => Promise<ApiAnswer> {
  const handle = createApiHandler(h.api);
  return async (method, target, opts = {}) => {
    const url = new URL(target, 'http://x');
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    const headers: Record<string, string> = {
      ...(opts.noContentType ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    };
    const r = await handle({
      version: '2.0',
      routeKey: `${method} ${path}`,
      rawPath: path,
      rawQueryString: url.search.slice(1),
      ...(url.search ? { queryStringParameters: query } : {}),
      headers,
      requestContext: { http: { method, path } },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      isBase64Encoded: opts.isBase64Encoded ?? false,
    } as unknown as APIGatewayProxyEventV2);
    const raw = r.body ?? '';
    let body: unknown = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    return {
      status: r.statusCode ?? 0,
      headers: Object.fromEntries(
        Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
      ),
      body,
      raw,
    };
  };
}

/** Every item of a table (a paginated scan), sorted by its JSON so two snapshots compare. */
export async function scanAll(table: Table): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await table.scan({ limit: 100, startKey });
    out.push(...page.items);
    startKey = page.lastKey;
  } while (startKey);
  return out.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

/** The exports and jobs tables, and the idempotency keys of the state table. */
export async function snapshot(h: Harness): Promise<{
  exports: Record<string, unknown>[];
  jobs: Record<string, unknown>[];
  idempotency: Record<string, unknown>[];
}> {
  const state = await scanAll(h.aws.tables.state);
  return {
    exports: await scanAll(h.aws.tables.exports),
    jobs: await scanAll(h.aws.tables.jobs),
    idempotency: state.filter((i) => String(i.pk).startsWith('idem#')),
  };
}

/** Bulk-read create requests the fake Zoho received. */
export const creates = (h: Harness) => h.fake.requests.filter((r) => r.kind === 'create');

/** The CSV bytes of a Zoho job, as the fake put them in the ZIP. */
export async function fakeCsv(h: Harness, jobId: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of h.fake.csv(jobId)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** CRC-32 of `b` as 8 lowercase hex digits. */
export const crc32Hex = (b: Buffer): string => crc32(b).toString(16).padStart(8, '0');

/** The field names of a CSV's header row (RFC 4180: quoted names are unquoted). */
export function csvHeader(b: Buffer): string[] {
  const text = b.toString('utf8');
  const out: string[] = [];
  let i = 0;
  let cur = '';
  let quoted = false;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else if (ch === '\n' || ch === '\r') break;
    else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Ticks in small steps until `done()` holds (or throws after `maxTicks`). */
export async function tickUntil(
  h: Harness,
  done: () => Promise<boolean>,
  opts: { maxTicks?: number; stepMs?: number } = {},
): Promise<number> {
  const max = opts.maxTicks ?? 300;
  for (let i = 0; i < max; i++) {
    if (await done()) return i;
    await h.tick(opts.stepMs);
  }
  if (await done()) return max;
  throw new Error(`condition not reached after ${max} ticks`);
}

/** One `createJob` call the exports made (what the product asked Zoho for), and its outcome. */
export interface CreateCall {
  query: CreateJobQuery;
  opts: CreateJobOptions | undefined;
  at: number;
  id?: string;
  error?: unknown;
}

/**
 * Wraps the export path's Zoho client (`h.exportDeps.zoho`) so every `createJob` call is recorded;
 * `around` may replace the call (e.g. to simulate a crash after Zoho answered).
 */
export function spyCreates(
  h: Harness,
  around?: (
    call: CreateCall,
    real: () => Promise<{ id: string; state: string }>,
  ) => Promise<{ id: string; state: string }>,
): CreateCall[] {
  const calls: CreateCall[] = [];
  const zoho = h.exportDeps.zoho;
  const wrapped: ZohoClient = Object.assign(Object.create(zoho) as ZohoClient, {
    async createJob(query: CreateJobQuery, opts?: CreateJobOptions) {
      const call: CreateCall = { query, opts, at: h.clock.now() };
      calls.push(call);
      const real = async () => {
        const r = await zoho.createJob(query, opts);
        call.id = r.id;
        return r;
      };
      try {
        return await (around ? around(call, real) : real());
      } catch (e) {
        call.error = e;
        throw e;
      }
    },
  });
  h.exportDeps.zoho = wrapped;
  return calls;
}

// ------------------------------------------------------------------ a finished export

const EXPORT_KEYS = [
  'bytes',
  'completed_at',
  'created_at',
  'error',
  'export_id',
  'formats',
  'manifest',
  'mode',
  'module',
  'pages',
  'query',
  'records',
  'since',
  'source',
  'status',
  'updated_at',
];

export async function exportOf(hh: Harness, id: string) {
  return (await apiOf(hh)('GET', `/exports/${id}`)).body;
}

/** Ticks (60 s each) until the export is no longer RUNNING. */
export async function finish(hh: Harness, id: string, stepMs?: number) {
  await tickUntil(
    hh,
    async () => (await hh.exports.get(id))?.status !== 'RUNNING',
    stepMs ? { stepMs, maxTicks: 400 } : {},
  );
  return exportOf(hh, id);
}

/**
 * Everything a COMPLETED export (of `POST /exports`) promises: every page's object byte-identical to Zoho's CSV under the
 * export's partition, the manifest exact, the export JSON, one event.
 */
export async function expectCompleted(
  hh: Harness,
  id: string,
  want: { pages: number; records: number; version: string },
) {
  const e = await exportOf(hh, id);
  const rec = (await hh.exports.get(id))!;
  const prefix = hh.config.S3_PREFIX;
  expect(Object.keys(e).sort()).toEqual(EXPORT_KEYS);
  expect(e.status).toBe('COMPLETED');
  expect(e.error).toBeNull();
  expect(e.pages).toHaveLength(want.pages);
  expect(e.pages.map((p: { page: number }) => p.page)).toEqual(
    Array.from({ length: want.pages }, (_, i) => i + 1),
  );
  expect(e.pages.map((p: { job_id: string }) => p.job_id)).toEqual(rec.page_jobs);
  const manifestKey = `${prefix}/_manifests/${id}.json`;
  expect(e.manifest).toEqual({ bucket: hh.aws.bucket, key: manifestKey });
  expect(e.completed_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(Date.parse(e.completed_at)).toBeGreaterThanOrEqual(Date.parse(e.created_at));

  const manifestPages = [];
  let bytes = 0;
  for (const p of e.pages) {
    const job = (await hh.jobs.get(p.job_id))!;
    expect(p.status).toBe('EXPORTED');
    const key = `${prefix}/module=${e.module}/export_date=${rec.export_date}/${id}-${String(p.page).padStart(5, '0')}-${p.job_id}.csv`;
    expect(p.s3).toEqual({ bucket: hh.aws.bucket, key, bytes: job.s3!.bytes });
    const stored = await hh.objectBytes(key);
    const csv = await fakeCsv(hh, p.job_id);
    expect(stored.equals(csv), `page ${p.page} differs from Zoho's CSV`).toBe(true);
    expect(p.s3.bytes).toBe(csv.length);
    expect(p.records).toBe(hh.fake.recordCount(p.job_id));
    expect(hh.fake.jobInfo(p.job_id).page).toBe(p.page);
    expect(hh.fake.jobInfo(p.job_id).version).toBe(want.version);
    bytes += csv.length;
    // The page's Parquet: beside the CSV under parquet/, one row per record, its size as stored.
    const parquetKey = `${prefix}/parquet/module=${e.module}/export_date=${rec.export_date}/${id}-${String(p.page).padStart(5, '0')}-${p.job_id}.parquet`;
    const parquet = await hh.objectBytes(parquetKey);
    expect(parquet.subarray(0, 4).toString()).toBe('PAR1');
    expect(job.parquet).toMatchObject({
      bucket: hh.aws.bucket,
      key: parquetKey,
      bytes: parquet.length,
      rows: p.records,
    });
    expect(p.parquet).toEqual({
      status: 'DONE',
      bucket: hh.aws.bucket,
      key: parquetKey,
      bytes: parquet.length,
      rows: p.records,
      row_groups: job.parquet!.row_groups,
    });
    manifestPages.push({
      page: p.page,
      job_id: p.job_id,
      records: p.records,
      csv: { bucket: hh.aws.bucket, key, bytes: csv.length, crc32: crc32Hex(csv) },
      header: csvHeader(csv),
      parquet: job.parquet,
    });
  }
  expect(e.records).toBe(want.records);
  expect(e.bytes).toBe(bytes);

  // The manifest: one line of JSON, every field exact.
  const raw = (await hh.objectBytes(manifestKey)).toString('utf8');
  expect(raw.endsWith('\n')).toBe(true);
  expect(raw.indexOf('\n')).toBe(raw.length - 1);
  const m = JSON.parse(raw);
  expect(m).toStrictEqual({
    manifest_version: 1,
    export_id: id,
    module: e.module,
    source: e.source,
    query: e.query,
    zoho_api_version: want.version,
    mode: 'full',
    formats: ['csv', 'parquet'],
    created_at: e.created_at,
    completed_at: e.completed_at,
    export_date: rec.export_date,
    pages: manifestPages,
    totals: { pages: want.pages, records: want.records, bytes },
    catalog: {
      database: hh.config.GLUE_DATABASE,
      table: `zoho_${String(e.module).toLowerCase()}`,
      created: expect.any(Boolean),
      added: expect.any(Array),
      type_changes: [],
    },
  });
  expect(Object.keys(m)).toEqual([
    'manifest_version',
    'export_id',
    'module',
    'source',
    'query',
    'zoho_api_version',
    'mode',
    'formats',
    'created_at',
    'completed_at',
    'export_date',
    'pages',
    'totals',
    'catalog',
  ]);

  // The event: once, the export without its pages (a count instead), with the manifest location.
  const mine = hh.events.published.filter((ev) => ev.detail.export_id === id);
  expect(mine).toHaveLength(1);
  const { pages, ...summary } = e;
  expect(mine[0]).toEqual({
    source: 'zoho-crm-bulk-export',
    detailType: 'Export Completed',
    detail: { ...summary, pages: pages.length },
  });
  return { e, m };
}

/** Ticks (poll, downloads, sweep) until the snapshot has ended (its manifest written); its JSON. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
export async function untilSnapshotEnded(x: Harness, id: string, maxTicks = 60): Promise<any> {
  const api = apiOf(x);
  for (let i = 0; i < maxTicks; i++) {
    await x.tick();
    const r = await api('GET', `/snapshots/${id}`);
    expect(r.status, r.raw).toBe(200);
    if (r.body.status !== 'RUNNING' && r.body.manifest) return r.body;
  }
  throw new Error(`snapshot ${id} still running after ${maxTicks} ticks`);
}

/** Each module's export of a snapshot JSON, as `GET /exports/{id}` shows it. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
export async function snapshotExports(x: Harness, snapshot: any): Promise<Record<string, any>> {
  const api = apiOf(x);
  const out: Record<string, unknown> = {};
  for (const m of snapshot.modules as { module: string; export_id: string }[]) {
    const r = await api('GET', `/exports/${m.export_id}`);
    expect(r.status, r.raw).toBe(200);
    out[m.module] = r.body;
  }
  return out;
}
