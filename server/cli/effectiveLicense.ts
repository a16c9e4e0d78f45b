/**
 * Which licence `grid` runs with, and whom it trusts to issue one.
 *
 * - `--license FILE` (or `GRID_LICENSE`): that file, and it must exist.
 * - Otherwise `license.toml` in the working directory if present; if absent the server runs
 *   unlicensed and says so.
 *
 * Trusted issuers: `GRID_LICENSE_ISSUERS`, a comma-separated list of Ed25519 public keys
 * (base64url, the `x` of a JWK; `grid license sign --print-issuer` prints it). ODIN Grid
 * builds trust no issuer by default: whoever distributes licensed builds sets it, and a
 * license.toml that no trusted key signed is refused like a tampered one.
 */
import { keyIdFor, type OdinJwk } from '../../common/auth/index.ts';
import {
  LicenseError,
  loadLicenseFile,
  parseLicenseIssuers,
  type VerifiedLicense,
} from '../../common/license/index.ts';

export const defaultLicensePath = 'license.toml';

export type EffectiveLicense = { path: string; license: VerifiedLicense | null };

export function trustedLicenseIssuers(env: Record<string, string | undefined>): OdinJwk[] {
  return parseLicenseIssuers(env.GRID_LICENSE_ISSUERS, 'GRID_LICENSE_ISSUERS');
}

export async function loadEffectiveLicense(options: {
  licenseFlag?: string | undefined;
  env: Record<string, string | undefined>;
  now?: Date;
}): Promise<EffectiveLicense> {
  const explicit = options.licenseFlag ?? options.env.GRID_LICENSE;
  const path = explicit ?? defaultLicensePath;
  const license = await loadLicenseFile(path, trustedLicenseIssuers(options.env), options.now ?? new Date());
  if (license === null && explicit !== undefined) {
    throw new LicenseError('not_found', `${path}: the licence file does not exist`);
  }
  return { path, license };
}

export function describeLicense({ path, license }: EffectiveLicense): string {
  if (license === null) return `none (no ${path}): running unlicensed`;
  const who = [
    license.licensee === undefined ? 'licensed' : `licensed to ${license.licensee}`,
    license.serialNumber === undefined ? '' : `serial ${license.serialNumber}`,
    license.issuer === undefined ? '' : `issuer ${license.issuer}`,
  ];
  const until =
    license.validUntil === undefined ? 'no expiry date' : `valid until ${license.validUntil.toISOString()}`;
  return `${path}: ${who.filter(Boolean).join(', ')}, ${until}`;
}
