/**
 * `grid license sign | verify`: issue a license.toml with our scheme (docs/license.md) or
 * check one against trusted issuer keys.
 */
import { writeFile } from 'node:fs/promises';
import { accessKeyToJwk, parseAccessKey } from '../../common/auth/index.ts';
import { signLicense } from '../../common/license/index.ts';
import { parseCommandArgs, requireFlag, UsageError } from './args.ts';
import { describeLicense, loadEffectiveLicense } from './effectiveLicense.ts';
import { ExitCode, type ExitCodeValue } from './exitCodes.ts';

export const licenseHelp = `Usage: grid license sign --access-key KEY [--valid-until DATE] [--licensee NAME] [--serial S]
                         [--issuer NAME] [--out FILE]
       grid license sign --access-key KEY --print-issuer
       grid license verify [--license FILE] [--issuer-key X]...

sign     writes a license.toml signed with the issuer's ODIN access key (to stdout, or --out).
         DATE is an ISO-8601 date-time with an offset, e.g. 2027-12-31T23:59:59Z; without
         --valid-until the licence does not expire.
         --print-issuer prints the public key to put in GRID_LICENSE_ISSUERS on servers.
verify   checks a licence (default license.toml) against the trusted issuer keys: the
         --issuer-key values, or else GRID_LICENSE_ISSUERS (comma-separated). Exit 0 when
         valid, 4 when not.

See docs/license.md for the format and the signature scheme.`;

export async function licenseCommand(
  argv: string[],
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<ExitCodeValue> {
  const { values, positionals } = parseCommandArgs(
    {
      name: 'grid license',
      options: {
        'access-key': { type: 'string' },
        'valid-until': { type: 'string' },
        licensee: { type: 'string' },
        serial: { type: 'string' },
        issuer: { type: 'string' },
        out: { type: 'string', short: 'o' },
        'print-issuer': { type: 'boolean' },
        license: { type: 'string', short: 'l' },
        'issuer-key': { type: 'string', multiple: true },
      },
      allowPositionals: true,
    },
    argv,
  );
  if (values.help) {
    out(licenseHelp);
    return ExitCode.ok;
  }
  const [action, ...extra] = positionals;
  if (extra.length > 0 || (action !== 'sign' && action !== 'verify')) {
    throw new UsageError(
      `grid license: expected 'sign' or 'verify'${action ? `, got '${positionals.join(' ')}'` : ''}.\n\n${licenseHelp}`,
    );
  }

  if (action === 'sign') {
    const accessKey = requireFlag('grid license sign', 'access-key', values['access-key']);
    if (values['print-issuer']) {
      parseAccessKey(accessKey);
      out(accessKeyToJwk(accessKey).x);
      return ExitCode.ok;
    }
    const validUntilText = values['valid-until'];
    const validUntil = validUntilText === undefined ? undefined : new Date(validUntilText);
    if (
      validUntilText !== undefined &&
      (!/[zZ]|[+-]\d\d:?\d\d$/.test(validUntilText) || Number.isNaN(validUntil?.getTime()))
    ) {
      throw new UsageError(
        `grid license sign: --valid-until must be an ISO-8601 date-time with an offset (e.g. 2027-12-31T23:59:59Z), got '${validUntilText}'.`,
      );
    }
    const text = signLicense(
      { issuer: values.issuer, licensee: values.licensee, serialNumber: values.serial, validUntil },
      accessKey,
    );
    if (values.out) {
      await writeFile(values.out, text);
      err(`grid license sign: wrote ${values.out}`);
    } else {
      out(text.trimEnd());
    }
    return ExitCode.ok;
  }

  const env = { ...process.env };
  if (values['issuer-key']) env.GRID_LICENSE_ISSUERS = values['issuer-key'].join(',');
  const effective = await loadEffectiveLicense({ licenseFlag: values.license ?? 'license.toml', env });
  out(describeLicense(effective));
  return ExitCode.ok;
}
