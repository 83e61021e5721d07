/**
 * An in-memory S3 endpoint that checks CRC32 checksums the way S3 does, for the parts of the
 * upload path s3rver cannot exercise (it predates S3's flexible checksums):
 *
 * - CreateMultipartUpload remembers `x-amz-checksum-algorithm`;
 * - UploadPart of an upload created with CRC32 must carry `x-amz-checksum-crc32` equal to the CRC-32
 *   of the body (else 400 BadDigest / InvalidRequest); a checksum on a part of an upload created
 *   without one is refused, as S3 refuses a checksum type that does not match the upload's;
 * - PutObject checks `x-amz-checksum-crc32` when sent;
 * - CompleteMultipartUpload joins the parts it lists; Head/Get/DeleteObject serve the result, with the
 *   content type and `x-amz-meta-*` headers it was written with (a missing key is S3's 404 NoSuchKey);
 * - ListObjectsV2 lists a bucket's keys under a prefix, in order, in pages of `max-keys`.
 *
 * Every part request is logged, so a test can see which checksums arrived. It is also the unit tier's
 * S3 (test/support/pipeline.ts, `backend: 'memory'`): no child process, no disk.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { crc32Base64 } from '../../lib/crc32.js';

export interface PartRecord {
  uploadId: string;
  partNumber: number;
  bytes: number;
  /** The `x-amz-checksum-crc32` header as sent, if any. */
  crc32Header: string | undefined;
}

export interface ChecksumS3 {
  endpoint: string;
  parts: PartRecord[];
  /** Requests refused for a checksum problem, as `Code: message`. */
  refused: string[];
  objects: Map<string, Buffer>;
  /** Open multipart uploads (created, neither completed nor aborted). */
  openUploads(): number;
  close(): Promise<void>;
}

/** What an object was written with besides its bytes: its content type and `x-amz-meta-*` headers. */
interface ObjectHeaders {
  contentType: string | undefined;
  meta: Record<string, string>;
}

interface Upload extends ObjectHeaders {
  key: string;
  algorithm: string | undefined;
  parts: Map<number, Buffer>;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The `x-amz-meta-*` headers of a request, by their lowercase names. */
function metaOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith('x-amz-meta-') && typeof v === 'string') out[k] = v;
  }
  return out;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const xml = (res: ServerResponse, status: number, text: string): void => {
  const out = `<?xml version="1.0" encoding="UTF-8"?>\n${text}`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(out) });
  res.end(out);
};

