//! The uploader: a thread the library owns that seals evacuated evidence in envelopes and
//! writes them to the cold store, spooling to disk while the store is unreachable.
//!
//! The hot path only offers evidence handles to a bounded queue ([`Uploader::offer`]) and
//! never waits. A failed write marks the store down: the item goes to the spool (or, with no
//! spool, is held and retried while the queue fills), and retries follow an exponential
//! backoff with jitter, timed by the injected clock and drawn from the injected randomness.
//! While the store is up, the spool drains one entry per turn of the loop, between new
//! items. Everything that cannot be kept is reported to the [`Reporter`] as lost, so it is
//! counted, audited and evented: nothing is lost silently.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;
use tracehound_codec::{Digest, envelope};

use crate::clock::{Clock, Timestamp};
use crate::evidence::{EvidenceBytes, Receipt};
use crate::random::Random;
use crate::scent::Severity;
use crate::signature::Signature;

use super::layout::{Layout, Manifest, ManifestFacts, source_tag, tag_of};
use super::read::Selection;
use super::spool::{Item, PushError, Spool};
use super::{ColdConfig, ColdError, ColdStore, ObjectKey, Put};

/// Longest the loop sleeps before looking at the clock again while it waits to retry.
const POLL: Duration = Duration::from_millis(50);

/// How long after the shutdown deadline what is still queued may be written to the spool;
/// after that it is reported lost.
const SPOOL_GRACE: Duration = Duration::from_secs(2);

/// Most pieces the uploader takes from the queue into one batch: the store is synced once
/// per batch, so a larger one syncs less often.
const BATCH_ITEMS: usize = 128;

/// A batch stops growing once its envelopes hold this many bytes. With the batch written
/// before it and not yet synced, the uploader holds at most two batches beyond the queue.
const BATCH_BYTES: usize = 8 << 20;

/// Why evidence was evacuated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvacuationCause {
    /// It was evicted to make room.
    Evicted,
    /// It was removed by `flush`.
    Flushed,
    /// It was removed by `neutralize`.
    Neutralized,
    /// It outlived `quarantine.max_age`.
    Expired,
    /// It was still held when the `Tracehound` shut down.
    Shutdown,
    /// [`Tracehound::evacuate`](crate::Tracehound::evacuate) asked for it.
    OnDemand,
}

impl EvacuationCause {
    /// The reason code of its `evacuated` audit record.
    pub const fn code(self) -> u8 {
        match self {
            EvacuationCause::Evicted => 1,
            EvacuationCause::Flushed => 2,
            EvacuationCause::Neutralized => 3,
            EvacuationCause::Expired => 4,
            EvacuationCause::Shutdown => 5,
            EvacuationCause::OnDemand => 6,
        }
    }

    /// The name written in manifests.
    pub const fn as_str(self) -> &'static str {
        match self {
            EvacuationCause::Evicted => "evicted",
            EvacuationCause::Flushed => "flushed",
            EvacuationCause::Neutralized => "neutralized",
            EvacuationCause::Expired => "expired",
            EvacuationCause::Shutdown => "shutdown",
            EvacuationCause::OnDemand => "on-demand",
        }
    }
}

/// Why evidence meant for cold storage did not get there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// The uploader's queue was full (by count or bytes).
    QueueFull,
    /// The spool was full and this ranked lowest (severity, then age).
    SpoolFull,
    /// The spool's disk failed.
    SpoolFailed {
        /// The operating system's message.
        message: String,
    },
    /// The store already holds a different object under its key: an integrity problem,
    /// never overwritten.
    Conflict {
        /// The key.
        key: ObjectKey,
    },
    /// The store refused the write.
    Refused {
        /// The key.
        key: ObjectKey,
        /// The store's reason.
        message: String,
    },
    /// Evacuation had shut down, or the shutdown deadline passed with the store unreachable
    /// and no spool.
    Closed,
    /// The envelope could not be sealed.
    Unsealable,
    /// It was erased (`Tracehound::erase`) while it waited to be written.
    Erased,
}

impl LossReason {
    /// The reason code of its `cold-dropped` audit record.
    pub const fn code(&self) -> u8 {
        match self {
            LossReason::QueueFull => 1,
            LossReason::SpoolFull => 2,
            LossReason::SpoolFailed { .. } => 3,
            LossReason::Conflict { .. } => 4,
            LossReason::Refused { .. } => 5,
            LossReason::Closed => 6,
            LossReason::Unsealable => 7,
            LossReason::Erased => 8,
        }
    }
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::QueueFull => f.write_str("the evacuation queue was full"),
            LossReason::SpoolFull => f.write_str("the spool was full"),
            LossReason::SpoolFailed { message } => write!(f, "the spool failed: {message}"),
            LossReason::Conflict { key } => {
                write!(f, "the store holds a different object at {key}")
            }
            LossReason::Refused { key, message } => {
                write!(f, "the store refused {key}: {message}")
            }
            LossReason::Closed => f.write_str("evacuation had shut down"),
            LossReason::Unsealable => f.write_str("the envelope could not be sealed"),
            LossReason::Erased => f.write_str("it was erased before it was written"),
        }
    }
}

