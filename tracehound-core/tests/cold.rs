//! Evacuation to cold storage through the facade: what leaves the quarantine reaches the
//! store, sealed and audited; an unreachable store spools and drains; nothing is lost
//! without a count, an audit leaf and an event; erasure reaches every place evidence is
//! kept and leaves the log verifiable.
//!
//! The store here is a real in-memory one with a switch that makes it unreachable; the
//! object-store backends are tested against real servers in `tracehound-cold-storage`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tracehound::audit::{AuditRecord, RecordBody, RecordType, merkle};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::cold::{
    ColdConfig, ColdError, ColdStore, ObjectKey, Put, ReadError, Selection, SpoolConfig,
    destination_digest,
};
use tracehound::{
    Config, EventKind, Outcome, Scent, Severity, Signature, Snapshot, SourceKey, Tracehound,
};
use tracehound_test_support::TempDir;

/// An in-memory write-once store that can be made unreachable, and counts reads.
#[derive(Debug, Default)]
struct Memory {
    objects: Mutex<BTreeMap<ObjectKey, Vec<u8>>>,
    down: AtomicBool,
    gets: AtomicU64,
    /// Refuse deletes, as S3 does for an object under an Object Lock retention.
    retained: AtomicBool,
    /// Fail `sync`, as a disk that cannot flush.
    unsyncable: AtomicBool,
}

impl Memory {
    fn check(&self) -> Result<(), ColdError> {
        if self.down.load(Ordering::SeqCst) {
            Err(ColdError::unavailable("connection refused"))
        } else {
            Ok(())
        }
    }

    fn keys(&self) -> Vec<String> {
        let objects = self.objects.lock().unwrap();
        objects.keys().map(|k| k.to_string()).collect()
    }

    fn tamper(&self, key: &ObjectKey) {
        let mut objects = self.objects.lock().unwrap();
        let object = objects.get_mut(key).unwrap();
        let last = object.len() - 1;
        object[last] ^= 1;
    }
}

impl ColdStore for Memory {
    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        self.check()?;
        let mut objects = self.objects.lock().unwrap();
        match objects.get(key) {
            Some(held) if held.as_slice() == object => Ok(Put::Exists),
            Some(_) => Err(ColdError::Conflict { key: key.clone() }),
            None => {
                objects.insert(key.clone(), object.to_vec());
                Ok(Put::Created)
            }
        }
    }
    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        self.check()?;
        self.gets.fetch_add(1, Ordering::SeqCst);
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }
    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        self.check()?;
        if self.retained.load(Ordering::SeqCst) {
            return Err(ColdError::Refused {
                key: key.clone(),
                message: "AccessDenied: object is under retention".into(),
            });
        }
        Ok(self.objects.lock().unwrap().remove(key).is_some())
    }
    fn sync(&self) -> Result<(), ColdError> {
        if self.unsyncable.load(Ordering::SeqCst) {
            return Err(ColdError::unavailable("I/O error on sync"));
        }
        Ok(())
    }
    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
        self.check()?;
        let objects = self.objects.lock().unwrap();
        for (key, object) in objects.iter() {
            if key.as_str().starts_with(prefix) {
                each(key, object.len() as u64);
            }
        }
        Ok(())
    }
}

fn config(max_count: usize) -> Config {
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = None;
    config.audit.deployment = "cold.test".into();
    config.audit.checkpoint_interval = None;
    config.quarantine.max_count = NonZeroUsize::new(max_count).unwrap();
    let mut cold = ColdConfig::default();
    cold.retry_initial = Duration::from_millis(5);
    cold.retry_max = Duration::from_millis(40);
    config.cold = Some(cold);
    config
}

fn build(config: Config, store: &Arc<Memory>) -> Tracehound {
    Tracehound::builder()
        .config(config)
        .cold_store(Arc::clone(store) as Arc<dyn ColdStore>)
        .build()
        .unwrap()
}

fn threat(n: u64, severity: Severity) -> Scent {
    Scent::new(
        format!("198.51.100.{}", n % 200),
        json!({"q": format!("' OR {n}=1 --")}),
    )
    .with_threat(tracehound::Category::Injection, severity)
}

