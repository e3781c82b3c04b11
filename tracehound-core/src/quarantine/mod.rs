//! The quarantine: a bounded buffer of evidence, deduplicated by signature, that evicts the
//! lowest priority first.
//!
//! Priority is (severity, capture time, insertion order): a low-severity item goes before any
//! higher one, and among equals the oldest goes first. Both indexes are ordered trees, so an
//! insert, an eviction or a removal costs O(log n) whatever the fill. New evidence that would
//! itself be the first victim is not kept and evicts nothing ([`Outcome::Dropped`]).
//!
//! Every change is reported to a [`Journal`] by the same call that makes it, so whoever keeps
//! the journal under the quarantine's lock (the facade's vault, writing the audit log) records
//! changes in the quarantine's order. The quarantine itself knows nothing of the log or of
//! events.
//!
//! [`Outcome::Dropped`]: crate::Outcome::Dropped

mod config;

pub use self::config::QuarantineConfig;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tracehound_codec::Digest;

use crate::clock::Timestamp;
use crate::evidence::{AuditLeaf, EvictionCause, EvidenceBytes, PurgeReason, Receipt, Removed};
use crate::scent::{Severity, SourceKey};
use crate::signature::Signature;

/// Why a removal happened: what its audit record and event say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    Evicted(EvictionCause),
    Neutralized { flush: bool },
    Purged(PurgeReason),
    Replaced { by: Digest },
    Expired,
}

/// One change to the quarantine, reported to its [`Journal`] by the call that makes it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// New evidence was kept; `receipt` has no audit leaf yet: the journal's answer is it.
    Kept { receipt: &'a Receipt, at: Timestamp },
    /// New evidence ranked below everything that would have had to make room, so it was not
    /// kept; `cause` is the cap that would have needed room.
    Dropped {
        receipt: &'a Receipt,
        cause: EvictionCause,
        at: Timestamp,
    },
    /// Held evidence was taken out. `bytes` is its last strong handle but this one: a
    /// journal that keeps a clone (to evacuate it to cold storage) keeps the bytes alive
    /// until it lets go, and they are wiped then.
    Removed {
        receipt: &'a Receipt,
        bytes: &'a EvidenceBytes,
        removal: Removal,
        at: Timestamp,
    },
}

/// Where the quarantine reports its changes: the seam between the buffer and whatever
/// records its history (the facade's vault turns each change into audit leaves and events).
/// The answer is the audit leaf that recorded the change, if one did.
pub(crate) trait Journal {
    /// Records `change`, which has already been made.
    fn record(&mut self, change: Change<'_>) -> Option<AuditLeaf>;
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

/// Per-severity counters, indexed by [`Severity::rank`].
pub(crate) type SeverityCounts = [usize; 4];

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
        journal: &mut impl Journal,
    ) -> Inserted {
        if self.contains(&candidate.signature) {
            return Inserted::Duplicate(candidate.signature);
        }
        let now = clock();
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

        let mut receipt = Receipt {
            signature: candidate.signature,
            size,
            severity: candidate.severity,
            captured,
            source: candidate.source.clone(),
            audit_leaf: None,
        };
        let Some(victims) = plan.victims else {
            // Lower priority than everything that would have to make room: not kept, and
            // nothing is evicted for it.
            journal.record(Change::Dropped {
                receipt: &receipt,
                cause: plan.cause,
                at: now,
            });
            return Inserted::Dropped(receipt.signature);
        };
        for i in 0..victims {
            let cause = if i < plan.need_count {
                EvictionCause::Count
            } else {
                EvictionCause::Bytes
            };
            if let Some((_, (sig, _))) = self.by_priority.pop_first() {
                self.take(&sig, Removal::Evicted(cause), now, journal);
            }
        }
        receipt.audit_leaf = journal.record(Change::Kept {
            receipt: &receipt,
            at: now,
        });
        let signature = receipt.signature.clone();
        self.by_priority.insert(priority, (signature.clone(), size));
        if let Some(by_age) = &mut self.by_age {
            by_age.insert((captured, seq), signature.clone());
        }
        let rank = usize::from(receipt.severity.rank());
        self.bytes += size;
        self.by_severity[rank] += 1;
        self.bytes_by_severity[rank] += size;
        self.entries.insert(
            signature,
            Entry {
                bytes: EvidenceBytes::new(candidate.bytes),
                severity: receipt.severity,
                captured,
                source: receipt.source.clone(),
                audit_leaf: receipt.audit_leaf,
                seq,
            },
        );
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
        journal: &mut impl Journal,
    ) -> Option<Removed> {
        let priority = self.entries.get(signature)?.priority();
        self.by_priority.remove(&priority);
        self.take(signature, removal, now, journal)
    }

