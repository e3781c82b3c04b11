//! A consistent view of every counter.

use tracehound_codec::Digest;

use std::time::Duration;

use crate::audit::{AuditCounts, ResetCause};
use crate::clock::Timestamp;
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

/// The audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditStats {
    /// The current epoch (origin `<deployment>/tracehound/<epoch>`).
    pub epoch: u64,
    /// Leaves numbered in the current epoch: written, or queued for the writer.
    pub size: u64,
    /// Leaves of the current epoch made durable under the fsync policy.
    pub durable_size: u64,
    /// Merkle tree hash (RFC 6962) of the durable leaves.
    pub root: Digest,
    /// Records handed to the log since the `Tracehound` was built, per type.
    pub records: AuditCounts,
    /// Records the log could not take (queue full: the disk was slow or failing).
    pub lost: u64,
    /// Gap leaves written for lost records.
    pub gaps: u64,
    /// Failed appends, commits and checkpoint signings (each retried).
    pub append_failures: u64,
    /// Whether the writer is failing now.
    pub failing: bool,
    /// Whether an fsync failed, so nothing more is acknowledged until a restart.
    pub poisoned: bool,
    /// Checkpoints signed since the `Tracehound` was built.
    pub checkpoints: u64,
    /// Size of the last signed checkpoint.
    pub last_checkpoint_size: u64,
    /// Time since the last signed checkpoint; `None` before the first.
    pub last_checkpoint_age: Option<Duration>,
    /// Bytes of torn writes (a crash in the middle of a write) cut when the log was opened:
    /// also published as [`EventKind::AuditTornTailCut`](crate::EventKind).
    pub torn_bytes: u64,
    /// Set when the log was opened with `audit.accept_lost_history` and started over from
    /// missing, damaged or contradicted history: why. Also published as
    /// [`EventKind::AuditHistoryReset`](crate::EventKind).
    pub reset: Option<ResetCause>,
    /// The background verification of the sealed epochs.
    pub sealed: SealedStats,
}

/// The background verification of the audit log's sealed epochs, which starts when the
/// `Tracehound` is built and reads each sealed epoch of the current epoch chain once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealedStats {
    /// Sealed epochs to verify.
    pub epochs: u64,
    /// Sealed epochs verified intact so far.
    pub verified: u64,
    /// Sealed epochs that failed verification (each also published as
    /// [`EventKind::AuditEpochDamaged`](crate::EventKind)).
    pub damaged: u64,
    /// The oldest damaged epoch.
    pub first_damaged: Option<u64>,
    /// Whether every sealed epoch has been read.
    pub finished: bool,
}
