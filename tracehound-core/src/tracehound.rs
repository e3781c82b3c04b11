//! The facade: one object that owns the whole pipeline.

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use tracehound_codec::Digest;
use zeroize::Zeroize;

use crate::audit::writer::{self, Sequencer, Writer};
use crate::audit::{AuditError, AuditLog, EvidenceProof, SignedCheckpoint, VerifierKey};
use crate::audit::{EvidenceRecord, RecordType};
use crate::canonical::{self, CanonicalForm, Limits};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::{
    Config, EventsConfig, Exhaustion, HoundConfig, MaintenanceConfig, QuarantineConfig,
    RateLimitConfig,
};
use crate::error::{ConfigError, Error};
use crate::events::{EventBus, EventKind, Subscription};
use crate::hound::pool::Pool;
use crate::hound::{Analysis, FactValue, HoundOutcome, HoundStats, HoundWorkers, analysis_digest};
use crate::hound::{Completed, Offered, Order, Sink};
use crate::quarantine::{
    Candidate, Changes, Inserted, PurgeReason, Quarantine, Receipt, Removal, Removed,
};
use crate::rate_limit::{RateLimiter, Verdict};
use crate::scent::{Scent, SourceKey, ThreatSignal};
use crate::signature::Signature;
use crate::snapshot::{
    EventStats, OutcomeCounts, QuarantineStats, RateLimitStats, SeverityCounts, Snapshot,
};
use std::collections::{HashMap, VecDeque};

/// What `intercept` decided. Tracehound never classifies: a scent without a threat signal is
/// always `Clean` (unless its source is rate limited).
///
/// Suggested HTTP mapping (the defaults of [`http::Responses`](crate::http::Responses)):
/// `RateLimited` → 429 with `Retry-After`; `PayloadTooLarge` → 413; `Quarantined`,
/// `Ignored`, `Dropped` and `Unencodable` → 403; `Clean` and `Error` → pass the request on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// No threat signal: let it through.
    Clean,
    /// The source exceeded its quota; it may send again after `retry_after`.
    RateLimited {
        /// Exact time until the source's next request would be accepted.
        retry_after: Duration,
    },
    /// A threat whose canonical payload is over the configured limit; not quarantined.
    PayloadTooLarge {
        /// The configured `max_payload_bytes`.
        limit: usize,
    },
    /// A threat whose payload has no canonical form within the configured limits: it nests
    /// deeper than `max_depth`, or holds a non-finite number. Not quarantined, but still a
    /// threat: refuse the request (403 by default: the body was not too large, its shape was
    /// refused).
    Unencodable {
        /// [`Error::PayloadTooDeep`] or [`Error::PayloadNotCanonical`].
        error: Error,
    },
    /// A threat already held in quarantine under this signature; a known threat.
    Ignored {
        /// The signature of the held evidence.
        signature: Signature,
    },
    /// New evidence, now held.
    Quarantined(Receipt),
    /// New evidence ranked below everything that would have had to make room, so it was not
    /// kept. Still a threat.
    Dropped {
        /// Its signature.
        signature: Signature,
    },
    /// Tracehound failed internally; the request should pass (fail-open). Counted and
    /// published as an [`EventKind::InterceptFailed`] event.
    Error(Error),
}

impl Outcome {
    /// Whether the request should be passed on: only when it is `Clean`, or when tracehound
    /// itself failed (`Error`, fail-open). Every other outcome, including ones added in
    /// later versions, refuses it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracehound::Outcome;
    ///
    /// assert!(Outcome::Clean.passes());
    /// assert!(!Outcome::RateLimited { retry_after: Duration::from_secs(1) }.passes());
    /// ```
    pub fn passes(&self) -> bool {
        matches!(self, Outcome::Clean | Outcome::Error(_))
    }

    fn index(&self) -> usize {
        match self {
            Outcome::Clean => 0,
            Outcome::RateLimited { .. } => 1,
            Outcome::PayloadTooLarge { .. } => 2,
            Outcome::Ignored { .. } => 3,
            Outcome::Quarantined(_) => 4,
            Outcome::Dropped { .. } => 5,
            Outcome::Error(_) => 6,
            Outcome::Unencodable { .. } => 7,
        }
    }
}

/// A source's admission by [`Tracehound::admit`]: the right to run the rest of one
/// intercept with [`Tracehound::intercept_admitted`]. It can only be had from `admit`, and
/// is used up by that call.
#[derive(Debug)]
#[must_use = "an admission is the right to run one intercept; pass it to intercept_admitted"]
pub struct Admitted {
    _private: (),
}

impl From<Inserted> for Outcome {
    fn from(inserted: Inserted) -> Self {
        match inserted {
            Inserted::Kept(receipt) => Outcome::Quarantined(receipt),
            Inserted::Duplicate(signature) => Outcome::Ignored { signature },
            Inserted::Dropped(signature) => Outcome::Dropped { signature },
        }
    }
}

