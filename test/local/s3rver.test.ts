/**
 * The S3 stand-in's CompleteMultipartUpload (local/s3rver-child.mjs replaces s3rver's): it checks the
 * listed parts as S3 does, joins them exactly, gives S3's multipart ETag and leaves nothing of the
 * upload behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describe, expect, inject, it } from 'vitest';
import { localS3Client } from '../../local/stand-ins.js';

const Bucket = 'exports';
const s3 = localS3Client(inject('s3Endpoint'));
const MiB = 1024 * 1024;

const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
/** S3's ETag of a multipart object: MD5 of the parts' MD5s, "-" and the number of parts. */
const multipartEtag = (parts: Buffer[]): string =>
  `"${createHash('md5')
    .update(Buffer.concat(parts.map(md5)))
    .digest('hex')}-${parts.length}"`;

async function refusal(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('s3rver stand-in: CompleteMultipartUpload', () => {
  it('joins lib-storage parts exactly, with S3 multipart ETag, and leaves no upload behind', async () => {
    const Key = `multipart/${Date.now()}/whole.csv`;
    const body = randomBytes(12 * MiB + 12345);
    await new Upload({
      client: s3,
      params: { Bucket, Key, Body: body },
      partSize: 5 * MiB,
      queueSize: 2,
    }).done();
    const got = Buffer.from(
      await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray(),
    );
    expect(got.equals(body)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ETag).toBe(
      multipartEtag([body.subarray(0, 5 * MiB), body.subarray(5 * MiB, 10 * MiB), body.subarray(10 * MiB)]),
    );
    const list = await s3.send(
      new ListObjectsV2Command({ Bucket, Prefix: Key.slice(0, Key.lastIndexOf('/')) }),
    );
    expect(list.Contents?.map((c) => c.Key)).toEqual([Key]);
  });

  it('refuses parts out of order or with a wrong ETag, and the object exists only once completed', async () => {
    const Key = `multipart/${Date.now()}/checked.csv`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const a = randomBytes(5 * MiB);
    const b = randomBytes(1000);
    const pa = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: a }));
    const pb = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: b }));
    const complete = (Parts: Array<{ PartNumber: number; ETag: string | undefined }>) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));

    expect(
      await refusal(
        complete([
          { PartNumber: 2, ETag: pb.ETag },
          { PartNumber: 1, ETag: pa.ETag },
        ]),
      ),
    ).toEqual({ name: 'InvalidPartOrder', status: 400 });
    expect(
      await refusal(
        complete([
          { PartNumber: 1, ETag: pa.ETag },
          { PartNumber: 2, ETag: pa.ETag },
        ]),
      ),
    ).toEqual({ name: 'InvalidPart', status: 400 });
    expect(
      await refusal(
        complete([
          { PartNumber: 1, ETag: pa.ETag },
          { PartNumber: 3, ETag: pb.ETag },
        ]),
      ),
    ).toEqual({ name: 'InvalidPart', status: 400 });
    expect((await refusal(s3.send(new HeadObjectCommand({ Bucket, Key })))).status).toBe(404);

    const done = await complete([
      { PartNumber: 1, ETag: pa.ETag },
      { PartNumber: 2, ETag: pb.ETag },
    ]);
    expect(done.ETag).toBe(multipartEtag([a, b]));
    const got = Buffer.from(
      await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray(),
    );
    expect(got.equals(Buffer.concat([a, b]))).toBe(true);
  });
});
