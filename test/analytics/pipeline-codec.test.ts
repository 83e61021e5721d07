/**
 * PARQUET_COMPRESSION reaches the converter: an export converted with `snappy` configured is SNAPPY in
 * its footer and in its manifest, whatever this Node's default is.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiHandler } from '../../lib/api/handler.js';
import type { Manifest } from '../../lib/exports/manifest.js';
import type { PublicExport } from '../../lib/exports/model.js';
import { footerOf } from '../support/engines.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function call(method: string, p: string, body?: unknown): Promise<PublicExport> {
  const r = await createApiHandler(h!.api)({
    version: '2.0',
    rawPath: p,
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method, path: p } },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2);
  return JSON.parse(r.body ?? 'null') as PublicExport;
}

async function object(bucket: string, key: string): Promise<Buffer> {
  const r = await h!.aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe('PARQUET_COMPRESSION in the pipeline', () => {
  it('snappy configured: the page is SNAPPY in its footer and its manifest entry', async () => {
    h = await pipelineHarness({
      config: { PARQUET_COMPRESSION: 'snappy' },
      fake: { moduleRecords: { Deals: 150 } },
    });
    let e = await call('POST', '/exports', { module: 'Deals' });
    for (let i = 0; i < 200 && e.status === 'RUNNING'; i++) {
      await h.tick(30_000);
      e = await call('GET', `/exports/${e.export_id}`);
    }
    expect(e.status).toBe('COMPLETED');
    const m = JSON.parse((await object(e.manifest!.bucket, e.manifest!.key)).toString()) as Manifest;
    const pq = m.pages[0]!.parquet!;
    expect(pq.compression).toBe('SNAPPY');
    expect([...footerOf(await object(pq.bucket, pq.key)).codecs]).toEqual(['SNAPPY']);
  }, 120_000);
});