/// New evidence from a scent's threat and its canonical bytes.
fn candidate<'a>(
    scent: &'a Scent,
    threat: &ThreatSignal,
    bytes: &'a [u8],
    signature: Signature,
) -> Candidate<'a> {
    Candidate {
        signature,
        bytes,
        severity: threat.severity,
        captured: scent.captured(),
        source: scent.source(),
    }
}

/// The result of [`Tracehound::replace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    removed: Removed,
    outcome: Outcome,
}

impl Replacement {
    /// The evidence that was replaced.
    pub fn removed(&self) -> &Removed {
        &self.removed
    }

    /// What happened to the replacement: [`Outcome::Quarantined`], [`Outcome::Ignored`] (it
    /// was already held) or [`Outcome::Dropped`].
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Maintenance {
    /// Evidence removed for outliving `quarantine.max_age`.
    pub expired: usize,
    /// Idle rate-limit keys forgotten.
    pub keys_forgotten: usize,
}

/// The runtime security buffer: rate limiting, quarantine, audit log and events behind one
/// `Send + Sync` object. Cloning is cheap and shares everything.
///
/// ```
/// use serde_json::json;
/// use tracehound::{Category, Outcome, Scent, Severity, Tracehound};
///
/// let th = Tracehound::builder().build().unwrap();
/// let scent = Scent::new("203.0.113.9", json!({"q": "1 UNION SELECT password"}))
///     .with_threat(Category::Injection, Severity::High);
///
/// let Outcome::Quarantined(receipt) = th.intercept(&scent) else { panic!() };
/// assert!(matches!(th.intercept(&scent), Outcome::Ignored { .. }));
/// assert_eq!(th.snapshot().audit.size, 1);
/// th.neutralize(receipt.signature()).unwrap();
/// assert_eq!(th.snapshot().quarantine.count, 0);
/// ```
#[derive(Clone)]
pub struct Tracehound {
    inner: Arc<Inner>,
}

impl fmt::Debug for Tracehound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracehound")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Tracehound`]; every setting has a default.
///
/// ```
/// use std::time::Duration;
/// use tracehound::{CanonicalForm, MaintenanceConfig, QuarantineConfig, RateLimitConfig, Tracehound};
///
/// let mut quarantine = QuarantineConfig::default();
/// quarantine.max_count = 1_000;
/// quarantine.max_age = Some(Duration::from_secs(3_600));
/// let tracehound = Tracehound::builder()
///     .quarantine(quarantine)
///     .rate_limit(RateLimitConfig::disabled())
///     .canonical_form(CanonicalForm::TracehoundJs)
///     .maintenance(MaintenanceConfig::manual())
///     .build()?;
/// assert_eq!(tracehound.config().quarantine.max_count, 1_000);
/// # Ok::<(), tracehound::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
}

