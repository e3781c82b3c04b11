//! The quarantine: a bounded buffer of evidence, deduplicated by signature, that evicts the
//! lowest priority first.
//!
//! Priority is (severity, capture time, insertion order): a low-severity item goes before any
//! higher one, and among equals the oldest goes first. Both indexes are ordered trees, so an
//! insert, an eviction or a removal costs O(log n) whatever the fill. New evidence that would
//! itself be the first victim is not kept and evicts nothing ([`Outcome::Dropped`]).
//!
//! Every change is written to the audit log by the same call that makes it, under the same
//! lock, so the log's order is the quarantine's order.
//!
//! [`Outcome::Dropped`]: crate::Outcome::Dropped

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tracehound_codec::Digest;
use zeroize::Zeroize;

use crate::audit::writer::{AuditLeaf, Sequencer};
use crate::audit::{EvidenceRecord, RecordType};
use crate::clock::Timestamp;
use crate::events::EventKind;
use crate::scent::{Severity, SourceKey};
use crate::signature::Signature;

/// An immutable copy of what the quarantine holds about one piece of evidence: never a
/// handle into the buffer, so nothing a caller does with it can disturb the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    signature: Signature,
    size: usize,
    severity: Severity,
    captured: Timestamp,
    source: SourceKey,
    audit_leaf: Option<AuditLeaf>,
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
    evidence: Receipt,
    audit_leaf: Option<AuditLeaf>,
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

/// Why a removal happened: what the audit record and the event say.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Removal {
    Evicted(EvictionCause),
    Neutralized { flush: bool },
    Purged(PurgeReason),
    Replaced { by: Digest },
    Expired,
}

impl Removal {
    fn record(self, evidence: &Receipt, now: Timestamp) -> EvidenceRecord<'_> {
        let (kind, reason, digest) = match self {
            Removal::Evicted(cause) => (RecordType::Evicted, cause.code(), None),
            Removal::Neutralized { flush } => (RecordType::Neutralized, u8::from(flush), None),
            Removal::Purged(reason) => (RecordType::Purged, reason.code(), None),
            Removal::Replaced { by } => (RecordType::Replaced, 0, Some(by)),
            Removal::Expired => (RecordType::Expired, 0, None),
        };
        EvidenceRecord {
            kind,
            time: now,
            signature: &evidence.signature,
            size: evidence.size as u64,
            severity: evidence.severity,
            reason,
            digest,
        }
    }

    fn event(self, evidence: Receipt, audit_leaf: Option<AuditLeaf>) -> EventKind {
        match self {
            Removal::Evicted(cause) => EventKind::EvidenceEvicted {
                evidence,
                cause,
                audit_leaf,
            },
            Removal::Neutralized { .. } => EventKind::EvidenceNeutralized {
                evidence,
                audit_leaf,
            },
            Removal::Purged(reason) => EventKind::EvidencePurged {
                evidence,
                reason,
                audit_leaf,
            },
            Removal::Replaced { .. } => EventKind::EvidenceReplaced {
                evidence,
                audit_leaf,
            },
            Removal::Expired => EventKind::EvidenceExpired {
                evidence,
                audit_leaf,
            },
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
    fn code(self) -> u8 {
        match self {
            EvictionCause::Count => 1,
            EvictionCause::Bytes => 2,
        }
    }
}

/// New evidence, ready to be inserted. Its `Debug` shows the size of the bytes, not them.
pub(crate) struct Candidate<'a> {
    pub(crate) signature: Signature,
    pub(crate) bytes: &'a [u8],
    pub(crate) severity: Severity,
    /// The capture time the scent claims, if any.
    pub(crate) captured: Option<Timestamp>,
    pub(crate) source: &'a SourceKey,
}

impl std::fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("signature", &self.signature)
            .field("size", &self.bytes.len())
            .field("severity", &self.severity)
            .field("captured", &self.captured)
            .finish_non_exhaustive()
    }
}

