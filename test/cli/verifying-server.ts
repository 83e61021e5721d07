/**
 * A stand-in for API Gateway's IAM authorization: an HTTP server that checks every request's SigV4
 * signature by recomputing it with the SDK's own `SignatureV4` from the request as received (method,
 * path, query, the signed headers, the body) and the secret of the access key named in it, and
 * refuses a mismatch with 403 as API Gateway does. Requests that pass go to `route`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Received {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
  /** The access key that signed it, and the session token it carried. */
  accessKeyId: string;
  sessionToken: string | undefined;
  region: string;
  service: string;
  signedHeaders: string[];
}

export type Route = (
  r: Received,
) => { status: number; body?: unknown } | Promise<{ status: number; body?: unknown }>;

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/;

/** `20260101T120000Z` → Date. */
const amzDate = (s: string): Date =>
  new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`,
  );

/** The reason a request's signature does not verify, or undefined if it does. */
export async function verify(
  req: { method: string; url: string; headers: IncomingMessage['headers']; body: string; host: string },
  keys: Map<string, Credentials>,
  expect: { region: string; service: string },
): Promise<{ problem: string } | { ok: Omit<Received, 'method' | 'path' | 'query' | 'headers' | 'body'> }> {
  const auth = req.headers.authorization;
  if (!auth) return { problem: 'Missing Authentication Token' };
  const m = AUTH.exec(auth);
  if (!m) return { problem: 'Authorization header is not SigV4' };
  const [, akid, day, region, service, signedList] = m as unknown as string[];
  const creds = keys.get(akid!);
  if (!creds) return { problem: 'The security token included in the request is invalid.' };
  if (region !== expect.region || service !== expect.service) {
    return {
      problem: `Credential should be scoped to a valid region and service ${expect.region}/${expect.service}`,
    };
  }
  const date = req.headers['x-amz-date'];
  if (typeof date !== 'string' || !date.startsWith(day!))
    return { problem: 'x-amz-date is missing or not the scope date' };
  if (Math.abs(Date.now() - amzDate(date).getTime()) > 5 * 60_000) return { problem: 'Signature expired' };
  const signed = signedList!.split(';');
  for (const h of ['host', 'x-amz-date']) if (!signed.includes(h)) return { problem: `${h} is not signed` };
  const token = req.headers['x-amz-security-token'];
  if (creds.sessionToken !== undefined) {
    if (token !== creds.sessionToken)
      return { problem: 'The security token included in the request is invalid.' };
    if (!signed.includes('x-amz-security-token')) return { problem: 'x-amz-security-token is not signed' };
  } else if (token !== undefined)
    return { problem: 'The security token included in the request is invalid.' };

  // The signer takes the payload hash from x-amz-content-sha256 when it is there: check that header
  // against the body, as AWS does, or a changed body would go unnoticed.
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== createHash('sha256').update(req.body, 'utf8').digest('hex')) {
    return { problem: 'The provided x-amz-content-sha256 header does not match what was computed.' };
  }
  const url = new URL(req.url, `http://${req.host}`);
  const headers: Record<string, string> = {};
  for (const h of signed) {
    const v = req.headers[h];
    if (v === undefined) return { problem: `signed header ${h} is missing` };
    headers[h] = Array.isArray(v) ? v.join(',') : v;
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const had = query[k];
    query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  const signer = new SignatureV4({ credentials: creds, region: region!, service: service!, sha256: Sha256 });
  const again = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers,
      ...(req.body ? { body: req.body } : {}),
    },
    { signingDate: amzDate(date) },
  );
  if (again.headers.authorization !== auth) {
    return {
      problem:
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  }
  return {
    ok: {
      accessKeyId: akid!,
      sessionToken: token as string | undefined,
      region: region!,
      service: service!,
      signedHeaders: signed,
    },
  };
}

export interface VerifyingServer {
  url: string;
  received: Received[];
  refused: Array<{ method: string; path: string; problem: string }>;
  close(): Promise<void>;
}

export async function startVerifyingServer(
  keys: Credentials[],
  expect: { region: string; service?: string },
  route: Route,
): Promise<VerifyingServer> {
  const byKey = new Map(keys.map((k) => [k.accessKeyId, k]));
  const received: Received[] = [];
  const refused: VerifyingServer['refused'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(payload === undefined ? '' : JSON.stringify(payload));
      };
      try {
        const v = await verify(
          {
            method: req.method ?? 'GET',
            url: req.url ?? '/',
            headers: req.headers,
            body,
            host: req.headers.host ?? '',
          },
          byKey,
          { region: expect.region, service: expect.service ?? 'execute-api' },
        );
        const url = new URL(req.url ?? '/', 'http://x');
        if ('problem' in v) {
          refused.push({ method: req.method ?? '', path: url.pathname, problem: v.problem });
          send(403, { message: v.problem });
          return;
        }
        const r: Received = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body,
          ...v.ok,
        };
        received.push(r);
        const out = await route(r);
        send(out.status, out.body);
      } catch (e) {
        send(500, { error: { code: 'TEST_SERVER', message: (e as Error).message } });
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    refused,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
