/**
 * Every AWS call each function's code makes is allowed by that function's role in the synthesized
 * template. The end-to-end flows run through the harness with each function on its own recorded
 * clients (test/support/iam/roles.ts): multi-page exports with Parquet, a CSV-only export, schedule runs
 * (full, then incremental with deletions) from the API and from the schedule runner, recovery after an
 * expired result and after an expired page token, Zoho's callbacks, `POST /jobs` and the API's reads.
 * Then each recorded call is evaluated against its function's statements (test/support/iam/template.ts):
 * any call no statement allows fails the test, named; the grants no call used are printed.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Template } from 'aws-cdk-lib/assertions';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallbackHandler } from '../../lib/callbacks/http.js';
import { FUNCTION_NAMES, type FunctionName } from '../../lib/config.js';
import { convertPage, fieldsCache } from '../../lib/exports/convert.js';
import type { ConvertMessage } from '../../lib/exports/convert-message.js';
import { findSchedule, runSchedule } from '../../lib/schedules/run.js';
import { callbackDeps, scheduleDeps } from '../../lib/wiring.js';
import type { CreateJobOptions, CreateJobQuery, ZohoClient } from '../../lib/zoho/client.js';
import type { FakeZohoOptions } from '../../local/fake-zoho/index.js';
import { buildStack } from '../infra/synth.js';
import { apiEventOf } from '../support/api-event.js';
import { freshAws } from '../support/aws.js';
import { apiOf, finish, tickUntil } from '../support/exports.js';
import { IamRecorder, type RecordedCall } from '../support/iam/recorder.js';
import type { RoleDeps } from '../support/iam/roles.js';
import { checkCalls, formatReports, type TemplateJson } from '../support/iam/template.js';
import { type Harness, pipelineHarness } from '../support/pipeline.js';

const INCREMENTAL = {
  name: 'contacts-nightly',
  module: 'Contacts',
  mode: 'incremental',
  schedule: 'rate(1 day)',
};

/** A multi-module schedule: each run is a snapshot (module discovery, one transaction, first pages). */
const MODULES = {
  name: 'crm-nightly',
  modules: ['Contacts', 'Quoted_Items'],
  mode: 'incremental',
  schedule: 'rate(1 day)',
};

/** The two templates: the default (callbacks on, no schedule) and one with the schedules. */
const templates: { plain?: TemplateJson; scheduled?: TemplateJson } = {};
const calls: RecordedCall[] = [];

beforeAll(() => {
  for (const [name, context] of [
    ['plain', {}],
    ['scheduled', { schedules: [INCREMENTAL, MODULES] }],
  ] as const) {
    const built = buildStack(context);
    try {
      templates[name] = Template.fromStack(built.stack).toJSON() as TemplateJson;
    } finally {
      built.cleanup();
    }
  }
});

afterAll(() => {
  // For a look at what each function did (the test prints the summary).
  writeFileSync(path.join(tmpdir(), 'zoho-iam-calls.json'), JSON.stringify(calls, null, 1));
});

interface Flow {
  h: Harness;
  roles: Record<FunctionName, RoleDeps>;
}

/** One flow on fresh tables and bucket, every function's calls recorded. */
async function flow(
  opts: {
    fake?: FakeZohoOptions;
    config?: Record<string, string>;
    callbacks?: { base: string; key: Buffer };
  },
  body: (f: Flow) => Promise<void>,
): Promise<void> {
  const aws = await freshAws();
  const recorder = new IamRecorder({
    tables: { jobs: aws.jobsTable, exports: aws.exportsTable, state: aws.stateTable },
    bucket: aws.bucket,
  });
  const h = await pipelineHarness({
    aws,
    ...(opts.fake ? { fake: opts.fake } : {}),
    ...(opts.config ? { config: opts.config } : {}),
    iam: { recorder, ...(opts.callbacks ? { callbacks: opts.callbacks } : {}) },
  });
  try {
    if (!h.roles) throw new Error('the harness built no per-function deps');
    await body({ h, roles: h.roles });
  } finally {
    calls.push(...recorder.calls);
    await h.close();
  }
}