/// What an insert did.
#[derive(Debug)]
pub(crate) enum Inserted {
    Kept(Receipt),
    Duplicate(Signature),
    Dropped(Signature),
}

/// Events collected while the lock is held, published after it is released. Collects
/// nothing (and allocates nothing) when no one is subscribed.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) wanted: bool,
    pub(crate) events: Vec<EventKind>,
    /// The time the audit records were written with; events carry the same.
    pub(crate) at: Option<Timestamp>,
}

impl Changes {
    pub(crate) fn push(&mut self, make: impl FnOnce() -> EventKind) {
        if self.wanted {
            self.events.push(make());
        }
    }
}

/// Per-severity counters, indexed by [`Severity::rank`].
pub(crate) type SeverityCounts = [usize; 4];

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

/// What is held per signature. The signature itself is the map key, so it is not repeated
/// here: the smaller the entries, the fewer cache lines an eviction touches.
#[derive(Debug)]
struct Entry {
    bytes: EvidenceBytes,
    severity: Severity,
    captured: Timestamp,
    source: SourceKey,
    audit_leaf: Option<AuditLeaf>,
    seq: u64,
}

impl Entry {
    fn priority(&self) -> Priority {
        Priority {
            severity: self.severity,
            captured: self.captured,
            seq: self.seq,
        }
    }

    fn size(&self) -> usize {
        self.bytes.as_slice().len()
    }

    fn receipt(&self, signature: Signature) -> Receipt {
        Receipt {
            signature,
            size: self.size(),
            severity: self.severity,
            captured: self.captured,
            source: self.source.clone(),
            audit_leaf: self.audit_leaf,
        }
    }
}

/// Eviction order: lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    severity: Severity,
    captured: Timestamp,
    seq: u64,
}

/// The buffer. Not synchronized: the facade holds it behind one lock with the audit log.
/// Signatures are SHA-256 outputs, which an attacker cannot aim at a hash bucket without
/// knowing the per-process seed, so a fast seeded hash is enough here.
type SignatureMap<V> = HashMap<Signature, V, foldhash::fast::RandomState>;

#[derive(Debug)]
pub(crate) struct Quarantine {
    entries: SignatureMap<Entry>,
    /// Eviction order, with each entry's size so planning an eviction needs no lookups.
    by_priority: BTreeMap<Priority, (Signature, usize)>,
    /// (capture time, seq) index for expiry; kept only when a maximum age is configured.
    by_age: Option<BTreeMap<(Timestamp, u64), Signature>>,
    bytes: usize,
    by_severity: SeverityCounts,
    bytes_by_severity: SeverityCounts,
    next_seq: u64,
    max_count: usize,
    max_bytes: usize,
}

impl Quarantine {
    pub(crate) fn new(max_count: usize, max_bytes: usize, expires: bool) -> Self {
        Self {
            entries: SignatureMap::default(),
            by_priority: BTreeMap::new(),
            by_age: expires.then(BTreeMap::new),
            bytes: 0,
            by_severity: [0; 4],
            bytes_by_severity: [0; 4],
            next_seq: 0,
            max_count,
            max_bytes,
        }
    }

