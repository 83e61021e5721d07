/**
 * The unit tier's S3 (test/support/checksum-s3.ts) answers what the pipeline asks of S3 as S3 does:
 * objects keep their content type and metadata, a missing key is NoSuchKey / 404, ListObjectsV2 pages
 * under a prefix, and a multipart upload by the product's client (CRC32 per part) joins its parts.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterEach, describe, expect, it } from 'vitest';
import { type MemoryStorage, memoryStorage } from '../support/pipeline.js';

let m: MemoryStorage | undefined;
afterEach(async () => {
  await m?.s3server.close();
  m = undefined;
});

describe('the in-memory S3', () => {
  it('Put, Head, Get keep the bytes, content type and metadata; Delete removes; a missing key is NoSuchKey', async () => {
    m = await memoryStorage();
    const { s3, bucket } = m;
    const Key = 'p/module=Leads/export_date=2026-12-07/a b+c.csv';
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key,
        Body: 'id,name\n1,x\n',
        ContentType: 'text/csv; charset=utf-8',
        Metadata: { 'zoho-job-id': 'j1' },
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key }));
    expect([head.ContentLength, head.ContentType, head.Metadata]).toEqual([
      12,
      'text/csv; charset=utf-8',
      { 'zoho-job-id': 'j1' },
    ]);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    expect(await got.Body!.transformToString()).toBe('id,name\n1,x\n');
    expect([...m.s3server.objects.keys()]).toEqual([`${bucket}/${Key}`]);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    const missing = await s3.send(new GetObjectCommand({ Bucket: bucket, Key })).catch((e: Error) => e);
    expect((missing as Error).name).toBe('NoSuchKey');
    const noHead = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key })).catch((e: Error) => e);
    expect((noHead as Error).name).toBe('NotFound');
  });

  it('ListObjectsV2: the keys under a prefix, in order, in pages of MaxKeys', async () => {
    m = await memoryStorage();
    const { s3, bucket } = m;
    for (const k of ['b/3', 'a/1', 'b/1', 'b/2', 'c/1'])
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const r = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'b/', MaxKeys: 2, ContinuationToken: token }),
      );
      pages.push((r.Contents ?? []).map((o) => `${o.Key}:${o.Size}`));
      token = r.NextContinuationToken;
    } while (token);
    expect(pages).toEqual([['b/1:3', 'b/2:3'], ['b/3:3']]);
  });

  it('a multipart upload with CRC32 parts (the product’s client) joins its parts exactly; none left open', async () => {
    m = await memoryStorage();
    const body = Buffer.concat([Buffer.alloc(5 * 1024 * 1024, 0x61), Buffer.alloc(1234, 0x62)]);
    await new Upload({
      client: m.s3,
      partSize: 5 * 1024 * 1024,
      params: { Bucket: m.bucket, Key: 'big.csv', Body: body, Metadata: { 'export-id': 'e1' } },
    }).done();
    expect(
      [...m.s3server.parts]
        .sort((a, b) => a.partNumber - b.partNumber)
        .map((p) => [p.partNumber, p.bytes, p.crc32Header !== undefined]),
    ).toEqual([
      [1, 5 * 1024 * 1024, true],
      [2, 1234, true],
    ]);
    expect(m.s3server.refused).toEqual([]);
    expect(m.s3server.objects.get(`${m.bucket}/big.csv`)!.equals(body)).toBe(true);
    expect(m.s3server.openUploads()).toBe(0);
    const head = await m.s3.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'big.csv' }));
    expect(head.Metadata).toEqual({ 'export-id': 'e1' });
  });
});
