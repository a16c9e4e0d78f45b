#!/usr/bin/env node
/**
 * `grid`: the ODIN Grid voice server's command line.
 *
 *   grid [--config F] [--license F]    run the server
 *   grid check                          validate the config and licence, print the effective config
 *   grid keys new                       create an access key and its [[authorization.keys]] section
 *   grid token --room R --user U        mint a test token
 *   grid license sign | verify          issue or check a license.toml
 *
 * This file only dispatches; each command lives in `server/cli/`.
 */
// First, for its side effect: the server command re-executes itself with its heap flags
// (server/cli/heapFlags.ts) before the modules below run their initialisation.
import './cli/heapFlagsEntry.ts';
import { AuthError } from '../common/auth/index.ts';
import { LicenseError } from '../common/license/index.ts';
import { UsageError } from './cli/args.ts';
import { checkCommand, checkHelp } from './cli/check.ts';
import { loadEffectiveConfig } from './cli/effectiveConfig.ts';
import { ExitCode, exitCodeHelp } from './cli/exitCodes.ts';
import { keysCommand, keysHelp } from './cli/keys.ts';
import { licenseCommand, licenseHelp } from './cli/license.ts';
import { runCommand, runHelp } from './cli/run.ts';
import { tokenCommand, tokenHelp } from './cli/token.ts';
import { ConfigError } from './config/index.ts';
import { ListenerError } from './listener.ts';
import { readPackageVersion } from './version.ts';

const mainHelp = `grid: the ODIN Grid voice server (SFU)

Usage:
  grid [--config FILE] [--license FILE]   run the server
  grid check [--config FILE]              validate config.toml (and license.toml), print the effective config
  grid keys new                           create an ODIN access key and its config section
  grid token --room R --user U            mint a test token
  grid license sign | verify              issue or check a license.toml
  grid --version                          print the version

With no config.toml in the working directory (and no --config / GRID_CONFIG), grid runs
the embedded development default: loopback only, a generated certificate and access key
kept in .grid-dev/.

Run 'grid COMMAND --help' for a command's options.

${exitCodeHelp}`;

const out = (text: string) => process.stdout.write(`${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'check':
      return checkCommand(rest, out, err);
    case 'keys':
      keysCommand(rest, out);
      return ExitCode.ok;
    case 'token':
      await tokenCommand(rest, out, async (configFlag) => {
        const { config } = await loadEffectiveConfig({ configFlag, env: process.env });
        return config.authorization.keys;
      });
      return ExitCode.ok;
    case 'license':
      return licenseCommand(rest, out, err);
    case 'help':
      out(rest[0] ? helpFor(rest[0]) : mainHelp);
      return ExitCode.ok;
    case '--help':
    case '-h':
      out(mainHelp);
      return ExitCode.ok;
    case '--version':
    case '-V':
      out(await readPackageVersion());
      return ExitCode.ok;
    default:
      if (command !== undefined && !command.startsWith('-')) {
        throw new UsageError(
          `grid: unknown command '${command}'.\nRun 'grid --help' for the list of commands.`,
        );
      }
      return runCommand(argv, out, err);
  }
}

function helpFor(command: string): string {
  const helps: Record<string, string> = {
    check: checkHelp,
    keys: keysHelp,
    token: tokenHelp,
    license: licenseHelp,
    run: runHelp,
  };
  return helps[command] ?? mainHelp;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    err(error.message);
    process.exitCode = ExitCode.usage;
  } else if (error instanceof ConfigError) {
    err(`grid: the configuration is invalid:\n${error.message}`);
    process.exitCode = ExitCode.invalidConfig;
  } else if (error instanceof AuthError) {
    // A key or token given on the command line (grid token --access-key, grid license sign).
    err(`grid: ${error.message}`);
    process.exitCode = ExitCode.usage;
  } else if (error instanceof ListenerError) {
    err(`grid: ${error.message}`);
    process.exitCode = ExitCode.failure;
  } else if (error instanceof LicenseError) {
    err(`grid: ${error.message}`);
    process.exitCode = ExitCode.invalidLicense;
  } else {
    err(`grid: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = ExitCode.failure;
  }
}
