/**
 * `grid`'s exit codes, in one place so the README, `--help` and the code agree.
 * Kubernetes and shell scripts branch on these: never reuse a number for another meaning.
 */
export const ExitCode = {
  /** Success, including a clean shutdown after SIGTERM. */
  ok: 0,
  /** A runtime failure: a listener could not open, the supervisor gave up, an internal error. */
  failure: 1,
  /** Wrong command-line usage: unknown command or flag, missing argument. */
  usage: 2,
  /** config.toml (or a GRID_* override) is invalid; every problem is printed. */
  invalidConfig: 3,
  /** license.toml is present but tampered, untrusted, malformed or expired. */
  invalidLicense: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const exitCodeHelp = `Exit codes:
  0  success (also a clean shutdown after SIGTERM)
  1  runtime failure
  2  usage error
  3  invalid configuration
  4  invalid licence`;
