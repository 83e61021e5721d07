/**
 * CSV (and ICS) bytes of a bulk read result. Values come from the field table in fields.ts; each value
 * is a deterministic function of (salt, record index, record version, field):
 *   - jobs created over HTTP read a module record store: the salt is the module's, so an unmodified
 *     record is byte-identical in every export of that module;
 *   - jobs seeded with addJob (and csvForJob) use a salt made of the job id and page, so two seeded
 *     jobs of the same size still hold different rows.
 * Rows are encoded straight into ~chunkSize buffers; padding bytes are copied from a pre-built pool.
 */
import { type Column, columnsFor, genericColumn, implicitTimes, resolveColumn } from './fields.js';
import type { RecordView } from './records.js';
import { csvEscape, FIRST, hashString, LAST, mix32, RowCtx, writePadding } from './vocab.js';

export { columnsFor } from './fields.js';
export { createRng, csvEscape } from './vocab.js';

export interface CsvSpec {
  /** Job id: seeds the values (together with the page). */
  jobId: string;
  /** Module API name (Leads, Contacts, Accounts, Deals have rich field sets; others a generic one). */
  module?: string;
  /** Requested field API names (column order follows them; `id` is added first when missing). */
  fields?: string[];
  /** Number of records in this file (rows excluding the header). */
  records: number;
  /** 0-based index of the first record across the whole query (for record ids), default (page-1)*perPage. */
  firstRecord?: number;
  /** Page of the query, default 1 (seeds the values). */
  page?: number;
  /** Records per page, used to compute firstRecord when it is not given; default 200000. */
  perPage?: number;
  /** Adds a column `Long_Text__c` with this many characters per row. */
  padding?: number;
  /** Record separator, default '\n'. Line breaks inside quoted values are as the vocabulary has them. */
  lineEnding?: '\n' | '\r\n';
  /** Approximate size of the emitted chunks, default 64 KiB. */
  chunkSize?: number;
}

export const ID_BASE = 3652397000000000000n;
export const PADDING_COLUMN = 'Long_Text__c';
const PAD_SEED = 0x5eed_9ad;

/** Record id of a seeded job's record n: ID_BASE + n + 1. */
export function seededRecordId(n: number): string {
  return `3652397${String(n + 1).padStart(12, '0')}`;
}

export interface CsvPlan {
  module: string;
  /** Columns; null is the record id. */
  cols: (Column | null)[];
  header: string[];
  salt: number;
  padding: number;
  lineEnding: '\n' | '\r\n';
  chunkSize: number;
}

/**
 * Columns of a query. `strict`: a field the module does not have is an error (returns its name);
 * otherwise (seeded jobs) it gets generic text.
 */
export function planColumns(
  module: string,
  fields: string[] | undefined,
  strict: boolean,
): { cols: (Column | null)[]; header: string[] } | { unknown: string } {
  const names = columnsFor(module, fields);
  const cols: (Column | null)[] = [];
  for (const name of names) {
    if (name === 'id') {
      cols.push(null);
      continue;
    }
    const c = resolveColumn(module, name);
    if (!c && strict) return { unknown: name };
    cols.push(c ?? genericColumn(name));
  }
  return { cols, header: names };
}

/** Salt of a seeded job's values. */
export function seededSalt(jobId: string, page: number): number {
  return hashString(`${jobId}#${page}`);
}

/** Records n = first … first+count-1 of a seeded job: never modified, implicit times. */
export function* seededRecords(salt: number, first: number, count: number): Generator<RecordView> {
  const r: RecordView = { n: 0, id: '', version: 0, createdMs: 0, modifiedMs: 0 };
  for (let i = 0; i < count; i++) {
    const n = first + i;
    r.n = n;
    r.id = seededRecordId(n);
    const t = implicitTimes(salt, n);
    r.createdMs = t.createdMs;
    r.modifiedMs = t.modifiedMs;
    yield r;
  }
}

