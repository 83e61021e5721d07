/**
 * A deterministic Zoho-like CSV for the conversion benchmarks (21 columns: 19-digit ids and lookup ids,
 * currency, percent, integer, double, boolean, date, datetimes with offsets, a multi-select, multi-line
 * quoted text with quotes, commas, non-ASCII and emoji, empty values, a few values that do not parse,
 * and a free-text padding column drawn from a word pool), and the Zoho field metadata it matches.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { ZohoField } from '../../lib/analytics/index.js';

export const FIELDS: ZohoField[] = [
  { api_name: 'Record_Number', data_type: 'autonumber', json_type: 'string' },
  { api_name: 'Owner', data_type: 'ownerlookup', json_type: 'jsonobject' },
  { api_name: 'Account_Name', data_type: 'lookup', json_type: 'jsonobject' },
  { api_name: 'Full_Name', data_type: 'text', json_type: 'string' },
  { api_name: 'Email', data_type: 'email', json_type: 'string' },
  { api_name: 'Phone', data_type: 'phone', json_type: 'string' },
  { api_name: 'Website', data_type: 'website', json_type: 'string' },
  { api_name: 'Lead_Source', data_type: 'picklist', json_type: 'string' },
  { api_name: 'Annual_Revenue', data_type: 'currency', json_type: 'double', decimal_place: 2, length: 16 },
  { api_name: 'Probability', data_type: 'percent', json_type: 'double', decimal_place: 2 },
  { api_name: 'No_of_Employees', data_type: 'integer', json_type: 'integer' },
  { api_name: 'Rating', data_type: 'double', json_type: 'double' },
  { api_name: 'Email_Opt_Out', data_type: 'boolean', json_type: 'boolean' },
  { api_name: 'Date_of_Birth', data_type: 'date', json_type: 'string' },
  { api_name: 'Created_Time', data_type: 'datetime', json_type: 'string' },
  { api_name: 'Modified_Time', data_type: 'datetime', json_type: 'string' },
  { api_name: 'Tag_Options', data_type: 'multiselectpicklist', json_type: 'jsonarray' },
  { api_name: 'Description', data_type: 'textarea', json_type: 'string' },
  { api_name: 'Notes_Padding', data_type: 'textarea', json_type: 'string' },
];
export const HEADER = [
  'id',
  'Record_Number',
  'Owner',
  'Owner.last_name',
  'Account_Name',
  'Full_Name',
  'Email',
  'Phone',
  'Website',
  'Lead_Source',
  'Annual_Revenue',
  'Probability',
  'No_of_Employees',
  'Rating',
  'Email_Opt_Out',
  'Date_of_Birth',
  'Created_Time',
  'Modified_Time',
  'Tag_Options',
  'Description',
  'Notes_Padding',
];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const quote = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

/** Writes a CSV of at least `targetBytes` to `file`; returns its record count. */
export function generateCsv(file: string, targetBytes: number): number {
  const rnd = mulberry32(20261201);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;
  const syl = [
    'ka',
    'lo',
    'mi',
    'ne',
    'ru',
    'sa',
    'to',
    'vi',
    'zé',
    'ßa',
    'ün',
    'ø',
    'qua',
    'dre',
    'fi',
    'gh',
  ];
  const words: string[] = [];
  for (let i = 0; i < 4000; i++) {
    let w = '';
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) w += pick(syl);
    words.push(w);
  }
  words.push('😀', '🚀', '日本語', 'naïve', 'Ωmega', '"quoted"', 'a,b', 'x""y');
  const text = (approx: number): string => {
    let s = '';
    while (s.length < approx) s += `${pick(words)} `;
    return s;
  };
  const firsts = ['Anna', 'José', 'Zoë', 'Łukasz', 'Søren', '李', 'Mohammed', 'Chloé', 'Bob "Bobby"', 'Ada'];
  const lasts = ['Müller', "O'Brien", 'Nguyễn', 'Smith, Jr.', 'García', 'Øster', '田中', 'Kowalski'];
  const sources = ['Web', 'Cold Call', 'Partner', 'Trade Show', 'Advertisement', 'Chat'];
  const tags = ['Alpha', 'Beta', 'Gamma', 'Delta Plus', 'Épsilon'];
  const offsets = ['-07:00', '+05:30', '+00:00', '+01:00', '-03:00'];
  const owners = Array.from(
    { length: 20 },
    (_, i) => `365239700000${String(1_000_000 + i * 7919).padStart(7, '0')}`,
  );
  const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

  const fd = openSync(file, 'w');
  let written = 0;
  let rows = 0;
  const head = `${HEADER.join(',')}\r\n`;
  writeSync(fd, head);
  written += Buffer.byteLength(head);
  while (written < targetBytes) {
    const lines: string[] = [];
    for (let k = 0; k < 2000; k++, rows++) {
      const i = rows;
      const r = rnd();
      const f: string[] = new Array(HEADER.length);
      f[0] = `36523970${String(10_000_000_000 + i * 13).padStart(11, '0')}`;
      f[1] = `LEAD-${String(i + 1).padStart(7, '0')}-Z`;
      f[2] = pick(owners);
      f[3] = quote(pick(lasts));
      f[4] = r < 0.1 ? '' : `36523970${String(20_000_000_000 + Math.floor(rnd() * 1e9)).padStart(11, '0')}`;
      f[5] = quote(`${pick(firsts)} ${pick(lasts)}`);
      f[6] = `user${i}@example.com`;
      f[7] = r < 0.2 ? '' : `+1 555-${String(Math.floor(rnd() * 1e7)).padStart(7, '0')}`;
      f[8] = `https://www.example-${i % 1000}.com`;
      f[9] = pick(sources);
      // Every 997th revenue and 1009th birth date do not parse (conversion errors, seen by DuckDB's sniffer too).
      f[10] = i % 997 === 5 ? '"12,5"' : r < 0.05 ? '' : (rnd() * 1e7).toFixed(2);
      f[11] = String(Math.floor(rnd() * 101));
      f[12] = String(Math.floor(rnd() * 100_000));
      f[13] = String(Math.round(rnd() * 5e6) / 1e6);
      f[14] = rnd() < 0.5 ? 'true' : 'false';
      f[15] =
        i % 1009 === 7
          ? '2019-02-30'
          : r > 0.8
            ? ''
            : `${1950 + Math.floor(rnd() * 55)}-${two(1 + Math.floor(rnd() * 12))}-${two(1 + Math.floor(rnd() * 28))}`;
      const ts = () =>
        `20${20 + Math.floor(rnd() * 6)}-${two(1 + Math.floor(rnd() * 12))}-${two(1 + Math.floor(rnd() * 28))}T${two(
          Math.floor(rnd() * 24),
        )}:${two(Math.floor(rnd() * 60))}:${two(Math.floor(rnd() * 60))}${pick(offsets)}`;
      f[16] = ts();
      f[17] = ts();
      f[18] = r < 0.3 ? '' : [pick(tags), pick(tags)].join(';');
      f[19] = r < 0.3 ? '' : quote(`${text(30)}\n${pick(firsts)} said "${text(15)}", ok 😀\r\n${text(20)}`);
      f[20] = quote(text(300 + Math.floor(rnd() * 300)));
      lines.push(f.join(','));
    }
    const chunk = `${lines.join('\r\n')}\r\n`;
    writeSync(fd, chunk);
    written += Buffer.byteLength(chunk);
  }
  closeSync(fd);
  return rows;
}
