//! The durable audit log through its public API, on real files: reopening, torn tails,
//! damage to any byte, truncated or rewritten history, epochs, keys and the directory lock.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracehound::audit::{
    AuditConfig, AuditError, AuditLog, AuditRecord, EvidenceProof, EvidenceRecord, FsyncPolicy,
    RecordBody, RecordType, SignedCheckpoint, merkle,
};
use tracehound::clock::Timestamp;
use tracehound::{Category, Digest, Severity, Signature};
use tracehound_test_support::TempDir;

const T0: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

/// A scratch directory for one test, removed when dropped.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("audit-{name}")).unwrap()
}

fn config(dir: &Path) -> AuditConfig {
    let mut config = AuditConfig::default();
    config.dir = Some(dir.to_path_buf());
    config.deployment = "audit.test".into();
    config.fsync = FsyncPolicy::Never;
    config
}

fn signature(n: u64) -> Signature {
    Signature::new(Category::Injection, Digest::of(&n.to_be_bytes()))
}

/// Appends records `from..to` (record `n` is about evidence `n`) and commits them.
fn append(log: &mut AuditLog, from: u64, to: u64) {
    for n in from..to {
        let sig = signature(n);
        let at = T0.saturating_add(Duration::from_millis(n));
        let leaf = log
            .append(&EvidenceRecord::new(
                RecordType::Quarantined,
                at,
                &sig,
                n,
                Severity::High,
            ))
            .unwrap();
        assert_eq!(leaf.index, log.size() - 1);
    }
    log.commit().unwrap();
}

fn segment_path(dir: &Path, epoch: u64, first: u64) -> PathBuf {
    dir.join(format!("epoch-{epoch:08}"))
        .join(format!("segment-{first:020}.log"))
}

/// (offset, length) of every frame in a segment file, read with the documented layout:
/// a 32-byte file header, then frames of a 12-byte header (length, its complement, CRC-32)
/// and the record.
fn frames(segment: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 32;
    while at < segment.len() {
        let len = u32::from_be_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 12 + len));
        at += 12 + len;
    }
    out
}

fn corrupt_index(result: Result<AuditLog, AuditError>) -> (u64, u64, PathBuf) {
    match result {
        Err(AuditError::Corrupt {
            index,
            offset,
            file,
            ..
        }) => (index, offset, file),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(log) => panic!("damage went unnoticed; opened {} records", log.size()),
    }
}

