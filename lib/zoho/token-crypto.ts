/**
 * The Zoho access token at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the Zoho secret's
 * own material, so the state table item, its backups and anyone with `dynamodb:GetItem` hold nothing
 * usable without also reading the Secrets Manager secret (which only the function roles can). No new
 * AWS resource: every function that uses the token already reads that secret to mint one.
 *
 * Rotating the refresh token or the client secret changes the key; a token sealed under the old key
 * then fails to open and counts as no cached token (the broker mints a new one).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { z } from 'zod';

export interface TokenSecret {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

/** The stored form: base64 fields, `kid` names the key (a derived value, never the key). */
export const sealedToken = z.object({
  v: z.literal(1),
  kid: z.string().regex(/^[0-9a-f]{16}$/),
  iv: z.string().min(1).max(64),
  tag: z.string().min(1).max(64),
  ct: z.string().min(1).max(16_384),
});
export type SealedToken = z.infer<typeof sealedToken>;

export interface TokenKey {
  /** Identifies the key (and so the secret's version) without revealing it. */
  readonly kid: string;
  seal(token: string, aad: string): SealedToken;
  /** The token, or undefined when it was sealed under another key, altered, or bound to other data. */
  open(sealed: SealedToken, aad: string): string | undefined;
  /** A keyed reference to a token (for conditional writes): equal tokens, equal refs; useless alone. */
  ref(token: string): string;
}

const SALT = 'zoho-crm-bulk-export';

/** Length-prefixed, so no two different credential triples give the same input. */
function material(s: TokenSecret): Buffer {
  const parts = [s.clientId, s.clientSecret, s.refreshToken].map((p) => Buffer.from(p, 'utf8'));
  const out: Buffer[] = [];
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    out.push(len, p);
  }
  return Buffer.concat(out);
}

const derive = (ikm: Buffer, info: string, bytes: number): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, SALT, info, bytes));

export function tokenKey(secret: TokenSecret): TokenKey {
  const ikm = material(secret);
  const encKey = derive(ikm, 'zoho-access-token:v1', 32);
  const refKey = derive(ikm, 'zoho-access-token:ref:v1', 32);
  const kid = derive(ikm, 'zoho-access-token:kid:v1', 8).toString('hex');
  return {
    kid,
    seal(token, aad) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', encKey, iv);
      c.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([c.update(token, 'utf8'), c.final()]);
      return {
        v: 1,
        kid,
        iv: iv.toString('base64'),
        tag: c.getAuthTag().toString('base64'),
        ct: ct.toString('base64'),
      };
    },
    open(sealed, aad) {
      const a = Buffer.from(sealed.kid, 'utf8');
      const b = Buffer.from(kid, 'utf8');
      if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
      try {
        const iv = Buffer.from(sealed.iv, 'base64');
        const tag = Buffer.from(sealed.tag, 'base64');
        if (iv.length !== 12 || tag.length !== 16) return undefined;
        const d = createDecipheriv('aes-256-gcm', encKey, iv);
        d.setAAD(Buffer.from(aad, 'utf8'));
        d.setAuthTag(tag);
        return Buffer.concat([d.update(Buffer.from(sealed.ct, 'base64')), d.final()]).toString('utf8');
      } catch {
        // A wrong key or an altered item: no cached token, never an error that could carry data.
        return undefined;
      }
    },
    ref(token) {
      return createHmac('sha256', refKey).update(token, 'utf8').digest('base64url').slice(0, 22);
    },
  };
}
