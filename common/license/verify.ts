/**
 * Licence verification and loading (docs/license.md): the signature must come from a trusted
 * issuer key and match the fields, and `valid_until`, when set, must lie ahead. Checked in that order, so
 * an expired licence that was also edited reports the edit.
 */
import { readFile } from 'node:fs/promises';
import { checkJwk, type OdinJwk, verifyEd25519 } from '../auth/index.ts';
import { LicenseError } from './errors.ts';
import { canonicalLicenseBytes, type License, parseLicenseToml } from './format.ts';
import { parseLicenseSignature } from './signature.ts';

export type VerifiedLicense = {
  issuer?: string;
  licensee?: string;
  serialNumber?: string;
  /** Absent: the licence does not expire. */
  validUntil?: Date | undefined;
  /** `validUntil - now` at verification; absent with `validUntil`. */
  msUntilExpiry?: number | undefined;
  /** kid of the issuer key that signed it. */
  keyId: string;
  source: string;
};

export function verifyLicense(
  license: License,
  trustedKeys: readonly OdinJwk[],
  now: number | Date = Date.now(),
): VerifiedLicense {
  const at = license.lines.signature;
  const parsed = parseLicenseSignature(license.signature);
  if (parsed === undefined) {
    throw new LicenseError(
      'malformed',
      '[license] signature must look like "ed25519:<kid>:<base64url signature>"',
      { source: license.source, line: at },
    );
  }
  const candidates = trustedKeys.filter((key) => key.kid === parsed.kid);
  if (candidates.length === 0) {
    throw new LicenseError(
      'untrusted_issuer',
      `licence is signed by key ${JSON.stringify(parsed.kid)}, which is not a trusted licence issuer key`,
      { source: license.source, line: at },
    );
  }
  const message = canonicalLicenseBytes(license);
  const valid = candidates.some((key) => verifyEd25519(checkJwk(key).publicKey, message, parsed.signature));
  if (!valid) {
    throw new LicenseError(
      'bad_signature',
      'licence signature does not match its contents: the file was changed after it was signed; ' +
        'restore the original license.toml',
      { source: license.source, line: at },
    );
  }
  const msUntilExpiry =
    license.validUntil === undefined
      ? undefined
      : license.validUntil.getTime() - (typeof now === 'number' ? now : now.getTime());
  if (license.validUntil !== undefined && msUntilExpiry !== undefined && msUntilExpiry <= 0) {
    throw new LicenseError(
      'expired',
      `licence${license.serialNumber === undefined ? '' : ` ${JSON.stringify(license.serialNumber)}`} ` +
        `expired at ${license.validUntil.toISOString()}; a renewed license.toml is needed`,
      { source: license.source, line: license.lines.valid_until },
    );
  }
  return {
    issuer: license.issuer,
    licensee: license.licensee,
    serialNumber: license.serialNumber,
    validUntil: license.validUntil,
    msUntilExpiry,
    keyId: parsed.kid,
    source: license.source,
  };
}

export type LoadLicenseOptions = {
  /** The path was given explicitly (`--license F`): a missing file is an error, not "unlicensed". */
  required?: boolean;
};

/**
 * Reads, parses and verifies a licence file. Resolves to null when the file does not exist
 * and it was not `required`: the server then runs unlicensed and says so.
 */
export async function loadLicenseFile(
  path: string,
  trustedKeys: readonly OdinJwk[],
  now: number | Date = Date.now(),
  options: LoadLicenseOptions = {},
): Promise<VerifiedLicense | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (!options.required) return null;
      throw new LicenseError('not_found', 'licence file does not exist', { source: path });
    }
    throw new LicenseError('unreadable', `cannot read the licence file (${code ?? String(error)})`, {
      source: path,
    });
  }
  return verifyLicense(parseLicenseToml(text, path), trustedKeys, now);
}
