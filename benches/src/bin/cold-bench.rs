//! Cold storage figures, each against a baseline in the same run (see BENCHMARKS.md):
//!
//! - `intercept`: intercept latency (p50, p99) at full buffer, where every threat evicts a
//!   medium-severity piece of evidence and evacuation offers it to a busy uploader, against
//!   the same workload without cold storage, alternating rounds of the two;
//! - `throughput URL [--endpoint URL] [--rounds N]`: pieces of 1 KB evidence per second from
//!   a `flush` to the store holding them all (envelope and manifest each: two objects per
//!   piece), the median of N rounds, each into a fresh directory or root; `local` is
//!   the crate's local directory store (synced once per batch), `local-nosync` the same
//!   never synced (the pipeline's and the file system's own cost), `object-store-local`
//!   object_store's `LocalFileSystem` (staged files, never synced), for comparison;
//!   directories are removed only when every round is done (on a file system without a
//!   journal, ext4 avoids reusing inodes freed in the last 30 s, which makes a round right
//!   after a mass delete slower);
//! - `memory`: with the store unreachable, more evidence than the queue and the spool can
//!   hold: the queue's and the spool's bytes against their caps, and the process's RSS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches fail loudly

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracehound::cold::{ColdConfig, ColdError, ColdStore, ObjectKey, Put, SpoolConfig};
use tracehound::{Config, Outcome, Tracehound};
use tracehound_benches::{config, status_kib, threat};
use tracehound_cold_storage::object_store::local::LocalFileSystem;
use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cold-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A store whose writes are never made durable: the cost of everything but the sync.
#[derive(Debug)]
struct NoSync(ObjectStoreCold);

impl ColdStore for NoSync {
    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
        self.0.put(key, object)
    }
    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
        self.0.get(key)
    }
    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
        self.0.delete(key)
    }
    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
        self.0.list(prefix, each)
    }
}

fn store(url: &str, endpoint: Option<&str>, dir: &std::path::Path) -> Arc<dyn ColdStore> {
    if url == "object-store-local" {
        let fs = LocalFileSystem::new_with_prefix(dir).unwrap();
        return Arc::new(ObjectStoreCold::new(Arc::new(fs), "").unwrap());
    }
    if url == "local-nosync" {
        return Arc::new(NoSync(ObjectStoreCold::local(dir).unwrap()));
    }
    let url = if url == "local" {
        format!("file://{}", dir.display())
    } else {
        url.to_owned()
    };
    let mut config = StoreConfig::new(url);
    config.endpoint = endpoint.map(str::to_owned);
    config.allow_http = endpoint.is_some_and(|e| e.starts_with("http://"));
    Arc::new(ObjectStoreCold::open(&config).unwrap())
}

