/** Zoho data centres: accounts server (OAuth) and API domain of each (reference §9.5). */
export const DATA_CENTERS = {
  US: { accounts: 'https://accounts.zoho.com', api: 'https://www.zohoapis.com' },
  EU: { accounts: 'https://accounts.zoho.eu', api: 'https://www.zohoapis.eu' },
  IN: { accounts: 'https://accounts.zoho.in', api: 'https://www.zohoapis.in' },
  AU: { accounts: 'https://accounts.zoho.com.au', api: 'https://www.zohoapis.com.au' },
  JP: { accounts: 'https://accounts.zoho.jp', api: 'https://www.zohoapis.jp' },
  CA: { accounts: 'https://accounts.zohocloud.ca', api: 'https://www.zohoapis.ca' },
  SA: { accounts: 'https://accounts.zoho.sa', api: 'https://www.zohoapis.sa' },
  CN: { accounts: 'https://accounts.zoho.com.cn', api: 'https://www.zohoapis.com.cn' },
  UK: { accounts: 'https://accounts.zoho.uk', api: 'https://www.zohoapis.uk' },
} as const;

export type DataCenter = keyof typeof DATA_CENTERS;
export const DATA_CENTER_CODES = Object.keys(DATA_CENTERS) as DataCenter[];

export interface ZohoEndpoints {
  /** Base URL of the accounts (OAuth) server, no trailing slash. */
  accountsUrl: string;
  /** Fallback API domain, used only if the token response carries none. */
  defaultApiDomain: string;
}

/** Resolves the OAuth and API hosts: an explicit accounts URL wins over the data centre. */
export function resolveEndpoints(opts: {
  dataCenter?: DataCenter;
  accountsUrl?: string | undefined;
}): ZohoEndpoints {
  const dc = DATA_CENTERS[opts.dataCenter ?? 'US'];
  const accountsUrl = (opts.accountsUrl ?? dc.accounts).replace(/\/+$/, '');
  return { accountsUrl, defaultApiDomain: opts.accountsUrl ? accountsUrl : dc.api };
}

/**
 * The origin of `apiDomain` (Zoho's token answer, or the configured fallback) if requests may be sent
 * there, else undefined. Allowed: the configured API domain (`defaultApiDomain`: the ZOHO_API_DOMAIN
 * override, the data centre's API domain, or an explicit accounts server's own origin, as
 * `resolveEndpoints` chose it), and the API domain of the data centre whose accounts server
 * `accountsUrl` is. A data centre's domain is https; anything else Zoho's answer names (another host,
 * plain http, a path, credentials) is refused, so a token is never sent where the operator did not
 * point it.
 */
export function allowedApiDomain(
  apiDomain: string,
  configured: { accountsUrl: string; defaultApiDomain: string },
): string | undefined {
  const origin = (u: string): string | undefined => {
    try {
      return new URL(u).origin;
    } catch {
      return undefined;
    }
  };
  let url: URL;
  try {
    url = new URL(apiDomain);
  } catch {
    return undefined;
  }
  // An origin and nothing else: the client appends the API's paths to it.
  if (url.username || url.password || url.search || url.hash || !['', '/'].includes(url.pathname))
    return undefined;
  const accounts = origin(configured.accountsUrl);
  const dc = Object.values(DATA_CENTERS).find((d) => d.accounts === accounts);
  const allowed = new Set([origin(configured.defaultApiDomain), dc?.api]);
  return allowed.has(url.origin) ? url.origin : undefined;
}

export const API_VERSIONS = ['v2', 'v2.1', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];

/** v2 sends the module as a string; v2.1 and later as `{api_name}`. */
export const moduleIsString = (v: ApiVersion): boolean => v === 'v2';
/** v7 and later page with `page_token`; v2 to v6 with `page`. */
export const usesPageToken = (v: ApiVersion): boolean => v === 'v7' || v === 'v8';
