/**
 * Exports written as typed Parquet, end to end (DynamoDB Local, s3rver, the fake Zoho with its field
 * metadata), read back with DuckDB and compared with the raw CSV read by DuckDB's own RFC 4180 reader.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiHandler } from '../../lib/api/handler.js';
import type { TableInput } from '../../lib/exports/catalog.js';
import type { Manifest } from '../../lib/exports/manifest.js';
import type { PublicExport } from '../../lib/exports/model.js';
import { DEFAULT_CLIENT } from '../../local/fake-zoho/credentials.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';
import { duck, ident, sq, tempDir } from './helpers.js';

let h: Harness | undefined;
const dirs: Array<() => void> = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) d();
});

async function call(
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: PublicExport }> {
  const r = await createApiHandler(h!.api)({
    version: '2.0',
    rawPath: p,
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method, path: p } },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2);
  return { status: r.statusCode ?? 0, body: JSON.parse(r.body ?? 'null') as PublicExport };
}

/** Ticks until the export is finished; returns it. */
async function finished(id: string): Promise<PublicExport> {
  for (let i = 0; i < 200; i++) {
    await h!.tick(30_000);
    const e = (await call('GET', `/exports/${id}`)).body;
    if (e.status !== 'RUNNING') return e;
  }
  throw new Error(`export ${id} still RUNNING`);
}

async function object(bucket: string, key: string): Promise<Buffer> {
  const r = await h!.aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** Copies an export's files to `dir` in their S3 layout (DuckDB reads files, not s3rver). */
async function copyLayout(
  m: Manifest,
  dir: string,
  prefix: string,
): Promise<{ csv: string[]; parquet: string[] }> {
  const out = { csv: [] as string[], parquet: [] as string[] };
  for (const p of m.pages) {
    for (const [kind, loc] of [
      ['csv', p.csv],
      ['parquet', p.parquet],
    ] as const) {
      if (!loc) continue;
      const file = path.join(dir, loc.key.slice(prefix.length + 1));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, await object(loc.bucket, loc.key));
      out[kind].push(file);
    }
  }
  return out;
}

const DUCK_TO_GLUE: Record<string, string> = {
  VARCHAR: 'string',
  BIGINT: 'bigint',
  DOUBLE: 'double',
  BOOLEAN: 'boolean',
  DATE: 'date',
  'TIMESTAMP WITH TIME ZONE': 'timestamp',
  TIMESTAMP: 'timestamp',
  'VARCHAR[]': 'array<string>',
};
const glueOf = (duckType: string): string =>
  DUCK_TO_GLUE[duckType] ?? duckType.toLowerCase().replace(/^decimal\((\d+),(\d+)\)$/, 'decimal($1,$2)');

