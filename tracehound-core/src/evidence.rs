//! Evidence and what is said about it: the values every room shares.
//!
//! A [`Receipt`] is an immutable copy of what the quarantine holds about one piece of
//! evidence; [`AuditLeaf`] names the audit record of one lifecycle step; the evidence bytes
//! themselves travel only as [`EvidenceBytes`] handles, which wipe them when the last one
//! goes. Nothing here depends on a room, so every room can use it.

use std::sync::Arc;

use tracehound_codec::Digest;
use zeroize::Zeroize;

use crate::clock::Timestamp;
use crate::scent::{Severity, SourceKey};
use crate::signature::Signature;

/// Where a record landed in the audit log: its epoch and leaf index. Ordered by epoch, then
/// index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct AuditLeaf {
    /// The epoch (its origin is `<deployment>/tracehound/<epoch>`).
    pub epoch: u64,
    /// The leaf index within the epoch.
    pub index: u64,
}

/// An immutable copy of what the quarantine holds about one piece of evidence: never a
/// handle into the buffer, so nothing a caller does with it can disturb the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub(crate) signature: Signature,
    pub(crate) size: usize,
    pub(crate) severity: Severity,
    pub(crate) captured: Timestamp,
    pub(crate) source: SourceKey,
    pub(crate) audit_leaf: Option<AuditLeaf>,
}

impl Receipt {
    /// The evidence signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// SHA-256 of the canonical payload.
    pub fn evidence_hash(&self) -> &Digest {
        self.signature.digest()
    }

    /// Bytes stored for this evidence: the length of its canonical payload.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Severity given by the detector.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Capture time (never later than the moment it was quarantined).
    pub fn captured(&self) -> Timestamp {
        self.captured
    }

    /// Source key of the scent it came from.
    pub fn source(&self) -> &SourceKey {
        &self.source
    }

    /// Index of the audit leaf that recorded its entry into the quarantine.
    pub fn audit_leaf(&self) -> Option<AuditLeaf> {
        self.audit_leaf
    }
}

/// Evidence taken out of the quarantine by an operation, with the audit leaf recording it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub(crate) evidence: Receipt,
    pub(crate) audit_leaf: Option<AuditLeaf>,
}

impl Removed {
    /// The evidence as it was held.
    pub fn evidence(&self) -> &Receipt {
        &self.evidence
    }

    /// Index of the audit leaf that recorded the removal.
    pub fn audit_leaf(&self) -> Option<AuditLeaf> {
        self.audit_leaf
    }
}

/// Why evidence was purged; recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PurgeReason {
    /// Its analysis timed out.
    Timeout,
    /// Its analysis failed.
    Error,
    /// Its handling was abandoned.
    Abort,
    /// A panic policy discarded it.
    Panic,
    /// A data-subject or legal erasure request.
    Erasure,
    /// An operator removed it.
    Manual,
}

impl PurgeReason {
    /// The code written in audit records.
    pub const fn code(self) -> u8 {
        match self {
            PurgeReason::Timeout => 1,
            PurgeReason::Error => 2,
            PurgeReason::Abort => 3,
            PurgeReason::Panic => 4,
            PurgeReason::Erasure => 5,
            PurgeReason::Manual => 6,
        }
    }
}

/// Which cap made an eviction necessary; the audit reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvictionCause {
    /// The buffer held `max_count` pieces of evidence.
    Count,
    /// The buffer would have held more than `max_bytes`.
    Bytes,
}

impl EvictionCause {
    /// The code written in audit records.
    pub(crate) const fn code(self) -> u8 {
        match self {
            EvictionCause::Count => 1,
            EvictionCause::Bytes => 2,
        }
    }
}

/// Evidence bytes, wiped when the last handle is dropped: payloads can carry a victim's data
/// (a password in a form, a token in a header), and freed memory is not a place to leave it.
/// Shared so that work on them (verification, later analysis) happens outside the lock.
#[derive(Clone)]
pub(crate) struct EvidenceBytes(Arc<Held>);

/// The bytes themselves; wiped when the last strong handle goes, whatever weak handles remain.
struct Held(Box<[u8]>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl EvidenceBytes {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        EvidenceBytes(Arc::new(Held(Box::from(bytes))))
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.0.0
    }

    /// A handle that does not keep the bytes alive: a queued hound job must not hold evidence
    /// the quarantine has evicted or erased.
    pub(crate) fn downgrade(&self) -> WeakEvidence {
        WeakEvidence(Arc::downgrade(&self.0))
    }
}

impl std::fmt::Debug for EvidenceBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EvidenceBytes({} bytes)", self.0.0.len())
    }
}

/// See [`EvidenceBytes::downgrade`].
#[derive(Clone)]
pub(crate) struct WeakEvidence(std::sync::Weak<Held>);

impl WeakEvidence {
    /// The bytes, if something still holds them.
    pub(crate) fn upgrade(&self) -> Option<EvidenceBytes> {
        self.0.upgrade().map(EvidenceBytes)
    }
}

impl std::fmt::Debug for WeakEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakEvidence")
    }
}
