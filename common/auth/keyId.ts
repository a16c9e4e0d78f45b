/**
 * Key ids (`kid`), ODIN-PROTOCOL.md section 1: a 9-byte value, a prefix byte then the SHA-512
 * of the public key folded (xor) into 8 bytes, in standard base64 (12 characters, may hold
 * `+` and `/`). Prefix 0x01 marks a user's access key, 0x02 a key the gateway derived for a
 * server (section 5).
 */
import { createHash } from 'node:crypto';
import { encodeBase64 } from './base64.ts';

/** Prefix of keys derived from an access key. */
export const userKeyIdPrefix = 0x01;
/** Prefix of per-server keys the gateway (or our operator's supervisor) derives. */
export const serverKeyIdPrefix = 0x02;

export function keyIdFor(publicKey: Uint8Array, prefix: number = userKeyIdPrefix): string {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 0xff) {
    throw new RangeError('a key id prefix is one byte (0..255)');
  }
  const hash = createHash('sha512').update(publicKey).digest();
  const result = new Uint8Array(9);
  result[0] = prefix;
  for (let i = 0; i < hash.length; i++) {
    const at = 1 + (i % 8);
    result[at] = (result[at] ?? 0) ^ (hash[i] ?? 0);
  }
  return encodeBase64(result);
}
