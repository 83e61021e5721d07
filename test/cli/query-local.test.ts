/**
 * `zoho-export query` against a local stack's files: Parquet from the real converter and a file catalog
 * (fileCatalog) in s3rver, a manifest, and a catalog view in Athena's format; the CLI finds them through
 * a stand-in of the local API's GET /local and runs DuckDB over them.
 */

import { readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { convertCsvToParquet, planColumns, type ZohoField } from '../../lib/analytics/index.js';
import { fileCatalog, moduleTableInput } from '../../lib/exports/catalog.js';
import { manifestKey, parquetKey } from '../../lib/exports/layout.js';
import { freshAws, type TestAws } from '../support/aws.js';
import { cliInProcess, removeTempDirs, tempDir } from './helpers.js';

const PREFIX = 'zoho-crm';
const DATABASE = 'zoho_crm';
const BIG_ID = '3652397000000646004'; // > 2^53
const FIELDS: ZohoField[] = [
  { api_name: 'Last_Name', data_type: 'text', json_type: 'string' },
  { api_name: 'Annual_Revenue', data_type: 'currency', json_type: 'double', decimal_place: 2, length: 16 },
  { api_name: 'Created_Time', data_type: 'datetime', json_type: 'string' },
  { api_name: 'Opt_Out', data_type: 'boolean', json_type: 'boolean' },
];
const HEADER = ['id', 'Last_Name', 'Annual_Revenue', 'Created_Time', 'Opt_Out'];

let aws: TestAws;
let dataDir: string;
let server: Server;
let env: NodeJS.ProcessEnv;

/** One page of Contacts, converted by the real converter and put where the exporter puts it. */
async function landPage(exportId: string, jobId: string, rows: string[][]): Promise<string> {
  const csv = `${[HEADER, ...rows].map((r) => r.map((v) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)).join(',')).join('\r\n')}\r\n`;
  const c = convertCsvToParquet(Readable.from([Buffer.from(csv)]), {
    columns: (h) => planColumns(h, FIELDS),
    lineage: { exportId, jobId, exportedAt: new Date('2026-12-01T10:00:00Z') },
  });
  const chunks: Buffer[] = [];
  for await (const b of c.stream) chunks.push(b as Buffer);
  await c.done;
  const key = parquetKey(PREFIX, {
    job_id: jobId,
    module: 'Contacts',
    created_at: '2026-12-01T09:00:00.000Z',
    page: 1,
    export_id: exportId,
    export_date: '2026-12-01',
    export_source: 'api',
  });
  await aws.s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: key, Body: Buffer.concat(chunks) }));
  return key;
}

const run = (args: string[]) => cliInProcess(args, { env });

beforeAll(async () => {
  aws = await freshAws();
  dataDir = tempDir('zoho-query-local-');
  await landPage('ex_A', '111', [
    [BIG_ID, 'Doe, "Jane"', '12.50', '2026-11-30T08:15:00+01:00', 'true'],
    ['2', 'Roe', '', '2026-11-29T10:00:00+00:00', 'false'],
  ]);
  const catalog = fileCatalog(path.join(dataDir, 'catalog'), DATABASE);
  await catalog.ensureModuleTable(
    moduleTableInput({
      bucket: aws.bucket,
      prefix: PREFIX,
      module: 'Contacts',
      columns: [
        { Name: 'id', Type: 'bigint' },
        { Name: 'Last_Name', Type: 'string' },
        { Name: 'Annual_Revenue', Type: 'decimal(16,2)' },
        { Name: 'Created_Time', Type: 'timestamp' },
        { Name: 'Opt_Out', Type: 'boolean' },
      ],
    }),
  );
  // A module whose table exists but has no file yet: it still has its columns.
  await catalog.ensureModuleTable(
    moduleTableInput({
      bucket: aws.bucket,
      prefix: PREFIX,
      module: 'Leads',
      columns: [{ Name: 'id', Type: 'bigint' }],
    }),
  );
  // The manifests' table (zoho_exports), as the stack defines it.
  await aws.s3.send(
    new PutObjectCommand({
      Bucket: aws.bucket,
      Key: manifestKey(PREFIX, 'ex_A'),
      Body: JSON.stringify({
        manifest_version: 1,
        export_id: 'ex_A',
        module: 'Contacts',
        totals: { pages: 1, records: 2, bytes: 10 },
      }),
    }),
  );
  // A catalog view in Athena's own format (what Glue stores for CREATE VIEW).
  const original = `SELECT c.id, c."Last_Name" FROM ${DATABASE}.zoho_contacts c JOIN ${DATABASE}.zoho_exports e ON c."_export_id" = e.export_id`;
  await writeFile(
    path.join(dataDir, 'catalog', DATABASE, 'zoho_contacts_current.json'),
    JSON.stringify({
      Name: 'zoho_contacts_current',
      TableType: 'VIRTUAL_VIEW',
      Parameters: { presto_view: 'true', comment: 'Presto View' },
      ViewOriginalText: `/* Presto View: ${Buffer.from(
        JSON.stringify({
          originalSql: original,
          catalog: 'awsdatacatalog',
          schema: DATABASE,
          columns: [
            { name: 'id', type: 'bigint' },
            { name: 'Last_Name', type: 'varchar' },
          ],
        }),
      ).toString('base64')} */`,
      ViewExpandedText: '/* Presto View */',
      StorageDescriptor: {
        Columns: [
          { Name: 'id', Type: 'bigint' },
          { Name: 'Last_Name', Type: 'string' },
        ],
      },
    }),
  );

  // The local API's GET /local: the only thing `query` asks the local stack.
  server = createServer((req, res) => {
    if (req.url === '/local') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          s3_endpoint: inject('s3Endpoint'),
          bucket: aws.bucket,
          prefix: PREFIX,
          database: DATABASE,
          data_dir: dataDir,
        }),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  env = { ...process.env, ZOHO_EXPORT_API: `http://127.0.0.1:${port}` };
}, 60_000);

