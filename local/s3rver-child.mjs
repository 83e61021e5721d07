// Runs s3rver in its own process. Started by local/stand-ins.ts with --openssl-legacy-provider
// (s3rver encrypts list continuation tokens with DES; without the flag paginated lists fail).
//
// CompleteMultipartUpload is replaced (s3rver 3.7.1, pinned; unmaintained since 2021) to behave as S3
// does, and to stop being the local stack's bottleneck. s3rver's own version streams every part
// through an MD5 of the whole object and writes it straight under the final key; measured in the
// local benchmark, that took 1.6 s of a 6.0 s ~200 MB export and 2.8 s of a 10.6 s ~600 MB one, with
// s3rver using 17-21 CPU s per GiB against the exporter's 9-11. This one:
// - checks the listed parts as S3 does: ascending numbers (InvalidPartOrder), each uploaded with that
//   ETag (InvalidPart); s3rver checked neither;
// - joins them without hashing again: the first part file is renamed, the others appended;
// - gives the object S3's multipart ETag, MD5 of the parts' binary MD5s plus "-<parts>";
// - writes the object beside the parts and renames it under its key, after its metadata, so a reader
//   never sees a partly written object.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';

const require = createRequire(import.meta.url);
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Error = require('s3rver/lib/models/error');

FilesystemStore.prototype.putObjectMultipart = async function putObjectMultipart(bucket, uploadId, parts) {
  const uploadDir = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const [key, metadata] = await Promise.all([
    readFile(path.join(uploadDir, 'key'), 'utf8'),
    readFile(path.join(uploadDir, 'metadata'), 'utf8').then(JSON.parse),
  ]);
  for (let i = 1; i < parts.length; i++) {
    if (parts[i].number <= parts[i - 1].number) {
      throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order.');
    }
  }
  const md5s = await Promise.all(
    parts.map((p) => readFile(path.join(uploadDir, `${p.number}.md5`), 'utf8').catch(() => undefined)),
  );
  parts.forEach((p, i) => {
    if (md5s[i] === undefined || md5s[i] !== p.etag) {
      throw new S3Error(
        'InvalidPart',
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
      );
    }
  });
  const joined = path.join(uploadDir, 'object');
  await rename(path.join(uploadDir, String(parts[0].number)), joined);
  for (const p of parts.slice(1)) {
    await pipeline(
      createReadStream(path.join(uploadDir, String(p.number)), { highWaterMark: 1 << 20 }),
      createWriteStream(joined, { flags: 'a' }),
    );
  }
  const { size } = await stat(joined);
  const etag = `${createHash('md5')
    .update(Buffer.concat(md5s.map((m) => Buffer.from(m, 'hex'))))
    .digest('hex')}-${parts.length}`;
  const objectPath = this.getResourcePath(bucket, key, 'object');
  await mkdir(path.dirname(objectPath), { recursive: true });
  await this.putMetadata(bucket, key, metadata, etag);
  await rename(joined, objectPath);
  await rm(uploadDir, { recursive: true, force: true });
  return { size, md5: etag };
};

const [port, directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  port: Number(port),
  address: '127.0.0.1',
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
server
  .run()
  .then(() => process.send?.({ ready: true }))
  .catch((e) => {
    process.send?.({ error: String(e?.message ?? e) });
    process.exit(1);
  });
const stop = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
