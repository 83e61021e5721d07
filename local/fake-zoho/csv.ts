/**
 * Deterministic, realistic CRM rows for the fake Zoho Bulk Read result.
 *
 * The same spec always yields the same bytes (seeded PRNG, no Math.random, no clock).
 * Rows are built as strings in batches of about `chunkSize` bytes and turned into one Buffer per batch.
 */

export interface CsvSpec {
  /** Job id: seeds the PRNG (together with the page). */
  jobId: string;
  /** Module API name (Leads, Contacts, Accounts, Deals; anything else gets generic columns). */
  module?: string;
  /** Requested field API names (column order follows them; `id` is added first when missing). */
  fields?: string[];
  /** Number of records in this file (rows excluding the header). */
  records: number;
  /** 0-based index of the first record across the whole query (for record ids), default (page-1)*perPage. */
  firstRecord?: number;
  /** Page of the query, default 1 (seeds the PRNG). */
  page?: number;
  /** Records per page, used to compute firstRecord when it is not given; default 200000. */
  perPage?: number;
  /** Adds a column `Long_Text__c` with this many characters per row. */
  padding?: number;
  /** Record separator, default '\n'. Embedded newlines inside quoted values are always '\n'. */
  lineEnding?: '\n' | '\r\n';
  /** Approximate size of the emitted chunks, default 64 KiB. */
  chunkSize?: number;
}

export const ID_BASE = 3652397000000000000n;
export const PADDING_COLUMN = 'Long_Text__c';

// ---------------------------------------------------------------- PRNG

function hashSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: fast 32-bit PRNG. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

// ---------------------------------------------------------------- CSV escaping

