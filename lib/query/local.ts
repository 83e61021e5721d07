/**
 * The local stack's Athena: DuckDB over the local stack's files, with the same database, table and view
 * names. s3rver keeps objects under names of its own, so each object a table needs is fetched through
 * the S3 API into a cache under the data dir (reused while its ETag holds). Then, in a fresh in-memory
 * DuckDB: schema `<database>`; each table of the local file catalog (Glue TableInput JSON) a view over
 * exactly its current files (Parquet with hive partitions; JSON for the manifests' `zoho_exports`);
 * each catalog view (Athena's `/* Presto View: base64 *\/` text) a DuckDB view over its original SQL.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { z } from 'zod';
import { EXPORTS_TABLE_NAME, exportsTableInput } from '../exports/catalog.js';
import { QueryError } from './errors.js';
import {
  type QueryResult,
  type QueryValue,
  timestampValue,
  type ValueKind,
  valueFromText,
} from './values.js';

const catalogEntry = z.object({
  Name: z.string().regex(/^[A-Za-z0-9_]+$/),
  TableType: z.string().optional(),
  Parameters: z.record(z.string(), z.string()).optional(),
  PartitionKeys: z.array(z.object({ Name: z.string(), Type: z.string() })).optional(),
  ViewOriginalText: z.string().optional(),
  StorageDescriptor: z
    .object({
      Columns: z.array(z.object({ Name: z.string(), Type: z.string() })),
      Location: z.string().optional(),
    })
    .optional(),
});
export type CatalogEntry = z.infer<typeof catalogEntry>;

const prestoView = z.object({ originalSql: z.string().min(1) });

export interface LocalQueryTarget {
  s3: S3Client;
  bucket: string;
  /** The export prefix (`zoho-crm`): where the manifests of `zoho_exports` are. */
  prefix: string;
  /** The local stack's data dir: its `catalog/<database>/*.json`, and the cache goes under it. */
  dataDir: string;
  database: string;
}

export interface LocalOutcome extends QueryResult {
  /** Objects fetched from S3 for this query (the others came from the cache). */
  fetched: number;
  fetchedBytes: number;
  /** Catalog views DuckDB could not create (their SQL is not DuckDB's), with why. */
  skippedViews: Array<{ view: string; reason: string }>;
}

export const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;
const lit = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** The SQL of an Athena view from its `ViewOriginalText`: `/* Presto View: <base64 JSON> *\/`. */
export function viewSql(text: string): string {
  const m = /^\/\* Presto View: ([A-Za-z0-9+/=]+) \*\/$/.exec(text.trim());
  if (!m) throw new QueryError('BAD_VIEW', 'invalid', 'not an Athena view text (/* Presto View: ... */)');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8'));
  } catch {
    throw new QueryError('BAD_VIEW', 'invalid', 'the view text is not base64 JSON');
  }
  const parsed = prestoView.safeParse(json);
  if (!parsed.success) throw new QueryError('BAD_VIEW', 'invalid', 'the view has no originalSql');
  return parsed.data.originalSql;
}

/** A Glue/Hive type as DuckDB's: `bigint` BIGINT, `array<string>` VARCHAR[], `struct<a:int>` STRUCT("a" INTEGER). */
export function duckType(glue: string): string {
  let i = 0;
  const s = glue.replace(/\s+/g, '');
  const parse = (): string => {
    const word = /^[a-z_]+(\(\d+(,\d+)?\))?/i.exec(s.slice(i))?.[0] ?? '';
    i += word.length;
    const base = word.toLowerCase().replace(/\(.*/, '');
    if (base === 'array') {
      i++; // <
      const inner = parse();
      i++; // >
      return `${inner}[]`;
    }
    if (base === 'struct') {
      i++;
      const fields: string[] = [];
      while (s[i] !== '>' && i < s.length) {
        const name = /^[^:]+/.exec(s.slice(i))![0];
        i += name.length + 1;
        fields.push(`${ident(name)} ${parse()}`);
        if (s[i] === ',') i++;
      }
      i++;
      return `STRUCT(${fields.join(', ')})`;
    }
    const scalar: Record<string, string> = {
      string: 'VARCHAR',
      varchar: 'VARCHAR',
      char: 'VARCHAR',
      bigint: 'BIGINT',
      int: 'INTEGER',
      integer: 'INTEGER',
      smallint: 'SMALLINT',
      tinyint: 'TINYINT',
      double: 'DOUBLE',
      float: 'FLOAT',
      boolean: 'BOOLEAN',
      date: 'DATE',
      timestamp: 'TIMESTAMP',
    };
    if (base === 'decimal') return word.toUpperCase();
    return scalar[base] ?? 'VARCHAR';
  };
  return parse();
}

/** `s3://bucket/a/b/` → its bucket and key prefix. */
function s3Location(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m) throw new QueryError('BAD_CATALOG', 'config', `not an s3:// location: ${url}`);
  return { bucket: m[1]!, prefix: m[2]!.endsWith('/') || m[2] === '' ? m[2]! : `${m[2]}/` };
}

