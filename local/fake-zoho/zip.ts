/**
 * Streaming single-entry ZIP writer, laid out the way a streaming Java zipper (ZipOutputStream) writes:
 * general purpose bit 3 (sizes in a data descriptor) + bit 11 (UTF-8 name), local header CRC/sizes 0,
 * DEFLATE (method 8), data descriptor, central directory, optional ZIP64 records, end of central directory.
 *
 * Memory use is constant whatever the size of the source.
 */
import { once } from 'node:events';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { promisify } from 'node:util';
import { crc32, createDeflateRaw, deflateRaw, type ZlibOptions, constants as zc } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);
const WINDOW = 32 * 1024;

/**
 * Deflates `source` in blocks on the thread pool, `concurrency` at a time, and yields the compressed
 * blocks in order. Each block is deflated with the 32 KiB before it as the dictionary (so back
 * references reach into the previous block, as in pigz) and ends with a sync flush, except the last,
 * which ends the stream. Memory: about `concurrency` blocks in and out.
 */
async function* parallelDeflate(
  source: AsyncIterable<Buffer>,
  level: number,
  blockSize: number,
  concurrency: number,
  onInput: (chunk: Buffer) => void,
): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let dict: Buffer | undefined;
  const submit = (block: Buffer, final: boolean): void => {
    const options: ZlibOptions = {
      level,
      memLevel: 9,
      finishFlush: final ? zc.Z_FINISH : zc.Z_SYNC_FLUSH,
      ...(dict ? { dictionary: dict } : {}),
    };
    const p = deflateRawAsync(block, options);
    p.catch(() => undefined); // awaited below; this only keeps an abandoned block from being "unhandled"
    queue.push(p);
    dict =
      block.length >= WINDOW
        ? block.subarray(block.length - WINDOW)
        : Buffer.concat([dict ?? Buffer.alloc(0), block]).subarray(-WINDOW);
  };
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    onInput(chunk);
    pending.push(chunk);
    pendingLen += chunk.length;
    if (pendingLen < blockSize) continue;
    let all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
    while (all.length >= blockSize) {
      submit(all.subarray(0, blockSize), false);
      all = all.subarray(blockSize);
      while (queue.length >= concurrency) yield await queue.shift()!;
    }
    pending = all.length > 0 ? [all] : [];
    pendingLen = all.length;
  }
  submit(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen), true);
  while (queue.length > 0) yield await queue.shift()!;
}

