//! Cold storage in the facade: which removals are evacuated, how the uploader's reports
//! become audit leaves and events, checkpoint export, shutdown and erasure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::audit::writer::{Listener, Notice};
use crate::audit::{EvidenceRecord, RecordType};
use crate::clock::{Clock, Timestamp};
use crate::cold::uploader::{Evacuated, Evacuation, Lost, Reporter, Start, Uploader};
use crate::cold::{
    ColdConfig, ColdReader, ColdStats, ColdStore, ErasedFrom, EvacuationCause, Layout, LossReason,
    ObjectKey, Selection, destination_digest, source_tag,
};
use crate::error::Error;
use crate::events::{EventBus, EventKind};
use crate::evidence::{AuditLeaf, EvidenceBytes, PurgeReason, Receipt};
use crate::quarantine::Removal;
use crate::random::Random;
use crate::scent::Severity;
use crate::signature::Signature;

use super::vault::{Recorder, Vault, with_vault};
use super::{Inner, Tracehound, guard};

/// Which removals go to cold storage, and the uploader they go to.
#[derive(Debug)]
pub(super) struct Evacuator {
    uploader: Arc<Uploader>,
    policy: ColdConfig,
}

impl Evacuator {
    /// Why a removal is evacuated, if the policy says it is.
    pub(super) fn cause_of(&self, removal: Removal, severity: Severity) -> Option<EvacuationCause> {
        let p = &self.policy;
        match removal {
            Removal::Evicted(_) if p.on_evict && severity >= p.evict_min_severity => {
                Some(EvacuationCause::Evicted)
            }
            Removal::Neutralized { flush: true } if p.on_flush => Some(EvacuationCause::Flushed),
            Removal::Neutralized { flush: false } if p.on_neutralize => {
                Some(EvacuationCause::Neutralized)
            }
            Removal::Expired if p.on_expire => Some(EvacuationCause::Expired),
            _ => None,
        }
    }

    /// Hands evidence to the uploader (waiting until `deadline` for room if given, else not
    /// at all). A refusal is counted here; the caller audits it.
    pub(super) fn offer(
        &self,
        receipt: &Receipt,
        bytes: &EvidenceBytes,
        cause: EvacuationCause,
        deadline: Option<Instant>,
    ) -> Result<(), LossReason> {
        let evacuation = Evacuation {
            receipt: receipt.clone(),
            bytes: bytes.clone(),
            cause,
        };
        self.uploader
            .offer_within(evacuation, deadline)
            .inspect_err(|_| self.uploader.count_loss())
    }
}

/// Cold storage as the facade holds it.
#[derive(Debug)]
pub(super) struct Cold {
    pub(super) evacuator: Evacuator,
    reader: ColdReader,
    /// Set once shutdown has evacuated what was held.
    shut: AtomicBool,
}

impl Cold {
    /// Opens the spool and starts the uploader, whose reports are audited through `vault`.
    pub(super) fn start(
        config: &ColdConfig,
        layout: Layout,
        store: Arc<dyn ColdStore>,
        journal: ColdJournal,
        random: Arc<dyn Random>,
    ) -> std::io::Result<Cold> {
        let clock = Arc::clone(&journal.clock);
        let uploader = Uploader::start(
            config,
            Start {
                store: Arc::clone(&store),
                layout: layout.clone(),
                clock,
                random,
                reporter: Arc::new(journal),
            },
        )?;
        Ok(Cold {
            evacuator: Evacuator {
                uploader: Arc::new(uploader),
                policy: config.clone(),
            },
            reader: ColdReader::new(store, layout),
            shut: AtomicBool::new(false),
        })
    }

    pub(super) fn uploader(&self) -> &Arc<Uploader> {
        &self.evacuator.uploader
    }

    /// Writes a signed checkpoint to the store from this thread (the uploader has
    /// stopped): the log's last checkpoint, signed when it closes.
    pub(super) fn export_now(&self, signed: &crate::audit::SignedCheckpoint) {
        if !self.evacuator.policy.checkpoints {
            return;
        }
        let checkpoint = signed.checkpoint();
        let Some(epoch) = epoch_of(&checkpoint.origin) else {
            return;
        };
        let key = self.reader.layout().checkpoint_key(epoch, checkpoint.size);
        let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.reader.store().put(&key, signed.note().as_bytes())
        }));
        if !matches!(put, Ok(Ok(_))) {
            tracing::warn!(%key, "cold: the final checkpoint could not be exported");
        }
    }

    pub(super) fn stats(&self) -> ColdStats {
        self.evacuator.uploader.stats()
    }
}

