/**
 * Every way a licence is refused, in one place. The scheme is ours (ODIN-PROTOCOL.md
 * section 7: the original is not public); docs/license.md describes it and what the server
 * does in each case.
 *
 * | code                | meaning                                                                 |
 * |---------------------|-------------------------------------------------------------------------|
 * | `not_found`         | a licence file that was asked for explicitly does not exist             |
 * | `unreadable`        | the file exists but cannot be read (permissions, a directory, ...)      |
 * | `malformed`         | not TOML, no `[license]` table, an unknown key, a value of the wrong type or a signature not of the form `ed25519:<kid>:<base64url>` |
 * | `missing_signature` | `[license]` has no `signature`: an unsigned licence                    |
 * | `untrusted_issuer`  | signed by a key that is not among the trusted issuer keys               |
 * | `bad_signature`     | the signature does not match the fields: the file was changed after signing |
 * | `expired`           | `valid_until` has passed                                                |
 */
export type LicenseErrorCode =
  | 'not_found'
  | 'unreadable'
  | 'malformed'
  | 'missing_signature'
  | 'untrusted_issuer'
  | 'bad_signature'
  | 'expired';

/** Where a licence fault is: the file (or other source name) and, when known, the line. */
export type LicenseErrorPlace = { source: string; line?: number | undefined };

/**
 * A refused licence. With a place, the message starts with `file:line: ` (or `file: `), like
 * config.toml errors.
 */
export class LicenseError extends Error {
  readonly code: LicenseErrorCode;
  /** The file (or other source name) the licence came from, when known. */
  readonly source: string | undefined;
  /** 1-based line of the offending value, when known. */
  readonly line: number | undefined;

  constructor(code: LicenseErrorCode, message: string, place?: LicenseErrorPlace) {
    const prefix =
      place === undefined ? '' : `${place.source}${place.line === undefined ? '' : `:${place.line}`}: `;
    super(`${prefix}${message}`);
    this.name = 'LicenseError';
    this.code = code;
    this.source = place?.source;
    this.line = place?.line;
  }
}
