import { describe, expect, it } from 'vitest';
import { csvForJob, csvRecordCount, ID_BASE, PADDING_COLUMN } from '../../local/fake-zoho/index.js';
import { collect, parseCsv } from './helpers.js';

describe('csvForJob', () => {
  it('is byte-for-byte deterministic and depends on job id and page', async () => {
    const spec = { jobId: '3652397000000000111', module: 'Contacts', records: 500 };
    const a = await collect(csvForJob(spec));
    const b = await collect(csvForJob({ ...spec, chunkSize: 1000 }));
    expect(a.equals(b)).toBe(true);
    const c = await collect(csvForJob({ ...spec, jobId: '3652397000000000112' }));
    expect(a.equals(c)).toBe(false);
  });

  it('writes a header of API names with id and realistic RFC 4180 values', async () => {
    const text = (
      await collect(csvForJob({ jobId: '3652397000000000222', module: 'Leads', records: 2000 }))
    ).toString('utf8');
    const rows = parseCsv(text);
    const header = rows[0]!;
    expect(header[0]).toBe('id');
    expect(header).toContain('Last_Name');
    expect(header).toContain('Description');
    expect(rows.length).toBe(2001);
    for (const r of rows) expect(r.length).toBe(header.length);
    const ids = rows.slice(1).map((r) => r[0]!);
    expect(ids[0]).toBe(String(ID_BASE + 1n));
    expect(ids.every((id) => /^\d{19}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(2000);
    const all = rows.slice(1).flat();
    expect(all.some((v) => v.includes('\n'))).toBe(true);
    expect(all.some((v) => v.includes('"'))).toBe(true);
    expect(all.some((v) => v.includes(','))).toBe(true);
    expect(all.some((v) => v === '')).toBe(true);
    expect(text).toMatch(/[éü]/);
    expect(text).toMatch(/日本語|山田/);
    expect(text).toMatch(/\p{Extended_Pictographic}/u);
    expect(await csvRecordCount(text)).toBe(2000);
    expect(text.split('\n').length - 1).toBeGreaterThan(2001); // embedded newlines
  });

  it('follows requested fields, adds id, pages record ids and honours CRLF', async () => {
    const buf = await collect(
      csvForJob({
        jobId: '3652397000000000333',
        module: 'Deals',
        fields: ['Deal_Name', 'Amount', 'Owner.last_name', 'Custom_Field__c'],
        records: 10,
        page: 3,
        perPage: 100,
        lineEnding: '\r\n',
      }),
    );
    const text = buf.toString('utf8');
    expect(text.startsWith('id,Deal_Name,Amount,Owner.last_name,Custom_Field__c\r\n')).toBe(true);
    const rows = parseCsv(text);
    expect(rows[1]![0]).toBe(String(ID_BASE + 201n));
    expect(await csvRecordCount(buf)).toBe(10);
  });

  it('pads rows to reach big files quickly', async () => {
    let size = 0;
    const parts: Buffer[] = [];
    for await (const c of csvForJob({
      jobId: '3652397000000000444',
      module: 'Accounts',
      records: 1000,
      padding: 5000,
    })) {
      size += c.length;
      parts.push(c);
    }
    expect(size).toBeGreaterThan(5_000_000);
    const rows = parseCsv(Buffer.concat(parts).toString('utf8'));
    expect(rows[0]!.at(-1)).toBe(PADDING_COLUMN);
    expect(rows[1]!.at(-1)!.length).toBe(5000);
    expect(rows.length).toBe(1001);
  });

  it('generic columns for other modules, header only for zero records', async () => {
    const text = (await collect(csvForJob({ jobId: '1', module: 'Things__c', records: 0 }))).toString();
    expect(text).toBe('id,Owner,Name,Email,Description,Created_By,Modified_By,Created_Time,Modified_Time\n');
    expect(await csvRecordCount(text)).toBe(0);
  });
});

describe('csvRecordCount', () => {
  it('counts multi-line records once and handles a missing final newline', async () => {
    expect(await csvRecordCount('a,b\n1,"x\ny"\n2,"say ""hi"""\n')).toBe(2);
    expect(await csvRecordCount('a,b\r\n1,2\r\n3,4')).toBe(2);
    expect(await csvRecordCount('')).toBe(0);
  });
});