describe('exports written as Parquet', () => {
  it('every page typed from Zoho field metadata: same rows as the CSV, strings byte for byte, ids exact, NULLs, conversion errors; the Glue table matches what DuckDB reads', async () => {
    h = await pipelineHarness({ fake: { perPage: 1000, moduleRecords: { Accounts: 2500 } } });
    const created = await call('POST', '/exports', { module: 'Accounts' });
    expect(created.status).toBe(201);
    expect(created.body.formats).toEqual(['csv', 'parquet']);
    const done = await finished(created.body.export_id);
    expect(done.status).toBe('COMPLETED');
    expect(done.pages).toHaveLength(3);
    for (const p of done.pages) expect(p.parquet).toMatchObject({ status: 'DONE', rows: p.records });

    const m = JSON.parse((await object(done.manifest!.bucket, done.manifest!.key)).toString()) as Manifest;
    expect(m.formats).toEqual(['csv', 'parquet']);
    expect(m.catalog).toMatchObject({ table: 'zoho_accounts', created: true, added: [], type_changes: [] });
    const t = tempDir();
    dirs.push(t.cleanup);
    const files = await copyLayout(m, t.dir, h.config.S3_PREFIX);
    let mismatches = 0;
    for (const [i, page] of m.pages.entries()) {
      const csv = `read_csv(${sq(files.csv[i]!)}, header=true, all_varchar=true, quote='"', escape='"', max_line_size=10000000)`;
      const pq = `read_parquet(${sq(files.parquet[i]!)})`;
      expect((await duck(`SELECT count(*)::INT AS n FROM ${pq}`))[0]!.n).toBe(page.records);
      const desc = await duck(`DESCRIBE SELECT * FROM ${pq}`);
      const type = (c: string) => desc.find((d) => d.column_name === c)?.column_type;
      expect(type('id')).toBe('BIGINT');
      // Column names are lower case (lib/analytics/names.ts); each page column names its Zoho field.
      expect(type('employees')).toBe('BIGINT');
      expect(type('Employees')).toBeUndefined();
      expect(page.parquet!.columns.find((c) => c.name === 'employees')?.zoho_field).toBe('Employees');
      expect(type('_export_id')).toBe('VARCHAR');
      expect(type('_exported_at')).toMatch(/^TIMESTAMP/);
      const columns = page.parquet!.columns;
      // Strings byte for byte (multi-line values, quotes, commas, non-ASCII), ids exact, empty = NULL.
      for (const c of columns) {
        const expr =
          c.type === 'string'
            ? ident(c.name)
            : c.type === 'bigint'
              ? `CAST(${ident(c.name)} AS VARCHAR)`
              : undefined;
        if (!expr) continue;
        const rows = await duck(
          `WITH a AS (SELECT row_number() OVER () AS r, ${ident(c.zoho_field!)} AS v FROM ${csv}),
                b AS (SELECT row_number() OVER () AS r, ${expr} AS v, _zoho_conversion_errors AS e FROM ${pq})
           SELECT count(*)::INT AS n FROM a JOIN b USING (r)
           WHERE a.v IS DISTINCT FROM b.v AND (b.e IS NULL OR json_extract_string(b.e, ${sq(`$.${c.zoho_field}`)}) IS NULL)`,
        );
        mismatches += rows[0]!.n as number;
      }
      // Employees: declared integer, sometimes a range: NULL in Parquet, the raw text kept, counted.
      const ranges = (await duck(`SELECT count(*)::INT AS n FROM ${csv} WHERE Employees LIKE '%-%'`))[0]!
        .n as number;
      expect(page.parquet!.conversion_errors.employees ?? 0).toBe(ranges);
      const kept = await duck(
        `SELECT count(*)::INT AS n FROM ${pq} WHERE "employees" IS NULL AND json_extract_string(_zoho_conversion_errors, '$.Employees') LIKE '%-%'`,
      );
      expect(kept[0]!.n).toBe(ranges);
      expect((await duck(`SELECT DISTINCT _export_id AS x FROM ${pq}`)).map((r) => r.x)).toEqual([
        m.export_id,
      ]);
    }
    expect(mismatches).toBe(0);
    expect(m.pages.reduce((n, p) => n + (p.parquet?.conversion_errors.employees ?? 0), 0)).toBeGreaterThan(0);

    // The table the exporter gave the catalog, beside what DuckDB reads from the same files laid out in S3.
    const table = (await (h.exportDeps.catalog as unknown as { read(t: string): Promise<TableInput> }).read(
      'zoho_accounts',
    ))!;
    const location = path.join(t.dir, 'parquet', 'module=Accounts');
    expect(table.StorageDescriptor.Location).toBe(
      `s3://${h.aws.bucket}/${h.config.S3_PREFIX}/parquet/module=Accounts/`,
    );
    expect(table.Parameters['storage.location.template']).toBe(
      `${table.StorageDescriptor.Location}export_date=\${export_date}/`,
    );
    expect(table.StorageDescriptor.SerdeInfo.SerializationLibrary).toContain('ParquetHiveSerDe');
    const described = await duck(
      `DESCRIBE SELECT * FROM read_parquet(${sq(`${location}/**/*.parquet`)}, hive_partitioning=true)`,
    );
    // DuckDB takes every key=value folder of the path as a partition, `module=Accounts` included; Athena
    // starts at the table's location, which is already inside it.
    const fromDuck = described
      .filter((d) => d.column_name !== 'module')
      .map((d) => ({ Name: d.column_name as string, Type: glueOf(d.column_type as string) }));
    const partitions = table.PartitionKeys.map((k) => k.Name);
    expect(fromDuck.filter((c) => !partitions.includes(c.Name))).toEqual(
      table.StorageDescriptor.Columns.map(({ Name, Type }) => ({ Name, Type })),
    );
    // Each column's comment names the Zoho field it holds (the lineage columns hold none).
    const fieldOf = new Map(m.pages[0]!.parquet!.columns.map((c) => [c.name, c.zoho_field]));
    for (const c of table.StorageDescriptor.Columns) {
      const f = fieldOf.get(c.Name);
      if (c.Name.startsWith('_')) expect(c.Comment).toBeUndefined();
      else expect(c.Comment?.startsWith(`zoho:${f}`), c.Name).toBe(true);
    }
    expect(fromDuck.filter((c) => partitions.includes(c.Name))).toEqual([
      { Name: 'export_date', Type: 'date' },
    ]);
    expect(table.PartitionKeys).toEqual([{ Name: 'export_date', Type: 'date' }]);
  }, 300_000);

  it('without the field-metadata scope every column is STRING but the system fields, and the manifest says why', async () => {
    h = await pipelineHarness({
      fake: {
        moduleRecords: { Contacts: 300 },
        clients: [{ ...DEFAULT_CLIENT, scopes: ['ZohoCRM.bulk.ALL', 'ZohoCRM.modules.ALL'] }],
      },
    });
    const created = await call('POST', '/exports', { module: 'Contacts' });
    const done = await finished(created.body.export_id);
    expect(done.status).toBe('COMPLETED');
    const m = JSON.parse((await object(done.manifest!.bucket, done.manifest!.key)).toString()) as Manifest;
    const system = new Set(['id', 'created_time', 'modified_time']);
    const cols = m.pages[0]!.parquet!.columns;
    const others = cols.filter((c) => !system.has(c.name));
    expect(others.every((c) => c.type === 'string')).toBe(true);
    expect(others.every((c) => /ZohoCRM\.settings\.fields\.READ/.test(c.reason ?? ''))).toBe(true);
    expect(cols.filter((c) => system.has(c.name)).map((c) => [c.name, c.type])).toEqual([
      ['id', 'bigint'],
      ['created_time', 'timestamp'],
      ['modified_time', 'timestamp'],
    ]);
  }, 120_000);

  it('POST /exports/{id}/convert writes Parquet for a CSV-only export; a conversion that cannot succeed fails the export and leaves the CSV', async () => {
    h = await pipelineHarness({ config: { OUTPUT_FORMATS: 'csv' }, fake: { moduleRecords: { Deals: 400 } } });
    const a = await finished((await call('POST', '/exports', { module: 'Deals' })).body.export_id);
    expect(a.status).toBe('COMPLETED');
    expect(a.pages[0]!.parquet).toBeNull();
    const again = await call('POST', `/exports/${a.export_id}/convert`);
    expect(again.status).toBe(202);
    expect(again.body.status).toBe('RUNNING');
    const converted = await finished(a.export_id);
    expect(converted.status).toBe('COMPLETED');
    expect(converted.pages[0]!.parquet).toMatchObject({ status: 'DONE', rows: 400 });
    const m = JSON.parse(
      (await object(converted.manifest!.bucket, converted.manifest!.key)).toString(),
    ) as Manifest;
    expect(m.pages[0]!.parquet?.rows).toBe(400);
    expect(h.events.published.filter((e) => e.detail.export_id === a.export_id)).toHaveLength(2);

    // The raw CSV replaced by one with a broken quote: the conversion fails for good, the export FAILS
    // with the CSV error's code, and the CSV object is still there.
    const page = converted.pages[0]!;
    await h.aws.s3.send(
      new PutObjectCommand({
        Bucket: page.s3!.bucket,
        Key: page.s3!.key,
        Body: 'id,Deal_Name\n1,"unterminated\n',
      }),
    );
    expect((await call('POST', `/exports/${a.export_id}/convert`)).status).toBe(202);
    const failed = await finished(a.export_id);
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.code).toMatch(/^CSV_/);
    expect((await object(page.s3!.bucket, page.s3!.key)).length).toBeGreaterThan(0);
    // Running while running is refused; an unknown export is 404.
    expect((await call('POST', '/exports/ex_01ARZ3NDEKTSV4RRFFQ69G5FAV/convert')).status).toBe(404);
  }, 240_000);
});
