//! The voice packet header check, a port of server/protocol/voicePacket.ts readVoiceHeader
//! (ODIN-PROTOCOL.md section 2, "Voice packets"): the addon forwards a native peer's datagram
//! only when this accepts it, so it must accept exactly what the TypeScript parser accepts
//! (test/native/voiceDifferential.test.ts runs both over the fuzz corpora). Untrusted input:
//! every read is bounds-checked, no allocation, no recursion (nesting at most MAX_SKIP_DEPTH),
//! map keys only strings or numbers (what the web SDK's decoder takes).
//! MessagePack formats: https://github.com/msgpack/msgpack/blob/master/spec.md#formats

pub const MAX_VOICE_MEDIA_IDS: usize = 16;
const VOICE_PACKET_MARKER: u64 = 1;
const VOICE_FLAG_U32: u64 = 2;
const VOICE_FLAG_ARRAY: u64 = 4;
const MAX_SKIP_DEPTH: usize = 32;
const EXT_TIMESTAMP: u8 = 0xff;

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoiceHeader {
    pub media_id_count: usize,
    pub media_ids: [u16; MAX_VOICE_MEDIA_IDS],
    pub media_ids_start: usize,
    pub media_ids_end: usize,
    pub seq: u32,
    pub ts: u32,
    pub flags: u32,
    pub opus_start: usize,
    pub opus_length: usize,
}

fn be16(buf: &[u8], pos: usize) -> usize {
    (usize::from(buf[pos]) << 8) | usize::from(buf[pos + 1])
}

fn be32(buf: &[u8], pos: usize) -> usize {
    (usize::from(buf[pos]) << 24)
        | (usize::from(buf[pos + 1]) << 16)
        | (usize::from(buf[pos + 2]) << 8)
        | usize::from(buf[pos + 3])
}

/// An integer in [0, 2^32 - 1] at `pos` in any MessagePack integer encoding (fixint,
/// uint8-64, int8-64) and the position after it (voicePacket.ts readU32).
fn read_u32(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let len = buf.len();
    let b = *buf.get(pos)?;
    if b <= 0x7f {
        return Some((u64::from(b), pos + 1));
    }
    match b {
        0xcc if pos + 2 <= len => Some((u64::from(buf[pos + 1]), pos + 2)),
        0xcd if pos + 3 <= len => Some((be16(buf, pos + 1) as u64, pos + 3)),
        0xce if pos + 5 <= len => Some((be32(buf, pos + 1) as u64, pos + 5)),
        // A wider encoding is legal MessagePack for a small value (an encoder may always write
        // 64 bits): uint64 and int64 are accepted when the high half is 0 (for int64 that also
        // means not negative).
        0xcf | 0xd3 if pos + 9 <= len => {
            if buf[pos + 1] | buf[pos + 2] | buf[pos + 3] | buf[pos + 4] != 0 {
                return None;
            }
            Some((be32(buf, pos + 5) as u64, pos + 9))
        }
        // Signed encodings of a value >= 0 (sign bit clear); a negative value fits no field.
        0xd0 if pos + 2 <= len && buf[pos + 1] <= 0x7f => Some((u64::from(buf[pos + 1]), pos + 2)),
        0xd1 if pos + 3 <= len && buf[pos + 1] <= 0x7f => Some((be16(buf, pos + 1) as u64, pos + 3)),
        0xd2 if pos + 5 <= len && buf[pos + 1] <= 0x7f => Some((be32(buf, pos + 1) as u64, pos + 5)),
        _ => None, // negative fixint, float, nil, anything else
    }
}

/// An array header at `pos`: its element count and the position after it.
fn read_array_header(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let len = buf.len();
    let b = *buf.get(pos)?;
    if b & 0xf0 == 0x90 {
        return Some((usize::from(b & 0x0f), pos + 1));
    }
    match b {
        0xdc if pos + 3 <= len => Some((be16(buf, pos + 1), pos + 3)),
        0xdd if pos + 5 <= len => Some((be32(buf, pos + 1), pos + 5)),
        _ => None,
    }
}

fn valid_extension(ty: u8, data_length: usize) -> bool {
    ty != EXT_TIMESTAMP || data_length == 4 || data_length == 8 || data_length == 12
}

fn valid_map_key(b: u8) -> bool {
    b <= 0x7f
        || b >= 0xe0
        || (0xa0..=0xbf).contains(&b)
        || (0xca..=0xd3).contains(&b)
        || (0xd9..=0xdb).contains(&b)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Array,
    MapKeyNext,
    MapValueNext,
}