impl Builder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The time source (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The quarantine bounds.
    pub fn quarantine(mut self, quarantine: QuarantineConfig) -> Self {
        self.config.quarantine = quarantine;
        self
    }

    /// The rate limit.
    pub fn rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.config.rate_limit = rate_limit;
        self
    }

    /// The canonical JSON form signatures are computed in.
    pub fn canonical_form(mut self, form: CanonicalForm) -> Self {
        self.config.canonical_form = form;
        self
    }

    /// The largest canonical payload quarantined, in bytes.
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.config.max_payload_bytes = bytes;
        self
    }

    /// The deepest nesting of arrays and objects in a threat payload.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.config.max_depth = depth;
        self
    }

    /// Event subscription limits.
    pub fn events(mut self, events: EventsConfig) -> Self {
        self.config.events = events;
        self
    }

    /// Background housekeeping; [`MaintenanceConfig::manual`] starts no thread.
    pub fn maintenance(mut self, maintenance: MaintenanceConfig) -> Self {
        self.config.maintenance = maintenance;
        self
    }

    /// Analyse quarantined evidence in a pool of sandboxed hound workers.
    pub fn hound(mut self, hound: HoundConfig) -> Self {
        self.config.hound = Some(hound);
        self
    }

    /// Validates the configuration and builds the `Tracehound`, starting its maintenance
    /// thread unless `maintenance.interval` is zero, and its hound workers if configured.
    pub fn build(self) -> Result<Tracehound, ConfigError> {
        let config = self.config;
        config.validate()?;
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::new()) as Arc<dyn Clock>);
        let limiter = if config.rate_limit.enabled {
            Some(RateLimiter::new(&config.rate_limit, Arc::clone(&clock))?)
        } else {
            None
        };
        let interval = config.maintenance.interval;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let bus = Arc::new(EventBus::new(
            config.events.max_subscribers,
            config.events.max_queue,
        ));
        let mut log = AuditLog::open(&config.audit).map_err(ConfigError::Audit)?;
        if log.size() > 0 {
            // A crashed run may have handed out leaf indices for records that never reached
            // the disk; starting a new epoch keeps every (epoch, index) naming one record.
            let now =
                panic::catch_unwind(AssertUnwindSafe(|| clock.now())).unwrap_or(Timestamp::EPOCH);
            log.rotate(now).map_err(ConfigError::Audit)?;
        }
        let opened = log.open_report().clone();
        let sealed = log.sealed_epochs();
        let (audit_writer, sequencer) = writer::start(
            log,
            config.audit.queue_capacity,
            config.audit.checkpoint_interval,
            config.audit.gap_markers,
            Arc::clone(&bus),
            Arc::clone(&clock),
        )
        .map_err(|source| ConfigError::Spawn { source })?;
        audit_writer.opened(&opened, || {
            panic::catch_unwind(AssertUnwindSafe(|| clock.now())).unwrap_or(Timestamp::EPOCH)
        });
        audit_writer
            .verify_sealed(sealed, Arc::clone(&clock))
            .map_err(|source| ConfigError::Spawn { source })?;
        let mut pool_error = None;
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            hound: config.hound.clone().and_then(|hound| {
                let weak = weak.clone();
                let sink: Sink = Arc::new(move |done| {
                    if let Some(inner) = weak.upgrade() {
                        inner.record_analysis(done);
                    }
                });
                Pool::start(hound, sink)
                    .map_err(|source| pool_error = Some(source))
                    .ok()
            }),
            analyses: Mutex::new(Analyses::new(
                config.hound.as_ref().map_or(0, |h| h.retained),
            )),
            limits: Limits {
                max_bytes: config.max_payload_bytes,
                max_depth: config.max_depth,
            },
            vault: Mutex::new(Vault {
                quarantine: Quarantine::new(
                    config.quarantine.max_count,
                    config.quarantine.max_bytes,
                    config.quarantine.max_age.is_some(),
                ),
                audit: sequencer,
            }),
            bus,
            audit_writer,
            outcomes: Default::default(),
            limiter,
            clock,
            config,
            _stop: stop,
        });
        if let Some(source) = pool_error {
            return Err(ConfigError::Spawn { source });
        }
        if !interval.is_zero() {
            spawn_maintenance(Arc::downgrade(&inner), stopped, interval)
                .map_err(|source| ConfigError::Spawn { source })?;
        }
        Ok(Tracehound { inner })
    }
}

/// Runs maintenance every `interval` until the `Tracehound` is dropped: dropping it drops the
/// stop sender, which wakes this thread at once.
fn spawn_maintenance(
    inner: Weak<Inner>,
    stopped: Receiver<()>,
    interval: Duration,
) -> std::io::Result<()> {
    thread::Builder::new()
        .name("tracehound-maintenance".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let Some(inner) = inner.upgrade() else { break };
                if let Err(error) = guard("maintenance", || inner.maintain()) {
                    tracing::error!(%error, "tracehound maintenance failed");
                }
            }
        })
        .map(drop)
}

struct Inner {
    config: Config,
    clock: Arc<dyn Clock>,
    limits: Limits,
    limiter: Option<RateLimiter>,
    vault: Mutex<Vault>,
    bus: Arc<EventBus>,
    audit_writer: Writer,
    outcomes: [AtomicU64; 8],
    /// Hound workers, if configured.
    hound: Option<Pool>,
    /// Finished analyses by signature, bounded.
    analyses: Mutex<Analyses>,
    /// Dropped with the last handle; that wakes and ends the maintenance thread.
    _stop: Sender<()>,
}

impl Drop for Inner {
    /// Lets the audit writer drain its queue, commit and sign a final checkpoint, and waits
    /// for it, so the log's directory is unlocked when the last handle is gone.
    fn drop(&mut self) {
        // Workers first: their results append audit leaves, which must come before the close.
        drop(self.hound.take());
        self.vault.get_mut().audit.close();
        self.audit_writer.stop();
    }
}

/// The quarantine and the audit log's sequencer, under one lock so the log's order is the
/// quarantine's.
#[derive(Debug)]
struct Vault {
    quarantine: Quarantine,
    audit: Sequencer,
}

/// Scratch buffers beyond this capacity are released after use rather than kept, so a
/// thread holds at most this much between threats.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Wipes and empties the scratch buffer when the encoding that borrowed it ends.
struct WipeOnDrop<'a>(std::cell::RefMut<'a, Vec<u8>>);

impl Drop for WipeOnDrop<'_> {
    fn drop(&mut self) {
        let buf = &mut *self.0;
        buf.as_mut_slice().zeroize();
        buf.clear();
        if buf.capacity() > SCRATCH_KEEP {
            *buf = Vec::new();
        }
    }
}

