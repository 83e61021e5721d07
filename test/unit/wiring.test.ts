/**
 * The wiring's decisions without AWS: each function's waits end before its Lambda timeout, the
 * idempotency wait is the function's, the API's signal reaches the Zoho create, a Lambda creates only
 * the clients its spec uses, and the SQS consumers' record parse.
 */
import type { APIGatewayProxyEventV2, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApiHandler } from '../../lib/api/handler.js';
import { FUNCTION_NAMES, functionTimeoutMs } from '../../lib/config.js';
import { requestHash } from '../../lib/exports/idempotency.js';
import { startExport } from '../../lib/exports/start.js';
import { clientsFor } from '../../lib/runtime.js';
import { sqsJsonRecordHandler } from '../../lib/sqs-record.js';
import { budgetFor, sharedTiming } from '../../lib/wiring.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { memoryExportDeps } from '../support/memory.js';

describe('budgetFor: every wait ends before the function times out', () => {
  it.each(FUNCTION_NAMES)('%s', (fn) => {
    const b = budgetFor(fn);
    expect(b.timeoutMs).toBe(functionTimeoutMs(fn));
    for (const v of Object.values(b)) expect(v).toBeGreaterThan(0);
    // A caller that takes the refresh lease mints within its own token wait (mint = lease - 5 s).
    expect(b.tokenLeaseMs - 5_000).toBeLessThanOrEqual(b.tokenWaitMs);
    // The longest path: wait for a concurrent start, get a token, create the Zoho job, then write.
    expect(b.idempotencyWaitMs + b.tokenWaitMs + b.zohoRequestMs + b.marginMs).toBeLessThanOrEqual(
      b.timeoutMs,
    );
  });

  it('gives the API (29 s) 8 s of idempotency wait, 6 s of token wait and 10 s per Zoho request', () => {
    expect(budgetFor('api')).toEqual({
      timeoutMs: 29_000,
      marginMs: 5_000,
      idempotencyWaitMs: 8_000,
      tokenWaitMs: 6_000,
      tokenLeaseMs: 11_000,
      zohoRequestMs: 10_000,
    });
  });

  it("keeps today's figures where the timeout affords them", () => {
    expect(budgetFor('poll-jobs')).toMatchObject({
      idempotencyWaitMs: 10_000,
      tokenWaitMs: 25_000,
      tokenLeaseMs: 20_000,
      zohoRequestMs: 30_000,
    });
  });

  it("derives the download lease from the downloader's timeout", () => {
    const t = sharedTiming({ POLL_INTERVAL_SECONDS: 60, RETENTION_DAYS: 90 });
    expect(t.downloadLeaseMs).toBeGreaterThan(functionTimeoutMs('download-result'));
    expect(t.dispatchGraceMs).toBeGreaterThan(t.downloadLeaseMs);
  });
});

const query = { module: 'Contacts' };

describe('the idempotency wait is the deps', () => {
  it('answers IDEMPOTENCY_KEY_IN_PROGRESS after idempotencyWaitMs', async () => {
    const deps = memoryExportDeps({ idempotencyWaitMs: 500 });
    await deps.idempotency!.claim('k1', requestHash({ query, source: 'api' }), 'ex_other');
    const t0 = performance.now();
    await expect(startExport(deps, { query, source: 'api', idempotencyKey: 'k1' })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_IN_PROGRESS',
    });
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(450);
    expect(waited).toBeLessThan(3_000);
  });
});

describe("the API entry's signal", () => {
  // The create had left: Zoho may have made the job, so the key is settled (not freed for a second
  // create): 504 ZOHO_CREATE_UNCERTAIN now and for a retry with the key (test/exports/slow-create.test.ts).
  it('aborts the Zoho create in flight: 504 ZOHO_CREATE_UNCERTAIN, and the key answers the same', async () => {
    const deps = memoryExportDeps();
    let seen: AbortSignal | undefined;
    deps.zoho = {
      ...deps.zoho,
      createJob: (_q, opts = {}) =>
        new Promise((_, reject) => {
          seen = opts.signal;
          opts.signal?.addEventListener('abort', () =>
            reject(new ZohoError({ code: 'ABORTED', message: 'create was aborted', kind: 'retryable' })),
          );
        }),
    };
    const api = createApiHandler(deps);
    const r = await api(
      {
        version: '2.0',
        rawPath: '/exports',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k2' },
        requestContext: { http: { method: 'POST', path: '/exports' } },
        body: JSON.stringify(query),
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEventV2,
      undefined,
      AbortSignal.timeout(50),
    );
    expect(seen).toBeDefined();
    expect(r.statusCode).toBe(504);
    expect(JSON.parse(r.body ?? '{}').error.code).toBe('ZOHO_CREATE_UNCERTAIN');
    const again = await deps.idempotency!.claim('k2', requestHash({ query, source: 'api' }), 'ex_next');
    expect(again.kind).toBe('done');
  });
});

describe('clientsFor: a Lambda creates only the AWS clients its spec uses', () => {
  it('the API: DynamoDB, Secrets Manager and the converter queue; no S3, EventBridge or Glue', () => {
    const c = clientsFor('api', {});
    expect([!!c.ddb, !!c.secrets, !!c.sqs, !!c.s3, !!c.events, !!c.glue]).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('run-schedule has no queue; Glue only when GLUE_DATABASE is set', () => {
    expect(clientsFor('run-schedule', {}).sqs).toBeUndefined();
    expect(clientsFor('convert-parquet', {}).glue).toBeUndefined();
    expect(clientsFor('convert-parquet', { GLUE_DATABASE: 'zoho' }).glue).toBeDefined();
    const poll = clientsFor('poll-jobs', {});
    expect([!!poll.s3, !!poll.sqs, !!poll.events]).toEqual([true, true, true]);
  });
});

describe('sqsJsonRecordHandler', () => {
  const record = (body: string) => ({ messageId: 'm1', body }) as SQSRecord;
  it('hands a valid message to the function and refuses a malformed one', async () => {
    const got: unknown[] = [];
    const errors: string[] = [];
    const handle = sqsJsonRecordHandler(
      z.object({ job_id: z.string() }),
      'test message',
      {
        error: (m: string) => errors.push(m),
      },
      async (m) => {
        got.push(m.job_id);
      },
    );
    await handle(record('{"job_id":"1"}'));
    await expect(handle(record('not json'))).rejects.toThrow('malformed test message');
    await expect(handle(record('{"job_id":1}'))).rejects.toThrow('malformed test message');
    expect(got).toEqual(['1']);
    expect(errors).toEqual(['malformed test message', 'malformed test message']);
  });
});
