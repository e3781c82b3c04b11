//! The vault: the quarantine and the audit log's sequencer under one lock, so the log's order
//! is the quarantine's. The quarantine reports each change through its [`Journal`] seam; the
//! vault's journal turns it into audit leaves and, for subscribers, events.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::audit::writer::{Notice, Sequencer};
use crate::audit::{EvidenceRecord, RecordType};
use crate::clock::Timestamp;
use crate::events::{EventBus, EventKind};
use crate::evidence::{AuditLeaf, Receipt};
use crate::hound::{Analysis, Completed, HoundOutcome, analysis_digest};
use crate::quarantine::{Change, Journal, Quarantine, Removal};

use super::Inner;
use super::cold::Evacuator;

/// The quarantine and the audit log's sequencer, under one lock.
#[derive(Debug)]
pub(super) struct Vault {
    pub(super) quarantine: Quarantine,
    pub(super) audit: Sequencer,
}

/// Events collected while the vault's lock is held, published before it is released, so
/// subscribers see each piece of evidence's events in audit order. Collects nothing (and
/// allocates nothing) when no one is subscribed.
#[derive(Debug, Default)]
pub(super) struct Changes {
    wanted: bool,
    events: Vec<EventKind>,
    /// The time of the changes, shared by their records and their events.
    pub(super) at: Option<Timestamp>,
}

impl Changes {
    pub(super) fn push(&mut self, make: impl FnOnce() -> EventKind) {
        if self.wanted {
            self.events.push(make());
        }
    }

    fn notice(&mut self, notice: Notice) {
        self.push(|| notice.into());
    }
}

/// The quarantine's journal for one locked section: every change becomes its audit record
/// (and event).
pub(super) struct Recorder<'a> {
    audit: &'a mut Sequencer,
    pub(super) changes: &'a mut Changes,
    /// Where removed evidence is offered, if cold storage is configured.
    cold: Option<&'a Evacuator>,
}

impl Recorder<'_> {
    pub(super) fn append(&mut self, record: &EvidenceRecord<'_>) -> Option<AuditLeaf> {
        let changes = &mut *self.changes;
        self.audit
            .append(record, &mut |notice| changes.notice(notice))
    }
}

/// The record of `evidence`'s step `kind` at `at`.
fn record(kind: RecordType, evidence: &Receipt, at: Timestamp) -> EvidenceRecord<'_> {
    EvidenceRecord::new(
        kind,
        at,
        &evidence.signature,
        evidence.size as u64,
        evidence.severity,
    )
}

/// The audit record of a removal.
fn removal_record(removal: Removal, evidence: &Receipt, at: Timestamp) -> EvidenceRecord<'_> {
    let (kind, reason, digest) = match removal {
        Removal::Evicted(cause) => (RecordType::Evicted, cause.code(), None),
        Removal::Neutralized { flush } => (RecordType::Neutralized, u8::from(flush), None),
        Removal::Purged(reason) => (RecordType::Purged, reason.code(), None),
        Removal::Replaced { by } => (RecordType::Replaced, 0, Some(by)),
        Removal::Expired => (RecordType::Expired, 0, None),
    };
    let mut record = record(kind, evidence, at);
    record.reason = reason;
    record.digest = digest;
    record
}