/// Turns the uploader's reports into audit leaves and events, under the vault's lock like
/// every other lifecycle step.
#[derive(Debug)]
pub(super) struct ColdJournal {
    pub(super) vault: Arc<Mutex<Vault>>,
    pub(super) bus: Arc<EventBus>,
    pub(super) clock: Arc<dyn Clock>,
}

impl ColdJournal {
    fn now(&self) -> Timestamp {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.clock.now()))
            .unwrap_or(Timestamp::EPOCH)
    }

    fn record(&self, f: impl FnOnce(&mut Recorder<'_>, Timestamp)) {
        let at = self.now();
        with_vault(
            &self.vault,
            &self.bus,
            None,
            || at,
            |_, recorder| {
                recorder.changes.at = Some(at);
                f(recorder, at);
            },
        );
    }
}

impl Reporter for ColdJournal {
    fn evacuated(&self, done: Evacuated) {
        self.record(|recorder, at| {
            let record = EvidenceRecord::new(
                RecordType::Evacuated,
                at,
                &done.signature,
                done.size,
                done.severity,
            )
            .with_reason(done.cause.code())
            .with_digest(destination_digest(&done.key, &done.envelope_hash));
            let audit_leaf = recorder.append(&record);
            recorder.changes.push(|| EventKind::EvidenceEvacuated {
                signature: done.signature.clone(),
                severity: done.severity,
                key: done.key.clone(),
                envelope_hash: done.envelope_hash,
                cause: done.cause,
                audit_leaf,
            });
        });
    }

    fn lost(&self, lost: Lost) {
        self.record(|recorder, at| {
            recorder.record_loss_of(&lost.signature, lost.severity, lost.size, lost.reason, at);
        });
    }

    fn store_state(&self, unreachable: Option<String>) {
        let event = match unreachable {
            Some(message) => EventKind::ColdStoreUnreachable { message },
            None => EventKind::ColdStoreRecovered,
        };
        self.bus.publish(self.now(), [event]);
    }
}

impl Recorder<'_> {
    /// Audits and events evidence that will not reach cold storage.
    pub(super) fn record_loss(&mut self, receipt: &Receipt, reason: LossReason, at: Timestamp) {
        let size = receipt.size as u64;
        self.record_loss_of(&receipt.signature, receipt.severity, size, reason, at);
    }

    fn record_loss_of(
        &mut self,
        signature: &Signature,
        severity: Severity,
        size: u64,
        reason: LossReason,
        at: Timestamp,
    ) {
        let record = EvidenceRecord::new(RecordType::ColdDropped, at, signature, size, severity)
            .with_reason(reason.code());
        // No log line: a full queue under a flood would log once per threat, on the hot
        // path; the counter, the leaf and the event say it.
        let audit_leaf = self.append(&record);
        self.changes.push(|| EventKind::EvacuationLost {
            signature: signature.clone(),
            severity,
            reason,
            audit_leaf,
        });
    }
}

/// The audit writer's listener: the event bus, and the cold store for signed checkpoints.
#[derive(Debug)]
pub(super) struct Tee {
    bus: Arc<EventBus>,
    cold: OnceLock<Arc<Uploader>>,
}

impl Tee {
    pub(super) fn new(bus: Arc<EventBus>) -> Tee {
        Tee {
            bus,
            cold: OnceLock::new(),
        }
    }

    pub(super) fn export_to(&self, uploader: Arc<Uploader>) {
        let _ = self.cold.set(uploader);
    }
}

impl Listener for Tee {
    fn hear(&self, at: Timestamp, notice: Notice) {
        if let Notice::CheckpointSigned(signed) = &notice
            && let Some(uploader) = self.cold.get()
        {
            export(uploader, signed);
        }
        self.bus.hear(at, notice);
    }
}

fn export(uploader: &Uploader, signed: &crate::audit::SignedCheckpoint) {
    let checkpoint = signed.checkpoint();
    if let Some(epoch) = epoch_of(&checkpoint.origin) {
        uploader.offer_checkpoint(epoch, checkpoint.size, signed.note());
    }
}

/// The epoch an origin (`<deployment>/tracehound/<epoch>`) names.
fn epoch_of(origin: &str) -> Option<u64> {
    origin.rsplit('/').next()?.parse().ok()
}

/// What [`Tracehound::erase`] did, per piece of evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Erasure {
    /// Every piece of evidence found, with where and what was deleted.
    pub evidence: Vec<ErasedEvidence>,
    /// Set if the cold store could not be listed or failed mid-way: the evidence listed
    /// above was erased, and the request should be repeated once the store answers.
    pub store_error: Option<crate::cold::ColdError>,
}

