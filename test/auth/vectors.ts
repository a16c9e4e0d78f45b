/**
 * The ODIN test vectors (test/fixtures/odin-tokens.json: a copy of the project's shared vector
 * file, which took them from @4players/odin-tokens 1.4.0's test suite and the public
 * odin-server and odin-gateway repositories; its "about" field says so), parsed into typed
 * values once. The repository carries them: a clone has nothing beside it.
 */
import { readFileSync } from 'node:fs';
import type { OdinJwk } from '../../common/auth/index.ts';

type AccessKeyVector = {
  access_key: string;
  public_key_base64?: string;
  seed_base64url?: string;
  kid?: string;
  jwk?: OdinJwk;
};

type TokenVector = {
  signed_with: string;
  claims: {
    rid: string | string[];
    uid: string;
    sub: string;
    aud?: 'sfu' | 'gateway';
    nbf: number;
    exp: number;
  };
  token: string;
  note?: string;
};

type Vectors = {
  access_keys: AccessKeyVector[];
  tokens: TokenVector[];
  gateway_derived_server_key: {
    master_key_base64: string;
    hostname: string;
    kid: string;
    x: string;
    d: string;
  };
};

export const vectors = JSON.parse(
  readFileSync(new URL('../fixtures/odin-tokens.json', import.meta.url), 'utf8'),
) as Vectors;

/** The vector tokens' `nbf`: 3000-01-01T00:00:00Z, in milliseconds. */
export const year3000 = 32503680000 * 1000;
