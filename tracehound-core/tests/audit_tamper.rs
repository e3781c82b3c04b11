//! Tampering with a durable audit log's directory, on real files: the checkpoint file cut or
//! deleted together with records, sealed epochs changed or deleted, the newest epoch
//! deleted, the head file removed, damaged or replaced, and the whole directory replaced.
//! Each is refused on open (or, for sealed epochs, by their verification) unless the
//! operator accepts starting over, which the log then records.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracehound::audit::{
    AuditConfig, AuditError, AuditLog, AuditRecord, EvidenceRecord, FsyncPolicy, RecordBody,
    RecordType, ResetCause,
};
use tracehound::clock::Timestamp;
use tracehound::{Category, Digest, Severity, Signature};
use tracehound_test_support::TempDir;

const T0: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

/// A scratch directory for one test, removed when dropped.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("tamper-{name}")).unwrap()
}

fn config(dir: &Path) -> AuditConfig {
    let mut config = AuditConfig::default();
    config.dir = Some(dir.to_path_buf());
    config.deployment = "tamper.test".into();
    config.fsync = FsyncPolicy::Never;
    config
}

fn append(log: &mut AuditLog, from: u64, to: u64) {
    for n in from..to {
        let sig = Signature::new(Category::Injection, Digest::of(&n.to_be_bytes()));
        let at = T0.saturating_add(Duration::from_millis(n));
        log.append(&EvidenceRecord::new(
            RecordType::Quarantined,
            at,
            &sig,
            n,
            Severity::High,
        ))
        .unwrap();
    }
    log.commit().unwrap();
}

fn epoch_dir(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("epoch-{epoch:08}"))
}

fn segment(dir: &Path, epoch: u64) -> PathBuf {
    epoch_dir(dir, epoch).join(format!("segment-{:020}.log", 0))
}

/// Byte offset where each frame of a segment or checkpoint file starts, then its end.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 32;
    while at < bytes.len() {
        out.push(at);
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 12 + len;
    }
    out.push(at);
    out
}

/// Cuts a file of frames to its header and first `keep` frames.
fn keep_frames(path: &Path, keep: usize) {
    let bytes = fs::read(path).unwrap();
    let starts = frame_starts(&bytes);
    fs::write(path, &bytes[..starts[keep]]).unwrap();
}

/// A log of three epochs: 10 records and a checkpoint in each of epochs 1 and 2 (then
/// rotated), and 5 records plus a checkpoint in epoch 3.
fn three_epochs(dir: &Path) {
    let mut log = AuditLog::open(&config(dir)).unwrap();
    append(&mut log, 0, 10);
    log.rotate(T0).unwrap();
    append(&mut log, 10, 20);
    log.rotate(T0).unwrap();
    append(&mut log, 20, 25);
    log.checkpoint().unwrap();
    assert_eq!((log.epoch(), log.size()), (3, 6));
}

fn open_err(cfg: &AuditConfig) -> AuditError {
    match AuditLog::open(cfg) {
        Err(e) => e,
        Ok(log) => panic!(
            "tampering went unnoticed: opened epoch {} with {} records",
            log.epoch(),
            log.size()
        ),
    }
}

fn first_record(log: &mut AuditLog) -> AuditRecord {
    AuditRecord::decode(&log.record(0).unwrap()).unwrap()
}