export interface ZipOptions {
  /** Write ZIP64 structures (local zip64 extra, 8-byte descriptor sizes, CD zip64 extra, zip64 EOCD). */
  zip64?: boolean;
  /** Deflate level, default 1 (fast). */
  level?: number;
  /** Write a wrong CRC ('crc') or a wrong uncompressed size ('size') into the descriptor and the CD. */
  corrupt?: 'crc' | 'size';
  /** Output chunk size of the deflater, default 128 KiB. */
  chunkSize?: number;
  /** Modification time stored in the headers (default 2024-01-01T00:00:00, local DOS time). */
  mtime?: Date;
  /**
   * Blocks deflated at the same time on the thread pool (default 2). 1: one deflate stream, as a
   * streaming Java zipper does. More: pigz-style, the input is cut into `blockSize` blocks, each
   * deflated with the previous 32 KiB as its dictionary and ended with a sync flush (the last with
   * a final block), so the concatenation is one valid deflate stream.
   */
  parallel?: number;
  /** Input block size of the parallel mode, default 1 MiB. */
  blockSize?: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_DESCRIPTOR = 0x08074b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_EOCD = 0x06054b50;
const FLAGS = 0x0808; // bit 3: data descriptor, bit 11: UTF-8 file name
const METHOD_DEFLATE = 8;
const MAX32 = 0xffffffff;
const DEFAULT_MTIME = new Date(2024, 0, 1, 0, 0, 0);

function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/**
 * Streams a ZIP archive with exactly one entry `name` whose content is `source`.
 * Backpressure: nothing is read from `source` faster than the consumer takes the output.
 */
export async function* zipSingleEntry(
  name: string,
  source: AsyncIterable<Buffer>,
  opts: ZipOptions = {},
): AsyncGenerator<Buffer> {
  const zip64 = opts.zip64 === true;
  const nameBuf = Buffer.from(name, 'utf8');
  const { time, date } = dosDateTime(opts.mtime ?? DEFAULT_MTIME);

  // ---- local file header
  const localExtra = zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
  if (zip64) {
    localExtra.writeUInt16LE(0x0001, 0);
    localExtra.writeUInt16LE(16, 2); // uncompressed size + compressed size, both 0 (unknown yet)
  }
  const versionNeeded = zip64 ? 45 : 20;
  const local = Buffer.alloc(30);
  local.writeUInt32LE(SIG_LOCAL, 0);
  local.writeUInt16LE(versionNeeded, 4);
  local.writeUInt16LE(FLAGS, 6);
  local.writeUInt16LE(METHOD_DEFLATE, 8);
  local.writeUInt16LE(time, 10);
  local.writeUInt16LE(date, 12);
  // crc (14), compressed size (18), uncompressed size (22) stay 0: they follow in the data descriptor
  local.writeUInt16LE(nameBuf.length, 26);
  local.writeUInt16LE(localExtra.length, 28);
  const localHeader = Buffer.concat([local, nameBuf, localExtra]);
  yield localHeader;

  // ---- compressed data
  let crc = 0;
  let usize = 0;
  let csize = 0;
  const parallel = Math.max(1, Math.floor(opts.parallel ?? 2));
  if (parallel > 1) {
    const blocks = parallelDeflate(
      source,
      opts.level ?? 1,
      opts.blockSize ?? 1024 * 1024,
      parallel,
      (chunk) => {
        crc = crc32(chunk, crc);
        usize += chunk.length;
      },
    );
    for await (const out of blocks) {
      csize += out.length;
      yield out;
    }
  } else {
    yield* singleStream();
  }

  /** One deflate stream over the whole entry. */
  async function* singleStream(): AsyncGenerator<Buffer> {
    // A large writable buffer keeps the deflater (thread pool) busy while the producer (main thread)
    // builds the next chunk: generation and compression then overlap instead of taking turns.
    const deflate = createDeflateRaw({
      level: opts.level ?? 1,
      chunkSize: opts.chunkSize ?? 128 * 1024,
      memLevel: 9,
      strategy: zc.Z_DEFAULT_STRATEGY,
      writableHighWaterMark: 1024 * 1024,
    } as ZlibOptions);
    const abort = new AbortController();
    const feeder = (async () => {
      try {
        for await (const chunk of source) {
          if (abort.signal.aborted) return;
          if (chunk.length === 0) continue;
          crc = crc32(chunk, crc);
          usize += chunk.length;
          if (!deflate.write(chunk)) await once(deflate, 'drain', { signal: abort.signal });
          // Let the event loop run the deflater's completion callbacks (a synchronous producer behind an
          // async iterator would otherwise only ever yield microtasks until the buffer is full).
          else await setImmediatePromise();
          if (abort.signal.aborted) return;
        }
        deflate.end();
      } catch (err) {
        if (!abort.signal.aborted) deflate.destroy(err as Error);
      }
    })();
    try {
      for await (const out of deflate as AsyncIterable<Buffer>) {
        csize += out.length;
        yield out;
      }
      await feeder;
    } finally {
      abort.abort();
      deflate.destroy();
    }
  }

  if (opts.corrupt === 'crc') crc = (crc ^ 0x5a5a5a5a) >>> 0;
  const writtenUsize = opts.corrupt === 'size' ? usize + 1 : usize;
  const needs64 = zip64 || writtenUsize >= MAX32 || csize >= MAX32;

  // ---- data descriptor
  const desc = Buffer.alloc(needs64 ? 24 : 16);
  desc.writeUInt32LE(SIG_DESCRIPTOR, 0);
  desc.writeUInt32LE(crc, 4);
  if (needs64) {
    desc.writeBigUInt64LE(BigInt(csize), 8);
    desc.writeBigUInt64LE(BigInt(writtenUsize), 16);
  } else {
    desc.writeUInt32LE(csize, 8);
    desc.writeUInt32LE(writtenUsize, 12);
  }
  yield desc;

  // ---- central directory
  const localOffset = 0;
  const cdOffset = localHeader.length + csize + desc.length;
  let cdExtra = Buffer.alloc(0);
  if (needs64) {
    cdExtra = Buffer.alloc(28);
    cdExtra.writeUInt16LE(0x0001, 0);
    cdExtra.writeUInt16LE(24, 2);
    cdExtra.writeBigUInt64LE(BigInt(writtenUsize), 4);
    cdExtra.writeBigUInt64LE(BigInt(csize), 12);
    cdExtra.writeBigUInt64LE(BigInt(localOffset), 20);
  }
  const cd = Buffer.alloc(46);
  const cdVersion = needs64 ? 45 : 20;
  cd.writeUInt32LE(SIG_CENTRAL, 0);
  cd.writeUInt16LE(cdVersion, 4); // version made by (MS-DOS host, like Java)
  cd.writeUInt16LE(cdVersion, 6); // version needed
  cd.writeUInt16LE(FLAGS, 8);
  cd.writeUInt16LE(METHOD_DEFLATE, 10);
  cd.writeUInt16LE(time, 12);
  cd.writeUInt16LE(date, 14);
  cd.writeUInt32LE(crc, 16);
  cd.writeUInt32LE(needs64 ? MAX32 : csize, 20);
  cd.writeUInt32LE(needs64 ? MAX32 : writtenUsize, 24);
  cd.writeUInt16LE(nameBuf.length, 28);
  cd.writeUInt16LE(cdExtra.length, 30);
  // comment length, disk number start, internal attributes, external attributes: 0
  cd.writeUInt32LE(needs64 ? MAX32 : localOffset, 42);
  const central = Buffer.concat([cd, nameBuf, cdExtra]);

  const tail: Buffer[] = [central];
  const cdSize = central.length;
  if (needs64) {
    const z64 = Buffer.alloc(56);
    z64.writeUInt32LE(SIG_ZIP64_EOCD, 0);
    z64.writeBigUInt64LE(44n, 4); // size of the remaining record
    z64.writeUInt16LE(45, 12);
    z64.writeUInt16LE(45, 14);
    // disk numbers (16, 20) = 0
    z64.writeBigUInt64LE(1n, 24);
    z64.writeBigUInt64LE(1n, 32);
    z64.writeBigUInt64LE(BigInt(cdSize), 40);
    z64.writeBigUInt64LE(BigInt(cdOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
    locator.writeBigUInt64LE(BigInt(cdOffset + cdSize), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(z64, locator);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(SIG_EOCD, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(cdSize, 12);
  eocd.writeUInt32LE(needs64 ? MAX32 : cdOffset, 16);
  tail.push(eocd);
  yield Buffer.concat(tail);
}
