/**
 * Just enough STUN to route datagrams on the shared WebRTC port: what kind of datagram this is,
 * and for STUN its class, transaction id and the local part of USERNAME. Nothing here
 * allocates for non-STUN datagrams (DTLS is the hot path) and nothing throws on garbage: every
 * read is bounds-checked against the datagram and the STUN message length.
 *
 * Parsing is deliberately shallow: werift parses and authenticates the full message afterwards.
 */

/**
 * RFC 7983 §7 (updating RFC 5764 §5.1.2): demultiplex by the first byte.
 *   0..3 STUN, 16..19 ZRTP, 20..63 DTLS, 64..79 TURN channel, 128..191 RTP/RTCP.
 */
export type DatagramKind = 'stun' | 'dtls' | 'rtp' | 'other';

export function datagramKind(data: Uint8Array): DatagramKind {
  if (data.length === 0) return 'other';
  const b = data[0]!;
  if (b <= 3) return 'stun';
  if (b >= 20 && b <= 63) return 'dtls';
  if (b >= 128 && b <= 191) return 'rtp';
  return 'other';
}

/** RFC 8489 §5: the fixed 20-byte header, the magic cookie at bytes 4..7. */
export const STUN_HEADER_LENGTH = 20;
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §14.3 */
export const STUN_ATTRIBUTE_USERNAME = 0x0006;

/**
 * RFC 8489 §5: message type = 14 bits; the class is bits C1 (0x0100) and C0 (0x0010).
 */
export type StunClass = 'request' | 'indication' | 'success' | 'error';
const CLASS_MASK = 0x0110;

/**
 * True when `data` is a well-formed STUN header: top two bits zero, the magic cookie, a message
 * length that is a multiple of 4 (RFC 8489 §5) and that fits the datagram exactly.
 */
export function isStunMessage(data: Uint8Array): boolean {
  if (data.length < STUN_HEADER_LENGTH) return false;
  if ((data[0]! & 0xc0) !== 0) return false;
  const cookie = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
  if (cookie !== STUN_MAGIC_COOKIE) return false;
  const length = (data[2]! << 8) | data[3]!;
  return (length & 3) === 0 && STUN_HEADER_LENGTH + length === data.length;
}

/** The class of a message that passed `isStunMessage`. */
export function stunClass(data: Uint8Array): StunClass {
  const type = (data[0]! << 8) | data[1]!;
  switch (type & CLASS_MASK) {
    case 0x0000:
      return 'request';
    case 0x0010:
      return 'indication';
    case 0x0100:
      return 'success';
    default:
      return 'error';
  }
}

/**
 * The 96-bit transaction id (RFC 8489 §5, bytes 8..19) as a 12-character latin1 string: a
 * cheap, exact Map key.
 */
export function stunTransactionKey(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset + 8, 12).toString('latin1');
}

/**
 * The USERNAME attribute (RFC 8489 §14.3) of a message that passed `isStunMessage`, or
 * undefined when absent or malformed. Attributes are TLVs padded to 4 bytes (§14).
 */
export function stunUsername(data: Uint8Array): string | undefined {
  let offset = STUN_HEADER_LENGTH;
  while (offset + 4 <= data.length) {
    const type = (data[offset]! << 8) | data[offset + 1]!;
    const length = (data[offset + 2]! << 8) | data[offset + 3]!;
    const start = offset + 4;
    if (start + length > data.length) return undefined;
    if (type === STUN_ATTRIBUTE_USERNAME) {
      // RFC 8489 §14.3: at most 763 bytes of UTF-8.
      if (length === 0 || length > 763) return undefined;
      return Buffer.from(data.buffer, data.byteOffset + start, length).toString('utf8');
    }
    offset = start + ((length + 3) & ~3);
  }
  return undefined;
}

/**
 * RFC 8445 §7.2.2: a connectivity check's USERNAME is "RFRAG:LFRAG", the receiver's ufrag first.
 * For a request arriving at the server, that is the server's own (local) ufrag.
 */
export function localUfragOfRequest(data: Uint8Array): string | undefined {
  const username = stunUsername(data);
  if (username === undefined) return undefined;
  const colon = username.indexOf(':');
  if (colon <= 0) return undefined;
  return username.slice(0, colon);
}