#[test]
fn records_cut_together_with_the_checkpoint_file_are_caught() {
    let tmp = temp_dir("cut");
    let cfg = config(&tmp.0);
    {
        let mut log = AuditLog::open(&cfg).unwrap();
        append(&mut log, 0, 4);
        log.checkpoint().unwrap();
        append(&mut log, 4, 10);
        log.checkpoint().unwrap();
    }
    let checkpoints = epoch_dir(&tmp.0, 1).join("checkpoints.log");
    let pristine = (
        fs::read(segment(&tmp.0, 1)).unwrap(),
        fs::read(&checkpoints).unwrap(),
    );
    let restore = || {
        fs::write(segment(&tmp.0, 1), &pristine.0).unwrap();
        fs::write(&checkpoints, &pristine.1).unwrap();
    };

    // Records and checkpoints cut back to a consistent earlier state: the epoch agrees with
    // itself, but not with the head file.
    keep_frames(&segment(&tmp.0, 1), 4);
    keep_frames(&checkpoints, 1);
    match open_err(&cfg) {
        AuditError::CheckpointMismatch {
            epoch: 1,
            checkpoint_size: 10,
            log_size: 4,
            ..
        } => {}
        other => panic!("{other}"),
    }
    // Every record and every checkpoint cut.
    keep_frames(&segment(&tmp.0, 1), 0);
    keep_frames(&checkpoints, 0);
    assert!(matches!(
        open_err(&cfg),
        AuditError::CheckpointMismatch { log_size: 0, .. }
    ));
    // The checkpoint file deleted along with some records.
    restore();
    keep_frames(&segment(&tmp.0, 1), 4);
    fs::remove_file(&checkpoints).unwrap();
    assert!(matches!(
        open_err(&cfg),
        AuditError::CheckpointMismatch { log_size: 4, .. }
    ));
    // Only the checkpoint file cut (the records are whole): still reported.
    restore();
    keep_frames(&checkpoints, 1);
    let error = open_err(&cfg);
    assert!(
        error
            .to_string()
            .contains("checkpoint file lost checkpoints"),
        "{error}"
    );
    // Only the checkpoint file deleted, with records in the epoch.
    fs::remove_file(&checkpoints).unwrap();
    assert!(
        open_err(&cfg)
            .to_string()
            .contains("checkpoint file is missing")
    );
    // Put back, the log opens as before.
    restore();
    let log = AuditLog::open(&cfg).unwrap();
    assert_eq!((log.size(), log.open_report().checkpoints), (10, 2));
}

#[test]
fn deleting_the_newest_epoch_is_refused_and_its_number_is_never_reused() {
    let tmp = temp_dir("newest");
    let cfg = config(&tmp.0);
    three_epochs(&tmp.0);
    let epoch2_checkpoints = fs::read(epoch_dir(&tmp.0, 2).join("checkpoints.log")).unwrap();
    fs::remove_dir_all(epoch_dir(&tmp.0, 3)).unwrap();
    assert_eq!(
        open_err(&cfg),
        AuditError::EpochMissing {
            epoch: 3,
            newest: 2
        }
    );
    // Deleting the head as well does not help, ...
    let head = fs::read(tmp.0.join("head.note")).unwrap();
    fs::remove_file(tmp.0.join("head.note")).unwrap();
    assert!(matches!(open_err(&cfg), AuditError::HeadMissing { .. }));
    // ... nor putting a checkpoint the directory keeps (signed with the log's key) in its
    // place: a head is a statement of its own, not a checkpoint.
    let starts = frame_starts(&epoch2_checkpoints);
    let last = &epoch2_checkpoints[starts[starts.len() - 2] + 12..];
    fs::write(tmp.0.join("head.note"), last).unwrap();
    assert!(matches!(open_err(&cfg), AuditError::HeadInvalid { .. }));
    // Nor a damaged head.
    let mut bad = head.clone();
    bad[40] ^= 1;
    fs::write(tmp.0.join("head.note"), &bad).unwrap();
    assert!(matches!(open_err(&cfg), AuditError::HeadInvalid { .. }));
    fs::write(tmp.0.join("head.note"), &head).unwrap();

    // The operator accepts starting over: a new epoch above every number seen, whose first
    // leaf records what was wrong.
    let mut accept = cfg.clone();
    accept.accept_lost_history = true;
    let mut log = AuditLog::open(&accept).unwrap();
    assert_eq!(log.epoch(), 4, "epoch 3 is never handed out again");
    assert!(matches!(
        log.open_report().reset,
        Some(AuditError::EpochMissing { epoch: 3, .. })
    ));
    let reset = first_record(&mut log);
    assert_eq!(reset.kind, RecordType::Reset);
    assert_eq!(
        reset.body,
        RecordBody::Reset {
            cause: ResetCause::EpochMissing,
            head_epoch: 3,
            head_size: 6,
            found_epoch: 2,
        }
    );
    append(&mut log, 100, 103);
    log.checkpoint().unwrap();
    drop(log);
    // From then on the log opens without the setting; the reset epoch starts a new chain.
    let log = AuditLog::open(&cfg).unwrap();
    assert_eq!((log.epoch(), log.size()), (4, 4));
    assert!(log.open_report().reset.is_none());
    assert!(log.sealed_epochs().epochs().is_empty());
}