/// Evidence on its way to the store.
#[derive(Debug)]
pub(crate) struct Evacuation {
    pub(crate) receipt: Receipt,
    pub(crate) bytes: EvidenceBytes,
    pub(crate) cause: EvacuationCause,
}

/// Evidence the store now holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evacuated {
    pub(crate) signature: Signature,
    pub(crate) severity: Severity,
    pub(crate) size: u64,
    pub(crate) key: ObjectKey,
    pub(crate) envelope_hash: Digest,
    pub(crate) cause: EvacuationCause,
}

/// Evidence that did not reach the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lost {
    pub(crate) signature: Signature,
    pub(crate) severity: Severity,
    pub(crate) size: u64,
    pub(crate) reason: LossReason,
}

/// Who hears what the uploader did; the facade audits and events it.
pub(crate) trait Reporter: Send + Sync + fmt::Debug {
    /// The store holds it (written now, or found already there).
    fn evacuated(&self, evacuated: Evacuated);
    /// It will not reach the store.
    fn lost(&self, lost: Lost);
    /// The store became unreachable (`Some(message)`) or reachable again (`None`).
    fn store_state(&self, unreachable: Option<String>);
}

/// Counters of the uploader, the queue and the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColdStats {
    /// Whether evacuation is configured.
    pub enabled: bool,
    /// Evacuations accepted into the queue.
    pub queued: u64,
    /// Envelopes written to the store (each with its manifest).
    pub uploaded: u64,
    /// Envelopes the store already held, byte for byte.
    pub existing: u64,
    /// Envelope bytes written to the store.
    pub bytes: u64,
    /// Items written to the spool.
    pub spooled: u64,
    /// Retries of an unreachable store.
    pub retried: u64,
    /// Evidence that did not reach the store, each audited and evented.
    pub dropped: u64,
    /// Keys that held a different object (also counted in `dropped`).
    pub conflicts: u64,
    /// Signed checkpoints written to the store.
    pub checkpoints: u64,
    /// Spool files found damaged or half-written, and deleted.
    pub spool_discarded: u64,
    /// Evacuations waiting in the queue now.
    pub queue_len: usize,
    /// Payload bytes waiting in the queue now.
    pub queue_bytes: usize,
    /// Spool files now.
    pub spool_files: usize,
    /// Bytes of spool files now.
    pub spool_bytes: u64,
    /// Whether the store is unreachable now.
    pub store_down: bool,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    uploaded: AtomicU64,
    existing: AtomicU64,
    bytes: AtomicU64,
    spooled: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    conflicts: AtomicU64,
    checkpoints: AtomicU64,
    spool_discarded: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// What the offering side and the thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    counters: Counters,
    queue_bytes: AtomicUsize,
    max_queue_bytes: usize,
    closed: AtomicBool,
    /// Set by [`Uploader::finish`]: the loop stops taking turns and runs its shutdown.
    stopping: AtomicBool,
    down: AtomicBool,
    stop_at: Mutex<Option<Instant>>,
    pub(crate) spool: Option<Mutex<Spool>>,
    pub(crate) store: Arc<dyn ColdStore>,
    pub(crate) layout: Layout,
    /// Erasures whose evidence may still be on its way: nothing they select that was
    /// captured before them is written or spooled. Cleared when nothing is on its way.
    erasures: Mutex<Vec<Tombstone>>,
}

/// An erasure, as the uploader keeps it until nothing queued before it remains.
#[derive(Debug)]
struct Tombstone {
    selection: Selection,
    /// Evidence captured at or after this is not the erased evidence.
    before: Timestamp,
}

enum Message {
    Evidence(Evacuation),
    Checkpoint(Item),
    Drain(Sender<()>),
    Stop,
}

/// The offering side of the uploader.
#[derive(Debug)]
pub(crate) struct Uploader {
    tx: Sender<Message>,
    shared: Arc<Shared>,
    done: Receiver<()>,
    checkpoints: bool,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Message::Evidence(_) => "Evidence",
            Message::Checkpoint(_) => "Checkpoint",
            Message::Drain(_) => "Drain",
            Message::Stop => "Stop",
        })
    }
}

/// What the uploader thread needs besides the store.
pub(crate) struct Start {
    pub(crate) store: Arc<dyn ColdStore>,
    pub(crate) layout: Layout,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) reporter: Arc<dyn Reporter>,
}

