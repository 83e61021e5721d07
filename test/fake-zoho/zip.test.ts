import { describe, expect, it } from 'vitest';
import { csvForJob, zipSingleEntry } from '../../local/fake-zoho/index.js';
import { collect, extractVerified, hasUnzip, parseZip, systemUnzip } from './helpers.js';

async function* from(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

describe('zipSingleEntry', () => {
  it('writes a streaming (bit 3) deflate entry with a data descriptor', async () => {
    const zip = await collect(zipSingleEntry('123.csv', from('id,Name\n', '1,"a, b"\n')));
    const z = parseZip(zip);
    expect(zip.subarray(0, 4)).toEqual(Buffer.from('PK\x03\x04', 'latin1'));
    expect(z.flags & 0x0008).toBe(0x0008);
    expect(zip.readUInt16LE(8)).toBe(8); // method deflate
    expect([z.localCrc, z.localCsize, z.localUsize]).toEqual([0, 0, 0]);
    expect(z.localExtraLength).toBe(0);
    expect(z.zip64).toBe(false);
    expect(z.descriptor).toMatchObject({ crc: z.crc, csize: z.csize, usize: z.usize, length: 16 });
    const { name, content } = extractVerified(zip);
    expect(name).toBe('123.csv');
    expect(content.toString()).toBe('id,Name\n1,"a, b"\n');
  });

  it('handles an empty entry', async () => {
    const zip = await collect(zipSingleEntry('e.csv', from()));
    expect(extractVerified(zip).content.length).toBe(0);
  });

  it('writes zip64 structures when asked', async () => {
    const zip = await collect(zipSingleEntry('big.csv', from('hello\n'.repeat(1000)), { zip64: true }));
    const z = parseZip(zip);
    expect(z.zip64).toBe(true);
    expect(zip.readUInt16LE(4)).toBe(45); // version needed
    expect(z.localExtraLength).toBe(20);
    expect(zip.readUInt16LE(30 + 'big.csv'.length)).toBe(1); // zip64 extra id in the local header
    expect(zip.readBigUInt64LE(30 + 'big.csv'.length + 4)).toBe(0n);
    expect(z.descriptor.length).toBe(24);
    expect(z.descriptor.usize).toBe(6000);
    expect(z.cdExtra.readUInt16LE(0)).toBe(1);
    expect(z.cdExtra.readUInt16LE(2)).toBe(24);
    expect(extractVerified(zip).content.toString()).toBe('hello\n'.repeat(1000));
    if (hasUnzip) expect(systemUnzip(zip, '-p').toString()).toBe('hello\n'.repeat(1000));
  });

  it('is deterministic and readable by the system unzip', async () => {
    const spec = { jobId: '3652397000000123456', module: 'Leads', records: 3000 };
    const a = await collect(zipSingleEntry('x.csv', csvForJob(spec)));
    const b = await collect(zipSingleEntry('x.csv', csvForJob(spec)));
    expect(a.equals(b)).toBe(true);
    const csv = await collect(csvForJob(spec));
    expect(extractVerified(a).content.equals(csv)).toBe(true);
    if (hasUnzip) {
      expect(systemUnzip(a, '-p').equals(csv)).toBe(true);
      expect(systemUnzip(a, '-t').toString()).toMatch(/No errors detected/);
    }
  });

  it('can corrupt the CRC or the size', async () => {
    const good = parseZip(await collect(zipSingleEntry('c.csv', from('abc\n'))));
    const badCrc = await collect(zipSingleEntry('c.csv', from('abc\n'), { corrupt: 'crc' }));
    const badSize = await collect(zipSingleEntry('c.csv', from('abc\n'), { corrupt: 'size' }));
    expect(parseZip(badCrc).crc).not.toBe(good.crc);
    expect(parseZip(badCrc).descriptor.crc).not.toBe(good.crc);
    expect(parseZip(badSize).usize).toBe(good.usize + 1);
    expect(() => extractVerified(badCrc)).toThrow(/crc/);
    expect(() => extractVerified(badSize)).toThrow(/size/);
    if (hasUnzip) expect(() => systemUnzip(badCrc, '-t')).toThrow();
  });

  it('stops reading the source when the consumer stops (backpressure)', async () => {
    let produced = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      const chunk = Buffer.alloc(64 * 1024, 'a');
      for (;;) {
        produced++;
        yield chunk;
      }
    }
    let got = 0;
    for await (const c of zipSingleEntry('e.csv', endless())) {
      got += c.length;
      if (got > 10_000) break;
    }
    const at = produced;
    await new Promise((r) => setTimeout(r, 50));
    expect(produced).toBe(at);
    expect(produced).toBeLessThan(200);
  });

  it('parallel mode: blocks deflated with the previous 32 KiB as dictionary form one valid stream', async () => {
    const spec = { jobId: '3652397000000123457', module: 'Leads', records: 4000, padding: 300 };
    const csv = await collect(csvForJob(spec));
    expect(csv.length).toBeGreaterThan(1024 * 1024);
    const single = await collect(zipSingleEntry('p.csv', csvForJob(spec), { parallel: 1 }));
    const par = await collect(zipSingleEntry('p.csv', csvForJob(spec), { parallel: 4, blockSize: 100_000 }));
    expect(extractVerified(single).content.equals(csv)).toBe(true);
    expect(extractVerified(par).content.equals(csv)).toBe(true);
    // back references across blocks keep the ratio close to one stream's
    expect(parseZip(par).csize).toBeLessThan(parseZip(single).csize * 1.02);
    // the bytes depend on the content only, not on how the source is chunked
    async function* rechunked(): AsyncGenerator<Buffer> {
      for (let i = 0; i < csv.length; i += 77_777) yield csv.subarray(i, i + 77_777);
    }
    expect(
      (await collect(zipSingleEntry('p.csv', rechunked(), { parallel: 4, blockSize: 100_000 }))).equals(par),
    ).toBe(true);
    if (hasUnzip) {
      expect(systemUnzip(par, '-p').equals(csv)).toBe(true);
      expect(systemUnzip(par, '-t').toString()).toMatch(/No errors detected/);
    }
    expect(
      extractVerified(await collect(zipSingleEntry('e.csv', from(), { parallel: 3 }))).content.length,
    ).toBe(0);
  });

  it('propagates source errors', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('x');
      throw new Error('boom');
    }
    await expect(collect(zipSingleEntry('e.csv', failing()))).rejects.toThrow('boom');
  });
});
