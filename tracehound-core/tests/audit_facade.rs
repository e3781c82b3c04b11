//! The `Tracehound` facade writing its audit log: durable across restarts, provable per
//! piece of evidence, and never blocking `intercept` when the log cannot keep up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tracehound::audit::{AuditRecord, EvidenceProof, FsyncPolicy, RecordBody, RecordType};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::{
    CanonicalForm, Category, Config, EventKind, Outcome, RateLimitConfig, Scent, Severity,
    Tracehound, canonicalize,
};

const START: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "tracehound-facade-{name}-{}-{nanos}",
        std::process::id()
    ))
}

fn config(dir: Option<PathBuf>) -> Config {
    let mut config = Config::default();
    config.maintenance.interval = Duration::ZERO;
    config.rate_limit = RateLimitConfig::disabled();
    config.audit.dir = dir;
    config.audit.deployment = "facade.test".into();
    config.audit.fsync = FsyncPolicy::Always;
    config.audit.checkpoint_interval = Duration::ZERO;
    config
}

fn build(config: Config) -> Tracehound {
    Tracehound::builder()
        .config(config)
        .clock(ManualClock::new(START))
        .build()
        .unwrap()
}

fn threat(n: u64) -> Scent {
    Scent::new("198.51.100.7", json!({"attempt": n, "q": "' OR 1=1 --"}))
        .with_threat(Category::Injection, Severity::High)
}

#[test]
fn evidence_is_provable_offline_and_the_log_survives_a_restart() {
    let dir = temp_dir("restart");
    let (signature, vkey, head) = {
        let th = build(config(Some(dir.clone())));
        let mut signature = None;
        for n in 0..20 {
            let Outcome::Quarantined(receipt) = th.intercept(&threat(n)) else {
                panic!("quarantined")
            };
            signature.get_or_insert(receipt.signature().clone());
        }
        let signature = signature.unwrap();
        let head = th.sync_audit(Duration::from_secs(10)).unwrap();
        assert_eq!((head.epoch, head.size), (1, 20));

        let bundle = th.prove(&signature).unwrap();
        let text = bundle.to_text();
        let checked = EvidenceProof::parse(&text)
            .unwrap()
            .verify(&[th.verifier_key()], None)
            .unwrap();
        assert_eq!(checked.record.kind, RecordType::Quarantined);
        assert_eq!(checked.record.signature(), Some(&signature));
        let canonical = canonicalize(threat(0).payload(), CanonicalForm::Jcs).unwrap();
        checked.check_evidence(&canonical).unwrap();

        let snap = th.snapshot();
        assert_eq!(snap.audit.size, 20);
        assert_eq!(snap.audit.durable_size, 20);
        assert_eq!(snap.audit.checkpoints, 1, "prove signed one checkpoint");
        assert_eq!(snap.audit.last_checkpoint_size, 20);
        assert!(snap.audit.last_checkpoint_age.is_some());
        assert_eq!((snap.audit.append_failures, snap.audit.lost), (0, 0));
        (signature, th.verifier_key(), head)
    };
    // Dropping the facade committed, signed a final checkpoint and unlocked the directory.
    let th = build(config(Some(dir.clone())));
    assert_eq!(th.verifier_key(), vkey);
    let again = th.sync_audit(Duration::from_secs(10)).unwrap();
    assert_eq!(again, head);
    assert!(th.intercept(&threat(100)).passes() == false);
    assert_eq!(th.sync_audit(Duration::from_secs(10)).unwrap().size, 21);
    th.with_audit_log(|log| {
        let record = AuditRecord::decode(&log.record(0).unwrap()).unwrap();
        assert_eq!(record.signature(), Some(&signature));
        let old = log.latest_checkpoint().unwrap().checkpoint().clone();
        assert_eq!(
            old.size, 20,
            "the final checkpoint signed when the first facade closed"
        );
    });
    drop(th);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stalled_log_never_blocks_intercept_and_the_loss_is_recorded_as_a_gap() {
    let mut cfg = config(None);
    cfg.audit.queue_capacity = 2;
    let th = build(cfg);
    let events = th.subscribe(1024).unwrap();
    assert!(matches!(th.intercept(&threat(0)), Outcome::Quarantined(_)));
    th.sync_audit(Duration::from_secs(10)).unwrap();

    // While the writer waits on the log, the queue fills; intercept carries on.
    let lost = th.with_audit_log(|_log| {
        for n in 1..=20 {
            assert!(matches!(th.intercept(&threat(n)), Outcome::Quarantined(_)));
        }
        th.snapshot().audit.lost
    });
    // Only the queue's two slots (and whatever the writer took before it stalled) get
    // through; the exact split depends on when the writer thread woke.
    assert!(lost > 0 && lost <= 20, "lost {lost}");
    assert_eq!(
        th.snapshot().quarantine.count,
        21,
        "nothing held was dropped"
    );

    // Once the log takes records again, the next record is preceded by a gap leaf.
    th.sync_audit(Duration::from_secs(10)).unwrap();
    assert!(matches!(th.intercept(&threat(21)), Outcome::Quarantined(_)));
    let head = th.sync_audit(Duration::from_secs(10)).unwrap();
    let snap = th.snapshot();
    // The writer may drain the queue mid-stall, so losses can come in more than one run;
    // each run ends in one gap leaf, and together they account for every lost record.
    let gaps = snap.audit.gaps;
    assert!(gaps >= 1);
    assert_eq!(snap.audit.lost, lost);
    assert_eq!(
        head.size,
        22 - lost + gaps,
        "kept records plus the gap leaves"
    );
    let recorded: u64 = th.with_audit_log(|log| {
        (0..log.size())
            .map(|i| AuditRecord::decode(&log.record(i).unwrap()).unwrap())
            .filter_map(|r| match r.body {
                RecordBody::Gap { lost, .. } => Some(lost),
                _ => None,
            })
            .sum()
    });
    assert_eq!(recorded, lost);
    let kinds: Vec<EventKind> = events.drain().map(|e| e.kind().clone()).collect();
    let unavailable = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::AuditUnavailable))
        .count() as u64;
    assert_eq!(unavailable, gaps, "one event per run of losses");
    let announced: u64 = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::AuditGapRecorded { lost, .. } => Some(*lost),
            _ => None,
        })
        .sum();
    assert_eq!(announced, lost);
}
