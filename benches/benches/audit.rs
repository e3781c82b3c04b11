//! The audit log's costs, each next to its floor measured in the same run (SHA-256 of one
//! leaf record, the least an append can cost). Run with
//! `cargo bench -p tracehound-benches --bench audit`; see BENCHMARKS.md.
//!
//! - append to a memory log, and to a directory log with group commit (one fsync every
//!   10 ms, as the writer thread does under the default policy);
//! - inclusion proof generation (node hashes read from disk) and verification at
//!   1,000,000 leaves;
//! - opening (verifying) a 1,000,000-record directory log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches fail loudly

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracehound::audit::{AuditConfig, AuditLog, FsyncPolicy, merkle};
use tracehound_benches::audit::{append_records, record_bytes};

const MILLION: u64 = 1_000_000;

fn dir_config(dir: &Path, fsync: FsyncPolicy) -> AuditConfig {
    let mut config = AuditConfig::default();
    config.dir = Some(dir.to_path_buf());
    config.deployment = "bench.example".into();
    config.fsync = fsync;
    config
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracehound-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit append");
    group.throughput(Throughput::Elements(1));
    let leaf = record_bytes(0);
    group.bench_function("floor: SHA-256 leaf hash of one record", |b| {
        b.iter(|| merkle::leaf_hash(black_box(&leaf)))
    });

    let mut config = AuditConfig::default();
    config.max_epoch_records = Some(u64::MAX);
    let mut log = AuditLog::open(&config).unwrap();
    group.bench_function("memory log", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            append_records(&mut log, iters, |_| {});
            start.elapsed()
        })
    });
    drop(log);

    let dir = scratch("append");
    let mut log = AuditLog::open(&dir_config(
        &dir,
        FsyncPolicy::Every(Duration::from_millis(10)),
    ))
    .unwrap();
    group.bench_function("directory log, group commit every 10 ms", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut last_commit = Instant::now();
            append_records(&mut log, iters, |log| {
                if last_commit.elapsed() >= Duration::from_millis(10) {
                    log.commit().unwrap();
                    last_commit = Instant::now();
                }
            });
            log.commit().unwrap();
            start.elapsed()
        })
    });
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    group.finish();
}

/// A directory log of a million records, built once for the proof and open benchmarks.
fn million(dir: &Path) {
    let mut log = AuditLog::open(&dir_config(dir, FsyncPolicy::Never)).unwrap();
    let mut since = 0;
    append_records(&mut log, MILLION, |log| {
        since += 1;
        if since == 10_000 {
            log.commit().unwrap();
            since = 0;
        }
    });
    log.checkpoint().unwrap();
}

fn proofs_and_open(c: &mut Criterion) {
    let dir = scratch("million");
    million(&dir);
    let config = dir_config(&dir, FsyncPolicy::Never);
    let mut log = AuditLog::open(&config).unwrap();
    let size = log.size();
    assert_eq!(size, MILLION);
    let root = log.root();
    let mut group = c.benchmark_group("audit proofs at 1,000,000 leaves");
    // Spread the indices over the whole tree so reads are not all of one neighbourhood.
    let indices: Vec<u64> = (0..1024u64).map(|i| (i * 977_731) % size).collect();
    let mut next = 0;
    group.bench_function("inclusion proof generation", |b| {
        b.iter(|| {
            next = (next + 1) % indices.len();
            log.inclusion_proof(indices[next], size).unwrap()
        })
    });
    let cases: Vec<_> = indices
        .iter()
        .map(|&i| {
            let leaf = merkle::leaf_hash(&log.record(i).unwrap());
            (i, leaf, log.inclusion_proof(i, size).unwrap())
        })
        .collect();
    group.bench_function("inclusion proof verification", |b| {
        b.iter(|| {
            next = (next + 1) % cases.len();
            let (i, leaf, proof) = &cases[next];
            merkle::verify_inclusion(leaf, *i, size, proof, &root).unwrap()
        })
    });
    group.bench_function("consistency proof generation", |b| {
        b.iter(|| {
            next = (next + 1) % indices.len();
            log.consistency_proof(indices[next].max(1), size).unwrap()
        })
    });
    group.finish();
    drop(log);

    let mut group = c.benchmark_group("audit open");
    group.sample_size(10);
    group.bench_function("open and verify 1,000,000 records", |b| {
        b.iter(|| {
            let log = AuditLog::open(&config).unwrap();
            assert_eq!(log.size(), MILLION);
            log
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, append, proofs_and_open);
criterion_main!(benches);