/** Every entry of the local file catalog (a missing dir: none yet). A file that does not parse is skipped. */
export async function readFileCatalog(
  dir: string,
  warn: (line: string) => void = () => undefined,
): Promise<CatalogEntry[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: CatalogEntry[] = [];
  for (const n of names) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(join(dir, n), 'utf8'));
    } catch {
      raw = undefined;
    }
    const parsed = catalogEntry.safeParse(raw);
    if (parsed.success) out.push(parsed.data);
    else warn(`note: ignoring catalog file ${join(dir, n)}: not a Glue table`);
  }
  return out;
}

interface CachedObject {
  key: string;
  path: string;
}

/**
 * The table's current objects (ending in `ext`) under `location`, each in the cache at
 * `<cache>/<relative dir>/<name>.<etag><ext>`: an object rewritten in place (a re-conversion) has a new
 * ETag, so a new cache file; cache files no longer listed are removed.
 */
async function cacheObjects(
  t: LocalQueryTarget,
  location: string,
  ext: string,
  cacheDir: string,
  counters: { fetched: number; bytes: number },
): Promise<CachedObject[]> {
  const { bucket, prefix } = s3Location(location);
  const objects: Array<{ key: string; etag: string; size: number }> = [];
  let token: string | undefined;
  do {
    const page = await t.s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key?.endsWith(ext))
        objects.push({ key: o.Key, etag: (o.ETag ?? '').replace(/"/g, ''), size: o.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);

  const limit = pLimit(4);
  const wanted = new Set<string>();
  const cached = await Promise.all(
    objects.map((o) =>
      limit(async (): Promise<CachedObject> => {
        const rel = o.key.slice(prefix.length);
        const safeEtag = o.etag.replace(/[^A-Za-z0-9-]/g, '') || 'noetag';
        const file = join(cacheDir, posix.dirname(rel), `${posix.basename(rel, ext)}.${safeEtag}${ext}`);
        wanted.add(file);
        const have = await stat(file).catch(() => undefined);
        if (have?.size === o.size) return { key: o.key, path: file };
        await mkdir(dirname(file), { recursive: true });
        const got = await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
        const tmp = `${file}.partial`;
        await pipeline(got.Body as Readable, createWriteStream(tmp));
        await rename(tmp, file);
        counters.fetched++;
        counters.bytes += o.size;
        return { key: o.key, path: file };
      }),
    ),
  );
  await prune(cacheDir, wanted);
  return cached;
}

async function prune(dir: string, keep: Set<string>): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && !keep.has(p)) await rm(p, { force: true });
  }
}

/** `SELECT NULL::T AS c, ... WHERE false`: a table with no file yet still has its columns. */
function emptyTableSql(entry: CatalogEntry): string {
  const cols = [...(entry.StorageDescriptor?.Columns ?? []), ...(entry.PartitionKeys ?? [])];
  if (!cols.length) return 'SELECT NULL AS "_empty" WHERE false';
  return `SELECT ${cols.map((c) => `CAST(NULL AS ${duckType(c.Type)}) AS ${ident(c.Name)}`).join(', ')} WHERE false`;
}

type DuckDBModule = typeof import('@duckdb/node-api');
type DuckType = import('@duckdb/node-api').DuckDBType;

