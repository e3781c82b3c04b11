//! Fail-open with a real fault inside the pipeline. The injected clock is user code on the
//! intercept path, and here it panics on demand. Every call must turn the panic into an
//! error outcome or an `Err`, counted and published, and never let it reach the caller. The
//! state must stay consistent, and work resumes once the clock does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tracehound::clock::{Clock, ManualClock, Timestamp};
use tracehound::{
    Category, Config, Error, EventKind, Outcome, PurgeReason, RateLimitConfig, Scent, Severity,
    Tracehound,
};

#[derive(Debug, Clone)]
struct FaultyClock {
    inner: ManualClock,
    failing: Arc<AtomicBool>,
}

impl FaultyClock {
    fn check(&self) {
        if self.failing.load(Ordering::SeqCst) {
            panic!("injected clock failure");
        }
    }
}

impl Clock for FaultyClock {
    fn now(&self) -> Timestamp {
        self.check();
        self.inner.now()
    }

    fn monotonic(&self) -> Duration {
        self.check();
        self.inner.monotonic()
    }
}

fn build(rate_limit: Option<RateLimitConfig>) -> (Tracehound, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let clock = FaultyClock {
        inner: ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000)),
        failing: Arc::clone(&failing),
    };
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = rate_limit;
    let th = Tracehound::builder()
        .config(config)
        .clock(clock)
        .build()
        .unwrap();
    (th, failing)
}

fn threat(n: u64) -> Scent {
    Scent::new("198.51.100.7", json!({"attempt": n}))
        .with_threat(Category::Injection, Severity::High)
}

const INTERNAL: Error = Error::Internal {
    context: "intercept",
};

#[test]
fn a_failing_clock_becomes_errors_never_panics() {
    let (th, failing) = build(Some(RateLimitConfig::default()));
    let events = th.subscribe(64).unwrap();
    let Outcome::Quarantined(held) = th.intercept(&threat(1)) else {
        panic!("setup: the first threat is kept");
    };

    failing.store(true, Ordering::SeqCst);
    // The rate limiter reads the clock for every request, clean or not.
    assert_eq!(
        th.intercept(&Scent::new("s", json!({}))),
        Outcome::Error(INTERNAL)
    );
    assert_eq!(th.intercept(&threat(2)), Outcome::Error(INTERNAL));
    assert_eq!(th.intercept(&threat(1)), Outcome::Error(INTERNAL));
    // Every mutating operation reports the failure instead of panicking.
    assert!(matches!(
        th.neutralize(held.signature()),
        Err(Error::Internal { .. })
    ));
    assert!(matches!(
        th.purge(held.signature(), PurgeReason::Manual),
        Err(Error::Internal { .. })
    ));
    assert!(matches!(
        th.replace(held.signature(), &threat(3)),
        Err(Error::Internal { .. })
    ));
    assert!(matches!(th.flush(), Err(Error::Internal { .. })));
    assert!(matches!(th.maintain(), Err(Error::Internal { .. })));
    // Reading the counters does not panic either.
    let snap = th.snapshot();
    assert_eq!(snap.outcomes.error, 3);
    assert_eq!(snap.quarantine.count, 1, "nothing half-done");
    assert_eq!(snap.audit.size, 1);
    let failures = events
        .drain()
        .filter(|e| matches!(e.kind(), EventKind::InterceptFailed { .. }))
        .count();
    assert_eq!(failures, 3);

    failing.store(false, Ordering::SeqCst);
    assert!(matches!(th.intercept(&threat(2)), Outcome::Quarantined(_)));
    th.neutralize(held.signature()).unwrap();
    let snap = th.snapshot();
    let records = snap.audit.records;
    assert_eq!(
        records.quarantined - records.removals(),
        snap.quarantine.count as u64
    );
    assert_eq!(snap.audit.size, records.total());
}

#[test]
fn a_known_threat_needs_no_clock() {
    let (th, failing) = build(None);
    let Outcome::Quarantined(held) = th.intercept(&threat(1)) else {
        panic!("setup: the first threat is kept");
    };
    failing.store(true, Ordering::SeqCst);
    assert_eq!(
        th.intercept(&threat(1)),
        Outcome::Ignored {
            signature: held.signature().clone()
        }
    );
    assert_eq!(th.intercept(&Scent::new("s", json!({}))), Outcome::Clean);
    assert_eq!(th.intercept(&threat(2)), Outcome::Error(INTERNAL));
}