    /// Neutralizes everything, lowest priority first.
    pub(crate) fn flush(&mut self, now: Timestamp, journal: &mut impl Journal) -> Vec<Removed> {
        let mut removed = Vec::with_capacity(self.entries.len());
        while let Some((_, (sig, _))) = self.by_priority.first_key_value() {
            let sig = sig.clone();
            match self.remove(&sig, Removal::Neutralized { flush: true }, now, journal) {
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
        journal: &mut impl Journal,
    ) -> Vec<Removed> {
        let mut expired = Vec::new();
        while let Some((&(captured, _), sig)) =
            self.by_age.as_ref().and_then(BTreeMap::first_key_value)
        {
            if captured.saturating_add(max_age) > now {
                break;
            }
            let sig = sig.clone();
            match self.remove(&sig, Removal::Expired, now, journal) {
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
        journal: &mut impl Journal,
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
        let audit_leaf = journal.record(Change::Removed {
            receipt: &receipt,
            bytes: &entry.bytes,
            removal,
            at: now,
        });
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

    /// What a change said, owned; the journal numbers every record it is given.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Said {
        Kept(Signature),
        Dropped(Signature, EvictionCause),
        Removed(Signature, Removal),
    }

    /// Numbers leaves as the vault's journal does: a dropped newcomer takes two (its entry,
    /// then its drop), every other change one.
    #[derive(Debug, Default)]
    struct Recorder {
        said: Vec<(Said, Timestamp)>,
        next: u64,
    }

    impl Journal for Recorder {
        fn record(&mut self, change: Change<'_>) -> Option<AuditLeaf> {
            let (said, at, leaves) = match change {
                Change::Kept { receipt, at } => (Said::Kept(receipt.signature.clone()), at, 1),
                Change::Dropped { receipt, cause, at } => {
                    (Said::Dropped(receipt.signature.clone(), cause), at, 2)
                }
                Change::Removed {
                    receipt,
                    bytes,
                    removal,
                    at,
                } => {
                    assert_eq!(bytes.as_slice().len(), receipt.size, "the removed bytes");
                    (Said::Removed(receipt.signature.clone(), removal), at, 1)
                }
            };
            self.said.push((said, at));
            self.next += leaves;
            Some(AuditLeaf {
                epoch: 1,
                index: self.next - 1,
            })
        }
    }

    struct Fixture {
        quarantine: Quarantine,
        journal: Recorder,
        source: SourceKey,
    }

    impl Fixture {
        fn new(max_count: usize, max_bytes: usize) -> Self {
            Self {
                quarantine: Quarantine::new(max_count, max_bytes, false),
                journal: Recorder::default(),
                source: SourceKey::new("s"),
            }
        }

        /// Inserts `size` bytes named `n` at `severity`, captured at `captured` ms; returns
        /// what the insert reported.
        fn insert(
            &mut self,
            n: u8,
            size: usize,
            severity: Severity,
            captured: u64,
        ) -> (Inserted, Vec<Said>) {
            let bytes = vec![n; size];
            let candidate = Candidate {
                signature: Signature::new(Category::Spam, Digest::of(&bytes)),
                bytes: &bytes,
                severity,
                captured: Some(Timestamp::from_unix_millis(captured)),
                source: &self.source,
            };
            let now = Timestamp::from_unix_millis(1_000);
            let before = self.journal.said.len();
            let inserted = self.quarantine.insert(candidate, || now, &mut self.journal);
            let said = self.journal.said[before..].iter();
            assert!(
                said.clone().all(|(_, at)| *at == now),
                "one time per change"
            );
            (inserted, said.map(|(said, _)| said.clone()).collect())
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
        let (inserted, said) = f.insert(9, 20, Severity::High, 100);
        let Inserted::Kept(receipt) = inserted else {
            panic!("kept")
        };
        let causes: Vec<EvictionCause> = said
            .iter()
            .filter_map(|s| match s {
                Said::Removed(_, Removal::Evicted(cause)) => Some(*cause),
                _ => None,
            })
            .collect();
        assert_eq!(causes, [EvictionCause::Count, EvictionCause::Bytes]);
        // Victims are recorded before the newcomer, whose receipt names its own leaf.
        assert_eq!(said.last(), Some(&Said::Kept(receipt.signature.clone())));
        assert_eq!(said.len(), 3);
        assert_eq!(receipt.audit_leaf.map(|l| l.index), Some(5));
        assert_eq!((f.quarantine.len(), f.quarantine.bytes()), (2, 30));
    }

    #[test]
    fn a_backdated_newcomer_is_dropped_without_evicting() {
        let mut f = Fixture::new(3, 1_000);
        for n in 0..3 {
            f.insert(n, 10, Severity::Low, 500 + u64::from(n));
        }
        let before = f.quarantine.list();
        // Same severity, captured before everything held: it ranks lowest.
        let (inserted, said) = f.insert(7, 10, Severity::Low, 5);
        let Inserted::Dropped(signature) = inserted else {
            panic!("dropped")
        };
        assert_eq!(f.quarantine.list(), before);
        assert_eq!(said, [Said::Dropped(signature, EvictionCause::Count)]);
    }

    #[test]
    fn a_duplicate_reports_nothing_and_reads_no_clock() {
        let mut f = Fixture::new(3, 1_000);
        f.insert(1, 10, Severity::Low, 1);
        let bytes = vec![1u8; 10];
        let candidate = Candidate {
            signature: Signature::new(Category::Spam, Digest::of(&bytes)),
            bytes: &bytes,
            severity: Severity::High,
            captured: None,
            source: &f.source,
        };
        let inserted = f.quarantine.insert(
            candidate,
            || panic!("a duplicate must not read the clock"),
            &mut f.journal,
        );
        assert!(matches!(inserted, Inserted::Duplicate(_)));
        assert_eq!(f.journal.said.len(), 1);
    }
}
