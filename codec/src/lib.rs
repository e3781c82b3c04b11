//! Byte-level formats shared by the tracehound crates.
//!
//! This crate sits at the bottom of the tracehound workspace: the core, the cold-storage
//! crate and the hound workers all depend on it, and it depends on nothing of theirs. It holds:
//!
//! - [`Digest`], the SHA-256 value that names evidence everywhere (signatures, audit leaves,
//!   envelopes, IPC jobs), with its hex form and constant-time comparison;
//! - [`gzip`]: deterministic gzip at a chosen level, and bounded decoding that stops at the
//!   declared size and refuses anything but exactly one well-formed member;
//! - [`envelope`]: `THCS` cold-storage envelopes, v1 (the TypeScript library's layout, byte for
//!   byte) and v2 (the default, whose hash covers the header too), read in one verified call or
//!   as streams; the byte layouts are in `docs/envelope-format.md`;
//! - [`ipc`]: the hound worker protocol's frames and messages.
//!
//! ```
//! use tracehound_codec::{Digest, envelope};
//!
//! let d = Digest::of(b"hello");
//! assert_eq!(
//!     d.to_string(),
//!     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
//! );
//! assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
//!
//! let sealed = envelope::seal(br#"{"q":"' OR 1=1 --"}"#)?;
//! assert_eq!(envelope::open(&sealed, 1 << 20)?, br#"{"q":"' OR 1=1 --"}"#);
//! # Ok::<(), tracehound_codec::CodecError>(())
//! ```
//!
//! # Guarantees
//!
//! - Every reader of untrusted bytes (envelopes, gzip, IPC frames) returns an error, never
//!   panics, and bounds its memory by a limit the caller passes, checked before the work.
//! - Envelope readers check structure, then the hash (in constant time), and only then
//!   decompress; decompression never goes past the declared size, and the payload must be
//!   exactly that size.
//! - Writers are deterministic: the same payload and options give the same envelope, whether it
//!   was written at once or in pieces.
//!
//! # What is not here
//!
//! Nothing in this crate keeps secrets: a digest of attacker-supplied bytes is public. The
//! constant-time comparison exists so that checking a claimed digest never leaks, through
//! timing, how many leading bytes matched. The envelope hash has no key: it catches damage and
//! edits by anyone who cannot also rewrite the stored hash, not a storage writer who can.
#![forbid(unsafe_code)]

mod digest;
pub mod envelope;
pub mod gzip;
pub mod ipc;

pub use digest::{Digest, DigestParseError};
pub use envelope::CodecError;
