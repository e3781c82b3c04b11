//! The TypeScript `full-lifecycle` scenario, strengthened: exact audit leaves for every step,
//! an audited purge (the TypeScript library wrote none), exact `retry_after` values.
//! Setup as there: quarantine 100 / 10 MB, rate limit 5 per 60 s with a 300 s block,
//! payloads up to 1 MB.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde_json::json;
use tracehound::{
    Category, Config, EventKind, Outcome, PurgeReason, Receipt, Scent, Severity, Tracehound,
};
use tracehound_scenarios::{config, tracehound};

fn lifecycle_config() -> Config {
    let mut config = config();
    config.quarantine.max_count = NonZeroUsize::new(100).unwrap();
    config.quarantine.max_bytes = NonZeroUsize::new(10_000_000).unwrap();
    config.rate_limit.get_or_insert_default().requests = NonZeroU32::new(5).unwrap();
    config.rate_limit.get_or_insert_default().window = Duration::from_secs(60);
    config.rate_limit.get_or_insert_default().block = Duration::from_secs(300);
    config.max_payload_bytes = NonZeroUsize::new(1_000_000).unwrap();
    config
}

fn drop_table() -> Scent {
    Scent::new(
        "198.51.100.1",
        json!({"action": "login", "payload": "'; DROP TABLE users; --"}),
    )
    .with_threat(Category::Injection, Severity::Critical)
}

fn held(th: &Tracehound, scent: &Scent) -> Receipt {
    match th.intercept(scent) {
        Outcome::Quarantined(receipt) => receipt,
        other => panic!("expected Quarantined, got {other:?}"),
    }
}

#[test]
fn no_threat_is_clean_and_leaves_no_trace() {
    let (th, _) = tracehound(lifecycle_config());
    let outcome = th.intercept(&Scent::new("198.51.100.1", json!({"path": "/"})));
    assert_eq!(outcome, Outcome::Clean);
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 0);
    assert_eq!(snap.audit.size, 0);
}

#[test]
fn threat_is_quarantined_with_one_insert_leaf() {
    let (th, _) = tracehound(lifecycle_config());
    let receipt = held(&th, &drop_table());
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 1);
    assert_eq!(snap.quarantine.by_severity.critical, 1);
    assert_eq!(snap.audit.size, 1);
    assert_eq!(snap.audit.records.quarantined, 1);
    assert_eq!(receipt.audit_leaf().map(|l| l.index), Some(0));
}

#[test]
fn repeat_is_ignored_without_a_leaf() {
    let (th, _) = tracehound(lifecycle_config());
    let first = held(&th, &drop_table());
    assert_eq!(
        th.intercept(&drop_table()),
        Outcome::Ignored {
            signature: first.signature().clone()
        }
    );
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 1);
    assert_eq!(snap.audit.size, 1);
}

#[test]
fn clean_traffic_is_rate_limited_with_exact_retry_after() {
    let (th, clock) = tracehound(lifecycle_config());
    let clean = Scent::new("203.0.113.5", json!({"path": "/"}));
    for _ in 0..5 {
        assert_eq!(th.intercept(&clean), Outcome::Clean);
    }
    let events = th.subscribe(8).unwrap();
    assert_eq!(
        th.intercept(&clean),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(300)
        }
    );
    assert!(matches!(
        events.try_recv().map(|e| e.into_kind()),
        Some(EventKind::RateLimitExceeded { retry_after, .. }) if retry_after == Duration::from_secs(300)
    ));
    clock.advance(Duration::from_secs(299));
    assert_eq!(
        th.intercept(&clean),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(1)
        }
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(th.intercept(&clean), Outcome::Clean);
}

#[test]
fn neutralize_removes_and_records() {
    let (th, _) = tracehound(lifecycle_config());
    let receipt = held(&th, &drop_table());
    let removed = th.neutralize(receipt.signature()).unwrap();
    assert_eq!(removed.evidence(), &receipt);
    assert_eq!(removed.audit_leaf().map(|l| l.index), Some(1));
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 0);
    assert_eq!(snap.audit.size, 2);
    assert_eq!(snap.audit.records.neutralized, 1);
    // Once neutralized, the same payload is new evidence again.
    assert!(matches!(
        th.intercept(&drop_table()),
        Outcome::Quarantined(_)
    ));
}

#[test]
fn purge_is_audited_with_its_reason() {
    let (th, _) = tracehound(lifecycle_config());
    let receipt = held(&th, &drop_table());
    let events = th.subscribe(8).unwrap();
    let purged = th.purge(receipt.signature(), PurgeReason::Timeout).unwrap();
    assert_eq!(purged.audit_leaf().map(|l| l.index), Some(1));
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 0);
    assert_eq!(snap.audit.records.purged, 1);
    assert!(matches!(
        events.try_recv().map(|e| e.into_kind()),
        Some(EventKind::EvidencePurged {
            reason: PurgeReason::Timeout,
            ..
        })
    ));
}

#[test]
fn replace_swaps_evidence_atomically() {
    let (th, _) = tracehound(lifecycle_config());
    let old = held(&th, &drop_table());
    let new = Scent::new(
        "198.51.100.1",
        json!({"action": "login", "payload": "admin'--"}),
    )
    .with_threat(Category::Injection, Severity::High);
    let replacement = th.replace(old.signature(), &new).unwrap();
    assert_eq!(replacement.removed().evidence(), &old);
    let Outcome::Quarantined(inserted) = replacement.outcome() else {
        panic!("{replacement:?}");
    };
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 1);
    assert!(th.get(old.signature()).is_none());
    assert_eq!(th.get(inserted.signature()).as_ref(), Some(inserted));
    // insert(old), replaced(old), insert(new).
    assert_eq!(snap.audit.size, 3);
    assert_eq!(snap.audit.records.replaced, 1);
    assert_eq!(inserted.audit_leaf().map(|l| l.index), Some(2));
}

#[test]
fn counters_after_clean_new_and_duplicate() {
    let (th, _) = tracehound(lifecycle_config());
    th.intercept(&Scent::new("198.51.100.9", json!({"path": "/"})));
    held(&th, &drop_table());
    th.intercept(&drop_table());
    let outcomes = th.snapshot().outcomes;
    assert_eq!(outcomes.total(), 3);
    assert_eq!(
        (outcomes.clean, outcomes.quarantined, outcomes.ignored),
        (1, 1, 1)
    );
    assert_eq!(outcomes.error + outcomes.dropped + outcomes.rate_limited, 0);
}
