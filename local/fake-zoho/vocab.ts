/**
 * Building blocks of the fake's CSV values: hashing, a seedable PRNG, RFC 4180 escaping, word lists
 * (pre-escaped where they hold commas, quotes or line breaks) and the padding pool.
 *
 * Everything is deterministic: no Math.random, no clock.
 */

// ---------------------------------------------------------------- hashing and PRNG

/** FNV-1a of a string (32 bits). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: a good mixer for combining seeds. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Seed of record `n` at `version`, for a salt (a module, or a seeded job's id and page). */
export function recordSeed(salt: number, n: number, version: number): number {
  return mix32(salt ^ mix32(Math.imul(n | 0, 0x9e3779b1) ^ Math.imul(version + 1, 0x85ebca77)));
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

/**
 * The state a value generator sees: the record, and a PRNG that the row writer reseeds for every
 * (record, version, field), so a field's value never depends on which other fields are exported.
 */
export class RowCtx {
  private a = 0;
  /** 0-based record index. */
  n = 0;
  id = '';
  version = 0;
  createdMs = 0;
  modifiedMs = 0;
  /** The parent record's id (line items of a subform module; '' otherwise). */
  parent = '';
  /** How often the record version's formulas were recomputed (0: never; records.ts). */
  formulaGen = 0;
  /** Seed of the record (salt, index, version). */
  seed = 0;
  /** Name indices (0..15) shared by the fields of one record, so Email matches First/Last_Name. */
  first = 0;
  last = 0;

  reseed(s: number): void {
    this.a = s | 0;
  }

  rng(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.a ^ (this.a >>> 15), 1 | this.a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Sets the record: seed and name indices. */
  setRecord(salt: number, n: number, version: number): void {
    this.n = n;
    this.version = version;
    this.seed = recordSeed(salt, n, version);
    const r = mix32(this.seed ^ 0x2545f491);
    this.first = r & 15;
    this.last = (r >>> 4) & 15;
  }
}

// ---------------------------------------------------------------- CSV escaping

const NEEDS_QUOTES = /[",\r\n]/;

export function csvEscape(v: string): string {
  if (v === '') return '';
  if (NEEDS_QUOTES.test(v)) return `"${v.replace(/"/g, '""')}"`;
  return v;
}

export const esc = (values: readonly string[]): string[] => values.map(csvEscape);

// ---------------------------------------------------------------- time formats

/** Base of the implicit record times: 2021-01-01T00:00:00Z. */
export const BASE_TIME = Date.UTC(2021, 0, 1, 0, 0, 0);
export const OFFSET_MINUTES = -420;
const OFFSET_MS = OFFSET_MINUTES * 60_000;

/**
 * Zoho's datetime text: ISO 8601 with the org's offset and no milliseconds, e.g.
 * 2021-07-25T02:13:17-07:00 (the fake's org is at -07:00).
 */
export function isoWithOffset(ms: number, offsetMinutes = OFFSET_MINUTES): string {
  const d = new Date(ms + offsetMinutes * 60000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${d.toISOString().slice(0, 19)}${sign}${hh}:${mm}`;
}

const DAY_MS = 86_400_000;
const DAY_CACHE = new Map<number, string>();
/** `YYYY-MM-DD` of day number `day` since the epoch (cached: CSV rows format many dates). */
function dayText(day: number): string {
  let t = DAY_CACHE.get(day);
  if (t === undefined) {
    if (DAY_CACHE.size > 200_000) DAY_CACHE.clear();
    t = new Date(day * DAY_MS).toISOString().slice(0, 10);
    DAY_CACHE.set(day, t);
  }
  return t;
}
let TIME_OF_DAY: string[] | undefined;
/** `THH:mm:ss-07:00` for every second of a day. */
function timeOfDay(): string[] {
  if (!TIME_OF_DAY) {
    const two = (n: number) => (n < 10 ? `0${n}` : String(n));
    TIME_OF_DAY = new Array<string>(86400);
    for (let s = 0; s < 86400; s++) {
      TIME_OF_DAY[s] = `T${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}-07:00`;
    }
  }
  return TIME_OF_DAY;
}

/** Fast path of isoWithOffset for the org offset (used per CSV row). */
export function orgDateTime(ms: number): string {
  const local = ms + OFFSET_MS;
  const day = Math.floor(local / DAY_MS);
  const sec = Math.floor((local - day * DAY_MS) / 1000);
  return dayText(day) + timeOfDay()[sec];
}

/** Zoho's date text: YYYY-MM-DD. */
export function isoDate(ms: number): string {
  return dayText(Math.floor(ms / DAY_MS));
}

/** `yyyy-MM-ddTHH:mm:ss±hh:mm`, the only datetime form the fake accepts in criteria. */
export const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-])(\d{2}):(\d{2})$/;
export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export function parseZohoDateTime(s: string): number | undefined {
  if (!DATETIME_RE.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}

// ---------------------------------------------------------------- word lists

export const FIRST = [
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
export const FIRST_SLUG = [
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
export const LAST = [
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
export const LAST_SLUG = [
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
export const FIRST_E = esc(FIRST);
export const LAST_E = esc(LAST);
export const FULL_E: string[] = [];
for (let f = 0; f < 16; f++) for (let l = 0; l < 16; l++) FULL_E.push(csvEscape(`${FIRST[f]} ${LAST[l]}`));

export const COMPANIES = [
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
];
export const COMPANY_E = esc(COMPANIES);
export const CITY_E = esc([
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
export const STATE_E = esc(['CA', 'TX', 'Bayern', 'Tamil Nadu', 'Québec', '', 'NSW']);
export const COUNTRY_E = esc([
  'India',
  'Switzerland',
  'Brazil',
  'Germany',
  'Japan',
  'USA',
  'Iceland',
  'Canada',
  '',
]);
export const STREET_E = esc([
  '221B Baker Street',
  '1 Infinite Loop',
  'Bahnhofstrasse 12, 3. OG',
  '',
  '742 Evergreen Terrace',
  'Rua Augusta, 1500',
  'Apt. 4\nBuilding "C"',
]);
export const TITLE_E = esc([
  'CEO',
  'VP Sales',
  'Head of IT, EMEA',
  'Buyer',
  '',
  'Ingénieur',
  'Marketing Manager',
]);
export const DESCRIPTION_E = esc([
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
export const NEXT_STEP_E = esc(['', 'Send proposal', 'Demo on Tuesday, 10:00', 'Call back', 'Wait for "go"']);

export const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et ' +
  'dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea ' +
  'commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur ' +
  'excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum'
).split(' ');

// ---------------------------------------------------------------- padding

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
export function writePadding(c: RowCtx, dst: Buffer, pos: number, n: number): number {
  let p = pos;
  let left = n;
  while (left > 0) {
    const take = Math.min(left, POOL_SIZE);
    const start = c.rng() % (POOL_BUF.length - take + 1);
    POOL_BUF.copy(dst, p, start, start + take);
    p += take;
    left -= take;
  }
  return p;
}
