//! The one error type of every C2SP text format here, from key strings up to tlog proofs.

use std::fmt;

/// What is wrong with a note, key, checkpoint or proof.
///
/// No variant carries key material or note contents; [`NoteError::BadSignature`] names the
/// trusted key whose signature failed, which is public.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteError {
    /// The text does not follow its format; `what` names the rule broken. Reject the input.
    Malformed {
        /// The rule broken.
        what: &'static str,
    },
    /// The input is larger than one of the [limits](super::note#limits). Reject the input.
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// The limit (bytes, lines or hashes, as `what` says).
        limit: usize,
    },
    /// A key string or key name is not valid; `what` names the rule broken. Fix the
    /// configured key.
    BadKey {
        /// The rule broken.
        what: &'static str,
    },
    /// A key string's key ID is not the one computed from its name and public key: the
    /// string was altered or assembled from parts of different keys. Fix the configured key.
    KeyIdMismatch,
    /// No signature on the note comes from a trusted key. Reject the note, or add the
    /// signer's verifier key if it should be trusted.
    UnknownSigner,
    /// A signature from the trusted key `key` does not verify: the note was altered or forged.
    /// Reject the note.
    BadSignature {
        /// Name of the trusted key.
        key: String,
    },
    /// The operating system's random number generator failed while generating a key. Retry,
    /// or check the host's entropy source.
    Random,
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { what } => write!(f, "malformed input: {what}"),
            Self::TooLarge { what, limit } => write!(f, "{what} exceeds the limit of {limit}"),
            Self::BadKey { what } => write!(f, "invalid key: {what}"),
            Self::KeyIdMismatch => f.write_str("key ID does not match the key name and public key"),
            Self::UnknownSigner => f.write_str("note has no signature from a trusted key"),
            Self::BadSignature { key } => {
                write!(f, "signature from trusted key {key:?} does not verify")
            }
            Self::Random => f.write_str("the operating system's random number generator failed"),
        }
    }
}

impl std::error::Error for NoteError {}
