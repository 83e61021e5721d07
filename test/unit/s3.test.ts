import { describe, expect, it } from 'vitest';
import { ZlibCrc32 } from '../../lib/s3.js';

describe('ZlibCrc32 (flexible checksums)', () => {
  it('gives the standard CRC-32 check value, big-endian, across updates and after reset', async () => {
    const c = new ZlibCrc32();
    c.update(Buffer.from('1234'));
    c.update(Buffer.from('56789'));
    expect(Buffer.from(await c.digest()).toString('hex')).toBe('cbf43926');
    c.reset();
    expect(Buffer.from(await c.digest()).toString('hex')).toBe('00000000');
  });
});
