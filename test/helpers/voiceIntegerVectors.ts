/**
 * Voice packets whose integers use every MessagePack integer encoding (fixint, uint8-64,
 * int8-64), shared by the TypeScript parser's test (test/protocol/voicePacket.test.ts) and the
 * Rust port's differential test (test/native/voiceDifferential.test.ts), so both parsers are
 * held to one rule: any encoding whose value fits the field is accepted, any other refused.
 */

/** The MessagePack integer encodings by their type byte; `fixint` is the one-byte form. */
export const INTEGER_FORMATS = ['fixint', 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3] as const;
export type IntegerFormat = (typeof INTEGER_FORMATS)[number];

const WIDTH: Record<Exclude<IntegerFormat, 'fixint'>, number> = {
  204: 1,
  205: 2,
  206: 4,
  207: 8,
  208: 1,
  209: 2,
  210: 4,
  211: 8,
};

/**
 * `value` in `format`, or undefined when the format cannot hold it (MessagePack's own range,
 * not the field's): negative values only in the signed formats and negative fixint.
 */
export function encodeInteger(value: bigint, format: IntegerFormat): Uint8Array | undefined {
  if (format === 'fixint') {
    if (value >= 0n && value <= 0x7fn) return Uint8Array.of(Number(value));
    if (value < 0n && value >= -32n) return Uint8Array.of(Number(value) & 0xff);
    return undefined;
  }
  const width = WIDTH[format];
  const bits = BigInt(width * 8);
  const signed = format >= 0xd0;
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (value < min || value > max) return undefined;
  const out = new Uint8Array(1 + width);
  out[0] = format;
  let v = BigInt.asUintN(width * 8, value);
  for (let i = width; i >= 1; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The integer fields of a voice packet header and the values each holds. */
export type VoiceIntegerField = 'marker' | 'mediaId' | 'seq' | 'ts' | 'flags' | 'extraU32';

/** [1, [mediaId], seq, ts, flags, (extraU32 when flags & 2), opus] with one field's bytes replaced. */
export function voicePacketWith(field: VoiceIntegerField, encoded: Uint8Array): Uint8Array {
  const fixed = (v: number) => encodeInteger(BigInt(v), 'fixint')!;
  const hasExtra = field === 'extraU32';
  const parts: Uint8Array[] = [
    Uint8Array.of(hasExtra ? 0x97 : 0x96),
    field === 'marker' ? encoded : fixed(1),
    Uint8Array.of(0x91),
    field === 'mediaId' ? encoded : fixed(7),
    field === 'seq' ? encoded : fixed(5),
    field === 'ts' ? encoded : fixed(6),
    field === 'flags' ? encoded : fixed(hasExtra ? 2 : 0),
    ...(hasExtra ? [encoded] : []),
    Uint8Array.of(0xc4, 3, 1, 2, 3),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The largest value each field holds (the marker must be exactly 1). */
export const FIELD_MAX: Record<VoiceIntegerField, bigint> = {
  marker: 1n,
  mediaId: 0xffffn,
  seq: 0xffff_ffffn,
  ts: 0xffff_ffffn,
  flags: 0xffff_ffffn,
  extraU32: 0xffff_ffffn,
};

/**
 * Every field in every encoding that can hold each probe value: in range (0, 1, a field's
 * maximum) and out of range (-1, maximum + 1, 2^63 - 1, -2^63). `fits` says whether the value
 * belongs in the field (then the packet must be accepted; for flags only values whose bits
 * ask for no more fields are used, so the packet stays well-formed).
 */
export function wideIntegerVectors(): {
  field: VoiceIntegerField;
  format: IntegerFormat;
  value: bigint;
  fits: boolean;
  packet: Uint8Array;
}[] {
  const vectors = [];
  for (const field of Object.keys(FIELD_MAX) as VoiceIntegerField[]) {
    const max = FIELD_MAX[field];
    const probes =
      field === 'marker'
        ? [1n, 0n, 2n, -1n]
        : field === 'flags'
          ? [0n, 1n, 0xffff_fff9n, -1n, 0x1_0000_0000n]
          : [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, max, max + 1n, -1n, (1n << 63n) - 1n, -(1n << 63n)];
    for (const value of probes) {
      const fits = field === 'marker' ? value === 1n : value >= 0n && value <= max;
      for (const format of INTEGER_FORMATS) {
        const encoded = encodeInteger(value, format);
        if (encoded === undefined) continue;
        vectors.push({ field, format, value, fits, packet: voicePacketWith(field, encoded) });
      }
    }
  }
  return vectors;
}
