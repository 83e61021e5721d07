/**
 * Helpers for the export tests: the HTTP API called in-process against a harness (real DynamoDB Local,
 * s3rver, the fake Zoho), table snapshots that prove a refused request wrote nothing, and a reader for
 * the manifest an export leaves in S3.
 */
import { crc32 } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createApiHandler } from '../../lib/api/handler.js';
import type { Table } from '../../lib/ddb/table.js';
import type { Harness } from './pipeline.js';

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
