/**
 * `grid keys new`: create an ODIN access key and print the `[[authorization.keys]]` section
 * that lets a server verify (and, with `d`, mint) tokens signed with it, as
 * `@4players/odin-cli` does.
 */
import { accessKeyToJwk, generateAccessKey, jwkToTomlSection } from '../../common/auth/index.ts';
import { parseCommandArgs, UsageError } from './args.ts';

export const keysHelp = `Usage: grid keys new [--public-only]

Creates an ODIN access key and prints it, followed by the config.toml section
[[authorization.keys]] for it. Keep the access key secret: whoever has it can mint
tokens for your server. The section's 'd' is the same secret; --public-only leaves
it out, for servers that only verify tokens.`;

export function keysCommand(argv: string[], out: (text: string) => void): void {
  const { values, positionals } = parseCommandArgs(
    { name: 'grid keys', options: { 'public-only': { type: 'boolean' } }, allowPositionals: true },
    argv,
  );
  if (values.help) {
    out(keysHelp);
    return;
  }
  if (positionals[0] !== 'new' || positionals.length !== 1) {
    throw new UsageError(
      `grid keys: expected 'new'${positionals[0] ? `, got '${positionals.join(' ')}'` : ''}.\n\n${keysHelp}`,
    );
  }
  const accessKey = generateAccessKey();
  const jwk = accessKeyToJwk(accessKey);
  if (values['public-only']) delete jwk.d;
  out(
    `# Access key (secret; used by your backend to mint tokens):\n# ${accessKey}\n\n${jwkToTomlSection(jwk).trim()}`,
  );
}