thread_local! {
    /// Canonical bytes are encoded here; copied into the quarantine only for new evidence,
    /// and wiped after every use.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f`, turning a panic into [`Error::Internal`] so it never unwinds into the host.
fn guard<T>(context: &'static str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(Error::Internal { context }))
}

impl Tracehound {
    /// A builder with the default configuration.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Decides what to do with one scent: rate limit its source, then, if it carries a threat
    /// signal, canonicalize, sign and quarantine its payload. Never panics; never waits on
    /// I/O, on other threads' work or on subscribers, only on short internal locks (a
    /// rate-limit shard, the quarantine, the event fan-out). [`Outcome::passes`] says whether
    /// to let the request through.
    ///
    /// The same as [`admit`](Self::admit) followed by
    /// [`intercept_admitted`](Self::intercept_admitted).
    pub fn intercept(&self, scent: &Scent) -> Outcome {
        match self.admit_in(scent.source(), "intercept") {
            Ok(admitted) => self.intercept_admitted(admitted, scent),
            Err(outcome) => outcome,
        }
    }

    /// The first step of [`intercept`](Self::intercept) alone: takes one request from
    /// `source`'s rate-limit quota. `Err` is the request's final outcome
    /// ([`Outcome::RateLimited`], or [`Outcome::Error`] if tracehound failed), counted like
    /// any other; `Ok` is the right to run the rest of the pipeline once, with
    /// [`intercept_admitted`](Self::intercept_admitted), without being charged again.
    ///
    /// An HTTP adapter admits a request from its head, so that a limited source is refused
    /// before a byte of its body is read.
    ///
    /// ```
    /// use tracehound::{Category, Outcome, Scent, Severity, SourceKey, Tracehound};
    ///
    /// let tracehound = Tracehound::builder().build()?;
    /// let source = SourceKey::new("198.51.100.23");
    /// let admitted = tracehound.admit(&source).expect("a fresh source is within its quota");
    /// // ... read the body, describe the request ...
    /// let scent = Scent::new(source, serde_json::json!({"q": "' OR 1=1"}))
    ///     .with_threat(Category::Injection, Severity::High);
    /// assert!(matches!(tracehound.intercept_admitted(admitted, &scent), Outcome::Quarantined(_)));
    /// # Ok::<(), tracehound::ConfigError>(())
    /// ```
    pub fn admit(&self, source: &SourceKey) -> Result<Admitted, Outcome> {
        self.admit_in(source, "admit")
    }

    /// [`admit`](Self::admit), naming `context` in the error of a failure.
    fn admit_in(&self, source: &SourceKey, context: &'static str) -> Result<Admitted, Outcome> {
        let inner = &self.inner;
        match panic::catch_unwind(AssertUnwindSafe(|| inner.rate_limit(source))) {
            Ok(None) => Ok(Admitted { _private: () }),
            Ok(Some(limited)) => Err(self.finish(limited)),
            Err(_) => Err(self.finish(Outcome::Error(Error::Internal { context }))),
        }
    }

    /// The rest of [`intercept`](Self::intercept) for a scent whose source was admitted:
    /// no rate-limit charge, then the threat signal, encoding and quarantine.
    pub fn intercept_admitted(&self, admitted: Admitted, scent: &Scent) -> Outcome {
        let Admitted { _private: () } = admitted;
        let inner = &self.inner;
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| inner.examine(scent))) {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Error(Error::Internal {
                context: "intercept",
            }),
        };
        self.finish(outcome)
    }

    /// Counts `outcome` and publishes it if it is a failure.
    fn finish(&self, outcome: Outcome) -> Outcome {
        let inner = &self.inner;
        inner.outcomes[outcome.index()].fetch_add(1, Ordering::Relaxed);
        if let Outcome::Error(error) = &outcome {
            tracing::warn!(%error, "tracehound intercept failed; request passes");
            // The failure may have been the clock itself: this read must not panic again.
            inner.bus.publish(
                inner.now_or_epoch(),
                [EventKind::InterceptFailed {
                    error: error.clone(),
                }],
            );
        }
        outcome
    }

    /// The receipt of held evidence.
    pub fn get(&self, signature: &Signature) -> Option<Receipt> {
        self.inner.vault.lock().quarantine.get(signature)
    }

    /// Re-hashes held evidence and checks it against its signature, in constant time.
    ///
    /// Returns its receipt when it matches; [`Error::EvidenceCorrupted`] if the bytes held
    /// no longer hash to the signature, [`Error::NotFound`] if it is not held.
    pub fn verify_evidence(&self, signature: &Signature) -> Result<Receipt, Error> {
        // Hashing happens outside the lock: a large payload must not stall intercepts.
        let (bytes, receipt) = self
            .inner
            .vault
            .lock()
            .quarantine
            .evidence(signature)
            .ok_or(Error::NotFound)?;
        let intact = bytes.as_slice().len() == receipt.size()
            && Digest::of(bytes.as_slice()) == *signature.digest();
        if intact {
            Ok(receipt)
        } else {
            Err(Error::EvidenceCorrupted)
        }
    }

    /// The latest finished hound analysis of the evidence with this signature, if the pool
    /// has run one and still retains it (`hound.retained` are kept). Its report holds derived
    /// facts and digests only, never payload text.
    pub fn analysis(&self, signature: &Signature) -> Option<Arc<Analysis>> {
        self.inner
            .analyses
            .lock()
            .by_signature
            .get(signature)
            .cloned()
    }

    /// The hound pool's slots (each worker's pid, and how often its slot checked it while
    /// idle) and the last workers it lost (died, or killed for misbehaving); empty without a
    /// pool. Counters are in [`Snapshot::hound`](crate::Snapshot).
    pub fn hound_workers(&self) -> HoundWorkers {
        self.inner
            .hound
            .as_ref()
            .map_or_else(HoundWorkers::default, Pool::workers)
    }

    /// Receipts of all held evidence, highest priority first. Metadata only: payloads never
    /// leave the quarantine through this API.
    pub fn list(&self) -> Vec<Receipt> {
        self.inner.vault.lock().quarantine.list()
    }

    /// Removes evidence whose handling is finished, recording it as neutralized.
    pub fn neutralize(&self, signature: &Signature) -> Result<Removed, Error> {
        self.inner
            .remove(signature, Removal::Neutralized { flush: false })
    }

    /// Removes evidence for `reason`, recording it as purged.
    pub fn purge(&self, signature: &Signature, reason: PurgeReason) -> Result<Removed, Error> {
        self.inner.remove(signature, Removal::Purged(reason))
    }

    /// Atomically removes `old` (recorded as replaced, naming the replacement's hash) and
    /// quarantines the threat in `scent`. Nothing changes if `old` is not held or the
    /// replacement cannot be encoded.
    ///
    /// The replacement is inserted like any new evidence. If it is already held, the outcome
    /// is [`Outcome::Ignored`]. If it ranks below everything that would have to make room
    /// (possible only when the byte cap binds), the outcome is [`Outcome::Dropped`]. In both
    /// cases `old` has still been replaced, and the audit log records every step.
    pub fn replace(&self, old: &Signature, scent: &Scent) -> Result<Replacement, Error> {
        guard("replace", || self.inner.replace(old, scent))
    }

    /// Neutralizes all held evidence, lowest priority first.
    pub fn flush(&self) -> Result<Vec<Removed>, Error> {
        guard("flush", || {
            let now = self.inner.clock.now();
            Ok(self.inner.with_vault(|vault, changes| {
                vault.quarantine.flush(now, &mut vault.audit, changes)
            }))
        })
    }

    /// Expires evidence past `quarantine.max_age` and forgets idle rate-limit keys. Runs on
    /// the maintenance thread every `maintenance.interval`; call it directly when that is
    /// zero.
    pub fn maintain(&self) -> Result<Maintenance, Error> {
        guard("maintenance", || self.inner.maintain())
    }

    /// Subscribes to events with a queue of `capacity` events. A full queue loses events
    /// (counted in [`Subscription::dropped`]); it never slows `intercept`. A new
    /// subscription first receives what the audit log found when it was opened or verified
    /// ([`EventKind::AuditTornTailCut`], [`EventKind::AuditHistoryReset`],
    /// [`EventKind::AuditEpochDamaged`], at most 16 such events), since those happen before
    /// anyone can subscribe.
    pub fn subscribe(&self, capacity: usize) -> Result<Subscription, Error> {
        self.inner.bus.subscribe(capacity)
    }

    /// Every counter, at one moment.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Waits until every audit record handed to the log so far is committed under the
    /// fsync policy (at most `timeout`), and returns the log's durable head.
    pub fn sync_audit(&self, timeout: Duration) -> Result<AuditHead, AuditError> {
        self.inner.audit_writer.sync(timeout)?;
        let log = self.inner.audit_writer.log.lock();
        if log.is_poisoned() {
            return Err(AuditError::Poisoned);
        }
        Ok(AuditHead {
            epoch: log.epoch(),
            size: log.durable_size(),
            root: log.root_at(log.durable_size())?,
        })
    }

    /// Signs a checkpoint of everything handed to the log so far (waiting for the writer to
    /// commit it) and returns it. Also published as [`EventKind::CheckpointSigned`].
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, AuditError> {
        let writer = &self.inner.audit_writer;
        writer.sync(SYNC_TIMEOUT)?;
        let signed = writer.log.lock().checkpoint()?;
        writer.signed(&signed, self.inner.now_or_epoch());
        Ok(signed)
    }

    /// A self-contained proof that the evidence held under `signature` entered the
    /// quarantine: its `quarantined` record, inclusion proof and a signed checkpoint, to
    /// hand to anyone holding the log's verifier key. Fails with [`Error::NotFound`] when
    /// the evidence is not held, and with [`Error::Audit`] when its record was lost or its
    /// epoch is no longer stored.
    pub fn prove(&self, signature: &Signature) -> Result<EvidenceProof, Error> {
        let receipt = self.get(signature).ok_or(Error::NotFound)?;
        let leaf = receipt
            .audit_leaf()
            .ok_or(Error::Audit(AuditError::Internal("the record was lost")))?;
        let writer = &self.inner.audit_writer;
        writer.sync(SYNC_TIMEOUT).map_err(Error::Audit)?;
        let mut log = writer.log.lock();
        if log.epoch() != leaf.epoch {
            return Err(Error::Audit(AuditError::EpochUnavailable {
                epoch: leaf.epoch,
            }));
        }
        let before = log.latest_checkpoint().map(|cp| cp.checkpoint().size);
        let bundle = log.prove(leaf.index).map_err(Error::Audit)?;
        if let Some(signed) = log
            .latest_checkpoint()
            .filter(|cp| Some(cp.checkpoint().size) != before)
        {
            // Proving signed a new checkpoint: count and publish it like any other.
            writer.signed(signed, self.inner.now_or_epoch());
        }
        Ok(bundle)
    }

    /// The key the audit log signs checkpoints with.
    pub fn verifier_key(&self) -> VerifierKey {
        self.inner.audit_writer.log.lock().verifier_key()
    }

    /// Runs `f` on the audit log, for proofs and records beyond [`prove`](Self::prove).
    /// The writer waits while `f` runs (`intercept` does not).
    pub fn with_audit_log<R>(&self, f: impl FnOnce(&mut AuditLog) -> R) -> R {
        f(&mut self.inner.audit_writer.log.lock())
    }
}

