/**
 * Token parsing and verification (common/auth/verifier.ts) on the token strings clients send
 * in Authenticate, JoinRoom and the gateway Connect. Byte 0 picks a verifier that refuses or
 * (development setting) accepts unsigned tokens. Findings: any exception that is not a
 * TokenError/AuthError, and a token accepted without a valid signature by the strict verifier.
 */

import { AuthError } from '../../common/auth/errors.ts';
import { accessKeyToJwk } from '../../common/auth/jwk.ts';
import { TokenVerifier } from '../../common/auth/verifier.ts';
import { invariant } from './cursor.ts';

/** The access key of the ODIN server README (public documentation, not a secret). */
export const FUZZ_ACCESS_KEY = 'AeRWMNanQAYxNKhChHvNtS+1D5fw2Xzvj2r6Woi7Bg0d';
/** The verifiers' clock: seeds are minted around this time. */
export const FUZZ_NOW_MS = Date.UTC(2026, 0, 1);

const keys = [accessKeyToJwk(FUZZ_ACCESS_KEY)];
const strict = new TokenVerifier({ keys, allowUnsigned: false, leewayMs: 5_000, now: () => FUZZ_NOW_MS });
const lenient = new TokenVerifier({ keys, allowUnsigned: true, leewayMs: 5_000, now: () => FUZZ_NOW_MS });

export async function fuzz(data: Buffer): Promise<void> {
  const verifier = (data[0] ?? 0) & 1 ? lenient : strict;
  const token = data.subarray(1).toString('latin1');
  try {
    const verified = await verifier.verify(token, {
      audiences: (data[0] ?? 0) & 2 ? ['sfu', 'gateway'] : ['sfu'],
    });
    if (verifier === strict) {
      const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
      invariant(header.alg === 'EdDSA', `the strict verifier accepted alg ${header.alg}`);
    }
    invariant(typeof verified === 'object' && verified !== null, 'verified token is an object');
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
  }
}
