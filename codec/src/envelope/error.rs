use std::fmt;
use std::io;

/// Why gzip data or an envelope could not be encoded, read or trusted.
///
/// The variants fall in three groups, which call for different actions:
///
/// - **structure** ([`Truncated`](Self::Truncated), [`BadMagic`](Self::BadMagic),
///   [`UnsupportedVersion`](Self::UnsupportedVersion), [`BadHeader`](Self::BadHeader),
///   [`LengthMismatch`](Self::LengthMismatch)): the bytes are not an envelope this reader
///   understands; nothing was hashed or decompressed;
/// - **integrity** ([`HashMismatch`](Self::HashMismatch), [`Corrupt`](Self::Corrupt),
///   [`TrailingData`](Self::TrailingData), [`SizeMismatch`](Self::SizeMismatch)): the bytes were
///   damaged or altered; treat the evidence as lost, not as something to retry;
/// - **limits** ([`TooLarge`](Self::TooLarge)): the payload is bigger than the caller allows,
///   or a stream tried to decode past its declared size (a decompression bomb).
///
/// Messages carry sizes and field names only, never payload bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ends before the envelope header does.
    Truncated,
    /// The first four bytes are not `THCS`.
    BadMagic,
    /// The version field holds a version this reader does not know.
    UnsupportedVersion(u16),
    /// A header field holds a value this reader refuses; the text names the field.
    BadHeader(&'static str),
    /// The envelope is not exactly its header plus the compressed size the header declares.
    LengthMismatch {
        /// Length the header implies, in bytes.
        expected: u64,
    },
    /// The stored SHA-256 does not match the envelope: the compressed bytes, the hash or (for
    /// v2) a header field was altered.
    HashMismatch,
    /// The payload is larger than allowed: its declared size is over the cap (`limit` is the
    /// cap), or the gzip stream decodes past the declared size (`limit` is that size). No more
    /// than `limit` bytes, plus one scratch byte, were decoded.
    TooLarge {
        /// The limit in force, in bytes.
        limit: u64,
    },
    /// The gzip stream ended after `decoded` bytes, short of the declared original size.
    SizeMismatch {
        /// The declared original size.
        declared: u64,
        /// The bytes the stream actually held.
        decoded: u64,
    },
    /// The gzip stream is malformed: bad header, invalid deflate data, wrong CRC-32 or length
    /// trailer, or the stream stops inside the member.
    Corrupt(io::Error),
    /// Bytes follow the end of the gzip member inside the compressed section.
    TrailingData,
    /// Reading the source, writing the output, or the compressor itself failed.
    Io(io::Error),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Truncated => f.write_str("input ends inside the envelope header"),
            CodecError::BadMagic => f.write_str("not an envelope: the magic is not THCS"),
            CodecError::UnsupportedVersion(v) => write!(f, "unsupported envelope version {v}"),
            CodecError::BadHeader(field) => write!(f, "invalid envelope header: {field}"),
            CodecError::LengthMismatch { expected } => write!(
                f,
                "envelope length differs from the {expected} bytes its header declares"
            ),
            CodecError::HashMismatch => f.write_str("envelope hash does not match its contents"),
            CodecError::TooLarge { limit } => {
                write!(f, "payload exceeds the limit of {limit} bytes")
            }
            CodecError::SizeMismatch { declared, decoded } => write!(
                f,
                "gzip stream holds {decoded} bytes, not the declared {declared}"
            ),
            CodecError::Corrupt(e) => write!(f, "corrupt gzip stream: {e}"),
            CodecError::TrailingData => f.write_str("bytes follow the end of the gzip stream"),
            CodecError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodecError::Corrupt(e) | CodecError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CodecError> for io::Error {
    /// An [`io::Error`] for `Read` and `Write` implementations: `Io` errors are passed through;
    /// the others become `InvalidData` errors carrying the `CodecError`, which
    /// [`io::Error::get_ref`] and [`io::Error::downcast`] recover.
    fn from(error: CodecError) -> Self {
        match error {
            CodecError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
