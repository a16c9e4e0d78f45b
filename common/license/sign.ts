/**
 * `grid license sign`: signs licence fields with an issuer key (an ODIN access key or a JWK
 * with `d`) and renders license.toml. Scheme: docs/license.md.
 */
import { AuthError, type OdinJwk, signEd25519, signingKeyFrom } from '../auth/index.ts';
import { LicenseError } from './errors.ts';
import { canonicalLicenseBytes, type LicenseFields, renderLicenseToml } from './format.ts';
import { formatLicenseSignature } from './signature.ts';

const place = { source: 'grid license sign' };

export function signLicense(fields: LicenseFields, signer: string | OdinJwk): string {
  checkFields(fields);
  const { seed, kid } = signingMaterial(signer);
  const signature = signEd25519(seed, canonicalLicenseBytes(fields));
  return renderLicenseToml(fields, formatLicenseSignature(kid, signature));
}

/** The issuer's seed and kid; a bad key is a licence error naming the problem (not the key). */
function signingMaterial(signer: string | OdinJwk): { seed: Uint8Array; kid: string } {
  try {
    return signingKeyFrom(signer);
  } catch (error) {
    if (error instanceof AuthError)
      throw new LicenseError('malformed', `issuer key: ${error.message}`, place);
    throw error;
  }
}

function checkFields(fields: LicenseFields): void {
  if (
    fields.validUntil !== undefined &&
    (!(fields.validUntil instanceof Date) || !Number.isFinite(fields.validUntil.getTime()))
  ) {
    throw new LicenseError('malformed', 'valid_until must be a valid date', place);
  }
  for (const [name, value] of [
    ['issuer', fields.issuer],
    ['licensee', fields.licensee],
    ['serial_number', fields.serialNumber],
  ] as const) {
    // TOML cannot hold lone surrogates, so they could never round-trip through the file.
    if (value !== undefined && (typeof value !== 'string' || !value.isWellFormed())) {
      throw new LicenseError('malformed', `${name} must be a well-formed string`, place);
    }
  }
}
