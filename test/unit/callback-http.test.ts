/** The callback route's HTTP layer, in-process: a malformed token path is the caller's mistake (404), not a 5xx. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { CallbackHealth, REJECTIONS_PER_MINUTE } from '../../lib/callbacks/health.js';
import { createCallbackHandler } from '../../lib/callbacks/http.js';
import { memoryExportDeps } from '../support/memory.js';

function handler() {
  const exports = memoryExportDeps();
  const health = new CallbackHealth(exports.tables.state);
  const verified: string[] = [];
  const handle = createCallbackHandler({
    exports,
    poll: {
      ...exports,
      config: { POLL_CONCURRENCY: 1, ZOHO_API_VERSION: 'v8', MAX_DOWNLOAD_ATTEMPTS: 3 },
      dispatch: async () => {},
      callbackHealth: health,
    },
    verify: async (token) => {
      verified.push(token);
      return { ok: false, reason: 'bad mac' };
    },
  });
  const post = async (path: string) => {
    const r = await handle({
      version: '2.0',
      rawPath: path,
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path, sourceIp: '127.0.0.1' } },
      body: '{"data":[{"id":"1"}]}',
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2);
    return { status: r.statusCode, body: JSON.parse(r.body ?? 'null'), verified };
  };
  return { post, metrics: exports.metrics, health };
}

describe('POST /callbacks/zoho/{token}', () => {
  it.each(['%E0%A4%A', '%', '%zz', 'abc%E0'])(
    'a token %s that is not valid percent-encoding is a 404',
    async (t) => {
      const { post } = handler();
      const r = await post(`/callbacks/zoho/${t}`);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('CALLBACK_NOT_FOUND');
      expect(r.verified).toEqual([]);
    },
  );

  it('a well-encoded token that does not verify is a 404 too', async () => {
    const { post } = handler();
    const r = await post('/callbacks/zoho/a%2Db');
    expect(r.status).toBe(404);
    expect(r.verified).toEqual(['a-b']);
  });

  it('refusals of either kind count towards degraded callbacks', async () => {
    const { post, health } = handler();
    for (let i = 0; i <= REJECTIONS_PER_MINUTE / 2; i++) {
      await post('/callbacks/zoho/%E0%A4%A');
      await post('/callbacks/zoho/a%2Db');
    }
    expect(await health.degraded()).toBeDefined();
  });
});