#[test]
fn reopening_restores_records_proofs_checkpoints_and_key() {
    let tmp = temp_dir("reopen");
    let mut cfg = config(&tmp.0);
    cfg.segment_bytes = 4096;
    let (root, checkpoint, vkey) = {
        let mut log = AuditLog::open(&cfg).unwrap();
        assert!(log.open_report().key_created);
        // Segments roll over at a commit past `segment_bytes`.
        for from in (0..3000).step_by(100) {
            append(&mut log, from, from + 100);
        }
        let checkpoint = log.checkpoint().unwrap();
        (log.root(), checkpoint, log.verifier_key())
    };
    let key_file = tmp.0.join("signing.key");
    assert_eq!(
        fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let segments = fs::read_dir(tmp.0.join("epoch-00000001"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .count();
    assert!(segments >= 30, "4 KiB segments roll over: {segments}");

    let mut log = AuditLog::open(&cfg).unwrap();
    let report = log.open_report().clone();
    assert!(!report.key_created);
    assert_eq!(report.records, 3000);
    assert_eq!(report.checkpoints, 1);
    assert_eq!(report.torn_bytes, 0);
    assert_eq!(log.verifier_key(), vkey);
    assert_eq!(log.verifier_key().to_string(), vkey.to_string());
    assert_eq!(log.size(), 3000);
    assert_eq!(log.root(), root);
    assert_eq!(log.latest_checkpoint(), Some(&checkpoint));
    for index in [0, 1, 1023, 1024, 1025, 2047, 2048, 2999] {
        let bytes = log.record(index).unwrap();
        let record = AuditRecord::decode(&bytes).unwrap();
        assert_eq!(record.seq, index);
        assert_eq!(record.signature(), Some(&signature(index)));
        let proof = log.inclusion_proof(index, 3000).unwrap();
        merkle::verify_inclusion(&merkle::leaf_hash(&bytes), index, 3000, &proof, &root).unwrap();
    }
    // The log keeps appending where it stopped, and proves old records offline.
    append(&mut log, 3000, 3100);
    let bundle = log.prove(17).unwrap();
    let parsed = EvidenceProof::parse(&bundle.to_text()).unwrap();
    let checked = parsed
        .verify(std::slice::from_ref(&vkey), Some("audit.test/tracehound/1"))
        .unwrap();
    assert_eq!(checked.index, 17);
    // The last checkpoint that covers the record serves; no new one is signed for it.
    assert_eq!(checked.checkpoint.size, 3000);
    assert_eq!(
        log.prove(3050)
            .unwrap()
            .verify(std::slice::from_ref(&vkey), None)
            .unwrap()
            .checkpoint
            .size,
        3100
    );
    checked
        .check_evidence(b"not the evidence")
        .expect_err("other bytes are not the evidence");
    let proof = log.consistency_proof(3000, 3100).unwrap();
    let cp = checkpoint.checkpoint();
    merkle::verify_consistency(3000, 3100, &proof, &cp.root, &log.root()).unwrap();
}

#[test]
fn a_torn_tail_is_cut_at_every_length_and_nothing_durable_is_lost() {
    let tmp = temp_dir("torn");
    let cfg = config(&tmp.0);
    {
        let mut log = AuditLog::open(&cfg).unwrap();
        append(&mut log, 0, 3);
        log.checkpoint().unwrap();
        append(&mut log, 3, 5);
    }
    let path = segment_path(&tmp.0, 1, 0);
    let whole = fs::read(&path).unwrap();
    let (last_start, _) = *frames(&whole).last().unwrap();
    for cut in last_start + 1..whole.len() {
        fs::write(&path, &whole[..cut]).unwrap();
        let log = AuditLog::open(&cfg).unwrap();
        assert_eq!(log.size(), 4, "cut at {cut}");
        assert_eq!(log.open_report().torn_bytes, (cut - last_start) as u64);
        drop(log);
        assert_eq!(fs::metadata(&path).unwrap().len(), last_start as u64);
    }
    // Zeros where the file system extended the file but the write never landed.
    let mut zeros = whole[..last_start].to_vec();
    zeros.extend_from_slice(&[0u8; 100]);
    fs::write(&path, &zeros).unwrap();
    let mut log = AuditLog::open(&cfg).unwrap();
    assert_eq!(log.size(), 4);
    assert_eq!(log.open_report().torn_bytes, 100);
    // And the repaired log goes on.
    append(&mut log, 4, 6);
    log.checkpoint().unwrap();
}

#[test]
fn any_changed_byte_of_a_segment_is_detected_and_names_its_record() {
    let tmp = temp_dir("flip");
    let cfg = config(&tmp.0);
    {
        let mut log = AuditLog::open(&cfg).unwrap();
        append(&mut log, 0, 6);
    }
    let path = segment_path(&tmp.0, 1, 0);
    let whole = fs::read(&path).unwrap();
    let frames = frames(&whole);
    assert_eq!(frames.len(), 6);
    for at in 0..whole.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = whole.clone();
            bad[at] ^= mask;
            fs::write(&path, &bad).unwrap();
            let (index, offset, file) = corrupt_index(AuditLog::open(&cfg));
            assert_eq!(file, path);
            let expected = frames
                .iter()
                .position(|&(start, len)| (start..start + len).contains(&at));
            match expected {
                Some(i) => assert_eq!((index, offset), (i as u64, frames[i].0 as u64), "byte {at}"),
                None => assert_eq!((index, offset), (0, 0), "header byte {at}"),
            }
        }
    }
    fs::write(&path, &whole).unwrap();
    assert_eq!(AuditLog::open(&cfg).unwrap().size(), 6);
}

#[test]
fn damaged_node_files_are_rebuilt_and_damaged_checkpoints_refused() {
    let tmp = temp_dir("nodes");
    let cfg = config(&tmp.0);
    let root = {
        let mut log = AuditLog::open(&cfg).unwrap();
        append(&mut log, 0, 64);
        log.checkpoint().unwrap();
        log.root()
    };
    let epoch = tmp.0.join("epoch-00000001");
    for level in 0..4 {
        let path = epoch.join(format!("nodes-{level:02}.bin"));
        let mut bytes = fs::read(&path).unwrap();
        bytes[5] ^= 0x20;
        fs::write(&path, &bytes).unwrap();
    }
    fs::remove_file(epoch.join("nodes-05.bin")).unwrap();
    let log = AuditLog::open(&cfg).unwrap();
    assert!(log.open_report().repaired_nodes >= 5);
    assert_eq!(log.root(), root);
    let proof = log.inclusion_proof(0, 64).unwrap();
    let leaf = merkle::leaf_hash(&{
        let mut log = log;
        log.record(0).unwrap()
    });
    merkle::verify_inclusion(&leaf, 0, 64, &proof, &root).unwrap();

    // Any change to the signed checkpoint file stops the open.
    let path = epoch.join("checkpoints.log");
    let whole = fs::read(&path).unwrap();
    for at in (0..whole.len()).step_by(7) {
        let mut bad = whole.clone();
        bad[at] ^= 0x04;
        fs::write(&path, &bad).unwrap();
        match AuditLog::open(&cfg) {
            Err(AuditError::Corrupt { .. } | AuditError::CheckpointMismatch { .. }) => {}
            Err(other) => panic!("byte {at}: unexpected {other}"),
            Ok(_) => panic!("byte {at}: a changed checkpoint file went unnoticed"),
        }
    }
}

#[test]
fn truncated_or_rewritten_history_is_caught() {
    let tmp = temp_dir("rewrite");
    let cfg = config(&tmp.0);
    let kept: SignedCheckpoint = {
        let mut log = AuditLog::open(&cfg).unwrap();
        append(&mut log, 0, 10);
        log.checkpoint().unwrap()
    };
    let path = segment_path(&tmp.0, 1, 0);
    let whole = fs::read(&path).unwrap();
    let (cut, _) = frames(&whole)[6];

    // Cutting whole records is no torn write: the log's own checkpoint exposes it.
    fs::write(&path, &whole[..cut]).unwrap();
    match AuditLog::open(&cfg) {
        Err(AuditError::CheckpointMismatch {
            checkpoint_size: 10,
            log_size: 6,
            ..
        }) => {}
        other => panic!("truncation went unnoticed: {other:?}"),
    }

    // Deleting the checkpoint file as well, or the head file too, does not hide it.
    let epoch = tmp.0.join("epoch-00000001");
    fs::remove_file(epoch.join("checkpoints.log")).unwrap();
    assert!(matches!(
        AuditLog::open(&cfg),
        Err(AuditError::CheckpointMismatch { log_size: 6, .. })
    ));
    fs::remove_file(tmp.0.join("head.note")).unwrap();
    assert!(matches!(
        AuditLog::open(&cfg),
        Err(AuditError::HeadMissing { .. })
    ));

    // An attacker holding the signing key can write new history, signed with the log's own
    // key (here: a fresh log with the same key and the six surviving records); it still
    // cannot be made consistent with a checkpoint kept elsewhere.
    let forged_dir = temp_dir("rewrite-forged");
    let mut forged_cfg = config(&forged_dir.0);
    forged_cfg.key_file = Some(tmp.0.join("signing.key"));
    let mut log = AuditLog::open(&forged_cfg).unwrap();
    append(&mut log, 0, 6);
    assert_eq!(log.size(), 6);
    assert!(matches!(
        log.consistency_proof(10, 6),
        Err(AuditError::OutOfRange { .. })
    ));
    for n in 100..104 {
        let sig = signature(n);
        log.append(&EvidenceRecord::new(
            RecordType::Quarantined,
            T0,
            &sig,
            n,
            Severity::Low,
        ))
        .unwrap();
    }
    let forged = log.checkpoint().unwrap();
    let (old, new) = (kept.checkpoint(), forged.checkpoint());
    assert_eq!(old.size, new.size);
    assert_ne!(old.root, new.root, "two signed roots for one size: a fork");
    // The forged log is consistent with itself, but no proof it can produce links the kept
    // checkpoint's history to its head.
    let proof = log.consistency_proof(6, 10).unwrap();
    merkle::verify_consistency(6, 10, &proof, &log.root_at(6).unwrap(), &new.root).unwrap();
    for size1 in 1..10 {
        let proof = log.consistency_proof(size1, 10).unwrap();
        let old_at = kept_root_at(&whole, size1);
        let verdict = merkle::verify_consistency(size1, 10, &proof, &old_at, &old.root);
        assert!(
            verdict.is_err(),
            "rewritten history proved consistent from {size1}"
        );
    }
}

/// The root of the first `size` records of an untouched segment, computed independently.
fn kept_root_at(segment: &[u8], size: u64) -> Digest {
    let leaves: Vec<Digest> = frames(segment)
        .iter()
        .take(size as usize)
        .map(|&(start, len)| merkle::leaf_hash(&segment[start + 12..start + len]))
        .collect();
    reference_root(&leaves)
}

fn reference_root(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            merkle::node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

#[test]
fn the_log_refuses_to_sign_a_checkpoint_inconsistent_with_its_last() {
    let tmp = temp_dir("inconsistent");
    let cfg = config(&tmp.0);
    let mut log = AuditLog::open(&cfg).unwrap();
    append(&mut log, 0, 4);
    let first = log.checkpoint().unwrap();
    append(&mut log, 4, 8);
    // Damage the stored hash of leaves 4..8 (level 2, index 1) under the running log: the
    // consistency proof from the last checkpoint no longer holds, so nothing is signed.
    let path = tmp.0.join("epoch-00000001").join("nodes-02.bin");
    let mut bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 64);
    bytes[40] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert_eq!(log.checkpoint(), Err(AuditError::Inconsistent));
    assert_eq!(log.latest_checkpoint(), Some(&first));
    drop(log);
    // Reopening rebuilds the node store from the records, and signing works again.
    let mut log = AuditLog::open(&cfg).unwrap();
    assert_eq!(log.open_report().repaired_nodes, 1);
    assert_eq!(log.checkpoint().unwrap().checkpoint().size, 8);
}

#[test]
fn epochs_rotate_with_new_origins_and_chain_their_checkpoints() {
    let tmp = temp_dir("epochs");
    let cfg = config(&tmp.0);
    let key = {
        let mut log = AuditLog::open(&cfg).unwrap();
        append(&mut log, 0, 5);
        let last = log.rotate(T0).unwrap();
        assert_eq!(last.checkpoint().origin, "audit.test/tracehound/1");
        assert_eq!(last.checkpoint().size, 5);
        assert_eq!(log.epoch(), 2);
        assert_eq!(log.origin(), "audit.test/tracehound/2");
        assert_eq!(log.size(), 1);
        let start = AuditRecord::decode(&log.record(0).unwrap()).unwrap();
        assert_eq!(start.kind, RecordType::EpochStart);
        match start.body {
            RecordBody::EpochStart {
                previous_epoch,
                checkpoint,
            } => {
                assert_eq!(previous_epoch, 1);
                assert_eq!(checkpoint, last.note());
            }
            other => panic!("{other:?}"),
        }
        let cp = log.checkpoint().unwrap();
        assert_eq!(cp.checkpoint().origin, "audit.test/tracehound/2");
        log.verifier_key()
    };
    let mut log = AuditLog::open(&cfg).unwrap();
    assert_eq!((log.epoch(), log.size()), (2, 1));
    let bundle = log.prove(0).unwrap();
    bundle
        .verify(std::slice::from_ref(&key), Some("audit.test/tracehound/2"))
        .unwrap();
    assert!(
        bundle
            .verify(std::slice::from_ref(&key), Some("audit.test/tracehound/1"))
            .is_err()
    );
    assert!(log.epoch_path(1).unwrap().join("checkpoints.log").exists());
    drop(log);

    // A crash after the new epoch's directory was made but before its first leaf: the
    // start leaf is written on open, from the previous epoch's final checkpoint.
    let mut log = AuditLog::open(&cfg).unwrap();
    log.rotate(T0).unwrap();
    drop(log);
    let third = tmp.0.join("epoch-00000003");
    fs::remove_dir_all(&third).unwrap();
    fs::create_dir(&third).unwrap();
    let mut log = AuditLog::open(&cfg).unwrap();
    assert_eq!((log.epoch(), log.size()), (3, 1));
    let start = AuditRecord::decode(&log.record(0).unwrap()).unwrap();
    assert!(matches!(
        start.body,
        RecordBody::EpochStart {
            previous_epoch: 2,
            ..
        }
    ));
}

#[test]
fn one_writer_at_a_time_and_keys_belong_to_their_deployment() {
    let tmp = temp_dir("lock");
    let cfg = config(&tmp.0);
    let log = AuditLog::open(&cfg).unwrap();
    assert!(matches!(
        AuditLog::open(&cfg),
        Err(AuditError::Locked { .. })
    ));
    drop(log);
    let mut other = cfg.clone();
    other.deployment = "other.test".into();
    assert!(matches!(
        AuditLog::open(&other),
        Err(AuditError::Key { .. })
    ));
    // A configured key file is created once and used from then on.
    let key_tmp = temp_dir("keyfile");
    let mut with_key = config(&key_tmp.0.join("log"));
    with_key.key_file = Some(key_tmp.0.join("audit.key"));
    let first = AuditLog::open(&with_key).unwrap().verifier_key();
    let text = fs::read_to_string(key_tmp.0.join("audit.key")).unwrap();
    assert!(text.starts_with("PRIVATE+KEY+audit.test/tracehound+"));
    assert_eq!(AuditLog::open(&with_key).unwrap().verifier_key(), first);
    assert!(first.to_string().starts_with("audit.test/tracehound+"));
}

#[test]
fn resident_memory_of_a_directory_log_does_not_grow_with_records() {
    let tmp = temp_dir("memory");
    let mut log = AuditLog::open(&config(&tmp.0)).unwrap();
    append(&mut log, 0, 1000);
    let small = log.memory_bytes();
    append(&mut log, 1000, 60_000);
    assert!(
        log.memory_bytes() <= small.max(64 * 32),
        "{}",
        log.memory_bytes()
    );
    let proof = log.inclusion_proof(12_345, 60_000).unwrap();
    let leaf = merkle::leaf_hash(&log.record(12_345).unwrap());
    merkle::verify_inclusion(&leaf, 12_345, 60_000, &proof, &log.root()).unwrap();
}

#[test]
fn callers_cannot_append_the_logs_own_record_types() {
    let mut log = AuditLog::open(&AuditConfig::default()).unwrap();
    let sig = signature(1);
    for kind in [RecordType::Gap, RecordType::EpochStart] {
        let record = EvidenceRecord::new(kind, T0, &sig, 1, Severity::Low);
        assert!(matches!(
            log.append(&record),
            Err(AuditError::Record { .. })
        ));
    }
    assert_eq!(log.size(), 0);
}

/// RFC 6962 §2.1.1 `PATH(m, D[n])`, straight from the definition.
fn reference_path(m: usize, leaves: &[Digest]) -> Vec<Digest> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = n.next_power_of_two() / 2;
    if m < k {
        let mut path = reference_path(m, &leaves[..k]);
        path.push(reference_root(&leaves[k..]));
        path
    } else {
        let mut path = reference_path(m - k, &leaves[k..]);
        path.push(reference_root(&leaves[..k]));
        path
    }
}

