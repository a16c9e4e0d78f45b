/**
 * Trusted licence issuer keys as a deployment names them: a comma-separated list of Ed25519
 * public keys (base64url, the `x` of a JWK; `grid license sign --print-issuer` prints one).
 * `grid` reads `GRID_LICENSE_ISSUERS`; the operator reads `--license-issuers` (docs/license.md).
 */
import { keyIdFor, type OdinJwk } from '../auth/index.ts';
import { LicenseError } from './errors.ts';

/** The issuer keys of `text` (empty or blank: none). `source` names where the list came from. */
export function parseLicenseIssuers(text: string | undefined, source: string): OdinJwk[] {
  const trimmed = text?.trim();
  if (!trimmed) return [];
  return trimmed.split(',').map((entry, index) => {
    const x = entry.trim();
    const publicKey = Buffer.from(x, 'base64url');
    if (publicKey.length !== 32 || publicKey.toString('base64url') !== x) {
      throw new LicenseError(
        'malformed',
        `${source} entry ${index + 1} is not a base64url Ed25519 public key (32 bytes)`,
      );
    }
    return { kid: keyIdFor(publicKey), kty: 'OKP', crv: 'Ed25519', x };
  });
}
