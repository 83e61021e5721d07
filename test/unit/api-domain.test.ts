/**
 * Which API domain a token answer may send us to (lib/zoho/data-centers.ts): the configured data
 * centre's, the ZOHO_API_DOMAIN override, or an explicit accounts server's own origin; nothing else.
 */
import { describe, expect, it } from 'vitest';
import { allowedApiDomain, DATA_CENTERS, resolveEndpoints } from '../../lib/zoho/data-centers.js';

describe('allowedApiDomain', () => {
  it("allows the data centre's API domain (as an origin), and no other", () => {
    const us = resolveEndpoints({ dataCenter: 'US' });
    expect(allowedApiDomain('https://www.zohoapis.com', us)).toBe('https://www.zohoapis.com');
    expect(allowedApiDomain('https://www.zohoapis.com/', us)).toBe('https://www.zohoapis.com');
    expect(allowedApiDomain('https://WWW.ZOHOAPIS.COM', us)).toBe('https://www.zohoapis.com');
    for (const bad of [
      'http://www.zohoapis.com',
      'https://www.zohoapis.com:8443',
      'https://www.zohoapis.eu',
      'https://www.zohoapis.com.evil.test',
      'https://user:pw@www.zohoapis.com',
      'https://www.zohoapis.com/crm',
      'https://www.zohoapis.com/?x=1',
      'http://127.0.0.1:4000',
      'not a url',
      '',
    ])
      expect(allowedApiDomain(bad, us), bad).toBeUndefined();
  });

  it('every data centre allows its own API domain, over https', () => {
    for (const [code, dc] of Object.entries(DATA_CENTERS)) {
      const ep = resolveEndpoints({ dataCenter: code as keyof typeof DATA_CENTERS });
      expect(dc.api.startsWith('https://'), code).toBe(true);
      expect(allowedApiDomain(dc.api, ep), code).toBe(dc.api);
    }
  });

  it("allows the ZOHO_API_DOMAIN override's origin besides the data centre's", () => {
    const ep = resolveEndpoints({ dataCenter: 'EU' });
    const configured = { accountsUrl: ep.accountsUrl, defaultApiDomain: 'https://proxy.example.test/zoho' };
    expect(allowedApiDomain('https://proxy.example.test', configured)).toBe('https://proxy.example.test');
    expect(allowedApiDomain(DATA_CENTERS.EU.api, configured)).toBe(DATA_CENTERS.EU.api);
    expect(allowedApiDomain(DATA_CENTERS.US.api, configured)).toBeUndefined();
  });

  it("an explicit accounts server: a data centre's allows that data centre's API domain; another allows its own origin", () => {
    const eu = resolveEndpoints({ accountsUrl: 'https://accounts.zoho.eu/' });
    expect(allowedApiDomain(DATA_CENTERS.EU.api, eu)).toBe(DATA_CENTERS.EU.api);
    // The local fake Zoho: one plain-http server for both (the local stack also names it ZOHO_API_DOMAIN).
    const fake = resolveEndpoints({ accountsUrl: 'http://127.0.0.1:4010' });
    expect(allowedApiDomain('http://127.0.0.1:4010', fake)).toBe('http://127.0.0.1:4010');
    expect(allowedApiDomain('http://127.0.0.1:4011', fake)).toBeUndefined();
    expect(allowedApiDomain(DATA_CENTERS.US.api, fake)).toBeUndefined();
  });
});
