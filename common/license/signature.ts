/**
 * The `signature` value: `ed25519:<kid>:<base64url signature>`. The kid (an ODIN key id,
 * ODIN-PROTOCOL.md section 1) names the issuer key so a verifier with several trusted keys
 * knows which one to use; the signature is Ed25519 (RFC 8032) over canonicalLicenseBytes.
 */
export type LicenseSignature = { kid: string; signature: Uint8Array };

const pattern = /^ed25519:([A-Za-z0-9+/=_-]{1,64}):([A-Za-z0-9_-]{86})$/;

export function formatLicenseSignature(kid: string, signature: Uint8Array): string {
  return `ed25519:${kid}:${Buffer.from(signature).toString('base64url')}`;
}

/** Undefined when `text` is not of the form above. */
export function parseLicenseSignature(text: string): LicenseSignature | undefined {
  const match = pattern.exec(text);
  if (!match) return undefined;
  const signature = Buffer.from(match[2] ?? '', 'base64url');
  if (signature.length !== 64) return undefined;
  return { kid: match[1] ?? '', signature: new Uint8Array(signature) };
}