fn quarantine(th: &Tracehound, n: u64, severity: Severity) -> Signature {
    match th.intercept(&threat(n, severity)) {
        Outcome::Quarantined(receipt) => receipt.signature().clone(),
        other => panic!("{other:?}"),
    }
}

/// Waits (bounded) until the uploader's counters satisfy `done`.
fn wait_for(th: &Tracehound, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = th.snapshot();
        if done(&snapshot) {
            return snapshot;
        }
        assert!(Instant::now() < deadline, "timed out: {:?}", snapshot.cold);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn records(th: &Tracehound, kind: RecordType) -> Vec<AuditRecord> {
    th.sync_audit(Duration::from_secs(5)).unwrap();
    th.read_audit(|reader| {
        (0..reader.size())
            .map(|i| AuditRecord::decode(&reader.record(i).unwrap()).unwrap())
            .filter(|r| r.kind == kind)
            .collect()
    })
}

#[test]
fn evicted_evidence_reaches_the_store_sealed_audited_and_readable() {
    let store = Arc::new(Memory::default());
    let th = build(config(1), &store);
    let events = th.subscribe(64).unwrap();
    let first = quarantine(&th, 1, Severity::High);
    let canonical =
        tracehound::canonicalize(&json!({"q": "' OR 1=1 --"}), tracehound::CanonicalForm::Jcs)
            .unwrap();
    quarantine(&th, 2, Severity::High); // evicts the first
    let snapshot = wait_for(&th, |s| s.cold.uploaded == 1);
    assert_eq!((snapshot.cold.queued, snapshot.cold.dropped), (1, 0));

    let reader = th.cold_reader().unwrap();
    let read = reader.get(&first).unwrap().expect("in the store");
    assert_eq!(read.payload, canonical);
    assert_eq!(read.manifest.severity, "high");
    assert_eq!(read.manifest.cause, "evicted");
    assert_eq!(read.manifest.source, "198.51.100.1");
    assert!(
        read.entry
            .evidence_key
            .as_str()
            .starts_with("evidence/cold.test/")
    );
    // No key holds the source's text.
    assert!(store.keys().iter().all(|k| !k.contains("198.51")));

    let evacuated = records(&th, RecordType::Evacuated);
    assert_eq!(evacuated.len(), 1);
    let RecordBody::Evidence { digest, .. } = &evacuated[0].body else {
        panic!("{:?}", evacuated[0])
    };
    let object = store
        .objects
        .lock()
        .unwrap()
        .get(&read.entry.evidence_key)
        .cloned()
        .unwrap();
    let envelope_hash = tracehound::Digest::of(&object);
    assert_eq!(
        *digest,
        Some(destination_digest(&read.entry.evidence_key, &envelope_hash))
    );
    let seen = events
        .drain()
        .find_map(|e| match e.into_kind() {
            EventKind::EvidenceEvacuated {
                signature,
                key,
                audit_leaf,
                ..
            } => Some((signature, key, audit_leaf)),
            _ => None,
        })
        .expect("an EvidenceEvacuated event");
    assert_eq!(seen.0, first);
    assert_eq!(seen.1, read.entry.evidence_key);
    assert!(seen.2.is_some());

    // A changed byte is an integrity error naming the key.
    store.tamper(&read.entry.evidence_key);
    match reader.get(&first) {
        Err(ReadError::Damaged { key, .. }) => assert_eq!(key, read.entry.evidence_key),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_policy_decides_what_goes() {
    let store = Arc::new(Memory::default());
    let mut config = config(1);
    config.cold.as_mut().unwrap().on_neutralize = false;
    let th = build(config, &store);
    let low = quarantine(&th, 1, Severity::Low);
    let medium = quarantine(&th, 2, Severity::Medium); // evicts the low one: not evacuated
    th.neutralize(&medium).unwrap(); // off by policy
    let kept = quarantine(&th, 3, Severity::Critical);
    th.flush().unwrap(); // on by default
    let snapshot = wait_for(&th, |s| s.cold.uploaded == 1);
    assert_eq!(snapshot.cold.queued, 1);
    let reader = th.cold_reader().unwrap();
    assert!(reader.get(&low).unwrap().is_none());
    assert!(reader.get(&medium).unwrap().is_none());
    assert_eq!(
        reader.get(&kept).unwrap().unwrap().manifest.cause,
        "flushed"
    );

    // On demand: a copy, the evidence stays held.
    let held = quarantine(&th, 4, Severity::Low);
    let key = th.evacuate(&held).unwrap();
    wait_for(&th, |s| s.cold.uploaded == 2);
    assert!(th.get(&held).is_some());
    let listed = reader.list(&Selection::signature(held.clone())).unwrap();
    assert_eq!(listed[0].evidence_key, key);
}

#[test]
fn an_unreachable_store_spools_and_the_spool_drains_when_it_is_back() {
    let dir = TempDir::new("cold-spool").unwrap();
    let store = Arc::new(Memory::default());
    let mut config = config(1_000);
    config.cold.as_mut().unwrap().spool = Some(SpoolConfig::new(&dir.0));
    let th = build(config, &store);
    let events = th.subscribe(1_024).unwrap();
    store.down.store(true, Ordering::SeqCst);
    let signatures: Vec<_> = (0..50)
        .map(|n| quarantine(&th, n, Severity::High))
        .collect();
    th.flush().unwrap();
    let down = wait_for(&th, |s| s.cold.spooled == 50);
    assert!(down.cold.store_down);
    assert_eq!((down.cold.uploaded, down.cold.spool_files), (0, 50));
    assert!(store.keys().is_empty());

    store.down.store(false, Ordering::SeqCst);
    let up = wait_for(&th, |s| s.cold.uploaded == 50 && s.cold.spool_files == 0);
    assert!(!up.cold.store_down && up.cold.retried > 0);
    assert_eq!((up.cold.dropped, up.cold.spool_bytes), (0, 0));
    let reader = th.cold_reader().unwrap();
    for signature in &signatures {
        assert!(reader.get(signature).unwrap().is_some());
    }
    assert_eq!(records(&th, RecordType::Evacuated).len(), 50);
    let kinds: Vec<_> = events.drain().map(|e| e.into_kind()).collect();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::ColdStoreUnreachable { .. }))
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::ColdStoreRecovered))
    );
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
fn a_spool_left_by_a_stopped_run_uploads_in_the_next() {
    let dir = TempDir::new("cold-restart").unwrap();
    let store = Arc::new(Memory::default());
    let mut config = config(1_000);
    config.cold.as_mut().unwrap().spool = Some(SpoolConfig::new(&dir.0));
    config.cold.as_mut().unwrap().shutdown_deadline = Duration::from_millis(200);
    store.down.store(true, Ordering::SeqCst);
    let held: Vec<_> = {
        let th = build(config.clone(), &store);
        let held = (0..20)
            .map(|n| quarantine(&th, n, Severity::Medium))
            .collect();
        drop(th); // shutdown: everything held goes to the spool
        held
    };
    assert!(store.keys().is_empty());
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 20);

    store.down.store(false, Ordering::SeqCst);
    let th = build(config, &store);
    wait_for(&th, |s| s.cold.uploaded == 20 && s.cold.spool_files == 0);
    let reader = th.cold_reader().unwrap();
    for signature in &held {
        assert_eq!(
            reader.get(signature).unwrap().unwrap().manifest.cause,
            "shutdown"
        );
    }
}

