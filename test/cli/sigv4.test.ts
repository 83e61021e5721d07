/**
 * SigV4: the CLI's requests, as a separate process with the SDK's credential chain, checked by a
 * server that recomputes each signature with the SDK's SignatureV4 from what it received (see
 * verifying-server.ts). Also the schedules commands against a server that has the routes.
 */

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '../../cli/context.js';
import { createSigner, credentialChain, executeApiRegion } from '../../cli/signing.js';
import type { ApiExport } from '../../cli/types.js';
import { cli, isolatedAwsEnv, removeTempDirs, shim, tempDir } from './helpers.js';
import { type Received, startVerifyingServer, type VerifyingServer } from './verifying-server.js';

const REGION = 'eu-west-1';
const TEMPORARY = {
  accessKeyId: 'ASIATESTTEMPORARY001',
  secretAccessKey: 'temporary/secret+key/0123456789abcdefghij',
  sessionToken: 'IQoJb3JpZ2luX2VjEJr//////////session+token/with=odd/chars',
};
const LONG_TERM = {
  accessKeyId: 'AKIATESTLONGTERM0001',
  secretAccessKey: 'long-term-secret-0123456789abcdefghijkl',
};
const PROFILE = {
  accessKeyId: 'AKIATESTPROFILE00001',
  secretAccessKey: 'profile-secret-0123456789abcdefghijklmn',
};

const EXPORT_ID = 'ex_01M8SWSR2FFNKF49M1MSR9Q8DB';
/** An export that never ends, for Ctrl-C. */
const FOREVER_ID = 'ex_01M8SWSR2FFNKF49M1MSR9Q8ZZ';

function exportJson(status: 'RUNNING' | 'COMPLETED', source = 'api'): ApiExport {
  const done = status === 'COMPLETED';
  return {
    export_id: EXPORT_ID,
    module: 'Contacts',
    status,
    source: source as ApiExport['source'],
    mode: 'full',
    since: null,
    formats: ['csv'],
    query: { fields: null, criteria: null, cvid: null },
    created_at: '2026-12-01T10:00:00.000Z',
    updated_at: '2026-12-01T10:01:00.000Z',
    completed_at: done ? '2026-12-01T10:01:00.000Z' : null,
    pages: [
      {
        page: 1,
        job_id: '3652397000000646004',
        status: done ? 'EXPORTED' : 'PENDING',
        records: done ? 1500 : null,
        s3: done ? { bucket: 'b', key: 'zoho-crm/module=Contacts/x.csv', bytes: 1234 } : null,
        parquet: null,
      },
    ],
    records: done ? 1500 : 0,
    bytes: done ? 1234 : 0,
    manifest: done ? { bucket: 'b', key: 'zoho-crm/_manifests/x.json' } : null,
    error: null,
  };
}

let server: VerifyingServer;
let home: string;
let exportPolls = 0;

/** The API the server plays: enough of exports, jobs and schedules for the commands. */
function route(r: Received): { status: number; body?: unknown } {
  if (r.method === 'POST' && r.path === '/exports') return { status: 201, body: exportJson('RUNNING') };
  if (r.method === 'GET' && r.path === '/exports') {
    // Two pages; the cursor has characters that need encoding in a query string.
    if (!r.query.next) return { status: 200, body: { exports: [exportJson('RUNNING')], next: 'a+b/c==' } };
    if (r.query.next === 'a+b/c==')
      return { status: 200, body: { exports: [exportJson('COMPLETED')], next: null } };
    return { status: 400, body: { error: { code: 'INVALID_CURSOR', message: 'bad cursor' } } };
  }
  if (r.method === 'GET' && r.path === `/exports/${FOREVER_ID}`) {
    return { status: 200, body: { ...exportJson('RUNNING'), export_id: FOREVER_ID } };
  }
  if (r.method === 'GET' && r.path === `/exports/${EXPORT_ID}`) {
    exportPolls++;
    return {
      status: 200,
      body: exportJson(exportPolls >= 3 ? 'COMPLETED' : 'RUNNING', 'schedule:nightly run'),
    };
  }
  if (r.method === 'GET' && r.path.startsWith('/jobs/')) {
    return { status: 200, body: { job_id: r.path.slice(6), status: 'PENDING', zoho_state: 'IN PROGRESS' } };
  }
  if (r.method === 'GET' && r.path === '/schedules') {
    return {
      status: 200,
      body: {
        schedules: [
          {
            name: 'nightly run',
            module: 'Contacts',
            mode: 'incremental',
            schedule: 'cron(0 2 * * ? *)',
            timezone: 'Europe/Berlin',
            watermark: '2026-11-30T02:00:00+01:00',
            running: false,
            last_run: { export_id: EXPORT_ID, status: 'COMPLETED', started_at: '2026-12-01T01:00:00.000Z' },
          },
        ],
      },
    };
  }
  if (r.method === 'POST' && r.path === '/schedules/nightly%20run/runs') {
    exportPolls = 0;
    return { status: 201, body: exportJson('RUNNING', 'schedule:nightly run') };
  }
  if (r.path.startsWith('/schedules')) return { status: 404, body: { message: 'Not Found' } };
  return {
    status: 404,
    body: { error: { code: 'ROUTE_NOT_FOUND', message: `no route for ${r.method} ${r.path}` } },
  };
}

