import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { callbackToken, newCallbackBinding } from '../../lib/callbacks/token.js';
import { describeError } from '../../lib/observability.js';
import { redact, safeZohoCode, toZohoError, ZohoError } from '../../lib/zoho/errors.js';
import { errorFromResponse, requestJson } from '../../lib/zoho/http.js';

const EX = 'ex_01JDZ7ABCDEFGHJKMNPQRSTVWX';
const token = callbackToken(randomBytes(32), EX, 3, newCallbackBinding(3 * 3_600_000, Date.now()));
const mac = token.split('.').at(-1)!;
const callbackUrl = `https://abc123.execute-api.eu-west-1.amazonaws.com/prod/callbacks/zoho/${token}`;
/** Zoho's answer to a create call whose callback URL it refuses: the message echoes the URL. */
const invalidCallback = {
  code: 'INVALID_CALLBACK_URL',
  details: { url: callbackUrl },
  message: `Invalid URL '${callbackUrl}' for callback.`,
  status: 'error',
};
const accessToken = `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`;

/** Every text an error can show: message, JSON, stack, describeError (logs, records, API answers). */
const allText = (e: unknown): string => {
  const err = e as Error;
  return `${err.message} ${JSON.stringify(err)} ${String(err.stack)} ${JSON.stringify(describeError(e))}`;
};

describe('redact', () => {
  it("keeps INVALID_CALLBACK_URL's origin and drops the callback token", () => {
    const r = redact(invalidCallback.message);
    expect(r).not.toContain(mac);
    expect(r).not.toContain('/callbacks/zoho/ex_');
    expect(r).toContain(
      "Invalid URL 'https://abc123.execute-api.eu-west-1.amazonaws.com/[redacted]' for callback.",
    );
    // A callback path without its origin, too.
    expect(redact(`POST /callbacks/zoho/${token} refused`)).toBe('POST /callbacks/zoho/[redacted] refused');
    // A bare token keeps the export and page (no secret) and loses its MAC.
    expect(redact(`token ${token}.`)).toBe(`token ${EX}.3.[redacted].`);
  });

  it('drops OAuth headers, form and JSON parameters, Zoho token shapes and long opaque runs', () => {
    const cases: Array<[string, string]> = [
      [`Authorization: Zoho-oauthtoken ${accessToken}`, 'Authorization: Zoho-oauthtoken [redacted]'],
      [`Bearer ${accessToken}`, 'Bearer [redacted]'],
      [
        'grant_type=refresh_token&client_id=abc&client_secret=s3cr3t&refresh_token=1000.aa.bb',
        'grant_type=refresh_token&client_id=[redacted]&client_secret=[redacted]&refresh_token=[redacted]',
      ],
      [
        '{"refresh_token": "r-1", "client_secret":"c-2"}',
        '{"refresh_token":"[redacted]", "client_secret":"[redacted]"}',
      ],
      [`got ${accessToken} back`, 'got [redacted] back'],
      [`key ${'A'.repeat(20)}${'b'.repeat(20)}`, 'key [redacted]'],
      [`key ${'A'.repeat(20)}_1234${'b'.repeat(20)}`, 'key [redacted]'],
      [`secret ${randomBytes(24).toString('hex')}`, 'secret [redacted]'],
      ['https://user:pw@accounts.zoho.eu/oauth/v2/token?x=1', 'https://accounts.zoho.eu/[redacted]'],
    ];
    for (const [input, want] of cases) expect(redact(input), input).toBe(want);
  });

  it('leaves ordinary messages alone', () => {
    for (const m of [
      'refresh Zoho access token: Zoho answered "invalid_code"',
      'create bulk read job: INVALID_DATA (invalid data)',
      'get job 3652397000000646004: HTTP 500',
      'request 0b7c8a52-0f7e-4c2b-9d55-1c1f2e3a4b5c failed',
      'https://www.zohoapis.eu',
      `export ${EX} page 3`,
      "Field api name 'Annual_Revenue_Forecast_Next_Year_c' is not supported for this module 'Deals'.",
    ])
      expect(redact(m)).toBe(m);
  });
});

describe('Zoho errors carry no secret', () => {
  it('errorFromResponse: INVALID_CALLBACK_URL keeps its code, loses the token', () => {
    const e = errorFromResponse(400, invalidCallback, 'create bulk read job');
    expect(e?.code).toBe('INVALID_CALLBACK_URL');
    expect(e?.kind).toBe('terminal');
    expect(allText(e)).not.toContain(mac);
    expect(e?.message).toContain('INVALID_CALLBACK_URL');
  });

  it('requestJson: the thrown error, wrapped or not, holds no token', async () => {
    for (const body of [invalidCallback, { data: [invalidCallback] }]) {
      const fetchFn: typeof fetch = async () =>
        new Response(JSON.stringify(body), { status: 400, headers: { 'content-type': 'application/json' } });
      const e = await requestJson(
        fetchFn,
        'https://www.zohoapis.com/crm/bulk/v8/read',
        {},
        'create',
        1000,
      ).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ZohoError);
      expect(allText(e)).not.toContain(mac);
    }
  });

  it('an OAuth error whose text echoes a secret: neither code nor message keeps it', () => {
    const e = errorFromResponse(
      400,
      { error: accessToken, error_description: `refresh_token=${accessToken} client_secret=s3cr3t` },
      'refresh Zoho access token',
    );
    expect(e?.code).toBe('OAUTH_ERROR');
    expect(allText(e)).not.toContain(accessToken);
    expect(allText(e)).not.toContain('s3cr3t');
    expect(safeZohoCode('invalid_code', 'X')).toBe('invalid_code');
    expect(safeZohoCode('INVALID_DATA', 'X')).toBe('INVALID_DATA');
  });

  it('a network failure or any ZohoError built from text is redacted too', () => {
    const net = toZohoError(new Error(`connect to ${callbackUrl} failed`), 'create');
    expect(allText(net)).not.toContain(mac);
    const direct = new ZohoError({ code: 'X', kind: 'terminal', message: `Zoho-oauthtoken ${accessToken}` });
    expect(allText(direct)).not.toContain(accessToken);
  });
});
