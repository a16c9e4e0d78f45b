/**
 * Gives werift's DTLS record layer one reusable AES-GCM context per key and epoch (native/quic's
 * `RecordAead`, BoringSSL's EVP_AEAD) instead of a Node `Cipheriv` per record: Node cannot re-IV
 * a cipher object, and building one per record was ~20% of the web server's CPU
 * (docs/performance.md). werift in node_modules cannot import our addon, so the patch
 * (patches/werift+0.25.2.patch, `AEADCipher.nativeAead`) looks for a factory under
 * `Symbol.for('odin-grid.werift.recordAead')` on `globalThis`, read once per epoch.
 *
 * Without the addon (not built on this machine) nothing is installed and werift keeps its
 * createCipheriv path: same bytes on the wire, only slower. `ODIN_WEB_NATIVE_AEAD=0` forces that
 * path (benchmarks compare the two).
 */
import { loadNativeAddon, type NativeRecordAead } from '../../quic/nativeAddon.ts';

export const RECORD_AEAD_FACTORY = Symbol.for('odin-grid.werift.recordAead');

type Factory = (key: Buffer) => NativeRecordAead;

let state: 'native' | 'fallback' | undefined;

/**
 * Installs the factory once per process; returns whether werift now uses the native context.
 * Safe to call on every peer connection.
 */
export function installNativeRecordAead(): boolean {
  if (state !== undefined) return state === 'native';
  state = 'fallback';
  if (process.env.ODIN_WEB_NATIVE_AEAD === '0') return false;
  let addon: ReturnType<typeof loadNativeAddon>;
  try {
    addon = loadNativeAddon();
  } catch {
    return false; // NativeQuicUnavailable: the quic engine reports that itself where it matters.
  }
  if (typeof addon.RecordAead !== 'function') return false; // an addon built before RecordAead
  const factory: Factory = (key) => new addon.RecordAead(key);
  (globalThis as Record<symbol, unknown>)[RECORD_AEAD_FACTORY] = factory;
  state = 'native';
  return true;
}

/** Whether werift's records go through the native context in this process. */
export function nativeRecordAeadInstalled(): boolean {
  return state === 'native';
}