/// One piece of erased evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasedEvidence {
    /// The evidence.
    pub signature: Signature,
    /// Where it was found.
    pub places: ErasedFrom,
    /// Object keys deleted from the cold store.
    pub deleted: Vec<ObjectKey>,
    /// Object keys the store refused to delete (for example under an S3 Object Lock
    /// retention), with its reason: the evidence is still there.
    pub refused: Vec<(ObjectKey, String)>,
    /// Its `erased` audit record; `None` if the store refused every delete, so nothing was
    /// erased.
    pub audit_leaf: Option<AuditLeaf>,
}

impl Inner {
    fn cold(&self) -> Result<&Cold, Error> {
        self.cold.as_ref().ok_or(Error::ColdDisabled)
    }

    fn evacuate(&self, signature: &Signature) -> Result<ObjectKey, Error> {
        let cold = self.cold()?;
        let (bytes, receipt) = self
            .vault
            .lock()
            .quarantine
            .evidence(signature)
            .ok_or(Error::NotFound)?;
        let key = cold
            .reader
            .layout()
            .evidence_key(signature, receipt.captured);
        match cold
            .evacuator
            .offer(&receipt, &bytes, EvacuationCause::OnDemand, None)
        {
            Ok(()) => Ok(key),
            Err(reason) => {
                let at = self.now_or_epoch();
                self.with_vault(|_, recorder| {
                    recorder.changes.at = Some(at);
                    recorder.record_loss(&receipt, reason.clone(), at);
                });
                Err(Error::Evacuation(reason))
            }
        }
    }

    /// Evacuates everything held (without removing it) and waits, until `deadline`, for
    /// the uploader to write or spool it. Once only.
    pub(super) fn evacuate_held(&self, deadline: Instant) {
        let Some(cold) = &self.cold else { return };
        if cold.shut.swap(true, Ordering::AcqRel) {
            return;
        }
        if cold.evacuator.policy.on_shutdown {
            let held: Vec<_> = {
                let vault = self.vault.lock();
                let quarantine = &vault.quarantine;
                quarantine
                    .list()
                    .iter()
                    .filter_map(|r| quarantine.evidence(&r.signature))
                    .collect()
            };
            for (bytes, receipt) in held {
                let cause = EvacuationCause::Shutdown;
                if let Err(reason) = cold
                    .evacuator
                    .offer(&receipt, &bytes, cause, Some(deadline))
                {
                    let at = self.now_or_epoch();
                    self.with_vault(|_, recorder| {
                        recorder.changes.at = Some(at);
                        recorder.record_loss(&receipt, reason, at);
                    });
                }
            }
        }
        cold.uploader().drain(deadline);
    }

