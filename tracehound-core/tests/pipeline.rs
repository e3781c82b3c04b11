//! The intercept pipeline and the quarantine operations, through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::{
    CanonicalForm, Category, Config, EncodeError, Error, EventKind, EvictionCause, Outcome,
    PurgeReason, RateLimitConfig, Scent, Severity, Signature, SubscribeError, Tracehound,
    canonicalize, signature,
};

const START: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

fn config() -> Config {
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = None;
    config
}

fn build(config: Config) -> (Tracehound, ManualClock) {
    let clock = ManualClock::new(START);
    let th = Tracehound::builder()
        .config(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    (th, clock)
}

fn threat(n: u64, severity: Severity) -> Scent {
    Scent::new(
        format!("10.1.0.{}", n % 250),
        json!({"attempt": n, "q": "' OR 1=1 --"}),
    )
    .with_threat(Category::Injection, severity)
}

fn quarantined(outcome: Outcome) -> tracehound::Receipt {
    match outcome {
        Outcome::Quarantined(receipt) => receipt,
        other => panic!("expected Quarantined, got {other:?}"),
    }
}

#[test]
fn clean_scents_pass_untouched() {
    let (th, _) = build(config());
    let huge = Scent::new("a", json!({"blob": "x".repeat(2_000_000)}));
    assert_eq!(
        th.intercept(&huge),
        Outcome::Clean,
        "the clean path checks no size"
    );
    let snap = th.snapshot();
    assert_eq!(snap.outcomes.clean, 1);
    assert_eq!(snap.quarantine.count, 0);
    assert_eq!(snap.audit.size, 0);
}

#[test]
fn receipt_describes_exactly_what_is_held() {
    let (th, clock) = build(config());
    clock.advance(Duration::from_secs(3));
    let scent = threat(1, Severity::High);
    let receipt = quarantined(th.intercept(&scent));
    let canonical = canonicalize(scent.payload(), CanonicalForm::Jcs).unwrap();
    assert_eq!(receipt.size(), canonical.len());
    assert_eq!(
        *receipt.signature(),
        signature(Category::Injection, scent.payload(), CanonicalForm::Jcs).unwrap()
    );
    assert_eq!(receipt.severity(), Severity::High);
    assert_eq!(
        receipt.captured(),
        START.saturating_add(Duration::from_secs(3))
    );
    assert_eq!(receipt.source().as_str(), "10.1.0.1");
    assert_eq!(receipt.audit_leaf().map(|l| l.index), Some(0));
    assert_eq!(th.get(receipt.signature()), Some(receipt.clone()));
    assert_eq!(th.verify_evidence(receipt.signature()), Ok(receipt));
}

#[test]
fn duplicates_are_ignored_whatever_their_severity_or_source() {
    let (th, _) = build(config());
    let first = quarantined(th.intercept(&threat(1, Severity::Low)));
    let again = Scent::new("elsewhere", threat(1, Severity::Low).payload().clone())
        .with_threat(Category::Injection, Severity::Critical);
    assert_eq!(
        th.intercept(&again),
        Outcome::Ignored {
            signature: first.signature().clone()
        }
    );
    // The held severity is not raised by a duplicate, and no audit leaf is written.
    assert_eq!(th.get(first.signature()).unwrap().severity(), Severity::Low);
    assert_eq!(th.snapshot().audit.size, 1);
    // Another category is another piece of evidence.
    let spam = Scent::new("x", threat(1, Severity::Low).payload().clone())
        .with_threat(Category::Spam, Severity::Low);
    assert!(matches!(th.intercept(&spam), Outcome::Quarantined(_)));
}

#[test]
fn oversized_and_overdeep_threats() {
    let mut cfg = config();
    cfg.max_payload_bytes = NonZeroUsize::new(64).unwrap();
    cfg.max_depth = NonZeroUsize::new(4).unwrap();
    let (th, _) = build(cfg);
    // `{"a":"` + 56 + `"}` = 64 bytes exactly is accepted; one more is refused.
    let at_limit = json!({"a": "x".repeat(56)});
    assert_eq!(
        canonicalize(&at_limit, CanonicalForm::Jcs).unwrap().len(),
        64
    );
    let scent = Scent::new("s", at_limit).with_threat(Category::Malware, Severity::Medium);
    assert!(matches!(th.intercept(&scent), Outcome::Quarantined(_)));
    let over = Scent::new("s", json!({"a": "x".repeat(57)}))
        .with_threat(Category::Malware, Severity::Medium);
    assert_eq!(th.intercept(&over), Outcome::PayloadTooLarge { limit: 64 });
    let deep = Scent::new("s", json!([[[[["too deep"]]]]]))
        .with_threat(Category::Malware, Severity::Medium);
    // Refused like an oversized one: an unencodable threat must not pass as an error would.
    assert_eq!(
        th.intercept(&deep),
        Outcome::Unencodable {
            error: EncodeError::TooDeep { limit: 4 }
        }
    );
    let snap = th.snapshot();
    assert_eq!(snap.outcomes.payload_too_large, 1);
    assert_eq!(snap.outcomes.unencodable, 1);
    assert_eq!(snap.outcomes.error, 0);
    assert_eq!(snap.quarantine.count, 1);
}

#[test]
fn eviction_follows_severity_then_age_and_never_exceeds_caps() {
    let mut cfg = config();
    cfg.quarantine.max_count = NonZeroUsize::new(3).unwrap();
    let (th, clock) = build(cfg);
    let low_old = quarantined(th.intercept(&threat(1, Severity::Low)));
    clock.advance(Duration::from_secs(1));
    let low_new = quarantined(th.intercept(&threat(2, Severity::Low)));
    let high = quarantined(th.intercept(&threat(3, Severity::High)));
    let events = th.subscribe(16).unwrap();

    let critical = quarantined(th.intercept(&threat(4, Severity::Critical)));
    assert!(
        th.get(low_old.signature()).is_none(),
        "oldest low goes first"
    );
    for kept in [&low_new, &high, &critical] {
        assert!(th.get(kept.signature()).is_some());
    }
    let kinds: Vec<EventKind> = events.drain().map(|e| e.into_kind()).collect();
    assert!(kinds.iter().any(|k| matches!(k,
        EventKind::EvidenceEvicted { evidence, cause: EvictionCause::Count, .. }
            if evidence.signature() == low_old.signature())));

    // A newer low still outranks the older low.
    clock.advance(Duration::from_secs(1));
    quarantined(th.intercept(&threat(6, Severity::Medium)));
    assert!(th.get(low_new.signature()).is_none());
    // Now a low threat ranks below everything held: dropped, nothing evicted.
    let held = th.list();
    let dropped = th.intercept(&threat(5, Severity::Low));
    assert!(matches!(dropped, Outcome::Dropped { .. }), "{dropped:?}");
    assert_eq!(th.list(), held);
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 3);
    assert_eq!(snap.audit.records.quarantined, 6);
    assert_eq!(snap.audit.records.evicted, 2);
    assert_eq!(snap.audit.records.dropped, 1);
    // A repeat of dropped evidence is not "known": it was never kept.
    assert!(matches!(
        th.intercept(&threat(5, Severity::Low)),
        Outcome::Dropped { .. }
    ));
}

