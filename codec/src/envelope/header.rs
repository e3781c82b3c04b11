//! The two header layouts, parsed and written in one place.

use sha2::Digest as _;
use sha2::Sha256;

use super::{CodecError, Format, MAGIC, V1_HEADER_LEN, V2_HEADER_LEN};
use crate::Digest;
use crate::gzip::{self, Level};

/// Magic and version, common to both versions.
pub(crate) const PREFIX_LEN: usize = 6;

/// v2: the header bytes before the hash, which the hash covers.
const V2_HASHED_LEN: usize = 26;

/// v2 algorithm byte for gzip (RFC 1952, one member).
const ALGORITHM_GZIP: u8 = 1;

/// The smallest gzip member: 10 header bytes, an empty final deflate block (2 bytes) and the
/// 8-byte trailer.
const MIN_GZIP_LEN: u64 = 20;

/// A parsed header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) format: Format,
    /// v2 only: the level the writer used (informational).
    pub(crate) level: Option<Level>,
    pub(crate) original_size: u64,
    pub(crate) compressed_len: u64,
    pub(crate) hash: Digest,
    /// v2: the first 26 header bytes, hashed after the compressed bytes. Zero for v1.
    hashed: [u8; V2_HASHED_LEN],
}

impl Header {
    /// Reads the format from the magic and version at the start of `bytes`.
    pub(crate) fn format_of(bytes: &[u8]) -> Result<Format, CodecError> {
        let magic = bytes.get(..MAGIC.len()).ok_or(CodecError::Truncated)?;
        if magic != MAGIC {
            return Err(CodecError::BadMagic);
        }
        let version = be_u16(
            bytes
                .get(MAGIC.len()..PREFIX_LEN)
                .ok_or(CodecError::Truncated)?,
        );
        match version {
            1 => Ok(Format::V1),
            2 => Ok(Format::V2),
            other => Err(CodecError::UnsupportedVersion(other)),
        }
    }

    /// Parses the header of `format` from the start of `bytes`.
    pub(crate) fn parse(format: Format, bytes: &[u8]) -> Result<Header, CodecError> {
        let bytes = bytes
            .get(..format.header_len())
            .ok_or(CodecError::Truncated)?;
        let header = match format {
            Format::V1 => {
                let hex = std::str::from_utf8(&bytes[14..V1_HEADER_LEN])
                    .ok()
                    .and_then(|text| Digest::from_hex(text).ok())
                    .ok_or(CodecError::BadHeader(
                        "the hash is not 64 lowercase hex characters",
                    ))?;
                Header {
                    format,
                    level: None,
                    original_size: u64::from(be_u32(&bytes[6..10])),
                    compressed_len: u64::from(be_u32(&bytes[10..14])),
                    hash: hex,
                    hashed: [0; V2_HASHED_LEN],
                }
            }
            Format::V2 => {
                if bytes[6] != ALGORITHM_GZIP {
                    return Err(CodecError::BadHeader("unknown compression algorithm"));
                }
                let level = Level::new(bytes[7])
                    .ok_or(CodecError::BadHeader("compression level above 9"))?;
                if be_u16(&bytes[8..10]) != 0 {
                    return Err(CodecError::BadHeader("unknown flags"));
                }
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&bytes[V2_HASHED_LEN..V2_HEADER_LEN]);
                let mut hashed = [0u8; V2_HASHED_LEN];
                hashed.copy_from_slice(&bytes[..V2_HASHED_LEN]);
                Header {
                    format,
                    level: Some(level),
                    original_size: be_u64(&bytes[10..18]),
                    compressed_len: be_u64(&bytes[18..26]),
                    hash: Digest::from_bytes(hash),
                    hashed,
                }
            }
        };
        if header.compressed_len < MIN_GZIP_LEN {
            return Err(CodecError::BadHeader(
                "compressed size is below the smallest gzip stream",
            ));
        }
        if header.compressed_len > gzip::max_compressed_len(header.original_size) {
            return Err(CodecError::BadHeader(
                "compressed size is larger than any gzip stream of the original size",
            ));
        }
        Ok(header)
    }

    /// Total envelope length the header declares.
    pub(crate) fn envelope_len(&self) -> u64 {
        (self.format.header_len() as u64).saturating_add(self.compressed_len)
    }

    /// Recomputes the hash over `compressed` (and, for v2, the header) and compares it with the
    /// stored one in constant time.
    pub(crate) fn verify(&self, compressed: &[u8]) -> Result<(), CodecError> {
        let computed = match self.format {
            Format::V1 => Digest::of(compressed),
            Format::V2 => Digest::of_parts(&[compressed, &self.hashed]),
        };
        // `Digest` equality is constant-time.
        if computed == self.hash {
            Ok(())
        } else {
            Err(CodecError::HashMismatch)
        }
    }
}

/// A header written by [`encode`]: `len` bytes of `bytes` are used.
pub(crate) struct HeaderBytes {
    bytes: [u8; V1_HEADER_LEN],
    len: usize,
}

impl HeaderBytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Builds the header of an envelope whose compressed section has been fed to `compressed_hash`.
pub(crate) fn encode(
    format: Format,
    level: Level,
    original_size: u64,
    compressed_len: u64,
    mut compressed_hash: Sha256,
) -> Result<HeaderBytes, CodecError> {
    let mut bytes = [0u8; V1_HEADER_LEN];
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4..6].copy_from_slice(&format.version().to_be_bytes());
    match format {
        Format::V1 => {
            let too_large = || CodecError::TooLarge {
                limit: u64::from(u32::MAX),
            };
            let original = u32::try_from(original_size).map_err(|_| too_large())?;
            let compressed = u32::try_from(compressed_len).map_err(|_| too_large())?;
            bytes[6..10].copy_from_slice(&original.to_be_bytes());
            bytes[10..14].copy_from_slice(&compressed.to_be_bytes());
            let digest = Digest::from_bytes(compressed_hash.finalize().into());
            let mut hex = [0u8; 64];
            digest.write_hex(&mut hex);
            bytes[14..V1_HEADER_LEN].copy_from_slice(&hex);
            Ok(HeaderBytes {
                bytes,
                len: V1_HEADER_LEN,
            })
        }
        Format::V2 => {
            bytes[6] = ALGORITHM_GZIP;
            bytes[7] = level.get();
            // bytes[8..10]: flags, none defined.
            bytes[10..18].copy_from_slice(&original_size.to_be_bytes());
            bytes[18..26].copy_from_slice(&compressed_len.to_be_bytes());
            compressed_hash.update(&bytes[..V2_HASHED_LEN]);
            let digest: [u8; 32] = compressed_hash.finalize().into();
            bytes[V2_HASHED_LEN..V2_HEADER_LEN].copy_from_slice(&digest);
            Ok(HeaderBytes {
                bytes,
                len: V2_HEADER_LEN,
            })
        }
    }
}

fn be_u16(bytes: &[u8]) -> u16 {
    let mut out = [0u8; 2];
    out.copy_from_slice(bytes);
    u16::from_be_bytes(out)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(bytes);
    u32::from_be_bytes(out)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    u64::from_be_bytes(out)
}
