/**
 * `zoho-export query` on the deployed path: the real CLI binary and the AWS SDK's Athena client,
 * against a fake Athena (test/support/fake-athena.ts) that runs the SQL in DuckDB.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAthena, startFakeAthena } from '../support/fake-athena.js';
import { cli, cliOnTty, isolatedAwsEnv, plain, removeTempDirs, tempDir } from './helpers.js';

const BIG_ID = '3652397000000646004';
let athena: FakeAthena;
let env: NodeJS.ProcessEnv;
let cwd: string;

beforeAll(async () => {
  athena = await startFakeAthena(`
    CREATE SCHEMA zoho_crm;
    CREATE TABLE zoho_crm.zoho_contacts (id BIGINT, "Last_Name" VARCHAR, "Annual_Revenue" DECIMAL(16,2), "Created_Time" TIMESTAMP, "Opt_Out" BOOLEAN, export_date DATE);
    INSERT INTO zoho_crm.zoho_contacts VALUES
      (${BIG_ID}, 'Doe, "Jane"', 12.50, TIMESTAMP '2026-11-30 07:15:00.123', true, DATE '2026-12-01'),
      (2, 'Roe', NULL, TIMESTAMP '2026-11-29 10:00:00', false, DATE '2026-12-01'),
      (3, 'Poe', 1.00, NULL, NULL, DATE '2026-12-02');
  `);
  cwd = tempDir('zoho-query-athena-');
  // The stack's outputs, as `cdk deploy --outputs-file outputs.json` writes them.
  writeFileSync(
    path.join(cwd, 'outputs.json'),
    JSON.stringify({
      ZohoCrmBulkExport: {
        ApiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
        AthenaWorkGroupName: 'ZohoCrmBulkExport-analytics',
        GlueDatabaseName: 'zoho_crm',
      },
    }),
  );
  env = {
    ...isolatedAwsEnv(tempDir('zoho-query-home-')),
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    ZOHO_EXPORT_ATHENA_ENDPOINT: athena.url,
  };
}, 60_000);

afterAll(async () => {
  await athena?.close();
  removeTempDirs();
});

describe('zoho-export query on Athena (a fake Athena running DuckDB)', () => {
  it('finds the workgroup in the stack outputs, polls to SUCCEEDED, pages the results; --json is exact', async () => {
    const r = await cli(['query', 'SELECT * FROM zoho_contacts ORDER BY id', '--json'], { env, cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        id: 2,
        Last_Name: 'Roe',
        Annual_Revenue: null,
        Created_Time: '2026-11-29T10:00:00Z',
        Opt_Out: false,
        export_date: '2026-12-01',
      },
      {
        id: 3,
        Last_Name: 'Poe',
        Annual_Revenue: '1.00',
        Created_Time: null,
        Opt_Out: null,
        export_date: '2026-12-02',
      },
      {
        id: BIG_ID,
        Last_Name: 'Doe, "Jane"',
        Annual_Revenue: '12.50',
        Created_Time: '2026-11-30T07:15:00.123Z',
        Opt_Out: true,
        export_date: '2026-12-01',
      },
    ]);
    const e = athena.executions.at(-1)!;
    expect(e).toMatchObject({ workGroup: 'ZohoCrmBulkExport-analytics', database: 'zoho_crm' });
    // Polled through QUEUED and RUNNING; 4 rows with the header, 2 a page: 2 pages.
    expect(e.polls).toBe(3);
    expect(athena.calls.filter((c) => c === 'GetQueryResults')).toHaveLength(2);
    // The data scanned on stderr, stdout only the JSON.
    expect(r.stderr).toMatch(/3 rows, scanned 4\.50 KiB, 1\.2 s in Athena \(query q-\d+\)/);
  });

  it('a table by default, --csv as RFC 4180; --workgroup and --database override the outputs', async () => {
    const t = await cli(['query', 'SELECT count(*) AS n FROM zoho_crm.zoho_contacts'], { env, cwd });
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toBe('n\n-\n3\n(1 row)\n');
    const c = await cli(
      [
        'query',
        'SELECT id, "Last_Name" FROM zoho_contacts WHERE id > 2 ORDER BY id',
        '--csv',
        '--workgroup',
        'other',
        '--database',
        'zoho_crm',
        '--region',
        'eu-west-1',
      ],
      { env, cwd },
    );
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toBe(`id,Last_Name\r\n3,Poe\r\n${BIG_ID},"Doe, ""Jane"""\r\n`);
    expect(athena.executions.at(-1)!.workGroup).toBe('other');
  });

  it('a FAILED query (unknown table) and a refused one (bad syntax): the reason, exit 1, no stack trace', async () => {
    const failed = await cli(['query', 'SELECT * FROM zoho_crm.zoho_nope'], { env, cwd });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/zoho-export: query failed: .*zoho_nope does not exist/);
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    expect(failed.stdout).toBe('');
    const refused = await cli(['query', 'SELEC 1', '--json'], { env, cwd });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr.trim()).error).toMatchObject({ code: 'INVALID_QUERY' });
    expect(refused.stderr).toContain("mismatched input 'SELEC'");
  });

  it('on a terminal: the state and the time elapsed while it runs, redrawn in place, then the summary', async () => {
    const r = await cliOnTty(
      ['query', 'SELECT count(*) AS n FROM zoho_contacts', '--workgroup', 'wg', '--region', 'eu-west-1'],
      { env },
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('\r\x1b[2KQUEUED 00:00 (Athena, workgroup wg)');
    expect(r.output).toContain('\r\x1b[2KRUNNING 00:0');
    const text = plain(r.output);
    expect(text).toMatch(/1 row, scanned [\d.]+ KiB, 1\.2 s in Athena/);
    expect(text).toMatch(/\n3\s*\r?\n\(1 row\)/);
  }, 60_000);
});