export async function startChecksumS3(): Promise<ChecksumS3> {
  const uploads = new Map<string, Upload>();
  const objects = new Map<string, Buffer>();
  const headersOf = new Map<string, ObjectHeaders>();
  const parts: PartRecord[] = [];
  const refused: string[] = [];
  const refuse = (res: ServerResponse, code: string, message: string): void => {
    refused.push(`${code}: ${message}`);
    xml(res, 400, `<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  };
  const checkCrc = (res: ServerResponse, header: string | undefined, data: Buffer): boolean => {
    if (header === undefined || header === crc32Base64(crc32(data))) return true;
    refuse(res, 'BadDigest', `The CRC32 you specified did not match the calculated checksum (${header})`);
    return false;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const q = url.searchParams;
    const key = decodeURIComponent(url.pathname.slice(1)); // bucket/key
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const data = await body(req);
    const uploadId = q.get('uploadId') ?? '';

    if (req.method === 'POST' && q.has('uploads')) {
      const id = randomBytes(8).toString('hex');
      uploads.set(id, {
        key,
        algorithm: header('x-amz-checksum-algorithm'),
        parts: new Map(),
        contentType: header('content-type'),
        meta: metaOf(req),
      });
      const [bucket, ...rest] = key.split('/');
      xml(
        res,
        200,
        `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${rest.join('/')}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
      );
      return;
    }
    if (req.method === 'PUT' && q.has('partNumber')) {
      const up = uploads.get(uploadId);
      if (!up || up.key !== key) return refuse(res, 'NoSuchUpload', 'unknown upload');
      const crcHeader = header('x-amz-checksum-crc32');
      const partNumber = Number(q.get('partNumber'));
      parts.push({ uploadId, partNumber, bytes: data.length, crc32Header: crcHeader });
      if (up.algorithm === 'CRC32' && crcHeader === undefined)
        return refuse(res, 'InvalidRequest', `part ${partNumber} has no x-amz-checksum-crc32`);
      if (up.algorithm !== 'CRC32' && crcHeader !== undefined)
        return refuse(res, 'InvalidRequest', 'Checksum Type mismatch occurred');
      if (!checkCrc(res, crcHeader, data)) return;
      up.parts.set(partNumber, data);
      res.writeHead(200, {
        ETag: `"${randomBytes(8).toString('hex')}"`,
        ...(crcHeader && { 'x-amz-checksum-crc32': crcHeader }),
        'Content-Length': 0,
      });
      res.end();
      return;
    }
    if (req.method === 'POST' && q.has('uploadId')) {
      const up = uploads.get(uploadId);
      if (!up) return refuse(res, 'NoSuchUpload', 'unknown upload');
      const listed = [...data.toString('utf8').matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) =>
        Number(m[1]),
      );
      const missing = listed.filter((n) => !up.parts.has(n));
      if (missing.length) return refuse(res, 'InvalidPart', `parts ${missing.join(',')} were not uploaded`);
      objects.set(key, Buffer.concat(listed.map((n) => up.parts.get(n) as Buffer)));
      headersOf.set(key, { contentType: up.contentType, meta: up.meta });
      uploads.delete(uploadId);
      xml(
        res,
        200,
        `<CompleteMultipartUploadResult><Location>http://127.0.0.1/${key}</Location><Key>${key}</Key><ETag>"x-${listed.length}"</ETag></CompleteMultipartUploadResult>`,
      );
      return;
    }
    if (req.method === 'DELETE' && q.has('uploadId')) {
      uploads.delete(uploadId);
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === 'PUT') {
      if (!checkCrc(res, header('x-amz-checksum-crc32'), data)) return;
      objects.set(key, data);
      headersOf.set(key, { contentType: header('content-type'), meta: metaOf(req) });
      res.writeHead(200, { ETag: '"put"', 'Content-Length': 0 });
      res.end();
      return;
    }
    const bucketOnly = key.replace(/\/$/, ''); // the SDK asks for `/bucket/?list-type=2`
    if (req.method === 'GET' && q.get('list-type') === '2' && !bucketOnly.includes('/')) {
      // ListObjectsV2 of the bucket: keys after the continuation token, `max-keys` at a time.
      const prefix = `${bucketOnly}/${q.get('prefix') ?? ''}`;
      const after = q.get('continuation-token') ?? q.get('start-after') ?? '';
      const max = Number(q.get('max-keys') ?? 1000);
      const all = [...objects.keys()]
        .filter((k) => k.startsWith(prefix))
        .map((k) => k.slice(bucketOnly.length + 1))
        .filter((k) => k > after)
        .sort();
      const page = all.slice(0, max);
      const truncated = all.length > page.length;
      const contents = page
        .map(
          (k) =>
            `<Contents><Key>${escapeXml(k)}</Key><Size>${objects.get(`${bucketOnly}/${k}`)!.length}</Size><ETag>"obj"</ETag><StorageClass>STANDARD</StorageClass></Contents>`,
        )
        .join('');
      xml(
        res,
        200,
        `<ListBucketResult><Name>${escapeXml(bucketOnly)}</Name><Prefix>${escapeXml(q.get('prefix') ?? '')}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${truncated ? `<NextContinuationToken>${escapeXml(page.at(-1)!)}</NextContinuationToken>` : ''}</ListBucketResult>`,
      );
      return;
    }
    const obj = objects.get(key);
    if (req.method === 'HEAD' || req.method === 'GET') {
      if (!obj) {
        if (req.method === 'HEAD') {
          res.writeHead(404, { 'Content-Length': 0 });
          res.end();
          return;
        }
        xml(
          res,
          404,
          '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
        );
        return;
      }
      const h = headersOf.get(key);
      res.writeHead(200, {
        'Content-Length': obj.length,
        'Content-Type': h?.contentType ?? 'application/octet-stream',
        ETag: '"obj"',
        ...h?.meta,
      });
      res.end(req.method === 'GET' ? obj : undefined);
      return;
    }
    if (req.method === 'DELETE') {
      objects.delete(key);
      headersOf.delete(key);
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(501, { 'Content-Length': 0 });
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    parts,
    refused,
    objects,
    openUploads: () => uploads.size,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}
