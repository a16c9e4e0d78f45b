/**
 * `grid token`: mint a token for testing, signed with an access key given on the command
 * line or, failing that, the first key with a private part (`d`) in the effective config.
 */
import { maxTokenLifetimeMs, type OdinJwk, signToken } from '../../common/auth/index.ts';
import { parseCommandArgs, requireFlag, UsageError } from './args.ts';

export const tokenHelp = `Usage: grid token --room ROOM --user USER [--access-key KEY] [--aud sfu]
                  [--lifetime SECONDS] [--config FILE]

Mints a token for USER to join ROOM (repeat --room for several rooms).
Signed with --access-key, or else with the first [[authorization.keys]] entry of the
effective config (config.toml, or the development default) that has a private part 'd'.

Options:
  --room ROOM          room id the token may join (repeatable)
  --user USER          user id (the token's uid)
  --access-key KEY     ODIN access key to sign with (see 'grid keys new')
  --aud AUD            audience: sfu (default) or gateway
  --lifetime SECONDS   validity from now (default 300)
  --config FILE        config to take the key from (default config.toml)`;

export const tokenCommandSpec = {
  name: 'grid token',
  options: {
    room: { type: 'string', multiple: true },
    user: { type: 'string' },
    'access-key': { type: 'string' },
    aud: { type: 'string' },
    lifetime: { type: 'string' },
    config: { type: 'string', short: 'c' },
    license: { type: 'string' },
  },
} as const;

export async function tokenCommand(
  argv: string[],
  out: (text: string) => void,
  configKeys: (configFlag: string | undefined) => Promise<readonly OdinJwk[]>,
): Promise<void> {
  const { values } = parseCommandArgs(tokenCommandSpec, argv);
  if (values.help) {
    out(tokenHelp);
    return;
  }
  const rooms = values.room ?? [];
  if (rooms.length === 0)
    throw new UsageError(`grid token: --room is required.\nRun 'grid token --help' for usage.`);
  const user = requireFlag('grid token', 'user', values.user);
  const lifetime = values.lifetime === undefined ? 300 : Number(values.lifetime);
  const maxLifetime = maxTokenLifetimeMs / 1000;
  if (!Number.isInteger(lifetime) || lifetime <= 0 || lifetime > maxLifetime) {
    throw new UsageError(
      `grid token: --lifetime must be a whole number of seconds from 1 to ${maxLifetime} (366 days: ` +
        `servers refuse tokens that live longer), got '${values.lifetime}'.`,
    );
  }
  const audience = values.aud ?? 'sfu';
  if (audience !== 'sfu' && audience !== 'gateway') {
    throw new UsageError(`grid token: --aud must be 'sfu' or 'gateway', got '${audience}'.`);
  }
  let signer: string | OdinJwk;
  if (values['access-key'] !== undefined) {
    signer = values['access-key'];
  } else {
    const withPrivatePart = (await configKeys(values.config)).find((key) => key.d !== undefined);
    if (!withPrivatePart) {
      throw new UsageError(
        'grid token: no --access-key given and the config has no [[authorization.keys]] entry with a private part (d).',
      );
    }
    signer = withPrivatePart;
  }
  const rid = rooms.length === 1 ? rooms[0]! : rooms;
  out(await signToken(signer, { uid: user, rid }, { lifetimeSeconds: lifetime, audience }));
}
