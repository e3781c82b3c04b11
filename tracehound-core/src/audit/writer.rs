//! How the facade writes the log without ever waiting on it.
//!
//! Under the vault lock, the [`Sequencer`] numbers each record and hands it to a bounded
//! queue with `try_send`; a thread the library owns appends, commits (group commit under
//! the fsync policy) and signs checkpoints on schedule. The leaf index is known at once
//! because nothing between the queue and the log reorders or drops records. When the queue
//! is full (the disk is slow or failing) the record is not numbered: it is counted as lost,
//! and once the queue has room again a gap leaf records how many were lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;
use tracehound_codec::Digest;

use super::record::{EvidenceRecord, MAX_INLINE_RECORD_LEN, encode_gap};
use super::stats::{AuditStats, SealedStats};
use super::{
    AuditCounts, AuditError, AuditLog, FsyncPolicy, OpenReport, ResetCause, SealedEpochs,
    SignedCheckpoint, merkle,
};
use crate::clock::{Clock, Timestamp};
use crate::evidence::AuditLeaf;

/// What the log has to tell whoever assembled it; the facade turns each notice into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Records are being lost: the queue is full (published once per run of losses).
    Unavailable,
    /// A gap leaf now records `lost` records the log could not take.
    GapRecorded { lost: u64, audit_leaf: AuditLeaf },
    /// Writing, committing or signing failed (once per run of failures).
    WriteFailed(AuditError),
    /// A checkpoint was signed.
    CheckpointSigned(SignedCheckpoint),
    /// Opening the log cut a torn write.
    TornTailCut { epoch: u64, bytes: u64 },
    /// Opening the log found stored history missing and started over.
    HistoryReset { epoch: u64, error: AuditError },
    /// A sealed epoch failed verification.
    EpochDamaged { epoch: u64, error: AuditError },
}

impl Notice {
    /// Whether the notice is about the log's state before anyone could listen, so a listener
    /// should keep it for those who come later.
    pub(crate) fn is_lasting(&self) -> bool {
        matches!(
            self,
            Notice::TornTailCut { .. } | Notice::HistoryReset { .. } | Notice::EpochDamaged { .. }
        )
    }
}

/// Who hears the writer's notices; must never block.
pub(crate) trait Listener: Send + Sync + std::fmt::Debug {
    /// Takes a notice dated `at`.
    fn hear(&self, at: Timestamp, notice: Notice);
}

pub(crate) enum Message {
    Record {
        bytes: [u8; MAX_INLINE_RECORD_LEN],
        len: u8,
    },
    Rotate {
        at: Timestamp,
    },
    /// Commit everything before this, then answer.
    Sync(Sender<()>),
}

/// What the writer publishes for snapshots.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) epoch: AtomicU64,
    /// Leaves numbered by the sequencer in the current epoch.
    pub(crate) numbered: AtomicU64,
    pub(crate) size: AtomicU64,
    pub(crate) durable: AtomicU64,
    pub(crate) head: Mutex<Option<(u64, Digest)>>,
    /// Records `intercept` could not hand to the log.
    pub(crate) lost: AtomicU64,
    pub(crate) gaps: AtomicU64,
    /// Failed appends, commits or checkpoints.
    pub(crate) failures: AtomicU64,
    pub(crate) failing: AtomicBool,
    pub(crate) poisoned: AtomicBool,
    pub(crate) checkpoints: AtomicU64,
    /// Unix nanoseconds of the last signed checkpoint (0: none yet).
    pub(crate) last_checkpoint_at: AtomicU64,
    pub(crate) last_checkpoint_size: AtomicU64,
    /// What opening the log found: torn bytes cut, and why it started over, if it did.
    pub(crate) torn_bytes: AtomicU64,
    pub(crate) reset: Mutex<Option<ResetCause>>,
    pub(crate) sealed: Mutex<SealedStats>,
    /// Set when the `Tracehound` is going away; the sealed-epoch verifier stops.
    pub(crate) closing: AtomicBool,
}

/// Numbers records and queues them; lives in the vault, under its lock.
#[derive(Debug)]
pub(crate) struct Sequencer {
    tx: Sender<Message>,
    epoch: u64,
    next: u64,
    limit: Option<u64>,
    gap_markers: bool,
    /// Records lost since the last gap leaf, and their claimed times.
    lost: u64,
    lost_first: Timestamp,
    lost_last: Timestamp,
    counts: AuditCounts,
    shared: Arc<Shared>,
}

