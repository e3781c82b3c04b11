//! Errors.

use std::fmt;
use std::path::PathBuf;

/// What went wrong in a tracehound operation, and what to do about it.
///
/// No variant carries payload bytes: errors end up in logs and events, which are outside the
/// quarantine boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The canonical encoding of a payload is longer than `limit` bytes. Raise the configured
    /// `max_payload_bytes` if such payloads are legitimate evidence.
    PayloadTooLarge {
        /// The limit, in bytes of canonical JSON.
        limit: usize,
    },
    /// A payload nests arrays and objects more than `limit` levels deep. Raise the configured
    /// `max_depth`, or have the adapter flatten what it captures.
    PayloadTooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// A payload holds a value with no canonical JSON form (a non-finite number, possible
    /// only when serde_json's `arbitrary_precision` feature is enabled).
    PayloadNotCanonical,
    /// A category name is not valid; the reason says which rule it breaks.
    InvalidCategory {
        /// The rule broken.
        reason: &'static str,
    },
    /// A severity name is not one of `low`, `medium`, `high`, `critical`.
    InvalidSeverity,
    /// A text is not a signature (`<category>:<64 lowercase hex>`).
    InvalidSignature {
        /// The rule broken.
        reason: &'static str,
    },
    /// The scent carries no threat signal, so there is nothing to quarantine.
    NoThreatSignal,
    /// No evidence with that signature is in the quarantine (it may have been evicted,
    /// expired or removed).
    NotFound,
    /// Held evidence no longer hashes to its signature: memory holding it was changed.
    /// Treat the process as compromised or faulty; purge the evidence.
    EvidenceCorrupted,
    /// `subscribe` was asked for a queue of zero events or more than `max`.
    InvalidSubscriberCapacity {
        /// The largest queue allowed.
        max: usize,
    },
    /// All `max` subscriber slots are taken; drop an unused subscription or raise
    /// `events.max_subscribers`.
    TooManySubscribers {
        /// The configured limit.
        max: usize,
    },
    /// The audit log failed; the error says how.
    Audit(crate::audit::AuditError),
    /// A bug inside tracehound was caught before it could reach the host. The operation had
    /// no effect beyond what the counters and audit log show. Please report it.
    Internal {
        /// Where it was caught.
        context: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PayloadTooLarge { limit } => {
                write!(
                    f,
                    "canonical payload is larger than the limit of {limit} bytes"
                )
            }
            Error::PayloadTooDeep { limit } => {
                write!(f, "payload nests deeper than the limit of {limit} levels")
            }
            Error::PayloadNotCanonical => {
                f.write_str("payload holds a non-finite number, which has no canonical JSON form")
            }
            Error::InvalidCategory { reason } => write!(f, "invalid category: {reason}"),
            Error::InvalidSeverity => {
                f.write_str("invalid severity: expected low, medium, high or critical")
            }
            Error::InvalidSignature { reason } => write!(f, "invalid signature: {reason}"),
            Error::NoThreatSignal => f.write_str("the scent carries no threat signal"),
            Error::NotFound => f.write_str("no evidence with that signature is in quarantine"),
            Error::EvidenceCorrupted => {
                f.write_str("held evidence no longer matches its signature")
            }
            Error::InvalidSubscriberCapacity { max } => {
                write!(f, "a subscriber queue holds between 1 and {max} events")
            }
            Error::TooManySubscribers { max } => {
                write!(f, "all {max} subscriber slots are in use")
            }
            Error::Audit(e) => write!(f, "{e}"),
            Error::Internal { context } => {
                write!(
                    f,
                    "internal failure caught in {context}; please report this bug"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// A configuration that cannot be used. Each variant names what to fix.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field holds a value outside its allowed range.
    Invalid {
        /// The field, as a dotted path in the TOML form (`quarantine.max_count`).
        field: &'static str,
        /// The rule the value breaks.
        reason: String,
    },
    /// The TOML text is malformed, has an unknown key, or a value of the wrong type.
    Parse {
        /// The parser's message, which names the key and position.
        message: String,
    },
    /// A configuration file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A background thread (maintenance or audit writer) could not be started.
    Spawn {
        /// The I/O error from the operating system.
        source: std::io::Error,
    },
    /// The audit log could not be opened: its directory, key or records are unusable.
    Audit(crate::audit::AuditError),
}

impl ConfigError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { field, reason } => write!(f, "`{field}`: {reason}"),
            ConfigError::Parse { message } => write!(f, "configuration is not valid: {message}"),
            ConfigError::Read { path, source } => {
                write!(f, "cannot read configuration {}: {source}", path.display())
            }
            ConfigError::Spawn { source } => {
                write!(f, "cannot start a background thread: {source}")
            }
            ConfigError::Audit(e) => write!(f, "cannot open the audit log: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } | ConfigError::Spawn { source } => Some(source),
            ConfigError::Audit(e) => Some(e),
            _ => None,
        }
    }
}
