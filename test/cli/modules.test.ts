/**
 * `zoho-export modules` against the harness's API served over HTTP (the local server's adapter), in
 * process: the table, --json, --exportable, --refresh, and the API's refusal as the CLI's error.
 */
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';
import { FAKE_CREDENTIALS } from '../support/zoho.js';
import { cliInProcess, serveApi } from './helpers.js';

let h: Harness<MemoryStorage> | undefined;
let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
  await h?.close();
  h = undefined;
});

async function serve(harness: Harness<MemoryStorage>): Promise<string> {
  const served = await serveApi(harness);
  server = served.server;
  return served.url;
}

const asked = (x: Harness<MemoryStorage>) => x.fake.requests.filter((r) => r.kind === 'modules').length;

describe('zoho-export modules', () => {
  it('a table of every module; --exportable; --json; --refresh asks Zoho again', async () => {
    const x = await pipelineHarness({ backend: 'memory' });
    h = x;
    const url = await serve(x);
    const table = await cliInProcess(['--api', url, 'modules']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^MODULE\s+LABEL\s+KIND\s+PARENT\s+STATUS\s+EXPORTABLE\s+REASON$/);
    expect(lines.find((l) => l.startsWith('Quoted_Items '))).toMatch(/subform\s+Quotes\s+visible\s+yes\s+-$/);
    expect(lines.find((l) => l.startsWith('Notes '))).toMatch(/no\s+bulk_read_unsupported$/);
    expect(table.stderr).toMatch(/^\d+ of \d+ modules exportable; listed by Zoho at /);

    const only = await cliInProcess(['--api', url, 'modules', '--exportable', '--json']);
    const body = JSON.parse(only.stdout);
    expect(body.cached).toBe(true);
    expect(body.modules.length).toBeGreaterThan(10);
    expect(body.modules.every((m: { exportable: boolean }) => m.exportable)).toBe(true);
    expect(asked(x)).toBe(1);

    const fresh = await cliInProcess(['--api', url, 'modules', '--refresh', '--json']);
    expect(JSON.parse(fresh.stdout).cached).toBe(false);
    expect(asked(x)).toBe(2);
  });

  it("the API's 403 (no modules scope) is the CLI's error naming the scope", async () => {
    const x = await pipelineHarness({
      backend: 'memory',
      fake: { clients: [{ ...FAKE_CREDENTIALS, scopes: ['ZohoCRM.bulk.ALL', 'ZohoCRM.modules.ALL'] }] },
    });
    h = x;
    const r = await cliInProcess(['--api', await serve(x), 'modules']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('OAUTH_SCOPE_MISMATCH');
    expect(r.stderr).toContain('ZohoCRM.settings.modules.READ');
  });
});