#[test]
fn byte_cap_evicts_as_many_as_needed_and_accounts_exactly() {
    let mut cfg = config();
    cfg.quarantine.max_bytes = NonZeroUsize::new(1_000).unwrap();
    cfg.max_payload_bytes = NonZeroUsize::new(1_000).unwrap();
    let (th, _) = build(cfg);
    let payload = |n: u64, len: usize| json!({"n": n, "pad": "p".repeat(len)});
    let mut small = Vec::new();
    for n in 0..8 {
        let s = Scent::new("s", payload(n, 100)).with_threat(Category::Flood, Severity::Low);
        small.push(quarantined(th.intercept(&s)));
    }
    let held: usize = small.iter().map(|r| r.size()).sum();
    assert_eq!(th.snapshot().quarantine.bytes, held);
    // The big one needs room: the oldest small ones go, exactly as many as its bytes need.
    let big = Scent::new("s", payload(99, 590)).with_threat(Category::Flood, Severity::High);
    let big_size = canonicalize(big.payload(), CanonicalForm::Jcs)
        .unwrap()
        .len();
    let mut need = (held + big_size).saturating_sub(1_000);
    let mut expected_victims = 0;
    for receipt in &small {
        if need == 0 {
            break;
        }
        need = need.saturating_sub(receipt.size());
        expected_victims += 1;
    }
    assert!(expected_victims > 1, "the case must need several victims");
    let big = quarantined(th.intercept(&big));
    let snap = th.snapshot();
    assert_eq!(snap.audit.records.evicted, expected_victims as u64);
    assert_eq!(snap.quarantine.count, 8 - expected_victims + 1);
    assert!(snap.quarantine.bytes <= 1_000);
    let listed: usize = th.list().iter().map(|r| r.size()).sum();
    assert_eq!(snap.quarantine.bytes, listed);
    assert!(th.get(big.signature()).is_some());
    for (i, receipt) in small.iter().enumerate() {
        assert_eq!(
            th.get(receipt.signature()).is_some(),
            i >= expected_victims,
            "small {i}: the oldest go first"
        );
    }
}