#[test]
fn a_full_queue_loses_evidence_counted_audited_and_evented() {
    let store = Arc::new(Memory::default());
    let mut config = config(10_000);
    config.cold.as_mut().unwrap().queue_capacity = NonZeroUsize::new(1).unwrap();
    // No spool: the uploader holds one item and retries while the queue fills.
    let th = build(config, &store);
    store.down.store(true, Ordering::SeqCst);
    for n in 0..20 {
        quarantine(&th, n, Severity::High);
    }
    let removed = th.flush().unwrap().len();
    let snapshot = th.snapshot();
    assert!(snapshot.cold.dropped >= 18, "{:?}", snapshot.cold);
    assert_eq!(
        snapshot.cold.queued + snapshot.cold.dropped,
        removed as u64,
        "every flushed piece is either queued or counted lost"
    );
    let lost = records(&th, RecordType::ColdDropped);
    assert_eq!(lost.len() as u64, snapshot.cold.dropped);
    store.down.store(false, Ordering::SeqCst);
    wait_for(&th, |s| s.cold.uploaded == s.cold.queued);
}

#[test]
fn the_queue_holds_no_more_payload_bytes_than_its_cap() {
    let store = Arc::new(Memory::default());
    let mut config = config(10_000);
    config.max_payload_bytes = NonZeroUsize::new(100).unwrap();
    config.cold.as_mut().unwrap().queue_bytes = NonZeroUsize::new(100).unwrap();
    let th = build(config, &store);
    store.down.store(true, Ordering::SeqCst);
    for n in 0..200 {
        quarantine(&th, n, Severity::High);
    }
    th.flush().unwrap();
    let snapshot = th.snapshot();
    assert!(snapshot.cold.queue_bytes <= 100, "{:?}", snapshot.cold);
    assert!(snapshot.cold.queued < 20 && snapshot.cold.dropped > 180);
    store.down.store(false, Ordering::SeqCst);
    let done = wait_for(&th, |s| s.cold.uploaded == s.cold.queued);
    assert_eq!(done.cold.queue_bytes, 0);
}

