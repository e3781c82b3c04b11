use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// A SHA-256 digest: 32 bytes, shown as 64 lowercase hex characters.
///
/// Equality is constant-time, so comparing a digest an attacker supplied with a stored one
/// reveals nothing through timing. Ordering and hashing are by the raw bytes.
#[derive(Clone, Copy, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Length of a digest in bytes.
    pub const LEN: usize = 32;

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// SHA-256 of the concatenation of `parts`, without concatenating them in memory.
    ///
    /// ```
    /// # use tracehound_codec::Digest;
    /// assert_eq!(Digest::of_parts(&[b"hel", b"lo"]), Digest::of(b"hello"));
    /// ```
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses exactly 64 lowercase hex characters.
    ///
    /// Uppercase is refused so that every digest has one text form: a signature or envelope
    /// that differs only in letter case is a different string, and treating it as equal would
    /// let two spellings of one value pass a text comparison elsewhere.
    pub fn from_hex(text: &str) -> Result<Self, DigestParseError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(DigestParseError::Length { found: bytes.len() });
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let high = hex_value(pair[0]).ok_or(DigestParseError::Character { index: 2 * i })?;
            let low = hex_value(pair[1]).ok_or(DigestParseError::Character { index: 2 * i + 1 })?;
            out[i] = (high << 4) | low;
        }
        Ok(Self(out))
    }

    /// Writes the 64 lowercase hex characters into `out`.
    pub fn write_hex(&self, out: &mut [u8; 64]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Digest {}

// Equality is byte equality (in constant time), so hashing the bytes is consistent with it.
impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0u8; 64];
        self.write_hex(&mut hex);
        // Only ASCII hex digits were written, so this never fails.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<Digest> for [u8; 32] {
    fn from(digest: Digest) -> Self {
        digest.0
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Why a text is not a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestParseError {
    /// The text is not 64 characters long.
    Length {
        /// The length found, in bytes.
        found: usize,
    },
    /// The character at `index` is not a lowercase hex digit.
    Character {
        /// Byte offset of the offending character.
        index: usize,
    },
}

impl fmt::Display for DigestParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { found } => write!(
                f,
                "a SHA-256 digest is 64 lowercase hex characters, found {found} bytes"
            ),
            Self::Character { index } => write!(
                f,
                "character at offset {index} is not a lowercase hex digit (0-9, a-f)"
            ),
        }
    }
}

impl std::error::Error for DigestParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Digest::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hex_round_trip_and_rejections() {
        let d = Digest::of(b"x");
        assert_eq!(Digest::from_hex(&d.to_string()), Ok(d));
        assert_eq!(
            Digest::from_hex("ab"),
            Err(DigestParseError::Length { found: 2 })
        );
        let upper = d.to_string().to_uppercase();
        assert!(matches!(
            Digest::from_hex(&upper),
            Err(DigestParseError::Character { .. })
        ));
        let mut bad = d.to_string().into_bytes();
        bad[63] = b'g';
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(
            Digest::from_hex(&bad),
            Err(DigestParseError::Character { index: 63 })
        );
        // A multi-byte character must not be accepted nor cause a panic.
        let mut text = "é".to_string();
        text.push_str(&"0".repeat(62));
        assert_eq!(text.len(), 64);
        assert!(Digest::from_hex(&text).is_err());
    }

    #[test]
    fn equality_is_by_value() {
        let a = Digest::of(b"a");
        let mut bytes = *a.as_bytes();
        assert_eq!(a, Digest::from_bytes(bytes));
        bytes[31] ^= 1;
        assert_ne!(a, Digest::from_bytes(bytes));
        bytes[31] ^= 1;
        bytes[0] ^= 0x80;
        assert_ne!(a, Digest::from_bytes(bytes));
    }

    #[test]
    fn parts_equal_whole() {
        assert_eq!(
            Digest::of_parts(&[&[0u8], b"leaf"]),
            Digest::of(b"\x00leaf")
        );
        assert_eq!(Digest::of_parts(&[]), Digest::of(b""));
    }
}
