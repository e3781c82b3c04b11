//! The `Tracehound` facade writing its audit log: durable across restarts, provable per
//! piece of evidence, and never blocking `intercept` when the log cannot keep up.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::fs;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tracehound::audit::{
    AuditError, AuditRecord, EvidenceProof, FsyncPolicy, RecordBody, RecordType, ResetCause,
};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::{
    CanonicalForm, Category, Config, Error, EventKind, Outcome, Scent, Severity, Tracehound,
    canonicalize,
};

const START: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

fn temp_dir(name: &str) -> PathBuf {
    tracehound_test_support::temp_path(&format!("facade-{name}"))
}

fn config(dir: Option<PathBuf>) -> Config {
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = None;
    config.audit.dir = dir;
    config.audit.deployment = "facade.test".into();
    config.audit.fsync = FsyncPolicy::Always;
    config.audit.checkpoint_interval = None;
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
    let (vkey, head) = {
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
        (th.verifier_key(), head)
    };
    // Dropping the facade committed, signed a final checkpoint and unlocked the directory.
    // The next start continues in a new epoch whose first leaf is that checkpoint, so no
    // leaf index a crashed run handed out can ever name another record.
    let th = build(config(Some(dir.clone())));
    assert_eq!(th.verifier_key(), vkey);
    let again = th.sync_audit(Duration::from_secs(10)).unwrap();
    assert_eq!((again.epoch, again.size), (2, 1));
    let Outcome::Quarantined(receipt) = th.intercept(&threat(100)) else {
        panic!("quarantined")
    };
    let leaf = receipt.audit_leaf().unwrap();
    assert_eq!((leaf.epoch, leaf.index), (2, 1));
    let bundle = th.prove(receipt.signature()).unwrap();
    bundle
        .verify(
            std::slice::from_ref(&vkey),
            Some("facade.test/tracehound/2"),
        )
        .unwrap();
    th.read_audit(|log| {
        let start = AuditRecord::decode(&log.record(0).unwrap()).unwrap();
        let RecordBody::EpochStart {
            previous_epoch,
            checkpoint,
        } = start.body
        else {
            panic!("the new epoch starts with the old one's checkpoint")
        };
        assert_eq!(previous_epoch, 1);
        let last =
            tracehound::audit::SignedCheckpoint::open(&checkpoint, std::slice::from_ref(&vkey))
                .unwrap();
        assert_eq!(last.checkpoint().size, head.size);
        assert_eq!(last.checkpoint().root, head.root);
        assert!(log.epoch_path(1).unwrap().is_dir());
    });
    drop(th);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stalled_log_never_blocks_intercept_and_the_loss_is_recorded_as_a_gap() {
    let mut cfg = config(None);
    cfg.audit.queue_capacity = NonZeroUsize::new(2).unwrap();
    let th = build(cfg);
    let events = th.subscribe(1024).unwrap();
    assert!(matches!(th.intercept(&threat(0)), Outcome::Quarantined(_)));
    th.sync_audit(Duration::from_secs(10)).unwrap();

    // While the writer waits on the log, the queue fills; intercept carries on.
    let lost = th.read_audit(|_log| {
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
    let recorded: u64 = th.read_audit(|log| {
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

#[test]
fn checkpoints_are_signed_on_schedule_when_the_log_grows() {
    let mut cfg = config(None);
    cfg.audit.checkpoint_interval = Some(Duration::from_millis(10));
    let th = build(cfg);
    let events = th.subscribe(64).unwrap();
    assert!(matches!(th.intercept(&threat(1)), Outcome::Quarantined(_)));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let signed = loop {
        if let Some(event) = events.recv_timeout(Duration::from_millis(50))
            && let EventKind::CheckpointSigned(checkpoint) = event.kind()
        {
            break checkpoint.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled checkpoint"
        );
    };
    assert_eq!(signed.checkpoint().size, 1);
    tracehound::audit::SignedCheckpoint::open(signed.note(), &[th.verifier_key()]).unwrap();
    let snap = th.snapshot();
    assert!(snap.audit.checkpoints >= 1);
    assert_eq!(snap.audit.last_checkpoint_size, 1);
    // Nothing new: no new checkpoint, however much time passes.
    let before = th.snapshot().audit.checkpoints;
    th.sync_audit(Duration::from_secs(5)).unwrap();
    assert!(events.recv_timeout(Duration::from_millis(100)).is_none());
    assert_eq!(th.snapshot().audit.checkpoints, before);
}

/// Starts a `Tracehound` on `dir`, quarantines `n` threats and lets the log commit.
fn run_once(dir: &std::path::Path, n: u64) {
    let th = build(config(Some(dir.to_path_buf())));
    for i in 0..n {
        assert!(matches!(th.intercept(&threat(i)), Outcome::Quarantined(_)));
    }
    th.sync_audit(Duration::from_secs(10)).unwrap();
}

fn segment_of(dir: &std::path::Path, epoch: u64) -> PathBuf {
    dir.join(format!("epoch-{epoch:08}"))
        .join(format!("segment-{:020}.log", 0))
}

/// Waits until the background verification of sealed epochs has read every one.
fn sealed_finished(th: &Tracehound) -> tracehound::SealedStats {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sealed = th.snapshot().audit.sealed;
        if sealed.finished {
            return sealed;
        }
        assert!(std::time::Instant::now() < deadline, "{sealed:?}");
        std::thread::yield_now();
    }
}

#[test]
fn a_torn_tail_cut_on_open_is_in_the_snapshot_and_an_event() {
    let dir = temp_dir("torn");
    run_once(&dir, 3);
    // A crash in the middle of a write leaves part of a frame at the end of the segment.
    let segment = segment_of(&dir, 1);
    let mut bytes = fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 90, 0xff]);
    fs::write(&segment, &bytes).unwrap();

    let th = build(config(Some(dir.clone())));
    let snap = th.snapshot();
    assert_eq!(snap.audit.torn_bytes, 5);
    assert_eq!(snap.audit.reset, None);
    // Published while the log was opened, before anyone could subscribe: every new
    // subscription gets it first.
    for _ in 0..2 {
        let events = th.subscribe(16).unwrap();
        match events.try_recv().map(tracehound::Event::into_kind) {
            Some(EventKind::AuditTornTailCut { epoch: 1, bytes: 5 }) => {}
            other => panic!("{other:?}"),
        }
    }
    let sealed = sealed_finished(&th);
    assert_eq!((sealed.epochs, sealed.verified, sealed.damaged), (1, 1, 0));
    drop(th);
    // An open that cut nothing reports nothing.
    let th = build(config(Some(dir.clone())));
    assert_eq!(th.snapshot().audit.torn_bytes, 0);
    assert!(th.subscribe(16).unwrap().try_recv().is_none());
    drop(th);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_sealed_epoch_is_found_in_the_background_without_stopping_intercept() {
    let dir = temp_dir("sealed");
    run_once(&dir, 3);
    run_once(&dir, 3);
    // Epoch 1 was sealed when the second run started; change one byte of its last record.
    // (Opening reads only each sealed epoch's first leaf, to walk the epoch chain.)
    let segment = segment_of(&dir, 1);
    let mut bytes = fs::read(&segment).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x01;
    fs::write(&segment, &bytes).unwrap();

    let th = build(config(Some(dir.clone())));
    assert!(matches!(th.intercept(&threat(50)), Outcome::Quarantined(_)));
    let sealed = sealed_finished(&th);
    assert_eq!(sealed.epochs, 2);
    assert_eq!((sealed.verified, sealed.damaged), (1, 1));
    assert_eq!(sealed.first_damaged, Some(1));
    let events = th.subscribe(16).unwrap();
    match events.try_recv().map(tracehound::Event::into_kind) {
        Some(EventKind::AuditEpochDamaged {
            epoch: 1,
            error: AuditError::Corrupt { epoch: 1, .. },
        }) => {}
        other => panic!("{other:?}"),
    }
    drop(th);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_deleted_newest_epoch_stops_the_build_unless_starting_over_is_accepted() {
    let dir = temp_dir("deleted");
    run_once(&dir, 2);
    run_once(&dir, 2);
    fs::remove_dir_all(dir.join("epoch-00000002")).unwrap();
    let refused = Tracehound::builder()
        .config(config(Some(dir.clone())))
        .clock(ManualClock::new(START))
        .build();
    match refused {
        Err(Error::Audit(AuditError::EpochMissing {
            epoch: 2,
            newest: 1,
        })) => {}
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a deleted epoch went unnoticed"),
    }

    let mut accept = config(Some(dir.clone()));
    accept.audit.accept_lost_history = true;
    let th = build(accept);
    let snap = th.snapshot();
    assert_eq!(snap.audit.reset, Some(ResetCause::EpochMissing));
    // Epoch 3 holds the reset record and was sealed by this start; numbers 2 and 3 are
    // never handed out again.
    assert_eq!(snap.audit.epoch, 4);
    match th
        .subscribe(16)
        .unwrap()
        .try_recv()
        .map(tracehound::Event::into_kind)
    {
        Some(EventKind::AuditHistoryReset {
            epoch: 3,
            error: AuditError::EpochMissing { epoch: 2, .. },
        }) => {}
        other => panic!("{other:?}"),
    }
    let sealed = sealed_finished(&th);
    assert_eq!((sealed.epochs, sealed.verified), (1, 1), "the reset epoch");
    th.read_audit(|log| {
        let reset = log.epoch_path(3).unwrap();
        assert!(reset.is_dir());
    });
    drop(th);
    fs::remove_dir_all(&dir).unwrap();
}
