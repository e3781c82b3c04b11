//! Fail-open property: whatever scents arrive, from however many threads, `intercept` never
//! panics and the quarantine, audit log and counters stay consistent and within their caps.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::{
    AuditLeaf, Category, Config, Error, EventKind, Outcome, Receipt, Scent, Severity, Signature,
    Tracehound,
};

const MAX_PAYLOAD: usize = 512;
const MAX_COUNT: usize = 16;
const MAX_BYTES: usize = 2048;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        // Strings that put the payload just under, at, or just over the cap.
        (MAX_PAYLOAD - 24..MAX_PAYLOAD + 8).prop_map(|n| Value::String("s".repeat(n))),
    ];
    // Deeper than the configured depth limit, so some trees are refused for depth.
    leaf.prop_recursive(8, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn category() -> impl Strategy<Value = Category> {
    prop_oneof![
        Just(Category::Injection),
        Just(Category::Ddos),
        Just(Category::Flood),
        Just(Category::Spam),
        Just(Category::Malware),
        Just(Category::Unknown),
        "[a-z][a-z0-9_.-]{0,20}".prop_map(|name| Category::custom(&name).unwrap()),
    ]
}

fn scent() -> impl Strategy<Value = (Scent, u8)> {
    (
        0..60u32,
        json_value(),
        proptest::option::weighted(0.85, (category(), 0..4usize)),
        proptest::option::of(0..u64::MAX),
        0..3u8,
    )
        .prop_map(|(source, payload, threat, captured, tick)| {
            let mut scent = Scent::new(format!("192.0.2.{source}"), payload);
            if let Some((category, severity)) = threat {
                scent = scent.with_threat(category, Severity::ALL[severity]);
            }
            if let Some(nanos) = captured {
                scent = scent.captured_at(Timestamp::from_unix_nanos(nanos));
            }
            (scent, tick)
        })
}

fn tracehound(clock: &ManualClock) -> Tracehound {
    let mut config = Config::default();
    config.max_payload_bytes = NonZeroUsize::new(MAX_PAYLOAD).unwrap();
    config.max_depth = NonZeroUsize::new(6).unwrap();
    config.quarantine.max_count = NonZeroUsize::new(MAX_COUNT).unwrap();
    config.quarantine.max_bytes = NonZeroUsize::new(MAX_BYTES).unwrap();
    config.quarantine.max_age = Some(Duration::from_millis(40));
    config.rate_limit.get_or_insert_default().requests = NonZeroU32::new(8).unwrap();
    config.rate_limit.get_or_insert_default().window = Duration::from_millis(10);
    config.rate_limit.get_or_insert_default().block = Duration::from_millis(25);
    config.rate_limit.get_or_insert_default().max_keys = NonZeroUsize::new(20).unwrap();
    config.maintenance = None;
    Tracehound::builder()
        .config(config)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Runs `scents` split over `threads` threads; returns every receipt handed out.
fn run(
    th: &Tracehound,
    clock: &ManualClock,
    scents: Vec<(Scent, u8)>,
    threads: usize,
) -> Vec<Receipt> {
    let per_thread = scents.len().div_ceil(threads.max(1)).max(1);
    let chunks: Vec<Vec<(Scent, u8)>> = scents.chunks(per_thread).map(<[_]>::to_vec).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(t, chunk)| {
                scope.spawn(move || {
                    let mut receipts = Vec::new();
                    for (i, (scent, tick)) in chunk.into_iter().enumerate() {
                        clock.advance(Duration::from_millis(u64::from(tick)));
                        let outcome = th.intercept(&scent);
                        assert!(
                            !matches!(outcome, Outcome::Error(Error::Internal { .. })),
                            "internal failure on {scent:?}"
                        );
                        if scent.threat().is_none() {
                            assert!(
                                matches!(outcome, Outcome::Clean | Outcome::RateLimited { .. }),
                                "decision-free: {outcome:?}"
                            );
                        }
                        let snap = th.snapshot();
                        assert!(snap.quarantine.count <= MAX_COUNT);
                        assert!(snap.quarantine.bytes <= MAX_BYTES);
                        assert!(snap.rate_limit.tracked_keys <= 20);
                        if let Outcome::Quarantined(receipt) = outcome {
                            if threads == 1 {
                                assert_eq!(th.get(receipt.signature()), Some(receipt.clone()));
                            }
                            receipts.push(receipt);
                        }
                        if (i + t) % 17 == 0 {
                            th.maintain().unwrap();
                        }
                    }
                    receipts
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("an intercepting thread panicked"))
            .collect()
    })
}

fn check_consistency(
    th: &Tracehound,
    receipts: &[Receipt],
    removal_events: &HashMap<Signature, Vec<Option<AuditLeaf>>>,
    scents: usize,
) {
    let snap = th.snapshot();
    let records = snap.audit.records;
    assert_eq!(snap.outcomes.total(), scents as u64);
    assert_eq!(snap.audit.size, records.total());
    // Audit leaves == inserts + removals.
    assert_eq!(
        records.quarantined,
        snap.outcomes.quarantined + snap.outcomes.dropped
    );
    assert_eq!(
        records.quarantined - records.removals(),
        snap.quarantine.count as u64
    );
    let held = th.list();
    assert_eq!(held.len(), snap.quarantine.count);
    assert_eq!(
        held.iter().map(Receipt::size).sum::<usize>(),
        snap.quarantine.bytes
    );
    let by_severity = snap.quarantine.by_severity;
    assert_eq!(
        by_severity.low + by_severity.medium + by_severity.high + by_severity.critical,
        snap.quarantine.count
    );
    assert_eq!(
        snap.events.dropped, 0,
        "the test's queue must see every event"
    );
    // Every quarantined signature is retrievable until an audited removal after it.
    for receipt in receipts {
        let still_held = th.get(receipt.signature()).as_ref() == Some(receipt);
        let removed_later = removal_events
            .get(receipt.signature())
            .is_some_and(|leaves| leaves.iter().any(|&leaf| leaf > receipt.audit_leaf()));
        assert!(still_held || removed_later, "{receipt:?} vanished");
        let verified = th.verify_evidence(receipt.signature());
        if still_held {
            assert_eq!(verified.as_ref(), Ok(receipt));
        }
    }
    // Nothing is held that no intercept handed out.
    for entry in &held {
        assert!(receipts.contains(entry), "phantom {entry:?}");
        assert_eq!(th.verify_evidence(entry.signature()).as_ref(), Ok(entry));
    }
}

fn removals(events: &tracehound::Subscription) -> HashMap<Signature, Vec<Option<AuditLeaf>>> {
    let mut map: HashMap<Signature, Vec<Option<AuditLeaf>>> = HashMap::new();
    for event in events.drain() {
        let (evidence, leaf) = match event.into_kind() {
            EventKind::EvidenceEvicted {
                evidence,
                audit_leaf,
                ..
            }
            | EventKind::EvidenceNeutralized {
                evidence,
                audit_leaf,
            }
            | EventKind::EvidencePurged {
                evidence,
                audit_leaf,
                ..
            }
            | EventKind::EvidenceReplaced {
                evidence,
                audit_leaf,
            }
            | EventKind::EvidenceExpired {
                evidence,
                audit_leaf,
            } => (evidence, audit_leaf),
            _ => continue,
        };
        map.entry(evidence.signature().clone())
            .or_default()
            .push(leaf);
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn one_thread(scents in vec(scent(), 1..160)) {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000));
        let th = tracehound(&clock);
        let events = th.subscribe(1 << 16).unwrap();
        let count = scents.len();
        let receipts = run(&th, &clock, scents, 1);
        check_consistency(&th, &receipts, &removals(&events), count);
    }

    #[test]
    fn four_threads(scents in vec(scent(), 4..240)) {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000));
        let th = tracehound(&clock);
        let events = th.subscribe(1 << 16).unwrap();
        let count = scents.len();
        let receipts = run(&th, &clock, scents, 4);
        check_consistency(&th, &receipts, &removals(&events), count);
    }
}

