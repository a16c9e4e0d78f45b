/**
 * Which `[quic] engine` the QUIC tests run against: `matrixai` (the default) unless
 * ODIN_QUIC_ENGINE says `native` (`npm run test:native` sets it, after building the addon).
 */
export type QuicEngine = 'matrixai' | 'native';

export function quicEngine(): QuicEngine {
  const engine = process.env.ODIN_QUIC_ENGINE ?? 'matrixai';
  if (engine !== 'matrixai' && engine !== 'native') {
    throw new Error(`ODIN_QUIC_ENGINE=${engine}: expected matrixai or native`);
  }
  return engine;
}

/** The `engine = ...` line of a `[quic]` section. */
export function quicEngineLine(): string {
  return `engine = "${quicEngine()}"\n`;
}
