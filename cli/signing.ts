/**
 * SigV4 for the API (IAM authorization on every route): the AWS SDK's own signer
 * (`@smithy/signature-v4` with `@aws-crypto/sha256-js`) and credential chain
 * (`fromNodeProviderChain`: env, SSO, profiles, web identity, container and instance roles).
 * Service `execute-api`; the region comes from the API's host name.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import { CliError, EXIT } from './errors.js';

export const SIGNING_SERVICE = 'execute-api';

type SignableRequest = Parameters<SignatureV4['sign']>[0];
export type CredentialProvider = ReturnType<typeof fromNodeProviderChain>;

/**
 * The region of an API Gateway URL (`{api-id}.execute-api.{region}.amazonaws.com`, also `.com.cn`
 * and private `{api-id}-{vpce}.execute-api.{region}.vpce.amazonaws.com`), or undefined for any other host.
 */
export function executeApiRegion(url: URL): string | undefined {
  const m = /^[a-z0-9-]+\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/i.exec(url.hostname);
  return m?.[1]?.toLowerCase();
}

/** The SDK's default credential chain (memoized: resolved once, refreshed when they expire). */
export function credentialChain(profile?: string): CredentialProvider {
  return fromNodeProviderChain(profile ? { profile } : {});
}

/** Turns a credential-chain failure into a plain message (exit 3), without the SDK's stack. */
export function credentialsError(e: unknown): CliError {
  const msg = (e as Error)?.message ?? String(e);
  return new CliError(
    EXIT.API,
    `no AWS credentials to sign the request with (${msg.split('\n')[0]}); configure them (aws configure, aws sso login, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)`,
    'NO_CREDENTIALS',
  );
}

export interface Signer {
  region: string;
  /** The headers to send: the given ones plus host, x-amz-date, x-amz-security-token (if any), authorization. */
  sign(req: {
    method: string;
    url: URL;
    headers: Record<string, string>;
    body?: string;
  }): Promise<Record<string, string>>;
}

export function createSigner(region: string, credentials: CredentialProvider): Signer {
  const signer = new SignatureV4({ service: SIGNING_SERVICE, region, credentials, sha256: Sha256 });
  return {
    region,
    async sign({ method, url, headers, body }) {
      const query: Record<string, string | string[]> = {};
      for (const [k, v] of url.searchParams) {
        const had = query[k];
        query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
      }
      const request: SignableRequest = {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers: { ...headers, host: url.host },
        ...(body !== undefined ? { body } : {}),
      };
      let signed: SignableRequest;
      try {
        signed = await signer.sign(request);
      } catch (e) {
        const name = (e as Error)?.name ?? '';
        if (/Credentials|ProviderError|TokenProviderError|SSO/i.test(name)) throw credentialsError(e);
        throw e;
      }
      return signed.headers as Record<string, string>;
    },
  };
}
