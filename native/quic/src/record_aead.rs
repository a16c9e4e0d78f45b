//! One AES-GCM context per DTLS epoch and direction, for the web path's record layer (werift's
//! DTLS, patched by patches/werift+0.25.2.patch). Node cannot re-IV a `Cipheriv`, so werift
//! built a cipher object per record (~3.6 µs of CPU for a 130-byte record, 20% of the server's
//! profile: docs/performance.md); this context is keyed once and then seals/opens each record
//! with its own nonce, writing into a Buffer the caller already has (no allocation per call on
//! either side of the boundary).
//!
//! The cipher is BoringSSL's `EVP_AEAD` (through the `boring` crate, which the addon already
//! links for quiche): constant-time AES-GCM with hardware AES/CLMUL where the CPU has it, the same
//! code quiche uses for QUIC packets. No GCM is written here.
//!
//! Every argument is checked at the boundary: a wrong key, nonce or AAD length, a range outside a
//! Buffer or an output overlapping an input is a JavaScript `InvalidArg` error. A record that
//! fails authentication is an ordinary return value (-1) — a peer sending garbage must cost the
//! server one comparison, not an exception.

use boring::aead::{AeadCtx, Algorithm};
use napi::bindgen_prelude::BufferSlice;
use napi::Result;

use crate::guard::{guard, invalid};

/// GCM's tag as DTLS 1.2 uses it (RFC 5288: 16 bytes, never truncated).
pub const TAG_LENGTH: usize = 16;
/// RFC 5288's nonce: 4-byte implicit salt + 8-byte explicit part.
pub const NONCE_LENGTH: usize = 12;

/// An AES-128-GCM or AES-256-GCM key (16 or 32 bytes: werift's DTLS suites offer both) set once.
#[napi]
pub struct RecordAead {
    ctx: AeadCtx,
}

/// The inner functions return `String` errors: `cargo test` runs without Node, and a
/// `napi::Error` in them would need Node's symbols to link. The napi methods convert.
type Checked<T> = std::result::Result<T, String>;

impl RecordAead {
    pub fn from_key(key: &[u8]) -> Checked<Self> {
        let algorithm = match key.len() {
            16 => Algorithm::aes_128_gcm(),
            32 => Algorithm::aes_256_gcm(),
            n => return Err(format!("RecordAead: key must be 16 or 32 bytes, got {n}")),
        };
        let ctx = AeadCtx::new(&algorithm, key, TAG_LENGTH)
            .map_err(|e| format!("RecordAead: key rejected: {e}"))?;
        Ok(Self { ctx })
    }