    fn erase(&self, selection: &Selection) -> Result<Erasure, Error> {
        let now = self.clock.now();
        let matches = selection.matcher();
        let mut found: Vec<(Signature, Severity, u64, ErasedEvidence)> = Vec::new();
        let mut index: HashMap<Signature, usize> = HashMap::new();
        let mut note =
            |signature: &Signature, severity, size, mark: &dyn Fn(&mut ErasedEvidence)| {
                let at = *index.entry(signature.clone()).or_insert_with(|| {
                    found.push((
                        signature.clone(),
                        severity,
                        size,
                        ErasedEvidence {
                            signature: signature.clone(),
                            places: ErasedFrom::default(),
                            deleted: Vec::new(),
                            refused: Vec::new(),
                            audit_leaf: None,
                        },
                    ));
                    found.len() - 1
                });
                mark(&mut found[at].3);
            };
        // Nothing selected and captured until now is written or spooled from here on, even
        // if it is still queued, pending or being written when the sweeps below pass.
        if let Some(cold) = &self.cold {
            cold.uploader()
                .forbid(selection, now.saturating_add(Duration::from_millis(1)));
        }
        // The quarantine first, so nothing selected is evacuated after the store is erased.
        let held = self.with_vault(|quarantine, recorder| {
            let selected: Vec<Receipt> = quarantine
                .list()
                .into_iter()
                .filter(|r| matches(&r.signature, r.captured, r.severity, &source_tag(&r.source)))
                .collect();
            for receipt in &selected {
                let removal = Removal::Purged(PurgeReason::Erasure);
                quarantine.remove(&receipt.signature, removal, now, recorder);
            }
            selected
        });
        for receipt in &held {
            note(
                &receipt.signature,
                receipt.severity,
                receipt.size as u64,
                &|e| {
                    e.places.quarantine = true;
                },
            );
        }
        let mut store_error = None;
        if let Some(cold) = &self.cold {
            let deadline = Instant::now() + cold.evacuator.policy.shutdown_deadline;
            cold.uploader().drain(deadline);
            if let Some(spool) = &cold.uploader().shared().spool {
                let mut spool = spool.lock();
                let selected = spool.matching(|entry| {
                    entry.evidence.as_ref().is_some_and(|(signature, tag)| {
                        signature.parse().is_ok_and(|s: Signature| {
                            matches(
                                &s,
                                Timestamp::from_unix_millis(entry.captured_ms),
                                entry.severity,
                                tag,
                            )
                        })
                    })
                });
                for (rank, entry) in selected {
                    let Some((text, _)) = &entry.evidence else {
                        continue;
                    };
                    let Ok(signature) = text.parse::<Signature>() else {
                        continue;
                    };
                    if let Err(error) = spool.remove(rank) {
                        tracing::warn!(%error, "erase: a spool entry could not be deleted");
                        continue;
                    }
                    note(&signature, entry.severity, entry.size, &|e| {
                        e.places.spool = true
                    });
                }
            }
            match cold.reader.erase(selection) {
                Ok(objects) => {
                    for object in objects {
                        let store = !object.deleted.is_empty();
                        note(&object.signature, object.severity, object.size, &|e| {
                            e.places.store |= store;
                            e.deleted.extend(object.deleted.iter().cloned());
                            e.refused.extend(object.refused.iter().cloned());
                        });
                    }
                }
                Err(error) => store_error = Some(error),
            }
        }
        let at = self.now_or_epoch();
        let evidence = self.with_vault(|_, recorder| {
            recorder.changes.at = Some(at);
            found
                .into_iter()
                .map(|(signature, severity, size, mut erased)| {
                    if erased.places == ErasedFrom::default() {
                        // Only refused: nothing was erased, so nothing is recorded as erased.
                        return erased;
                    }
                    let record =
                        EvidenceRecord::new(RecordType::Erased, at, &signature, size, severity)
                            .with_reason(erased.places.code());
                    erased.audit_leaf = recorder.append(&record);
                    let (places, audit_leaf) = (erased.places, erased.audit_leaf);
                    recorder.changes.push(|| EventKind::EvidenceErased {
                        signature,
                        places,
                        audit_leaf,
                    });
                    erased
                })
                .collect()
        });
        Ok(Erasure {
            evidence,
            store_error,
        })
    }
}

impl Tracehound {
    /// Sends held evidence to cold storage now, keeping it in the quarantine. Returns the
    /// key its envelope will have; the upload happens on the uploader's thread
    /// ([`EventKind::EvidenceEvacuated`] says when it is there).
    ///
    /// [`Error::ColdDisabled`] without cold storage, [`Error::NotFound`] if it is not held,
    /// [`Error::Evacuation`] if the uploader's queue is full.
    pub fn evacuate(&self, signature: &Signature) -> Result<ObjectKey, Error> {
        guard("evacuate", || self.inner.evacuate(signature))
    }

    /// Erases the selected evidence everywhere tracehound keeps it: the quarantine (where
    /// it is recorded as purged for erasure), the spool and the cold store (decided from
    /// object keys, without downloading anything). Each piece of evidence gets one `erased`
    /// audit leaf naming where it was found; the log keeps only hashes, so its proofs
    /// still verify. Objects the store refuses to delete are reported in
    /// [`ErasedEvidence::refused`], never skipped. Selected evidence captured before the
    /// call that is still on its way to the store (queued, waiting for an unreachable store,
    /// being written) never arrives there, or is deleted again if it just did: each piece
    /// gets a `cold-dropped` leaf with reason 8 and an `EvacuationLost` event instead.
    pub fn erase(&self, selection: &Selection) -> Result<Erasure, Error> {
        guard("erase", || self.inner.erase(selection))
    }

    /// A reader of this deployment's cold store: list, verified reads.
    pub fn cold_reader(&self) -> Option<ColdReader> {
        self.inner.cold.as_ref().map(|c| c.reader.clone())
    }

    /// Evacuates everything still held (if `cold.on_shutdown`), exports a last signed
    /// checkpoint, and waits up to `cold.shutdown_deadline` for the uploader to write or
    /// spool it all. Afterwards the `Tracehound` still intercepts, but evacuations are
    /// refused (each audited as lost). Dropping the last handle does the same if this was
    /// not called. Without cold storage it only returns.
    pub fn shutdown(&self) -> Result<(), Error> {
        guard("shutdown", || {
            let inner = &self.inner;
            let Some(cold) = &inner.cold else {
                return Ok(());
            };
            let deadline = Instant::now() + cold.evacuator.policy.shutdown_deadline;
            inner.evacuate_held(deadline);
            if let Ok(signed) = self.checkpoint() {
                export(cold.uploader(), &signed);
            }
            cold.uploader().finish(deadline);
            Ok(())
        })
    }
}