/// How long API calls wait for the audit writer.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The durable head of the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditHead {
    /// The epoch.
    pub epoch: u64,
    /// Durable leaves in it.
    pub size: u64,
    /// Their Merkle tree hash.
    pub root: Digest,
}

impl Inner {
    /// Step 1: the rate limit. `Some` is the outcome of a limited source.
    fn rate_limit(&self, source: &SourceKey) -> Option<Outcome> {
        let limiter = self.limiter.as_ref()?;
        let Verdict::Limited { retry_after } = limiter.check(source) else {
            return None;
        };
        if self.bus.wanted() {
            self.bus.publish(
                self.clock.now(),
                [EventKind::RateLimitExceeded {
                    source: source.clone(),
                    retry_after,
                }],
            );
        }
        Some(Outcome::RateLimited { retry_after })
    }

    /// Steps 2 to 6, for an admitted source.
    fn examine(&self, scent: &Scent) -> Outcome {
        let Some(threat) = scent.threat() else {
            return Outcome::Clean;
        };
        if self.bus.wanted() {
            self.bus.publish(
                self.clock.now(),
                [EventKind::ThreatDetected {
                    source: scent.source().clone(),
                    category: threat.category.clone(),
                    severity: threat.severity,
                }],
            );
        }
        match self.encode(scent, |bytes| self.insert(scent, threat, bytes)) {
            Ok(outcome) => outcome,
            Err(Error::PayloadTooLarge { limit }) => Outcome::PayloadTooLarge { limit },
            // Bad input from the request, not a failure of tracehound: refused, and not
            // logged, since a client can trigger it at line rate.
            Err(error @ (Error::PayloadTooDeep { .. } | Error::PayloadNotCanonical)) => {
                Outcome::Unencodable { error }
            }
            Err(error) => Outcome::Error(error),
        }
    }

