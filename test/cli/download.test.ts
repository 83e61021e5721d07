import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { type GetObjectCommandInput, type GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/client.js';
import { download, keyToRelativePath, type ManifestFiles, planFiles } from '../../cli/download.js';
import { CliError } from '../../cli/errors.js';

/**
 * `download` in-process (finding L8): the API is a local HTTP server answering one export, S3 a client
 * whose requests are answered in memory. A manifest is data from S3: whatever keys it lists, nothing may
 * be written outside the target directory.
 */

const EXPORT_ID = 'ex_01M8SWSR2FFNKF49M1MSR9Q8DB';
const BUCKET = 'exports';
const MANIFEST_KEY = `zoho-crm/_manifests/${EXPORT_ID}.json`;

/** What "S3" holds: key -> body. */
const objects = new Map<string, Buffer>();
let server: Server;
let client: ApiClient;
const roots: string[] = [];

function fakeS3(): S3Client {
  const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  s3.middlewareStack.add(
    () => async (args) => {
      const { Key } = args.input as GetObjectCommandInput;
      const body = objects.get(Key ?? '');
      if (!body) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
      const output: GetObjectCommandOutput = {
        $metadata: { httpStatusCode: 200 },
        Body: Readable.from([body]) as GetObjectCommandOutput['Body'],
        ContentLength: body.length,
      };
      return { output, response: {} };
    },
    { step: 'initialize', name: 'inMemoryS3' },
  );
  return s3;
}

const hex = (b: Buffer) => (crc32(b) >>> 0).toString(16).padStart(8, '0');

function page(n: number, key: string, body: string) {
  const buf = Buffer.from(body);
  objects.set(key, buf);
  return {
    page: n,
    job_id: String(1000 + n),
    records: 1,
    csv: { bucket: BUCKET, key, bytes: buf.length, crc32: hex(buf) },
    header: ['Id'],
  };
}

function manifestOf(pages: ReturnType<typeof page>[]): void {
  objects.set(MANIFEST_KEY, Buffer.from(JSON.stringify({ export_id: EXPORT_ID, pages })));
}

/** A temporary root with the target directory two levels down: `../..` from it is still inside the root. */
function target(): { root: string; dir: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'zoho-cli-download-'));
  roots.push(root);
  return { root, dir: path.join(root, 'a', 'b', 'out') };
}

