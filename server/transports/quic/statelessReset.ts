/**
 * Stateless resets (RFC 9000 section 10.3): a server that has lost a connection's state (a
 * crash, a restart, a connection it already forgot) answers the client's next packet with a
 * datagram ending in the connection's stateless reset token, and the client drops the
 * connection at once instead of waiting out its idle timeout.
 *
 * Tokens are HMAC-SHA256(key, connection id), truncated to 16 bytes (section 10.3.2, "a
 * static key"), so a restarted server computes the same token from the same key without
 * remembering anything. Every connection id we issue has the same length, as that section
 * requires of this design.
 *
 * What we send, and when not (section 10.3 and 10.3.3):
 * - only in answer to a short-header packet (fixed bit set) for an unknown connection id;
 * - always smaller than the packet that triggered it, so two endpoints can never bounce
 *   resets back and forth forever (looping) and we never amplify; a trigger of 21 bytes or
 *   less (a minimal reset itself) gets no answer;
 * - never to a packet that ends in the token we would send for its connection id: that is a
 *   reset from a sibling server sharing our key, and answering it would start a loop;
 * - at most `rate` per second (burst `capacity`): section 10.3.3 suggests a limit, and it
 *   caps the work garbage can cause;
 * - the first byte is 0b01xxxxxx and the rest up to the token unpredictable, so the reset
 *   looks like any short-header packet.
 */
import { createHmac, createPrivateKey, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { TokenBucket } from '../../core/tokenBucket.ts';

export const STATELESS_RESET_TOKEN_BYTES = 16;
/** Section 10.3: 5 bytes of header (38 unpredictable bits and the fixed bits), then the token. */
export const MIN_STATELESS_RESET_BYTES = 5 + STATELESS_RESET_TOKEN_BYTES;
/**
 * Section 10.3: a reset in answer to a packet of 43 bytes or less is one byte shorter than it;
 * longer triggers get a reset between this size and MAX_RESET_BYTES (still smaller than them).
 */
const SMALL_TRIGGER_BYTES = 43;
/** A short header with our 20-byte connection id, a packet number and a minimal payload and AEAD tag. */
const MAX_RESET_BYTES = 64;

export type StatelessResetParams = {
  /** The secret the tokens are derived from (32 bytes or more; keep it across restarts). */
  key: Uint8Array;
  /** Resets per second at most (sustained), default 1000. */
  rate?: number;
  /** Burst, default `rate`. */
  capacity?: number;
  /** Clock of the rate limit, ms (tests inject one). Default `performance.now`. */
  now?: () => number;
};

export class StatelessResets {
  readonly #key: Uint8Array;
  readonly #bucket: TokenBucket;
  readonly #now: () => number;

  constructor(params: StatelessResetParams) {
    if (params.key.length < 32) throw new Error('StatelessResets: the key must have at least 32 bytes');
    this.#key = params.key;
    const rate = params.rate ?? 1000;
    this.#now = params.now ?? (() => performance.now());
    this.#bucket = new TokenBucket({ rate, capacity: params.capacity ?? rate }, this.#now());
  }

  /** The token of connection id `cid` (what its `stateless_reset_token` transport parameter carries). */
  token(cid: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(cid).digest().subarray(0, STATELESS_RESET_TOKEN_BYTES);
  }

  /** The token as quiche's `Config.setStatelessResetToken` takes it (a u128, big-endian). */
  tokenValue(cid: Uint8Array): bigint {
    return BigInt(`0x${this.token(cid).toString('hex')}`);
  }

  /**
   * The reset to send in answer to `trigger` (a datagram whose first packet has a short header
   * and the unknown destination connection id `dcid`), or why none is sent.
   */
  answer(
    trigger: Uint8Array,
    dcid: Uint8Array,
  ): Buffer | 'too-small' | 'not-short-header' | 'a-reset' | 'rate-limited' {
    const first = trigger[0];
    // Section 17.3: a short header has the form bit 0 and the fixed bit 1.
    if (first === undefined || (first & 0xc0) !== 0x40) return 'not-short-header';
    if (trigger.length <= MIN_STATELESS_RESET_BYTES) return 'too-small';
    // The limit first: a flood of garbage costs a comparison per packet, not an HMAC.
    if (!this.#bucket.tryTake(this.#now())) return 'rate-limited';
    const token = this.token(dcid);
    if (timingSafeEqual(token, trigger.subarray(trigger.length - STATELESS_RESET_TOKEN_BYTES)))
      return 'a-reset';
    const largest = Math.min(trigger.length - 1, MAX_RESET_BYTES);
    const length =
      trigger.length <= SMALL_TRIGGER_BYTES
        ? trigger.length - 1
        : randomInt(SMALL_TRIGGER_BYTES, largest + 1);
    const reset = randomBytes(length);
    reset[0] = (reset[0]! & 0x3f) | 0x40;
    token.copy(reset, length - STATELESS_RESET_TOKEN_BYTES);
    return reset;
  }
}

/**
 * A key for `purpose` derived with HKDF-SHA256 (RFC 5869) from secret `material` that
 * survives restarts (the listener uses its TLS private key), or a random key without one.
 * Different purposes give independent keys, so a Retry token key never equals a reset key.
 */
export function deriveEndpointKey(material: Uint8Array | undefined, purpose: string): Buffer {
  if (material === undefined || material.length === 0) return randomBytes(32);
  return Buffer.from(hkdfSync('sha256', material, 'odin-grid quic endpoint', purpose, 32));
}

/**
 * Secret bytes that survive a restart, for `deriveEndpointKey`: a TLS private key in a
 * canonical form (PKCS#8 DER), so a re-encoded PEM of the same key gives the same keys. The key
 * itself is never used for anything but HKDF input.
 */
export function keyMaterialFromPrivateKey(privateKeyPem: string): Uint8Array {
  return createPrivateKey(privateKeyPem).export({ format: 'der', type: 'pkcs8' });
}
