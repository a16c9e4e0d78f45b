/**
 * The shared ODIN test vectors (../shared/vectors/odin-tokens.json beside the repository),
 * parsed into typed values once.
 */
import { readFileSync } from 'node:fs';
import type { OdinJwk } from '../../shared/auth/index.ts';

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
  readFileSync(new URL('../../../shared/vectors/odin-tokens.json', import.meta.url), 'utf8'),
) as Vectors;

/** The vector tokens' `nbf`: 3000-01-01T00:00:00Z, in milliseconds. */
export const year3000 = 32503680000 * 1000;
