/**
 * The API client: JSON over HTTP(S), signed with SigV4 when a signer is given, errors turned into
 * `ApiError` (the API's own code and message) or `NetworkError`. No retries here: `--watch` retries
 * its own polls.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ApiError, describeNetworkError, NetworkError } from './errors.js';
import type { Signer } from './signing.js';

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: IncomingMessage['headers'];
}

export interface ApiClientOptions {
  baseUrl: string;
  signer?: Signer;
  timeoutMs?: number;
  userAgent?: string;
}

const MAX_BODY = 16 * 1024 * 1024;

export class ApiClient {
  readonly base: URL;
  readonly signer: Signer | undefined;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(opts: ApiClientOptions) {
    this.base = new URL(opts.baseUrl);
    this.signer = opts.signer;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'zoho-export';
  }

  /** The URL of `path` under the base (which may carry a stage path such as `/prod`). */
  url(path: string, query: RequestOptions['query'] = {}): URL {
    const u = new URL(this.base.href);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
    u.search = '';
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.append(k, String(v));
    return u;
  }

  async get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return (await this.request<T>('GET', path, { query })).body;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = this.url(path, opts.query);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    let headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.userAgent,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    };
    if (this.signer) headers = await this.signer.sign({ method, url, headers, body });
    const res = await this.send(method, url, headers, body);
    const parsed = parseJson(res.text);
    if (res.status >= 200 && res.status < 300) {
      return { status: res.status, body: parsed as T, headers: res.headers };
    }
    throw toApiError(res.status, parsed, res.text, res.headers, !!this.signer);
  }

  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; text: string; headers: IncomingMessage['headers'] }> {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const where = `${url.protocol}//${url.host}`;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) {
            req.destroy(new NetworkError(`the answer from ${where} is larger than ${MAX_BODY} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.on('error', (e) =>
          reject(new NetworkError(`reading the answer from ${where} failed: ${describeNetworkError(e)}`)),
        );
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => {
        if (e instanceof NetworkError) reject(e);
        else reject(new NetworkError(`cannot reach the API at ${where} (${describeNetworkError(e)})`));
      });
      req.end(body);
    });
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toApiError(
  status: number,
  parsed: unknown,
  text: string,
  headers: IncomingMessage['headers'],
  signed: boolean,
): ApiError {
  const ra = Number(headers['retry-after']);
  const retryAfter = Number.isFinite(ra) && ra > 0 ? ra : undefined;
  const envelope = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (envelope && typeof envelope.code === 'string' && typeof envelope.message === 'string') {
    return new ApiError(status, envelope.code, envelope.message, retryAfter);
  }
  // API Gateway's own answers (no route, IAM refusal, throttling): {"message": "..."}.
  const gw = (parsed as { message?: unknown } | undefined)?.message;
  if (typeof gw === 'string') {
    if (status === 403) {
      const hint = signed
        ? 'check the AWS credentials and that they may execute-api:Invoke this API'
        : 'the API wants SigV4-signed requests: the CLI signs execute-api URLs; for a custom domain give --sigv4-region';
      return new ApiError(
        status,
        'FORBIDDEN',
        `API Gateway refused the request: ${gw} (${hint})`,
        retryAfter,
      );
    }
    if (status === 404) return new ApiError(status, 'ROUTE_NOT_FOUND', `API Gateway: ${gw}`, retryAfter);
    if (status === 429) return new ApiError(status, 'THROTTLED', `API Gateway: ${gw}`, retryAfter);
    return new ApiError(status, `HTTP_${status}`, `API Gateway: ${gw}`, retryAfter);
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiError(
    status,
    `HTTP_${status}`,
    `the API answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`,
    retryAfter,
  );
}
