//! The facade: one object that owns the whole pipeline.
//!
//! [`Tracehound`] holds the rooms (rate limiter, the vault of quarantine and audit sequencer,
//! the audit writer, the hound pool, the event bus) and its methods are thin: each file here
//! adds one concern to it.
//!
//! - `builder`: validating the configuration and starting everything;
//! - `config`: the aggregate [`Config`] of every room's settings;
//! - `outcome`: what `intercept` and the evidence operations answer, and their counters;
//! - `pipeline`: the intercept steps;
//! - `scratch`: the thread's wiped encoding buffer;
//! - `vault`: the quarantine's journal, turning its changes into audit leaves and events;
//! - `cold`: evacuation to cold storage, checkpoint export, shutdown and erasure;
//! - `operations`: removing, replacing, flushing and expiring evidence;
//! - `maintenance`: the housekeeping thread;
//! - `audit`: the log's head, checkpoints, proofs and the read-only [`AuditReader`];
//! - `observer`: the watching-only [`Observer`] handle;
//! - `stats`: assembling a [`Snapshot`].

mod audit;
mod builder;
mod cold;
mod config;
mod maintenance;
mod observer;
mod operations;
mod outcome;
mod pipeline;
mod scratch;
mod stats;
mod vault;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use tracehound_codec::Digest;

use crate::audit::writer::Writer;
use crate::canonical::Limits;
use crate::clock::{Clock, Timestamp};
use crate::error::Error;
use crate::events::{EventBus, EventKind, Subscription};
use crate::evidence::{PurgeReason, Receipt, Removed};
use crate::hound::pool::Pool;
use crate::hound::{Analyses, Analysis, HoundWorkers};
use crate::quarantine::Removal;
use crate::rate_limit::RateLimiter;
use crate::scent::{Scent, SourceKey};
use crate::signature::Signature;
use crate::snapshot::Snapshot;

pub use self::audit::{AuditHead, AuditReader};
pub use self::builder::Builder;
pub use self::cold::{ErasedEvidence, Erasure};
pub use self::config::Config;
pub use self::maintenance::MaintenanceConfig;
pub use self::observer::Observer;
pub use self::outcome::{Admitted, Maintenance, Outcome, Replacement};

use self::cold::Cold;
use self::outcome::OutcomeCounters;
use self::vault::Vault;

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

struct Inner {
    config: Config,
    clock: Arc<dyn Clock>,
    limits: Limits,
    limiter: Option<RateLimiter>,
    /// Shared with the cold uploader's journal, which audits from its own thread.
    vault: Arc<Mutex<Vault>>,
    bus: Arc<EventBus>,
    /// Cold storage, if configured.
    cold: Option<Cold>,
    audit_writer: Writer,
    outcomes: OutcomeCounters,
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
        // Then cold storage, whose uploads append `evacuated` leaves, so it stops before the
        // log closes; the final checkpoint the writer signs on close is written directly.
        let deadline = self
            .config
            .cold
            .as_ref()
            .map(|c| std::time::Instant::now() + c.shutdown_deadline);
        if let (Some(cold), Some(deadline)) = (&self.cold, deadline) {
            self.evacuate_held(deadline);
            cold.uploader().finish(deadline);
        }
        self.vault.lock().audit.close();
        self.audit_writer.stop();
        if let Some(cold) = &self.cold {
            let last = self.audit_writer.log.lock().latest_checkpoint().cloned();
            if let Some(last) = last {
                cold.export_now(&last);
            }
        }
    }
}

impl Inner {
    /// The wall clock, or the epoch if the injected clock panics: for paths that must not
    /// fail once a change is made (publishing its events, taking a snapshot).
    fn now_or_epoch(&self) -> Timestamp {
        panic::catch_unwind(AssertUnwindSafe(|| self.clock.now())).unwrap_or(Timestamp::EPOCH)
    }
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
    /// # Ok::<(), tracehound::Error>(())
    /// ```
    pub fn admit(&self, source: &SourceKey) -> Result<Admitted, Outcome> {
        self.admit_in(source, "admit")
    }

    /// [`admit`](Self::admit), naming `context` in the error of a failure.
    fn admit_in(&self, source: &SourceKey, context: &'static str) -> Result<Admitted, Outcome> {
        let inner = &self.inner;
        match panic::catch_unwind(AssertUnwindSafe(|| inner.rate_limit(source))) {
            Ok(None) => Ok(Admitted::new()),
            Ok(Some(limited)) => Err(self.finish(limited)),
            Err(_) => Err(self.finish(Outcome::Error(Error::Internal { context }))),
        }
    }

    /// The rest of [`intercept`](Self::intercept) for a scent whose source was admitted:
    /// no rate-limit charge, then the threat signal, encoding and quarantine.
    pub fn intercept_admitted(&self, admitted: Admitted, scent: &Scent) -> Outcome {
        drop(admitted);
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
        inner.outcomes.count(&outcome);
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
        self.inner.analyses.lock().get(signature)
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
        guard("remove", || {
            self.inner
                .remove(signature, Removal::Neutralized { flush: false })
        })
    }

    /// Removes evidence for `reason`, recording it as purged.
    pub fn purge(&self, signature: &Signature, reason: PurgeReason) -> Result<Removed, Error> {
        guard("remove", || {
            self.inner.remove(signature, Removal::Purged(reason))
        })
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
        guard("flush", || Ok(self.inner.flush()))
    }

    /// Expires evidence past `quarantine.max_age` and forgets idle rate-limit keys. Runs on
    /// the maintenance thread every `maintenance.interval`; call it directly when
    /// maintenance is off.
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
        Ok(self.inner.bus.subscribe(capacity)?)
    }

    /// Every counter, at one moment.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}
