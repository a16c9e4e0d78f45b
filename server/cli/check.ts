/**
 * `grid check`: validate the effective config (file or development default, plus GRID_*
 * overrides) and the licence, and print the config as the server would run it, with secrets
 * redacted. Exits 0 when both are fine, 3 for an invalid config, 4 for an invalid licence.
 * A supervised config that leaves required keys to the supervisor is valid; check names them.
 */
import { nativeAddonProblem } from '../assembly.ts';
import { redactConfig, renderConfigToml, supervisorSuppliedKeys } from '../config/index.ts';
import { parseCommandArgs } from './args.ts';
import { loadEffectiveConfig } from './effectiveConfig.ts';
import { describeLicense, loadEffectiveLicense } from './effectiveLicense.ts';
import { ExitCode, type ExitCodeValue, exitCodeHelp } from './exitCodes.ts';
import { readPortsFile } from './portsFile.ts';

export const checkHelp = `Usage: grid check [--config FILE] [--license FILE] [--quiet] [--skip-file-checks]

Validates config.toml (with GRID_* environment overrides applied) and license.toml, and
prints the effective configuration with secrets (private keys, passwords) redacted.
Every problem is reported at once, each with its file, line and key.

Options:
  --config FILE    the config (default: config.toml, or the development default)
  --license FILE   the licence (default: license.toml; absent is fine)
  --quiet          print only problems
  --skip-file-checks
                   do not open the certificate and key files the config names: for
                   checking a config on another machine than the one it will run on

${exitCodeHelp}`;

export async function checkCommand(
  argv: string[],
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<ExitCodeValue> {
  const { values } = parseCommandArgs(
    {
      name: 'grid check',
      options: {
        config: { type: 'string', short: 'c' },
        license: { type: 'string', short: 'l' },
        quiet: { type: 'boolean', short: 'q' },
        'skip-file-checks': { type: 'boolean' },
      },
    },
    argv,
  );
  if (values.help) {
    out(checkHelp);
    return ExitCode.ok;
  }
  // The ports a PortRange pod was assigned, when it has them (`grid run` waits for them).
  const portsFile = process.env.GRID_PORTS_FILE;
  const env = portsFile ? { ...process.env, ...(await readPortsFile(portsFile)) } : process.env;
  const effective = await loadEffectiveConfig({
    configFlag: values.config,
    env,
    checkFiles: !values['skip-file-checks'],
  });
  const license = await loadEffectiveLicense({ licenseFlag: values.license, env: process.env });
  // A supervised config may leave required keys to the sfu.GridConfig answer (the ODIN docs'
  // minimal supervised config is `[supervisor] url` alone): valid, but say what must come from there.
  const left = supervisorSuppliedKeys(effective.config);
  const leftText = `left to the supervisor's sfu.GridConfig answer: ${left.join(', ')}`;
  if (!values.quiet) {
    out(`# Effective configuration from ${effective.source}, secrets redacted.`);
    if (left.length > 0) out(`# Not set here, ${leftText}.`);
    out(renderConfigToml(redactConfig(effective.config)).trimEnd());
    out(`\n# Licence: ${describeLicense(license)}`);
  }
  err(`grid check: ${effective.source} is valid${left.length > 0 ? `; ${leftText}` : ''}.`);
  // The config is valid either way; whether this machine can run it is a separate question,
  // asked only when checking for this machine (not with --skip-file-checks).
  const nativeProblem =
    effective.config.quic !== undefined && !values['skip-file-checks'] ? nativeAddonProblem() : undefined;
  if (nativeProblem !== undefined) err(`grid check: warning: grid would not start here: ${nativeProblem}`);
  return ExitCode.ok;
}