    /// Encodes the scent's payload into this thread's scratch buffer and hands the canonical
    /// bytes to `then`. The buffer is wiped afterwards, even if `then` panics.
    fn encode<T>(&self, scent: &Scent, then: impl FnOnce(&[u8]) -> T) -> Result<T, Error> {
        SCRATCH.with(|cell| {
            let Ok(buf) = cell.try_borrow_mut() else {
                return Err(Error::Internal {
                    context: "canonical encoding (re-entered)",
                });
            };
            let mut scratch = WipeOnDrop(buf);
            canonical::encode(
                scent.payload(),
                self.config.canonical_form,
                self.limits,
                &mut scratch.0,
            )?;
            Ok(then(&scratch.0))
        })
    }

    fn insert(&self, scent: &Scent, threat: &ThreatSignal, bytes: &[u8]) -> Outcome {
        let signature = Signature::new(threat.category.clone(), Digest::of(bytes));
        let mut order = None;
        let outcome = self.with_vault(|vault, changes| {
            // Known threats are the common repeat under attack: answer them before building
            // anything for an insert.
            if vault.quarantine.contains(&signature) {
                return Outcome::Ignored { signature };
            }
            let Vault { quarantine, audit } = vault;
            let candidate = candidate(scent, threat, bytes, signature);
            let outcome: Outcome = quarantine
                .insert(candidate, || self.clock.now(), audit, changes)
                .into();
            order = self.order_for(quarantine, &outcome);
            outcome
        });
        self.offer(order);
        outcome
    }

