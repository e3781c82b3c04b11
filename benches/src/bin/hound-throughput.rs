//! Hound pool throughput, and proof that offering jobs never blocks `intercept`.
//!
//! ```text
//! cargo build --release -p tracehound-benches --bins
//! target/release/hound-throughput [--jobs N] [--rounds R]
//! ```
//!
//! Part 1, throughput: a `Tracehound` with 2 `bench-hound` workers (the stock worker) and a
//! defer queue large enough for every job quarantines N unique ~1 KB threats as fast as it
//! can, and the clock runs until the last `EvidenceAnalysed` event. Reported: jobs per second
//! (median of R rounds).
//!
//! Part 2, never blocking: the same N intercepts with no pool, with a pool whose policy is
//! `drop` (offers far outrun 2 workers), and with `defer`. Reported: median and p99.9 and max
//! intercept latency of each; the pool adds the cost of a `try_send`, never a wait.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tracehound::{
    Category, EventKind, Exhaustion, HoundConfig, Outcome, Scent, Severity, Tracehound,
};

fn hound_program() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.with_file_name("bench-hound")
}

fn scents(n: usize) -> Vec<Scent> {
    (0..n)
        .map(|i| {
            let body = json!({
                "method": "POST",
                "path": "/api/search",
                "headers": {"user-agent": "scanner/1.0", "x-request": i},
                "body": {"q": format!("' OR {i}={i} -- {}", "x".repeat(900))},
            });
            Scent::new("198.51.100.1", body).with_threat(Category::Injection, Severity::High)
        })
        .collect()
}

fn build(policy: Option<Exhaustion>, queue: usize) -> Tracehound {
    let mut builder = Tracehound::builder().rate_limit(None).maintenance(None);
    if let Some(policy) = policy {
        let mut hound = HoundConfig::new(hound_program());
        hound.workers = NonZeroUsize::new(2).unwrap();
        hound.on_exhausted = policy;
        hound.defer_queue = NonZeroUsize::new(queue).unwrap_or(NonZeroUsize::MIN);
        hound.rotate_after = NonZeroU64::new(1_000_000).unwrap();
        builder = builder.hound(hound);
    }
    let mut quarantine = tracehound::QuarantineConfig::default();
    quarantine.max_count = NonZeroUsize::new(1_000_000).unwrap();
    quarantine.max_bytes = NonZeroUsize::new(4_000_000_000).unwrap();
    builder.quarantine(quarantine).build().unwrap()
}

/// Waits until both workers are up, so spawn time is not counted as throughput.
fn wait_ready(th: &Tracehound) {
    let until = Instant::now() + Duration::from_secs(10);
    while th.snapshot().hound.live < 2 {
        assert!(Instant::now() < until, "workers did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn throughput(jobs: usize) -> f64 {
    let th = build(Some(Exhaustion::Defer), 65_536);
    wait_ready(&th);
    let events = th.subscribe(65_536).unwrap();
    let scents = scents(jobs);
    let started = Instant::now();
    for scent in &scents {
        assert!(matches!(th.intercept(scent), Outcome::Quarantined(_)));
    }
    let mut done = 0;
    while done < jobs {
        match events.recv_timeout(Duration::from_secs(30)) {
            Some(event) => {
                if let EventKind::EvidenceAnalysed(a) = event.into_kind() {
                    assert!(
                        matches!(a.outcome, tracehound::hound::HoundOutcome::Analysed(_)),
                        "{:?}",
                        a.outcome
                    );
                    done += 1;
                }
            }
            None => panic!("analyses stalled at {done} of {jobs}"),
        }
    }
    let elapsed = started.elapsed();
    let stats = th.snapshot().hound;
    assert_eq!(stats.analysed as usize, jobs);
    jobs as f64 / elapsed.as_secs_f64()
}

fn latencies(policy: Option<Exhaustion>, jobs: usize) -> (Duration, Duration, Duration, u64) {
    let th = build(policy, 65_536);
    if policy.is_some() {
        wait_ready(&th);
    }
    let scents = scents(jobs);
    let mut times = Vec::with_capacity(jobs);
    for scent in &scents {
        let started = Instant::now();
        let outcome = th.intercept(scent);
        times.push(started.elapsed());
        assert!(matches!(outcome, Outcome::Quarantined(_)));
    }
    times.sort_unstable();
    let pick = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let exhausted = th.snapshot().hound.exhausted;
    (pick(0.5), pick(0.999), times[times.len() - 1], exhausted)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut jobs = 20_000;
    let mut rounds = 5;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jobs" => jobs = args.next().and_then(|v| v.parse().ok()).unwrap_or(jobs),
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(jobs <= 65_536, "--jobs is at most the defer queue, 65536");
    let runs: Vec<f64> = (0..rounds).map(|_| throughput(jobs)).collect();
    println!(
        "pool throughput, 2 workers, {jobs} x ~1 KB jobs: median {:.0} jobs/s (runs: {})",
        median(runs.clone()),
        runs.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, policy) in [
        ("no pool", None),
        ("pool, drop", Some(Exhaustion::Drop)),
        ("pool, defer", Some(Exhaustion::Defer)),
    ] {
        let (p50, p999, max, exhausted) = latencies(policy, jobs);
        println!(
            "intercept latency, {name:12} {jobs} unique threats: median {p50:?}, p99.9 {p999:?}, max {max:?} (offers refused: {exhausted})"
        );
    }
}
