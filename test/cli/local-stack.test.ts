/**
 * The CLI against the local stack (real HTTP, DynamoDB Local, s3rver, the fake Zoho), started here on
 * free ports with a temp data dir. The long runs (watched exports) start together in beforeAll and
 * the tests await them, so the file takes about as long as one export.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DownloadResult } from '../../cli/download.js';
import type { ApiExport, ApiJob } from '../../cli/types.js';
import { createLogger } from '../../lib/observability.js';
import { type LocalStack, startLocalStack } from '../../local/local-stack.js';
import { localS3Client } from '../../local/stand-ins.js';
import {
  type CliResult,
  cli,
  cliInProcess,
  cliOnTty,
  freePorts,
  isolatedAwsEnv,
  plain,
  removeTempDirs,
  tempDir,
} from './helpers.js';

const ESC = '\x1b';
const DEMO_JOB = '3652397000000646004'; // 1,500 contacts
const FAILING_JOB = '3652397000000646007'; // ends in FAILURE at Zoho

let stack: LocalStack;
let env: NodeJS.ProcessEnv;
let s3Args: string[];
const long: {
  lineWatch?: Promise<CliResult>;
  ttyWatch?: Promise<{ code: number | null; output: string }>;
  jobWatch?: Promise<CliResult>;
} = {};

/** In-process run with the test's environment (ZOHO_EXPORT_API points at the local stack). */
const run = (args: string[], cwd?: string) => cliInProcess(args, { env, ...(cwd ? { cwd } : {}) });
const parse = <T>(r: CliResult): T => JSON.parse(r.stdout) as T;
const exportIdIn = (text: string): string => /ex_[0-9A-HJKMNP-TV-Z]{26}/.exec(text)?.[0] ?? '';

