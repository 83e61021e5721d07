/** Small HTTP helpers shared by the handlers. */
import type { IncomingMessage } from 'node:http';
import { zohoError } from './errors.js';
import type { Ctx } from './state.js';

export async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw zohoError('REQUEST_BODY_NOT_SUPPORTED');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function parseMultipart(body: Buffer, contentType: string): Record<string, string> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  const out: Record<string, string> = {};
  if (!boundary) return out;
  for (const part of body.toString('utf8').split(`--${boundary}`)) {
    const idx = part.indexOf('\r\n\r\n');
    if (idx < 0) continue;
    const headers = part.slice(0, idx);
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (name === undefined) continue;
    out[name] = part.slice(idx + 4).replace(/\r\n$/, '');
  }
  return out;
}

/** Resolves on 'drain' or 'close', whichever comes first, and removes both listeners. */
export function drainOrClose(res: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  ctx.entry.status = status;
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, {
    'Content-Type': 'application/json;charset=UTF-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  ctx.res.end(text);
}

/** No Content: status 204, no body (Zoho's answer when a list is empty). */
export function sendNoContent(ctx: Ctx): void {
  ctx.entry.status = 204;
  ctx.res.writeHead(204);
  ctx.res.end();
}

export function maskToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^(\S+)\s+(.*)$/.exec(header);
  const mask = (t: string) => (t.length <= 4 ? '*'.repeat(t.length) : '*'.repeat(t.length - 4) + t.slice(-4));
  return m ? `${m[1]} ${mask(m[2]!)}` : mask(header);
}

export const SECRET_PARAMS = new Set(['client_secret', 'refresh_token', 'code']);
