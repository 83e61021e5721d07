import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { crc32Base64, crc32Bytes } from './crc32.js';

/**
 * CRC32 for the SDK's flexible checksums, computed by zlib (native) instead of the SDK's pure-JS
 * default: the checksum of every 8 MiB part is then nearly free.
 */
export class ZlibCrc32 {
  private value = 0;
  update(data: Uint8Array): void {
    this.value = crc32(data, this.value);
  }
  async digest(): Promise<Uint8Array> {
    return crc32Bytes(this.value);
  }
  reset(): void {
    this.value = 0;
  }
}

/** The S3 client the deployed downloader uses: CRC32 per part (native), unsigned payloads. */
export function exportS3Client(config: S3ClientConfig = {}): S3Client {
  return withUnsignedPayload(new S3Client({ checksumAlgorithms: { CRC32: ZlibCrc32 }, ...config }));
}

const DATA_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

/**
 * Uploads are signed without hashing their payload (`x-amz-content-sha256: UNSIGNED-PAYLOAD`, which S3
 * accepts): SigV4's SHA-256 over every part cost more CPU than the unzip itself. Integrity does not
 * rest on it: TLS carries the bytes, S3 checks each part's CRC32 (the SDK's default flexible
 * checksums), and the downloader verifies the ZIP's CRC-32, the record count and the stored size.
 */
export function withUnsignedPayload<T extends S3Client>(client: T): T {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (DATA_COMMANDS.has(context.commandName ?? '')) {
        const req = args.request as { headers?: Record<string, string> };
        if (req.headers) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 'unsignedPayloadForUploads', override: true },
  );
  return client;
}

/** What `usePartChecksums` needs of a slice's CRC (an `unzip` `CrcSegment` fits). */
export interface KnownCrc {
  crc32: number;
  length: number;
}

/**
 * Hands S3 the CRC-32 of each part of one object's upload, from `checksums` (part N is slice N - 1),
 * so the SDK does not hash the part again: the downloader already hashed every byte once, to check
 * the ZIP. S3 still verifies each part against it (a wrong or stale value fails the part, and so the
 * upload). Applies only to this Bucket and Key, only to parts of a multipart upload created with
 * `ChecksumAlgorithm: CRC32` (what lib-storage asks for under the SDK's default
 * `requestChecksumCalculation`), and only when the part is exactly the slice's length; anything else
 * is left to the SDK. Returns the function that removes it again.
 */
export function usePartChecksums(
  client: S3Client,
  target: { Bucket: string; Key: string },
  checksums: ReadonlyMap<number, KnownCrc>,
): () => void {
  const name = `knownPartChecksums-${randomUUID()}`;
  let multipartCrc32 = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as {
        Bucket?: string;
        Key?: string;
        ChecksumAlgorithm?: string;
        ChecksumCRC32?: string;
        PartNumber?: number;
        Body?: unknown;
      };
      if (input.Bucket !== target.Bucket || input.Key !== target.Key) return next(args);
      if (context.commandName === 'CreateMultipartUploadCommand') {
        multipartCrc32 = input.ChecksumAlgorithm === 'CRC32';
      } else if (
        context.commandName === 'UploadPartCommand' &&
        multipartCrc32 &&
        input.ChecksumCRC32 === undefined &&
        typeof input.PartNumber === 'number'
      ) {
        const known = checksums.get(input.PartNumber - 1);
        if (known && byteLength(input.Body) === known.length) input.ChecksumCRC32 = crc32Base64(known.crc32);
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return () => {
    client.middlewareStack.remove(name);
  };
}

const byteLength = (body: unknown): number | undefined =>
  body instanceof Uint8Array ? body.byteLength : undefined;