impl Uploader {
    /// Opens the spool (if configured) and starts the thread.
    pub(crate) fn start(config: &ColdConfig, start: Start) -> std::io::Result<Uploader> {
        let (spool, discarded) = match &config.spool {
            Some(spool) => {
                let (spool, opened) = Spool::open(spool)?;
                (Some(Mutex::new(spool)), opened.discarded)
            }
            None => (None, 0),
        };
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            queue_bytes: AtomicUsize::new(0),
            max_queue_bytes: config.queue_bytes.get(),
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            down: AtomicBool::new(false),
            stop_at: Mutex::new(None),
            spool,
            store: start.store,
            layout: start.layout,
            erasures: Mutex::new(Vec::new()),
        });
        bump(&shared.counters.spool_discarded, discarded);
        let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity.get());
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let writers = Writers::start(&shared, config.upload_concurrency.get())?;
        let worker = Worker {
            rx,
            shared: Arc::clone(&shared),
            clock: start.clock,
            random: start.random,
            reporter: start.reporter,
            retry_initial: config.retry_initial,
            retry_max: config.retry_max,
            down: None,
            pending: Vec::new(),
            unsynced: Vec::new(),
            writers,
        };
        thread::Builder::new()
            .name("tracehound-cold".into())
            .spawn(move || {
                worker.run();
                let _ = done_tx.send(());
            })?;
        Ok(Uploader {
            tx,
            shared,
            done,
            checkpoints: config.checkpoints,
        })
    }

    /// What the thread and erasure share.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Offers evidence: without waiting when `deadline` is `None` (the hot path), else
    /// waiting until `deadline` for room (shutdown). Says why if it cannot be queued; the
    /// evidence handle is then let go.
    pub(crate) fn offer_within(
        &self,
        evacuation: Evacuation,
        deadline: Option<Instant>,
    ) -> Result<(), LossReason> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(LossReason::Closed);
        }
        let size = evacuation.bytes.as_slice().len();
        while !self.reserve(size) {
            match deadline {
                Some(deadline) if Instant::now() < deadline => thread::sleep(POLL / 50),
                _ => return Err(LossReason::QueueFull),
            }
        }
        let message = Message::Evidence(evacuation);
        let refused = match deadline {
            None => self
                .tx
                .try_send(message)
                .err()
                .map(|e| matches!(e, TrySendError::Full(_))),
            Some(deadline) => self
                .tx
                .send_deadline(message, deadline)
                .err()
                .map(|e| matches!(e, crossbeam_channel::SendTimeoutError::Timeout(_))),
        };
        match refused {
            None => {
                bump(&self.shared.counters.queued, 1);
                Ok(())
            }
            Some(full) => {
                self.shared.queue_bytes.fetch_sub(size, Ordering::AcqRel);
                Err(if full {
                    LossReason::QueueFull
                } else {
                    LossReason::Closed
                })
            }
        }
    }

    /// Takes `size` bytes of the queue's byte budget, if they are free.
    fn reserve(&self, size: usize) -> bool {
        let max = self.shared.max_queue_bytes;
        self.shared
            .queue_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(size).filter(|&total| total <= max)
            })
            .is_ok()
    }

    /// Offers a signed checkpoint's note without waiting; a full queue skips it (the next
    /// checkpoint covers it), counted nowhere else than in the store's absence of it.
    pub(crate) fn offer_checkpoint(&self, epoch: u64, size: u64, note: &str) {
        if !self.checkpoints || self.shared.closed.load(Ordering::Acquire) {
            return;
        }
        let item = Item {
            key: self.shared.layout.checkpoint_key(epoch, size),
            manifest: None,
            body: note.as_bytes().to_vec(),
        };
        if self.tx.try_send(Message::Checkpoint(item)).is_err() {
            tracing::warn!(epoch, size, "cold: checkpoint export skipped, queue full");
        }
    }

    /// Waits until everything queued before now has been written or spooled, or `deadline`
    /// passes; whether it was.
    pub(crate) fn drain(&self, deadline: Instant) -> bool {
        let (reply, replied) = crossbeam_channel::bounded(1);
        self.tx
            .send_deadline(Message::Drain(reply), deadline)
            .is_ok()
            && replied.recv_deadline(deadline).is_ok()
    }

    /// Refuses new offers from now on, lets the thread write what is queued until
    /// `deadline` (spooling the rest, or reporting it lost), and waits for it to end, a
    /// little past the deadline at most.
    pub(crate) fn finish(&self, deadline: Instant) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.shared.stop_at.lock() = Some(deadline);
        self.shared.stopping.store(true, Ordering::Release);
        // Wakes a thread waiting for work; a full queue needs no waking.
        let _ = self.tx.try_send(Message::Stop);
        // Spooling what the deadline left gets a fixed grace; one write in flight
        // may outlast that, and the store's own timeouts bound it.
        let _ = self
            .done
            .recv_deadline(hard_deadline(deadline) + Duration::from_secs(2));
    }

    /// The counters, queue and spool now.
    pub(crate) fn stats(&self) -> ColdStats {
        let c = &self.shared.counters;
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (spool_files, spool_bytes) = self.shared.spool.as_ref().map_or((0, 0), |s| {
            let s = s.lock();
            (s.len(), s.bytes())
        });
        ColdStats {
            enabled: true,
            queued: read(&c.queued),
            uploaded: read(&c.uploaded),
            existing: read(&c.existing),
            bytes: read(&c.bytes),
            spooled: read(&c.spooled),
            retried: read(&c.retried),
            dropped: read(&c.dropped),
            conflicts: read(&c.conflicts),
            checkpoints: read(&c.checkpoints),
            spool_discarded: read(&c.spool_discarded),
            queue_len: self.tx.len(),
            queue_bytes: self.shared.queue_bytes.load(Ordering::Relaxed),
            spool_files,
            spool_bytes,
            store_down: self.shared.down.load(Ordering::Relaxed),
        }
    }

    /// From now until nothing queued before now remains, evidence `selection` selects that
    /// was captured before `now` is not written or spooled: it is reported lost as
    /// [`LossReason::Erased`]. Called by an erasure before it sweeps the spool and the store,
    /// so that nothing it erases arrives there after it.
    pub(crate) fn forbid(&self, selection: &Selection, now: Timestamp) {
        self.shared.erasures.lock().push(Tombstone {
            selection: selection.clone(),
            before: now,
        });
    }

    /// Counts a loss the offering side reports itself (a refused offer).
    pub(crate) fn count_loss(&self) {
        bump(&self.shared.counters.dropped, 1);
    }
}