export function csvEscape(v: string): string {
  if (v === '') return '';
  if (/[",\r\n]/.test(v)) return `"${v.replace(/"/g, '""')}"`;
  return v;
}

const esc = (values: string[]): string[] => values.map(csvEscape);

// ---------------------------------------------------------------- vocabularies (pre-escaped)

const FIRST = [
  'Patricia',
  'James',
  'José',
  'Zoë',
  'Jürgen',
  'Åsa',
  'Mohammed',
  'Wei',
  'Yuki',
  'Chloé',
  'Olu',
  'Siobhán',
  'Ravi',
  'Anna-Lena',
  'Łukasz',
  'Maria',
];
const FIRST_SLUG = [
  'patricia',
  'james',
  'jose',
  'zoe',
  'juergen',
  'asa',
  'mohammed',
  'wei',
  'yuki',
  'chloe',
  'olu',
  'siobhan',
  'ravi',
  'anna-lena',
  'lukasz',
  'maria',
];
const LAST = [
  'Boyle',
  'Müller',
  "O'Brien",
  'García',
  'Smith, Jr.',
  '山田',
  'Nguyễn',
  'Dubois',
  'Kowalski',
  'Rossi',
  'Van der Berg',
  'Ødegaard',
  'Chen',
  'Patel',
  'Schmidt',
  'Okafor',
];
const LAST_SLUG = [
  'boyle',
  'mueller',
  'obrien',
  'garcia',
  'smith',
  'yamada',
  'nguyen',
  'dubois',
  'kowalski',
  'rossi',
  'vanderberg',
  'odegaard',
  'chen',
  'patel',
  'schmidt',
  'okafor',
];
const FIRST_E = esc(FIRST);
const LAST_E = esc(LAST);
const COMPANY_E = esc([
  'Acme, Inc.',
  'Zylker Corp',
  'Müller & Söhne GmbH',
  '株式会社サンプル',
  'The "Best" Widgets Ltd',
  'Globex',
  'Initech',
  'Umbrella Holdings',
  'Café Noir SARL',
  'Rocket 🚀 Labs',
  '',
  'Stark Industries',
]);
const CITY_E = esc([
  'Chennai',
  'Zürich',
  'São Paulo',
  'München',
  '東京',
  'New York, NY',
  'Reykjavík',
  'Austin',
  '',
  'Montréal',
]);
const COUNTRY_E = esc(['India', 'Switzerland', 'Brazil', 'Germany', 'Japan', 'USA', 'Iceland', 'Canada', '']);
const LEAD_SOURCE_E = esc([
  'Web Download',
  'Cold Call',
  'Advertisement',
  'Partner',
  'Trade Show',
  'Chat',
  '',
]);
const LEAD_STATUS_E = esc([
  'Not Contacted',
  'Attempted to Contact',
  'Contact in Future',
  'Contacted',
  'Junk Lead',
  'Qualified',
]);
const INDUSTRY_E = esc([
  'ASP (Application Service Provider)',
  'Data/Telecom OEM',
  'Government/Military',
  'Large Enterprise',
  'Management/ISV',
  'Non-management ISV',
  'Small/Medium Enterprise',
  '',
]);
const STAGE_E = esc([
  'Qualification',
  'Needs Analysis',
  'Value Proposition',
  'Proposal/Price Quote',
  'Negotiation/Review',
  'Closed Won',
  'Closed Lost',
]);
const DESCRIPTION_E = esc([
  '',
  'Met at the trade show, interested in the enterprise plan.',
  'Called twice, no answer.\nLeft a voicemail; try again next week.',
  'Customer said: "we need it by Q3", budget approved.',
  'Multi-line note:\nline 2, with a comma\nline 3 with "quotes"\n',
  'Prefers email over phone. Speaks Français & Deutsch.',
  '日本語のメモ：来週フォローアップ。',
  'Emoji check 🎉👍 – done.',
  '  leading and trailing spaces  ',
  'Tab\tseparated\tthoughts',
  'Windows line break here\r\nand here.',
  '',
]);
const OWNER_IDS = ['3652397000000186017', '3652397000000411001', '3652397000000225013'];
const TAG_E = esc(['', 'VIP', 'Hot;Follow-up', 'Newsletter', 'Partner;Reseller;EMEA']);

const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et ' +
  'dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea ' +
  'commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur ' +
  'excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum'
).split(' ');

/**
 * Pool of pseudo-random words (no characters that need CSV quoting) used for padding. At 1 MiB it is
 * far larger than deflate's 32 KiB window, so padding compresses like real free text (about 3.5:1 at
 * level 1) instead of like a repeated block (an 8 KiB pool gave 7-9:1, which made inflate look faster
 * than it is on real exports).
 */
const POOL_SIZE = 1024 * 1024;
const POOL_BUF: Buffer = (() => {
  const rng = createRng(0xc0ffee);
  const parts: string[] = [];
  let len = 0;
  while (len < POOL_SIZE * 2) {
    const w = WORDS[rng() % WORDS.length]!;
    parts.push(w);
    len += w.length + 1;
  }
  return Buffer.from(parts.join(' ').slice(0, POOL_SIZE * 2), 'latin1');
})();

/** Copies `n` padding bytes into `dst` at `pos`; returns the new position. */
function writePadding(rng: () => number, dst: Buffer, pos: number, n: number): number {
  let p = pos;
  let left = n;
  while (left > 0) {
    const take = Math.min(left, POOL_SIZE);
    const start = rng() % (POOL_BUF.length - take + 1);
    POOL_BUF.copy(dst, p, start, start + take);
    p += take;
    left -= take;
  }
  return p;
}

// ---------------------------------------------------------------- columns

interface RowCtx {
  rng: () => number;
  id: string;
  n: number; // global record index (0-based)
  first: number;
  last: number;
}

type Gen = (c: RowCtx) => string;

const pick = (arr: string[], c: RowCtx): string => arr[c.rng() % arr.length]!;
const BASE_TIME = Date.UTC(2021, 0, 1, 0, 0, 0);
const OFFSET = '-07:00';
const OFFSET_MS = -7 * 3600 * 1000;

function isoWithOffset(ms: number): string {
  return `${new Date(ms + OFFSET_MS).toISOString().slice(0, 19)}${OFFSET}`;
}

const G: Record<string, Gen> = {
  First_Name: (c) => FIRST_E[c.first]!,
  Last_Name: (c) => LAST_E[c.last]!,
  Full_Name: (c) => csvEscape(`${FIRST[c.first]} ${LAST[c.last]}`),
  Email: (c) => (c.rng() % 13 === 0 ? '' : `${FIRST_SLUG[c.first]}.${LAST_SLUG[c.last]}${c.n}@example.com`),
  Secondary_Email: (c) => (c.rng() % 3 === 0 ? `${FIRST_SLUG[c.first]}${c.n}@mail.example.org` : ''),
  Phone: (c) => `+1 555 ${String(1000000 + (c.rng() % 9000000)).slice(1)}`,
  Mobile: (c) => (c.rng() % 2 === 0 ? `+44 7700 ${100000 + (c.rng() % 900000)}` : ''),
  Company: (c) => pick(COMPANY_E, c),
  Account_Name: (c) => `${ID_BASE + 500000000n + BigInt(c.rng() % 100000)}`,
  'Account_Name.Account_Name': (c) => pick(COMPANY_E, c),
  Contact_Name: (c) => `${ID_BASE + 600000000n + BigInt(c.rng() % 100000)}`,
  Lead_Source: (c) => pick(LEAD_SOURCE_E, c),
  Lead_Status: (c) => pick(LEAD_STATUS_E, c),
  Industry: (c) => pick(INDUSTRY_E, c),
  Stage: (c) => pick(STAGE_E, c),
  Annual_Revenue: (c) => (c.rng() % 5 === 0 ? '' : `${(c.rng() % 100000000) / 100}`),
  Amount: (c) => `${(c.rng() % 10000000) / 100}`,
  Probability: (c) => `${(c.rng() % 11) * 10}`,
  Employees: (c) => `${c.rng() % 50000}`,
  Website: (c) => (c.rng() % 4 === 0 ? '' : `https://www.${LAST_SLUG[c.last]}${c.n % 97}.example.com/`),
  Deal_Name: (c) => csvEscape(`${LAST[c.last]} – renewal #${c.n}`),
  Closing_Date: (c) => new Date(BASE_TIME + (c.rng() % 730) * 86400000).toISOString().slice(0, 10),
  Mailing_City: (c) => pick(CITY_E, c),
  Mailing_Country: (c) => pick(COUNTRY_E, c),
  Billing_City: (c) => pick(CITY_E, c),
  Billing_Country: (c) => pick(COUNTRY_E, c),
  City: (c) => pick(CITY_E, c),
  Country: (c) => pick(COUNTRY_E, c),
  Owner: (c) => pick(OWNER_IDS, c),
  'Owner.last_name': (c) => pick(LAST_E, c),
  $converted: (c) => (c.rng() % 4 === 0 ? 'true' : 'false'),
  Email_Opt_Out: (c) => (c.rng() % 6 === 0 ? 'true' : 'false'),
  Tag: (c) => pick(TAG_E, c),
  Name: (c) => csvEscape(`${FIRST[c.first]} ${LAST[c.last]}`),
  Subject: (c) => csvEscape(`Follow up with ${FIRST[c.first]}, ref ${c.n}`),
  Description: (c) => pick(DESCRIPTION_E, c),
  Created_Time: (c) => isoWithOffset(BASE_TIME + c.n * 37_000),
  Modified_Time: (c) => isoWithOffset(BASE_TIME + c.n * 37_000 + (c.rng() % 86400) * 1000),
};

const MODULE_COLUMNS: Record<string, string[]> = {
  Leads: [
    'id',
    'First_Name',
    'Last_Name',
    'Email',
    'Company',
    'Phone',
    'Lead_Source',
    'Lead_Status',
    'Annual_Revenue',
    'Owner',
    'Created_Time',
    'Modified_Time',
    'Description',
  ],
  Contacts: [
    'id',
    'First_Name',
    'Last_Name',
    'Email',
    'Phone',
    'Mobile',
    'Account_Name',
    'Mailing_City',
    'Mailing_Country',
    'Email_Opt_Out',
    'Owner',
    'Created_Time',
    'Modified_Time',
    'Description',
  ],
  Accounts: [
    'id',
    'Account_Name',
    'Website',
    'Phone',
    'Industry',
    'Employees',
    'Annual_Revenue',
    'Billing_City',
    'Billing_Country',
    'Tag',
    'Owner',
    'Created_Time',
    'Description',
  ],
  Deals: [
    'id',
    'Deal_Name',
    'Amount',
    'Stage',
    'Closing_Date',
    'Account_Name',
    'Contact_Name',
    'Probability',
    'Owner',
    'Created_Time',
    'Modified_Time',
    'Description',
  ],
};
const GENERIC_COLUMNS = ['id', 'Name', 'Email', 'Owner', 'Created_Time', 'Modified_Time', 'Description'];

/** Header columns (without the padding column) for a module and optional requested fields. */
export function columnsFor(module: string | undefined, fields?: string[]): string[] {
  if (fields && fields.length > 0 && fields.length <= 200) {
    const cols = [...new Set(fields)];
    return cols.includes('id') ? cols : ['id', ...cols];
  }
  return MODULE_COLUMNS[module ?? ''] ?? GENERIC_COLUMNS;
}

function generatorFor(col: string, module: string | undefined): Gen {
  if (col === 'Account_Name' && module === 'Accounts') return G.Company!;
  const g = G[col];
  if (g) return g;
  // unknown field: short deterministic text, sometimes empty
  return (c) => (c.rng() % 7 === 0 ? '' : `${col.toLowerCase()}-${c.rng() % 100000}`);
}

// ---------------------------------------------------------------- generation

/** The CSV bytes of one bulk-read result page; identical bytes for an identical spec. */
export async function* csvForJob(spec: CsvSpec): AsyncGenerator<Buffer> {
  yield* csvChunks(spec);
}

/** Synchronous generator behind csvForJob (handy for benchmarks). */
export function* csvChunks(spec: CsvSpec): Generator<Buffer> {
  const page = spec.page ?? 1;
  const perPage = spec.perPage ?? 200000;
  const firstRecord = spec.firstRecord ?? (page - 1) * perPage;
  const eol = spec.lineEnding ?? '\n';
  const chunkSize = spec.chunkSize ?? 64 * 1024;
  const padding = Math.max(0, Math.floor(spec.padding ?? 0));
  const cols = columnsFor(spec.module, spec.fields);
  const gens = cols.map((c) => (c === 'id' ? null : generatorFor(c, spec.module)));
  const header = [...cols, ...(padding > 0 ? [PADDING_COLUMN] : [])].map(csvEscape).join(',');
  const rng = createRng(hashSeed(`${spec.jobId}#${page}`));
  const ctx: RowCtx = { rng, id: '', n: 0, first: 0, last: 0 };

  // Rows are encoded straight into a chunk buffer; padding bytes are copied from a pre-encoded pool.
  const eolBytes = eol.length;
  let buf = Buffer.allocUnsafe(chunkSize + 4096);
  let pos = 0;
  const ensure = (need: number): Buffer | null => {
    if (pos + need <= buf.length) return null;
    const out = pos > 0 ? buf.subarray(0, pos) : null;
    buf = Buffer.allocUnsafe(Math.max(chunkSize + 4096, need));
    pos = 0;
    return out;
  };
  pos += buf.write(header + eol, pos, 'utf8');
  for (let i = 0; i < spec.records; i++) {
    const n = firstRecord + i;
    ctx.n = n;
    ctx.id = `${ID_BASE + BigInt(n + 1)}`;
    const r = rng();
    ctx.first = r & 15;
    ctx.last = (r >>> 4) & 15;
    let row = '';
    for (let j = 0; j < gens.length; j++) {
      const g = gens[j];
      const v = g ? g(ctx) : ctx.id;
      row = j === 0 ? v : `${row},${v}`;
    }
    if (padding > 0) row += ',';
    const full = ensure(row.length * 3 + padding + eolBytes);
    if (full) yield full;
    pos += buf.write(row, pos, 'utf8');
    if (padding > 0) pos = writePadding(rng, buf, pos, padding);
    if (eolBytes === 2) buf[pos++] = 0x0d;
    buf[pos++] = 0x0a;
    if (pos >= chunkSize) {
      yield buf.subarray(0, pos);
      buf = Buffer.allocUnsafe(chunkSize + 4096);
      pos = 0;
    }
  }
  if (pos > 0) yield buf.subarray(0, pos);
}

/** A simple ICS calendar for Events exported with file_type "ics". */
export async function* icsForJob(spec: CsvSpec): AsyncGenerator<Buffer> {
  const page = spec.page ?? 1;
  const firstRecord = spec.firstRecord ?? (page - 1) * (spec.perPage ?? 20000);
  const rng = createRng(hashSeed(`${spec.jobId}#${page}#ics`));
  let batch = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Zoho Corporation//Zoho CRM//EN\r\n';
  for (let i = 0; i < spec.records; i++) {
    const n = firstRecord + i;
    const start = BASE_TIME + n * 3_600_000;
    const fmt = (ms: number) => `${new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
    batch +=
      `BEGIN:VEVENT\r\nUID:${ID_BASE + BigInt(n + 1)}\r\nDTSTAMP:${fmt(start)}\r\nDTSTART:${fmt(start)}\r\n` +
      `DTEND:${fmt(start + 1_800_000)}\r\nSUMMARY:Meeting ${FIRST[rng() & 15]} ${LAST[rng() & 15]}\r\nEND:VEVENT\r\n`;
    if (batch.length >= 64 * 1024) {
      yield Buffer.from(batch, 'utf8');
      batch = '';
    }
  }
  yield Buffer.from(`${batch}END:VCALENDAR\r\n`, 'utf8');
}

// ---------------------------------------------------------------- counting

/**
 * Counts CSV records (rows excluding the header) per RFC 4180: a newline inside a quoted value does
 * not end a record, so a multi-line record counts once. CRLF and LF both end records. A final record
 * without a trailing newline counts.
 */
export async function csvRecordCount(
  input: Buffer | string | AsyncIterable<Buffer | Uint8Array>,
): Promise<number> {
  let inQuotes = false;
  let rows = 0;
  let rowHasData = false;
  const feed = (buf: Uint8Array) => {
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (b === 0x22) {
        inQuotes = !inQuotes; // "" toggles twice
        rowHasData = true;
      } else if (b === 0x0a && !inQuotes) {
        rows++;
        rowHasData = false;
      } else if (b !== 0x0d || inQuotes) {
        rowHasData = true;
      }
    }
  };
  if (typeof input === 'string') feed(Buffer.from(input, 'utf8'));
  else if (input instanceof Uint8Array) feed(input);
  else for await (const chunk of input) feed(chunk);
  if (rowHasData) rows++;
  return Math.max(0, rows - 1);
}
