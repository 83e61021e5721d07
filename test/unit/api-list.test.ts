/**
 * `GET /exports` reads a bounded number of page jobs per answer: a list of long exports stops after
 * the last export that fits, and its `next` resumes after it (before, up to 100 exports read all
 * their pages at once).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MAX_LIST_PAGE_READS } from '../../lib/api/exports.js';
import { createApiHandler } from '../../lib/api/handler.js';
import { newExportId } from '../../lib/exports/model.js';
import { memoryExportDeps } from '../support/memory.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');

function api() {
  const deps = memoryExportDeps();
  let reads = 0;
  let inFlight = 0;
  let most = 0;
  const get = deps.jobs.get.bind(deps.jobs);
  deps.jobs.get = async (id: string) => {
    reads++;
    most = Math.max(most, ++inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      return await get(id);
    } finally {
      inFlight--;
    }
  };
  const handle = createApiHandler(deps);
  const list = async (query: Record<string, string>) => {
    const r = await handle({
      version: '2.0',
      rawPath: '/exports',
      ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
      headers: {},
      requestContext: { http: { method: 'GET', path: '/exports' } },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2);
    expect(r.statusCode).toBe(200);
    return JSON.parse(r.body ?? 'null') as { exports: Array<{ export_id: string }>; next: string | null };
  };
  /** An export of `pages` pages (their jobs are not needed: a missing one is a read all the same). */
  const add = async (i: number, pages: number, module = 'Contacts'): Promise<string> => {
    const e = deps.exports.newExport({
      export_id: newExportId(T0 + i),
      module,
      source: 'api',
      query: { fields: null, criteria: null, cvid: null },
      api_version: 'v8',
      formats: ['csv'],
    });
    const ids = Array.from({ length: pages }, (_, p) =>
      String(7000000000000000000n + BigInt(i * 10_000 + p)),
    );
    await deps.tables.exports.put({ ...e, page_jobs: ids, pages_created: pages });
    return e.export_id;
  };
  return {
    list,
    add,
    stats: () => ({ reads, most }),
    reset: () => {
      reads = 0;
      most = 0;
    },
  };
}

describe('GET /exports', () => {
  it('stops after the exports whose pages fit the bound, and goes on from there with next', async () => {
    const h = api();
    const big = Math.ceil(MAX_LIST_PAGE_READS / 2.5);
    // Newest first: d, c, b, a.
    const [a, b, c, d] = [await h.add(1, big), await h.add(2, big), await h.add(3, big), await h.add(4, big)];
    const first = await h.list({});
    expect(first.exports.map((e) => e.export_id)).toEqual([d, c]);
    expect(h.stats().reads).toBe(2 * big);
    expect(h.stats().most).toBeLessThanOrEqual(40);
    expect(first.next).toEqual(expect.any(String));
    h.reset();
    const second = await h.list({ next: first.next ?? '' });
    expect(second.exports.map((e) => e.export_id)).toEqual([b, a]);
    expect(second.next).toBeNull();
    expect(h.stats().reads).toBe(2 * big);
  });

  it('always lists at least one export, and the cursor works for a module listing', async () => {
    const h = api();
    const [huge, small] = [await h.add(1, MAX_LIST_PAGE_READS + 5, 'Deals'), await h.add(2, 1, 'Deals')];
    await h.add(3, 1, 'Contacts');
    const first = await h.list({ module: 'Deals', limit: '10' });
    expect(first.exports.map((e) => e.export_id)).toEqual([small]);
    // Alone, an export over the bound is listed all the same (as GET /exports/{id} would read it).
    const then = await h.list({ module: 'Deals', limit: '10', next: first.next ?? '' });
    expect(then.exports.map((e) => e.export_id)).toEqual([huge]);
    expect(then.next).toBeNull();
    const h2 = api();
    const [x, y] = [await h2.add(1, 3, 'Deals'), await h2.add(2, MAX_LIST_PAGE_READS + 5, 'Deals')];
    const one = await h2.list({ module: 'Deals' });
    expect(one.exports.map((e) => e.export_id)).toEqual([y]);
    const rest = await h2.list({ module: 'Deals', next: one.next ?? '' });
    expect(rest.exports.map((e) => e.export_id)).toEqual([x]);
    expect(rest.next).toBeNull();
  });
});
