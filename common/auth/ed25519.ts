/**
 * Ed25519 keys from raw 32-byte seeds, via node:crypto. ODIN keys travel as raw seeds (access
 * keys, JWK `d`); node:crypto wants PKCS#8, so the seed is wrapped in the fixed RFC 8410
 * prefix.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

// RFC 8410 section 7: PrivateKeyInfo { version 0, AlgorithmIdentifier id-Ed25519, OCTET STRING { seed } }.
const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

export const ed25519SeedLength = 32;
export const ed25519PublicKeyLength = 32;
export const ed25519SignatureLength = 64;

export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== ed25519SeedLength) throw new RangeError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([pkcs8Prefix, seed]), format: 'der', type: 'pkcs8' });
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  const jwk = createPublicKey(privateKeyFromSeed(seed)).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
}

export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
}

/** A detached Ed25519 signature (RFC 8032) of `data` with the key of `seed`. */
export function signEd25519(seed: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privateKeyFromSeed(seed)));
}

/** Whether `signature` is a valid Ed25519 signature of `data` by `publicKey`. */
export function verifyEd25519(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ed25519SignatureLength) return false;
  return verify(null, data, publicKeyObject(publicKey), signature);
}
