/**
 * Fault registry: faults are injected for a request kind (and optionally a job), for a number of
 * matching requests. Request faults answer instead of the handler (or delay it); stream faults
 * (reset, truncate, corrupt, csv-extra-record) change a download while it streams.
 */
import { ERROR_CATALOGUE, errorEnvelope } from './errors.js';
import { sendJson } from './http-util.js';
import { THROTTLE_BODY } from './oauth.js';
import type { Ctx, Runtime } from './state.js';
import type { Fault, FaultAction, RequestKind } from './types.js';

const STREAM_TYPES = new Set<FaultAction['type']>(['reset', 'truncate', 'corrupt', 'csv-extra-record']);

export class FaultRegistry {
  private faults: Array<Fault & { left: number }> = [];

  inject(fault: Fault): void {
    const times = fault.times ?? 1;
    this.faults.push({ ...fault, times, left: times });
  }

  clear(): void {
    this.faults = [];
  }

  list(): Fault[] {
    return this.faults.map(({ left, ...f }) => ({ ...f, times: left }));
  }

  /** Takes the first matching fault (a request fault, or a stream fault when `stream`). */
  take(kind: RequestKind, jobId: string | undefined, stream: boolean): FaultAction | undefined {
    const f = this.faults.find(
      (x) =>
        x.left > 0 &&
        (x.kind === kind || x.kind === 'any') &&
        (x.jobId === undefined || x.jobId === jobId) &&
        STREAM_TYPES.has(x.action.type) === stream,
    );
    if (!f) return undefined;
    f.left--;
    this.faults = this.faults.filter((x) => x.left > 0);
    return f.action;
  }
}

/** Applies a request fault; returns true when it answered (the handler must not run). */
export async function applyFault(rt: Runtime, ctx: Ctx, action: FaultAction): Promise<boolean> {
  switch (action.type) {
    case 'delay':
      await new Promise((r) => setTimeout(r, action.ms));
      return false;
    case 'http': {
      ctx.entry.status = action.status;
      const text =
        action.body === undefined
          ? ''
          : typeof action.body === 'string'
            ? action.body
            : JSON.stringify(action.body);
      ctx.res.writeHead(action.status, {
        'Content-Type': typeof action.body === 'string' ? 'text/plain' : 'application/json;charset=UTF-8',
        'Content-Length': Buffer.byteLength(text),
        ...action.headers,
      });
      ctx.res.end(text);
      return true;
    }
    case 'error': {
      const env = errorEnvelope(action.code, action.details ?? {});
      const status = action.status ?? ERROR_CATALOGUE[action.code]?.status ?? 400;
      sendJson(ctx, status, action.wrapped ? { data: [env] } : env);
      return true;
    }
    case 'access-denied':
      sendJson(ctx, rt.opts.throttleStatus, THROTTLE_BODY);
      return true;
    case 'json-error-200':
      sendJson(ctx, 200, errorEnvelope('INTERNAL_ERROR'));
      return true;
    case 'download-lock': {
      const lockUntil = rt.limiter.lock(rt.now(), action.ms ?? rt.opts.downloadLockMs);
      rt.counters.download429s++;
      sendJson(ctx, 429, errorEnvelope('TOO_MANY_REQUESTS'), rt.limiter.retryAfter(rt, lockUntil));
      return true;
    }
    default:
      return false;
  }
}
