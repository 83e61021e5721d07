import zlib from 'node:zlib';
import { compress as snappyCompress } from 'snappyjs';
import { nodeZstd, zstdAvailable } from './node-zstd.js';
import type { Compression } from './types.js';

export { zstdAvailable };

/**
 * Compresses one Parquet page body into one independent block (a zstd frame, a snappy block).
 * Calls may overlap; results come back in call order. `body` may be reused once the call returns.
 */
export interface PageCompressor {
  compress(body: Buffer): Promise<Buffer> | Buffer;
  close(): void;
}

/**
 * ZSTD where this Node has it, else SNAPPY: the library's default when a caller names no codec (tests,
 * the bench). The product passes the `PARQUET_COMPRESSION` setting (lib/settings.ts) instead.
 */
export function defaultCompression(): Compression {
  return zstdAvailable() ? 'ZSTD' : 'SNAPPY';
}

/** The codec of the `PARQUET_COMPRESSION` setting (lower case there) as the writer names it. */
export function compressionOf(codec: 'zstd' | 'snappy'): Compression {
  return codec === 'zstd' ? 'ZSTD' : 'SNAPPY';
}

export class UnsupportedCompressionError extends Error {
  override readonly name = 'UnsupportedCompressionError';
  readonly code = 'UNSUPPORTED_COMPRESSION';
  constructor(codec: string) {
    super(`${codec} compression needs Node >= 22.15 (zlib zstd); use SNAPPY here`);
  }
}

/**
 * ZSTD through ONE long-lived `zlib.createZstdCompress` stream, each page ended with
 * `flush(ZSTD_e_end)` so that it is a frame of its own. Why not `zstdCompressSync` per page: each
 * call allocates a native compression context that is freed only when V8 collects its handle,
 * which added 40-170 MB of RSS in measurements. The stream compresses on the libuv thread pool,
 * so the next page can be encoded meanwhile.
 */
export function zstdPageCompressor(level = 3): PageCompressor {
  const create = nodeZstd();
  if (!create) throw new UnsupportedCompressionError('ZSTD');
  const c = zlib.constants as unknown as Record<string, number>;
  // 256 KiB output chunks: with the default 16 KiB, a page takes dozens of thread-pool round trips.
  const z = create({ params: { [c.ZSTD_c_compressionLevel ?? 100]: level }, chunkSize: 256 * 1024 });
  const endFrame = c.ZSTD_e_end ?? 2;
  const queue: { chunks: Buffer[]; resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  let failed: Error | null = null;
  z.on('data', (d: Buffer) => {
    queue[0]?.chunks.push(d);
  });
  z.on('error', (e: Error) => {
    failed = e;
    for (const q of queue.splice(0)) q.reject(e);
  });
  return {
    compress(body: Buffer): Promise<Buffer> {
      if (failed) return Promise.reject(failed);
      const copy = Buffer.from(body); // the caller reuses `body`
      return new Promise<Buffer>((resolve, reject) => {
        queue.push({ chunks: [], resolve, reject });
        z.write(copy);
        z.flush(endFrame, () => {
          const q = queue.shift();
          if (!q) return;
          q.resolve(q.chunks.length === 1 ? (q.chunks[0] as Buffer) : Buffer.concat(q.chunks));
        });
      });
    },
    close(): void {
      z.close();
    },
  };
}

/** Snappy in JS (snappyjs 0.7, MIT): synchronous; the Node 20 fallback. */
export function snappyPageCompressor(): PageCompressor {
  return {
    compress: (body) => snappyCompress(body),
    close: () => {},
  };
}
