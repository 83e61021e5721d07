import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { ZohoError } from './errors.js';
import type { CredentialsProvider } from './token-broker.js';

const secretShape = z.object({
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  refresh_token: z.string().min(1),
});

/**
 * Credentials from an AWS Secrets Manager secret holding
 * `{"client_id": "...", "client_secret": "...", "refresh_token": "..."}`, cached for `ttlMs`.
 * Validation errors name the missing keys, never the values.
 */
export function credentialsFromSecret(
  sm: SecretsManagerClient,
  secretId: string,
  ttlMs = 5 * 60_000,
): CredentialsProvider {
  let cached: { at: number; value: Awaited<ReturnType<CredentialsProvider>> } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.value;
    const r = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
    let json: unknown;
    try {
      json = JSON.parse(r.SecretString ?? '');
    } catch {
      json = undefined;
    }
    const parsed = secretShape.safeParse(json);
    if (!parsed.success) {
      const keys = parsed.error.issues.map((i) => i.path.join('.') || 'secret').join(', ');
      throw new ZohoError({
        code: 'MISSING_CREDENTIALS',
        message: `secret ${secretId} must be JSON with client_id, client_secret and refresh_token (problem: ${keys})`,
        kind: 'terminal',
      });
    }
    const value = {
      clientId: parsed.data.client_id,
      clientSecret: parsed.data.client_secret,
      refreshToken: parsed.data.refresh_token,
    };
    cached = { at: Date.now(), value };
    return value;
  };
}