#[test]
fn a_deleted_sealed_epoch_is_refused_on_open() {
    let tmp = temp_dir("sealed-gone");
    let cfg = config(&tmp.0);
    three_epochs(&tmp.0);
    for gone in [1, 2] {
        let moved = tmp.0.join("moved");
        fs::rename(epoch_dir(&tmp.0, gone), &moved).unwrap();
        assert_eq!(
            open_err(&cfg),
            AuditError::EpochMissing {
                epoch: gone,
                newest: 3
            },
            "epoch {gone}"
        );
        fs::rename(&moved, epoch_dir(&tmp.0, gone)).unwrap();
    }
    let log = AuditLog::open(&cfg).unwrap();
    assert_eq!(log.sealed_epochs().epochs(), 1..=2);
}

#[test]
fn sealed_epochs_verify_and_any_change_to_one_is_caught() {
    let tmp = temp_dir("sealed-changed");
    let cfg = config(&tmp.0);
    three_epochs(&tmp.0);
    let sealed = AuditLog::open(&cfg).unwrap().sealed_epochs();
    assert_eq!(sealed.epochs(), 1..=2);
    let first = sealed.verify(1).unwrap();
    assert_eq!(first.records, 10);
    let second = sealed.verify(2).unwrap();
    assert_eq!(second.records, 11, "the epoch-start leaf and ten records");
    assert!(matches!(
        sealed.verify(3),
        Err(AuditError::EpochUnavailable { epoch: 3 })
    ));

    // Every changed byte of a sealed segment.
    let path = segment(&tmp.0, 1);
    let whole = fs::read(&path).unwrap();
    for at in (0..whole.len()).step_by(5) {
        let mut bad = whole.clone();
        bad[at] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        assert!(
            matches!(sealed.verify(1), Err(AuditError::Corrupt { epoch: 1, .. })),
            "byte {at}"
        );
    }
    // Records cut off at a frame boundary (no crash leaves that in a sealed epoch).
    let starts = frame_starts(&whole);
    fs::write(&path, &whole[..starts[7]]).unwrap();
    assert!(matches!(
        sealed.verify(1),
        Err(AuditError::CheckpointMismatch {
            checkpoint_size: 10,
            log_size: 7,
            ..
        })
    ));
    // Cut at a torn-looking length.
    fs::write(&path, &whole[..starts[7] + 5]).unwrap();
    assert!(matches!(sealed.verify(1), Err(AuditError::Corrupt { .. })));
    fs::write(&path, &whole).unwrap();
    sealed.verify(1).unwrap();

    // Its checkpoint file deleted, or cut.
    let checkpoints = epoch_dir(&tmp.0, 2).join("checkpoints.log");
    let kept = fs::read(&checkpoints).unwrap();
    fs::remove_file(&checkpoints).unwrap();
    assert!(matches!(
        sealed.verify(2),
        Err(AuditError::CheckpointMismatch { .. })
    ));
    fs::write(&checkpoints, &kept[..32]).unwrap();
    assert!(matches!(
        sealed.verify(2),
        Err(AuditError::CheckpointMismatch { .. })
    ));
    fs::write(&checkpoints, &kept).unwrap();

    // Epoch 1 rebuilt whole, with valid frames and a checkpoint signed by the log's own
    // key: it verifies on its own, but epoch 2's start leaf names another final checkpoint.
    fs::remove_dir_all(epoch_dir(&tmp.0, 1)).unwrap();
    let rebuilt = temp_dir("sealed-rebuilt");
    let mut forged = config(&rebuilt.0);
    forged.key_file = Some(tmp.0.join("signing.key"));
    {
        let mut log = AuditLog::open(&forged).unwrap();
        append(&mut log, 0, 9);
        log.checkpoint().unwrap();
    }
    fs::rename(epoch_dir(&rebuilt.0, 1), epoch_dir(&tmp.0, 1)).unwrap();
    let error = sealed.verify(1).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("does not carry this epoch's final checkpoint"),
        "{error}"
    );
    sealed.verify(2).unwrap();
}

