import zlib from 'node:zlib';
import type { Compression } from './types.js';

export type Compressor = (input: Uint8Array) => Uint8Array;

type ZstdCompressSync = (input: Uint8Array, options?: { params?: Record<number, number> }) => Buffer;

/**
 * Node's own zstd (`zlib.zstdCompressSync`, Node ≥ 22.15 / 23.8: the Lambda nodejs22.x runtime):
 * native, nothing to bundle. Undefined on Node 20, where SNAPPY is the default instead.
 */
function nodeZstd(): ZstdCompressSync | undefined {
  const fn: unknown = (zlib as unknown as Record<string, unknown>).zstdCompressSync;
  return typeof fn === 'function' ? (fn as ZstdCompressSync) : undefined;
}

export function zstdAvailable(): boolean {
  return nodeZstd() !== undefined;
}

/** ZSTD where this Node has it, else SNAPPY. */
export function defaultCompression(): Compression {
  return zstdAvailable() ? 'ZSTD' : 'SNAPPY';
}

export class UnsupportedCompressionError extends Error {
  override readonly name = 'UnsupportedCompressionError';
  readonly code = 'UNSUPPORTED_COMPRESSION';
  constructor(codec: string) {
    super(`${codec} compression needs Node >= 22.15 (zlib.zstdCompressSync); use SNAPPY here`);
  }
}

/** A ZSTD compressor at `level` (default 3, zstd's own default), from node:zlib. */
export function zstdCompressor(level = 3): Compressor {
  const fn = nodeZstd();
  if (!fn) throw new UnsupportedCompressionError('ZSTD');
  const key = (zlib.constants as unknown as Record<string, number>).ZSTD_c_compressionLevel ?? 100;
  const options = { params: { [key]: level } };
  return (input) => fn(input, options);
}