    /// A hound job for newly kept evidence, if a pool is configured: a weak handle on the
    /// held bytes, so the job costs no copy and keeps nothing alive.
    fn order_for(&self, quarantine: &Quarantine, outcome: &Outcome) -> Option<Order> {
        let (Some(_), Outcome::Quarantined(receipt)) = (&self.hound, outcome) else {
            return None;
        };
        quarantine
            .evidence(receipt.signature())
            .map(|(bytes, receipt)| Order {
                signature: receipt.signature().clone(),
                severity: receipt.severity(),
                size: receipt.size(),
                bytes: bytes.downgrade(),
            })
    }

    /// Offers a job to the hound pool, if there is one; never waits.
    fn offer(&self, order: Option<Order>) {
        let (Some(pool), Some(order)) = (&self.hound, order) else {
            return;
        };
        let signature = order.signature.clone();
        let escalate = self
            .config
            .hound
            .as_ref()
            .is_some_and(|h| h.on_exhausted == Exhaustion::Escalate);
        if pool.offer(order) == Offered::Exhausted && escalate {
            self.bus.publish(
                self.now_or_epoch(),
                [EventKind::AnalysisEscalated { signature }],
            );
        }
    }

    /// Turns a finished job into an audit leaf, an event and a lookup entry. Runs on the
    /// pool's slot thread.
    fn record_analysis(&self, done: Completed) {
        let Completed {
            job,
            order,
            outcome,
            duration,
        } = done;
        let digest = match &outcome {
            HoundOutcome::Analysed(report) => Some(analysis_digest(report)),
            _ => None,
        };
        let size = order.size as u64;
        let forgotten = self.with_vault(|vault, changes| {
            let at = self.now_or_epoch();
            changes.at = Some(at);
            let mut record = EvidenceRecord::new(
                RecordType::Analysed,
                at,
                &order.signature,
                size,
                order.severity,
            );
            record.reason = outcome.code();
            record.digest = digest;
            let audit_leaf = vault.audit.append(&record, changes);
            let analysis = Arc::new(Analysis {
                signature: order.signature.clone(),
                job,
                outcome,
                duration,
                digest,
                audit_leaf,
            });
            changes.push(|| EventKind::EvidenceAnalysed(Arc::clone(&analysis)));
            // Retained before the event goes out, so a subscriber can look it up at once.
            self.analyses.lock().insert(analysis)
        });
        // Freed here, outside the vault lock, which intercepts need.
        drop(forgotten);
    }

    /// Runs `f` on the vault under its lock and publishes the events it produced before
    /// releasing it, so subscribers see each piece of evidence's events in audit order.
    fn with_vault<T>(&self, f: impl FnOnce(&mut Vault, &mut Changes) -> T) -> T {
        let mut changes = Changes {
            wanted: self.bus.wanted(),
            ..Changes::default()
        };
        let mut vault = self.vault.lock();
        let result = f(&mut vault, &mut changes);
        if !changes.events.is_empty() {
            let at = changes.at.unwrap_or_else(|| self.now_or_epoch());
            self.bus.publish(at, changes.events);
        }
        drop(vault);
        result
    }

    /// The wall clock, or the epoch if the injected clock panics: for paths that must not
    /// fail once a change is made (publishing its events, taking a snapshot).
    fn now_or_epoch(&self) -> Timestamp {
        panic::catch_unwind(AssertUnwindSafe(|| self.clock.now())).unwrap_or(Timestamp::EPOCH)
    }

    fn remove(&self, signature: &Signature, removal: Removal) -> Result<Removed, Error> {
        guard("remove", || {
            let now = self.clock.now();
            self.with_vault(|vault, changes| {
                vault
                    .quarantine
                    .remove(signature, removal, now, &mut vault.audit, changes)
                    .ok_or(Error::NotFound)
            })
        })
    }

    fn replace(&self, old: &Signature, scent: &Scent) -> Result<Replacement, Error> {
        let threat = scent.threat().ok_or(Error::NoThreatSignal)?;
        let now = self.clock.now();
        let mut order = None;
        let replacement = self.encode(scent, |bytes| {
            let digest = Digest::of(bytes);
            self.with_vault(|vault, changes| {
                let Vault { quarantine, audit } = vault;
                let removed = quarantine
                    .remove(old, Removal::Replaced { by: digest }, now, audit, changes)
                    .ok_or(Error::NotFound)?;
                let signature = Signature::new(threat.category.clone(), digest);
                let candidate = candidate(scent, threat, bytes, signature);
                let outcome = quarantine.insert(candidate, || now, audit, changes).into();
                order = self.order_for(quarantine, &outcome);
                Ok(Replacement { removed, outcome })
            })
        })??;
        self.offer(order);
        Ok(replacement)
    }

    fn maintain(&self) -> Result<Maintenance, Error> {
        let now = self.clock.now();
        let expired = match self.config.quarantine.max_age {
            Some(max_age) => self.with_vault(|vault, changes| {
                vault
                    .quarantine
                    .expire(max_age, now, &mut vault.audit, changes)
                    .len()
            }),
            None => 0,
        };
        let keys_forgotten = self.limiter.as_ref().map_or(0, RateLimiter::sweep);
        self.bus.prune();
        Ok(Maintenance {
            expired,
            keys_forgotten,
        })
    }

