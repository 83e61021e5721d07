import zlib from 'node:zlib';

export type ZstdStreamFactory = (options: {
  params: Record<number, number>;
  chunkSize?: number;
}) => zlib.Zlib & NodeJS.ReadWriteStream;

/**
 * Node's own zstd (Node ≥ 22.15 / 23.8: the Lambda nodejs22.x runtime): native, nothing to bundle.
 * Undefined on Node 20. Apart from compression.ts so that the settings (lib/settings.ts) can check
 * for it without bundling the encoder into every function.
 */
export function nodeZstd(): ZstdStreamFactory | undefined {
  // @types/node 20 does not declare createZstdCompress: looked up by name.
  const fn: unknown = (zlib as unknown as Record<string, unknown>).createZstdCompress;
  return typeof fn === 'function' ? (fn as ZstdStreamFactory) : undefined;
}

export function zstdAvailable(): boolean {
  return nodeZstd() !== undefined;
}
