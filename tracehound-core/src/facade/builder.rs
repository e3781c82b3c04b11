//! Building a [`Tracehound`]: validate the configuration, open the audit log, start the
//! writer, the hound pool and the maintenance thread.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::audit::AuditLog;
use crate::audit::writer;
use crate::canonical::{CanonicalForm, Limits};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::cold::{ColdConfig, ColdStore};
use crate::config::ConfigError;
use crate::error::Error;
use crate::events::{EventBus, EventsConfig};
use crate::hound::pool::Pool;
use crate::hound::{Analyses, HoundConfig, Sink};
use crate::quarantine::{Quarantine, QuarantineConfig};
use crate::random::{OsRandom, Random};
use crate::rate_limit::{RateLimitConfig, RateLimiter};

use super::cold::{Cold, ColdJournal, Tee};
use super::config::Config;
use super::maintenance::{self, MaintenanceConfig};
use super::vault::Vault;
use super::{Inner, Tracehound};

/// Builds a [`Tracehound`]; every setting has a default.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use tracehound::{CanonicalForm, QuarantineConfig, Tracehound};
///
/// let mut quarantine = QuarantineConfig::default();
/// quarantine.max_count = NonZeroUsize::new(1_000).unwrap();
/// quarantine.max_age = Some(Duration::from_secs(3_600));
/// let tracehound = Tracehound::builder()
///     .quarantine(quarantine)
///     .rate_limit(None)   // no rate limiting
///     .maintenance(None)  // no maintenance thread: call `maintain` yourself
///     .canonical_form(CanonicalForm::TracehoundJs)
///     .build()?;
/// assert_eq!(tracehound.config().quarantine.max_count.get(), 1_000);
/// # Ok::<(), tracehound::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    random: Option<Arc<dyn Random>>,
    cold_store: Option<Arc<dyn ColdStore>>,
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

    /// The randomness source for jitter (default: the operating system's generator).
    pub fn random(mut self, random: impl Random + 'static) -> Self {
        self.random = Some(Arc::new(random));
        self
    }

    /// The quarantine bounds.
    pub fn quarantine(mut self, quarantine: QuarantineConfig) -> Self {
        self.config.quarantine = quarantine;
        self
    }

    /// The rate limit; `None` lets every source through step 1 of the pipeline.
    pub fn rate_limit(mut self, rate_limit: impl Into<Option<RateLimitConfig>>) -> Self {
        self.config.rate_limit = rate_limit.into();
        self
    }

    /// The canonical JSON form signatures are computed in.
    pub fn canonical_form(mut self, form: CanonicalForm) -> Self {
        self.config.canonical_form = form;
        self
    }

    /// Event subscription limits.
    pub fn events(mut self, events: EventsConfig) -> Self {
        self.config.events = events;
        self
    }

    /// Background housekeeping; `None` starts no thread (call
    /// [`Tracehound::maintain`] yourself).
    pub fn maintenance(mut self, maintenance: impl Into<Option<MaintenanceConfig>>) -> Self {
        self.config.maintenance = maintenance.into();
        self
    }

    /// Analyse quarantined evidence in a pool of sandboxed hound workers; `None` for none.
    pub fn hound(mut self, hound: impl Into<Option<HoundConfig>>) -> Self {
        self.config.hound = hound.into();
        self
    }

    /// The cold store evidence is evacuated to (a local directory, a bucket: see the
    /// `tracehound-cold-storage` crate). Turns evacuation on with the default
    /// [`ColdConfig`] unless [`cold`](Self::cold) or the configuration set one.
    pub fn cold_store(mut self, store: Arc<dyn ColdStore>) -> Self {
        self.cold_store = Some(store);
        self
    }

    /// When evidence is evacuated, and the uploader's bounds; `None` for no evacuation.
    pub fn cold(mut self, cold: impl Into<Option<ColdConfig>>) -> Self {
        self.config.cold = cold.into();
        self
    }

    /// Validates the configuration and builds the `Tracehound`: opens its audit log
    /// ([`Error::Audit`] if it cannot be used), starts the writer, the maintenance thread
    /// if configured, and the hound workers if configured ([`Error::Start`] if a thread or
    /// the pool cannot start; [`Error::Config`] for an invalid configuration).
    pub fn build(self) -> Result<Tracehound, Error> {
        let mut config = self.config;
        match (&config.cold, &self.cold_store) {
            (None, Some(_)) => config.cold = Some(ColdConfig::default()),
            (Some(_), None) => {
                return Err(Error::Config(ConfigError::invalid(
                    "cold",
                    "cold storage is configured but no store was given (Builder::cold_store)",
                )));
            }
            _ => {}
        }
        config.validate()?;
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::new()) as Arc<dyn Clock>);
        let random = self
            .random
            .unwrap_or_else(|| Arc::new(OsRandom::new()) as Arc<dyn Random>);
        let now_or_epoch =
            || panic::catch_unwind(AssertUnwindSafe(|| clock.now())).unwrap_or(Timestamp::EPOCH);
        let limiter = match &config.rate_limit {
            Some(rate_limit) => Some(RateLimiter::new(rate_limit, Arc::clone(&clock))?),
            None => None,
        };
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let bus = Arc::new(EventBus::new(
            config.events.max_subscribers.get(),
            config.events.max_queue.get(),
        ));
        let mut log = AuditLog::open(&config.audit)?;
        if log.size() > 0 {
            // A crashed run may have handed out leaf indices for records that never reached
            // the disk; starting a new epoch keeps every (epoch, index) naming one record.
            log.rotate(now_or_epoch())?;
        }
        let opened = log.open_report().clone();
        let sealed = log.sealed_epochs();
        let tee = Arc::new(Tee::new(Arc::clone(&bus)));
        let (audit_writer, sequencer) = writer::start(
            log,
            config.audit.queue_capacity.get(),
            config.audit.checkpoint_interval,
            config.audit.gap_markers,
            Arc::clone(&tee) as Arc<dyn writer::Listener>,
            Arc::clone(&clock),
        )
        .map_err(Error::start("tracehound-audit"))?;
        audit_writer.opened(&opened, now_or_epoch);
        audit_writer
            .verify_sealed(sealed, Arc::clone(&clock))
            .map_err(Error::start("tracehound-audit-verify"))?;
        let seed = random.next_u64();
        let vault = Arc::new(Mutex::new(Vault {
            quarantine: Quarantine::new(
                config.quarantine.max_count.get(),
                config.quarantine.max_bytes.get(),
                config.quarantine.max_age.is_some(),
            ),
            audit: sequencer,
        }));
        let cold = match (&config.cold, self.cold_store) {
            (Some(cold), Some(store)) => {
                let layout = cold.layout(&config.audit.deployment)?;
                let journal = ColdJournal {
                    vault: Arc::clone(&vault),
                    bus: Arc::clone(&bus),
                    clock: Arc::clone(&clock),
                };
                let cold = Cold::start(cold, layout, store, journal, Arc::clone(&random))
                    .map_err(Error::start("tracehound-cold"))?;
                tee.export_to(Arc::clone(cold.uploader()));
                Some(cold)
            }
            _ => None,
        };
        let mut pool_error = None;
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            hound: config.hound.clone().and_then(|hound| {
                let weak = weak.clone();
                let sink: Sink = Arc::new(move |done| {
                    if let Some(inner) = weak.upgrade() {
                        inner.record_analysis(done);
                    }
                });
                Pool::start(hound, sink, seed)
                    .map_err(|source| pool_error = Some(source))
                    .ok()
            }),
            analyses: Mutex::new(Analyses::new(
                config.hound.as_ref().map_or(0, |h| h.retained.get()),
            )),
            limits: Limits {
                max_bytes: config.max_payload_bytes.get(),
                max_depth: config.max_depth.get(),
            },
            vault,
            bus,
            cold,
            audit_writer,
            outcomes: Default::default(),
            limiter,
            clock,
            config,
            _stop: stop,
        });
        if let Some(source) = pool_error {
            return Err(Error::start("tracehound-hound")(source));
        }
        if let Some(maintenance) = &inner.config.maintenance {
            maintenance::spawn(Arc::downgrade(&inner), stopped, maintenance.interval)
                .map_err(Error::start("tracehound-maintenance"))?;
        }
        Ok(Tracehound { inner })
    }
}
