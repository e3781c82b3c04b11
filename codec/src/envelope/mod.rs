//! `THCS` integrity envelopes: gzip-compressed evidence with its size and a SHA-256.
//!
//! An envelope is a fixed header followed by one gzip member. Two versions exist; the byte
//! layouts, with worked examples, are in `docs/envelope-format.md`.
//!
//! - **v1** is the TypeScript library's format, read and written byte for byte: a 78-byte header
//!   (`THCS`, version 1, `u32` original and compressed sizes, the SHA-256 of the compressed bytes
//!   as 64 hex characters). The hash does not cover the header, so a changed size field goes
//!   unnoticed by the hash; readers here still refuse it, because they require the payload to be
//!   exactly the declared size.
//! - **v2**, the default for writing: a 58-byte header (`THCS`, version 2, algorithm, level,
//!   flags, `u64` sizes) and a raw SHA-256 over the compressed bytes followed by the first 26
//!   header bytes, so every header field is covered.
//!
//! Reading happens in three steps, which [`open`] runs in order:
//!
//! 1. [`Envelope::unpack`] checks the structure (magic, version, header fields, exact length)
//!    and borrows the input without copying or changing it;
//! 2. the declared original size is checked against the caller's cap, then
//!    [`Envelope::verify`] recomputes the hash and compares it in constant time;
//! 3. only then is the gzip stream decompressed, bounded by the declared size, and the output
//!    must be exactly that size.
//!
//! ```
//! use tracehound_codec::envelope::{self, Envelope, Format};
//!
//! let evidence = br#"{"path":"/login","q":"' OR 1=1 --"}"#;
//! let sealed = envelope::seal(evidence)?;
//!
//! let unpacked = Envelope::unpack(&sealed)?;
//! assert_eq!(unpacked.format(), Format::V2);
//! assert_eq!(unpacked.original_size(), evidence.len() as u64);
//!
//! assert_eq!(envelope::open(&sealed, 1 << 20)?, evidence);
//!
//! // One changed byte anywhere, header included, and the envelope does not open.
//! let mut tampered = sealed.clone();
//! tampered[17] ^= 1; // inside the original size
//! assert!(envelope::open(&tampered, 1 << 20).is_err());
//! # Ok::<(), tracehound_codec::CodecError>(())
//! ```
//!
//! # What the hash does not protect against
//!
//! The SHA-256 detects accidental damage and tampering by anyone who cannot also rewrite the
//! hash. It has no key: whoever can write the storage can replace the payload and recompute
//! the hash, in either version. Authenticity against such a writer comes from elsewhere (the
//! audit log's signed checkpoints commit to the evidence hash, or a keyed MAC the storage
//! layer adds).
//!
//! # Memory
//!
//! [`open`] and [`Envelope::open`] hold the envelope (the caller's) and the output, which grows
//! with what is decoded and never past the declared size, itself at most the cap.
//! [`EnvelopeWriter`] holds one 64 KiB input block, a 32 KiB output buffer and the compressor's
//! fixed-size state (a few hundred KiB), whatever the payload size. [`EnvelopeReader`] buffers the
//! compressed section, which the header check limits to `cap + cap / 8 + 1 KiB`, because the hash
//! must be checked before the first decompressed byte is released.

mod error;
mod header;
mod stream;

pub use error::CodecError;
pub use stream::{EnvelopeReader, EnvelopeWriter};

use std::fmt;

use sha2::Digest as _;
use sha2::Sha256;

use crate::Digest;
use crate::gzip::{BoundedDecoder, Deflater, Level};
use header::Header;

/// The four bytes every envelope starts with: `THCS`.
pub const MAGIC: [u8; 4] = *b"THCS";

/// Length of a v1 header.
pub const V1_HEADER_LEN: usize = 78;

/// Length of a v2 header.
pub const V2_HEADER_LEN: usize = 58;

/// An envelope version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// The TypeScript library's layout; the hash covers the compressed bytes only.
    V1,
    /// The default: the hash covers the compressed bytes and the whole header.
    #[default]
    V2,
}

impl Format {
    /// The number in the version field.
    pub const fn version(self) -> u16 {
        match self {
            Format::V1 => 1,
            Format::V2 => 2,
        }
    }

    /// Length of this version's header.
    pub const fn header_len(self) -> usize {
        match self {
            Format::V1 => V1_HEADER_LEN,
            Format::V2 => V2_HEADER_LEN,
        }
    }
}

/// How to seal: envelope version and compression level.
///
/// ```
/// use tracehound_codec::envelope::{Format, SealOptions};
/// use tracehound_codec::gzip::Level;
///
/// let mut options = SealOptions::default(); // v2, level 6
/// options.level = Level::BEST;
/// assert_eq!(SealOptions::v1().format, Format::V1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SealOptions {
    /// Envelope version to write. Default: [`Format::V2`].
    pub format: Format,
    /// gzip level. Default: 6.
    pub level: Level,
}

impl SealOptions {
    /// The TypeScript library's envelope: v1 at level 6. Readers of that library accept it;
    /// the bytes equal Node's for small payloads (see [`crate::gzip`]).
    pub const fn v1() -> SealOptions {
        SealOptions {
            format: Format::V1,
            level: Level::DEFAULT,
        }
    }
}

/// Seals `payload` in a v2 envelope at level 6.
///
/// The same payload always gives the same bytes.
///
/// # Errors
///
/// [`CodecError::Io`] only if the compressor reports an internal error.
pub fn seal(payload: &[u8]) -> Result<Vec<u8>, CodecError> {
    seal_with(payload, SealOptions::default())
}