impl Sequencer {
    /// Numbers and queues `record`; `None` when it could not be queued (counted as lost).
    pub(crate) fn append(
        &mut self,
        record: &EvidenceRecord<'_>,
        notices: &mut impl FnMut(Notice),
    ) -> Option<AuditLeaf> {
        if self.lost > 0 && self.gap_markers && !self.queue_gap(record.time, notices) {
            return self.lose(record.time, notices);
        }
        if self.limit.is_some_and(|max| self.next >= max) {
            if self
                .tx
                .try_send(Message::Rotate { at: record.time })
                .is_err()
            {
                return self.lose(record.time, notices);
            }
            self.epoch += 1;
            self.next = 1;
            self.counts.epoch_starts += 1;
        }
        let mut bytes = [0u8; MAX_INLINE_RECORD_LEN];
        let len = record.encode(self.next, &mut bytes) as u8;
        match self.tx.try_send(Message::Record { bytes, len }) {
            Ok(()) => {
                self.counts.count(record.kind);
                Some(self.take_index())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.lose(record.time, notices)
            }
        }
    }

    fn take_index(&mut self) -> AuditLeaf {
        let leaf = AuditLeaf {
            epoch: self.epoch,
            index: self.next,
        };
        self.next += 1;
        self.shared.numbered.store(self.next, Ordering::Relaxed);
        self.shared.epoch.store(self.epoch, Ordering::Relaxed);
        leaf
    }

    fn queue_gap(&mut self, now: Timestamp, notices: &mut impl FnMut(Notice)) -> bool {
        if self.limit.is_some_and(|max| self.next + 1 >= max) {
            // Let the rotation happen first; the gap goes in the new epoch.
            return true;
        }
        let mut bytes = [0u8; MAX_INLINE_RECORD_LEN];
        let len = encode_gap(
            self.next,
            now,
            self.lost,
            self.lost_first,
            self.lost_last,
            &mut bytes,
        ) as u8;
        if self.tx.try_send(Message::Record { bytes, len }).is_err() {
            return false;
        }
        let lost = std::mem::take(&mut self.lost);
        self.counts.gaps += 1;
        self.shared.gaps.fetch_add(1, Ordering::Relaxed);
        let leaf = self.take_index();
        notices(Notice::GapRecorded {
            lost,
            audit_leaf: leaf,
        });
        true
    }