/** Every file under `root`, relative to it. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

const run = (dir: string) =>
  download({ client, s3: fakeS3(), s3Where: 'memory', exportId: EXPORT_ID, cwd: '/', dir, format: 'csv' });

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url !== `/exports/${EXPORT_ID}`) {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such export' } }));
      return;
    }
    res.end(
      JSON.stringify({
        export_id: EXPORT_ID,
        module: 'Contacts',
        status: 'COMPLETED',
        pages: [],
        manifest: { bucket: BUCKET, key: MANIFEST_KEY },
        error: null,
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new ApiClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
afterEach(() => objects.clear());
afterAll(async () => {
  await new Promise((r) => server.close(r));
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('download: the target directory is the only place written', () => {
  it('a normal manifest: each file under its own name, verified, and manifest.json', async () => {
    manifestOf([
      page(1, 'zoho-crm/module=Contacts/export_date=2026-12-07/ex-00001-1001.csv', 'Id\n1\n'),
      page(2, 'zoho-crm/module=Contacts/export_date=2026-12-07/ex-00002-1002.csv', 'Id\n2\n'),
    ]);
    const { root, dir } = target();
    const r = await run(dir);
    expect(r.totals).toMatchObject({ files: 2, records: 2 });
    expect(filesUnder(root)).toEqual(
      ['ex-00001-1001.csv', 'ex-00002-1002.csv', 'manifest.json'].map((f) => path.join('a', 'b', 'out', f)),
    );
    expect(readFileSync(path.join(dir, 'ex-00002-1002.csv'), 'utf8')).toBe('Id\n2\n');
  });

  it('colliding names: each file under its whole key, inside the directory', async () => {
    manifestOf([
      page(1, 'zoho-crm/module=Contacts/export_date=2026-12-06/same.csv', 'Id\n1\n'),
      page(2, 'zoho-crm/module=Contacts/export_date=2026-12-07/same.csv', 'Id\n2\n'),
    ]);
    const { dir } = target();
    const r = await run(dir);
    expect(r.files.map((f) => path.relative(dir, f.path))).toEqual([
      path.join('zoho-crm', 'module=Contacts', 'export_date=2026-12-06', 'same.csv'),
      path.join('zoho-crm', 'module=Contacts', 'export_date=2026-12-07', 'same.csv'),
    ]);
    expect(readFileSync(r.files[1]!.path, 'utf8')).toBe('Id\n2\n');
  });

  it.each([
    '../../etc/x',
    '/abs/x',
    'a/../../x',
    '..\\x',
    '..\\..\\x',
    'a\\..\\..\\x',
    'C:\\x',
    '\\abs\\x',
    './x',
    'a//x',
    'x\0.csv',
  ])('a tampered key %j: refused (BAD_MANIFEST), nothing written anywhere', async (evil) => {
    // A harmless page first: the whole download is refused before anything is written.
    const ok = page(1, 'zoho-crm/module=Contacts/export_date=2026-12-07/ok.csv', 'Id\n1\n');
    manifestOf([ok, { ...page(2, evil, 'pwned'), csv: { ...ok.csv, key: evil } }]);
    const { root, dir } = target();
    const err = await run(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).code).toBe('BAD_MANIFEST');
    expect(filesUnder(root)).toEqual([]);
  });

  it('a tampered key that collides (so the whole key would be used) is refused the same', async () => {
    manifestOf([page(1, 'zoho-crm/x.csv', 'Id\n1\n'), page(2, '../../x.csv', 'pwned')]);
    const { root, dir } = target();
    await expect(run(dir)).rejects.toMatchObject({ code: 'BAD_MANIFEST' });
    expect(filesUnder(root)).toEqual([]);
  });

  it('a manifest that is not one (a page without its CSV) is refused', async () => {
    objects.set(MANIFEST_KEY, Buffer.from(JSON.stringify({ export_id: EXPORT_ID, pages: [{ page: 1 }] })));
    const { root, dir } = target();
    await expect(run(dir)).rejects.toMatchObject({ code: 'BAD_MANIFEST' });
    expect(filesUnder(root)).toEqual([]);
  });
});

describe('planFiles', () => {
  const manifest = (keys: Array<[bucket: string, key: string]>): ManifestFiles => ({
    export_id: EXPORT_ID,
    pages: keys.map(([bucket, key], i) => ({
      page: i + 1,
      job_id: String(i),
      records: 1,
      csv: { bucket, key, bytes: 1, crc32: null },
      header: null,
    })),
  });

  it('the same key in two buckets: unique names, both inside the directory', () => {
    const plan = planFiles(
      manifest([
        ['b1', 'p/x.csv'],
        ['b2', 'p/x.csv'],
      ]),
      'csv',
      '/t/out',
    );
    expect(plan.map((f) => f.path)).toEqual(['/t/out/p/x.csv', '/t/out/p/x.csv-2']);
  });

  it('a file called manifest.json does not take the manifest’s place', () => {
    const plan = planFiles(manifest([['b', 'p/manifest.json']]), 'csv', '/t/out');
    expect(plan.map((f) => f.path)).toEqual(['/t/out/p/manifest.json']);
  });

  it('the layout’s keys pass unchanged', () => {
    const key =
      'exports/zoho/parquet/module=Deals/export_date=2026-12-07/ex_01M8SWSR2FFNKF49M1MSR9Q8DB-00001-1.parquet';
    expect(keyToRelativePath(key)).toBe(key.split('/').join(path.sep));
  });
});