    /// Seals `plaintext` into `out` (ciphertext then tag); `out.len()` must be
    /// `plaintext.len() + TAG_LENGTH`. Returns the bytes written.
    pub fn seal_into(
        &mut self,
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Checked<usize> {
        check_nonce(nonce)?;
        let length = plaintext.len();
        if out.len() != length + TAG_LENGTH {
            return Err("RecordAead.seal: output range has the wrong length".into());
        }
        let (body, tag) = out.split_at_mut(length);
        body.copy_from_slice(plaintext);
        self.ctx
            .seal_in_place_mut(nonce, body, tag, aad)
            .map_err(|e| format!("RecordAead.seal: {e}"))?;
        Ok(length + TAG_LENGTH)
    }

    /// Opens `sealed` (ciphertext then tag) into `out` (`sealed.len() - TAG_LENGTH` bytes).
    /// `None` when the record does not authenticate.
    pub fn open_into(
        &mut self,
        nonce: &[u8],
        aad: &[u8],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Checked<Option<usize>> {
        check_nonce(nonce)?;
        if sealed.len() < TAG_LENGTH {
            return Err("RecordAead.open: input shorter than the tag".into());
        }
        let length = sealed.len() - TAG_LENGTH;
        if out.len() != length {
            return Err("RecordAead.open: output range has the wrong length".into());
        }
        out.copy_from_slice(&sealed[..length]);
        match self
            .ctx
            .open_in_place_mut(nonce, out, &sealed[length..], aad)
        {
            Ok(()) => Ok(Some(length)),
            Err(_) => {
                // Don't hand back unauthenticated plaintext.
                out.fill(0);
                Ok(None)
            }
        }
    }
}

#[napi]
impl RecordAead {
    /// `key`: 16 bytes (AES-128-GCM) or 32 bytes (AES-256-GCM).
    #[napi(constructor)]
    pub fn new(key: BufferSlice) -> Result<Self> {
        guard(|| RecordAead::from_key(&key).map_err(invalid))
    }

    /// Encrypts `plaintext` with `nonce` (12 bytes) and `aad`, writing ciphertext + 16-byte tag
    /// into `out` at `outOffset`. Returns the bytes written (`plaintext.length + 16`).
    #[napi]
    pub fn seal(
        &mut self,
        nonce: BufferSlice,
        aad: BufferSlice,
        plaintext: BufferSlice,
        mut out: BufferSlice,
        out_offset: u32,
    ) -> Result<u32> {
        guard(|| {
            let start = out_offset as usize;
            let end = start
                .checked_add(plaintext.len() + TAG_LENGTH)
                .filter(|&end| end <= out.len())
                .ok_or_else(|| invalid("RecordAead.seal: out too small for plaintext + tag"))?;
            for input in [&*nonce, &*aad, &*plaintext] {
                disjoint(input, &out[start..end]).map_err(invalid)?;
            }
            let written = self
                .seal_into(&nonce, &aad, &plaintext, &mut out[start..end])
                .map_err(invalid)?;
            Ok(written as u32)
        })
    }

    /// Decrypts `input[inOffset .. inOffset + inLength]` (ciphertext + 16-byte tag) into `out`
    /// at `outOffset`. Returns the plaintext length, or -1 if the record does not authenticate.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        nonce: BufferSlice,
        aad: BufferSlice,
        input: BufferSlice,
        in_offset: u32,
        in_length: u32,
        mut out: BufferSlice,
        out_offset: u32,
    ) -> Result<i32> {
        guard(|| {
            let in_start = in_offset as usize;
            let in_end = in_start
                .checked_add(in_length as usize)
                .filter(|&end| end <= input.len())
                .ok_or_else(|| invalid("RecordAead.open: input range outside the buffer"))?;
            let sealed = &input[in_start..in_end];
            if sealed.len() < TAG_LENGTH {
                return Err(invalid("RecordAead.open: input shorter than the tag"));
            }
            let start = out_offset as usize;
            let end = start
                .checked_add(sealed.len() - TAG_LENGTH)
                .filter(|&end| end <= out.len())
                .ok_or_else(|| invalid("RecordAead.open: out too small for the plaintext"))?;
            for other in [&*nonce, &*aad, sealed] {
                disjoint(other, &out[start..end]).map_err(invalid)?;
            }
            Ok(
                match self
                    .open_into(&nonce, &aad, sealed, &mut out[start..end])
                    .map_err(invalid)?
                {
                    Some(length) => length as i32,
                    None => -1,
                },
            )
        })
    }
}

fn check_nonce(nonce: &[u8]) -> Checked<()> {
    if nonce.len() != NONCE_LENGTH {
        return Err(format!(
            "RecordAead: nonce must be {NONCE_LENGTH} bytes, got {}",
            nonce.len()
        ));
    }
    Ok(())
}

/// Two JavaScript Buffers may view the same memory; Rust may not hold `&` and `&mut` to it at once.
fn disjoint(input: &[u8], out: &[u8]) -> Checked<()> {
    if input.is_empty() || out.is_empty() {
        return Ok(());
    }
    let (a, b) = (input.as_ptr() as usize, out.as_ptr() as usize);
    if a < b + out.len() && b < a + input.len() {
        return Err("RecordAead: output overlaps an input".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // NIST GCM test vector (McGrew & Viega, test case 4 without truncation: AES-128, 60-byte
    // plaintext, 20-byte AAD).
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn seals_the_gcm_test_vector_and_opens_it_back() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let nonce = hex("cafebabefacedbaddecaf888");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plaintext = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let expected = hex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47",
        );
        let mut aead = RecordAead::from_key(&key).unwrap();
        let mut sealed = vec![0u8; plaintext.len() + TAG_LENGTH];
        assert_eq!(
            aead.seal_into(&nonce, &aad, &plaintext, &mut sealed)
                .unwrap(),
            sealed.len()
        );
        assert_eq!(sealed, expected);

        let mut opened = vec![0u8; plaintext.len()];
        assert_eq!(
            aead.open_into(&nonce, &aad, &sealed, &mut opened).unwrap(),
            Some(plaintext.len())
        );
        assert_eq!(opened, plaintext);

        sealed[3] ^= 1;
        assert_eq!(
            aead.open_into(&nonce, &aad, &sealed, &mut opened).unwrap(),
            None
        );
        assert!(opened.iter().all(|&b| b == 0));
    }

    #[test]
    fn aes_256_round_trips_and_rejects_a_wrong_aad() {
        let mut aead = RecordAead::from_key(&[7u8; 32]).unwrap();
        let nonce = [1u8; NONCE_LENGTH];
        let mut sealed = vec![0u8; 5 + TAG_LENGTH];
        aead.seal_into(&nonce, b"aad", b"hello", &mut sealed)
            .unwrap();
        let mut opened = [0u8; 5];
        assert_eq!(
            aead.open_into(&nonce, b"aad", &sealed, &mut opened)
                .unwrap(),
            Some(5)
        );
        assert_eq!(&opened, b"hello");
        assert_eq!(
            aead.open_into(&nonce, b"aaD", &sealed, &mut opened)
                .unwrap(),
            None
        );
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        assert!(RecordAead::from_key(&[0u8; 24]).is_err());
        let mut aead = RecordAead::from_key(&[0u8; 16]).unwrap();
        let mut out = [0u8; 20];
        assert!(aead.seal_into(&[0u8; 11], b"", b"abcd", &mut out).is_err());
        assert!(aead.seal_into(&[0u8; 12], b"", b"abc", &mut out).is_err());
        assert!(aead
            .open_into(&[0u8; 12], b"", &[0u8; 15], &mut out[..0])
            .is_err());
        assert!(disjoint(&out[0..4], &out[2..6]).is_err());
        assert!(disjoint(&out[0..4], &out[4..6]).is_ok());
    }
}