    pub(crate) fn contains(&self, signature: &Signature) -> bool {
        self.entries.contains_key(signature)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn by_severity(&self) -> SeverityCounts {
        self.by_severity
    }

    pub(crate) fn get(&self, signature: &Signature) -> Option<Receipt> {
        self.entries
            .get(signature)
            .map(|e| e.receipt(signature.clone()))
    }

    /// Every receipt, highest priority first (the reverse of eviction order).
    pub(crate) fn list(&self) -> Vec<Receipt> {
        self.by_priority
            .values()
            .rev()
            .filter_map(|(sig, _)| self.get(sig))
            .collect()
    }

    /// A handle on held evidence's bytes, with its receipt.
    pub(crate) fn evidence(&self, signature: &Signature) -> Option<(EvidenceBytes, Receipt)> {
        self.entries
            .get(signature)
            .map(|e| (e.bytes.clone(), e.receipt(signature.clone())))
    }

    /// Inserts new evidence, evicting lower-priority evidence to stay within both caps.
    /// `clock` is read only if the evidence is new.
    pub(crate) fn insert(
        &mut self,
        candidate: Candidate<'_>,
        clock: impl FnOnce() -> Timestamp,
        log: &mut Sequencer,
        changes: &mut Changes,
    ) -> Inserted {
        if self.contains(&candidate.signature) {
            return Inserted::Duplicate(candidate.signature);
        }
        let now = clock();
        changes.at = Some(now);
        // A capture time in the future would let a caller dodge eviction and expiry.
        let captured = candidate.captured.map_or(now, |at| at.min(now));
        let size = candidate.bytes.len();
        let seq = self.next_seq;
        self.next_seq += 1;
        let priority = Priority {
            severity: candidate.severity,
            captured,
            seq,
        };
        let plan = self.plan_evictions(size, priority);

        let record = |kind, reason| EvidenceRecord {
            kind,
            time: now,
            signature: &candidate.signature,
            size: size as u64,
            severity: candidate.severity,
            reason,
            digest: None,
        };
        let Some(victims) = plan.victims else {
            // Lower priority than everything that would have to make room: not kept, and
            // nothing is evicted for it.
            log.append(&record(RecordType::Quarantined, 0), changes);
            let audit_leaf = log.append(&record(RecordType::Dropped, plan.cause.code()), changes);
            changes.push(|| EventKind::EvidenceDropped {
                signature: candidate.signature.clone(),
                severity: candidate.severity,
                size,
                audit_leaf,
            });
            return Inserted::Dropped(candidate.signature);
        };
        for i in 0..victims {
            let cause = if i < plan.need_count {
                EvictionCause::Count
            } else {
                EvictionCause::Bytes
            };
            if let Some((_, (sig, _))) = self.by_priority.pop_first() {
                self.take(&sig, Removal::Evicted(cause), now, log, changes);
            }
        }
        let audit_leaf = log.append(&record(RecordType::Quarantined, 0), changes);
        let receipt = Receipt {
            signature: candidate.signature.clone(),
            size,
            severity: candidate.severity,
            captured,
            source: candidate.source.clone(),
            audit_leaf,
        };
        self.by_priority
            .insert(priority, (candidate.signature.clone(), size));
        if let Some(by_age) = &mut self.by_age {
            by_age.insert((captured, seq), candidate.signature.clone());
        }
        let rank = usize::from(candidate.severity.rank());
        self.bytes += size;
        self.by_severity[rank] += 1;
        self.bytes_by_severity[rank] += size;
        self.entries.insert(
            candidate.signature,
            Entry {
                bytes: EvidenceBytes::new(candidate.bytes),
                severity: candidate.severity,
                captured,
                source: candidate.source.clone(),
                audit_leaf,
                seq,
            },
        );
        changes.push(|| EventKind::EvidenceQuarantined(receipt.clone()));
        Inserted::Kept(receipt)
    }

    /// How many of the lowest-priority entries must go to admit `size` bytes at `priority`;
    /// `victims` is `None` when the newcomer would be the first to go.
    ///
    /// Only entries of the newcomer's severity or lower can make room, so when even all of
    /// them are too few the answer is immediate. Otherwise the walk visits exactly the
    /// victims, each evicted once; it can visit entries in vain only when the newcomer was
    /// captured before some held entries of its own severity, and then visits fewer than
    /// `size` bytes' worth of them.
    fn plan_evictions(&self, size: usize, priority: Priority) -> EvictionPlan {
        let need_count = (self.entries.len() + 1).saturating_sub(self.max_count);
        let need_bytes = (self.bytes + size).saturating_sub(self.max_bytes);
        let cause = if need_count > 0 {
            EvictionCause::Count
        } else {
            EvictionCause::Bytes
        };
        let mut plan = EvictionPlan {
            victims: None,
            need_count,
            cause,
        };
        let at_or_below = ..=usize::from(priority.severity.rank());
        let room_count: usize = self.by_severity[at_or_below].iter().sum();
        let room_bytes: usize = self.bytes_by_severity[at_or_below].iter().sum();
        if room_count < need_count || room_bytes < need_bytes {
            return plan;
        }
        let (mut count, mut bytes) = (0usize, 0usize);
        let mut lowest = self.by_priority.iter();
        while count < need_count || bytes < need_bytes {
            match lowest.next() {
                Some((victim, &(_, size))) if *victim < priority => {
                    count += 1;
                    bytes += size;
                }
                _ => return plan,
            }
        }
        plan.victims = Some(count);
        plan
    }

    /// Removes one piece of evidence for `removal`; `None` if it is not held.
    pub(crate) fn remove(
        &mut self,
        signature: &Signature,
        removal: Removal,
        now: Timestamp,
        log: &mut Sequencer,
        changes: &mut Changes,
    ) -> Option<Removed> {
        let priority = self.entries.get(signature)?.priority();
        self.by_priority.remove(&priority);
        self.take(signature, removal, now, log, changes)
    }

    /// Neutralizes everything, lowest priority first.
    pub(crate) fn flush(
        &mut self,
        now: Timestamp,
        log: &mut Sequencer,
        changes: &mut Changes,
    ) -> Vec<Removed> {
        let mut removed = Vec::with_capacity(self.entries.len());
        while let Some((_, (sig, _))) = self.by_priority.first_key_value() {
            let sig = sig.clone();
            match self.remove(
                &sig,
                Removal::Neutralized { flush: true },
                now,
                log,
                changes,
            ) {
                Some(r) => removed.push(r),
                None => break,
            }
        }
        removed
    }

    /// Removes evidence captured more than `max_age` before `now`.
    pub(crate) fn expire(
        &mut self,
        max_age: Duration,
        now: Timestamp,
        log: &mut Sequencer,
        changes: &mut Changes,
    ) -> Vec<Removed> {
        let mut expired = Vec::new();
        while let Some((&(captured, _), sig)) =
            self.by_age.as_ref().and_then(BTreeMap::first_key_value)
        {
            if captured.saturating_add(max_age) > now {
                break;
            }
            let sig = sig.clone();
            match self.remove(&sig, Removal::Expired, now, log, changes) {
                Some(r) => expired.push(r),
                None => break,
            }
        }
        expired
    }

    /// Takes an entry out of every index except `by_priority` (the caller has removed it),
    /// accounts for it, and records the removal.
    fn take(
        &mut self,
        signature: &Signature,
        removal: Removal,
        now: Timestamp,
        log: &mut Sequencer,
        changes: &mut Changes,
    ) -> Option<Removed> {
        let (signature, entry) = self.entries.remove_entry(signature)?;
        if let Some(by_age) = &mut self.by_age {
            by_age.remove(&(entry.captured, entry.seq));
        }
        let rank = usize::from(entry.severity.rank());
        let size = entry.size();
        self.bytes -= size;
        self.by_severity[rank] -= 1;
        self.bytes_by_severity[rank] -= size;
        let receipt = entry.receipt(signature);
        let audit_leaf = log.append(&removal.record(&receipt, now), changes);
        changes.at = Some(now);
        changes.push(|| removal.event(receipt.clone(), audit_leaf));
        Some(Removed {
            evidence: receipt,
            audit_leaf,
        })
    }
}

#[derive(Debug)]
struct EvictionPlan {
    victims: Option<usize>,
    need_count: usize,
    cause: EvictionCause,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scent::Category;

