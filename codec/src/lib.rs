//! Byte-level formats shared by the tracehound crates.
//!
//! This crate sits at the bottom of the tracehound workspace: the core, the cold-storage
//! crate and the hound workers all depend on it, and it depends on nothing of theirs. Today it
//! holds [`Digest`], the SHA-256 value that names evidence everywhere (signatures, audit
//! leaves, envelopes, IPC jobs), with its hex form and constant-time comparison.
//!
//! ```
//! use tracehound_codec::Digest;
//!
//! let d = Digest::of(b"hello");
//! assert_eq!(
//!     d.to_string(),
//!     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
//! );
//! assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
//! ```
//!
//! # What is not here
//!
//! Nothing in this crate keeps secrets: a digest of attacker-supplied bytes is public. The
//! constant-time comparison exists so that checking a claimed digest never leaks, through
//! timing, how many leading bytes matched.
#![forbid(unsafe_code)]

mod digest;
pub mod ipc;

pub use digest::{Digest, DigestParseError};