    fn lose(&mut self, at: Timestamp, notices: &mut impl FnMut(Notice)) -> Option<AuditLeaf> {
        if self.lost == 0 {
            self.lost_first = at;
            notices(Notice::Unavailable);
        }
        self.lost += 1;
        self.lost_last = at;
        self.shared.lost.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Stops handing records to the writer, so it can finish once the queue is drained.
    pub(crate) fn close(&mut self) {
        let (tx, _) = crossbeam_channel::bounded(1);
        self.tx = tx;
    }

    /// A sequencer over a bare queue, for tests of what feeds it.
    #[cfg(test)]
    pub(crate) fn for_tests(capacity: usize) -> (Sequencer, Receiver<Message>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let sequencer = Sequencer {
            tx,
            epoch: 1,
            next: 0,
            limit: None,
            gap_markers: true,
            lost: 0,
            lost_first: Timestamp::EPOCH,
            lost_last: Timestamp::EPOCH,
            counts: AuditCounts::default(),
            shared: Arc::new(Shared::default()),
        };
        (sequencer, rx)
    }

    /// Records accepted into the queue, by type.
    pub(crate) fn counts(&self) -> AuditCounts {
        self.counts
    }
}

/// The writer thread's handle; dropping the sender side ends it after a final commit.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) log: Arc<Mutex<AuditLog>>,
    pub(crate) shared: Arc<Shared>,
    listener: Arc<dyn Listener>,
    tx: Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer for `log`; returns it and the sequencer for the vault.
pub(crate) fn start(
    log: AuditLog,
    queue: usize,
    checkpoint_every: Option<Duration>,
    gap_markers: bool,
    listener: Arc<dyn Listener>,
    clock: Arc<dyn Clock>,
) -> std::io::Result<(Writer, Sequencer)> {
    let (tx, rx) = crossbeam_channel::bounded(queue);
    let shared = Arc::new(Shared::default());
    shared.epoch.store(log.epoch(), Ordering::Relaxed);
    shared.numbered.store(log.size(), Ordering::Relaxed);
    publish_head(&shared, &log);
    let sequencer = Sequencer {
        tx: tx.clone(),
        epoch: log.epoch(),
        next: log.size(),
        limit: log.config().epoch_limit(),
        gap_markers,
        lost: 0,
        lost_first: Timestamp::EPOCH,
        lost_last: Timestamp::EPOCH,
        counts: AuditCounts::default(),
        shared: Arc::clone(&shared),
    };
    let fsync = log.config().fsync;
    let log = Arc::new(Mutex::new(log));
    let state = Loop {
        log: Arc::clone(&log),
        shared: Arc::clone(&shared),
        rx,
        fsync,
        checkpoint_every,
        listener: Arc::clone(&listener),
        clock,
        retry: Vec::new(),
        last_commit: Instant::now(),
        last_checkpoint: Instant::now(),
        uncommitted: false,
        reported: false,
        waiting: VecDeque::new(),
    };
    let thread = thread::Builder::new()
        .name("tracehound-audit".into())
        .spawn(move || state.run())?;
    Ok((
        Writer {
            log,
            shared,
            listener,
            tx,
            thread: Some(thread),
        },
        sequencer,
    ))
}

fn publish_head(shared: &Shared, log: &AuditLog) {
    shared.size.store(log.size(), Ordering::Relaxed);
    shared.durable.store(log.durable_size(), Ordering::Relaxed);
    if log.durable_size() == log.size() {
        *shared.head.lock() = Some((log.size(), log.root()));
    }
}

impl Writer {
    /// Counts a checkpoint signed at `at` and publishes it.
    pub(crate) fn signed(&self, checkpoint: &SignedCheckpoint, at: Timestamp) {
        signed(&self.shared, &*self.listener, checkpoint, at);
    }

    /// The figures for a snapshot taken at `now`.
    pub(crate) fn stats(&self, records: AuditCounts, now: Timestamp) -> AuditStats {
        let s = &self.shared;
        let (durable_size, root) = s.head.lock().unwrap_or((0, merkle::empty_root()));
        let at = s.last_checkpoint_at.load(Ordering::Relaxed);
        AuditStats {
            torn_bytes: s.torn_bytes.load(Ordering::Relaxed),
            reset: *s.reset.lock(),
            sealed: *s.sealed.lock(),
            epoch: s.epoch.load(Ordering::Relaxed),
            size: s.numbered.load(Ordering::Relaxed),
            durable_size,
            root,
            records,
            lost: s.lost.load(Ordering::Relaxed),
            gaps: s.gaps.load(Ordering::Relaxed),
            append_failures: s.failures.load(Ordering::Relaxed),
            failing: s.failing.load(Ordering::Relaxed),
            poisoned: s.poisoned.load(Ordering::Relaxed),
            checkpoints: s.checkpoints.load(Ordering::Relaxed),
            last_checkpoint_size: s.last_checkpoint_size.load(Ordering::Relaxed),
            last_checkpoint_age: (at != 0)
                .then(|| now.saturating_duration_since(Timestamp::from_unix_nanos(at))),
        }
    }

    /// Waits (at most `timeout`) until everything queued before the call is committed.
    pub(crate) fn sync(&self, timeout: Duration) -> Result<(), AuditError> {
        let (done, wait) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + timeout;
        self.tx
            .send_deadline(Message::Sync(done), deadline)
            .map_err(|e| match e {
                SendTimeoutError::Timeout(_) => AuditError::Timeout,
                SendTimeoutError::Disconnected(_) => AuditError::Closed,
            })?;
        // The writer answers once everything before the message is committed, and drops
        // the answer channel when it never will be (the log is poisoned).
        wait.recv_deadline(deadline).map_err(|e| match e {
            RecvTimeoutError::Timeout => AuditError::Timeout,
            RecvTimeoutError::Disconnected => AuditError::Closed,
        })
    }

