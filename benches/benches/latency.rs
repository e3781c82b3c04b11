//! Latency distribution of threat intercepts at 0 %, 50 % and 100 % fill of the default
//! 10,000-entry quarantine: p50, p99 and p99.9 of individually timed calls, the terms the
//! TypeScript library's SLA is written in (p50 < 0.5 ms, p99 < 2 ms). Run with
//! `cargo bench -p tracehound-benches --bench latency`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches fail loudly

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracehound::{Outcome, Scent, Tracehound};
use tracehound_benches::{config, threat};

const SAMPLES: usize = 200_000;
const CHUNK: u64 = 64;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Times `SAMPLES` intercepts of new 300-byte threats, keeping the fill at `fill` of the
/// default capacity: full stays full (every insert evicts); empty and half are refilled to
/// their level with a fresh buffer whenever they would drift more than 1,000 entries up.
fn run(fill: usize) -> Vec<Duration> {
    let fresh = || {
        let th = Tracehound::builder().config(config()).build().unwrap();
        for n in 0..fill as u64 {
            th.intercept(&threat((1 << 50) + n, 300));
        }
        th
    };
    let full = fill == 10_000;
    let mut th = fresh();
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut next = 0u64;
    while samples.len() < SAMPLES {
        if !full && th.snapshot().quarantine.count >= fill + 1_000 {
            th = fresh();
        }
        let scents: Vec<Scent> = (0..CHUNK).map(|k| threat(next + k, 300)).collect();
        next += CHUNK;
        for scent in &scents {
            let start = Instant::now();
            let outcome = th.intercept(black_box(scent));
            samples.push(start.elapsed());
            assert!(matches!(outcome, Outcome::Quarantined(_)));
        }
    }
    samples.sort_unstable();
    samples
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("| fill | p50 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|");
    for (fill, name) in [(0, "0 %"), (5_000, "50 %"), (10_000, "100 %")] {
        let samples = run(fill);
        println!(
            "| {name} | {:.2} µs | {:.2} µs | {:.2} µs | {:.1} µs |",
            percentile(&samples, 0.50).as_secs_f64() * 1e6,
            percentile(&samples, 0.99).as_secs_f64() * 1e6,
            percentile(&samples, 0.999).as_secs_f64() * 1e6,
            samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        );
    }
}
