/**
 * Which `[quic] engine` the QUIC tests run against: ODIN_QUIC_ENGINE when set (`npm run
 * test:native` sets `native`), else the default engine, `native`, when its addon is built
 * (`npm install` builds it where Rust, cmake and libclang are), else `matrixai`: on a machine
 * with Node and npm only the QUIC suites still run, on the engine that needs no build, and
 * the native tests skip (docs/native-quic.md).
 */
import { nativeAddonBuilt } from '../../server/transports/quic/nativeAddon.ts';

export type QuicEngine = 'matrixai' | 'native';

export function quicEngine(): QuicEngine {
  const built = nativeAddonBuilt();
  // CI sets it: there a missing addon is a failure, not a quiet run on the other engine.
  if (process.env.ODIN_REQUIRE_NATIVE && !built) {
    throw new Error('ODIN_REQUIRE_NATIVE is set but the native QUIC addon is not built');
  }
  const engine = process.env.ODIN_QUIC_ENGINE ?? (built ? 'native' : 'matrixai');
  if (engine !== 'matrixai' && engine !== 'native') {
    throw new Error(`ODIN_QUIC_ENGINE=${engine}: expected matrixai or native`);
  }
  return engine;
}

/** The `engine = ...` line of a `[quic]` section. */
export function quicEngineLine(): string {
  return `engine = "${quicEngine()}"\n`;
}
