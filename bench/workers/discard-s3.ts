/**
 * Child process of the bench runner (download section): an S3-compatible endpoint on 127.0.0.1 that reads and discards every
 * body, for the calls `@aws-sdk/lib-storage` `Upload` makes (path-style URLs):
 *
 *   PUT    /bucket/key                          PutObject
 *   POST   /bucket/key?uploads                  CreateMultipartUpload   -> XML with UploadId
 *   PUT    /bucket/key?partNumber=N&uploadId=U  UploadPart              -> ETag header
 *   POST   /bucket/key?uploadId=U               CompleteMultipartUpload -> XML
 *   DELETE /bucket/key?uploadId=U               AbortMultipartUpload    -> 204
 *   HEAD   /bucket/key                          HeadObject              -> the stored size
 *   DELETE /bucket/key                          DeleteObject            -> 204
 *   GET    /__stats                             bytes and calls so far (JSON), for the bench only
 *
 * Prints one JSON line `{ "url": ... }` when listening.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const stats = {
  bytes: 0,
  puts: 0,
  parts: 0,
  creates: 0,
  completes: 0,
  aborts: 0,
  other: 0,
  failedBodies: 0,
  /** Parts listed by CompleteMultipartUpload that were never received, and bytes of the listed parts. */
  lastComplete: { listed: 0, missing: [] as number[], bytes: 0, duplicates: 0 },
};
const uploads = new Map<string, Map<number, number>>();
/** Size of each completed object (bodies are discarded), for HeadObject. */
const sizes = new Map<string, number>();

function drain(req: IncomingMessage, keep = false): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (keep) kept.push(c);
    });
    req.on('end', () => resolve(n));
    req.on('error', reject);
  });
}

let kept: Buffer[] = [];
const etag = (): string => `"${randomBytes(16).toString('hex')}"`;
const xml = (res: ServerResponse, body: string): void => {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
};

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const q = url.searchParams;
  const [, bucket = '', ...rest] = url.pathname.split('/');
  const key = decodeURIComponent(rest.join('/'));
  if (url.pathname === '/__stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.method === 'PUT' && q.has('partNumber') && q.has('uploadId')) {
    const n = await drain(req).catch((e: unknown) => {
      stats.failedBodies++;
      throw e;
    });
    stats.bytes += n;
    stats.parts++;
    const parts = uploads.get(q.get('uploadId')!) ?? new Map<number, number>();
    const pn = Number(q.get('partNumber'));
    if (parts.has(pn)) stats.lastComplete.duplicates++;
    parts.set(pn, n);
    uploads.set(q.get('uploadId')!, parts);
    res.writeHead(200, { ETag: etag(), 'Content-Length': 0 });
    res.end();
    return;
  }
  if (req.method === 'PUT') {
    const n = await drain(req);
    stats.bytes += n;
    stats.puts++;
    sizes.set(`${bucket}/${key}`, n);
    res.writeHead(200, { ETag: etag(), 'Content-Length': 0 });
    res.end();
    return;
  }
  kept = [];
  await drain(req, true);
  const body = Buffer.concat(kept).toString('utf8');
  if (req.method === 'POST' && q.has('uploads')) {
    stats.creates++;
    const id = randomBytes(12).toString('hex');
    xml(
      res,
      `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
    );
    return;
  }
  if (req.method === 'POST' && q.has('uploadId')) {
    stats.completes++;
    const parts = uploads.get(q.get('uploadId')!) ?? new Map<number, number>();
    const listed = [...body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
    const duplicates = stats.lastComplete.duplicates;
    stats.lastComplete = {
      listed: listed.length,
      missing: listed.filter((pn) => !parts.has(pn)),
      bytes: listed.reduce((a, pn) => a + (parts.get(pn) ?? 0), 0),
      duplicates,
    };
    uploads.delete(q.get('uploadId')!);
    sizes.set(`${bucket}/${key}`, stats.lastComplete.bytes);
    xml(
      res,
      `<CompleteMultipartUploadResult><Location>http://127.0.0.1/${bucket}/${key}</Location><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>${etag()}</ETag></CompleteMultipartUploadResult>`,
    );
    return;
  }
  if (req.method === 'DELETE' && q.has('uploadId')) {
    stats.aborts++;
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'HEAD') {
    const size = sizes.get(`${bucket}/${key}`);
    res.writeHead(size === undefined ? 404 : 200, {
      'Content-Length': size ?? 0,
      'Content-Type': 'text/csv',
      ETag: etag(),
      'Last-Modified': new Date().toUTCString(),
    });
    res.end();
    return;
  }
  if (req.method === 'DELETE') {
    sizes.delete(`${bucket}/${key}`);
    res.writeHead(204);
    res.end();
    return;
  }
  stats.other++;
  res.writeHead(501, { 'Content-Length': 0 });
  res.end();
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => res.destroy());
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
