/**
 * Tests that need the native QUIC addon (native/quic): `npm test` needs nothing but Node and
 * npm, so on a machine where the addon could not be built they are skipped, visibly, with the
 * reason and the build command in the skip message; `ODIN_REQUIRE_NATIVE=1` (CI,
 * `npm run test:native`) runs them anyway, so a missing addon fails there instead.
 *
 *   describe('…', needsNativeAddon, () => { … });
 *   test('…', needsNativeAddon, async () => { … });
 *
 * Root-level `before`/`after` hooks of node:test run even when every test of the file is
 * skipped, so such hooks return early on `needsNativeAddon.skip`.
 */
import {
  loadNativeAddon,
  NATIVE_BUILD_COMMAND,
  NativeQuicUnavailable,
  nativeAddonBuilt,
  nativeAddonPath,
} from '../../server/transports/quic/nativeAddon.ts';

/** Why the addon cannot be used on this machine, in a few words, or undefined when it can. */
export function nativeAddonMissingReason(): string | undefined {
  const path = nativeAddonPath();
  if (!nativeAddonBuilt()) return `no native QUIC addon at ${path}`;
  try {
    loadNativeAddon();
    return undefined;
  } catch (error) {
    if (!(error instanceof NativeQuicUnavailable)) throw error;
    const cause = error.cause instanceof Error ? error.cause.message : error.message;
    return `the native QUIC addon ${path} does not load (${cause})`;
  }
}

/** Whether a missing addon must fail the tests instead of skipping them. */
export const nativeAddonRequired =
  (process.env.ODIN_REQUIRE_NATIVE ?? '') !== '' && process.env.ODIN_REQUIRE_NATIVE !== '0';

const missing = nativeAddonRequired ? undefined : nativeAddonMissingReason();

/** node:test options for a test or suite that needs the addon. */
export const needsNativeAddon: { skip: string | false } = {
  skip:
    missing === undefined
      ? false
      : `${missing}; build it with \`${NATIVE_BUILD_COMMAND}\` (ODIN_REQUIRE_NATIVE=1 fails instead of skipping)`,
};

/**
 * `npm test` runs this file as its --test-global-setup: once per run, after the summary, one
 * line says that QUIC went untested, so nobody reads "fail 0" as "QUIC works".
 */
export function globalTeardown(): void {
  if (missing === undefined) return;
  process.stderr.write(
    `\nQUIC UNTESTED: ${missing}, so every test that needs it was skipped. Build it with \`${NATIVE_BUILD_COMMAND}\` (docs/native-quic.md); CI runs with ODIN_REQUIRE_NATIVE=1.\n`,
  );
}
