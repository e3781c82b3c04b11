//! Events: what happened, for whoever subscribed, without ever slowing the request path.
//!
//! Each subscription has its own bounded queue. Publishing never waits: when a queue is full
//! the event is dropped for that subscriber and counted, both on the
//! [`Subscription`] and in the [`Snapshot`](crate::Snapshot). What the audit log found on
//! open (a torn tail cut, a reset) and damaged sealed epochs are kept and replayed to every
//! new subscription, because they happen before anyone can subscribe.

mod config;

pub use self::config::EventsConfig;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::audit::writer::{Listener, Notice};
use crate::audit::{AuditError, SignedCheckpoint};
use crate::clock::Timestamp;
use crate::cold::ErasedFrom;
use crate::cold::{EvacuationCause, LossReason, ObjectKey};
use crate::error::{Error, SubscribeError};
use crate::evidence::{AuditLeaf, EvictionCause, PurgeReason, Receipt};
use crate::hound::Analysis;
use crate::scent::{Category, Severity, SourceKey};
use crate::signature::Signature;
use tracehound_codec::Digest;

/// One event, numbered in publication order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    id: u64,
    at: Timestamp,
    kind: EventKind,
}

impl Event {
    /// Sequence number: unique across all events of one [`Tracehound`](crate::Tracehound),
    /// and increasing in every subscription's queue. Events about one piece of evidence
    /// arrive in the order of its audit leaves.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When it was published, by tracehound's clock.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// Takes what happened.
    pub fn into_kind(self) -> EventKind {
        self.kind
    }
}

/// What happened. Events carry signatures, hashes, sizes and source keys, never payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A scent arrived with a threat signal (published before it is encoded).
    ThreatDetected {
        /// Who sent it.
        source: SourceKey,
        /// The detector's category.
        category: Category,
        /// The detector's severity.
        severity: Severity,
    },
    /// New evidence was kept.
    EvidenceQuarantined(Receipt),
    /// Evidence was removed to make room.
    EvidenceEvicted {
        /// The evidence as it was held.
        evidence: Receipt,
        /// Which cap required it.
        cause: EvictionCause,
        /// The audit leaf recording it.
        audit_leaf: Option<AuditLeaf>,
    },
    /// New evidence ranked below everything that would have had to make room, so it was not
    /// kept (and nothing was evicted for it).
    EvidenceDropped {
        /// Its signature.
        signature: Signature,
        /// Its severity.
        severity: Severity,
        /// Its size in bytes.
        size: usize,
        /// The audit leaf recording the drop (the leaf before it records its entry).
        audit_leaf: Option<AuditLeaf>,
    },
    /// Evidence was neutralized (by `neutralize` or `flush`).
    EvidenceNeutralized {
        /// The evidence as it was held.
        evidence: Receipt,
        /// The audit leaf recording it.
        audit_leaf: Option<AuditLeaf>,
    },
    /// Evidence was purged.
    EvidencePurged {
        /// The evidence as it was held.
        evidence: Receipt,
        /// Why.
        reason: PurgeReason,
        /// The audit leaf recording it.
        audit_leaf: Option<AuditLeaf>,
    },
    /// Evidence was replaced by other evidence.
    EvidenceReplaced {
        /// The evidence as it was held.
        evidence: Receipt,
        /// The audit leaf recording it.
        audit_leaf: Option<AuditLeaf>,
    },
    /// Evidence outlived the configured maximum age.
    EvidenceExpired {
        /// The evidence as it was held.
        evidence: Receipt,
        /// The audit leaf recording it.
        audit_leaf: Option<AuditLeaf>,
    },
    /// The audit log could not take a record (its queue is full: the disk is slow or
    /// failing). Published once per run of lost records; the records are counted in
    /// [`AuditStats::lost`](crate::AuditStats) and, once the log takes records again,
    /// marked by a gap leaf.
    AuditUnavailable,
    /// A gap leaf now records `lost` records the log could not take.
    AuditGapRecorded {
        /// Records lost since the previous gap leaf.
        lost: u64,
        /// The gap leaf.
        audit_leaf: AuditLeaf,
    },
    /// Writing, committing or signing the audit log failed. Published once per run of
    /// failures; the writer retries on its own.
    AuditWriteFailed {
        /// What failed.
        error: AuditError,
    },
    /// Opening the audit log cut a torn tail: the end of a write a crash interrupted (in
    /// the newest epoch's last segment or its checkpoint file). Under the `always` and
    /// interval fsync policies nothing in those bytes had been acknowledged; a torn tail
    /// without a crash before it means someone cut the files. Replayed to every new
    /// subscription.
    AuditTornTailCut {
        /// The epoch whose files were cut.
        epoch: u64,
        /// Bytes cut.
        bytes: u64,
    },
    /// The audit log found its stored history missing, damaged or contradicted, and
    /// started over because `audit.accept_lost_history` is set: the new epoch's first leaf
    /// is a `reset` record. Replayed to every new subscription.
    AuditHistoryReset {
        /// The new epoch.
        epoch: u64,
        /// What was wrong.
        error: AuditError,
    },
    /// A sealed audit epoch failed its background verification: its files were changed,
    /// cut or deleted since it was sealed. Keep them as evidence. Replayed to every new
    /// subscription.
    AuditEpochDamaged {
        /// The epoch.
        epoch: u64,
        /// What is wrong.
        error: AuditError,
    },
    /// A checkpoint was signed. Ship it off the host (to a SIEM, a witness, a WORM store):
    /// any checkpoint kept elsewhere exposes a later rewrite of the log.
    CheckpointSigned(SignedCheckpoint),
    /// A request was refused by the rate limiter.
    RateLimitExceeded {
        /// Who sent it.
        source: SourceKey,
        /// When the source may send again.
        retry_after: Duration,
    },
    /// A hound finished a job on quarantined evidence (analysed it, refused it, or failed).
    EvidenceAnalysed(Arc<Analysis>),
    /// Evidence was not analysed because every hound worker was busy and the pool's policy is
    /// [`Exhaustion::Escalate`](crate::Exhaustion): add workers, or look for a flood.
    AnalysisEscalated {
        /// The evidence.
        signature: Signature,
    },
    /// `intercept` failed inside tracehound; the request was answered
    /// [`Outcome::Error`](crate::Outcome::Error) and should pass.
    InterceptFailed {
        /// The failure.
        error: Error,
    },
    /// Evidence reached cold storage (written now, or found there byte for byte).
    EvidenceEvacuated {
        /// The evidence.
        signature: Signature,
        /// Its severity.
        severity: Severity,
        /// The envelope's object key.
        key: ObjectKey,
        /// SHA-256 of the envelope object.
        envelope_hash: Digest,
        /// Why it was evacuated.
        cause: EvacuationCause,
        /// The `evacuated` audit record.
        audit_leaf: Option<AuditLeaf>,
    },
    /// Evidence meant for cold storage did not get there.
    EvacuationLost {
        /// The evidence.
        signature: Signature,
        /// Its severity.
        severity: Severity,
        /// Why.
        reason: LossReason,
        /// The `cold-dropped` audit record.
        audit_leaf: Option<AuditLeaf>,
    },
    /// The cold store stopped answering; evidence spools (or waits) until it is back.
    ColdStoreUnreachable {
        /// The store's message.
        message: String,
    },
    /// The cold store answers again; the spool drains.
    ColdStoreRecovered,
    /// Evidence was erased on request.
    EvidenceErased {
        /// The evidence.
        signature: Signature,
        /// Where it was found: in the quarantine, the spool, the cold store.
        places: ErasedFrom,
        /// The `erased` audit record.
        audit_leaf: Option<AuditLeaf>,
    },
}