fn build(config: Config, store: Option<Arc<dyn ColdStore>>) -> Tracehound {
    let builder = Tracehound::builder().config(config);
    match store {
        Some(store) => builder.cold_store(store),
        None => builder,
    }
    .build()
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> String {
    format!("{:.2} µs", d.as_nanos() as f64 / 1_000.0)
}

/// Full buffer, every intercept evicts: latencies with evacuation off and on.
fn intercept() {
    const ROUNDS: usize = 6;
    const PER_ROUND: u64 = 30_000;
    let dir = temp_dir("intercept");
    let mut with_cold = config();
    with_cold.cold = Some(ColdConfig::default());
    let fill = |th: &Tracehound, base: u64| {
        for n in 0..10_000 {
            th.intercept(&threat(base + n, 300));
        }
    };
    let off = build(config(), None);
    let on = build(with_cold, Some(store("local", None, &dir)));
    fill(&off, 1 << 50);
    fill(&on, 1 << 50);
    let mut samples = [Vec::new(), Vec::new()];
    let mut next = 0u64;
    for _ in 0..ROUNDS {
        for (which, th) in [&off, &on].into_iter().enumerate() {
            let scents: Vec<_> = (0..PER_ROUND).map(|k| threat(next + k, 300)).collect();
            next += PER_ROUND;
            for scent in &scents {
                let start = Instant::now();
                let outcome = th.intercept(std::hint::black_box(scent));
                samples[which].push(start.elapsed());
                assert!(matches!(outcome, Outcome::Quarantined(_)));
            }
        }
    }
    let cold = on.snapshot().cold;
    println!("| evacuation | p50 | p99 | p99.9 |");
    println!("|---|---|---|---|");
    let mut p = Vec::new();
    for (name, s) in ["off", "on"].iter().zip(samples.iter_mut()) {
        s.sort_unstable();
        let (p50, p99) = (percentile(s, 0.5), percentile(s, 0.99));
        println!(
            "| {name} | {} | {} | {} |",
            micros(p50),
            micros(p99),
            micros(percentile(s, 0.999))
        );
        p.push((p50, p99));
    }
    let ratio = |a: Duration, b: Duration| b.as_nanos() as f64 / a.as_nanos() as f64;
    println!(
        "\non/off: p50 {:.2}x, p99 {:.2}x; the uploader meanwhile: {} queued, {} uploaded, {} \
         dropped (queue full), {} samples each",
        ratio(p[0].0, p[1].0),
        ratio(p[0].1, p[1].1),
        cold.queued,
        cold.uploaded,
        cold.dropped,
        samples[0].len()
    );
    drop(on);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pieces of 1 KB evidence per second from `flush` to all in the store: each round's
/// figure, then the median.
fn throughput(url: &str, endpoint: Option<&str>, count: u64, concurrency: usize, rounds: usize) {
    let dir = temp_dir("throughput");
    let mut seconds = Vec::new();
    let mut lost = 0;
    for round in 0..rounds {
        let mut config = config();
        config.quarantine.max_count = NonZeroUsize::new(count as usize).unwrap();
        let mut cold = ColdConfig::default();
        // A fresh root each round: nothing written before is found again.
        cold.prefix = format!("r{}-{round}", std::process::id());
        cold.queue_capacity = NonZeroUsize::new(count as usize).unwrap();
        cold.queue_bytes = NonZeroUsize::new(count as usize * 2_048).unwrap();
        cold.upload_concurrency = NonZeroUsize::new(concurrency).unwrap();
        cold.shutdown_deadline = Duration::from_secs(600);
        config.cold = Some(cold);
        let th = build(config, Some(store(url, endpoint, &dir)));
        for n in 0..count {
            assert!(matches!(
                th.intercept(&threat(n, 1_000)),
                Outcome::Quarantined(_)
            ));
        }
        let start = Instant::now();
        th.flush().unwrap();
        let deadline = start + Duration::from_secs(600);
        loop {
            let cold = th.snapshot().cold;
            if cold.uploaded + cold.existing + cold.dropped >= count {
                break;
            }
            assert!(Instant::now() < deadline, "timed out: {cold:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cold = th.snapshot().cold;
        assert_eq!(cold.existing, 0, "round {round} found objects of another");
        lost += cold.dropped;
        eprintln!(
            "  {url} round {round}: {elapsed:.2} s, {:.0} objects/s",
            2.0 * count as f64 / elapsed
        );
        seconds.push(elapsed);
        drop(th);
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let per_second = count as f64 / median;
    let objects = |seconds: f64| 2.0 * count as f64 / seconds;
    println!(
        "| {url} | {concurrency} | {count} | {rounds} | {median:.2} s | {per_second:.0} | {:.0} | {:.0}–{:.0} | {lost} |",
        per_second * 2.0,
        objects(seconds[seconds.len() - 1]),
        objects(seconds[0]),
    );
    // The directory stays: `cold-bench.sh` removes every one when all figures are taken,
    // so no round runs just after a mass delete.
}

/// The store unreachable: queue and spool at their caps, memory with them.
fn memory() {
    let dir = temp_dir("memory");
    const SPOOL_BYTES: u64 = 8 << 20;
    const QUEUE_BYTES: usize = 4 << 20;
    let mut config = config();
    // A small buffer: every threat evicts one, which goes to the (unreachable) store.
    config.quarantine.max_count = NonZeroUsize::new(1_000).unwrap();
    let mut cold = ColdConfig::default();
    cold.queue_bytes = NonZeroUsize::new(QUEUE_BYTES).unwrap();
    cold.queue_capacity = NonZeroUsize::new(100_000).unwrap();
    let mut spool = SpoolConfig::new(dir.join("spool"));
    spool.max_bytes = SPOOL_BYTES;
    cold.spool = Some(spool);
    config.cold = Some(cold);
    // Nothing listens on port 1: every write is refused at once.
    let unreachable = store("s3://bench", Some("http://127.0.0.1:1"), &dir);
    let th = build(config, Some(unreachable));
    let baseline = status_kib("VmRSS").unwrap();
    println!(
        "| pieces evicted (1 KB) | queue bytes (cap) | spool bytes (cap) | spool files | lost | \
         RSS growth |"
    );
    println!("|---|---|---|---|---|---|");
    let mut next = 0;
    for batch in [10_000u64, 40_000, 150_000] {
        for n in next..next + batch {
            th.intercept(&threat(n, 1_000));
        }
        next += batch;
        // Let the uploader spool what it can take.
        let mut last = th.snapshot().cold;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = th.snapshot().cold;
            if now.queue_len == 0 && now.spooled == last.spooled {
                break;
            }
            last = now;
        }
        let cold = th.snapshot().cold;
        let rss = status_kib("VmRSS").unwrap();
        println!(
            "| {} | {} ({QUEUE_BYTES}) | {} ({SPOOL_BYTES}) | {} | {} | {} KiB |",
            next - 1_000,
            cold.queue_bytes,
            cold.spool_bytes,
            cold.spool_files,
            cold.dropped,
            rss.saturating_sub(baseline)
        );
    }
    drop(th);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    match args.first().map(String::as_str) {
        Some("intercept") => intercept(),
        Some("throughput") => {
            let url = args.get(1).map_or("local", String::as_str);
            let count = flag("--count").map_or(20_000, |c| c.parse().unwrap());
            let concurrency = flag("--concurrency").map_or(8, |c| c.parse().unwrap());
            let rounds = flag("--rounds").map_or(3, |c| c.parse().unwrap());
            throughput(url, flag("--endpoint"), count, concurrency, rounds);
        }
        Some("memory") => memory(),
        _ => eprintln!(
            "usage: cold-bench intercept | throughput local|local-nosync|object-store-local|URL \
             [--endpoint URL] [--count N] [--concurrency N] [--rounds N] | memory"
        ),
    }
}