impl Shared {
    /// Whether an erasure on its way selects evidence with these facts; `tag` (its source
    /// tag, a hash) is computed only if there is an erasure to compare it with.
    fn erased(
        &self,
        signature: &Signature,
        captured: Timestamp,
        severity: Severity,
        tag: impl FnOnce() -> String,
    ) -> bool {
        let erasures = self.erasures.lock();
        if erasures.is_empty() {
            return false;
        }
        let tag = tag();
        erasures.iter().any(|erasure| {
            captured < erasure.before
                && erasure.selection.matcher()(signature, captured, severity, &tag)
        })
    }

    /// [`erased`](Self::erased) for a sealed item, from its manifest (a checkpoint is
    /// never erased).
    fn item_erased(&self, item: &Item) -> bool {
        let Some(manifest) = &item.manifest else {
            return false;
        };
        let Some((signature, severity)) = identity(manifest) else {
            return false;
        };
        let captured = Timestamp::from_unix_millis(manifest.captured_ms);
        self.erased(&signature, captured, severity, || tag_of(&manifest.source))
    }
}

/// An unreachable store: how many tries failed in a row, and when to try next.
#[derive(Debug, Clone, Copy)]
struct Down {
    failures: u32,
    next_at: Timestamp,
}

struct Worker {
    rx: Receiver<Message>,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    reporter: Arc<dyn Reporter>,
    retry_initial: Duration,
    retry_max: Duration,
    down: Option<Down>,
    /// With no spool: the items held while the store is down (at most two batches: the
    /// one being written and the one before it, whose sync failed).
    pending: Vec<Item>,
    /// The batch written last, not yet synced nor reported: its sync overlaps the writes
    /// of the next one when that is already queued.
    unsynced: Vec<(Item, Result<Put, ColdError>)>,
    writers: Writers,
}

/// A message that is not an item: handled after the items before it are delivered.
enum Control {
    Drain(Sender<()>),
    Stop,
}

/// The threads that write a batch to the store concurrently: a store's latency (a round
/// trip to a bucket, an fsync on a local disk) overlaps instead of adding up.
struct Writers {
    work: Option<Sender<(usize, Item)>>,
    done: Receiver<(usize, Item, Result<Put, ColdError>)>,
    /// Items per batch: [`BATCH_ITEMS`], or twice the writer threads if more, so that
    /// none waits for the next batch.
    batch: usize,
}

/// Items handed to the writer threads, and the results of those written on the calling
/// thread.
#[derive(Default)]
struct InFlight {
    sent: usize,
    results: Vec<(usize, Item, Result<Put, ColdError>)>,
    /// The bytes of every item pushed.
    bytes: usize,
}

impl InFlight {
    /// Whether this is a whole batch of at most `items`.
    fn full(&self, items: usize) -> bool {
        batch_full(self.sent + self.results.len(), self.bytes, items)
    }
}

/// Whether `count` items of `bytes` make a whole batch of at most `items`.
fn batch_full(count: usize, bytes: usize, items: usize) -> bool {
    count >= items || bytes >= BATCH_BYTES
}

impl Writers {
    fn start(shared: &Arc<Shared>, threads: usize) -> std::io::Result<Writers> {
        let batch = (threads * 2).max(BATCH_ITEMS);
        let (work, jobs) = crossbeam_channel::bounded::<(usize, Item)>(batch);
        let (finished, done) = crossbeam_channel::bounded(batch);
        for n in 0..threads {
            let (jobs, finished, shared) = (jobs.clone(), finished.clone(), Arc::clone(shared));
            thread::Builder::new()
                .name(format!("tracehound-cold-{n}"))
                .spawn(move || {
                    for (at, item) in jobs {
                        let result = put(&shared, &item);
                        if finished.send((at, item, result)).is_err() {
                            return;
                        }
                    }
                })?;
        }
        Ok(Writers {
            work: Some(work),
            done,
            batch,
        })
    }

    /// Writes every item, concurrently, and gives each back with its result, in order.
    fn put_all(&self, shared: &Shared, items: Vec<Item>) -> Vec<(Item, Result<Put, ColdError>)> {
        let mut flight = InFlight::default();
        for item in items {
            self.push(shared, &mut flight, item);
        }
        self.collect(flight)
    }