/// A bounded queue of events from one [`Tracehound`](crate::Tracehound).
///
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    receiver: Receiver<Event>,
    dropped: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

impl Subscription {
    /// The next event, waiting for one; `None` once the `Tracehound` is gone and the queue is
    /// empty.
    pub fn recv(&self) -> Option<Event> {
        self.receiver.recv().ok()
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// Every event queued now, without waiting.
    pub fn drain(&self) -> impl Iterator<Item = Event> + '_ {
        self.receiver.try_iter()
    }

    /// Events queued now.
    pub fn len(&self) -> usize {
        self.receiver.len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }

    /// Events this subscription lost because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Subscriber {
    sender: Sender<Event>,
    dropped: Arc<AtomicU64>,
    /// Set when the [`Subscription`] is dropped.
    closed: Arc<AtomicBool>,
}

impl Subscriber {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// Event counters for the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BusCounts {
    pub(crate) subscribers: usize,
    pub(crate) published: u64,
    pub(crate) dropped: u64,
}

/// Most events kept to replay to new subscriptions.
const MAX_RETAINED: usize = 16;

/// Fan-out to subscriptions.
#[derive(Debug)]
pub(crate) struct EventBus {
    /// Events every new subscription receives first: what opening the audit log found,
    /// which happens before anyone can subscribe. Bounded by [`MAX_RETAINED`].
    retained: Mutex<Vec<Event>>,
    /// A mutex rather than a read-write lock: publishing is serialized so that event ids
    /// increase in every subscriber's queue. Publishing never waits on a subscriber.
    subscribers: Mutex<Vec<Subscriber>>,
    active: AtomicUsize,
    next_id: AtomicU64,
    dropped: AtomicU64,
    max_subscribers: usize,
    max_queue: usize,
}

impl EventBus {
    pub(crate) fn new(max_subscribers: usize, max_queue: usize) -> Self {
        Self {
            retained: Mutex::new(Vec::new()),
            subscribers: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            max_subscribers,
            max_queue,
        }
    }

