/**
 * Per-server keys the gateway derives from its master key (ODIN-PROTOCOL.md section 5):
 * seed = SHA-256(HKDF-SHA512(ikm = master key, salt = server hostname,
 * info = "grid-connection-key", 512 bytes)), kid prefix 0x02. The gateway adds the JWK (with
 * `d`) to a server's `authorization.keys` and signs the tokens of its `Connect` answers with
 * it; our operator's built-in supervisor does the same.
 *
 * The master key is the raw bytes (the gateway's config holds it base64-encoded and decodes it
 * before use); the hostname is used as given, as UTF-8 (e.g. "localhost:4433").
 */
import { createHash, hkdfSync } from 'node:crypto';
import { encodeBase64url } from './base64.ts';
import { publicKeyFromSeed } from './ed25519.ts';
import type { OdinJwk } from './jwk.ts';
import { keyIdFor, serverKeyIdPrefix } from './keyId.ts';

const info = 'grid-connection-key';
const derivedBytes = 512;

export function deriveServerKey(masterKey: Uint8Array, hostname: string): OdinJwk {
  if (masterKey.length === 0) throw new RangeError('the gateway master key is empty');
  const okm = new Uint8Array(hkdfSync('sha512', masterKey, hostname, info, derivedBytes));
  const seed = createHash('sha256').update(okm).digest();
  const publicKey = publicKeyFromSeed(seed);
  return {
    kid: keyIdFor(publicKey, serverKeyIdPrefix),
    kty: 'OKP',
    crv: 'Ed25519',
    x: encodeBase64url(publicKey),
    d: encodeBase64url(seed),
  };
}
