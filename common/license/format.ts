/**
 * license.toml and the canonical bytes its signature covers (scheme `odin-grid-license-v1`,
 * see docs/license.md).
 *
 * ```toml
 * [license]
 * issuer = "ODIN Grid"
 * licensee = "Example Games"
 * serial_number = "EG-0001"
 * valid_until = 2027-01-01T00:00:00Z
 * signature = "ed25519:<kid>:<base64url signature>"
 * ```
 *
 * Only `signature` is required; without `valid_until` the licence does not expire (the ODIN docs:
 * "An optional expiration date for the license"). Unknown keys are refused: they would not be
 * covered by the signature, and a later scheme that adds fields gets a new version string.
 */
import { parse, stringify, TomlDate, TomlError } from 'smol-toml';
import { LicenseError } from './errors.ts';

export const licenseScheme = 'odin-grid-license-v1';

/** What a licence says. */
export type LicenseFields = {
  issuer?: string;
  licensee?: string;
  serialNumber?: string;
  /** The instant the licence ends; absent: it does not expire. */
  validUntil?: Date | undefined;
};

/** A parsed, not yet verified licence. */
export type License = LicenseFields & {
  /** `ed25519:<kid>:<base64url signature>`. */
  signature: string;
  /** File name for messages. */
  source: string;
  /** 1-based line of each key in the file, for messages. */
  lines: Partial<Record<LicenseKey, number>>;
};

const licenseKeys = ['issuer', 'licensee', 'serial_number', 'valid_until', 'signature'] as const;
type LicenseKey = (typeof licenseKeys)[number] | 'table';

/**
 * The bytes the signature covers: UTF-8 of the JSON array
 * `["odin-grid-license-v1", issuer, licensee, serial_number, valid_until]`, absent fields as
 * `null` (`valid_until` too), `valid_until` as ISO-8601 UTC with milliseconds (`Date#toISOString`). JSON.stringify
 * of an array of strings and nulls is fully specified (ECMA-262 SerializeJSONProperty), so the
 * encoding has exactly one spelling and no field can bleed into the next.
 */
export function canonicalLicenseBytes(fields: LicenseFields): Uint8Array {
  const validUntil = fields.validUntil?.getTime();
  if (validUntil !== undefined && !Number.isFinite(validUntil))
    throw new RangeError('valid_until is not a valid date');
  const array = [
    licenseScheme,
    fields.issuer ?? null,
    fields.licensee ?? null,
    fields.serialNumber ?? null,
    validUntil === undefined ? null : new Date(validUntil).toISOString(),
  ];
  return new TextEncoder().encode(JSON.stringify(array));
}

/** Reads license.toml text; throws {@link LicenseError} naming `source:line`. */
export function parseLicenseToml(text: string, source: string): License {
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const first = error.message.split('\n')[0] ?? 'invalid TOML';
      throw new LicenseError('malformed', `${first} (column ${error.column})`, { source, line: error.line });
    }
    throw error;
  }
  const lines = findLines(text);
  const malformed = (key: LicenseKey | undefined, message: string) =>
    new LicenseError('malformed', message, { source, line: key === undefined ? undefined : lines[key] });

  const table = document.license;
  if (!(typeof table === 'object' && table !== null && !Array.isArray(table) && !(table instanceof Date))) {
    throw malformed(
      undefined,
      'no [license] table; a licence file holds [license] with at least a signature',
    );
  }
  for (const key of Object.keys(document)) {
    if (key !== 'license')
      throw malformed(undefined, `unexpected top-level key ${JSON.stringify(key)}; only [license]`);
  }
  const values = table as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    if (!(licenseKeys as readonly string[]).includes(key)) {
      throw malformed(
        'table',
        `unknown key ${JSON.stringify(key)} in [license]; known keys: ${licenseKeys.join(', ')}`,
      );
    }
  }

  const text_ = (key: 'issuer' | 'licensee' | 'serial_number'): string | undefined => {
    const value = values[key];
    if (value === undefined || typeof value === 'string') return value;
    throw malformed(key, `[license] ${key} must be a string (in quotes)`);
  };

  if (values.signature === undefined) {
    throw new LicenseError(
      'missing_signature',
      '[license] has no signature: the licence is unsigned; sign it with "grid license sign"',
      { source, line: lines.table },
    );
  }
  if (typeof values.signature !== 'string')
    throw malformed('signature', '[license] signature must be a string');

  const validUntil = values.valid_until;
  if (
    validUntil !== undefined &&
    (!(validUntil instanceof TomlDate) || !validUntil.isDateTime() || validUntil.isLocal())
  ) {
    throw malformed(
      'valid_until',
      '[license] valid_until must be a date-time with an offset, e.g. 2027-01-01T00:00:00Z',
    );
  }

  return {
    issuer: text_('issuer'),
    licensee: text_('licensee'),
    serialNumber: text_('serial_number'),
    validUntil: validUntil === undefined ? undefined : new Date(validUntil.getTime()),
    signature: values.signature,
    source,
    lines,
  };
}

/** license.toml text for `fields` and their signature. */
export function renderLicenseToml(fields: LicenseFields, signature: string): string {
  const table: Record<string, string | Date> = {};
  if (fields.issuer !== undefined) table.issuer = fields.issuer;
  if (fields.licensee !== undefined) table.licensee = fields.licensee;
  if (fields.serialNumber !== undefined) table.serial_number = fields.serialNumber;
  if (fields.validUntil !== undefined) table.valid_until = new Date(fields.validUntil.getTime());
  table.signature = signature;
  return [
    '# ODIN Grid licence, scheme odin-grid-license-v1 (docs/license.md).',
    '# Signed: changing any value below invalidates the signature.',
    stringify({ license: table }),
  ].join('\n');
}

/** Where `[license]` and each of its keys sit, by a line scan (smol-toml keeps no positions). */
function findLines(text: string): Partial<Record<LicenseKey, number>> {
  const lines: Partial<Record<LicenseKey, number>> = {};
  let inLicense = false;
  text.split(/\r?\n/).forEach((line, index) => {
    const header = /^\s*\[\s*([^\]]*?)\s*\]/.exec(line);
    if (header) {
      inLicense = header[1] === 'license';
      if (inLicense) lines.table ??= index + 1;
      return;
    }
    const key = /^\s*"?([A-Za-z0-9_-]+)"?\s*=/.exec(line)?.[1];
    if (inLicense && key !== undefined && (licenseKeys as readonly string[]).includes(key)) {
      lines[key as LicenseKey] ??= index + 1;
    }
  });
  return lines;
}
