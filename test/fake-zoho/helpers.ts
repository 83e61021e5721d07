import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import type { FakeZoho } from '../../local/fake-zoho/index.js';

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

export async function mintToken(fake: FakeZoho, refreshToken = 'fake-refresh-token'): Promise<string> {
  const res = await fetch(`${fake.accountsUrl}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      refresh_token: refreshToken,
      client_id: 'fake-client-id',
      client_secret: 'fake-client-secret',
      grant_type: 'refresh_token',
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return body.access_token;
}

export function authed(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Zoho-oauthtoken ${token}`, ...extra };
}

export async function createJob(
  fake: FakeZoho,
  token: string,
  body: unknown,
  version = 'v8',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${fake.apiDomain}/crm/bulk/${version}/read`, {
    method: 'POST',
    headers: authed(token, { 'content-type': 'application/json' }),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

// biome-ignore lint/suspicious/noExplicitAny: tests walk arbitrary JSON responses
export type Json = any;

export async function getJson(url: string, token: string): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, { headers: authed(token) });
  return { status: res.status, json: await res.json() };
}

export interface ParsedZip {
  flags: number;
  localExtraLength: number;
  localCrc: number;
  localCsize: number;
  localUsize: number;
  name: string;
  crc: number;
  csize: number;
  usize: number;
  descriptor: { crc: number; csize: number; usize: number; length: number };
  zip64: boolean;
  cdExtra: Buffer;
  data: Buffer;
}

/** Minimal reader for the single-entry archives the fake writes (validates the structure). */
export function parseZip(zip: Buffer): ParsedZip {
  const eocdAt = zip.length - 22;
  if (zip.readUInt32LE(eocdAt) !== 0x06054b50) throw new Error('no EOCD');
  let cdOffset = zip.readUInt32LE(eocdAt + 16);
  const zip64 = cdOffset === 0xffffffff;
  if (zip64) {
    const locAt = eocdAt - 20;
    if (zip.readUInt32LE(locAt) !== 0x07064b50) throw new Error('no zip64 locator');
    const z64At = Number(zip.readBigUInt64LE(locAt + 8));
    if (zip.readUInt32LE(z64At) !== 0x06064b50) throw new Error('no zip64 EOCD');
    cdOffset = Number(zip.readBigUInt64LE(z64At + 48));
  }
  if (zip.readUInt32LE(cdOffset) !== 0x02014b50) throw new Error('no central directory');
  const nameLen = zip.readUInt16LE(cdOffset + 28);
  const extraLen = zip.readUInt16LE(cdOffset + 30);
  const name = zip.toString('utf8', cdOffset + 46, cdOffset + 46 + nameLen);
  const cdExtra = zip.subarray(cdOffset + 46 + nameLen, cdOffset + 46 + nameLen + extraLen);
  let crc = zip.readUInt32LE(cdOffset + 16);
  let csize = zip.readUInt32LE(cdOffset + 20);
  let usize = zip.readUInt32LE(cdOffset + 24);
  if (csize === 0xffffffff) {
    if (cdExtra.readUInt16LE(0) !== 1) throw new Error('no zip64 extra');
    usize = Number(cdExtra.readBigUInt64LE(4));
    csize = Number(cdExtra.readBigUInt64LE(12));
  }
  if (zip.readUInt32LE(0) !== 0x04034b50) throw new Error('no local header');
  const flags = zip.readUInt16LE(6);
  const lNameLen = zip.readUInt16LE(26);
  const lExtraLen = zip.readUInt16LE(28);
  const dataAt = 30 + lNameLen + lExtraLen;
  const data = zip.subarray(dataAt, dataAt + csize);
  const dAt = dataAt + csize;
  if (zip.readUInt32LE(dAt) !== 0x08074b50) throw new Error('no data descriptor');
  const descriptor = zip64
    ? {
        crc: zip.readUInt32LE(dAt + 4),
        csize: Number(zip.readBigUInt64LE(dAt + 8)),
        usize: Number(zip.readBigUInt64LE(dAt + 16)),
        length: 24,
      }
    : {
        crc: zip.readUInt32LE(dAt + 4),
        csize: zip.readUInt32LE(dAt + 8),
        usize: zip.readUInt32LE(dAt + 12),
        length: 16,
      };
  crc = crc >>> 0;
  return {
    flags,
    localExtraLength: lExtraLen,
    localCrc: zip.readUInt32LE(14),
    localCsize: zip.readUInt32LE(18),
    localUsize: zip.readUInt32LE(22),
    name,
    crc,
    csize,
    usize,
    descriptor,
    zip64,
    cdExtra,
    data,
  };
}

/** Inflates the entry and checks CRC and sizes like an unzipper would. */
export function extractVerified(zip: Buffer): { name: string; content: Buffer } {
  const z = parseZip(zip);
  const content = inflateRawSync(z.data);
  if (content.length !== z.usize) throw new Error(`size mismatch ${content.length} != ${z.usize}`);
  if (crc32(content) !== z.crc) throw new Error('crc mismatch');
  return { name: z.name, content };
}

export const hasUnzip = existsSync('/usr/bin/unzip') || existsSync('/bin/unzip');

/** Runs the system `unzip`: `-p` to extract, or `-t` to test (throws on a bad archive). */
export function systemUnzip(zip: Buffer, mode: '-p' | '-t'): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'fake-zoho-'));
  try {
    const file = join(dir, 'a.zip');
    writeFileSync(file, zip);
    return execFileSync('unzip', mode === '-p' ? ['-p', file] : ['-t', file], {
      maxBuffer: 512 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Small RFC 4180 parser for assertions. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (q) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') q = false;
      else field += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      if (ch === '\r') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The raw text of each CSV record (header first), split on record separators outside quotes. */
export function csvRecords(text: string): string[] {
  const out: string[] = [];
  let q = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') q = !q;
    else if (ch === '\n' && !q) {
      out.push(text.slice(start, i + 1));
      start = i + 1;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** Mints an access token for any client of the fake. */
export async function mintFor(
  fake: FakeZoho,
  client: { clientId: string; clientSecret: string; refreshToken: string },
): Promise<{ token: string; scope: string }> {
  const res = await fetch(`${fake.accountsUrl}/oauth/v2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      refresh_token: client.refreshToken,
      client_id: client.clientId,
      client_secret: client.clientSecret,
      grant_type: 'refresh_token',
    }),
  });
  const body = (await res.json()) as { access_token?: string; scope?: string };
  if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return { token: body.access_token, scope: body.scope ?? '' };
}

/** Creates a job over HTTP and returns its id (asserting the 201). */
export async function createdId(
  fake: FakeZoho,
  token: string,
  body: unknown,
  version = 'v8',
): Promise<string> {
  const r = await createJob(fake, token, body, version);
  if (r.status !== 201) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.json)}`);
  return (r.json as Json).data[0].details.id as string;
}

/** Downloads a job's ZIP and returns the CSV inside. */
export async function downloadCsv(
  fake: FakeZoho,
  token: string,
  id: string,
  version = 'v8',
): Promise<Buffer> {
  const res = await fetch(`${fake.apiDomain}/crm/bulk/${version}/read/${id}/result`, {
    headers: authed(token),
  });
  if (res.status !== 200) throw new Error(`download answered ${res.status}: ${await res.text()}`);
  return extractVerified(Buffer.from(await res.arrayBuffer())).content;
}
