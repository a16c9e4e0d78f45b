/**
 * `common/license`: license.toml, our signature scheme `odin-grid-license-v1` and licence
 * expiry. docs/license.md is the user-facing description.
 */
export { LicenseError, type LicenseErrorCode } from './errors.ts';
export { type ExpiryClock, type LicenseExpiryWatch, maxTimeoutMs, watchLicenseExpiry } from './expiry.ts';
export {
  canonicalLicenseBytes,
  type License,
  type LicenseFields,
  licenseScheme,
  parseLicenseToml,
  renderLicenseToml,
} from './format.ts';
export { parseLicenseIssuers } from './issuers.ts';
export { signLicense } from './sign.ts';
export { formatLicenseSignature, type LicenseSignature, parseLicenseSignature } from './signature.ts';
export { type LoadLicenseOptions, loadLicenseFile, type VerifiedLicense, verifyLicense } from './verify.ts';