/// Seals `payload` with the version and level of `options`.
///
/// ```
/// use tracehound_codec::envelope::{self, SealOptions};
///
/// // The TypeScript library's known answer for "hello".
/// let v1 = envelope::seal_with(b"hello", SealOptions::v1())?;
/// assert_eq!(v1.len(), 103);
/// assert_eq!(&v1[..6], b"THCS\x00\x01");
/// # Ok::<(), tracehound_codec::CodecError>(())
/// ```
///
/// # Errors
///
/// [`CodecError::TooLarge`] if a v1 payload or its compressed form is 4 GiB or more (v1 sizes are
/// 32-bit); [`CodecError::Io`] if the compressor reports an internal error.
pub fn seal_with(payload: &[u8], options: SealOptions) -> Result<Vec<u8>, CodecError> {
    let header_len = options.format.header_len();
    let original_size = payload.len() as u64;
    if options.format == Format::V1 && original_size > u64::from(u32::MAX) {
        return Err(CodecError::TooLarge {
            limit: u64::from(u32::MAX),
        });
    }
    let mut out = Vec::with_capacity(header_len + 128 + payload.len() / 4);
    out.resize(header_len, 0);
    let mut deflater = Deflater::new(options.level);
    deflater.begin(&mut out)?;
    deflater.encode_all(payload, &mut out)?;

    let (head, compressed) = out.split_at_mut(header_len);
    let mut hasher = Sha256::new();
    hasher.update(&*compressed);
    let header = header::encode(
        options.format,
        options.level,
        original_size,
        compressed.len() as u64,
        hasher,
    )?;
    head.copy_from_slice(header.as_slice());
    Ok(out)
}

/// Unpacks, verifies and decompresses `envelope` (v1 or v2), refusing a payload over
/// `max_size` bytes.
///
/// # Errors
///
/// Any [`CodecError`] but `Io`: structure errors from [`Envelope::unpack`],
/// [`CodecError::TooLarge`] when the declared size is over `max_size` or the stream decodes past
/// it, [`CodecError::HashMismatch`], and the gzip errors of [`crate::gzip::decode`].
pub fn open(envelope: &[u8], max_size: u64) -> Result<Vec<u8>, CodecError> {
    Envelope::unpack(envelope)?.open(max_size)
}

/// An envelope whose structure has been checked, borrowing the bytes it was read from.
///
/// Fields are read from the header as written; until [`verify`](Self::verify) or
/// [`open`](Self::open) succeeds, nothing says they are true.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    header: Header,
    compressed: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Checks the structure of `bytes` and borrows them; no hashing, no decompression, no copy.
    ///
    /// Refused: fewer bytes than a header ([`CodecError::Truncated`]), a magic other than `THCS`,
    /// a version other than 1 or 2, header fields this reader does not accept (a v1 hash that is
    /// not 64 lowercase hex characters; a v2 algorithm other than gzip, a level above 9 or any
    /// flag; a compressed size below 20 bytes or above what any gzip stream of the declared size
    /// needs), and any length other than header plus declared compressed size.
    pub fn unpack(bytes: &'a [u8]) -> Result<Envelope<'a>, CodecError> {
        let format = Header::format_of(bytes)?;
        let header = Header::parse(format, bytes)?;
        let expected = header.envelope_len();
        if bytes.len() as u64 != expected {
            return Err(CodecError::LengthMismatch { expected });
        }
        let compressed = bytes
            .get(format.header_len()..)
            .ok_or(CodecError::LengthMismatch { expected })?;
        Ok(Envelope { header, compressed })
    }

    /// The envelope's version.
    pub fn format(&self) -> Format {
        self.header.format
    }

    /// The declared size of the payload.
    pub fn original_size(&self) -> u64 {
        self.header.original_size
    }

    /// The gzip level the writer recorded (v2 only; informational).
    pub fn level(&self) -> Option<Level> {
        self.header.level
    }

    /// The stored hash: for v1 the SHA-256 of the compressed bytes; for v2 the SHA-256 of the
    /// compressed bytes followed by the first 26 header bytes.
    pub fn hash(&self) -> Digest {
        self.header.hash
    }

    /// The gzip stream.
    pub fn compressed(&self) -> &'a [u8] {
        self.compressed
    }

    /// Recomputes the hash and compares it with the stored one in constant time.
    ///
    /// # Errors
    ///
    /// [`CodecError::HashMismatch`].
    pub fn verify(&self) -> Result<(), CodecError> {
        self.header.verify(self.compressed)
    }

    /// Verifies, then decompresses: the payload, exactly [`original_size`](Self::original_size)
    /// bytes long.
    ///
    /// A declared size over `max_size` is refused before hashing; decompression stops at the
    /// first byte past the declared size.
    ///
    /// # Errors
    ///
    /// [`CodecError::TooLarge`], [`CodecError::HashMismatch`], and the gzip errors of
    /// [`crate::gzip::decode`].
    pub fn open(&self, max_size: u64) -> Result<Vec<u8>, CodecError> {
        if self.header.original_size > max_size {
            return Err(CodecError::TooLarge { limit: max_size });
        }
        self.verify()?;
        BoundedDecoder::new(self.compressed, self.header.original_size).read_to_vec()
    }
}

impl fmt::Debug for Envelope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The compressed bytes are evidence: only their size is shown.
        f.debug_struct("Envelope")
            .field("format", &self.header.format)
            .field("level", &self.header.level)
            .field("original_size", &self.header.original_size)
            .field("compressed_size", &self.compressed.len())
            .field("hash", &self.header.hash)
            .finish()
    }
}
