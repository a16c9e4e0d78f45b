/**
 * Command-line parsing shared by `grid`'s commands: `node:util` parseArgs in strict mode,
 * with errors turned into `UsageError` (exit code 2) that say which command and how to get help.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export type CommandSpec<O extends Options> = {
  /** e.g. `grid token` */
  name: string;
  options: O;
  /** Whether positional arguments are allowed (sub-commands take them). */
  allowPositionals?: boolean;
};

export function parseCommandArgs<O extends Options>(spec: CommandSpec<O>, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: spec.allowPositionals ?? false,
    });
  } catch (error) {
    const message = (error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '');
    throw new UsageError(`${spec.name}: ${message}\nRun '${spec.name} --help' for usage.`);
  }
}

/** A required string flag: a UsageError naming the flag when it is missing or empty. */
export function requireFlag(command: string, flag: string, value: string | boolean | undefined): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new UsageError(`${command}: --${flag} is required.\nRun '${command} --help' for usage.`);
  }
  return value;
}
