import { crc32 } from 'node:zlib';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

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
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, this.value >>> 0, false);
    return out;
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