    /// Hands `item` to a writer thread without waiting for it, and says whether `flight`
    /// is a full batch. An item beyond a batch, or with no threads to take it, is written
    /// here and now: the writers' channels hold one batch each, so more in flight could
    /// leave both sides waiting.
    fn push(&self, shared: &Shared, flight: &mut InFlight, item: Item) -> bool {
        let at = flight.sent + flight.results.len();
        flight.bytes += item.body.len();
        let item = match &self.work {
            Some(work) if flight.sent < self.batch => match work.send((at, item)) {
                Ok(()) => {
                    flight.sent += 1;
                    return flight.full(self.batch);
                }
                Err(crossbeam_channel::SendError((_, item))) => item,
            },
            _ => item,
        };
        let result = put(shared, &item);
        flight.results.push((at, item, result));
        flight.full(self.batch)
    }

    /// Waits for the writer threads' results of `flight`, and gives every item back with
    /// its result, in the order sent.
    fn collect(&self, flight: InFlight) -> Vec<(Item, Result<Put, ColdError>)> {
        let InFlight {
            sent, mut results, ..
        } = flight;
        // Every writer thread answers for each item it took; they end only when `work` does.
        for _ in 0..sent {
            match self.done.recv() {
                Ok(done) => results.push(done),
                Err(_) => break,
            }
        }
        results.sort_by_key(|(at, _, _)| *at);
        results
            .into_iter()
            .map(|(_, item, result)| (item, result))
            .collect()
    }

    /// [`put_all`](Self::put_all), then the store's [`sync`](ColdStore::sync) if anything
    /// was written: a failed sync makes every write of the batch a failure to retry.
    fn put_durably(
        &self,
        shared: &Shared,
        items: Vec<Item>,
    ) -> Vec<(Item, Result<Put, ColdError>)> {
        synced(shared, self.put_all(shared, items))
    }
}

/// `results` after the store's [`sync`](ColdStore::sync) if any was written: a failed sync
/// makes every write among them a failure to retry.
fn synced(
    shared: &Shared,
    mut results: Vec<(Item, Result<Put, ColdError>)>,
) -> Vec<(Item, Result<Put, ColdError>)> {
    if results.iter().any(|(_, r)| r.is_ok()) {
        let synced = panic::catch_unwind(AssertUnwindSafe(|| shared.store.sync()))
            .unwrap_or_else(|_| Err(ColdError::unavailable("the cold store panicked")));
        if let Err(error) = synced {
            for (_, result) in &mut results {
                if result.is_ok() {
                    *result = Err(error.clone());
                }
            }
        }
    }
    results
}

impl Drop for Writers {
    /// Ends the writer threads: they finish the item in hand and see the queue closed.
    fn drop(&mut self) {
        self.work.take();
    }
}

/// Writes the envelope, then its manifest: the manifest names an object that exists. A
/// panicking store is an unavailable one.
fn put(shared: &Shared, item: &Item) -> Result<Put, ColdError> {
    let (store, layout) = (&shared.store, &shared.layout);
    panic::catch_unwind(AssertUnwindSafe(|| {
        let put = store.put(&item.key, &item.body)?;
        if let Some(manifest) = &item.manifest {
            store.put(&layout.manifest_key(manifest), &manifest.to_json())?;
        }
        Ok(put)
    }))
    .unwrap_or_else(|_| Err(ColdError::unavailable("the cold store panicked")))
}

