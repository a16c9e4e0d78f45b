/**
 * ODIN keys as JWKs: the `[[authorization.keys]]` entries of config.toml
 * (ODIN-PROTOCOL.md section 1). `x` is the base64url public key, `d` the base64url seed; a key
 * with `d` lets the server sign tokens itself.
 */
import { timingSafeEqual } from 'node:crypto';
import { parseAccessKey } from './accessKey.ts';
import { decodeBase64url, encodeBase64url } from './base64.ts';
import { ed25519PublicKeyLength, ed25519SeedLength, publicKeyFromSeed } from './ed25519.ts';
import { AuthError } from './errors.ts';

export type OdinJwk = { kid: string; kty: 'OKP'; crv: 'Ed25519'; x: string; d?: string };

/** The JWK of an access key, with `d`: what `grid keys new` prints for config.toml. */
export function accessKeyToJwk(accessKey: string): OdinJwk {
  const { seed, publicKey, keyId } = parseAccessKey(accessKey);
  return { kid: keyId, kty: 'OKP', crv: 'Ed25519', x: encodeBase64url(publicKey), d: encodeBase64url(seed) };
}

/** The same key without its private part: what a verifier (or a licence trust list) needs. */
export function publicJwk(jwk: OdinJwk): OdinJwk {
  return { kid: jwk.kid, kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

export type CheckedJwk = { jwk: OdinJwk; publicKey: Uint8Array; seed?: Uint8Array };

/**
 * Checks a JWK from configuration: Ed25519 OKP, a `kid`, a 32-byte `x` and, when present, a
 * 32-byte `d` whose public key is `x` (a mismatch would make the server sign tokens nobody can
 * verify). Throws `AuthError` `invalid_key`; the message names the `kid`, never `d`.
 */
export function checkJwk(value: unknown): CheckedJwk {
  if (typeof value !== 'object' || value === null) {
    throw new AuthError('invalid_key', 'an authorization key must be a table (a JWK)');
  }
  const jwk = value as Record<string, unknown>;
  const kid = jwk.kid;
  if (typeof kid !== 'string' || kid === '') {
    throw new AuthError('invalid_key', 'an authorization key has no kid');
  }
  const where = `authorization key ${JSON.stringify(kid)}`;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
    throw new AuthError('invalid_key', `${where}: only kty = "OKP", crv = "Ed25519" keys are supported`);
  }
  const publicKey = typeof jwk.x === 'string' ? decodeBase64url(jwk.x) : undefined;
  if (publicKey?.length !== ed25519PublicKeyLength) {
    throw new AuthError('invalid_key', `${where}: x must be a 32-byte public key in base64url`);
  }
  const checked: CheckedJwk = {
    jwk: { kid, kty: 'OKP', crv: 'Ed25519', x: jwk.x as string },
    publicKey,
  };
  if (jwk.d !== undefined) {
    const seed = typeof jwk.d === 'string' ? decodeBase64url(jwk.d) : undefined;
    if (seed?.length !== ed25519SeedLength) {
      throw new AuthError('invalid_key', `${where}: d must be a 32-byte seed in base64url`);
    }
    if (!timingSafeEqual(publicKeyFromSeed(seed), publicKey)) {
      throw new AuthError('invalid_key', `${where}: d does not belong to x`);
    }
    checked.jwk.d = jwk.d as string;
    checked.seed = seed;
  }
  return checked;
}

/**
 * The `[[authorization.keys]]` block for config.toml. Values are base64 and a kid, so TOML
 * basic strings need no escapes beyond what JSON.stringify gives.
 */
export function jwkToTomlSection(jwk: OdinJwk): string {
  const lines = [
    '[[authorization.keys]]',
    `kid = ${JSON.stringify(jwk.kid)}`,
    `kty = ${JSON.stringify(jwk.kty)}`,
    `crv = ${JSON.stringify(jwk.crv)}`,
    `x = ${JSON.stringify(jwk.x)}`,
  ];
  if (jwk.d !== undefined) lines.push(`d = ${JSON.stringify(jwk.d)}`);
  return `${lines.join('\n')}\n`;
}
