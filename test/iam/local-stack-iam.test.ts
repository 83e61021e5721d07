/**
 * Every AWS call each function makes in the local stack (`npm start`, ZOHO_EXPORT_RECORD_AWS_CALLS on)
 * is allowed by that function's role in the synthesized template. The stack runs each function on its
 * own clients (local/function-parts.ts), so a call is recorded under the function whose code made it:
 * the API, the poller, the downloader, the converter (its own process), Zoho's callbacks. The run: a
 * schedule's first run (a full export with Parquet) and its second (incremental, with a deletion), a
 * reconversion (`POST /exports/{id}/convert`); the fake Zoho calls back on every job. Any call no
 * statement allows fails the test, named; the grants no call used are printed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FakeZohoAdminClient } from '../../local/fake-zoho/admin-client.js';
import { buildStack } from '../infra/synth.js';
import { recordedCallSchema } from '../support/iam/recorder.js';
import { checkCalls, formatReports, type TemplateJson } from '../support/iam/template.js';
import { type NpmStart, startNpmStart, waitFor } from '../support/npm-start.js';

const root = path.resolve(import.meta.dirname, '../..');
const SCHEDULE = {
  name: 'contacts-nightly',
  module: 'Contacts',
  mode: 'incremental',
  schedule: 'rate(1 day)',
};

let stack: NpmStart | undefined;
let template: TemplateJson;
const dataDir = mkdtempSync(path.join(tmpdir(), 'zoho-iam-local-'));
const callsFile = path.join(dataDir, 'aws-calls.jsonl');

const exportSchema = z.object({ export_id: z.string(), status: z.string() }).passthrough();

beforeAll(async () => {
  const built = buildStack({ schedules: [SCHEDULE] });
  try {
    template = Template.fromStack(built.stack).toJSON() as TemplateJson;
  } finally {
    built.cleanup();
  }
  stack = await startNpmStart(root, dataDir, {
    env: { ZOHO_EXPORT_RECORD_AWS_CALLS: callsFile, LOCAL_SCHEDULES: JSON.stringify([SCHEDULE]) },
  });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, target: string): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`http://127.0.0.1:${stack!.ports.api}${target}`, { method });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

async function completed(id: string): Promise<void> {
  const e = await waitFor(
    `export ${id} to finish`,
    async () => {
      const r = exportSchema.parse((await call('GET', `/exports/${id}`)).json);
      return r.status === 'RUNNING' ? undefined : r;
    },
    40_000,
    300,
  );
  expect(e.status, JSON.stringify(e)).toBe('COMPLETED');
}

async function scheduleRun(): Promise<string> {
  const r = await call('POST', `/schedules/${SCHEDULE.name}/runs`);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return z.object({ export_id: z.string() }).parse(r.json).export_id;
}

describe('the local stack, each function on its own recorded clients', () => {
  it('makes no AWS call its role in the template does not allow', { timeout: 120_000 }, async () => {
    const fake = new FakeZohoAdminClient(`http://127.0.0.1:${stack!.ports.zoho}`);
    const full = await scheduleRun();
    await completed(full);
    await fake.deleteRecords(SCHEDULE.module, { indexes: [0] });
    await completed(await scheduleRun());
    const re = await call('POST', `/exports/${full}/convert`);
    expect(re.status, JSON.stringify(re.json)).toBe(202);
    await completed(full);

    const calls = readFileSync(callsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => recordedCallSchema.parse(JSON.parse(l)));
    const reports = checkCalls(template, calls);
    console.log(formatReports(reports));
    // Every function the run exercised made calls, each under its own name.
    const active = new Set(calls.map((c) => c.fn));
    for (const fn of ['api', 'poll-jobs', 'download-result', 'convert-parquet', 'zoho-callback'] as const)
      expect(active, `${fn} recorded no call`).toContain(fn);
    // The converter wrote Parquet: the flows above happened.
    expect(calls.some((c) => c.fn === 'convert-parquet' && c.action === 'PutObject')).toBe(true);
    expect(
      reports.flatMap((r) => r.denied.map((d) => `${r.fn}: ${d.action} ${d.resource} (${d.via})`)),
    ).toEqual([]);
  });
});