#[test]
fn checkpoints_are_written_off_the_host() {
    let store = Arc::new(Memory::default());
    let th = build(config(10), &store);
    quarantine(&th, 1, Severity::High);
    let signed = th.checkpoint().unwrap();
    let size = signed.checkpoint().size;
    let key = format!("evidence/cold.test/checkpoints/1/{size}");
    wait_for(&th, |s| s.cold.checkpoints >= 1);
    let stored = store
        .objects
        .lock()
        .unwrap()
        .get(&ObjectKey::new(key.as_str()).unwrap())
        .cloned();
    assert_eq!(stored.as_deref(), Some(signed.note().as_bytes()), "{key}");

    // The last checkpoint, signed when the log closes, goes too: it covers the new
    // evidence and both `evacuated` leaves of the shutdown.
    quarantine(&th, 2, Severity::High);
    drop(th);
    let checkpoints: Vec<_> = store
        .keys()
        .into_iter()
        .filter(|k| k.contains("/checkpoints/1/"))
        .collect();
    let last = format!("evidence/cold.test/checkpoints/1/{}", size + 3);
    assert!(checkpoints.contains(&last), "{checkpoints:?}");
}

#[test]
fn erasure_reaches_quarantine_spool_and_store_and_the_log_still_proves() {
    let dir = TempDir::new("cold-erase").unwrap();
    let store = Arc::new(Memory::default());
    let mut config = config(1_000);
    config.cold.as_mut().unwrap().spool = Some(SpoolConfig::new(&dir.0));
    let th = build(config, &store);
    let victim = SourceKey::new("198.51.100.7");
    // One piece in the store, one in the spool, one held; and someone else's.
    let stored = quarantine(&th, 7, Severity::High);
    let leaf = th.prove(&stored).unwrap().index;
    let old = th.read_audit(|reader| reader.size());
    th.neutralize(&stored).unwrap();
    wait_for(&th, |s| s.cold.uploaded == 1);
    store.down.store(true, Ordering::SeqCst);
    let spooled = quarantine(&th, 207, Severity::High);
    th.neutralize(&spooled).unwrap();
    wait_for(&th, |s| s.cold.spooled == 1);
    store.down.store(false, Ordering::SeqCst);
    wait_for(&th, |s| s.cold.spool_files == 0);
    store.down.store(true, Ordering::SeqCst);
    let spooled_again = quarantine(&th, 407, Severity::Critical);
    th.neutralize(&spooled_again).unwrap();
    wait_for(&th, |s| s.cold.spool_files == 1);
    let held = quarantine(&th, 607, Severity::Low);
    let other = quarantine(&th, 8, Severity::High);
    store.down.store(false, Ordering::SeqCst);

    // The uploader may drain the spool before the erasure looks at it: either way the
    // evidence is found, in the spool or in the store.
    let erasure = th.erase(&Selection::source(victim.clone())).unwrap();
    assert_eq!(erasure.store_error, None);
    let by_signature = |s: &Signature| {
        erasure
            .evidence
            .iter()
            .find(|e| e.signature == *s)
            .unwrap_or_else(|| panic!("{s} erased"))
    };
    assert!(by_signature(&stored).places.store);
    assert!(by_signature(&held).places.quarantine);
    let late = by_signature(&spooled_again).places;
    assert!(late.spool || late.store, "{late:?}");
    assert!(by_signature(&spooled).places.store);
    assert!(erasure.evidence.iter().all(|e| e.signature != other));
    assert!(erasure.evidence.iter().all(|e| e.refused.is_empty()));
    assert!(erasure.evidence.iter().all(|e| e.audit_leaf.is_some()));

    let reader = th.cold_reader().unwrap();
    assert!(reader.list(&Selection::source(victim)).unwrap().is_empty());
    assert!(th.get(&held).is_none() && th.get(&other).is_some());
    assert_eq!(
        records(&th, RecordType::Erased).len(),
        erasure.evidence.len()
    );
    assert!(std::fs::read_dir(&dir.0).unwrap().count() == 0);

    // The log still proves the erased evidence's entry, and the new tree extends the old.
    th.checkpoint().unwrap();
    th.read_audit(|reader| {
        let size = reader.size();
        let record = reader.record(leaf).unwrap();
        let proof = reader.inclusion_proof(leaf, size).unwrap();
        let root = reader.root_at(size).unwrap();
        merkle::verify_inclusion(&merkle::leaf_hash(&record), leaf, size, &proof, &root).unwrap();
        let consistency = reader.consistency_proof(old, size).unwrap();
        let old_root = reader.root_at(old).unwrap();
        merkle::verify_consistency(old, size, &consistency, &old_root, &root).unwrap();
    });
}

