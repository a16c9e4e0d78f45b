/**
 * Strict base64 decoding. Node's decoders skip characters they do not know; a token or key
 * must not mean the same thing under two spellings, so these accept only the canonical form.
 */

const base64urlPattern = /^[A-Za-z0-9_-]*$/;
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes unpadded base64url (RFC 7515 section 2, as JWS and JWK use it). Returns undefined for
 * anything that is not its canonical encoding (other characters, padding, impossible length,
 * non-zero trailing bits).
 */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (!base64urlPattern.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes standard base64 (`+`, `/`, with padding), canonical form only. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!base64Pattern.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
