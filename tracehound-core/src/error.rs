//! The facade's error: one type for every [`Tracehound`](crate::Tracehound) method, with
//! the typed errors of the parts below it inside.

use std::fmt;

use crate::audit::AuditError;
use crate::canonical::EncodeError;
use crate::cold::LossReason;
use crate::config::ConfigError;
use crate::scent::ParseError;

/// What went wrong in a tracehound operation, and what to do about it.
///
/// Every method of [`Tracehound`](crate::Tracehound) that can fail returns this type; the
/// errors of the parts it is made of are inside it, typed, so a caller can match as deep as
/// it needs to. No variant carries payload bytes: errors end up in logs and events, which
/// are outside the quarantine boundary.
///
/// ```
/// use tracehound::{Error, Signature, Tracehound, audit::AuditError};
///
/// let tracehound = Tracehound::builder().build()?;
/// let missing: Signature = format!("injection:{}", "0".repeat(64)).parse()?;
/// match tracehound.prove(&missing) {
///     Err(Error::NotFound) => {} // not held: nothing to prove
///     Err(Error::Audit(AuditError::EpochUnavailable { .. })) => unreachable!(),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used; the error names the field.
    Config(ConfigError),
    /// A thread or worker process tracehound needs could not be started.
    Start {
        /// The thread or process (`tracehound-audit`, `tracehound-hound`, …).
        what: &'static str,
        /// What kind of I/O error the operating system gave.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
    /// A payload has no canonical encoding within the configured limits.
    Encode(EncodeError),
    /// A text given to tracehound is not a category, severity or signature.
    Parse(ParseError),
    /// A subscription could not be made.
    Subscribe(SubscribeError),
    /// The audit log failed; the error says how.
    Audit(AuditError),
    /// The scent carries no threat signal, so there is nothing to quarantine.
    NoThreatSignal,
    /// No evidence with that signature is in the quarantine (it may have been evicted,
    /// expired or removed).
    NotFound,
    /// Held evidence no longer hashes to its signature: memory holding it was changed.
    /// Treat the process as compromised or faulty; purge the evidence.
    EvidenceCorrupted,
    /// The `Tracehound` an [`Observer`](crate::Observer) watched is gone.
    Closed,
    /// Cold storage is not configured: give the builder a store
    /// ([`Builder::cold_store`](crate::Builder::cold_store)).
    ColdDisabled,
    /// Evidence could not be handed to cold storage (the queue is full, or evacuation has
    /// shut down); it was counted, audited and evented as lost.
    Evacuation(LossReason),
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
            Error::Config(e) => write!(f, "{e}"),
            Error::Start { what, message, .. } => write!(f, "cannot start {what}: {message}"),
            Error::Encode(e) => write!(f, "{e}"),
            Error::Parse(e) => write!(f, "{e}"),
            Error::Subscribe(e) => write!(f, "{e}"),
            Error::Audit(e) => write!(f, "{e}"),
            Error::NoThreatSignal => f.write_str("the scent carries no threat signal"),
            Error::NotFound => f.write_str("no evidence with that signature is in quarantine"),
            Error::EvidenceCorrupted => {
                f.write_str("held evidence no longer matches its signature")
            }
            Error::Closed => f.write_str("the tracehound this observer watched is gone"),
            Error::ColdDisabled => f.write_str("cold storage is not configured"),
            Error::Evacuation(reason) => write!(f, "evidence not evacuated: {reason}"),
            Error::Internal { context } => {
                write!(
                    f,
                    "internal failure caught in {context}; please report this bug"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Encode(e) => Some(e),
            Error::Parse(e) => Some(e),
            Error::Subscribe(e) => Some(e),
            Error::Audit(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// The error of `what` failing to start, for `map_err`.
    pub(crate) fn start(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |error| Error::Start {
            what,
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::Config(error)
    }
}

impl From<EncodeError> for Error {
    fn from(error: EncodeError) -> Self {
        Error::Encode(error)
    }
}

impl From<ParseError> for Error {
    fn from(error: ParseError) -> Self {
        Error::Parse(error)
    }
}

impl From<SubscribeError> for Error {
    fn from(error: SubscribeError) -> Self {
        Error::Subscribe(error)
    }
}

impl From<AuditError> for Error {
    fn from(error: AuditError) -> Self {
        Error::Audit(error)
    }
}

/// Why [`subscribe`](crate::Tracehound::subscribe) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The queue asked for holds zero events or more than `max`.
    InvalidCapacity {
        /// The largest queue allowed (`events.max_queue`).
        max: usize,
    },
    /// All `max` subscriber slots are taken; drop an unused subscription or raise
    /// `events.max_subscribers`.
    TooMany {
        /// The configured limit.
        max: usize,
    },
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::InvalidCapacity { max } => {
                write!(f, "a subscriber queue holds between 1 and {max} events")
            }
            SubscribeError::TooMany { max } => write!(f, "all {max} subscriber slots are in use"),
        }
    }
}

impl std::error::Error for SubscribeError {}