    fn snapshot(&self) -> Snapshot {
        let (quarantine, records) = {
            let vault = self.vault.lock();
            let q = &vault.quarantine;
            let config = &self.config.quarantine;
            let fill = (q.len() as f64 / config.max_count as f64)
                .max(q.bytes() as f64 / config.max_bytes as f64);
            (
                QuarantineStats {
                    count: q.len(),
                    bytes: q.bytes(),
                    max_count: config.max_count,
                    max_bytes: config.max_bytes,
                    by_severity: SeverityCounts::from_ranks(q.by_severity()),
                    fill_ratio: fill.clamp(0.0, 1.0),
                },
                vault.audit.counts(),
            )
        };
        let rate_limit = match &self.limiter {
            Some(limiter) => {
                // Counting blocked keys reads the clock; a panicking clock leaves them at zero
                // rather than panicking the caller of `snapshot`.
                let counts =
                    panic::catch_unwind(AssertUnwindSafe(|| limiter.counts())).unwrap_or_default();
                RateLimitStats {
                    enabled: true,
                    tracked_keys: counts.tracked,
                    blocked_keys: counts.blocked,
                    max_keys: self.config.rate_limit.max_keys,
                    evicted_keys: counts.evicted,
                    forgotten_keys: counts.forgotten,
                }
            }
            None => RateLimitStats::default(),
        };
        self.bus.prune();
        let bus = self.bus.counts();
        let count = |i: usize| self.outcomes[i].load(Ordering::Relaxed);
        let taken_at = self.now_or_epoch();
        let audit = self.audit_writer.stats(records, taken_at);
        Snapshot {
            taken_at,
            outcomes: OutcomeCounts {
                clean: count(0),
                rate_limited: count(1),
                payload_too_large: count(2),
                ignored: count(3),
                quarantined: count(4),
                dropped: count(5),
                error: count(6),
                unencodable: count(7),
            },
            quarantine,
            rate_limit,
            events: EventStats {
                subscribers: bus.subscribers,
                published: bus.published,
                dropped: bus.dropped,
            },
            audit,
            hound: self
                .hound
                .as_ref()
                .map_or(HoundStats::default(), Pool::stats),
        }
    }
}

/// Finished analyses by signature; the oldest is forgotten first, past `hound.retained`
/// entries or [`ANALYSES_MAX_BYTES`] of estimated memory.
#[derive(Debug)]
struct Analyses {
    by_signature: HashMap<Signature, Arc<Analysis>>,
    order: VecDeque<(Signature, u64, usize)>,
    cap: usize,
    bytes: usize,
}

/// Memory the retained analyses may hold, estimated; a report is at most 256 facts, so this
/// keeps at least 2,000 of the largest.
const ANALYSES_MAX_BYTES: usize = 64 << 20;

impl Analyses {
    fn new(cap: usize) -> Self {
        Analyses {
            by_signature: HashMap::new(),
            order: VecDeque::new(),
            cap,
            bytes: 0,
        }
    }

    /// Heap and inline size of an analysis, roughly: enough to bound, not to account.
    fn cost(analysis: &Analysis) -> usize {
        let report = match &analysis.outcome {
            HoundOutcome::Analysed(report) => report
                .findings
                .iter()
                .map(|finding| {
                    let facts: usize = finding
                        .facts
                        .iter()
                        .map(|fact| match &fact.value {
                            FactValue::Label(label) => 64 + fact.name.len() + label.len(),
                            _ => 64 + fact.name.len(),
                        })
                        .sum();
                    64 + finding.analyzer.len() + facts
                })
                .sum(),
            _ => 0,
        };
        256 + report
    }

    /// Retains `analysis`; returns the analyses it pushed out, for the caller to drop.
    fn insert(&mut self, analysis: Arc<Analysis>) -> Vec<Arc<Analysis>> {
        let mut forgotten = Vec::new();
        if self.cap == 0 {
            return forgotten;
        }
        let cost = Self::cost(&analysis);
        self.bytes += cost;
        self.order
            .push_back((analysis.signature.clone(), analysis.job, cost));
        // A replaced older analysis of the same evidence stays in `order` until it comes up
        // for eviction, where its job id tells it apart and only its cost is released.
        forgotten.extend(
            self.by_signature
                .insert(analysis.signature.clone(), analysis),
        );
        while self.order.len() > self.cap || self.bytes > ANALYSES_MAX_BYTES {
            let Some((signature, job, cost)) = self.order.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(cost);
            if self
                .by_signature
                .get(&signature)
                .is_some_and(|a| a.job == job)
            {
                forgotten.extend(self.by_signature.remove(&signature));
            }
        }
        forgotten
    }
}
