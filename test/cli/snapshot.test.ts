/**
 * `zoho-export snapshot` against the harness's API served over HTTP, in process: two modules with
 * --watch to COMPLETED (the module lines, the total line, the tables it touched; plain lines without a
 * terminal, redrawn with one), a module that FAILED (exit 1), --json, and the
 * argument errors (exit 2 before any request).
 */
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../cli/main.js';
import { type Harness, type MemoryStorage, pipelineHarness } from '../support/pipeline.js';
import { type CliResult, capture, cliInProcess, plain, serveApi } from './helpers.js';

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

/** Runs the CLI while the pipeline moves (poll, downloads, sweep) until the CLI returns. */
async function whileTicking(x: Harness<MemoryStorage>, args: string[]): Promise<CliResult> {
  let done = false;
  const cli = cliInProcess(args).finally(() => {
    done = true;
  });
  for (let i = 0; !done && i < 200; i++) {
    await x.tick();
    await new Promise((r) => setTimeout(r, 50));
  }
  return cli;
}

describe('zoho-export snapshot', () => {
  it('--modules a,b --watch: a line per module change and a total line to COMPLETED, then the tables', async () => {
    const x = await pipelineHarness({
      backend: 'memory',
      fake: { moduleRecords: { Contacts: 3, Leads: 2 } },
    });
    h = x;
    const url = await serve(x);
    const r = await whileTicking(x, [
      '--api',
      url,
      'snapshot',
      '--modules',
      'Contacts,Leads',
      '--watch',
      '--interval',
      '0.2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout.trim().split('\n');
    expect(out[0]).toMatch(/^snapshot sn_[0-9A-Z]{26} started: 2 module\(s\)$/);
    expect(out[1]).toMatch(
      /^COMPLETED sn_[0-9A-Z]{26}: 2 of 2 module\(s\) completed, 5 records, [\d.]+ (B|KiB)$/,
    );
    expect(out[2]).toMatch(/^MODULE\s+STATUS\s+PAGES\s+RECORDS\s+SIZE\s+EXPORT_ID$/);
    expect(out[3]).toMatch(/^Contacts\s+COMPLETED\s+1\s+3\s+[\d.]+ (B|KiB)\s+ex_[0-9A-Z]{26}$/);
    expect(out[4]).toMatch(/^Leads\s+COMPLETED\s+1\s+2\s+[\d.]+ (B|KiB)\s+ex_[0-9A-Z]{26}$/);
    expect(out.slice(5)).toEqual([
      'tables:',
      '  zoho_crm.zoho_contacts_current',
      '  zoho_crm.zoho_leads_current',
    ]);

    // Not a terminal: plain lines, no cursor movement; each module ends COMPLETED, the total last.
    const err = r.stderr.trim().split('\n');
    expect(r.stderr).not.toContain('\x1b');
    expect(err.some((l) => /^Contacts {2}RUNNING {2}pages \d+ {2}records \d+/.test(l))).toBe(true);
    expect(err.some((l) => /^Contacts {2}COMPLETED {2}pages 1 {2}records 3 {2}[\d.]+ (B|KiB)$/.test(l))).toBe(
      true,
    );
    expect(err.some((l) => /^Leads {2}COMPLETED {2}pages 1 {2}records 2 {2}[\d.]+ (B|KiB)$/.test(l))).toBe(
      true,
    );
    expect(err.at(-1)).toMatch(
      /^total {2}COMPLETED {2}2\/2 completed, 0 failed, 0 running {2}records 5 {2}[\d.]+ (B|KiB)$/,
    );
    // A line is written only when it changed.
    expect(new Set(err).size).toBe(err.length);

    // On a terminal: the same lines, redrawn in place (cursor control), ending COMPLETED.
    const tty = capture(true);
    const ttyOut = capture();
    let ended = false;
    const running = run(['--api', url, 'snapshot', '--modules', 'Leads', '--watch', '--interval', '0.2'], {
      stdout: ttyOut,
      stderr: tty,
      env: {},
      cwd: process.cwd(),
    }).finally(() => {
      ended = true;
    });
    for (let i = 0; !ended && i < 200; i++) {
      await x.tick();
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(await running, tty.text()).toBe(0);
    expect(tty.text()).toContain('\x1b[');
    expect(plain(tty.text())).toMatch(/Leads {2}COMPLETED {2}pages 1 {2}records 2/);
    expect(plain(tty.text())).toMatch(/total {2}COMPLETED {2}1\/1 completed/);
    expect(ttyOut.text()).toContain('tables:\n  zoho_crm.zoho_leads_current\n');

    // Without --watch: the id, at once; --json: the snapshot's JSON.
    const started = await cliInProcess(['--api', url, '--json', 'snapshot', '--modules', 'Leads']);
    expect(started.code, started.stderr).toBe(0);
    const body = JSON.parse(started.stdout);
    expect(body.snapshot_id).toMatch(/^sn_/);
    expect(body.modules.map((m: { module: string }) => m.module)).toEqual(['Leads']);
  });

  it("a module Zoho refuses: exit 1 naming it; the other module's table is still listed", async () => {
    const x = await pipelineHarness({ backend: 'memory', fake: { moduleRecords: { Leads: 2 } } });
    h = x;
    const url = await serve(x);
    const r = await whileTicking(x, [
      '--api',
      url,
      'snapshot',
      '--modules',
      'Leads,Locking_Information__s',
      '--watch',
      '--interval',
      '0.2',
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^FAILED sn_[0-9A-Z]{26}: 1 of 2 module\(s\) completed/m);
    expect(r.stdout).toContain('tables:\n  zoho_crm.zoho_leads_current\n');
    expect(r.stdout).not.toContain('locking_information');
    expect(r.stderr).toMatch(
      /FAILED: 1 module\(s\) failed: Locking_Information__s; Locking_Information__s \(MODULE_NOT_SUPPORTED: /,
    );
    expect(r.stderr).toContain(
      'Zoho refused Locking_Information__s: GET /modules now lists it as not exportable (zoho_refused), so the next --all leaves it out; every other module landed',
    );
  });

  it('argument errors: neither or both of --all/--modules, a bad or repeated module: exit 2, no request', async () => {
    // Port 9 (discard) is never asked: validation comes first.
    const api = ['--api', 'http://127.0.0.1:9'];
    const neither = await cliInProcess([...api, 'snapshot', '--watch']);
    expect([neither.code, neither.stdout]).toEqual([2, '']);
    expect(neither.stderr).toContain('--all (every exportable module) or --modules Contacts,Leads');
    const both = await cliInProcess([...api, 'snapshot', '--all', '--modules', 'Leads']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either --all or --modules a,b, not both');
    const bad = await cliInProcess([...api, 'snapshot', '--modules', 'Leads,Bad-Name']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"Bad-Name" is not a Zoho module API name');
    const empty = await cliInProcess([...api, 'snapshot', '--modules', ' , ']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--modules: give module API names');
    const twice = await cliInProcess([...api, 'snapshot', '--modules', 'Leads,Leads']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('Leads is listed twice');
  });
});

describe('zoho-export schedules, a multi-module schedule', () => {
  it('list shows its modules and watermarks; run --watch follows its snapshot to COMPLETED', async () => {
    const x = await pipelineHarness({
      backend: 'memory',
      config: {
        SCHEDULES: JSON.stringify([
          { name: 'crm', modules: ['Contacts', 'Leads'], mode: 'incremental', schedule: 'rate(1 day)' },
        ]),
      },
      fake: { moduleRecords: { Contacts: 3, Leads: 2 } },
    });
    h = x;
    const url = await serve(x);
    const r = await whileTicking(x, [
      '--api',
      url,
      'schedules',
      'run',
      'crm',
      '--watch',
      '--interval',
      '0.2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^schedule crm: snapshot sn_[0-9A-Z]{26} of 2 module\(s\) started$/m);
    expect(r.stdout).toMatch(/^COMPLETED sn_[0-9A-Z]{26}: 2 of 2 module\(s\) completed, 5 records/m);

    const list = await cliInProcess(['--api', url, 'schedules', 'list']);
    expect(list.code, list.stderr).toBe(0);
    const [head, row] = list.stdout.trim().split('\n');
    expect(head).toMatch(/^NAME\s+MODULE\s+MODE\s+SCHEDULE\s+TIMEZONE\s+WATERMARK\s+RUNNING\s+LAST_RUN$/);
    expect(row).toMatch(
      /^crm\s+Contacts,Leads\s+incremental\s+rate\(1 day\)\s+UTC\s+\S+Z \(oldest; 2\/2 modules\)\s+no\s+sn_[0-9A-Z]{26} COMPLETED /,
    );
  });
});
