/**
 * MessagePack allocation bombs (issue 14, defect 1): small frames whose container headers
 * declare far more elements than the frame holds. A decoder that reserves memory for the
 * declared counts before it has the elements runs out of memory on a few KB.
 */

/** `levels` nested headers cycling array16, map16 and array32, each declaring `count` values. */
export function nestedHeaderBomb(levels: number, count = 0xfff0): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < levels; i++) {
    switch (i % 3) {
      case 0:
        out.push(0xdc, count >> 8, count & 0xff); // array16
        break;
      case 1:
        out.push(0xde, count >> 8, count & 0xff, 0xa1, 0x6b); // map16, first key "k"
        break;
      default:
        out.push(0xdd, 0, 0, count >> 8, count & 0xff); // array32
    }
  }
  return Uint8Array.from(out);
}

/**
 * A ~3 KB RPC-shaped bomb: `[0, 1, "Authenticate", <nested headers>]`, as an attacker sends
 * it. `count` is what each header declares.
 */
export function rpcFrameBomb(size = 3000, count = 0xfff0): Uint8Array {
  const head = [0x94, 0x00, 0x01, 0xac, ...Buffer.from('Authenticate')];
  // One cycle of array16, map16 and array32 headers is 3 + 5 + 5 bytes.
  return Uint8Array.from([...head, ...nestedHeaderBomb(Math.floor((size - head.length) / 13) * 3, count)]);
}

/** `depth` nested one-element arrays around a nil: small, and deep. */
export function deepNesting(depth: number): Uint8Array {
  return Uint8Array.from([...new Array(depth).fill(0x91), 0xc0]);
}