    struct Fixture {
        quarantine: Quarantine,
        log: Sequencer,
        _queue: crossbeam_channel::Receiver<crate::audit::writer::Message>,
        source: SourceKey,
    }

    impl Fixture {
        fn new(max_count: usize, max_bytes: usize) -> Self {
            let sequencer = Sequencer::for_tests(10_000);
            Self {
                quarantine: Quarantine::new(max_count, max_bytes, false),
                log: sequencer.0,
                _queue: sequencer.1,
                source: SourceKey::new("s"),
            }
        }

        /// Inserts `size` bytes named `n` at `severity`, captured at `captured` ms.
        fn insert(
            &mut self,
            n: u8,
            size: usize,
            severity: Severity,
            captured: u64,
        ) -> (Inserted, Vec<EventKind>) {
            let bytes = vec![n; size];
            let mut changes = Changes {
                wanted: true,
                ..Changes::default()
            };
            let candidate = Candidate {
                signature: Signature::new(Category::Spam, Digest::of(&bytes)),
                bytes: &bytes,
                severity,
                captured: Some(Timestamp::from_unix_millis(captured)),
                source: &self.source,
            };
            let now = Timestamp::from_unix_millis(1_000);
            let inserted = self
                .quarantine
                .insert(candidate, || now, &mut self.log, &mut changes);
            (inserted, changes.events)
        }
    }