#[test]
fn erasure_by_source_among_ten_thousand_objects_downloads_nothing() {
    let store = Arc::new(Memory::default());
    let mut config = config(20_000);
    config.max_payload_bytes = NonZeroUsize::new(1_000).unwrap();
    config.cold.as_mut().unwrap().queue_capacity = NonZeroUsize::new(20_000).unwrap();
    let th = build(config, &store);
    for n in 0..10_000 {
        quarantine(&th, n, Severity::Medium);
    }
    th.flush().unwrap();
    wait_for(&th, |s| s.cold.uploaded == 10_000);
    assert_eq!(
        store.keys().len(),
        20_000,
        "an envelope and a manifest each"
    );
    store.gets.store(0, Ordering::SeqCst);
    let erasure = th
        .erase(&Selection::source(SourceKey::new("198.51.100.42")))
        .unwrap();
    assert_eq!(erasure.evidence.len(), 50, "every 200th scent came from it");
    assert_eq!(store.gets.load(Ordering::SeqCst), 0, "nothing downloaded");
    assert_eq!(store.keys().len(), 20_000 - 100);
}

#[test]
fn objects_the_store_refuses_to_delete_are_reported_not_skipped() {
    let store = Arc::new(Memory::default());
    let th = build(config(10), &store);
    let signature = quarantine(&th, 1, Severity::High);
    th.neutralize(&signature).unwrap();
    wait_for(&th, |s| s.cold.uploaded == 1);
    store.retained.store(true, Ordering::SeqCst);
    let erasure = th.erase(&Selection::signature(signature.clone())).unwrap();
    let [erased] = erasure.evidence.as_slice() else {
        panic!("{erasure:?}")
    };
    assert!(!erased.places.store, "nothing was deleted");
    assert_eq!(erased.refused.len(), 1);
    assert!(erased.refused[0].0.as_str().ends_with(".thcs"));
    assert!(erased.refused[0].1.contains("retention"));
    // Still there, and still listed: the manifest was left in place with it.
    let reader = th.cold_reader().unwrap();
    assert!(reader.get(&signature).unwrap().is_some());
    assert_eq!(
        erased.audit_leaf, None,
        "nothing erased, nothing recorded as erased"
    );
    assert!(records(&th, RecordType::Erased).is_empty());
}

