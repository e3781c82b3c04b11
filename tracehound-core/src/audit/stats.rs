//! What the audit log reports for snapshots: counters, its head, and the verification of
//! sealed epochs.

use std::time::Duration;

use tracehound_codec::Digest;

use super::{RecordType, ResetCause};

/// Number of audit records of each type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditCounts {
    /// Evidence entered the quarantine (including evidence dropped at once).
    pub quarantined: u64,
    /// Evidence removed to make room for higher-priority evidence.
    pub evicted: u64,
    /// New evidence that was itself the lowest priority and was not kept.
    pub dropped: u64,
    /// Evidence removed by `neutralize` or `flush`.
    pub neutralized: u64,
    /// Evidence removed by `purge`.
    pub purged: u64,
    /// Evidence removed by `replace`.
    pub replaced: u64,
    /// Evidence removed because it outlived the configured maximum age.
    pub expired: u64,
    /// Gap markers: runs of records the log could not take.
    pub gaps: u64,
    /// Epoch-start leaves.
    pub epoch_starts: u64,
    /// Finished hound jobs.
    pub analysed: u64,
    /// Reset leaves: epochs started over after stored history was found missing.
    pub resets: u64,
    /// Evidence written to cold storage.
    pub evacuated: u64,
    /// Evidence erased on request.
    pub erased: u64,
    /// Evidence that did not reach cold storage.
    pub cold_dropped: u64,
}

impl AuditCounts {
    /// Records that removed evidence from the quarantine.
    pub fn removals(&self) -> u64 {
        self.evicted + self.dropped + self.neutralized + self.purged + self.replaced + self.expired
    }

    /// All records.
    pub fn total(&self) -> u64 {
        self.quarantined
            + self.removals()
            + self.gaps
            + self.epoch_starts
            + self.analysed
            + self.resets
            + self.evacuated
            + self.erased
            + self.cold_dropped
    }

    pub(crate) fn count(&mut self, kind: RecordType) {
        let slot = match kind {
            RecordType::Quarantined => &mut self.quarantined,
            RecordType::Evicted => &mut self.evicted,
            RecordType::Dropped => &mut self.dropped,
            RecordType::Neutralized => &mut self.neutralized,
            RecordType::Purged => &mut self.purged,
            RecordType::Replaced => &mut self.replaced,
            RecordType::Expired => &mut self.expired,
            RecordType::Gap => &mut self.gaps,
            RecordType::EpochStart => &mut self.epoch_starts,
            RecordType::Analysed => &mut self.analysed,
            RecordType::Reset => &mut self.resets,
            RecordType::Evacuated => &mut self.evacuated,
            RecordType::Erased => &mut self.erased,
            RecordType::ColdDropped => &mut self.cold_dropped,
        };
        *slot += 1;
    }
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