export async function runLocalQuery(
  t: LocalQueryTarget,
  sql: string,
  opts: { warn?: (line: string) => void } = {},
): Promise<LocalOutcome> {
  const warn = opts.warn ?? (() => undefined);
  const duck: DuckDBModule = await import('@duckdb/node-api');
  const entries = await readFileCatalog(join(t.dataDir, 'catalog', t.database), warn);
  // zoho_exports is the stack's table (not written by an export): the same definition here.
  if (!entries.some((e) => e.Name === EXPORTS_TABLE_NAME)) {
    entries.push(catalogEntry.parse(exportsTableInput({ bucket: t.bucket, prefix: t.prefix })));
  }
  const cacheRoot = join(t.dataDir, 'query-cache', t.database);
  const counters = { fetched: 0, bytes: 0 };

  const db = await duck.DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    await con.run("SET TimeZone = 'UTC'");
    await con.run(`CREATE SCHEMA ${ident(t.database)}`);
    const qualified = (name: string) => `${ident(t.database)}.${ident(name)}`;
    const views: Array<{ name: string; sql: string }> = [];
    for (const e of entries) {
      if (e.TableType === 'VIRTUAL_VIEW') {
        try {
          views.push({ name: e.Name, sql: viewSql(e.ViewOriginalText ?? '') });
        } catch (err) {
          warn(`note: view ${e.Name} skipped: ${(err as Error).message}`);
        }
        continue;
      }
      const location = e.StorageDescriptor?.Location;
      if (!location) continue;
      const json = e.Parameters?.classification === 'json';
      const files = await cacheObjects(
        t,
        location,
        json ? '.json' : '.parquet',
        join(cacheRoot, e.Name),
        counters,
      );
      const list = `[${files.map((f) => lit(f.path)).join(', ')}]`;
      let body: string;
      if (!files.length) body = emptyTableSql(e);
      else if (json) {
        const cols = (e.StorageDescriptor?.Columns ?? []).map(
          (c) => `${lit(c.Name)}: ${lit(duckType(c.Type))}`,
        );
        body = `SELECT * FROM read_json(${list}, format = 'auto', columns = {${cols.join(', ')}})`;
      } else {
        body = `SELECT * FROM read_parquet(${list}, hive_partitioning = true, union_by_name = true)`;
      }
      await con.run(`CREATE VIEW ${qualified(e.Name)} AS ${body}`);
    }
    // Athena's default database is the query's context: the same here, so unqualified names work.
    await con.run(`SET search_path = ${lit(t.database)}`);
    // A view may use another: create what binds, again and again, until nothing more does.
    const reasons = new Map<string, string>();
    let pending = views;
    while (pending.length) {
      const failed: typeof pending = [];
      for (const v of pending) {
        try {
          await con.run(`CREATE VIEW ${qualified(v.name)} AS ${v.sql}`);
        } catch (err) {
          failed.push(v);
          reasons.set(v.name, firstLine((err as Error).message));
        }
      }
      if (failed.length === pending.length) break;
      pending = failed;
    }
    const skippedViews = pending.map((v) => ({ view: v.name, reason: reasons.get(v.name) ?? '' }));
    for (const s of skippedViews) warn(`note: view ${t.database}.${s.view} cannot run locally: ${s.reason}`);

    let reader: import('@duckdb/node-api').DuckDBResultReader;
    try {
      reader = await con.runAndReadAll(sql);
    } catch (err) {
      throw new QueryError('QUERY_FAILED', 'invalid', duckMessage((err as Error).message), err);
    }
    const types = reader.columnTypes();
    const columns = reader.columnNames().map((name, i) => ({ name, type: types[i]!.toString() }));
    const rows = reader.getRowsJson().map((r) => r.map((v, i) => duckValue(duck, types[i]!, v)));
    return { columns, rows, fetched: counters.fetched, fetchedBytes: counters.bytes, skippedViews };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

const firstLine = (s: string) => s.split('\n')[0] ?? s;

/** DuckDB's message without its guesses at system tables ("Did you mean pg_enum?"). */
function duckMessage(m: string): string {
  return m
    .split('\n')
    .filter((l) => !/^Did you mean "(pg_|duckdb_|information_schema)/.test(l))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** DuckDB's types by value kind (its JSON form already gives wide integers, decimals and times as text). */
const DUCK_KINDS: [ValueKind, (keyof DuckDBModule['DuckDBTypeId'])[]][] = [
  ['integer', ['TINYINT', 'SMALLINT', 'INTEGER', 'UTINYINT', 'USMALLINT', 'UINTEGER']],
  ['bigint', ['BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT']],
  ['decimal', ['DECIMAL']],
  ['float', ['FLOAT', 'DOUBLE']],
  ['boolean', ['BOOLEAN']],
  ['date', ['DATE']],
  ['timestamp', ['TIMESTAMP', 'TIMESTAMP_MS', 'TIMESTAMP_NS', 'TIMESTAMP_S']],
  ['timestamptz', ['TIMESTAMP_TZ']],
  ['string', ['VARCHAR']],
];

/** DuckDB's type as a value kind ('other' for the types not listed in DUCK_KINDS). */
function duckKind(duck: DuckDBModule, type: DuckType): ValueKind {
  const id = duck.DuckDBTypeId;
  return DUCK_KINDS.find(([, names]) => names.some((n) => id[n] === type.typeId))?.[0] ?? 'other';
}

/** A value of DuckDB's JSON form, mapped by the same rules as Athena's text (lists and structs element-wise). */
export function duckValue(duck: DuckDBModule, type: DuckType, v: unknown): QueryValue {
  if (v === null || v === undefined) return null;
  if ((type instanceof duck.DuckDBListType || type instanceof duck.DuckDBArrayType) && Array.isArray(v)) {
    return v.map((x) => duckValue(duck, type.valueType, x));
  }
  if (type instanceof duck.DuckDBStructType && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(type.entryNames.map((n, i) => [n, duckValue(duck, type.entryTypes[i]!, o[n])]));
  }
  const kind = duckKind(duck, type);
  if (typeof v === 'number') return kind === 'float' && !Number.isFinite(v) ? String(v) : v;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return kind === 'timestamptz' ? timestampValue(v, true) : valueFromText(kind, v);
  return JSON.parse(JSON.stringify(v)) as QueryValue;
}
