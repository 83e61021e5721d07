/**
 * `download <export_id>`: every file a COMPLETED export's manifest lists, streamed from S3 to disk
 * (constant memory), each checked against the manifest: its size, and for CSV its CRC-32. A file is
 * written as `<name>.partial` and renamed only once it matches, so a file under its final name is
 * always a verified one; a file already there that matches is not fetched again.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import type { ApiClient } from './client.js';
import { CliError, describeNetworkError, EXIT, FailedError, UsageError, VerifyError } from './errors.js';
import { bytes, s3Uri } from './format.js';
import { credentialsError } from './signing.js';
import type { ApiExport, CliManifest } from './types.js';
import { Interrupted, ProgressStream, type Stream } from './watch.js';

export type FileFormat = 'csv' | 'parquet';

export interface PlannedFile {
  page: number;
  job_id: string;
  format: FileFormat;
  bucket: string;
  key: string;
  bytes: number;
  /** 8 hex digits, or null when the manifest has none (size is then the only check). */
  crc32: string | null;
  path: string;
}

export interface DownloadedFile {
  page: number;
  job_id: string;
  format: FileFormat;
  s3: string;
  path: string;
  bytes: number;
  crc32: string | null;
  /** Already on disk and matching: not fetched again. */
  skipped: boolean;
}

export interface DownloadResult {
  export_id: string;
  module: string | null;
  format: FileFormat;
  dir: string;
  manifest: string;
  files: DownloadedFile[];
  totals: { files: number; bytes: number; records: number };
}

export interface DownloadOptions {
  client: ApiClient;
  s3: S3Client;
  /** Where S3 is, for messages ("cannot reach S3 at ..."). */
  s3Where: string;
  exportId: string;
  dir?: string;
  cwd: string;
  format: FileFormat;
  /** Progress: a bar on a terminal, a line per file otherwise, nothing when undefined. */
  progress?: Stream;
  /** Ctrl-C: stops the transfer (the `.partial` file is removed). */
  signal?: AbortSignal;
}

const hex = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** Maps an S3 or network failure to a plain message (exit 3). */
function s3Error(e: unknown, what: string, where: string): CliError {
  if (e instanceof CliError) return e;
  const err = e as Error & { $metadata?: { httpStatusCode?: number } };
  const name = err?.name ?? '';
  if (name === 'CredentialsProviderError') return credentialsError(e);
  const status = err.$metadata?.httpStatusCode;
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return new CliError(EXIT.API, `${what} is not in S3 (${name || 'HTTP 404'})`, 'S3_NOT_FOUND');
  }
  if (name === 'NoSuchBucket')
    return new CliError(EXIT.API, `${what}: the bucket does not exist`, 'S3_NO_SUCH_BUCKET');
  if (name === 'AccessDenied' || status === 403) {
    return new CliError(EXIT.API, `${what}: access denied by S3 (${err.message})`, 'S3_ACCESS_DENIED');
  }
  if (status === undefined) {
    return new CliError(
      EXIT.API,
      `cannot reach S3 at ${where} for ${what} (${describeNetworkError(e)})`,
      'S3_NETWORK_ERROR',
    );
  }
  return new CliError(EXIT.API, `${what}: S3 answered ${status} ${name}: ${err.message}`, 'S3_ERROR');
}

async function getObject(s3: S3Client, bucket: string, key: string, where: string, signal?: AbortSignal) {
  try {
    const out = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key }),
      signal ? { abortSignal: signal } : {},
    );
    if (!out.Body) throw new CliError(EXIT.API, `${s3Uri({ bucket, key })}: S3 sent no body`, 'S3_ERROR');
    return { body: out.Body as Readable, length: out.ContentLength };
  } catch (e) {
    if (signal?.aborted)
      throw new Interrupted('download interrupted; unfinished files were removed (run it again to continue)');
    throw s3Error(e, s3Uri({ bucket, key }), where);
  }
}

/** Checks the export can be downloaded; returns the manifest location. */
export function assertDownloadable(e: ApiExport): { bucket: string; key: string } {
  if (e.status === 'FAILED') {
    const where = e.error?.page ? ` on page ${e.error.page}` : '';
    throw new FailedError(
      `export ${e.export_id} FAILED${where}, there is nothing to download: ${e.error?.code ?? 'FAILED'}: ${e.error?.message ?? 'no message'}`,
      e.error?.code ?? 'FAILED',
    );
  }
  if (e.status !== 'COMPLETED') {
    const landed = e.pages.filter((p) => p.status === 'EXPORTED').length;
    throw new UsageError(
      `export ${e.export_id} is ${e.status} (${landed} of ${e.pages.length} page(s) landed so far): only a COMPLETED export can be downloaded, its manifest is written last; wait with: zoho-export exports get ${e.export_id} --watch`,
      'NOT_COMPLETED',
    );
  }
  if (!e.manifest) {
    throw new CliError(EXIT.API, `export ${e.export_id} is COMPLETED but names no manifest`, 'NO_MANIFEST');
  }
  return e.manifest;
}