afterAll(async () => {
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  removeTempDirs();
});

describe('zoho-export query on the local stack (DuckDB)', () => {
  it('counts a module table; --json keeps Zoho ids exact, decimals as strings, timestamps ISO', async () => {
    const count = await run(['query', 'SELECT count(*) AS n FROM zoho_crm.zoho_contacts']);
    expect(count.code, count.stderr).toBe(0);
    expect(count.stdout).toMatch(/^n\s*\n-+\n2\n\(1 row\)\n$/);
    const r = await run([
      'query',
      'SELECT id, "Last_Name", "Annual_Revenue", "Created_Time", "Opt_Out", export_date, "_export_id" FROM zoho_contacts ORDER BY "Last_Name"',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        id: BIG_ID,
        Last_Name: 'Doe, "Jane"',
        Annual_Revenue: '12.50',
        Created_Time: '2026-11-30T07:15:00Z',
        Opt_Out: true,
        export_date: '2026-12-01',
        _export_id: 'ex_A',
      },
      {
        id: 2,
        Last_Name: 'Roe',
        Annual_Revenue: null,
        Created_Time: '2026-11-29T10:00:00Z',
        Opt_Out: false,
        export_date: '2026-12-01',
        _export_id: 'ex_A',
      },
    ]);
  });

  it('--csv is RFC 4180; a catalog view (Presto View text) and zoho_exports work; an empty table has its columns', async () => {
    const csv = await run([
      'query',
      'SELECT id, "Last_Name" FROM zoho_crm.zoho_contacts_current ORDER BY id',
      '--csv',
    ]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toBe(`id,Last_Name\r\n2,Roe\r\n${BIG_ID},"Doe, ""Jane"""\r\n`);
    const ex = await run([
      'query',
      'SELECT export_id, totals.records AS records FROM zoho_crm.zoho_exports',
      '--json',
    ]);
    expect(ex.code, ex.stderr).toBe(0);
    expect(JSON.parse(ex.stdout)).toEqual([{ export_id: 'ex_A', records: 2 }]);
    const empty = await run([
      'query',
      'SELECT count(*) AS n, max(id) AS m FROM zoho_crm.zoho_leads',
      '--json',
    ]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual([{ n: 0, m: null }]);
  });

  it('the cache: a second query fetches nothing; an object rewritten in place is fetched again', async () => {
    const cacheDir = path.join(dataDir, 'query-cache', DATABASE, 'zoho_contacts');
    const files = () =>
      readdirSync(cacheDir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath, e.name));
    const before = files();
    expect(before).toHaveLength(1);
    expect(before[0]).toMatch(/export_date=2026-12-01\/ex_A-00001-111\.[0-9a-f]+\.parquet$/);
    const mtime = statSync(before[0]!).mtimeMs;
    const again = await run(['query', 'SELECT count(*) FROM zoho_contacts', '--verbose']);
    expect(again.stderr).toContain('fetched 0 object(s)');
    expect(statSync(before[0]!).mtimeMs).toBe(mtime);
    // A re-conversion rewrites the page: new content, new ETag, the old cache file is dropped.
    await landPage('ex_A', '111', [['5', 'Poe', '1.00', '2026-11-28T00:00:00+00:00', 'true']]);
    const after = await run(['query', 'SELECT "Last_Name" FROM zoho_contacts', '--json', '--verbose']);
    expect(after.stderr).toContain('fetched 1 object(s)');
    expect(JSON.parse(after.stdout)).toEqual([{ Last_Name: 'Poe' }]);
    expect(files()).toHaveLength(1);
    expect(files()[0]).not.toBe(before[0]);
  });

  it('bad SQL and an unknown table: a clear message, exit 1, no stack trace', async () => {
    const bad = await run(['query', 'SELEC 1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/query failed: Parser Error: syntax error at or near "SELEC"/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(bad.stdout).toBe('');
    const unknown = await run(['query', 'SELECT * FROM zoho_crm.zoho_nope', '--json']);
    expect(unknown.code).toBe(1);
    const err = JSON.parse(unknown.stderr.trim().split('\n').at(-1)!) as {
      error: { code: string; message: string };
    };
    expect(err.error.code).toBe('QUERY_FAILED');
    expect(err.error.message).toMatch(/zoho_nope does not exist/);
    expect(err.error.message).not.toMatch(/pg_enum/);
    const both = await run(['query', 'SELECT 1', '--json', '--csv']);
    expect(both.code).toBe(2);
  });
});