    /// Publishes what opening the log found (torn tails cut, a reset) for snapshots and as
    /// events kept for every subscription, since nobody can subscribe before the build.
    pub(crate) fn opened(&self, report: &OpenReport, now: impl Fn() -> Timestamp) {
        self.shared
            .torn_bytes
            .store(report.torn_bytes, Ordering::Relaxed);
        if report.torn_bytes > 0 {
            tracing::warn!(
                epoch = report.epoch,
                bytes = report.torn_bytes,
                "tracehound audit log: a torn write was cut on open"
            );
            self.listener.hear(
                now(),
                Notice::TornTailCut {
                    epoch: report.epoch,
                    bytes: report.torn_bytes,
                },
            );
        }
        if let Some(error) = &report.reset {
            *self.shared.reset.lock() = error.reset_cause();
            self.listener.hear(
                now(),
                Notice::HistoryReset {
                    epoch: report.epoch,
                    error: error.clone(),
                },
            );
        }
    }

    /// Verifies the sealed epochs on a thread of their own, oldest first, publishing the
    /// progress for snapshots and an event for each damaged epoch. Never touches the log
    /// itself (sealed epochs are never written again), so the writer and `intercept` never
    /// wait on it; it stops early when the `Tracehound` goes away.
    pub(crate) fn verify_sealed(
        &self,
        sealed: SealedEpochs,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<()> {
        let epochs = sealed.epochs();
        *self.shared.sealed.lock() = SealedStats {
            epochs: epochs.clone().count() as u64,
            finished: epochs.is_empty(),
            ..SealedStats::default()
        };
        if epochs.is_empty() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let listener = Arc::clone(&self.listener);
        thread::Builder::new()
            .name("tracehound-audit-verify".into())
            .spawn(move || {
                let stop = || shared.closing.load(Ordering::Relaxed);
                for epoch in epochs {
                    match sealed.verify_until(epoch, &stop) {
                        Ok(_) => shared.sealed.lock().verified += 1,
                        Err(AuditError::Closed) => return,
                        Err(error) => {
                            {
                                let mut stats = shared.sealed.lock();
                                stats.damaged += 1;
                                stats.first_damaged.get_or_insert(epoch);
                            }
                            tracing::error!(epoch, %error, "tracehound sealed audit epoch is damaged");
                            let at = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                clock.now()
                            }))
                            .unwrap_or(Timestamp::EPOCH);
                            listener.hear(at, Notice::EpochDamaged { epoch, error });
                        }
                    }
                }
                shared.sealed.lock().finished = true;
            })
            .map(drop)
    }

    /// Stops the thread after it has written and committed everything queued.
    pub(crate) fn stop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        let (tx, _) = crossbeam_channel::bounded(1);
        // Replacing our sender leaves only the sequencer's, which the vault drops with us.
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Loop {
    log: Arc<Mutex<AuditLog>>,
    shared: Arc<Shared>,
    rx: Receiver<Message>,
    fsync: FsyncPolicy,
    /// How often a checkpoint is signed when the log has grown; `None`: on demand only.
    checkpoint_every: Option<Duration>,
    listener: Arc<dyn Listener>,
    clock: Arc<dyn Clock>,
    /// Messages taken from the queue but not yet in the log (after a failed write).
    retry: Vec<Message>,
    last_commit: Instant,
    last_checkpoint: Instant,
    uncommitted: bool,
    /// Whether the current run of failures has been reported.
    reported: bool,
    /// Callers waiting for everything before their sync message to be committed.
    waiting: VecDeque<Sender<()>>,
}

/// Most messages handled per batch (one group commit).
const BATCH: usize = 4096;
/// Most callers kept waiting for a commit; beyond it the oldest is told to give up.
const MAX_WAITING: usize = 1024;
/// Pause before retrying after a failure.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

fn signed(shared: &Shared, listener: &dyn Listener, checkpoint: &SignedCheckpoint, at: Timestamp) {
    shared.checkpoints.fetch_add(1, Ordering::Relaxed);
    shared
        .last_checkpoint_at
        .store(at.as_unix_nanos().max(1), Ordering::Relaxed);
    shared
        .last_checkpoint_size
        .store(checkpoint.checkpoint().size, Ordering::Relaxed);
    listener.hear(at, Notice::CheckpointSigned(checkpoint.clone()));
}

