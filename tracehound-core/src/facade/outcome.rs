//! What the facade answers: the outcome of an intercept, and the results of the operations
//! on held evidence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::canonical::EncodeError;
use crate::error::Error;
use crate::evidence::{Receipt, Removed};
use crate::quarantine::Inserted;
use crate::signature::Signature;
use crate::snapshot::OutcomeCounts;

/// What `intercept` decided. Tracehound never classifies: a scent without a threat signal is
/// always `Clean` (unless its source is rate limited).
///
/// Suggested HTTP mapping (the defaults of [`http::Responses`](crate::http::Responses)):
/// `RateLimited` → 429 with `Retry-After`; `PayloadTooLarge` → 413; `Quarantined`,
/// `Ignored`, `Dropped` and `Unencodable` → 403; `Clean` and `Error` → pass the request on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// No threat signal: let it through.
    Clean,
    /// The source exceeded its quota; it may send again after `retry_after`.
    RateLimited {
        /// Exact time until the source's next request would be accepted.
        retry_after: Duration,
    },
    /// A threat whose canonical payload is over the configured limit; not quarantined.
    PayloadTooLarge {
        /// The configured `max_payload_bytes`.
        limit: usize,
    },
    /// A threat whose payload has no canonical form within the configured limits: it nests
    /// deeper than `max_depth`, or holds a non-finite number. Not quarantined, but still a
    /// threat: refuse the request (403 by default: the body was not too large, its shape was
    /// refused).
    Unencodable {
        /// [`EncodeError::TooDeep`] or [`EncodeError::NotCanonical`].
        error: EncodeError,
    },
    /// A threat already held in quarantine under this signature; a known threat.
    Ignored {
        /// The signature of the held evidence.
        signature: Signature,
    },
    /// New evidence, now held.
    Quarantined(Receipt),
    /// New evidence ranked below everything that would have had to make room, so it was not
    /// kept. Still a threat.
    Dropped {
        /// Its signature.
        signature: Signature,
    },
    /// Tracehound failed internally; the request should pass (fail-open). Counted and
    /// published as an [`EventKind::InterceptFailed`] event.
    Error(Error),
}

impl Outcome {
    /// Whether the request should be passed on: only when it is `Clean`, or when tracehound
    /// itself failed (`Error`, fail-open). Every other outcome, including ones added in
    /// later versions, refuses it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracehound::Outcome;
    ///
    /// assert!(Outcome::Clean.passes());
    /// assert!(!Outcome::RateLimited { retry_after: Duration::from_secs(1) }.passes());
    /// ```
    pub fn passes(&self) -> bool {
        matches!(self, Outcome::Clean | Outcome::Error(_))
    }
}

/// A source's admission by [`Tracehound::admit`]: the right to run the rest of one
/// intercept with [`Tracehound::intercept_admitted`]. It can only be had from `admit`, and
/// is used up by that call.
#[derive(Debug)]
#[must_use = "an admission is the right to run one intercept; pass it to intercept_admitted"]
pub struct Admitted {
    _private: (),
}

impl Admitted {
    /// Only the facade hands out admissions.
    pub(super) fn new() -> Self {
        Admitted { _private: () }
    }
}

impl From<Inserted> for Outcome {
    fn from(inserted: Inserted) -> Self {
        match inserted {
            Inserted::Kept(receipt) => Outcome::Quarantined(receipt),
            Inserted::Duplicate(signature) => Outcome::Ignored { signature },
            Inserted::Dropped(signature) => Outcome::Dropped { signature },
        }
    }
}

/// The result of [`Tracehound::replace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub(super) removed: Removed,
    pub(super) outcome: Outcome,
}

impl Replacement {
    /// The evidence that was replaced.
    pub fn removed(&self) -> &Removed {
        &self.removed
    }

    /// What happened to the replacement: [`Outcome::Quarantined`], [`Outcome::Ignored`] (it
    /// was already held) or [`Outcome::Dropped`].
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Maintenance {
    /// Evidence removed for outliving `quarantine.max_age`.
    pub expired: usize,
    /// Idle rate-limit keys forgotten.
    pub keys_forgotten: usize,
}

/// One counter per kind of outcome. The match in [`count`](Self::count) is exhaustive and
/// [`read`](Self::read) builds every field of [`OutcomeCounts`], so the compiler keeps the
/// kinds, the counters and the snapshot in step.
#[derive(Debug, Default)]
pub(super) struct OutcomeCounters {
    clean: AtomicU64,
    rate_limited: AtomicU64,
    payload_too_large: AtomicU64,
    unencodable: AtomicU64,
    ignored: AtomicU64,
    quarantined: AtomicU64,
    dropped: AtomicU64,
    error: AtomicU64,
}

impl OutcomeCounters {
    pub(super) fn count(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Clean => &self.clean,
            Outcome::RateLimited { .. } => &self.rate_limited,
            Outcome::PayloadTooLarge { .. } => &self.payload_too_large,
            Outcome::Unencodable { .. } => &self.unencodable,
            Outcome::Ignored { .. } => &self.ignored,
            Outcome::Quarantined(_) => &self.quarantined,
            Outcome::Dropped { .. } => &self.dropped,
            Outcome::Error(_) => &self.error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn read(&self) -> OutcomeCounts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        OutcomeCounts {
            clean: read(&self.clean),
            rate_limited: read(&self.rate_limited),
            payload_too_large: read(&self.payload_too_large),
            unencodable: read(&self.unencodable),
            ignored: read(&self.ignored),
            quarantined: read(&self.quarantined),
            dropped: read(&self.dropped),
            error: read(&self.error),
        }
    }
}