/** The manifest file the CLI writes beside the files: no listed file may take its name. */
const MANIFEST_FILE = 'manifest.json';

/**
 * An S3 key as a path relative to the target directory, or a BAD_MANIFEST error: a key is data from S3,
 * and a tampered manifest must not make the CLI write anywhere but under its directory. Refused: NUL,
 * an absolute key (`/x`, `\x`, `C:x`), and any `.`/`..`/empty segment, `\` counting as a separator too
 * (Windows reads it as one). The layout's keys (lib/exports/layout.ts) pass unchanged.
 */
export function keyToRelativePath(key: string): string {
  const bad = (why: string) =>
    new CliError(
      EXIT.API,
      `the manifest lists the key ${JSON.stringify(key)}, ${why}: nothing was downloaded`,
      'BAD_MANIFEST',
    );
  if (key.includes('\0')) throw bad('which contains a NUL character');
  if (/^[\\/]/.test(key) || /^[A-Za-z]:/.test(key)) throw bad('which is absolute');
  const segments = key.split(/[\\/]/);
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    throw bad('which has an empty, "." or ".." segment');
  return segments.join(sep);
}

/** `path` resolved under `dir`, or an error if it would land anywhere else (the last line of defence). */
function inside(dir: string, path: string): string {
  const full = resolve(dir, path);
  const rel = relative(dir, full);
  if (!rel || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new CliError(EXIT.API, `refusing to write ${full}: it is outside ${dir}`, 'BAD_MANIFEST');
  }
  return full;
}

/** What the CLI reads of a manifest; any other field is kept as it is in the manifest.json it writes. */
const S3_FILE = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  bytes: z.number().int().nonnegative(),
});
const MANIFEST = z.looseObject({
  export_id: z.string(),
  pages: z.array(
    z.looseObject({
      page: z.number().int(),
      job_id: z.string(),
      // Older manifests may lack these: the totals count 0 records, the size is the only check.
      records: z.number().int().nonnegative().default(0),
      csv: S3_FILE.extend({
        crc32: z
          .string()
          .regex(/^[0-9A-Fa-f]{8}$/)
          .nullable()
          .default(null),
      }),
      parquet: S3_FILE.nullable().optional(),
    }),
  ),
});

/** The manifest as the CLI reads it (lib/exports/manifest.ts writes it). */
export type ManifestFiles = z.output<typeof MANIFEST>;
// Every manifest lib writes passes the schema: a field renamed there fails here, at tsc.
const _manifestsParse: CliManifest extends z.input<typeof MANIFEST> ? true : never = true;
void _manifestsParse;

/**
 * The files to fetch and where each goes. A file is named by its key's last part (every one carries its
 * export id and job id); if two would collide, by its whole key under `dir` (with `-2`, `-3`... when even
 * that collides: the same key in two buckets). Whatever the manifest says, every path is inside `dir`.
 */
