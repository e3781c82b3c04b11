//! Resident memory of a durable audit log, measured in a process of its own.
//!
//! - `audit-memory build N DIR`: creates a log of N records in DIR (which must not exist),
//!   committing every 10,000 records, and signs a checkpoint;
//! - `audit-memory open DIR`: opens (verifies) the log in DIR and generates 1,000 inclusion
//!   records spread over the whole tree, proving and verifying each;
//! - `audit-memory verify DIR`: opens the log in DIR, seals its current epoch (rotating) if
//!   it holds more than its start leaf, and verifies every sealed epoch completely, as the
//!   `Tracehound` facade does in the background after it starts (the time printed is that of
//!   the verification alone).
//!
//! Each prints the process's peak resident set (VmHWM) minus its resident set just before
//! the log was opened, and the log's own estimate of its heap bytes. See BENCHMARKS.md.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tracehound::audit::{AuditConfig, AuditLog, FsyncPolicy, merkle};
use tracehound_benches::audit::append_records;
use tracehound_benches::status_kib;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("audit-memory: {message}");
            ExitCode::from(2)
        }
    }
}

/// A field of /proc/self/status, in KiB.
fn config(dir: &str) -> AuditConfig {
    let mut config = AuditConfig::default();
    config.dir = Some(dir.into());
    config.deployment = "bench.example".into();
    config.fsync = FsyncPolicy::Every(Duration::from_millis(10));
    config
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let baseline = status_kib("VmRSS")?;
    let started = Instant::now();
    let (what, log) = match args.as_slice() {
        [_, cmd, n, dir] if cmd == "build" => {
            let n: u64 = n.parse().map_err(|e| format!("N: {e}"))?;
            if std::path::Path::new(dir).exists() {
                return Err(format!("{dir} exists; give a new directory"));
            }
            let mut log = AuditLog::open(&config(dir)).map_err(|e| e.to_string())?;
            let mut since = 0u32;
            let mut failed = None;
            append_records(&mut log, n, |log| {
                since += 1;
                if since == 10_000 {
                    since = 0;
                    if let Err(e) = log.commit() {
                        failed.get_or_insert(e);
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e.to_string());
            }
            log.checkpoint().map_err(|e| e.to_string())?;
            (format!("built {n} records"), log)
        }
        [_, cmd, dir] if cmd == "open" => {
            let mut log = AuditLog::open(&config(dir)).map_err(|e| e.to_string())?;
            let size = log.size();
            let root = log.root();
            for i in 0..1000u64 {
                let index = (i * 7_919_993) % size.max(1);
                let leaf = merkle::leaf_hash(&log.record(index).map_err(|e| e.to_string())?);
                let proof = log
                    .inclusion_proof(index, size)
                    .map_err(|e| e.to_string())?;
                merkle::verify_inclusion(&leaf, index, size, &proof, &root)
                    .map_err(|e| format!("leaf {index}: {e}"))?;
            }
            (format!("opened {size} records, read and proved 1,000"), log)
        }
        [_, cmd, dir] if cmd == "verify" => {
            let mut log = AuditLog::open(&config(dir)).map_err(|e| e.to_string())?;
            if log.size() > 1 {
                log.rotate(tracehound::clock::Timestamp::from_system_time(
                    std::time::SystemTime::now(),
                ))
                .map_err(|e| e.to_string())?;
            }
            let sealed = log.sealed_epochs();
            let verifying = Instant::now();
            let mut records = 0;
            for epoch in sealed.epochs() {
                records += sealed.verify(epoch).map_err(|e| e.to_string())?.records;
            }
            (
                format!(
                    "verified {} sealed epochs ({records} records) in {:.2?}; with the open and the seal",
                    sealed.epochs().count(),
                    verifying.elapsed()
                ),
                log,
            )
        }
        _ => {
            return Err(
                "usage: audit-memory build N DIR | audit-memory open DIR | audit-memory verify DIR"
                    .into(),
            );
        }
    };
    let peak = status_kib("VmHWM")?;
    let now = status_kib("VmRSS")?;
    println!(
        "{what} in {:.1?}: peak RSS {:.1} MiB above the {:.1} MiB before opening \
         (now {:.1} MiB above); the log's heap estimate {} bytes",
        started.elapsed(),
        peak.saturating_sub(baseline) as f64 / 1024.0,
        baseline as f64 / 1024.0,
        now.saturating_sub(baseline) as f64 / 1024.0,
        log.memory_bytes(),
    );
    Ok(())
}
