/**
 * The converter at scale, on its own so the fast tiers stay fast: 512 MiB of CSV through the Parquet encoder
 * (minutes on a shared 2-core machine). Runs in the `slow` project.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { convertCsvToParquet, planColumns } from '../../lib/analytics/index.js';
import { LINEAGE, prng, toCsv, ZOHO_FIELDS, ZOHO_HEADER, zohoRecord } from './helpers.js';

describe('convertCsvToParquet at scale', () => {
  it('converts a 512 MiB CSV in bounded memory (RSS growth far below the input size)', async () => {
    const rnd = prng(99);
    const target = 512 * 1024 * 1024;
    let produced = 0;
    let peak = 0;
    const base = process.memoryUsage.rss();
    const records: string[][] = Array.from({ length: 500 }, (_, i) => zohoRecord(i, rnd));
    async function* source(): AsyncGenerator<Buffer> {
      yield Buffer.from(`${ZOHO_HEADER.join(',')}\r\n`);
      let i = 0;
      while (produced < target) {
        // Fresh ids per block; the text comes from a pool (the generator itself stays small).
        const block = records.map((r, k) => [String(3652397000000000000n + BigInt(i + k)), ...r.slice(1)]);
        i += records.length;
        const buf = Buffer.from(toCsv(block));
        produced += buf.length;
        peak = Math.max(peak, process.memoryUsage.rss());
        yield buf;
      }
    }
    let outBytes = 0;
    const c = convertCsvToParquet(source(), {
      columns: (h) => planColumns(h, ZOHO_FIELDS),
      lineage: LINEAGE,
      rowGroupRows: 50_000,
    });
    await pipeline(
      c.stream,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          outBytes += chunk.length;
          peak = Math.max(peak, process.memoryUsage.rss());
          cb();
        },
      }),
    );
    const stats = await c.done;
    expect(stats.csvBytes).toBeGreaterThanOrEqual(target);
    expect(stats.rowGroups).toBeGreaterThan(10);
    expect(outBytes).toBe(stats.bytes);
    // Generous: the input alone is 512 MiB; the converter's working set is its row groups.
    expect(peak - base).toBeLessThan(256 * 1024 * 1024);
  }, 240_000);
});