/// RFC 6962 §2.1.2 `SUBPROOF(m, D[n], b)`, straight from the definition.
fn reference_subproof(m: usize, leaves: &[Digest], complete: bool) -> Vec<Digest> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![reference_root(leaves)]
        };
    }
    let k = n.next_power_of_two() / 2;
    if m <= k {
        let mut proof = reference_subproof(m, &leaves[..k], complete);
        proof.push(reference_root(&leaves[k..]));
        proof
    } else {
        let mut proof = reference_subproof(m - k, &leaves[k..], false);
        proof.push(reference_root(&leaves[..k]));
        proof
    }
}

/// The incremental log (compact range plus stored nodes, in memory or on disk) agrees with
/// the recursive definitions for every size, leaf and pair of sizes of many random trees.
#[test]
fn the_incremental_log_matches_the_recursive_reference() {
    use proptest::prelude::*;
    let tmp = temp_dir("reference");
    let runs = std::sync::atomic::AtomicU64::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(
            &(1u64..=200, any::<bool>(), any::<u64>()),
            |(n, on_disk, pick)| {
                let mut cfg = AuditConfig::default();
                if on_disk {
                    let run = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    cfg = config(&tmp.0.join(run.to_string()));
                    cfg.segment_bytes = 4096;
                }
                let mut log = AuditLog::open(&cfg).unwrap();
                let mut leaves = Vec::new();
                for from in (0..n).step_by(7) {
                    append(&mut log, from, (from + 7).min(n));
                }
                for i in 0..n {
                    leaves.push(merkle::leaf_hash(&log.record(i).unwrap()));
                }
                prop_assert_eq!(log.root(), reference_root(&leaves));
                for size in 1..=n as usize {
                    prop_assert_eq!(
                        log.root_at(size as u64).unwrap(),
                        reference_root(&leaves[..size])
                    );
                }
                // Every proof within the whole tree and within one other tree size.
                for size in [n as usize, 1 + (pick % n) as usize] {
                    for m in 0..size {
                        let proof = log.inclusion_proof(m as u64, size as u64).unwrap();
                        prop_assert_eq!(&proof, &reference_path(m, &leaves[..size]));
                    }
                    for m in 1..=size {
                        let proof = log.consistency_proof(m as u64, size as u64).unwrap();
                        prop_assert_eq!(&proof, &reference_subproof(m, &leaves[..size], true));
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn a_stray_segment_name_is_refused_on_open_not_read_twice() {
    // Found by the segment_reader fuzz target: `segment-0.log` parsed as segment 0 and the
    // real segment was read twice, so the log took records once and never opened again.
    let tmp = temp_dir("stray");
    let cfg = config(&tmp.0);
    drop(AuditLog::open(&cfg).unwrap());
    let stray = tmp.0.join("epoch-00000001").join("segment-0.log");
    fs::write(&stray, b"").unwrap();
    match AuditLog::open(&cfg) {
        Err(AuditError::Corrupt { file, .. }) => assert_eq!(file, stray),
        other => panic!("a foreign segment file went unnoticed: {other:?}"),
    }
    fs::remove_file(&stray).unwrap();
    // A directory that only looks like an epoch is not one.
    fs::create_dir(tmp.0.join("epoch-+2")).unwrap();
    let mut log = AuditLog::open(&cfg).unwrap();
    assert_eq!(log.epoch(), 1);
    append(&mut log, 0, 3);
    log.checkpoint().unwrap();
    drop(log);
    assert_eq!(AuditLog::open(&cfg).unwrap().size(), 3);
}

#[test]
fn scanning_reads_every_epoch_read_only_and_names_damage() {
    let dir = temp_dir("scan");
    {
        let mut log = AuditLog::open(&config(&dir.0)).unwrap();
        append(&mut log, 0, 10);
        log.rotate(T0).unwrap();
        append(&mut log, 10, 15);
        // Open, locked: scanning does not need the lock.
        let mut seen = Vec::new();
        let scanned = tracehound::audit::scan(&dir.0, |leaf, record| {
            seen.push((leaf.epoch, leaf.index, record.kind));
            Ok(())
        })
        .unwrap();
        assert_eq!(scanned.epochs, [1, 2]);
        assert_eq!(scanned.records, 16, "10 + an epoch-start leaf + 5");
        assert!(!scanned.torn_tail);
        assert_eq!(seen[10], (2, 0, RecordType::EpochStart));
        assert_eq!(seen[15].0, 2);
    }
    // A write torn at the end of the newest epoch is not read, and not an error.
    let newest = segment_path(&dir.0, 2, 0);
    let whole = fs::read(&newest).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(&[0, 0, 0, 40, 0xff]);
    fs::write(&newest, &torn).unwrap();
    let scanned = tracehound::audit::scan(&dir.0, |_, _| Ok(())).unwrap();
    assert_eq!((scanned.records, scanned.torn_tail), (16, true));
    assert_eq!(fs::read(&newest).unwrap(), torn, "nothing was repaired");
    // The same in a sealed epoch is damage, named by file and leaf.
    let sealed = segment_path(&dir.0, 1, 0);
    let mut bytes = fs::read(&sealed).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 40, 0xff]);
    fs::write(&sealed, &bytes).unwrap();
    match tracehound::audit::scan(&dir.0, |_, _| Ok(())) {
        Err(AuditError::Corrupt {
            epoch, file, index, ..
        }) => {
            assert_eq!((epoch, index), (1, 10));
            assert_eq!(file, sealed);
        }
        other => panic!("{other:?}"),
    }
    // A flipped byte inside a record of the newest epoch is damage too.
    fs::write(&sealed, &bytes[..bytes.len() - 5]).unwrap();
    let (at, _) = frames(&whole)[2];
    let mut flipped = whole.clone();
    flipped[at + 20] ^= 0x40;
    fs::write(&newest, &flipped).unwrap();
    assert!(matches!(
        tracehound::audit::scan(&dir.0, |_, _| Ok(())),
        Err(AuditError::Corrupt {
            epoch: 2,
            index: 2,
            ..
        })
    ));
}