export function planFiles(m: ManifestFiles, format: FileFormat, dir: string): PlannedFile[] {
  const files: Omit<PlannedFile, 'path'>[] = m.pages.map((p) => {
    if (format === 'csv') {
      return { page: p.page, job_id: p.job_id, format, ...p.csv, crc32: p.csv.crc32?.toLowerCase() ?? null };
    }
    if (!p.parquet) {
      throw new UsageError(
        `export ${m.export_id} has no Parquet file for page ${p.page} (its manifest lists ${m.pages.some((x) => x.parquet) ? 'Parquet for some pages only' : 'CSV only'}); use --format csv`,
        'NO_PARQUET',
      );
    }
    const { bucket, key, bytes } = p.parquet;
    return { page: p.page, job_id: p.job_id, format, bucket, key, bytes, crc32: null };
  });
  const relatives = files.map((f) => keyToRelativePath(f.key));
  const names = relatives.map((r) => basename(r));
  const flat = new Set(names).size === names.length && !names.includes(MANIFEST_FILE);
  const taken = new Set<string>([MANIFEST_FILE]);
  return files.map((f, i) => {
    const wanted = flat ? names[i]! : relatives[i]!;
    let name = wanted;
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${wanted}-${n}`;
    taken.add(name.toLowerCase());
    return { ...f, path: inside(dir, name) };
  });
}

async function fileMatches(f: PlannedFile): Promise<boolean> {
  const st = await stat(f.path).catch(() => undefined);
  if (!st?.isFile() || st.size !== f.bytes) return false;
  if (f.crc32 === null) return true;
  let c = 0;
  for await (const chunk of createReadStream(f.path)) c = crc32(chunk as Buffer, c);
  return hex(c) === f.crc32;
}

export async function download(o: DownloadOptions): Promise<DownloadResult> {
  const exp = await o.client.get<ApiExport>(`/exports/${encodeURIComponent(o.exportId)}`);
  const at = assertDownloadable(exp);
  const { body } = await getObject(o.s3, at.bucket, at.key, o.s3Where, o.signal);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      size += (c as Buffer).length;
      if (size > 64 * 1024 * 1024)
        throw new CliError(EXIT.API, `the manifest ${s3Uri(at)} is over 64 MiB`, 'BAD_MANIFEST');
      chunks.push(c as Buffer);
    }
  } catch (e) {
    throw s3Error(e, s3Uri(at), o.s3Where);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(
      EXIT.API,
      `the manifest ${s3Uri(at)} is not JSON: ${(e as Error).message}`,
      'BAD_MANIFEST',
    );
  }
  const parsed = MANIFEST.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(
      EXIT.API,
      `the manifest ${s3Uri(at)} is not a manifest: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      'BAD_MANIFEST',
    );
  }
  const manifest = parsed.data;
  if (manifest.export_id !== exp.export_id) {
    throw new CliError(
      EXIT.API,
      `the manifest ${s3Uri(at)} is not the manifest of ${exp.export_id}`,
      'BAD_MANIFEST',
    );
  }

  const dir = resolve(o.cwd, o.dir ?? exp.export_id);
  const plan = planFiles(manifest, o.format, dir);
  await mkdir(dir, { recursive: true });
  for (const f of plan) await mkdir(dirname(f.path), { recursive: true });

  const total = plan.reduce((n, f) => n + f.bytes, 0);
  const live = o.progress?.isTTY
    ? new cliProgress.SingleBar({
        stream: new ProgressStream(o.progress),
        hideCursor: true,
        gracefulExit: false,
        format: (_opt, p, payload: { name: string }) =>
          `downloading [${'█'.repeat(Math.round(p.progress * 30))}${'░'.repeat(30 - Math.round(p.progress * 30))}] ${bytes(p.value)}/${bytes(p.total)}  ${payload.name}`,
      })
    : undefined;
  live?.start(total, 0, { name: '' });
  let done = 0;
  const files: DownloadedFile[] = [];
  try {
    for (const f of plan) {
      const uri = s3Uri(f);
      const result = (skipped: boolean): DownloadedFile => ({
        page: f.page,
        job_id: f.job_id,
        format: f.format,
        s3: uri,
        path: f.path,
        bytes: f.bytes,
        crc32: f.crc32,
        skipped,
      });
      if (await fileMatches(f)) {
        done += f.bytes;
        live?.update(done, { name: basename(f.path) });
        if (!live) o.progress?.write(`already here, verified: ${f.path}\n`);
        files.push(result(true));
        continue;
      }
      const partial = `${f.path}.partial`;
      const obj = await getObject(o.s3, f.bucket, f.key, o.s3Where, o.signal);
      if (obj.length !== undefined && obj.length !== f.bytes) {
        obj.body.destroy();
        throw new VerifyError(
          `${uri} is ${obj.length} bytes in S3 but the manifest says ${f.bytes}: not downloaded`,
          'SIZE_MISMATCH',
        );
      }
      let got = 0;
      let c = 0;
      const check = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          got += chunk.length;
          c = crc32(chunk, c);
          done += chunk.length;
          live?.update(done, { name: basename(f.path) });
          cb(null, chunk);
        },
      });
      try {
        await pipeline(obj.body, check, createWriteStream(partial), o.signal ? { signal: o.signal } : {});
      } catch (e) {
        await rm(partial, { force: true });
        if (o.signal?.aborted)
          throw new Interrupted(
            'download interrupted; unfinished files were removed (run it again to continue)',
          );
        throw s3Error(e, uri, o.s3Where);
      }
      if (got !== f.bytes) {
        await rm(partial, { force: true });
        throw new VerifyError(`${uri}: got ${got} bytes, the manifest says ${f.bytes}`, 'SIZE_MISMATCH');
      }
      if (f.crc32 !== null && hex(c) !== f.crc32) {
        await rm(partial, { force: true });
        throw new VerifyError(
          `${uri}: CRC-32 ${hex(c)} does not match the manifest's ${f.crc32}; the file was not kept`,
          'CRC32_MISMATCH',
        );
      }
      await rename(partial, f.path);
      if (!live) {
        o.progress?.write(
          `downloaded ${f.path} (${bytes(f.bytes)}, ${f.crc32 ? `CRC-32 ${f.crc32} ok` : 'size ok'})\n`,
        );
      }
      files.push(result(false));
    }
  } finally {
    live?.stop();
  }
  const manifestPath = join(dir, MANIFEST_FILE);
  await writeFile(manifestPath, text.endsWith('\n') ? text : `${text}\n`);
  return {
    export_id: exp.export_id,
    module: exp.module,
    format: o.format,
    dir,
    manifest: manifestPath,
    files,
    totals: {
      files: files.length,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      records: manifest.pages.reduce((n, p) => n + (p.records ?? 0), 0),
    },
  };
}
