/** A body in place of the ZIP goes through the one Zoho error-body parser (lib/zoho/http.ts). */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ZohoError } from '../../lib/zoho/errors.js';
import { unzipSingleEntry } from '../../lib/zoho/unzip.js';

async function failure(body: string): Promise<ZohoError> {
  const out = unzipSingleEntry(Readable.from([Buffer.from(body)]));
  try {
    for await (const _ of out) {
      // drain
    }
  } catch (e) {
    if (e instanceof ZohoError) return e;
    throw e;
  }
  throw new Error('the stream did not fail');
}

describe('an error body instead of the ZIP', () => {
  it.each([
    [
      'an error envelope',
      '{"code":"INTERNAL_ERROR","message":"x","status":"error"}',
      'INTERNAL_ERROR',
      'retryable',
    ],
    [
      'an envelope without status',
      '{"code":"RESOURCE_NOT_FOUND","message":"gone"}',
      'RESOURCE_NOT_FOUND',
      'terminal',
    ],
    [
      'an envelope in data[0]',
      '{"data":[{"code":"NO_PERMISSION","status":"error"}]}',
      'NO_PERMISSION',
      'terminal',
    ],
    ['the Access Denied throttle', '{"error":"Access Denied"}', 'ACCESS_DENIED', 'retryable'],
    ['JSON that is no error body', '{"hello":"world"}', 'NOT_A_ZIP', 'retryable'],
    ['not JSON', 'plain text, not a zip', 'NOT_A_ZIP', 'retryable'],
  ])('%s', async (_what, body, code, kind) => {
    const e = await failure(body);
    expect([e.code, e.kind]).toEqual([code, kind]);
  });
});
