/**
 * The token of a stateless Retry (RFC 9000 section 8.1.2): it proves that the client received
 * our Retry at the address it claims, so the server holds no state for a spoofed address.
 *
 *   token = time (8 bytes, ms since the epoch) | odcid length (1) | odcid | MAC (16)
 *   MAC   = HMAC-SHA256(key, time | odcid | "address|port"), first 16 bytes
 *
 * The token binds the original destination connection id (which quiche needs to validate the
 * client's transport parameters, RFC 9000 section 7.3), the client's address and port, and a
 * time (section 8.1.3: tokens expire). The MAC is compared in constant time: an attacker who
 * could time the comparison would learn a valid MAC a byte at a time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long a Retry token is accepted after it was issued, ms. */
export const RETRY_TOKEN_LIFETIME_MS = 10_000;
const MAC_BYTES = 16;
const TIME_BYTES = 8;
/** RFC 9000 section 17.2: connection ids are at most 20 bytes. */
const MAX_CONNECTION_ID_BYTES = 20;

export type ClientAddress = { address: string; port: number };

export class AddressTokens {
  readonly #key: Uint8Array;
  readonly #now: () => number;

  /** `key`: a secret of at least 32 bytes; `now`: the clock (ms since the epoch). */
  constructor(key: Uint8Array, now: () => number = Date.now) {
    if (key.length < 32) throw new Error('AddressTokens: the key must have at least 32 bytes');
    this.#key = key;
    this.#now = now;
  }

  /** A token for a Retry that answers an Initial sent to `odcid` from `remote`. */
  mint(odcid: Uint8Array, remote: ClientAddress): Buffer {
    const time = Buffer.alloc(TIME_BYTES);
    time.writeDoubleBE(this.#now());
    return Buffer.concat([time, Buffer.from([odcid.length]), odcid, this.#mac(odcid, time, remote)]);
  }

  /**
   * The original destination connection id of a valid, unexpired token from `remote`;
   * undefined for anything else (malformed, forged, expired, from another address).
   */
  validate(token: Uint8Array, remote: ClientAddress): Uint8Array | undefined {
    const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength);
    if (bytes.length < TIME_BYTES + 1 + MAC_BYTES) return undefined;
    const odcidLength = bytes[TIME_BYTES]!;
    if (odcidLength > MAX_CONNECTION_ID_BYTES || bytes.length !== TIME_BYTES + 1 + odcidLength + MAC_BYTES)
      return undefined;
    const time = bytes.subarray(0, TIME_BYTES);
    const odcid = bytes.subarray(TIME_BYTES + 1, TIME_BYTES + 1 + odcidLength);
    const mac = bytes.subarray(TIME_BYTES + 1 + odcidLength);
    // Both MACs are MAC_BYTES long (checked above): timingSafeEqual throws on a length mismatch.
    if (!timingSafeEqual(this.#mac(odcid, time, remote), mac)) return undefined;
    const age = this.#now() - time.readDoubleBE(0);
    if (!(age >= 0 && age <= RETRY_TOKEN_LIFETIME_MS)) return undefined;
    return Uint8Array.prototype.slice.call(odcid);
  }

  #mac(odcid: Uint8Array, time: Uint8Array, remote: ClientAddress): Buffer {
    return createHmac('sha256', this.#key)
      .update(time)
      .update(odcid)
      .update(`${remote.address}|${remote.port}`)
      .digest()
      .subarray(0, MAC_BYTES);
  }
}