impl Worker {
    fn run(mut self) {
        loop {
            if self.shared.stopping.load(Ordering::Acquire) {
                break;
            }
            if !self.pending.is_empty() {
                thread::sleep(self.until_retry());
                self.retry();
                continue;
            }
            let message = match self.wait() {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(wait) => self.rx.recv_timeout(wait),
            };
            match message {
                Ok(first) => {
                    let control = if self.down.is_some() {
                        let (batch, control) = self.gather_batch(first);
                        self.deliver(batch);
                        control
                    } else {
                        // Each item goes to the writer threads as soon as it is sealed.
                        let mut flight = InFlight::default();
                        let (writers, shared) = (&self.writers, &self.shared);
                        let control =
                            self.gather(first, |item| writers.push(shared, &mut flight, item));
                        self.land(flight);
                        control
                    };
                    if control.is_some() {
                        self.settle();
                    }
                    match control {
                        Some(Control::Drain(reply)) => {
                            let _ = reply.send(());
                        }
                        Some(Control::Stop) => break,
                        None => {}
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.down.is_some() {
                self.retry();
            } else {
                self.upload_spooled();
            }
            if self.pending.is_empty() && self.unsynced.is_empty() && self.rx.is_empty() {
                // Nothing queued before any erasure remains.
                self.shared.erasures.lock().clear();
            }
        }
        self.stop();
    }

    /// Takes `first` and whatever else is queued, until `add` says the batch is full or a
    /// control message comes (returned), handing `add` each item, evidence sealed.
    fn gather(&self, first: Message, mut add: impl FnMut(Item) -> bool) -> Option<Control> {
        let mut message = first;
        loop {
            match self.take(message) {
                Err(control) => return Some(control),
                Ok(Some(item)) => {
                    if add(item) {
                        return None;
                    }
                }
                Ok(None) => {}
            }
            match self.rx.try_recv() {
                Ok(next) => message = next,
                Err(_) => return None,
            }
        }
    }

    /// [`gather`](Self::gather) into a batch held here.
    fn gather_batch(&self, first: Message) -> (Vec<Item>, Option<Control>) {
        let (mut batch, mut bytes) = (Vec::new(), 0);
        let control = self.gather(first, |item| {
            bytes += item.body.len();
            batch.push(item);
            batch_full(batch.len(), bytes, self.writers.batch)
        });
        (batch, control)
    }

    /// A queued message as an item to write (evidence sealed; `None` if it cannot be), or
    /// the control message it is.
    fn take(&self, message: Message) -> Result<Option<Item>, Control> {
        match message {
            Message::Evidence(evacuation) => Ok(self.seal(evacuation)),
            Message::Checkpoint(item) => Ok(Some(item)),
            Message::Drain(reply) => Err(Control::Drain(reply)),
            Message::Stop => Err(Control::Stop),
        }
    }

    fn stop_at(&self) -> Option<Instant> {
        *self.shared.stop_at.lock()
    }

    fn now(&self) -> Timestamp {
        panic::catch_unwind(AssertUnwindSafe(|| self.clock.now())).unwrap_or(Timestamp::EPOCH)
    }

    /// How long to wait for a message: forever when idle, a poll while retrying, not at all
    /// while the spool has entries to drain.
    fn wait(&self) -> Option<Duration> {
        if self.down.is_some() {
            Some(self.until_retry())
        } else if self.spool_len() > 0 {
            Some(Duration::ZERO)
        } else {
            None
        }
    }

    fn until_retry(&self) -> Duration {
        self.down.map_or(POLL, |down| {
            down.next_at.saturating_duration_since(self.now()).min(POLL)
        })
    }

    fn spool_len(&self) -> usize {
        self.shared.spool.as_ref().map_or(0, |s| s.lock().len())
    }

    /// Seals evidence into its envelope and manifest, letting go of the payload handle.
    fn seal(&self, evacuation: Evacuation) -> Option<Item> {
        let Evacuation {
            receipt,
            bytes,
            cause,
        } = evacuation;
        let payload = bytes.as_slice();
        let size = payload.len();
        let signature = receipt.signature();
        let erased = self
            .shared
            .erased(signature, receipt.captured(), receipt.severity(), || {
                source_tag(receipt.source())
            });
        let sealed = if erased {
            Err(LossReason::Erased)
        } else {
            envelope::seal(payload).map_err(|_| LossReason::Unsealable)
        };
        drop(bytes);
        self.shared.queue_bytes.fetch_sub(size, Ordering::AcqRel);
        let body = match sealed {
            Ok(body) => body,
            Err(reason) => {
                self.lose(Lost {
                    signature: signature.clone(),
                    severity: receipt.severity(),
                    size: size as u64,
                    reason,
                });
                return None;
            }
        };
        let key = self
            .shared
            .layout
            .evidence_key(signature, receipt.captured());
        let facts = ManifestFacts {
            signature,
            severity: receipt.severity(),
            size: size as u64,
            captured: receipt.captured(),
            source: receipt.source(),
            audit_leaf: receipt.audit_leaf().map(|l| [l.epoch, l.index]),
            cause: cause.as_str(),
        };
        let manifest = Manifest::new(facts, &key, &body);
        Some(Item {
            key,
            manifest: Some(manifest),
            body,
        })
    }

    /// Writes `batch` to the store, or holds it while the store is down. While the writer
    /// threads write it, the batch before is synced and reported; this one is too, unless
    /// another is queued already (then its sync overlaps that one's writes).
    fn deliver(&mut self, batch: Vec<Item>) {
        if batch.is_empty() || self.down.is_some() {
            self.settle();
            batch.into_iter().for_each(|item| self.hold(item));
            return;
        }
        let mut flight = InFlight::default();
        for item in batch {
            self.writers.push(&self.shared, &mut flight, item);
        }
        self.land(flight);
    }

    /// Syncs and reports the batch before while the writer threads write `flight`, then
    /// waits for them; their batch is synced and reported too unless another is queued.
    fn land(&mut self, flight: InFlight) {
        self.settle();
        self.unsynced = self.writers.collect(flight);
        if self.rx.is_empty() || self.down.is_some() {
            self.settle();
        }
    }

    /// Syncs the store and reports what was written since; what failed is held.
    fn settle(&mut self) {
        let written = std::mem::take(&mut self.unsynced);
        if written.is_empty() {
            return;
        }
        let mut unreachable = Vec::new();
        let mut failure = None;
        for (item, result) in synced(&self.shared, written) {
            match result {
                Ok(put) => self.landed(item, put),
                Err(ColdError::Unavailable { message }) => {
                    failure.get_or_insert(message);
                    unreachable.push(item);
                }
                Err(error) => self.refused(item, error),
            }
        }
        if let Some(message) = failure {
            self.failed(message);
            unreachable.into_iter().for_each(|item| self.hold(item));
        }
    }

    /// Keeps `item` until the store is back: in the spool, or with the pending items.
    fn hold(&mut self, item: Item) {
        if self.shared.item_erased(&item) {
            self.lose_item(&item, LossReason::Erased);
            return;
        }
        let Some(spool) = &self.shared.spool else {
            if self.stop_at().is_some() {
                self.lose_item(&item, LossReason::Closed);
            } else {
                self.pending.push(item);
            }
            return;
        };
        let pushed = spool.lock().push(&item);
        match pushed {
            Ok(dropped) => {
                bump(&self.shared.counters.spooled, 1);
                for victim in dropped {
                    self.lose_item(&victim, LossReason::SpoolFull);
                }
            }
            Err(PushError::Full) => self.lose_item(&item, LossReason::SpoolFull),
            Err(PushError::Io(error)) => self.lose_item(
                &item,
                LossReason::SpoolFailed {
                    message: error.to_string(),
                },
            ),
        }
    }

    /// At retry time, tries the pending items or the spool's first entries.
    fn retry(&mut self) {
        let Some(down) = self.down else {
            return;
        };
        if self.now() < down.next_at {
            return;
        }
        bump(&self.shared.counters.retried, 1);
        if !self.pending.is_empty() {
            let (erased, pending): (Vec<Item>, Vec<Item>) = std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|item| self.shared.item_erased(item));
            for item in &erased {
                self.lose_item(item, LossReason::Erased);
            }
            let mut failure = None;
            let mut reached = false;
            let mut done = Vec::new();
            for (item, result) in self.writers.put_durably(&self.shared, pending) {
                match result {
                    Err(ColdError::Unavailable { message }) => {
                        failure.get_or_insert(message);
                        self.pending.push(item);
                    }
                    other => {
                        reached = true;
                        done.push((item, other));
                    }
                }
            }
            if reached {
                self.recovered();
            }
            for (item, result) in done {
                match result {
                    Ok(put) => self.landed(item, put),
                    Err(error) => self.refused(item, error),
                }
            }
            if let Some(message) = failure {
                self.failed(message);
            }
        } else if !self.upload_spooled() {
            // Nothing to try with: the next item that arrives is the probe.
            self.recovered();
        }
    }

    /// Uploads the spool's first entries (one batch); whether there were any.
    fn upload_spooled(&mut self) -> bool {
        let Some(spool) = &self.shared.spool else {
            return false;
        };
        let taken: Vec<(super::spool::Rank, Item)> = {
            let mut spool = spool.lock();
            let ranks = spool.first(self.writers.batch);
            if ranks.is_empty() {
                return false;
            }
            // A batch's bytes are bounded as a queued batch's are (one entry over at most).
            let (mut taken, mut bytes) = (Vec::new(), 0);
            for rank in ranks {
                if bytes >= BATCH_BYTES {
                    break;
                }
                match spool.read(rank) {
                    Ok(Some(item)) => {
                        bytes += item.body.len();
                        taken.push((rank, item));
                    }
                    Ok(None) => bump(&self.shared.counters.spool_discarded, 1),
                    Err(error) => {
                        // Gone (erased meanwhile) or unreadable: either way not uploadable.
                        tracing::warn!(%error, "cold: a spool entry could not be read");
                        let _ = spool.remove(rank);
                    }
                }
            }
            taken
        };
        let (ranks, items): (Vec<_>, Vec<_>) = taken.into_iter().unzip();
        let results = self.writers.put_durably(&self.shared, items);
        let mut failure = None;
        for (rank, (item, result)) in ranks.into_iter().zip(results) {
            match result {
                Ok(put) => {
                    self.recovered();
                    self.unspool(rank);
                    self.landed(item, put);
                }
                Err(ColdError::Unavailable { message }) => {
                    failure.get_or_insert(message);
                }
                Err(error) => {
                    self.recovered();
                    self.unspool(rank);
                    self.refused(item, error);
                }
            }
        }
        if let Some(message) = failure {
            self.failed(message);
        }
        true
    }

    fn unspool(&self, rank: super::spool::Rank) {
        if let Some(spool) = &self.shared.spool
            && let Err(error) = spool.lock().remove(rank)
        {
            tracing::warn!(%error, "cold: a spool entry could not be deleted");
        }
    }

    fn failed(&mut self, message: String) {
        let failures = self.down.map_or(1, |d| d.failures.saturating_add(1));
        if self.down.is_none() {
            self.shared.down.store(true, Ordering::Relaxed);
            tracing::warn!(%message, "cold store unreachable; spooling");
            self.reporter.store_state(Some(message));
        }
        self.down = Some(Down {
            failures,
            next_at: self.now().saturating_add(self.backoff(failures)),
        });
    }

    fn recovered(&mut self) {
        if self.down.take().is_some() {
            self.shared.down.store(false, Ordering::Relaxed);
            self.reporter.store_state(None);
        }
    }

    /// The wait after the `failures`-th failure in a row: doubling from `retry_initial` up
    /// to `retry_max`, then a uniformly drawn point in its upper half.
    fn backoff(&self, failures: u32) -> Duration {
        let doubled = self
            .retry_initial
            .saturating_mul(1 << failures.saturating_sub(1).min(20));
        let ceiling = doubled.min(self.retry_max);
        let half = ceiling / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(self.random.next_u64() % spread)
    }

    /// A write the store has made durable: reported, unless an erasure selected the
    /// evidence meanwhile (its sweep of the store may have come before the write), which
    /// deletes it again.
    fn landed(&self, item: Item, put: Put) {
        if self.shared.item_erased(&item) {
            self.unwrite(item);
        } else {
            self.written(item, put);
        }
    }

    /// Deletes what was written for erased evidence, and reports it lost as erased.
    fn unwrite(&self, item: Item) {
        let store = &self.shared.store;
        let mut keys = vec![item.key.clone()];
        keys.extend(
            item.manifest
                .as_ref()
                .map(|m| self.shared.layout.manifest_key(m)),
        );
        for key in &keys {
            let deleted = panic::catch_unwind(AssertUnwindSafe(|| store.delete(key)))
                .unwrap_or_else(|_| Err(ColdError::unavailable("the cold store panicked")));
            if let Err(error) = deleted {
                tracing::warn!(%key, %error, "cold: erased evidence written meanwhile could not be deleted");
            }
        }
        let _ = panic::catch_unwind(AssertUnwindSafe(|| store.sync()));
        self.lose_item(&item, LossReason::Erased);
    }

    fn written(&self, item: Item, put: Put) {
        let c = &self.shared.counters;
        let Some(manifest) = item.manifest else {
            bump(&c.checkpoints, 1);
            return;
        };
        match put {
            Put::Created => {
                bump(&c.uploaded, 1);
                bump(&c.bytes, item.body.len() as u64);
            }
            _ => bump(&c.existing, 1),
        }
        let Some((signature, severity)) = identity(&manifest) else {
            return;
        };
        self.reporter.evacuated(Evacuated {
            signature,
            severity,
            size: manifest.size,
            envelope_hash: Digest::of(&item.body),
            key: item.key,
            cause: cause_of(&manifest.cause),
        });
    }

    fn refused(&self, item: Item, error: ColdError) {
        let reason = match error {
            ColdError::Conflict { key } => {
                bump(&self.shared.counters.conflicts, 1);
                LossReason::Conflict { key }
            }
            ColdError::Refused { key, message } => LossReason::Refused { key, message },
            other => LossReason::Refused {
                key: item.key.clone(),
                message: other.to_string(),
            },
        };
        tracing::warn!(key = %item.key, %reason, "cold: write refused");
        self.lose_item(&item, reason);
    }

    fn lose_item(&self, item: &Item, reason: LossReason) {
        let Some(manifest) = &item.manifest else {
            tracing::warn!(key = %item.key, %reason, "cold: checkpoint not exported");
            return;
        };
        if let Some((signature, severity)) = identity(manifest) {
            self.lose(Lost {
                signature,
                severity,
                size: manifest.size,
                reason,
            });
        }
    }

    fn lose(&self, lost: Lost) {
        bump(&self.shared.counters.dropped, 1);
        self.reporter.lost(lost);
    }

    /// Shutdown: what is still queued goes to the store until the deadline, then to the
    /// spool until a grace after it; what is left then, or finds no spool, is reported lost.
    fn stop(mut self) {
        let deadline = self.stop_at().unwrap_or_else(Instant::now);
        self.settle();
        for item in std::mem::take(&mut self.pending) {
            self.lose_item(&item, LossReason::Closed);
        }
        while let Ok(first) = self.rx.try_recv() {
            let (batch, control) = self.gather_batch(first);
            if let Some(Control::Drain(reply)) = control {
                let _ = reply.send(());
            }
            let now = Instant::now();
            if now >= hard_deadline(deadline) {
                batch
                    .iter()
                    .for_each(|item| self.lose_item(item, LossReason::Closed));
            } else if now < deadline && self.down.is_none() {
                self.deliver(batch);
                for item in std::mem::take(&mut self.pending) {
                    self.lose_item(&item, LossReason::Closed);
                }
            } else {
                batch.into_iter().for_each(|item| self.hold(item));
            }
        }
        self.settle();
        for item in std::mem::take(&mut self.pending) {
            self.lose_item(&item, LossReason::Closed);
        }
    }
}

/// When shutdown stops spooling too.
fn hard_deadline(deadline: Instant) -> Instant {
    deadline + SPOOL_GRACE
}

/// The signature and severity a manifest names.
fn identity(manifest: &Manifest) -> Option<(Signature, Severity)> {
    Some((
        manifest.signature.parse().ok()?,
        manifest.severity.parse().ok()?,
    ))
}

fn cause_of(name: &str) -> EvacuationCause {
    [
        EvacuationCause::Evicted,
        EvacuationCause::Flushed,
        EvacuationCause::Neutralized,
        EvacuationCause::Expired,
        EvacuationCause::Shutdown,
        EvacuationCause::OnDemand,
    ]
    .into_iter()
    .find(|c| c.as_str() == name)
    .unwrap_or(EvacuationCause::OnDemand)
}
