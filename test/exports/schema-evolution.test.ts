/**
 * Issue 21 §2: consecutive exports of one module while Zoho's field metadata changes; afterwards EVERY
 * Parquet file under the table's location has exactly the table's column names and types.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import type { ZohoField } from '../../lib/analytics/fields.js';
import { type Catalog, fileCatalog, moduleTableInput } from '../../lib/exports/catalog.js';
import { parquetModuleLocation } from '../../lib/exports/layout.js';
import type { Manifest } from '../../lib/exports/manifest.js';
import { startExport } from '../../lib/exports/start.js';
import { ZohoError } from '../../lib/zoho/errors.js';
import { duck, sq } from '../analytics/helpers.js';
import { finish } from '../support/exports.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';

let h: Harness<MemoryStorage> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const DUCK_TO_GLUE: Record<string, string> = {
  VARCHAR: 'string',
  BIGINT: 'bigint',
  DOUBLE: 'double',
  BOOLEAN: 'boolean',
  DATE: 'date',
  'TIMESTAMP WITH TIME ZONE': 'timestamp',
  'VARCHAR[]': 'array<string>',
};
const glueOf = (t: string): string => DUCK_TO_GLUE[t] ?? t.toLowerCase();

describe('types that never break a query', () => {
  it('metadata missing then present, type changed, deleted and re-added, new field, a concurrent widening: every file reads under the table', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'zoho-catalog-'));
    const files = fileCatalog(dir, 'zoho_crm');
    // A concurrent export of the module, committing between this export's conversion and its commit.
    let race: (() => Promise<void>) | undefined;
    const catalog: Catalog = {
      database: files.database,
      getColumns: (t) => files.getColumns(t),
      views: files.views,
      async ensureModuleTable(input) {
        const r = race;
        race = undefined;
        await r?.();
        return files.ensureModuleTable(input);
      },
    };
    h = await pipelineHarness({
      backend: 'memory',
      fake: { moduleRecords: { Contacts: 20 } },
      exportDeps: { catalog },
    });
    const hh = h;
    const zoho = hh.exportDeps.zoho;
    const real = zoho.getFields.bind(zoho);
    // What the Fields API answers: refused, or the real metadata with some types replaced.
    let metadata: 'none' | Record<string, string> = 'none';
    zoho.getFields = async (module, opts) => {
      if (metadata === 'none') {
        throw new ZohoError({ code: 'OAUTH_SCOPE_MISMATCH', kind: 'terminal', message: 'no scope (test)' });
      }
      const types = metadata;
      return (await real(module, opts)).map(
        (f): ZohoField => (types[f.api_name] ? { ...f, data_type: types[f.api_name] } : f),
      );
    };
    const base = ['Last_Name', 'Email', 'Owner', 'Owner.last_name', 'Email_Opt_Out', 'Created_Time'];
    const run = async (fields: string[], meta: typeof metadata): Promise<Manifest> => {
      metadata = meta;
      hh.clock.advance(11 * 60_000); // past the converter's metadata cache
      const { record } = await startExport(hh.exportDeps, {
        query: { module: 'Contacts', fields },
        source: 'api',
      });
      const e = await finish(hh as never, record.export_id);
      expect(e.status).toBe('COMPLETED');
      return JSON.parse((await hh.objectBytes(e.manifest.key)).toString()) as Manifest;
    };
    const change = (m: Manifest, column: string) => m.catalog?.type_changes.find((c) => c.column === column);

    // 1. No metadata: every column STRING but the system fields; names lower case, a lookup's dot `__`.
    const m1 = await run(base, 'none');
    expect(m1.catalog).toMatchObject({ created: true, type_changes: [] });
    const cols1 = m1.pages[0]!.parquet!.columns;
    expect(cols1.map((c) => [c.name, c.zoho_field, c.type])).toContainEqual([
      'owner__last_name',
      'Owner.last_name',
      'string',
    ]);
    const system = new Set(['id', 'created_time', 'modified_time']);
    expect(cols1.filter((c) => !system.has(c.name)).every((c) => c.type === 'string')).toBe(true);
    expect(cols1.filter((c) => system.has(c.name)).map((c) => [c.name, c.type])).toEqual(
      expect.arrayContaining([
        ['id', 'bigint'],
        ['created_time', 'timestamp'],
      ]),
    );

    // 2. Metadata present: the table's STRING kept for every column, the disagreements reported.
    const m2 = await run(base, {});
    expect(
      m2.pages[0]!.parquet!.columns.filter((c) => !system.has(c.name)).every((c) => c.type === 'string'),
    ).toBe(true);
    expect(change(m2, 'owner')).toEqual({
      column: 'owner',
      zoho_field: 'Owner',
      table_type: 'string',
      zoho_type: 'bigint',
    });
    expect(change(m2, 'email_opt_out')?.zoho_type).toBe('boolean');
    expect(m2.catalog?.added).toEqual([]);

    // 3. New fields take the metadata's type: Mobile said to be an integer (its text does not parse).
    const m3 = await run([...base, 'Mobile', 'Date_of_Birth'], { Mobile: 'integer' });
    expect(m3.catalog?.added).toEqual(['mobile', 'date_of_birth']);
    const cols3 = m3.pages[0]!.parquet!.columns;
    expect(cols3.find((c) => c.name === 'date_of_birth')?.type).toBe('date');
    expect(cols3.find((c) => c.name === 'mobile')?.type).toBe('bigint');

    // 4. Mobile's type changes in Zoho (phone: text); Date_of_Birth is deleted.
    const m4 = await run([...base, 'Mobile'], {});
    expect(change(m4, 'mobile')).toMatchObject({ table_type: 'bigint', zoho_type: 'string' });
    const p4 = m4.pages[0]!.parquet!;
    expect(p4.columns.find((c) => c.name === 'mobile')?.type).toBe('bigint');
    expect(p4.conversion_errors.mobile).toBeGreaterThan(0); // the empty ones are NULL, not errors

    // 5. Date_of_Birth re-added as a datetime: the table's DATE kept, its values still read.
    const m5 = await run([...base, 'Date_of_Birth'], { Date_of_Birth: 'datetime' });
    expect(change(m5, 'date_of_birth')).toMatchObject({ table_type: 'date', zoho_type: 'timestamp' });
    expect(m5.pages[0]!.parquet!.conversion_errors.date_of_birth ?? 0).toBe(0);

    // 6. A concurrent export adds Lead_Source as BIGINT while this one converted it as STRING: the
    //    page is converted again under the table before the manifest is written.
    race = async () => {
      await files.ensureModuleTable(
        moduleTableInput({
          bucket: hh.aws.bucket,
          prefix: hh.config.S3_PREFIX,
          module: 'Contacts',
          columns: [{ Name: 'lead_source', Type: 'bigint', Comment: 'zoho:Lead_Source; the other export' }],
        }),
      );
    };
    const m6 = await run([...base, 'Lead_Source'], {});
    expect(race).toBeUndefined();
    expect(m6.catalog?.added).toEqual([]);
    const ls = m6.pages[0]!.parquet!.columns.find((c) => c.zoho_field === 'Lead_Source');
    expect(ls).toMatchObject({ name: 'lead_source', type: 'bigint' });

    // Every Parquet file under the table's location: its columns are the table's, by name and type.
    const table = (await files.read('zoho_contacts'))!;
    const declared = new Map(table.StorageDescriptor.Columns.map((c) => [c.Name, c.Type]));
    expect(table.StorageDescriptor.Columns.find((c) => c.Name === 'owner__last_name')?.Comment).toMatch(
      /^zoho:Owner\.last_name(;|$)/,
    );
    const prefix = parquetModuleLocation(hh.config.S3_PREFIX, 'Contacts');
    const listed = await hh.aws.s3.send(new ListObjectsV2Command({ Bucket: hh.aws.bucket, Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => o.Key ?? '').filter((k) => k.endsWith('.parquet'));
    expect(keys).toHaveLength(6);
    const tmp = mkdtempSync(path.join(tmpdir(), 'schema-evolution-'));
    let rows = 0;
    for (const [i, key] of keys.entries()) {
      const file = path.join(tmp, `${i}.parquet`);
      writeFileSync(file, await hh.objectBytes(key));
      const desc = await duck(`DESCRIBE SELECT * FROM read_parquet(${sq(file)})`);
      for (const d of desc) {
        expect([d.column_name, glueOf(String(d.column_type))], key).toEqual([
          d.column_name,
          declared.get(String(d.column_name)),
        ]);
      }
      rows += Number((await duck(`SELECT count(*)::INT AS n FROM read_parquet(${sq(file)})`))[0]!.n);
    }
    expect(rows).toBe(6 * 20);
    // All files at once, as Athena reads the table: one schema (union_by_name), values typed.
    const all = await duck(
      `SELECT count(owner)::INT AS owners, count(DISTINCT _export_id)::INT AS exports,
              count(mobile)::INT AS mobiles, count(date_of_birth)::INT AS births
       FROM read_parquet(${sq(`${tmp}/*.parquet`)}, union_by_name=true)`,
    );
    expect(all[0]).toMatchObject({ owners: 120, exports: 6, mobiles: 0 });
    expect(all[0]!.births).toBeGreaterThan(0); // the two exports that carry it (some values are empty)
  }, 240_000);
});