/// The event of a removal.
fn removal_event(removal: Removal, evidence: Receipt, audit_leaf: Option<AuditLeaf>) -> EventKind {
    match removal {
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

impl Journal for Recorder<'_> {
    fn record(&mut self, change: Change<'_>) -> Option<AuditLeaf> {
        match change {
            Change::Kept { receipt, at } => {
                self.changes.at = Some(at);
                let audit_leaf = self.append(&record(RecordType::Quarantined, receipt, at));
                self.changes.push(|| {
                    let mut receipt = receipt.clone();
                    receipt.audit_leaf = audit_leaf;
                    EventKind::EvidenceQuarantined(receipt)
                });
                audit_leaf
            }
            Change::Dropped { receipt, cause, at } => {
                self.changes.at = Some(at);
                // Its entry, then its drop: the log shows the evidence arrived.
                self.append(&record(RecordType::Quarantined, receipt, at));
                let mut dropped = record(RecordType::Dropped, receipt, at);
                dropped.reason = cause.code();
                let audit_leaf = self.append(&dropped);
                self.changes.push(|| EventKind::EvidenceDropped {
                    signature: receipt.signature.clone(),
                    severity: receipt.severity,
                    size: receipt.size,
                    audit_leaf,
                });
                audit_leaf
            }
            Change::Removed {
                receipt,
                removal,
                at,
                bytes,
            } => {
                self.changes.at = Some(at);
                let audit_leaf = self.append(&removal_record(removal, receipt, at));
                self.changes
                    .push(|| removal_event(removal, receipt.clone(), audit_leaf));
                if let Some(cold) = self.cold
                    && let Some(cause) = cold.cause_of(removal, receipt.severity)
                    && let Err(reason) = cold.offer(receipt, bytes, cause, None)
                {
                    self.record_loss(receipt, reason, at);
                }
                audit_leaf
            }
        }
    }
}

/// Runs `f` on the quarantine under the vault's lock, with the journal that records its
/// changes (offering removed evidence to `cold` as its policy says), and publishes the
/// events they produced before releasing the lock, so subscribers see each piece of
/// evidence's events in audit order.
pub(super) fn with_vault<T>(
    vault: &Mutex<Vault>,
    bus: &EventBus,
    cold: Option<&Evacuator>,
    now_or_epoch: impl FnOnce() -> Timestamp,
    f: impl FnOnce(&mut Quarantine, &mut Recorder<'_>) -> T,
) -> T {
    let mut changes = Changes {
        wanted: bus.wanted(),
        ..Changes::default()
    };
    let mut vault = vault.lock();
    let Vault { quarantine, audit } = &mut *vault;
    let result = f(
        quarantine,
        &mut Recorder {
            audit,
            changes: &mut changes,
            cold,
        },
    );
    if !changes.events.is_empty() {
        let at = changes.at.unwrap_or_else(now_or_epoch);
        bus.publish(at, changes.events);
    }
    drop(vault);
    result
}

impl Inner {
    /// [`with_vault`] over this `Tracehound`'s vault, evacuating as configured.
    pub(super) fn with_vault<T>(
        &self,
        f: impl FnOnce(&mut Quarantine, &mut Recorder<'_>) -> T,
    ) -> T {
        with_vault(
            &self.vault,
            &self.bus,
            self.cold.as_ref().map(|c| &c.evacuator),
            || self.now_or_epoch(),
            f,
        )
    }

    /// Turns a finished hound job into an audit leaf, an event and a lookup entry. Runs on
    /// the pool's slot thread.
    pub(super) fn record_analysis(&self, done: Completed) {
        let Completed {
            job,
            order,
            outcome,
            duration,
        } = done;
        let digest = match &outcome {
            HoundOutcome::Analysed(report) => analysis_digest(report),
            _ => None,
        };
        let forgotten = self.with_vault(|_, recorder| {
            let at = self.now_or_epoch();
            recorder.changes.at = Some(at);
            let mut record = EvidenceRecord::new(
                RecordType::Analysed,
                at,
                &order.signature,
                order.size as u64,
                order.severity,
            );
            record.reason = outcome.code();
            record.digest = digest;
            let audit_leaf = recorder.append(&record);
            let analysis = Arc::new(Analysis {
                signature: order.signature.clone(),
                job,
                outcome,
                duration,
                digest,
                audit_leaf,
            });
            recorder
                .changes
                .push(|| EventKind::EvidenceAnalysed(Arc::clone(&analysis)));
            // Retained before the event goes out, so a subscriber can look it up at once.
            self.analyses.lock().insert(analysis)
        });
        // Freed here, outside the vault lock, which intercepts need.
        drop(forgotten);
    }
}

#[cfg(test)]
mod tests {
    use tracehound_codec::Digest;

    use super::*;
    use crate::evidence::EvictionCause;
    use crate::quarantine::{Candidate, Inserted};
    use crate::scent::{Category, Severity, SourceKey};
    use crate::signature::Signature;

    /// Inserts `n` repeated `size` times at `severity`, captured at `captured` ms, through a
    /// recorder over `audit`.
    fn insert(
        quarantine: &mut Quarantine,
        audit: &mut Sequencer,
        changes: &mut Changes,
        (n, size, severity, captured): (u8, usize, Severity, u64),
    ) -> Inserted {
        let bytes = vec![n; size];
        let source = SourceKey::new("s");
        let candidate = Candidate {
            signature: Signature::new(Category::Spam, Digest::of(&bytes)),
            bytes: &bytes,
            severity,
            captured: Some(Timestamp::from_unix_millis(captured)),
            source: &source,
        };
        let now = Timestamp::from_unix_millis(2_000);
        let mut recorder = Recorder {
            audit,
            changes,
            cold: None,
        };
        quarantine.insert(candidate, || now, &mut recorder)
    }

    #[test]
    fn changes_become_records_and_events_in_order() {
        let (mut audit, _queue) = Sequencer::for_tests(10_000);
        let mut quarantine = Quarantine::new(3, 30, false);
        let mut changes = Changes {
            wanted: true,
            ..Changes::default()
        };
        for n in 0..3 {
            let low = (n, 10, Severity::Low, 10 + u64::from(n));
            insert(&mut quarantine, &mut audit, &mut changes, low);
        }
        changes.events.clear();
        // Full by count and by bytes: two victims, then the newcomer.
        let high = (9, 20, Severity::High, 100);
        let Inserted::Kept(kept) = insert(&mut quarantine, &mut audit, &mut changes, high) else {
            panic!("kept")
        };
        let causes: Vec<_> = changes
            .events
            .iter()
            .filter_map(|e| match e {
                EventKind::EvidenceEvicted {
                    cause, audit_leaf, ..
                } => Some((*cause, audit_leaf.map(|l| l.index))),
                _ => None,
            })
            .collect();
        assert_eq!(
            causes,
            [
                (EvictionCause::Count, Some(3)),
                (EvictionCause::Bytes, Some(4))
            ]
        );
        assert_eq!(
            changes.events.last(),
            Some(&EventKind::EvidenceQuarantined(kept.clone())),
            "the newcomer's event carries its receipt, leaf and all"
        );
        assert_eq!(kept.audit_leaf().map(|l| l.index), Some(5));
        assert_eq!(changes.at, Some(Timestamp::from_unix_millis(2_000)));
        let counts = audit.counts();
        assert_eq!((counts.quarantined, counts.evicted), (4, 2));

        // A backdated newcomer of the lowest rank is recorded as entered, then dropped.
        changes.events.clear();
        let low = (7, 10, Severity::Low, 5);
        let mut quarantine = Quarantine::new(1, 1_000, false);
        insert(
            &mut quarantine,
            &mut audit,
            &mut changes,
            (1, 10, Severity::Low, 50),
        );
        changes.events.clear();
        assert!(matches!(
            insert(&mut quarantine, &mut audit, &mut changes, low),
            Inserted::Dropped(_)
        ));
        assert!(matches!(
            changes.events.as_slice(),
            [EventKind::EvidenceDropped {
                audit_leaf: Some(AuditLeaf { index: 8, .. }),
                ..
            }]
        ));
        let counts = audit.counts();
        assert_eq!(
            (counts.quarantined, counts.dropped, counts.evicted),
            (6, 1, 2)
        );
    }

    #[test]
    fn without_subscribers_no_event_is_built() {
        let (mut audit, _queue) = Sequencer::for_tests(10_000);
        let mut quarantine = Quarantine::new(1, 1_000, false);
        let mut changes = Changes::default();
        insert(
            &mut quarantine,
            &mut audit,
            &mut changes,
            (1, 10, Severity::Low, 1),
        );
        insert(
            &mut quarantine,
            &mut audit,
            &mut changes,
            (2, 10, Severity::High, 1),
        );
        assert!(changes.events.is_empty() && changes.events.capacity() == 0);
        assert_eq!(
            changes.at,
            Some(Timestamp::from_unix_millis(2_000)),
            "records and events share one time"
        );
        assert_eq!(audit.counts().evicted, 1);
    }

    #[test]
    fn a_full_queue_is_noticed_once_then_marked_by_a_gap() {
        let (mut audit, queue) = Sequencer::for_tests(2);
        let mut quarantine = Quarantine::new(100, 100_000, false);
        let mut changes = Changes {
            wanted: true,
            ..Changes::default()
        };
        for n in 0..4 {
            insert(
                &mut quarantine,
                &mut audit,
                &mut changes,
                (n, 10, Severity::Low, 1),
            );
        }
        let unavailable = changes
            .events
            .iter()
            .filter(|e| matches!(e, EventKind::AuditUnavailable))
            .count();
        assert_eq!(unavailable, 1, "one notice per run of losses");
        while queue.try_recv().is_ok() {}
        changes.events.clear();
        insert(
            &mut quarantine,
            &mut audit,
            &mut changes,
            (9, 10, Severity::Low, 1),
        );
        assert!(matches!(
            changes.events.first(),
            Some(EventKind::AuditGapRecorded { lost: 2, .. })
        ));
    }
}