#[test]
fn future_capture_times_are_clamped_to_now() {
    let mut cfg = config();
    cfg.quarantine.max_count = NonZeroUsize::new(2).unwrap();
    let (th, _) = build(cfg);
    let future = START.saturating_add(Duration::from_secs(86_400 * 365));
    let dodger = threat(1, Severity::Low).captured_at(future);
    let dodger = quarantined(th.intercept(&dodger));
    assert_eq!(dodger.captured(), START);
    let past = quarantined(th.intercept(&threat(2, Severity::Low).captured_at(Timestamp::EPOCH)));
    assert_eq!(past.captured(), Timestamp::EPOCH);
    quarantined(th.intercept(&threat(3, Severity::Low)));
    // The backdated one is oldest and went first; the future one could not jump the queue.
    assert!(th.get(past.signature()).is_none());
    quarantined(th.intercept(&threat(4, Severity::Low)));
    assert!(th.get(dodger.signature()).is_none());
}

#[test]
fn neutralize_purge_replace_and_flush_are_audited() {
    let (th, _) = build(config());
    let receipts: Vec<_> = (0..5)
        .map(|n| quarantined(th.intercept(&threat(n, Severity::Medium))))
        .collect();

    let removed = th.neutralize(receipts[0].signature()).unwrap();
    assert_eq!(removed.evidence(), &receipts[0]);
    assert_eq!(removed.audit_leaf().map(|l| l.index), Some(5));
    assert_eq!(th.neutralize(receipts[0].signature()), Err(Error::NotFound));

    let purged = th
        .purge(receipts[1].signature(), PurgeReason::Timeout)
        .unwrap();
    assert_eq!(purged.audit_leaf().map(|l| l.index), Some(6));

    let replacement = threat(100, Severity::Critical);
    let replaced = th.replace(receipts[2].signature(), &replacement).unwrap();
    assert_eq!(replaced.removed().evidence(), &receipts[2]);
    let new = match replaced.outcome() {
        Outcome::Quarantined(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        new.audit_leaf().map(|l| l.index),
        Some(8),
        "replaced leaf 7, then the insert"
    );
    // Replacing something not held changes nothing.
    let before = th.snapshot().audit;
    assert_eq!(
        th.replace(receipts[2].signature(), &threat(101, Severity::Low)),
        Err(Error::NotFound)
    );
    assert_eq!(
        th.replace(new.signature(), &Scent::new("s", json!(1))),
        Err(Error::NoThreatSignal)
    );
    assert_eq!(th.snapshot().audit, before);

    let flushed = th.flush().unwrap();
    assert_eq!(flushed.len(), 3);
    let snap = th.snapshot();
    assert_eq!(snap.quarantine.count, 0);
    assert_eq!(snap.quarantine.bytes, 0);
    let records = snap.audit.records;
    assert_eq!(
        (
            records.quarantined,
            records.neutralized,
            records.purged,
            records.replaced
        ),
        (6, 4, 1, 1)
    );
    assert_eq!(records.total(), snap.audit.size);
    assert_eq!(records.quarantined - records.removals(), 0);
}

#[test]
fn evidence_expires_by_capture_time() {
    let mut cfg = config();
    cfg.quarantine.max_age = Some(Duration::from_secs(60));
    let (th, clock) = build(cfg);
    let old = quarantined(th.intercept(&threat(1, Severity::Critical)));
    clock.advance(Duration::from_secs(30));
    let young = quarantined(th.intercept(&threat(2, Severity::Low)));
    clock.advance(Duration::from_secs(30) - Duration::from_nanos(1));
    assert_eq!(th.maintain().unwrap().expired, 0);
    clock.advance(Duration::from_nanos(1));
    let events = th.subscribe(8).unwrap();
    assert_eq!(th.maintain().unwrap().expired, 1);
    assert!(th.get(old.signature()).is_none());
    assert!(th.get(young.signature()).is_some());
    assert!(matches!(
        events.try_recv().map(|e| e.into_kind()),
        Some(EventKind::EvidenceExpired { .. })
    ));
    assert_eq!(th.snapshot().audit.records.expired, 1);
}

#[test]
fn rate_limit_applies_to_clean_traffic_first() {
    let mut cfg = config();
    cfg.rate_limit = Some(RateLimitConfig::default());
    cfg.rate_limit.get_or_insert_default().requests = NonZeroU32::new(5).unwrap();
    cfg.rate_limit.get_or_insert_default().block = Duration::from_secs(300);
    let (th, clock) = build(cfg);
    for _ in 0..5 {
        assert_eq!(
            th.intercept(&Scent::new("flood", json!({}))),
            Outcome::Clean
        );
    }
    // Blocked sources are refused before their payload is even looked at.
    let huge_threat = Scent::new("flood", json!({"x": "y".repeat(5_000_000)}))
        .with_threat(Category::Ddos, Severity::High);
    assert_eq!(
        th.intercept(&huge_threat),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(300)
        }
    );
    clock.advance(Duration::from_secs(299));
    assert_eq!(
        th.intercept(&Scent::new("flood", json!({}))),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(1)
        }
    );
    assert_eq!(
        th.intercept(&Scent::new("other", json!({}))),
        Outcome::Clean
    );
    let snap = th.snapshot();
    assert_eq!(snap.outcomes.rate_limited, 2);
    assert_eq!(snap.rate_limit.tracked_keys, 2);
    assert_eq!(snap.rate_limit.blocked_keys, 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        th.intercept(&Scent::new("flood", json!({}))),
        Outcome::Clean
    );
}

