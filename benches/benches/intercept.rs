//! Hot-path benchmarks: clean intercept, unique threats into an empty and a full default
//! quarantine, duplicate threats, and the SHA-256 floor. Run with
//! `cargo bench -p tracehound-benches --bench intercept`; `benches/report.py` turns the
//! medians into the table in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use tracehound::{CanonicalForm, Digest, Outcome, Scent, Tracehound, canonicalize};
use tracehound_benches::{config, threat};

const SIZES: [(usize, &str); 2] = [(300, "300B"), (4096, "4KB")];
/// Scents built ahead of one timed run.
const CHUNK: u64 = 64;
/// Inserts per fresh buffer in the "empty" case: it never gets past half full.
const EMPTY_BATCH: u64 = 5_000;

fn build() -> Tracehound {
    Tracehound::builder()
        .config(config())
        .build()
        .expect("valid benchmark configuration")
}

fn clean(c: &mut Criterion) {
    let th = build();
    let scents: Vec<Scent> = (0..1024)
        .map(|n| {
            Scent::new(
                format!("198.51.{}.{}", n / 256, n % 256),
                json!({"path": "/"}),
            )
        })
        .collect();
    let mut i = 0;
    c.bench_function("clean", |b| {
        b.iter(|| {
            i = (i + 1) % scents.len();
            let outcome = th.intercept(black_box(&scents[i]));
            debug_assert_eq!(outcome, Outcome::Clean);
            outcome
        })
    });
}

/// Times `iters` intercepts of never-seen threats. Scents are built untimed in chunks of 64
/// just before they are intercepted, as a server builds one from a request just before
/// calling `intercept`; `fresh` is called for a new buffer every `EMPTY_BATCH` intercepts
/// when the buffer is to stay empty, once otherwise.
fn time_unique(
    th: &mut Tracehound,
    iters: u64,
    size: usize,
    next: &mut u64,
    empty: bool,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        if empty && done % EMPTY_BATCH == 0 {
            *th = build();
        }
        let chunk = CHUNK
            .min(iters - done)
            .min(EMPTY_BATCH - done % EMPTY_BATCH);
        let scents: Vec<Scent> = (0..chunk).map(|k| threat(*next + k, size)).collect();
        *next += chunk;
        let start = Instant::now();
        for scent in &scents {
            black_box(th.intercept(black_box(scent)));
        }
        total += start.elapsed();
        done += chunk;
    }
    total
}

fn unique_empty(c: &mut Criterion) {
    let mut group = c.benchmark_group("unique_empty");
    for (size, name) in SIZES {
        let mut th = build();
        let mut next = 0;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| time_unique(&mut th, iters, size, &mut next, true))
        });
    }
    group.finish();
}

fn unique_full(c: &mut Criterion) {
    let mut group = c.benchmark_group("unique_full");
    for (size, name) in SIZES {
        let mut th = build();
        // Fill to the default 10,000 with evidence that will be the oldest.
        for n in 0..10_000 {
            th.intercept(&threat((1 << 50) + n, size));
        }
        assert_eq!(th.snapshot().quarantine.count, 10_000);
        let mut next = 0;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| time_unique(&mut th, iters, size, &mut next, false))
        });
        let snap = th.snapshot();
        assert_eq!(snap.quarantine.count, 10_000, "the buffer stayed full");
        assert_eq!(snap.outcomes.quarantined, snap.audit.records.quarantined);
        assert_eq!(
            snap.outcomes.quarantined,
            next + 10_000,
            "every threat was new"
        );
        assert_eq!(snap.audit.records.evicted, next, "every insert evicted one");
    }
    group.finish();
}

/// Eviction cost must not grow with the buffer: full buffers of 1,000, 10,000 and 100,000
/// entries should cost about the same per insert (O(log n) eviction).
fn unique_full_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("unique_full_scaling_300B");
    for capacity in [1_000usize, 10_000, 100_000] {
        let mut cfg = config();
        cfg.quarantine.max_count = NonZeroUsize::new(capacity).unwrap();
        let mut th = Tracehound::builder()
            .config(cfg)
            .build()
            .expect("valid configuration");
        for n in 0..capacity as u64 {
            th.intercept(&threat((1 << 50) + n, 300));
        }
        assert_eq!(th.snapshot().quarantine.count, capacity);
        let mut next = 0;
        group.bench_function(BenchmarkId::from_parameter(capacity), |b| {
            b.iter_custom(|iters| time_unique(&mut th, iters, 300, &mut next, false))
        });
        assert_eq!(th.snapshot().audit.records.evicted, next);
    }
    group.finish();
}

fn duplicate(c: &mut Criterion) {
    let mut group = c.benchmark_group("duplicate");
    for (size, name) in SIZES {
        let th = build();
        let scent = threat(7, size);
        assert!(matches!(th.intercept(&scent), Outcome::Quarantined(_)));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let outcome = th.intercept(black_box(&scent));
                debug_assert!(matches!(outcome, Outcome::Ignored { .. }));
                outcome
            })
        });
    }
    group.finish();
}

fn floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor_sha256");
    for (size, name) in SIZES {
        let bytes = canonicalize(threat(7, size).payload(), CanonicalForm::Jcs).expect("encodes");
        assert_eq!(bytes.len(), size, "payloads are padded to the named size");
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| Digest::of(black_box(&bytes)))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    clean,
    unique_empty,
    unique_full,
    unique_full_scaling,
    duplicate,
    floor
);
criterion_main!(benches);