async function startExport(h: Harness, body: unknown): Promise<string> {
  const r = await apiOf(h)('POST', '/exports', { body: JSON.stringify(body) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.export_id;
}

async function completed(h: Harness, id: string): Promise<void> {
  const e = await finish(h, id);
  expect(e.status, JSON.stringify(e.error)).toBe('COMPLETED');
}

describe('the calls each function makes', () => {
  it('a multi-page export with Parquet, and the API reads (GET /exports, /jobs, /modules)', async () => {
    await flow({ fake: { perPage: 1000, moduleRecords: { Accounts: 2500 } } }, async ({ h }) => {
      const id = await startExport(h, { module: 'Accounts' });
      await completed(h, id);
      const api = apiOf(h);
      for (const target of [
        `/exports/${id}`,
        '/exports',
        '/exports?status=COMPLETED',
        '/jobs',
        '/schedules',
        '/modules',
      ]) {
        const r = await api('GET', target);
        expect(r.status, `${target}: ${r.raw}`).toBe(200);
      }
      // A module Zoho refuses is remembered (state table), and the module list read again.
      const refused = await api('POST', '/exports', {
        body: JSON.stringify({ module: 'Locking_Information__s' }),
      });
      expect(refused.body.error?.code).toBe('MODULE_NOT_SUPPORTED');
      expect((await api('GET', '/modules?refresh=true')).status).toBe(200);
      const job = (await api('GET', '/jobs')).body.jobs[0].job_id;
      expect((await api('GET', `/jobs/${job}`)).status).toBe(200);
    });
  });

  it('a CSV-only export, and a job registered with POST /jobs', async () => {
    await flow(
      { config: { OUTPUT_FORMATS: 'csv' }, fake: { moduleRecords: { Deals: 400 } } },
      async ({ h }) => {
        await completed(h, await startExport(h, { module: 'Deals' }));
        const zjob = h.fake.addJob({ totalRecords: 5 });
        await h.register(zjob.id);
        const jobs = await h.settle();
        expect(jobs.every((j) => j.status === 'EXPORTED')).toBe(true);
      },
    );
  });

  it('a snapshot: one module lands, one Zoho refuses; its end (manifest, event) once; GET /snapshots', async () => {
    await flow({ fake: { moduleRecords: { Contacts: 30 } } }, async ({ h }) => {
      const api = apiOf(h);
      const r = await api('POST', '/snapshots', {
        body: JSON.stringify({ modules: ['Contacts', 'Locking_Information__s'] }),
        headers: { 'idempotency-key': 'iam-snapshot' },
      });
      expect(r.status, r.raw).toBe(201);
      const id: string = r.body.snapshot_id;
      await tickUntil(h, async () => (await api('GET', `/snapshots/${id}`)).body.manifest !== null);
      const done = await api('GET', `/snapshots/${id}`);
      expect([done.body.status, done.body.failed_modules]).toEqual(['FAILED', ['Locking_Information__s']]);
      expect((await api('GET', '/snapshots')).status).toBe(200);
      // Its only module refused in the API call: the API may not end it (no grant under _snapshots/),
      // the poller's sweep does. (Locking_Information__s is remembered as refused now: a snapshot naming
      // it is a 400, so Zoho refuses this one's create with INVALID_DATA.)
      h.fake.inject({
        kind: 'create',
        times: 1,
        action: { type: 'error', code: 'INVALID_DATA', status: 400 },
      });
      const alone = await api('POST', '/snapshots', {
        body: JSON.stringify({ modules: ['Contacts'] }),
      });
      expect([alone.status, alone.body.status, alone.body.manifest], alone.raw).toEqual([
        201,
        'FAILED',
        null,
      ]);
      await tickUntil(
        h,
        async () => (await api('GET', `/snapshots/${alone.body.snapshot_id}`)).body.manifest !== null,
      );
    });
  });

  it('schedule runs: full from the API, then incremental with deletions from the schedule runner', async () => {
    await flow(
      {
        config: { SCHEDULES: JSON.stringify([INCREMENTAL, MODULES]), OUTPUT_FORMATS: 'csv,parquet' },
        fake: { moduleRecords: { Contacts: 300, Quotes: 2, Quoted_Items: 2 } },
      },
      async ({ h, roles }) => {
        const r1 = await apiOf(h)('POST', `/schedules/${INCREMENTAL.name}/runs`);
        expect(r1.status, r1.raw).toBe(201);
        await completed(h, r1.body.export_id);
        h.clock.advance(3_600_000);
        h.fake.modifyRecords('Contacts', { indexes: [3, 30] });
        h.fake.deleteRecords('Contacts', { indexes: [7, 8] });
        h.clock.advance(60_000);
        const exports = roles['run-schedule'].exports;
        if (!exports.schedules) throw new Error('the schedule runner has no schedules store');
        const deps = scheduleDeps(exports, { schedules: exports.schedules });
        const def = findSchedule(deps, INCREMENTAL.name);
        if (!def) throw new Error('the schedule is not configured');
        const run = await runSchedule(deps, def);
        if (run.kind !== 'started') throw new Error(`the run was ${run.kind}`);
        await completed(h, run.record.export_id);
        // A second run while nothing runs, then one skipped while it runs.
        h.clock.advance(60_000);
        const again = await runSchedule(deps, def);
        expect(again.kind).toBe('started');
        expect((await runSchedule(deps, def)).kind).toBe('skipped');

        // The multi-module schedule, twice from the runner: a snapshot, then Contacts incremental.
        const multi = findSchedule(deps, MODULES.name);
        if (!multi) throw new Error('the modules schedule is not configured');
        const now = exports.now ?? Date.now;
        for (const kind of ['full', 'incremental']) {
          const o = await runSchedule(deps, multi, { deadline: now() + 60_000 });
          if (o.kind !== 'snapshot') throw new Error(`the run was ${o.kind}`);
          expect(o.members.find((m) => m.module === 'Contacts')?.mode).toBe(kind);
          for (const m of o.snapshot.modules) await completed(h, m.export_id);
          await tickUntil(
            h,
            async () => (await deps.schedules.get(MODULES.name))?.running_snapshot_id === undefined,
          );
          h.clock.advance(60_000);
        }
      },
    );
  });

  it("recovery: page 1's result expired before its download, with Parquet", async () => {
    await flow({ fake: { moduleRecords: { Contacts: 40 } } }, async ({ h }) => {
      const id = await startExport(h, { module: 'Contacts' });
      const first = (await h.exports.get(id))!.page_jobs[0]!;
      let expired = false;
      for (let i = 0; i < 120 && (await h.exports.get(id))?.status === 'RUNNING'; i++) {
        await h.poll();
        if (!expired && (await h.jobs.get(first))?.status === 'DOWNLOADING') {
          h.fake.expireResult(first);
          expired = true;
        }
        await h.deliver();
        h.clock.advance(60_000);
      }
      expect(expired).toBe(true);
      await completed(h, id);
      expect(h.metrics.counts.PagesRecovered).toBe(1);
    });
  });

  it('recovery: the page token expired before the follow-up, restart from page 1 (its landed files dropped)', async () => {
    await flow({ fake: { perPage: 1000, moduleRecords: { Leads: 2100 } } }, async ({ h, roles }) => {
      // The second follow-up (page 3), whichever function creates it, finds the page tokens expired:
      // the restart from page 1 drops page 2, whose files landed.
      let followUps = 0;
      let expired = false;
      for (const fn of FUNCTION_NAMES) {
        const deps = roles[fn].exports;
        const zoho = deps.zoho;
        deps.zoho = Object.assign(Object.create(zoho) as ZohoClient, {
          createJob(query: CreateJobQuery, opts?: CreateJobOptions) {
            if (query.pageToken !== undefined && !expired && ++followUps === 2) {
              expired = true;
              h.fake.expirePageTokens();
            }
            return zoho.createJob(query, opts);
          },
        });
      }
      await completed(h, await startExport(h, { module: 'Leads' }));
      expect(h.metrics.counts.PagesRecovered).toBe(1);
    });
  });

  it("recovery from the converter: its finalization finds page 2's result gone, page 3's landed CSV is dropped", async () => {
    await flow({ fake: { perPage: 1000, moduleRecords: { Leads: 2500 } } }, async ({ h, roles }) => {
      // The conversions wait: every page lands first.
      const held: ConvertMessage[] = [];
      roles['download-result'].exports.convert = async (m) => {
        held.push(m);
      };
      const id = await startExport(h, { module: 'Leads' });
      await tickUntil(h, async () => {
        const e = await h.exports.get(id);
        const jobs = await Promise.all((e?.page_jobs ?? []).map((j) => h.jobs.get(j)));
        return jobs.length === 3 && jobs.every((j) => j?.status === 'EXPORTED');
      });
      expect(held).toHaveLength(3);
      // Page 2 ended FAILED with its result gone (as a download that found it expired leaves it).
      const page2 = (await h.exports.get(id))!.page_jobs[1]!;
      await h.aws.ddb.send(
        new UpdateCommand({
          TableName: h.aws.jobsTable,
          Key: { job_id: page2 },
          UpdateExpression: 'SET #s = :s, #e = :e',
          ExpressionAttributeNames: { '#s': 'status', '#e': 'error' },
          ExpressionAttributeValues: {
            ':s': 'FAILED',
            ':e': { code: 'RESOURCE_NOT_FOUND', message: 'the result expired (test)' },
          },
        }),
      );
      const convert = roles['convert-parquet'].convert;
      if (!convert) throw new Error('the converter has no deps');
      const fields = fieldsCache(convert, h.clock.now);
      for (const m of held) await convertPage(convert, m, { fields }).catch(() => undefined);
      expect(h.metrics.counts.PagesRecovered).toBe(1);
      await completed(h, id);
    });
  });

  it("Zoho's callbacks reach the callback function", async () => {
    const key = randomBytes(32);
    let handle: ((e: APIGatewayProxyEventV2) => Promise<{ statusCode?: number; body?: string }>) | undefined;
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const event = apiEventOf(req, Buffer.concat(chunks).toString('utf8'));
        if (!handle) {
          res.writeHead(503).end();
          return;
        }
        handle(event).then(
          (r) => res.writeHead(r.statusCode ?? 500, { 'content-type': 'application/json' }).end(r.body),
          () => res.writeHead(500).end(),
        );
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await flow(
        {
          fake: { perPage: 200, moduleRecords: { Contacts: 300 }, callbackRetryDelayMs: 20 },
          callbacks: { base, key },
        },
        async ({ h, roles }) => {
          const cb = roles['zoho-callback'];
          if (!cb.callbacks) throw new Error('the callback function has no callbacks');
          handle = createCallbackHandler(callbackDeps(cb.exports, cb.poll, cb.callbacks));
          const id = await startExport(h, { module: 'Contacts' });
          const jobId = (await h.exports.get(id))!.page_jobs[0]!;
          h.fake.setState(jobId, 'COMPLETED');
          const end = Date.now() + 10_000;
          while (!h.fake.callbacks.some((c) => c.jobId === jobId && c.status === 200)) {
            if (Date.now() > end) throw new Error('no callback answered 200');
            await new Promise((r) => setTimeout(r, 20));
          }
          expect((await h.jobs.get(jobId))?.status).toBe('DOWNLOADING');
          await completed(h, id);
        },
      );
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});

describe("each function's role allows every call it made", () => {
  const fns = (c: RecordedCall) => c.fn;

  it('zero calls denied, for every function, in both templates (the unused grants printed)', () => {
    const seen = new Set(calls.map(fns));
    // Every function ran in the flows above.
    expect([...seen].sort()).toEqual(
      ['api', 'convert-parquet', 'download-result', 'poll-jobs', 'run-schedule', 'zoho-callback'].sort(),
    );
    // The schedule runner exists only with a schedule: its calls are checked against that template.
    const plain = checkCalls(
      templates.plain!,
      calls.filter((c) => c.fn !== 'run-schedule'),
    );
    const scheduled = checkCalls(templates.scheduled!, calls);
    console.log(`IAM, default template (callbacks on, no schedule):\n${formatReports(plain)}`);
    console.log(`IAM, template with an incremental schedule:\n${formatReports(scheduled)}`);
    const denied = [...plain, ...scheduled].flatMap((r) =>
      r.denied.map((d) => `${r.fn}: ${d.action} ${d.resource} (${d.via})`),
    );
    expect(denied).toEqual([]);
  });

  it('fails, naming the call, when a grant a call needs is removed from the template', () => {
    const template = structuredClone(templates.scheduled!);
    const downloads = calls.filter((c) => c.fn === 'download-result' && c.action === 'PutObject');
    expect(downloads.length).toBeGreaterThan(0);
    const removed = removeAction(template, 'DownloadResultFunction', 's3:PutObject');
    expect(removed).toBeGreaterThan(0);
    const report = checkCalls(template, calls).find((r) => r.fn === 'download-result')!;
    expect(report.denied.map((d) => d.action)).toContain('s3:PutObject');
    expect(report.denied.find((d) => d.action === 's3:PutObject')!.resource).toMatch(
      /^arn:aws:s3:::exportbucket[0-9a-f]+\/zoho-crm\/module=Accounts\//,
    );
    // And the other functions are unaffected.
    expect(checkCalls(template, calls).filter((r) => r.fn !== 'download-result' && r.denied.length)).toEqual(
      [],
    );
  });

  it("fails when the converter's delete of a dropped page's CSV (under module=) is not granted", () => {
    const deletes = calls.filter(
      (c) => c.fn === 'convert-parquet' && c.action === 'DeleteObject' && c.resource.kind === 'object',
    );
    const csv = deletes.filter((c) => c.resource.kind === 'object' && /\/module=/.test(c.resource.key));
    // The converter's recovery above drops page 3's landed CSV.
    expect(csv.length).toBeGreaterThan(0);
    const template = structuredClone(templates.scheduled!);
    const removed = removeGrant(
      template,
      'ConvertParquetFunction',
      's3:DeleteObject',
      /\/zoho-crm\/module=\*$/,
    );
    expect(removed).toBe(1);
    const report = checkCalls(template, calls).find((r) => r.fn === 'convert-parquet')!;
    expect(report.denied.length).toBeGreaterThan(0);
    expect(report.denied.every((d) => d.action === 's3:DeleteObject' && /\/module=/.test(d.resource))).toBe(
      true,
    );
  });
});

// ------------------------------------------------------------------------------------- template edits

interface PolicyStatement {
  Action: string | string[];
  Resource: unknown;
}

/** The inline policy statements of the role of the function whose logical id starts with `fnPrefix`. */
function statementsOfFunction(template: TemplateJson, fnPrefix: string): PolicyStatement[] {
  const resources = template.Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;
  const fnId = Object.keys(resources).find(
    (id) => id.startsWith(fnPrefix) && resources[id]!.Type === 'AWS::Lambda::Function',
  );
  if (!fnId) throw new Error(`no function ${fnPrefix}`);
  const role = resources[fnId]!.Properties.Role as { 'Fn::GetAtt': [string, string] };
  const roleId = role['Fn::GetAtt'][0];
  return Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as Array<{ Ref: string }>).some((x) => x.Ref === roleId),
    )
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement);
}

/** Removes `action` from every statement of that function's role; returns how many statements had it. */
function removeAction(template: TemplateJson, fnPrefix: string, action: string): number {
  let n = 0;
  for (const s of statementsOfFunction(template, fnPrefix)) {
    const actions = [s.Action].flat();
    if (!actions.includes(action)) continue;
    n++;
    s.Action = actions.filter((a) => a !== action);
    // A statement left with no action allows nothing.
    if (!s.Action.length) s.Action = 'none:None';
  }
  return n;
}

/** Removes `action` from the statements whose (Join-ed) resource's last literal part matches `resource`. */
function removeGrant(template: TemplateJson, fnPrefix: string, action: string, resource: RegExp): number {
  let n = 0;
  for (const s of statementsOfFunction(template, fnPrefix)) {
    const actions = [s.Action].flat();
    if (!actions.includes(action) || !resource.test(JSON.stringify(s.Resource).replace(/"\]\]\}$/, '')))
      continue;
    n++;
    s.Action = actions.filter((a) => a !== action);
    if (!s.Action.length) s.Action = 'none:None';
  }
  return n;
}