#[test]
fn a_full_subscriber_loses_events_and_counts_them() {
    let (th, _) = build(config());
    let slow = th.subscribe(2).unwrap();
    let fast = th.subscribe(1000).unwrap();
    for n in 0..10 {
        quarantined(th.intercept(&threat(n, Severity::High)));
    }
    // Each threat publishes ThreatDetected and EvidenceQuarantined.
    assert_eq!(fast.len(), 20);
    assert_eq!(slow.len(), 2);
    assert_eq!(slow.dropped(), 18);
    let snap = th.snapshot();
    assert_eq!(snap.events.published, 20);
    assert_eq!(snap.events.dropped, 18);
    assert_eq!(snap.events.subscribers, 2);
    let ids: Vec<u64> = fast.drain().map(|e| e.id()).collect();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    drop(slow);
    assert_eq!(th.snapshot().events.subscribers, 1);
}

#[test]
fn subscription_limits_are_enforced() {
    let mut cfg = config();
    cfg.events.max_subscribers = NonZeroUsize::new(2).unwrap();
    cfg.events.max_queue = NonZeroUsize::new(10).unwrap();
    let (th, _) = build(cfg);
    assert_eq!(
        th.subscribe(0).unwrap_err(),
        Error::Subscribe(SubscribeError::InvalidCapacity { max: 10 })
    );
    assert!(th.subscribe(11).is_err());
    let a = th.subscribe(10).unwrap();
    let _b = th.subscribe(1).unwrap();
    assert_eq!(
        th.subscribe(1).unwrap_err(),
        Error::Subscribe(SubscribeError::TooMany { max: 2 })
    );
    drop(a);
    assert!(
        th.subscribe(1).is_ok(),
        "a dropped subscription frees its slot"
    );
}