beforeAll(async () => {
  const [api, s3, ddb, zoho] = (await freePorts(4)).map(String) as [string, string, string, string];
  stack = await startLocalStack(
    {
      ...process.env,
      PORT: api,
      LOCAL_S3_PORT: s3,
      LOCAL_DYNAMODB_PORT: ddb,
      LOCAL_ZOHO_PORT: zoho,
      LOCAL_DATA_DIR: tempDir('zoho-cli-stack-'),
      POLL_INTERVAL_SECONDS: '1',
      LOCAL_SCHEDULES: JSON.stringify([
        { name: 'nightly', module: 'Contacts', mode: 'incremental', schedule: 'cron(0 2 * * ? *)' },
      ]),
    },
    { say: () => undefined, logger: createLogger('local-stack', 'SILENT') },
  );
  env = { ...isolatedAwsEnv(tempDir('zoho-cli-home-')), ZOHO_EXPORT_API: stack.apiUrl };
  s3Args = ['--s3-endpoint', stack.s3Endpoint];
  // The long runs, all at once: a watched export without a terminal, one on a pseudo-terminal, and a
  // registered demo job followed through its export.
  long.lineWatch = cli(['export', 'Contacts', '--watch', '--interval', '0.5'], { env, timeoutMs: 240_000 });
  long.ttyWatch = cliOnTty(
    [
      'export',
      'Contacts',
      '--fields',
      'Last_Name,Email',
      '--idempotency-key',
      'tty-run',
      '--watch',
      '--interval',
      '0.5',
    ],
    { env, timeoutMs: 240_000 },
  );
  long.jobWatch = cli(['jobs', 'register', DEMO_JOB, '--watch', '--json', '--interval', '0.5'], {
    env,
    timeoutMs: 240_000,
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([long.lineWatch, long.ttyWatch, long.jobWatch]);
  await stack?.stop();
  removeTempDirs();
}, 60_000);

describe('usage errors exit 2, before any request', () => {
  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['export'], /missing required argument 'module'/],
    [['export', 'Con tacts'], /not a Zoho module API name/],
    [['export', 'Contacts', '--criteria', '{nope'], /--criteria is not valid JSON/],
    [['export', 'Contacts', '--criteria', '@no-such-file.json'], /cannot read .*no-such-file\.json/],
    [['export', 'Contacts', '--fields', ' , '], /--fields: give field API names/],
    [['export', 'Contacts', '--cvid', 'abc'], /--cvid abc/],
    [['export', 'Contacts', '--idempotency-key', 'has space'], /--idempotency-key/],
    [['export', 'Contacts', '--watch', '--interval', '0'], /--interval: a number of seconds/],
    [['jobs', 'register', 'abc'], /"abc" is not a Zoho job id/],
    [['jobs', 'get', '12345678901234567890'], /not a Zoho job id/],
    [['exports', 'get', 'ex_nope'], /"ex_nope" is not an export id/],
    [['exports', 'list', '--limit', '0'], /--limit 0/],
    [['exports', 'list', '--status', 'DONE'], /RUNNING, COMPLETED, FAILED/],
    [['exports', 'list', '--page-size', '101'], /--page-size 101/],
    [['jobs', 'list', '--status', 'nope'], /PENDING, DOWNLOADING, EXPORTED, FAILED/],
    [['download', 'ex_01M8SWSR2FFNKF49M1MSR9Q8DB', '--format', 'xml'], /--format xml: csv or parquet/],
    [['exports', 'list', '--api', 'not a url'], /--api is not a URL/],
    [['exports'], /Usage: zoho-export exports/],
  ])('%j', async (args, message) => {
    const r = await run(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('--help and --version exit 0', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['export', 'exports', 'jobs', 'schedules', 'download']) expect(help.stdout).toContain(c);
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('API refusals and network errors exit 3, with the API message and no stack trace', () => {
  it('an unknown module: Zoho refuses through the API', async () => {
    const r = await run(['export', 'Nonexistent']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('Zoho refused the export');
    expect(r.stderr).toContain('(INVALID_MODULE, HTTP 400)');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('criteria the API refuses; --json puts the error on stderr as JSON and nothing on stdout', async () => {
    const r = await run(['export', 'Contacts', '--criteria', '{"bad":1}', '--json']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    const err = JSON.parse(r.stderr) as { error: { code: string; message: string; status: number } };
    expect(err.error).toMatchObject({ code: 'INVALID_CRITERIA', status: 400 });
    expect(err.error.message).toContain('unknown field(s) "bad"');
  });

  it('unknown export and job ids: 404 with the API message', async () => {
    const e = await run(['exports', 'get', 'ex_01M8SWSR2FFNKF49M1MSR9Q8DA']);
    expect(e.code).toBe(3);
    expect(e.stderr).toContain('no export ex_01M8SWSR2FFNKF49M1MSR9Q8DA (EXPORT_NOT_FOUND, HTTP 404)');
    const j = await run(['jobs', 'get', '1']);
    expect(j.code).toBe(3);
    expect(j.stderr).toContain('(JOB_NOT_FOUND, HTTP 404)');
  });

  it('an API nobody listens on', async () => {
    const [port] = await freePorts(1);
    const r = await run(['exports', 'list', '--api', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `cannot reach the API at http://127.0.0.1:${port} (connection refused, ECONNREFUSED)`,
    );
  });

  it('schedules (LOCAL_SCHEDULES): list, an unknown name, a run and a skipped second run', async () => {
    const list = await run(['schedules', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+MODULE\s+MODE/);
    expect(list.stdout).toMatch(/nightly\s+Contacts\s+incremental\s+cron\(0 2 \* \* \? \*\)\s+UTC/);
    const unknown = await run(['schedules', 'run', 'weekly', '--json']);
    expect(unknown.code).toBe(3);
    expect(JSON.parse(unknown.stderr).error.code).toBe('SCHEDULE_NOT_FOUND');
    const started = await run(['schedules', 'run', 'nightly', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const e = parse<{ export_id: string; source: string; mode: string }>(started);
    expect(e).toMatchObject({ source: 'schedule:nightly', mode: 'full' });
    const again = await run(['schedules', 'run', 'nightly', '--json']);
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stderr).error.code).toBe('SCHEDULE_RUNNING');
    const json = parse<{ schedules: Array<{ running_export_id: string | null }> }>(
      await run(['schedules', 'list', '--json']),
    );
    expect(json.schedules[0]?.running_export_id).toBe(e.export_id);
  });
});

describe('exports and jobs', () => {
  it('export without --watch starts it; download refuses it while RUNNING (exit 2); exports get shows it', async () => {
    const started = await run(['export', 'Contacts', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const e = parse<ApiExport>(started);
    expect(e).toMatchObject({ module: 'Contacts', status: 'RUNNING', source: 'api' });
    // The fake Zoho takes 10 s to finish a job: this is surely still RUNNING.
    const dl = await run(['download', e.export_id, ...s3Args, '--dir', tempDir()]);
    expect(dl.code, dl.stderr).toBe(2);
    expect(dl.stderr).toContain(`export ${e.export_id} is RUNNING`);
    expect(dl.stderr).toContain('only a COMPLETED export can be downloaded');
    const got = await run(['exports', 'get', e.export_id]);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain(`export    ${e.export_id}`);
    expect(got.stdout).toMatch(/status\s+RUNNING/);
    expect(got.stdout).toMatch(/PAGE\s+JOB_ID\s+STATUS/);
    const human = await run(['export', 'Contacts', '--idempotency-key', 'human-1']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^export ex_\w{26} of Contacts started \(RUNNING\)/);
    expect(human.stdout).toContain('zoho-export exports get ex_');
  });

  it('a job that FAILS at Zoho: exit 1 with its code and message, for register --watch, get and download', async () => {
    const r = await run(['jobs', 'register', FAILING_JOB, '--watch', '--interval', '0.5']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('FAILED on page 1');
    expect(r.stderr).toContain('INTERNAL_SERVER_ERROR: Internal server error occurred.');
    const exportId = exportIdIn(r.stderr);
    const job = await run(['jobs', 'get', FAILING_JOB]);
    expect(job.code).toBe(1);
    expect(job.stdout).toMatch(/status\s+FAILED/);
    expect(job.stderr).toContain(`job ${FAILING_JOB} FAILED: INTERNAL_SERVER_ERROR`);
    const exp = await run(['exports', 'get', exportId, '--json']);
    expect(exp.code).toBe(1);
    expect(parse<ApiExport>(exp).error).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', page: 1 });
    const dl = await run(['download', exportId, ...s3Args, '--dir', tempDir()]);
    expect(dl.code).toBe(1);
    expect(dl.stderr).toContain('FAILED on page 1, there is nothing to download: INTERNAL_SERVER_ERROR');
  }, 60_000);

  it('export --watch without a terminal: one line per change, then the S3 locations', async () => {
    const r = (await long.lineWatch)!;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^export ex_\w{26} of Contacts started$/);
    const changes = lines.slice(1);
    // Several distinct states, each line once, in order: Zoho's states, then the pages landing.
    expect(changes.length).toBeGreaterThanOrEqual(4);
    expect(new Set(changes.map((l) => l.replace(/^\[[^\]]+\] /, ''))).size).toBe(changes.length);
    expect(r.stderr).toMatch(
      /\[\d\d:\d\d\] ex_\w{26} Contacts RUNNING, pages 0\/1 done, .*page 1: Zoho (ADDED|QUEUED)/,
    );
    expect(r.stderr).toMatch(/Zoho IN PROGRESS/);
    expect(r.stderr).toMatch(/pages 1\/1 done, 1,500\/1,500 records/);
    expect(changes.at(-1)).toMatch(/COMPLETED, pages 1\/1 done, 1,500\/1,500 records/);
    expect(r.stdout).toMatch(/^COMPLETED ex_\w{26} Contacts: 1,500 records, .* in 1 page\(s\)/);
    expect(r.stdout).toMatch(
      /s3:\/\/zoho-crm-exports\/zoho-crm\/module=Contacts\/export_date=\d{4}-\d\d-\d\d\/ex_\w{26}-00001-\d+\.csv/,
    );
    expect(r.stdout).toMatch(/manifest s3:\/\/zoho-crm-exports\/zoho-crm\/_manifests\/ex_\w{26}\.json/);
  }, 240_000);

  it('export --watch on a terminal: a live progress view redrawn in place, ending with the S3 locations', async () => {
    const r = (await long.ttyWatch)!;
    expect(r.code, plain(r.output)).toBe(0);
    const out = r.output;
    expect(out).toContain('\x1b[?25l'); // cursor hidden while drawing ...
    expect(out).toContain('\x1b[?25h'); // ... and shown again
    expect(out).toMatch(new RegExp(`${ESC}\\[\\d*A`)); // redrawn in place (cursor up)
    const text = plain(out);
    expect(text).toMatch(/records \[░{30}\] 0 records \(Zoho's count not known yet\)/);
    expect(text).toMatch(/records \[█{30}\] 1,500\/1,500 records 100%/);
    expect(text).toMatch(/page 1: Zoho (QUEUED|IN PROGRESS), PENDING/);
    expect(text).toMatch(/pages 1\/1 done, [\d.]+ KiB landed/);
    expect((text.match(/elapsed \d\d:\d\d/g) ?? []).length).toBeGreaterThan(3);
    expect(text).toMatch(/COMPLETED ex_\w{26} Contacts: 1,500 records/);
    expect(text).toMatch(/s3:\/\/zoho-crm-exports\/zoho-crm\/module=Contacts\/.*\.csv/);
    // The same idempotency key again: the same export, now COMPLETED, answered without a new one.
    const again = await run([
      'export',
      'Contacts',
      '--fields',
      'Last_Name,Email',
      '--idempotency-key',
      'tty-run',
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    const e = parse<ApiExport>(again);
    expect(e.export_id).toBe(exportIdIn(text));
    expect(e.status).toBe('COMPLETED');
    expect(e.query.fields).toEqual(['Last_Name', 'Email']);
  }, 240_000);

  it('jobs register --watch --json follows the job through its export; jobs get and list show it', async () => {
    const r = (await long.jobWatch)!;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // --json without a terminal: nothing but the JSON
    const e = parse<ApiExport>(r);
    expect(e).toMatchObject({ status: 'COMPLETED', module: 'Contacts', source: 'job', records: 1500 });
    expect(e.pages[0]?.job_id).toBe(DEMO_JOB);
    const got = await run(['jobs', 'get', DEMO_JOB, '--json']);
    expect(got.code).toBe(0);
    const j = parse<ApiJob>(got);
    expect(j).toMatchObject({ status: 'EXPORTED', records: 1500, export_id: e.export_id });
    expect(j.s3?.key).toMatch(new RegExp(`/${DEMO_JOB}\\.csv$`));
    const human = await run(['jobs', 'get', DEMO_JOB]);
    expect(human.stdout).toMatch(/status\s+EXPORTED/);
    expect(human.stdout).toContain(`s3://zoho-crm-exports/${j.s3?.key}`);
    const again = await run(['jobs', 'register', DEMO_JOB]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`job ${DEMO_JOB} was already registered (EXPORTED)`);

    const exported = await run(['jobs', 'list', '--status', 'exported', '--json']);
    expect(parse<{ jobs: ApiJob[] }>(exported).jobs.map((x) => x.job_id)).toContain(DEMO_JOB);
    const all = parse<{ jobs: ApiJob[]; next: string | null }>(
      await run(['jobs', 'list', '--page-size', '1', '--json']),
    );
    expect(all.jobs.length).toBeGreaterThanOrEqual(4); // followed `next` one job at a time
    expect(all.next).toBeNull();
    const one = parse<{ jobs: ApiJob[]; next: string | null }>(
      await run(['jobs', 'list', '--limit', '1', '--json']),
    );
    expect(one.jobs).toHaveLength(1);
    expect(one.next).toBeTruthy();
    const rest = parse<{ jobs: ApiJob[] }>(await run(['jobs', 'list', '--next', one.next!, '--json']));
    expect(rest.jobs.map((x) => x.job_id)).not.toContain(one.jobs[0]!.job_id);
    expect(1 + rest.jobs.length).toBe(all.jobs.length);
    const table = await run(['jobs', 'list', '--status', 'FAILED']);
    expect(table.stdout).toMatch(/^JOB_ID\s+STATUS\s+ZOHO_STATE/);
    expect(table.stdout).toContain(FAILING_JOB);
  }, 240_000);

  it('exports list follows next, filters by module and status, and stops at --limit', async () => {
    await long.lineWatch;
    const all = parse<{ exports: ApiExport[]; next: string | null }>(
      await run(['exports', 'list', '--page-size', '1', '--json']),
    );
    expect(all.exports.length).toBeGreaterThanOrEqual(5);
    expect(all.next).toBeNull();
    expect(new Set(all.exports.map((e) => e.export_id)).size).toBe(all.exports.length);
    const completed = parse<{ exports: ApiExport[] }>(
      await run(['exports', 'list', '--status', 'completed', '--module', 'Contacts', '--json']),
    );
    expect(completed.exports.length).toBeGreaterThanOrEqual(1);
    expect(completed.exports.every((e) => e.status === 'COMPLETED' && e.module === 'Contacts')).toBe(true);
    const failed = parse<{ exports: ApiExport[] }>(
      await run(['exports', 'list', '--status', 'FAILED', '--json']),
    );
    expect(failed.exports.map((e) => e.module)).toEqual(['Accounts']);
    const two = await run(['exports', 'list', '--limit', '2']);
    expect(two.code).toBe(0);
    const rows = two.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^EXPORT_ID\s+MODULE\s+STATUS\s+PAGES\s+RECORDS/);
    expect(rows).toHaveLength(3);
    expect(two.stderr).toMatch(/^more: zoho-export exports list --limit 2 --next \S+/);
  }, 240_000);
});

describe('download', () => {
  it('fetches every file of the manifest, verified; a second run fetches nothing; the default dir is ./<export_id>', async () => {
    const id = exportIdIn((await long.lineWatch)!.stdout);
    const cwd = tempDir();
    const r = await run(['download', id, ...s3Args, '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const d = parse<DownloadResult>(r);
    expect(d.dir).toBe(path.join(cwd, id));
    expect(d.totals).toMatchObject({ files: 1, records: 1500 });
    const f = d.files[0]!;
    expect(f.skipped).toBe(false);
    expect(f.crc32).toMatch(/^[0-9a-f]{8}$/);
    // The file is byte for byte the object in S3, and its CRC-32 is the manifest's.
    const s3 = localS3Client(stack.s3Endpoint);
    const [bucket, ...key] = f.s3.replace('s3://', '').split('/');
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key.join('/') }));
    const want = Buffer.from(await obj.Body!.transformToByteArray());
    const got = readFileSync(f.path);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(want).digest('hex'),
    );
    expect((crc32(got) >>> 0).toString(16).padStart(8, '0')).toBe(f.crc32);
    const manifest = JSON.parse(readFileSync(d.manifest, 'utf8')) as { export_id: string; pages: unknown[] };
    expect(manifest.export_id).toBe(id);
    expect(readdirSync(d.dir).sort()).toEqual([path.basename(f.path), 'manifest.json'].sort());

    const again = await run(['download', id, ...s3Args, '--dir', d.dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(0 downloaded, 1 already there; every file verified)');
    expect(again.stderr).toContain(`already here, verified: ${f.path}`);

    // The Parquet file of the page, its size checked against the manifest.
    const parquetRun = await run([
      'download',
      id,
      ...s3Args,
      '--format',
      'parquet',
      '--dir',
      tempDir(),
      '--json',
    ]);
    expect(parquetRun.code, parquetRun.stderr).toBe(0);
    const pq = parse<DownloadResult>(parquetRun);
    expect(pq.files).toHaveLength(1);
    const pf = pq.files[0]!;
    expect(pf.path).toMatch(/\.parquet$/);
    const pbytes = readFileSync(pf.path);
    expect(pbytes.subarray(0, 4).toString()).toBe('PAR1');
    expect(pbytes.subarray(-4).toString()).toBe('PAR1');
    const [pBucket, ...pKey] = pf.s3.replace('s3://', '').split('/');
    const pobj = await s3.send(new GetObjectCommand({ Bucket: pBucket, Key: pKey.join('/') }));
    expect(Buffer.from(await pobj.Body!.transformToByteArray()).equals(pbytes)).toBe(true);

    const noS3 = await run([
      'download',
      id,
      '--s3-endpoint',
      `http://127.0.0.1:${(await freePorts(1))[0]}`,
      '--dir',
      tempDir(),
    ]);
    expect(noS3.code).toBe(3);
    expect(noS3.stderr).toMatch(/cannot reach S3 at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/);
  }, 240_000);

  it('refuses a file that does not match the manifest (exit 4) and leaves nothing under its name', async () => {
    const id = exportIdIn(plain((await long.ttyWatch)!.output));
    const e = parse<ApiExport>(await run(['exports', 'get', id, '--json']));
    const page = e.pages[0]!.s3!;
    const s3 = localS3Client(stack.s3Endpoint);
    const original = Buffer.from(
      await (
        await s3.send(new GetObjectCommand({ Bucket: page.bucket, Key: page.key }))
      ).Body!.transformToByteArray(),
    );
    // Same size, one byte changed: only the CRC-32 can tell.
    const flipped = Buffer.from(original);
    flipped[flipped.length - 2] = flipped[flipped.length - 2]! ^ 0x01;
    await s3.send(new PutObjectCommand({ Bucket: page.bucket, Key: page.key, Body: flipped }));
    const dir = tempDir();
    const bad = await run(['download', id, ...s3Args, '--dir', dir]);
    expect(bad.code, bad.stderr).toBe(4);
    expect(bad.stderr).toMatch(
      /CRC-32 [0-9a-f]{8} does not match the manifest's [0-9a-f]{8}; the file was not kept/,
    );
    expect(readdirSync(dir)).toEqual([]);
    // Shorter: the size in S3 differs from the manifest's.
    await s3.send(
      new PutObjectCommand({ Bucket: page.bucket, Key: page.key, Body: original.subarray(0, 100) }),
    );
    const short = await run(['download', id, ...s3Args, '--dir', dir, '--json']);
    expect(short.code).toBe(4);
    expect(JSON.parse(short.stderr).error.code).toBe('SIZE_MISMATCH');
    // A corrupt local copy is fetched again, not trusted.
    await s3.send(new PutObjectCommand({ Bucket: page.bucket, Key: page.key, Body: original }));
    const local = path.join(dir, path.basename(page.key));
    writeFileSync(local, flipped);
    const fixed = await run(['download', id, ...s3Args, '--dir', dir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(readFileSync(local).equals(original)).toBe(true);
    expect(existsSync(`${local}.partial`)).toBe(false);
  }, 240_000);
});

describe('query', () => {
  it('SQL on the local stack through the real CLI: the module table counts the completed export', async () => {
    const id = exportIdIn((await long.lineWatch)!.stdout);
    const r = await cli(
      ['query', `SELECT count(*) AS n FROM zoho_crm.zoho_contacts WHERE "_export_id" = '${id}'`, '--json'],
      { env, timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ n: 1500 }]);
    expect(r.stderr).toMatch(/1 row in [\d.]+ s \(DuckDB, local stack\)/);
  }, 240_000);
});