    #[test]
    fn both_caps_binding_give_each_victim_its_cause() {
        let mut f = Fixture::new(3, 30);
        for n in 0..3 {
            assert!(matches!(
                f.insert(n, 10, Severity::Low, 10 + u64::from(n)).0,
                Inserted::Kept(_)
            ));
        }
        // Full by count and by bytes: 20 more bytes need one slot and 20 bytes.
        let (inserted, events) = f.insert(9, 20, Severity::High, 100);
        assert!(matches!(inserted, Inserted::Kept(_)));
        let causes: Vec<EvictionCause> = events
            .iter()
            .filter_map(|e| match e {
                EventKind::EvidenceEvicted { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect();
        assert_eq!(causes, [EvictionCause::Count, EvictionCause::Bytes]);
        assert_eq!((f.quarantine.len(), f.quarantine.bytes()), (2, 30));
        assert_eq!(f.log.counts().evicted, 2);
    }

    #[test]
    fn a_backdated_newcomer_is_dropped_without_evicting() {
        let mut f = Fixture::new(3, 1_000);
        for n in 0..3 {
            f.insert(n, 10, Severity::Low, 500 + u64::from(n));
        }
        let before = f.quarantine.list();
        // Same severity, captured before everything held: it ranks lowest.
        let (inserted, events) = f.insert(7, 10, Severity::Low, 5);
        assert!(matches!(inserted, Inserted::Dropped(_)));
        assert_eq!(f.quarantine.list(), before);
        assert!(matches!(
            events.as_slice(),
            [EventKind::EvidenceDropped {
                audit_leaf: Some(AuditLeaf { index: 4, .. }),
                ..
            }]
        ));
        let counts = f.log.counts();
        assert_eq!(
            (counts.quarantined, counts.dropped, counts.evicted),
            (4, 1, 0)
        );
    }

    #[test]
    fn without_subscribers_no_event_is_built() {
        let mut f = Fixture::new(1, 1_000);
        f.insert(1, 10, Severity::Low, 1);
        let mut changes = Changes::default();
        let bytes = [2u8; 10];
        let candidate = Candidate {
            signature: Signature::new(Category::Spam, Digest::of(&bytes)),
            bytes: &bytes,
            severity: Severity::High,
            captured: None,
            source: &f.source,
        };
        let now = Timestamp::from_unix_millis(2_000);
        f.quarantine
            .insert(candidate, || now, &mut f.log, &mut changes);
        assert!(changes.events.is_empty() && changes.events.capacity() == 0);
        assert_eq!(changes.at, Some(now), "records and events share one time");
    }
}