beforeAll(async () => {
  server = await startVerifyingServer([TEMPORARY, LONG_TERM, PROFILE], { region: REGION }, route);
  home = tempDir('zoho-cli-aws-');
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

const envWith = (creds?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => {
  const env = isolatedAwsEnv(home);
  if (creds) {
    env.AWS_ACCESS_KEY_ID = creds.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = creds.secretAccessKey;
    if (creds.sessionToken) env.AWS_SESSION_TOKEN = creds.sessionToken;
  }
  return env;
};
const signed = ['--api', '', '--sigv4-region', REGION];
const withApi = (args: string[]) => {
  const a = [...signed, ...args];
  a[1] = server.url;
  return a;
};
const last = (): Received => server.received.at(-1)!;

describe('SigV4 signing (checked by recomputing the signature with the SDK from the received request)', () => {
  it('signs a POST with its body, headers and a session token from the environment', async () => {
    const criteria = path.join(home, 'criteria.json');
    writeFileSync(criteria, JSON.stringify({ api_name: 'Lead_Source', comparator: 'equal', value: 'Web' }));
    const r = await cli(
      withApi([
        'export',
        'Contacts',
        '--fields',
        'Last_Name,Email',
        '--criteria',
        `@${criteria}`,
        '--idempotency-key',
        'nightly-2026-12-01',
        '--json',
      ]),
      { env: envWith(TEMPORARY) },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(server.refused).toEqual([]);
    const got = last();
    expect(got).toMatchObject({
      method: 'POST',
      path: '/exports',
      accessKeyId: TEMPORARY.accessKeyId,
      sessionToken: TEMPORARY.sessionToken,
      region: REGION,
      service: 'execute-api',
    });
    expect(JSON.parse(got.body)).toEqual({
      module: 'Contacts',
      fields: ['Last_Name', 'Email'],
      criteria: { api_name: 'Lead_Source', comparator: 'equal', value: 'Web' },
    });
    expect(got.signedHeaders).toEqual(
      expect.arrayContaining([
        'host',
        'x-amz-date',
        'x-amz-security-token',
        'content-type',
        'idempotency-key',
      ]),
    );
    expect((JSON.parse(r.stdout) as ApiExport).export_id).toBe(EXPORT_ID);
  });

  it('signs query strings (a cursor with + / =) while following next, with long-term keys', async () => {
    const before = server.received.length;
    const r = await cli(
      withApi(['exports', 'list', '--module', 'Contacts', '--status', 'running', '--json']),
      {
        env: envWith(LONG_TERM),
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(server.refused).toEqual([]);
    const calls = server.received.slice(before);
    expect(calls.map((c) => c.query)).toEqual([
      { module: 'Contacts', status: 'RUNNING', limit: '100' },
      { module: 'Contacts', status: 'RUNNING', limit: '100', next: 'a+b/c==' },
    ]);
    expect(calls.every((c) => c.accessKeyId === LONG_TERM.accessKeyId && c.sessionToken === undefined)).toBe(
      true,
    );
    expect(calls[0]!.headers['x-amz-security-token']).toBeUndefined();
    expect((JSON.parse(r.stdout) as { exports: unknown[] }).exports).toHaveLength(2);
  });

  it('takes credentials from a profile (--profile) of the shared credentials file', async () => {
    const file = path.join(home, 'credentials');
    writeFileSync(
      file,
      `[ci]\naws_access_key_id = ${PROFILE.accessKeyId}\naws_secret_access_key = ${PROFILE.secretAccessKey}\n`,
    );
    const env = { ...envWith(), AWS_SHARED_CREDENTIALS_FILE: file };
    const r = await cli(withApi(['jobs', 'get', '3652397000000646004', '--profile', 'ci', '--json']), {
      env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(last()).toMatchObject({ path: '/jobs/3652397000000646004', accessKeyId: PROFILE.accessKeyId });
  });

  it('schedules list and schedules run --watch, path with a space signed as API Gateway expects', async () => {
    const env = envWith(TEMPORARY);
    const list = await cli(withApi(['schedules', 'list']), { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(
      /^NAME\s+MODULE\s+MODE\s+SCHEDULE\s+TIMEZONE\s+WATERMARK\s+RUNNING\s+LAST_RUN/,
    );
    expect(list.stdout).toContain('nightly run  Contacts  incremental  cron(0 2 * * ? *)  Europe/Berlin');
    const json = await cli(withApi(['schedules', 'list', '--json']), { env });
    expect(JSON.parse(json.stdout).schedules[0].name).toBe('nightly run');

    const runIt = await cli(withApi(['schedules', 'run', 'nightly run', '--watch', '--interval', '0.2']), {
      env,
    });
    expect(runIt.code, runIt.stderr).toBe(0);
    expect(server.refused).toEqual([]);
    expect(runIt.stderr).toContain(`schedule nightly run: export ${EXPORT_ID} of Contacts started`);
    expect(runIt.stderr).toMatch(/RUNNING, pages 0\/1 done, .*page 1: Zoho IN PROGRESS, PENDING/);
    expect(runIt.stdout).toContain(`COMPLETED ${EXPORT_ID} Contacts: 1,500 records`);
    expect(runIt.stdout).toContain('s3://b/zoho-crm/module=Contacts/x.csv');
    expect(
      server.received.some((c) => c.method === 'POST' && c.path === '/schedules/nightly%20run/runs'),
    ).toBe(true);
  });

  it("API Gateway's own 404 for a route it lacks reads as 'no schedules yet'", async () => {
    const r = await cli(withApi(['schedules', 'run', 'x']), { env: envWith(TEMPORARY) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('this API has no schedules yet');
  });

  it('a wrong secret: refused by the verifier (403), exit 3 with its message', async () => {
    const before = server.refused.length;
    const r = await cli(withApi(['exports', 'list']), {
      env: envWith({ ...LONG_TERM, secretAccessKey: 'not-the-secret-0123456789abcdefghijklm' }),
    });
    expect(server.refused.length).toBe(before + 1);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      'API Gateway refused the request: The request signature we calculated does not match',
    );
    expect(r.stderr).toContain('check the AWS credentials and that they may execute-api:Invoke this API');
    expect(r.stderr).toContain('(FORBIDDEN, HTTP 403)');
  });

  it('unsigned (not an execute-api URL, no --sigv4-region): refused, with a hint', async () => {
    const r = await cli(['exports', 'list', '--api', server.url], { env: envWith(TEMPORARY) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('Missing Authentication Token');
    expect(r.stderr).toContain('--sigv4-region');
  });

  it('no AWS credentials anywhere: exit 3 and says how to configure them', async () => {
    const r = await cli(withApi(['exports', 'list']), { env: envWith() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('no AWS credentials to sign the request with');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('Ctrl-C while watching stops the watch (exit 130) and says the export goes on', async () => {
    const child = spawn(
      process.execPath,
      [shim, ...withApi(['exports', 'get', FOREVER_ID, '--watch', '--interval', '0.2'])],
      {
        env: envWith(TEMPORARY),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = new Promise<number | null>((ok) => child.once('close', (c) => ok(c)));
    const deadline = Date.now() + 20_000;
    while (!stderr.includes('RUNNING') && Date.now() < deadline)
      await new Promise((ok) => setTimeout(ok, 50));
    child.kill('SIGINT');
    expect(await code).toBe(130);
    expect(stderr).toContain(`stopped watching ${FOREVER_ID}; the export goes on`);
  });

  it('the verifier does verify: a body changed after signing is refused', async () => {
    const signer = createSigner(REGION, async () => TEMPORARY);
    const url = new URL(`${server.url}/exports`);
    const body = JSON.stringify({ module: 'Contacts' });
    const headers = await signer.sign({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body,
    });
    const ok = await fetch(url, { method: 'POST', headers, body });
    expect(ok.status).toBe(201);
    const tampered = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ module: 'Leads' }) });
    expect(tampered.status).toBe(403);
    const otherPath = await fetch(`${server.url}/jobs/1`, { method: 'POST', headers, body });
    expect(otherPath.status).toBe(403);
  });
});

describe('which requests are signed', () => {
  it('execute-api URLs are signed for the region in the host name', () => {
    expect(executeApiRegion(new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/'))).toBe(
      'eu-west-1',
    );
    expect(executeApiRegion(new URL('https://abc123.execute-api.cn-north-1.amazonaws.com.cn'))).toBe(
      'cn-north-1',
    );
    expect(
      executeApiRegion(new URL('https://abc-vpce-0a1b.execute-api.us-east-2.vpce.amazonaws.com/prod')),
    ).toBe('us-east-2');
    expect(executeApiRegion(new URL('http://127.0.0.1:3000'))).toBeUndefined();
    expect(executeApiRegion(new URL('https://api.example.com'))).toBeUndefined();
    expect(
      executeApiRegion(new URL('https://execute-api.eu-west-1.amazonaws.com.evil.example')),
    ).toBeUndefined();
  });

  it('the client for an execute-api URL has a signer; the local stack has none', async () => {
    const io = { stdout: process.stdout, stderr: process.stderr, env: {}, cwd: home };
    const g = { stack: 'ZohoCrmBulkExport', timeout: 30 };
    const aws = await new Context(
      io,
      { ...g, api: 'https://abc123.execute-api.ap-southeast-2.amazonaws.com/' },
      '0',
    ).api();
    expect(aws.client.signer?.region).toBe('ap-southeast-2');
    expect(aws.client.base.href).toBe('https://abc123.execute-api.ap-southeast-2.amazonaws.com/');
    const local = await new Context(io, { ...g, api: 'http://127.0.0.1:3000' }, '0').api();
    expect(local.client.signer).toBeUndefined();
    expect(typeof credentialChain()).toBe('function');
  });
});