impl Loop {
    fn run(mut self) {
        loop {
            if !self.retry.is_empty() {
                thread::sleep(RETRY_PAUSE);
                let batch = std::mem::take(&mut self.retry);
                self.handle(batch);
                continue;
            }
            let first = match self.rx.recv_timeout(self.wait()) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch: Vec<Message> = first.into_iter().collect();
            while batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(_) => break,
                }
            }
            self.handle(batch);
        }
        // Everything queued is in; make it durable and sign a final checkpoint.
        let mut log = self.log.lock();
        let _ = log.commit();
        if log.size() > 0 {
            let _ = log.checkpoint();
        }
    }

    /// How long to wait for records before a timed commit or checkpoint is due.
    fn wait(&self) -> Duration {
        let mut wait = Duration::from_secs(1);
        if self.uncommitted
            && let FsyncPolicy::Every(every) = self.fsync
        {
            wait = wait.min(every.saturating_sub(self.last_commit.elapsed()));
        }
        if let Some(every) = self.checkpoint_every {
            wait = wait.min(every.saturating_sub(self.last_checkpoint.elapsed()));
        }
        wait
    }

    fn handle(&mut self, batch: Vec<Message>) {
        let shared_log = Arc::clone(&self.log);
        let mut log = shared_log.lock();
        let mut messages = batch.into_iter();
        while let Some(message) = messages.next() {
            let result = match &message {
                Message::Record { bytes, len } => {
                    log.append_encoded(&bytes[..usize::from(*len)]).map(drop)
                }
                Message::Rotate { at } => log.rotate(*at).map(|cp| self.signed(&cp)),
                Message::Sync(_) => Ok(()),
            };
            match result {
                Ok(()) => {
                    self.uncommitted = true;
                    if let Message::Sync(done) = message {
                        self.wait_for_commit(done);
                    }
                }
                Err(error @ AuditError::Io { .. }) if !log.is_poisoned() => {
                    // Keep this message and the rest for a retry; stop taking new ones.
                    self.fail(&error);
                    self.retry.push(message);
                    self.retry.extend(messages);
                    break;
                }
                Err(error) => {
                    // Poisoned, or a bug: the record cannot be logged. Count it.
                    self.fail(&error);
                    if let Message::Sync(done) = message {
                        self.wait_for_commit(done);
                    }
                }
            }
        }
        let due = match self.fsync {
            FsyncPolicy::Every(every) => self.last_commit.elapsed() >= every,
            FsyncPolicy::Always | FsyncPolicy::Never => true,
        };
        if self.uncommitted && (due || !self.waiting.is_empty() || !self.retry.is_empty()) {
            match log.commit() {
                Ok(_) => {
                    self.uncommitted = false;
                    self.last_commit = Instant::now();
                }
                Err(error) => self.fail(&error),
            }
        }
        if self
            .checkpoint_every
            .is_some_and(|every| self.last_checkpoint.elapsed() >= every)
            && !self.uncommitted
        {
            self.last_checkpoint = Instant::now();
            let grown = log
                .latest_checkpoint()
                .is_none_or(|cp| cp.checkpoint().size != log.size());
            if grown && log.size() > 0 {
                match log.checkpoint() {
                    Ok(cp) => self.signed(&cp),
                    Err(error) => self.fail(&error),
                }
            }
        }
        if self.retry.is_empty() && !self.uncommitted {
            self.reported = false;
            self.shared.failing.store(false, Ordering::Relaxed);
        }
        publish_head(&self.shared, &log);
        let poisoned = log.is_poisoned();
        drop(log);
        if self.retry.is_empty() && !self.uncommitted {
            for done in self.waiting.drain(..) {
                let _ = done.try_send(());
            }
        } else if poisoned {
            // Nothing more will be committed; dropping the answers tells the callers.
            self.waiting.clear();
        }
    }

    fn wait_for_commit(&mut self, done: Sender<()>) {
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(done);
    }

    fn signed(&self, checkpoint: &SignedCheckpoint) {
        signed(&self.shared, &*self.listener, checkpoint, self.now());
    }

    fn fail(&mut self, error: &AuditError) {
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
        self.shared.failing.store(true, Ordering::Relaxed);
        if matches!(error, AuditError::Poisoned) {
            self.shared.poisoned.store(true, Ordering::Relaxed);
        }
        if !self.reported {
            self.reported = true;
            tracing::error!(%error, "tracehound audit log write failed");
            self.listener
                .hear(self.now(), Notice::WriteFailed(error.clone()));
        }
    }

    fn now(&self) -> Timestamp {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.clock.now()))
            .unwrap_or(Timestamp::EPOCH)
    }
}