#[test]
fn nothing_counts_as_evacuated_until_the_store_has_synced_it() {
    let store = Arc::new(Memory::default());
    let th = build(config(10), &store);
    store.unsyncable.store(true, Ordering::SeqCst);
    let signature = quarantine(&th, 1, Severity::High);
    th.neutralize(&signature).unwrap();
    let failing = wait_for(&th, |s| s.cold.store_down);
    assert_eq!(failing.cold.uploaded, 0);
    assert!(records(&th, RecordType::Evacuated).is_empty());
    store.unsyncable.store(false, Ordering::SeqCst);
    let done = wait_for(&th, |s| s.cold.existing + s.cold.uploaded == 1);
    assert!(!done.cold.store_down);
    assert_eq!(records(&th, RecordType::Evacuated).len(), 1);
}

/// A store that counts envelopes written and, at the end of each (slow) sync, how many
/// of them the sync covered: those are the only ones allowed to count as evacuated.
#[derive(Debug, Default)]
struct SlowSync {
    inner: Memory,
    envelopes: AtomicU64,
    durable: AtomicU64,
    syncs: AtomicU64,
}

impl ColdStore for SlowSync {
    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        let put = self.inner.put(key, object)?;
        if key.as_str().ends_with(".thcs") {
            self.envelopes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(put)
    }
    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        self.inner.get(key)
    }
    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        self.inner.delete(key)
    }
    fn sync(&self) -> Result<(), ColdError> {
        let covered = self.envelopes.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(3));
        self.durable.fetch_max(covered, Ordering::SeqCst);
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
        self.inner.list(prefix, each)
    }
}

#[test]
fn batches_written_while_the_one_before_syncs_count_only_once_synced() {
    const PIECES: u64 = 3_000;
    let store = Arc::new(SlowSync::default());
    let mut config = config(PIECES as usize);
    let cold = config.cold.as_mut().unwrap();
    cold.queue_capacity = NonZeroUsize::new(PIECES as usize).unwrap();
    let th = Tracehound::builder()
        .config(config)
        .cold_store(Arc::clone(&store) as Arc<dyn ColdStore>)
        .build()
        .unwrap();
    for n in 0..PIECES {
        quarantine(&th, n, Severity::High);
    }
    th.flush().unwrap();
    // Watched all along: what counts as uploaded has always been covered by a sync.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let uploaded = th.snapshot().cold.uploaded;
        let durable = store.durable.load(Ordering::SeqCst);
        assert!(uploaded <= durable, "{uploaded} counted, {durable} synced");
        if uploaded == PIECES {
            break;
        }
        assert!(Instant::now() < deadline, "timed out at {uploaded}");
        std::thread::sleep(Duration::from_micros(200));
    }
    // Several batches, one sync each (not one per piece).
    let syncs = store.syncs.load(Ordering::SeqCst);
    assert!((2..PIECES / 10).contains(&syncs), "{syncs} syncs");
    assert_eq!(records(&th, RecordType::Evacuated).len(), PIECES as usize);
}

