/**
 * ODIN access keys, ODIN-PROTOCOL.md section 1: standard base64 of 33 bytes, a version byte
 * `0x01`, 31 random bytes, then a CRC-8 of the random bytes. The Ed25519 seed is the last 32
 * bytes (random bytes *and* checksum), as `@4players/odin-tokens` loads it.
 *
 * An access key is a secret: nothing here puts one into an error message.
 */
import { getRandomValues } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { publicKeyFromSeed } from './ed25519.ts';
import { AuthError } from './errors.ts';
import { keyIdFor, userKeyIdPrefix } from './keyId.ts';

export const accessKeyVersion = 0x01;
export const accessKeyLength = 33;

/**
 * CRC-8 as ODIN computes it: polynomial 0x31, initial value 0xFF, not reflected, no final xor
 * (the parameters of CRC-8/NRSC-5). Running it over data followed by its own CRC gives 0.
 */
export function crc8(data: Uint8Array): number {
  let crc = 0xff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
    }
  }
  return crc;
}

/** A new random access key, as `@4players/odin-cli` / `odin-tokens` `generateAccessKey()` make them. */
export function generateAccessKey(): string {
  const key = new Uint8Array(accessKeyLength);
  key[0] = accessKeyVersion;
  getRandomValues(key.subarray(1, 32));
  key[32] = crc8(key.subarray(1, 32));
  return encodeBase64(key);
}

export type ParsedAccessKey = {
  /** The Ed25519 seed: bytes 1..32 of the key. */
  seed: Uint8Array;
  publicKey: Uint8Array;
  /** `kid` with the user prefix 0x01. */
  keyId: string;
};

/**
 * Checks an access key (length, version byte, checksum) and derives its key pair and key id.
 * Surrounding whitespace is ignored and the URL-safe alphabet is accepted too (the real
 * `odin-tokens` accepts both), since keys are pasted by hand.
 */
export function parseAccessKey(key: string): ParsedAccessKey {
  const text = key.trim().replaceAll('-', '+').replaceAll('_', '/');
  const bytes = decodeBase64(text);
  if (bytes === undefined) {
    throw new AuthError(
      'invalid_access_key',
      'invalid access key: not base64 (an ODIN access key is 44 base64 characters, e.g. from "grid keys new")',
    );
  }
  if (bytes.length !== accessKeyLength) {
    throw new AuthError(
      'invalid_access_key',
      `invalid access key: ${bytes.length} bytes, an ODIN access key is ${accessKeyLength} bytes (44 base64 characters)`,
    );
  }
  if (bytes[0] !== accessKeyVersion) {
    throw new AuthError(
      'invalid_access_key',
      `invalid access key: version byte ${bytes[0]}, expected ${accessKeyVersion}`,
    );
  }
  if (crc8(bytes.subarray(1)) !== 0) {
    throw new AuthError(
      'invalid_access_key',
      'invalid access key: checksum mismatch (a character was changed or lost when it was copied)',
    );
  }
  const seed = bytes.slice(1);
  const publicKey = publicKeyFromSeed(seed);
  return { seed, publicKey, keyId: keyIdFor(publicKey, userKeyIdPrefix) };
}
