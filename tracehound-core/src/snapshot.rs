//! A consistent view of every counter.

use crate::audit::AuditStats;
use crate::clock::Timestamp;
use crate::cold::ColdStats;
use crate::hound::HoundStats;
use crate::scent::Severity;

/// Every counter of a [`Tracehound`](crate::Tracehound) at one moment.
///
/// The quarantine and audit figures are read under one lock, so they agree with each other:
/// `audit.records.quarantined - audit.records.removals() == quarantine.count`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// When it was taken, by tracehound's clock.
    pub taken_at: Timestamp,
    /// `intercept` results by kind.
    pub outcomes: OutcomeCounts,
    /// The evidence buffer.
    pub quarantine: QuarantineStats,
    /// The rate limiter.
    pub rate_limit: RateLimitStats,
    /// Event subscriptions.
    pub events: EventStats,
    /// The audit log.
    pub audit: AuditStats,
    /// The hound pool (all zero when none is configured).
    pub hound: HoundStats,
    /// Cold storage: the uploader, its queue and the spool (all zero when not configured).
    pub cold: ColdStats,
}

/// `intercept` results by kind, since the `Tracehound` was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutcomeCounts {
    /// [`Outcome::Clean`](crate::Outcome::Clean).
    pub clean: u64,
    /// [`Outcome::RateLimited`](crate::Outcome::RateLimited).
    pub rate_limited: u64,
    /// [`Outcome::PayloadTooLarge`](crate::Outcome::PayloadTooLarge).
    pub payload_too_large: u64,
    /// [`Outcome::Ignored`](crate::Outcome::Ignored).
    pub ignored: u64,
    /// [`Outcome::Quarantined`](crate::Outcome::Quarantined).
    pub quarantined: u64,
    /// [`Outcome::Dropped`](crate::Outcome::Dropped).
    pub dropped: u64,
    /// [`Outcome::Error`](crate::Outcome::Error).
    pub error: u64,
    /// [`Outcome::Unencodable`](crate::Outcome::Unencodable).
    pub unencodable: u64,
}

impl OutcomeCounts {
    /// All intercepts.
    pub fn total(&self) -> u64 {
        self.clean
            + self.rate_limited
            + self.payload_too_large
            + self.ignored
            + self.quarantined
            + self.dropped
            + self.error
            + self.unencodable
    }
}

/// The evidence buffer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QuarantineStats {
    /// Pieces of evidence held.
    pub count: usize,
    /// Payload bytes held: exactly the sum of every held evidence's size.
    pub bytes: usize,
    /// The count cap.
    pub max_count: usize,
    /// The byte cap.
    pub max_bytes: usize,
    /// Pieces held per severity.
    pub by_severity: SeverityCounts,
    /// The fuller of `count / max_count` and `bytes / max_bytes`, from 0 to 1.
    pub fill_ratio: f64,
}

/// Counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeverityCounts {
    /// Low.
    pub low: usize,
    /// Medium.
    pub medium: usize,
    /// High.
    pub high: usize,
    /// Critical.
    pub critical: usize,
}

impl SeverityCounts {
    pub(crate) fn from_ranks(ranks: [usize; 4]) -> Self {
        let [low, medium, high, critical] = ranks;
        Self {
            low,
            medium,
            high,
            critical,
        }
    }

    /// The count for one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
            Severity::Critical => self.critical,
        }
    }
}

/// The rate limiter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitStats {
    /// Whether rate limiting is on.
    pub enabled: bool,
    /// Sources tracked now.
    pub tracked_keys: usize,
    /// Tracked sources whose next request would be refused now.
    pub blocked_keys: usize,
    /// The tracked-source cap.
    pub max_keys: usize,
    /// Sources forgotten to stay within the cap, since the `Tracehound` was built.
    pub evicted_keys: u64,
    /// Idle sources forgotten by maintenance sweeps, since the `Tracehound` was built.
    pub forgotten_keys: u64,
}

/// Event subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStats {
    /// Open subscriptions.
    pub subscribers: usize,
    /// Events published (each counted once, however many subscribers received it).
    pub published: u64,
    /// Deliveries lost to full subscriber queues.
    pub dropped: u64,
}