#[test]
fn operations_interleaved_with_intercepts_from_many_threads() {
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000));
    let th = Arc::new(tracehound(&clock));
    let events = th.subscribe(1 << 16).unwrap();
    let receipts: Vec<Receipt> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let th = Arc::clone(&th);
                scope.spawn(move || {
                    let mut receipts = Vec::new();
                    for n in 0..400u64 {
                        let scent =
                            Scent::new(format!("w{t}-{}", n % 7), json!({"t": t, "n": n % 50}))
                                .with_threat(Category::Injection, Severity::ALL[(n % 4) as usize]);
                        if let Outcome::Quarantined(r) = th.intercept(&scent) {
                            receipts.push(r);
                        }
                    }
                    receipts
                })
            })
            .collect();
        let th2 = Arc::clone(&th);
        let operator = scope.spawn(move || {
            for round in 0..200 {
                if let Some(first) = th2.list().first() {
                    let _ = match round % 3 {
                        0 => th2.neutralize(first.signature()).map(drop),
                        1 => th2
                            .purge(first.signature(), tracehound::PurgeReason::Manual)
                            .map(drop),
                        _ => th2.maintain().map(drop),
                    };
                }
                if round % 50 == 0 {
                    th2.flush().unwrap();
                }
            }
        });
        operator.join().unwrap();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    check_consistency(&th, &receipts, &removals(&events), 1600);
}