/// Skips `count` values from `pos` (voicePacket.ts skipValues): the position after them.
fn skip_values(buf: &[u8], pos: usize, count: usize) -> Option<usize> {
    let len = buf.len();
    let mut level_left = [0usize; MAX_SKIP_DEPTH];
    let mut level_kind = [Level::Array; MAX_SKIP_DEPTH];
    let mut p = pos;
    let mut left = count;
    let mut top = 0usize;
    level_left[0] = count;
    while left > 0 {
        if left > len.saturating_sub(p) || p > len {
            return None;
        }
        while level_left[top] == 0 {
            top -= 1;
        }
        let b = buf[p];
        left -= 1;
        level_left[top] -= 1;
        let kind = level_kind[top];
        if kind == Level::MapKeyNext && !valid_map_key(b) {
            return None;
        }
        if kind != Level::Array {
            level_kind[top] = if kind == Level::MapKeyNext {
                Level::MapValueNext
            } else {
                Level::MapKeyNext
            };
        }
        let mut size = 0usize;
        let mut children = 0usize;
        let mut is_map = false;
        if b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3 {
        } else if b <= 0x8f {
            children = 2 * usize::from(b & 0x0f);
            is_map = true;
        } else if b <= 0x9f {
            children = usize::from(b & 0x0f);
        } else if b <= 0xbf {
            size = usize::from(b & 0x1f);
        } else {
            match b {
                0xcc | 0xd0 => size = 1,
                0xcd | 0xd1 => size = 2,
                0xca | 0xce | 0xd2 => size = 4,
                0xcb | 0xcf | 0xd3 => size = 8,
                0xd4..=0xd8 => {
                    let data_length = 1usize << (b - 0xd4);
                    if p + 2 > len || !valid_extension(buf[p + 1], data_length) {
                        return None;
                    }
                    size = 1 + data_length;
                }
                0xc4 | 0xd9 => {
                    if p + 2 > len {
                        return None;
                    }
                    size = 1 + usize::from(buf[p + 1]);
                }
                0xc5 | 0xda => {
                    if p + 3 > len {
                        return None;
                    }
                    size = 2 + be16(buf, p + 1);
                }
                0xc6 | 0xdb => {
                    if p + 5 > len {
                        return None;
                    }
                    size = 4 + be32(buf, p + 1);
                }
                0xc7 => {
                    if p + 3 > len || !valid_extension(buf[p + 2], usize::from(buf[p + 1])) {
                        return None;
                    }
                    size = 2 + usize::from(buf[p + 1]);
                }
                0xc8 => {
                    if p + 4 > len || !valid_extension(buf[p + 3], be16(buf, p + 1)) {
                        return None;
                    }
                    size = 3 + be16(buf, p + 1);
                }
                0xc9 => {
                    if p + 6 > len || !valid_extension(buf[p + 5], be32(buf, p + 1)) {
                        return None;
                    }
                    size = 5 + be32(buf, p + 1);
                }
                0xdc => {
                    if p + 3 > len {
                        return None;
                    }
                    children = be16(buf, p + 1);
                    size = 2;
                }
                0xdd => {
                    if p + 5 > len {
                        return None;
                    }
                    children = be32(buf, p + 1);
                    size = 4;
                }
                0xde => {
                    if p + 3 > len {
                        return None;
                    }
                    children = 2 * be16(buf, p + 1);
                    is_map = true;
                    size = 2;
                }
                0xdf => {
                    if p + 5 > len {
                        return None;
                    }
                    children = 2 * be32(buf, p + 1);
                    is_map = true;
                    size = 4;
                }
                _ => return None,
            }
        }
        p += 1 + size;
        if p > len {
            return None;
        }
        if children > 0 {
            if top + 1 >= MAX_SKIP_DEPTH {
                return None;
            }
            left += children;
            top += 1;
            level_left[top] = children;
            level_kind[top] = if is_map {
                Level::MapKeyNext
            } else {
                Level::Array
            };
        }
    }
    Some(p)
}

/// Parses a voice packet's header; None when it is malformed.
pub fn read_voice_header(buf: &[u8]) -> Option<VoiceHeader> {
    let len = buf.len();
    let mut out = VoiceHeader::default();
    let (elements, p) = read_array_header(buf, 0)?;
    if elements < 6 {
        return None;
    }
    let (marker, p) = read_u32(buf, p)?;
    if marker != VOICE_PACKET_MARKER {
        return None;
    }
    out.media_ids_start = p;
    let (count, mut p) = read_array_header(buf, p)?;
    if !(1..=MAX_VOICE_MEDIA_IDS).contains(&count) {
        return None;
    }
    for i in 0..count {
        let (id, after) = read_u32(buf, p)?;
        if id > 0xffff {
            return None;
        }
        out.media_ids[i] = id as u16;
        p = after;
    }
    out.media_ids_end = p;
    out.media_id_count = count;
    let (seq, p) = read_u32(buf, p)?;
    let (ts, p) = read_u32(buf, p)?;
    let (flags, mut p) = read_u32(buf, p)?;
    out.seq = seq as u32;
    out.ts = ts as u32;
    out.flags = flags as u32;
    let mut used = 5usize;
    if flags & VOICE_FLAG_U32 != 0 {
        p = read_u32(buf, p)?.1;
        used += 1;
    }
    if flags & VOICE_FLAG_ARRAY != 0 {
        let (n, after) = read_array_header(buf, p)?;
        p = skip_values(buf, after, n)?;
        used += 1;
    }
    if elements < used + 1 {
        return None;
    }
    let rest = elements - used;
    if rest > 1 {
        p = skip_values(buf, p, rest - 1)?;
    }
    let b = *buf.get(p)?;
    let (size, start) = match b {
        0xc4 if p + 2 <= len => (usize::from(buf[p + 1]), p + 2),
        0xc5 if p + 3 <= len => (be16(buf, p + 1), p + 3),
        0xc6 if p + 5 <= len => (be32(buf, p + 1), p + 5),
        _ => return None,
    };
    if start + size != len {
        return None;
    }
    out.opus_start = start;
    out.opus_length = size;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_packet() {
        // [1, [7], 1, 2, 0, bin8(3)]
        let p = [0x96, 1, 0x91, 7, 1, 2, 0, 0xc4, 3, 9, 9, 9];
        let h = read_voice_header(&p).unwrap();
        assert_eq!(h.media_id_count, 1);
        assert_eq!(h.media_ids[0], 7);
        assert_eq!(h.opus_start, 9);
        assert_eq!(h.opus_length, 3);
        assert!(read_voice_header(&p[..11]).is_none());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p = vec![0x97, 1, 0x91, 7, 1, 2, 0];
        p.extend(std::iter::repeat(0x91).take(40));
        p.push(0);
        p.extend([0xc4, 0]);
        assert!(read_voice_header(&p).is_none());
    }
}
