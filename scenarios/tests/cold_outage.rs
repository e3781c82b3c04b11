//! Cold storage when S3 goes away and comes back, on a real moto server behind a TCP gate
//! the test closes (refusing and cutting connections, as a dead store or a broken network
//! does) and reopens: evidence spools meanwhile, the spool drains afterwards, and the bucket
//! ends holding exactly what the audit log says was evacuated. Nothing is lost silently.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeSet;
use std::time::Duration;

use tracehound::audit::{AuditRecord, RecordBody, RecordType};
use tracehound::cold::Selection;
use tracehound::cold::{ObjectKey, destination_digest};
use tracehound::{Digest, SourceKey};
use tracehound_scenarios::cold::{BUCKET, store, threat, tracehound, wait_for};
use tracehound_test_support::TempDir;
use tracehound_test_support::servers::{Gate, Moto};

#[test]
fn an_outage_spools_and_afterwards_the_bucket_matches_the_log() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket(BUCKET).unwrap();
    let mut gate = Gate::open(moto.addr()).unwrap();
    let spool = TempDir::new("cold-outage").unwrap();
    let th = tracehound(store(&gate.endpoint()), &spool.0, 50);
    let events = th.subscribe(16_384).unwrap();

    // Before: every eviction is written.
    for n in 0..150 {
        th.intercept(&threat(n));
    }
    let (before, ok) = wait_for(&th, Duration::from_secs(30), |s| s.cold.uploaded == 100);
    assert!(ok, "{:?}", before.cold);

    // The store goes away mid-run: evictions spool.
    gate.close();
    for n in 150..400 {
        th.intercept(&threat(n));
    }
    let (during, ok) = wait_for(&th, Duration::from_secs(30), |s| {
        s.cold.store_down && s.cold.spooled + s.cold.uploaded >= 350 && s.cold.queue_len == 0
    });
    assert!(ok, "{:?}", during.cold);
    assert!(during.cold.spool_files > 0);

    // Back: the spool drains.
    gate.reopen().unwrap();
    th.flush().unwrap();
    let (after, ok) = wait_for(&th, Duration::from_secs(60), |s| {
        !s.cold.store_down
            && s.cold.spool_files == 0
            && s.cold.queue_len == 0
            && s.cold.uploaded + s.cold.existing + s.cold.dropped == 400
    });
    assert!(ok, "{:?}", after.cold);
    assert!(after.cold.retried > 0);

    // The bucket against the log: every envelope has its `evacuated` leaf (the destination
    // digest commits to its key and bytes), every such leaf its envelope, and every piece
    // not evacuated is a counted `cold-dropped` leaf.
    th.sync_audit(Duration::from_secs(10)).unwrap();
    let (evacuated, dropped) = th.read_audit(|reader| {
        let mut evacuated = BTreeSet::new();
        let mut dropped = 0;
        for i in 0..reader.size() {
            let record = AuditRecord::decode(&reader.record(i).unwrap()).unwrap();
            if let RecordBody::Evidence { digest, .. } = record.body {
                match record.kind {
                    RecordType::Evacuated => {
                        evacuated.insert(digest.unwrap().to_string());
                    }
                    RecordType::ColdDropped => dropped += 1,
                    _ => {}
                }
            }
        }
        (evacuated, dropped)
    });
    let direct = store(&moto.endpoint());
    let mut envelopes: Vec<ObjectKey> = Vec::new();
    direct
        .list("evidence/", &mut |key, _| {
            if key.as_str().ends_with(".thcs") {
                envelopes.push(key.clone());
            }
        })
        .unwrap();
    let stored: BTreeSet<String> = envelopes
        .iter()
        .map(|key| {
            let object = direct.get(key).unwrap().unwrap();
            destination_digest(key, &Digest::of(&object)).to_string()
        })
        .collect();
    assert_eq!(
        stored, evacuated,
        "the bucket holds exactly what the log says"
    );
    assert_eq!(stored.len() as u64 + dropped, 400);
    assert_eq!(dropped, after.cold.dropped);
    // Signed checkpoints reach the bucket too.
    let signed = th.checkpoint().unwrap();
    let (_, ok) = wait_for(&th, Duration::from_secs(30), |s| s.cold.checkpoints >= 1);
    assert!(ok);
    let size = signed.checkpoint().size;
    let checkpoint =
        ObjectKey::new(format!("evidence/scenario.test/checkpoints/1/{size}")).unwrap();
    assert_eq!(
        direct.get(&checkpoint).unwrap().as_deref(),
        Some(signed.note().as_bytes())
    );

    // Erasing a source reaches the bucket, from object keys alone.
    let erasure = th
        .erase(&Selection::source(SourceKey::new("203.0.113.3")))
        .unwrap();
    assert!(erasure.store_error.is_none());
    assert!(
        erasure
            .evidence
            .iter()
            .all(|e| e.places.store || e.places.quarantine)
    );
    let reader = th.cold_reader().unwrap();
    assert!(
        reader
            .list(&Selection::source(SourceKey::new("203.0.113.3")))
            .unwrap()
            .is_empty()
    );
    assert!(!reader.list(&Selection::default()).unwrap().is_empty());

    let kinds: Vec<_> = events.drain().map(|e| e.into_kind()).collect();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, tracehound::EventKind::ColdStoreUnreachable { .. }))
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, tracehound::EventKind::ColdStoreRecovered))
    );
}