#[test]
fn a_replaced_directory_is_caught_with_a_minimum_epoch() {
    let tmp = temp_dir("replaced");
    let cfg = config(&tmp.0);
    three_epochs(&tmp.0);
    // Everything replaced by a fresh directory, key included: without anything kept outside
    // the directory this is a first start, which the report can only hint at.
    fs::remove_dir_all(&tmp.0).unwrap();
    fs::create_dir(&tmp.0).unwrap();
    {
        let log = AuditLog::open(&cfg).unwrap();
        assert_eq!((log.epoch(), log.size()), (1, 0));
        assert!(log.open_report().key_created);
    }
    fs::remove_dir_all(&tmp.0).unwrap();
    fs::create_dir(&tmp.0).unwrap();
    // The operator set the minimum epoch from the newest checkpoint kept off the host.
    let mut pinned = cfg.clone();
    pinned.min_epoch = Some(3);
    assert_eq!(
        open_err(&pinned),
        AuditError::BelowMinEpoch { epoch: 0, min: 3 }
    );
    pinned.accept_lost_history = true;
    let mut log = AuditLog::open(&pinned).unwrap();
    assert_eq!(log.epoch(), 3);
    assert!(matches!(
        first_record(&mut log).body,
        RecordBody::Reset {
            cause: ResetCause::BelowMinimum,
            head_epoch: 0,
            found_epoch: 0,
            ..
        }
    ));
}

#[test]
fn crashes_between_creating_an_epoch_and_naming_it_in_the_head_are_recovered() {
    let tmp = temp_dir("crash-window");
    let cfg = config(&tmp.0);
    // A new log: the directory of epoch 1 exists but the head was never written.
    fs::create_dir(epoch_dir(&tmp.0, 1)).unwrap();
    {
        let mut log = AuditLog::open(&cfg).unwrap();
        assert_eq!(log.epoch(), 1);
        append(&mut log, 0, 3);
        log.checkpoint().unwrap();
    }
    assert!(tmp.0.join("head.note").exists());
    // A rotation: epoch 2's directory exists, empty, but the head still names epoch 1.
    let head = fs::read(tmp.0.join("head.note")).unwrap();
    {
        let mut log = AuditLog::open(&cfg).unwrap();
        log.rotate(T0).unwrap();
    }
    fs::remove_dir_all(epoch_dir(&tmp.0, 2)).unwrap();
    fs::create_dir(epoch_dir(&tmp.0, 2)).unwrap();
    fs::write(tmp.0.join("head.note"), &head).unwrap();
    {
        let mut log = AuditLog::open(&cfg).unwrap();
        assert_eq!((log.epoch(), log.size()), (2, 1));
        assert_eq!(first_record(&mut log).kind, RecordType::EpochStart);
        append(&mut log, 3, 5);
        log.checkpoint().unwrap();
    }
    assert_eq!(AuditLog::open(&cfg).unwrap().size(), 3);
    // The same stale head beside an epoch that holds records is an old copy put back.
    fs::write(tmp.0.join("head.note"), &head).unwrap();
    assert!(matches!(open_err(&cfg), AuditError::HeadInvalid { .. }));
    // And a head-less epoch 1 with records is no crash either.
    let lone = temp_dir("crash-window-lone");
    let lone_cfg = config(&lone.0);
    {
        let mut log = AuditLog::open(&lone_cfg).unwrap();
        append(&mut log, 0, 2);
    }
    fs::remove_file(lone.0.join("head.note")).unwrap();
    assert!(matches!(
        open_err(&lone_cfg),
        AuditError::HeadMissing { .. }
    ));
}
