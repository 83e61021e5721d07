/**
 * The callback route as an API Gateway (payload 2.0) handler, for the callback Lambda and the local
 * stack: `POST /callbacks/zoho/{token}`, answered quickly, never a 5xx for bad input.
 */

import type { Event, Result } from '../api/http.js';
import { header, json } from '../api/http.js';
import { describeError } from '../observability.js';
import { type CallbackDeps, handleZohoCallback, MAX_CALLBACK_BYTES } from './handler.js';

export const CALLBACK_ROUTE = { method: 'POST', path: '/callbacks/zoho/{token}' } as const;
const PATH = /^\/callbacks\/zoho\/([^/]{1,200})\/?$/;

/** The token from the path, percent-decoded; undefined when the encoding is malformed (`%E0%A4%A`). */
function decodeToken(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export function createCallbackHandler(deps: CallbackDeps): (event: Event) => Promise<Result> {
  return async (event) => {
    const method = (event.requestContext?.http?.method ?? 'GET').toUpperCase();
    const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
    const m = PATH.exec(path);
    if (!m) return json(404, { error: { code: 'CALLBACK_NOT_FOUND', message: 'no such callback' } });
    if (method !== 'POST') {
      return json(
        405,
        {
          error: {
            code: 'METHOD_NOT_ALLOWED',
            message: `${method} is not allowed here; Zoho posts callbacks`,
          },
        },
        { allow: 'POST' },
      );
    }
    const raw = event.body ?? '';
    if (raw.length > MAX_CALLBACK_BYTES * 2) {
      return json(413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'the callback body is too large' } });
    }
    const body = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    const token = decodeToken(m[1]!);
    if (token === undefined) {
      // No token this product signs is a bad percent-encoding: the caller's mistake, not ours.
      deps.poll.metrics.count('CallbackRejected');
      deps.poll.logger.warn('callback rejected', {
        reason: 'token is not valid percent-encoding',
        source_ip: event.requestContext?.http?.sourceIp,
      });
      // Counted towards the callbacks' health like every refusal (lib/callbacks/health.ts).
      await deps.poll.callbackHealth
        ?.rejected()
        .catch((e: unknown) =>
          deps.poll.logger.warn('callback health not recorded', { error: describeError(e) }),
        );
      return json(404, { error: { code: 'CALLBACK_NOT_FOUND', message: 'no such callback' } });
    }
    try {
      const a = await handleZohoCallback(deps, {
        token,
        body,
        contentType: header(event, 'content-type'),
        sourceIp: event.requestContext?.http?.sourceIp,
      });
      return json(a.status, a.body);
    } catch (e) {
      // DynamoDB or Secrets Manager unreachable: Zoho retries a non-2xx callback; polling is the net.
      deps.poll.logger.error('callback failed', { error: describeError(e) });
      return json(503, { error: { code: 'SERVICE_UNAVAILABLE', message: 'try again later' } });
    }
  };
}