    /// Whether anyone listens; callers skip building events when not.
    pub(crate) fn wanted(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn subscribe(&self, capacity: usize) -> Result<Subscription, SubscribeError> {
        if capacity == 0 || capacity > self.max_queue {
            return Err(SubscribeError::InvalidCapacity {
                max: self.max_queue,
            });
        }
        let mut subscribers = self.subscribers.lock();
        subscribers.retain(|s| !s.is_closed());
        if subscribers.len() >= self.max_subscribers {
            self.active.store(subscribers.len(), Ordering::Relaxed);
            return Err(SubscribeError::TooMany {
                max: self.max_subscribers,
            });
        }
        let (sender, receiver) = crossbeam_channel::bounded(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        // Under the subscribers' lock, so no event published later can overtake these.
        for event in self.retained.lock().iter() {
            if sender.try_send(event.clone()).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let closed = Arc::new(AtomicBool::new(false));
        subscribers.push(Subscriber {
            sender,
            dropped: Arc::clone(&dropped),
            closed: Arc::clone(&closed),
        });
        self.active.store(subscribers.len(), Ordering::Relaxed);
        Ok(Subscription {
            receiver,
            dropped,
            closed,
        })
    }

    /// Offers each event to every subscriber without waiting.
    pub(crate) fn publish(&self, at: Timestamp, kinds: impl IntoIterator<Item = EventKind>) {
        if !self.wanted() {
            return;
        }
        let mut saw_gone = false;
        {
            let subscribers = self.subscribers.lock();
            for kind in kinds {
                let event = Event {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    at,
                    kind,
                };
                for subscriber in subscribers.iter() {
                    match subscriber.sender.try_send(event.clone()) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            subscriber.dropped.fetch_add(1, Ordering::Relaxed);
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(TrySendError::Disconnected(_)) => saw_gone = true,
                    }
                }
            }
        }
        if saw_gone {
            self.prune();
        }
    }

    /// Publishes `kind` and keeps it for every later subscription (at most
    /// [`MAX_RETAINED`] such events are kept; later ones are only published).
    pub(crate) fn publish_retained(&self, at: Timestamp, kind: EventKind) {
        let subscribers = self.subscribers.lock();
        let event = Event {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            at,
            kind,
        };
        for subscriber in subscribers.iter() {
            if subscriber.sender.try_send(event.clone()).is_err() {
                subscriber.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut retained = self.retained.lock();
        if retained.len() < MAX_RETAINED {
            retained.push(event);
        }
    }

    /// Forgets subscriptions whose receiver was dropped.
    pub(crate) fn prune(&self) {
        let mut subscribers = self.subscribers.lock();
        subscribers.retain(|s| !s.is_closed());
        self.active.store(subscribers.len(), Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> BusCounts {
        BusCounts {
            subscribers: self.active.load(Ordering::Relaxed),
            published: self.next_id.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

impl From<Notice> for EventKind {
    fn from(notice: Notice) -> Self {
        match notice {
            Notice::Unavailable => EventKind::AuditUnavailable,
            Notice::GapRecorded { lost, audit_leaf } => {
                EventKind::AuditGapRecorded { lost, audit_leaf }
            }
            Notice::WriteFailed(error) => EventKind::AuditWriteFailed { error },
            Notice::CheckpointSigned(checkpoint) => EventKind::CheckpointSigned(checkpoint),
            Notice::TornTailCut { epoch, bytes } => EventKind::AuditTornTailCut { epoch, bytes },
            Notice::HistoryReset { epoch, error } => EventKind::AuditHistoryReset { epoch, error },
            Notice::EpochDamaged { epoch, error } => EventKind::AuditEpochDamaged { epoch, error },
        }
    }
}

/// The audit writer's notices become events; those about the log's state before anyone could
/// subscribe are kept for every later subscription.
impl Listener for EventBus {
    fn hear(&self, at: Timestamp, notice: Notice) {
        if notice.is_lasting() {
            self.publish_retained(at, notice.into());
        } else {
            self.publish(at, [notice.into()]);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn torn(bytes: u64) -> EventKind {
        EventKind::AuditTornTailCut { epoch: 1, bytes }
    }

    #[test]
    fn retained_events_reach_every_later_subscription_first_and_stay_bounded() {
        let bus = EventBus::new(4, 64);
        let at = Timestamp::EPOCH;
        for bytes in 0..MAX_RETAINED as u64 + 5 {
            bus.publish_retained(at, torn(bytes));
        }
        bus.publish(at, [EventKind::AuditUnavailable]);
        for _ in 0..2 {
            let sub = bus.subscribe(32).unwrap();
            let kinds: Vec<EventKind> = sub.drain().map(Event::into_kind).collect();
            let expected: Vec<EventKind> = (0..MAX_RETAINED as u64).map(torn).collect();
            assert_eq!(kinds, expected, "the first {MAX_RETAINED}, in order");
            // Later events follow, with larger ids.
            bus.publish(at, [EventKind::AuditUnavailable]);
            assert_eq!(
                sub.try_recv().map(Event::into_kind),
                Some(EventKind::AuditUnavailable)
            );
        }
        // A queue too small for them loses the rest, counted.
        let small = bus.subscribe(3).unwrap();
        assert_eq!(small.len(), 3);
        assert_eq!(small.dropped(), (MAX_RETAINED - 3) as u64);
    }
}