#[test]
fn evidence_erased_while_it_waits_for_the_store_never_reaches_it() {
    let store = Arc::new(Memory::default());
    let mut config = config(100);
    let cold = config.cold.as_mut().unwrap();
    // No spool: what cannot be written waits in memory; erasure's drain gives up quickly.
    cold.shutdown_deadline = Duration::from_millis(200);
    // Tracehound's time (captures, retries) moves only when the test moves it.
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_796_000_000_000));
    let th = Tracehound::builder()
        .config(config)
        .clock(clock.clone())
        .cold_store(Arc::clone(&store) as Arc<dyn ColdStore>)
        .build()
        .unwrap();
    // Waits (bounded) for `done`, moving the clock on so that the uploader's retries come.
    let wait = |done: &dyn Fn(&Snapshot) -> bool| {
        wait_for(&th, |s| {
            clock.advance(Duration::from_millis(50));
            done(s)
        })
    };
    store.down.store(true, Ordering::SeqCst);
    let victim = SourceKey::new("198.51.100.9");
    // Ten pieces of the victim's and five of someone else's, all waiting for the store:
    // the first batch held by the uploader, the rest still queued.
    let mut theirs = Vec::new();
    for n in 0..15 {
        let at = if n < 10 { 9 + 200 * n } else { 10 + 200 * n };
        theirs.push(quarantine(&th, at, Severity::High));
    }
    th.flush().unwrap();
    wait(&|s| s.cold.store_down);
    let erasure = th.erase(&Selection::source(victim.clone())).unwrap();
    assert!(erasure.store_error.is_some(), "the store was down");
    store.down.store(false, Ordering::SeqCst);
    // The victim's ten are lost as erased, the other five written.
    let done = wait(&|s| s.cold.uploaded == 5 && s.cold.dropped == 10);
    assert_eq!(done.cold.uploaded, 5);
    let keys = store.keys();
    for (n, signature) in theirs.iter().enumerate() {
        let hash = signature.to_string();
        let hash = hash.split_once(':').unwrap().1;
        let written = keys.iter().any(|k| k.contains(hash));
        assert_eq!(written, n >= 10, "piece {n}: {keys:?}");
    }
    let dropped = records(&th, RecordType::ColdDropped);
    assert_eq!(dropped.len(), 10);
    assert!(
        dropped
            .iter()
            .all(|r| matches!(r.body, RecordBody::Evidence { reason: 8, .. }))
    );
    // Evidence the victim sends after the erasure is new, and is evacuated.
    clock.advance(Duration::from_secs(1));
    let after = quarantine(&th, 9, Severity::High);
    th.neutralize(&after).unwrap();
    wait(&|s| s.cold.uploaded == 6);
}

/// A store whose envelope writes wait at a gate until the test opens it.
#[derive(Debug, Default)]
struct Gated {
    inner: Memory,
    closed: Mutex<bool>,
    opened: std::sync::Condvar,
    waiting: AtomicU64,
}

impl ColdStore for Gated {
    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        if key.as_str().ends_with(".thcs") {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let mut closed = self.closed.lock().unwrap();
            while *closed {
                closed = self.opened.wait(closed).unwrap();
            }
        }
        self.inner.put(key, object)
    }
    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        self.inner.get(key)
    }
    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
        self.inner.list(prefix, each)
    }
}

#[test]
fn evidence_erased_while_its_write_is_under_way_is_deleted_again() {
    let store = Arc::new(Gated::default());
    *store.closed.lock().unwrap() = true;
    let mut config = config(10);
    config.cold.as_mut().unwrap().shutdown_deadline = Duration::from_millis(200);
    let th = Tracehound::builder()
        .config(config)
        .cold_store(Arc::clone(&store) as Arc<dyn ColdStore>)
        .build()
        .unwrap();
    let signature = quarantine(&th, 11, Severity::High);
    th.neutralize(&signature).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.waiting.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the write never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The erasure's sweep finds nothing: the write has not landed yet.
    let erasure = th
        .erase(&Selection::source(SourceKey::new("198.51.100.11")))
        .unwrap();
    assert!(erasure.evidence.is_empty(), "{erasure:?}");
    *store.closed.lock().unwrap() = false;
    store.opened.notify_all();
    // The write lands, and is taken back before it counts.
    let done = wait_for(&th, |s| s.cold.dropped == 1);
    assert_eq!(done.cold.uploaded, 0);
    assert!(store.inner.keys().is_empty(), "{:?}", store.inner.keys());
    let dropped = records(&th, RecordType::ColdDropped);
    assert!(matches!(
        dropped.as_slice(),
        [r] if matches!(r.body, RecordBody::Evidence { reason: 8, .. })
    ));
    assert!(records(&th, RecordType::Evacuated).is_empty());
}