/** The CSV bytes for `records` under `plan`. */
export function* csvRows(plan: CsvPlan, records: Iterable<RecordView>): Generator<Buffer> {
  const { cols, salt } = plan;
  const eol = plan.lineEnding;
  const chunkSize = plan.chunkSize;
  const padding = Math.max(0, Math.floor(plan.padding));
  const header = [
    ...plan.header,
    ...(padding > 0 && !plan.header.includes(PADDING_COLUMN) ? [PADDING_COLUMN] : []),
  ]
    .map(csvEscape)
    .join(',');
  const ctx = new RowCtx();
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
  const first = ensure(Buffer.byteLength(header) + 2);
  if (first) yield first;
  pos += buf.write(header + eol, pos, 'utf8');
  const ncols = cols.length;
  for (const r of records) {
    ctx.setRecord(salt, r.n, r.version);
    ctx.id = r.id;
    ctx.createdMs = r.createdMs;
    ctx.modifiedMs = r.modifiedMs;
    ctx.parent = r.parent ?? '';
    ctx.formulaGen = r.formulaGen ?? 0;
    let row = '';
    for (let j = 0; j < ncols; j++) {
      const col = cols[j];
      let v: string;
      if (col === null || col === undefined) v = r.id;
      else {
        ctx.reseed(mix32(ctx.seed ^ col.seed));
        v = col.gen(ctx);
      }
      row = j === 0 ? v : `${row},${v}`;
    }
    if (padding > 0) row += ',';
    const full = ensure(row.length * 3 + padding + eolBytes);
    if (full) yield full;
    pos += buf.write(row, pos, 'utf8');
    if (padding > 0) {
      ctx.reseed(mix32(ctx.seed ^ PAD_SEED));
      pos = writePadding(ctx, buf, pos, padding);
    }
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

function seededPlan(spec: CsvSpec): { plan: CsvPlan; first: number } {
  const page = spec.page ?? 1;
  const perPage = spec.perPage ?? 200000;
  const module = spec.module ?? 'Contacts';
  const planned = planColumns(module, spec.fields, false);
  if ('unknown' in planned) throw new Error(`unknown field ${planned.unknown}`);
  return {
    plan: {
      module,
      ...planned,
      salt: seededSalt(spec.jobId, page),
      padding: spec.padding ?? 0,
      lineEnding: spec.lineEnding ?? '\n',
      chunkSize: spec.chunkSize ?? 64 * 1024,
    },
    first: spec.firstRecord ?? (page - 1) * perPage,
  };
}

/** The CSV bytes of one seeded bulk-read result page; identical bytes for an identical spec. */
export async function* csvForJob(spec: CsvSpec): AsyncGenerator<Buffer> {
  yield* csvChunks(spec);
}

/** Synchronous generator behind csvForJob (handy for benchmarks). */
export function* csvChunks(spec: CsvSpec): Generator<Buffer> {
  const { plan, first } = seededPlan(spec);
  yield* csvRows(plan, seededRecords(plan.salt, first, spec.records));
}

// ---------------------------------------------------------------- ICS

/** An ICS calendar of `records` (Events exported with file_type "ics"). */
export function* icsRows(salt: number, records: Iterable<RecordView>): Generator<Buffer> {
  const ctx = new RowCtx();
  const fmt = (ms: number) => `${new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
  let batch = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Zoho Corporation//Zoho CRM//EN\r\n';
  for (const r of records) {
    ctx.setRecord(salt, r.n, r.version);
    const start = r.createdMs + 3_600_000;
    batch +=
      `BEGIN:VEVENT\r\nUID:${r.id}\r\nDTSTAMP:${fmt(r.modifiedMs)}\r\nDTSTART:${fmt(start)}\r\n` +
      `DTEND:${fmt(start + 1_800_000)}\r\nSUMMARY:Meeting ${FIRST[ctx.first]} ${LAST[ctx.last]}\r\nEND:VEVENT\r\n`;
    if (batch.length >= 64 * 1024) {
      yield Buffer.from(batch, 'utf8');
      batch = '';
    }
  }
  yield Buffer.from(`${batch}END:VCALENDAR\r\n`, 'utf8');
}

/** A simple ICS calendar for a seeded Events job exported with file_type "ics". */
export async function* icsForJob(spec: CsvSpec): AsyncGenerator<Buffer> {
  const page = spec.page ?? 1;
  const first = spec.firstRecord ?? (page - 1) * (spec.perPage ?? 20000);
  const salt = seededSalt(spec.jobId, page);
  yield* icsRows(salt, seededRecords(salt, first, spec.records));
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