#[test]
fn events_never_carry_payload_bytes() {
    let (th, _) = build(config());
    let events = th.subscribe(100).unwrap();
    let secret = "card=4111111111111111";
    let scent =
        Scent::new("s", json!({"body": secret})).with_threat(Category::Unknown, Severity::Low);
    let receipt = quarantined(th.intercept(&scent));
    th.purge(receipt.signature(), PurgeReason::Erasure).unwrap();
    let mut seen = 0;
    for event in events.drain() {
        seen += 1;
        assert!(!format!("{event:?}").contains("4111111111111111"));
    }
    assert_eq!(seen, 3);
    assert!(!format!("{receipt:?}").contains("4111"));
}

#[test]
fn same_inputs_same_audit_root() {
    let run = || {
        let mut cfg = config();
        cfg.quarantine.max_count = NonZeroUsize::new(10).unwrap();
        let (th, clock) = build(cfg);
        for n in 0..50 {
            clock.advance(Duration::from_millis(7));
            let severity = Severity::ALL[(n % 4) as usize];
            let _ = th.intercept(&threat(n, severity));
            if n % 9 == 0
                && let Some(r) = th.list().last()
            {
                th.neutralize(r.signature()).unwrap();
            }
        }
        th.snapshot().audit
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert!(a.size > 50);
}

#[test]
fn custom_categories_and_signature_text() {
    let (th, _) = build(config());
    let category = Category::custom("credential-stuffing").unwrap();
    let scent = Scent::new("s", json!({"user": "admin"})).with_threat(category, Severity::High);
    let receipt = quarantined(th.intercept(&scent));
    let text = receipt.signature().to_string();
    assert!(text.starts_with("credential-stuffing:"));
    let parsed: Signature = text.parse().unwrap();
    assert_eq!(th.get(&parsed).unwrap(), receipt);
}

#[test]
fn typescript_form_is_configurable() {
    let mut cfg = config();
    cfg.canonical_form = CanonicalForm::TracehoundJs;
    let (th, _) = build(cfg);
    let payload: Value = serde_json::from_str(r#"{"10":1,"9":2,"a":3}"#).unwrap();
    let receipt = quarantined(
        th.intercept(&Scent::new("s", payload).with_threat(Category::Injection, Severity::Low)),
    );
    assert_eq!(
        receipt.signature().to_string(),
        "injection:ac43de46bc6196a4be2565243663627b7f366df169441ec5be1ab0c243f154bb"
    );
}

/// Waits, without sleeping, until `done` holds or ten seconds pass.
fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

fn maintenance_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .filter(|name| name.trim_end() == "tracehound-main")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn maintenance_thread_runs_and_ends_with_its_tracehound() {
    let mut cfg = config();
    cfg.maintenance.get_or_insert_default().interval = Duration::from_millis(10);
    cfg.quarantine.max_age = Some(Duration::from_secs(1));
    let clock = ManualClock::new(START);
    let th = Tracehound::builder()
        .config(cfg)
        .clock(clock.clone())
        .build()
        .unwrap();
    // The thread names itself once it runs; other tests' threads may come and go.
    assert!(eventually(|| maintenance_threads() >= 1));
    let events = th.subscribe(8).unwrap();
    quarantined(th.intercept(&threat(1, Severity::Low)));
    clock.advance(Duration::from_secs(2));
    // The thread, not this test, expires the evidence.
    let expired = (0..200)
        .filter_map(|_| events.recv_timeout(Duration::from_millis(50)))
        .find(|e| matches!(e.kind(), EventKind::EvidenceExpired { .. }));
    assert!(expired.is_some(), "the maintenance thread expired nothing");

    // A clone keeps it alive: its maintenance still runs.
    let clone = th.clone();
    drop(th);
    let _ = clone.intercept(&threat(2, Severity::Low));
    clock.advance(Duration::from_secs(2));
    assert!(
        (0..200)
            .filter_map(|_| events.recv_timeout(Duration::from_millis(50)))
            .any(|e| matches!(e.kind(), EventKind::EvidenceExpired { .. }))
    );
    // Dropping the last handle ends the thread (the only one in this test binary) and closes
    // the event stream.
    drop(clone);
    assert!(
        eventually(|| maintenance_threads() == 0),
        "the maintenance thread outlived its Tracehound"
    );
    while events.try_recv().is_some() {}
    assert_eq!(events.recv_timeout(Duration::from_secs(5)), None);
}

#[test]
fn events_arrive_in_audit_order_under_concurrent_eviction() {
    let mut cfg = config();
    cfg.quarantine.max_count = NonZeroUsize::new(8).unwrap();
    let (th, _) = build(cfg);
    let events = th.subscribe(1 << 16).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let th = &th;
            scope.spawn(move || {
                for n in 0..500 {
                    let severity = Severity::ALL[((n + t) % 4) as usize];
                    let _ = th.intercept(&threat(t * 10_000 + n, severity));
                }
            });
        }
    });
    let mut last_id = None;
    let mut last_leaf = None;
    let mut held = std::collections::HashSet::new();
    for event in events.drain() {
        assert!(last_id < Some(event.id()), "ids increase in the queue");
        last_id = Some(event.id());
        let leaf = match event.kind() {
            EventKind::EvidenceQuarantined(r) => {
                assert!(held.insert(r.signature().clone()), "quarantined twice");
                Some(r.audit_leaf())
            }
            EventKind::EvidenceEvicted {
                evidence,
                audit_leaf,
                ..
            } => {
                assert!(
                    held.remove(evidence.signature()),
                    "evicted before it was quarantined"
                );
                Some(*audit_leaf)
            }
            _ => None,
        };
        if leaf.is_some() {
            assert!(last_leaf < leaf, "audit leaves increase in the queue");
            last_leaf = leaf;
        }
    }
    assert_eq!(events.dropped(), 0);
    assert_eq!(held.len(), th.snapshot().quarantine.count);
}

#[test]
fn an_absurd_clock_does_not_break_intercept() {
    let mut cfg = config();
    cfg.rate_limit = Some(RateLimitConfig::default());
    let (th, clock) = build(cfg);
    assert_eq!(th.intercept(&Scent::new("s", json!(1))), Outcome::Clean);
    clock.advance(Duration::MAX);
    for n in 0..3 {
        let outcome = th.intercept(&threat(n, Severity::High));
        assert!(matches!(outcome, Outcome::Quarantined(_)), "{outcome:?}");
    }
    assert_eq!(th.intercept(&Scent::new("s", json!(1))), Outcome::Clean);
    th.maintain().unwrap();
}
