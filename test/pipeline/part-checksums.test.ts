/**
 * The deployed upload path, against an endpoint that checks CRC32 part checksums as S3 does: the
 * downloader hands S3 the CRC-32 the unzipper computed for each part-sized slice, so every byte is
 * hashed once, and S3 still refuses a part whose bytes do not match.
 */
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32Base64 } from '../../lib/crc32.js';
import { downloadJob } from '../../lib/pipeline/download.js';
import { exportS3Client, type KnownCrc, usePartChecksums, ZlibCrc32 } from '../../lib/s3.js';
import { type ChecksumS3, startChecksumS3 } from '../support/checksum-s3.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { drain } from '../support/zoho.js';

let h: Harness | undefined;
let s3server: ChecksumS3 | undefined;
afterEach(async () => {
  await h?.close();
  await s3server?.close();
  h = undefined;
  s3server = undefined;
});

/** Counts the bytes the SDK itself hashes for CRC32 checksums. */
function countingCrc32(): { ctor: typeof ZlibCrc32; hashed: () => number } {
  let hashed = 0;
  class Counting extends ZlibCrc32 {
    override update(data: Uint8Array): void {
      hashed += data.byteLength;
      super.update(data);
    }
  }
  return { ctor: Counting, hashed: () => hashed };
}

const clientFor = (endpoint: string, extra: Partial<ConstructorParameters<typeof S3Client>[0]> = {}) =>
  exportS3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    ...extra,
  });

/** A COMPLETED job of about 14 MB (three 5 MiB parts), put in DOWNLOADING state. */
async function downloadingJob(hh: Harness): Promise<{ id: string; csv: Buffer }> {
  const s = hh.fake.addJob({ totalRecords: 20_000, padding: 500 });
  hh.fake.completeNow(s.id);
  await hh.register(s.id);
  await hh.poll();
  expect(hh.queue).toHaveLength(1);
  return { id: s.id, csv: await drain(Readable.from(hh.fake.csv(s.id))) };
}

describe('upload part checksums', () => {
  it('each part carries the CRC-32 the unzipper computed; S3 verifies it; the SDK hashes nothing', async () => {
    h = await pipelineHarness();
    s3server = await startChecksumS3();
    const { id, csv } = await downloadingJob(h);
    expect(csv.length).toBeGreaterThan(10 * 1024 * 1024);
    const counting = countingCrc32();
    const s3 = clientFor(s3server.endpoint, { checksumAlgorithms: { CRC32: counting.ctor } });

    const [outcome] = await Promise.all(
      h.queue.splice(0).map((m) => downloadJob({ ...h!.downloadDeps, s3 }, m)),
    );

    expect(outcome).toMatchObject({ outcome: 'exported', bytes: csv.length });
    const key = `${h.aws.bucket}/${(outcome as { key: string }).key}`;
    expect(s3server.objects.get(key)?.equals(csv)).toBe(true);
    expect(s3server.refused).toEqual([]);
    const partSize = h.downloadDeps.partSize!;
    expect(s3server.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    for (const p of s3server.parts) {
      const slice = csv.subarray((p.partNumber - 1) * partSize, p.partNumber * partSize);
      expect(p.bytes).toBe(slice.length);
      expect(p.crc32Header).toBe(crc32Base64(crc32(slice)));
    }
    expect(counting.hashed()).toBe(0);
    expect((await h.jobs.get(id))?.status).toBe('EXPORTED');
  });

  it('a wrong known checksum fails the part at S3, and the upload is aborted with nothing stored', async () => {
    s3server = await startChecksumS3();
    const s3 = clientFor(s3server.endpoint);
    const known = new Map<number, KnownCrc>([[0, { crc32: 0x12345678, length: 5 * 1024 * 1024 }]]);
    const release = usePartChecksums(s3, { Bucket: 'b', Key: 'k' }, known);
    const { Upload } = await import('@aws-sdk/lib-storage');
    const body = Buffer.alloc(11 * 1024 * 1024, 0x61);
    const upload = new Upload({
      client: s3,
      partSize: 5 * 1024 * 1024,
      params: { Bucket: 'b', Key: 'k', Body: body },
    });
    await expect(upload.done()).rejects.toThrow(/CRC32|BadDigest|checksum/i);
    release();
    expect(s3server.refused.some((r) => r.startsWith('BadDigest'))).toBe(true);
    expect(s3server.objects.has('b/k')).toBe(false);
    expect(s3server.openUploads()).toBe(0);
  });

  it('the stand-in refuses a part whose checksum does not match, as S3 does', async () => {
    s3server = await startChecksumS3();
    const s3 = new S3Client({
      endpoint: s3server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'b', Key: 'k', ChecksumAlgorithm: 'CRC32' }),
    );
    await expect(
      s3.send(
        new UploadPartCommand({
          Bucket: 'b',
          Key: 'k',
          UploadId,
          PartNumber: 1,
          Body: Buffer.from('hello'),
          ChecksumCRC32: crc32Base64(crc32(Buffer.from('hellO'))),
        }),
      ),
    ).rejects.toThrow(/CRC32/);
    // The SDK's own checksum of the same bytes is accepted.
    await s3.send(
      new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId, PartNumber: 1, Body: Buffer.from('hello') }),
    );
    expect(s3server.parts.at(-1)?.crc32Header).toBe(crc32Base64(crc32(Buffer.from('hello'))));
  });

  it('leaves uploads created without a checksum algorithm, and other keys, to the SDK', async () => {
    h = await pipelineHarness();
    s3server = await startChecksumS3();
    const { csv } = await downloadingJob(h);
    // A client that only checksums when required (as against s3rver): no algorithm on the upload,
    // so a part checksum would be refused; none is sent.
    const s3 = clientFor(s3server.endpoint, {
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const other = new Map<number, KnownCrc>([[0, { crc32: 1, length: 5 * 1024 * 1024 }]]);
    const release = usePartChecksums(s3, { Bucket: h.aws.bucket, Key: 'some/other/key.csv' }, other);
    const [outcome] = await Promise.all(
      h.queue.splice(0).map((m) => downloadJob({ ...h!.downloadDeps, s3 }, m)),
    );
    release();
    expect(outcome).toMatchObject({ outcome: 'exported', bytes: csv.length });
    expect(s3server.refused).toEqual([]);
    expect(s3server.parts.every((p) => p.crc32Header === undefined)).toBe(true);
    expect(s3server.objects.get(`${h.aws.bucket}/${(outcome as { key: string }).key}`)?.equals(csv)).toBe(
      true,
    );
  });
});
