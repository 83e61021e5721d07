import { describe, expect, it } from 'vitest';
import { sealedToken, tokenKey } from '../../lib/zoho/token-crypto.js';

const secret = { clientId: 'cid', clientSecret: 'client-secret-1', refreshToken: 'refresh-1' };
const token = '1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210';
const aad = 'zoho-token\nhttps://www.zohoapis.eu\n1700000000000';

describe('token-crypto', () => {
  it('seals a token so that the stored form holds neither it nor the secret, and opens it again', () => {
    const k = tokenKey(secret);
    const s = k.seal(token, aad);
    expect(sealedToken.parse(s)).toEqual(s);
    const text = JSON.stringify(s);
    for (const part of [token, ...token.split('.'), secret.clientSecret, secret.refreshToken])
      if (part.length > 4) expect(text).not.toContain(part);
    expect(k.open(s, aad)).toBe(token);
    // A fresh IV each time: the same token never seals to the same ciphertext.
    expect(k.seal(token, aad).ct).not.toBe(s.ct);
    // Another instance from the same secret (another Lambda container) opens it.
    expect(tokenKey({ ...secret }).open(s, aad)).toBe(token);
  });

  it('does not open under a rotated refresh token or client secret (kid differs)', () => {
    const s = tokenKey(secret).seal(token, aad);
    for (const other of [
      { ...secret, refreshToken: 'refresh-2' },
      { ...secret, clientSecret: 'client-secret-2' },
      { ...secret, clientId: 'cid2' },
      // Length-prefixed material: moving characters between fields is another key.
      { ...secret, clientSecret: 'client-secret-1r', refreshToken: 'efresh-1' },
    ]) {
      const k = tokenKey(other);
      expect(k.kid).not.toBe(s.kid);
      expect(k.open(s, aad)).toBeUndefined();
      // Even with the kid forged to match, the key itself differs.
      expect(k.open({ ...s, kid: k.kid }, aad)).toBeUndefined();
    }
  });

  it('does not open an altered token or one bound to other data', () => {
    const k = tokenKey(secret);
    const s = k.seal(token, aad);
    const flip = (b64: string) => {
      const b = Buffer.from(b64, 'base64');
      b[0] = (b[0] ?? 0) ^ 1;
      return b.toString('base64');
    };
    expect(k.open({ ...s, ct: flip(s.ct) }, aad)).toBeUndefined();
    expect(k.open({ ...s, tag: flip(s.tag) }, aad)).toBeUndefined();
    expect(k.open({ ...s, iv: flip(s.iv) }, aad)).toBeUndefined();
    expect(k.open({ ...s, iv: 'AAAA' }, aad)).toBeUndefined();
    expect(k.open(s, aad.replace('1700000000000', '1800000000000'))).toBeUndefined();
    expect(k.open(s, aad.replace('zoho-token', 'other'))).toBeUndefined();
  });

  it('gives a keyed reference: stable for one key, different under another, not the token', () => {
    const k = tokenKey(secret);
    expect(k.ref(token)).toBe(tokenKey(secret).ref(token));
    expect(k.ref(token)).not.toBe(k.ref(`${token}x`));
    expect(k.ref(token)).not.toBe(tokenKey({ ...secret, refreshToken: 'r2' }).ref(token));
    expect(k.ref(token)).not.toContain(token.slice(5, 20));
    expect(k.kid).toMatch(/^[0-9a-f]{16}$/);
  });
});
