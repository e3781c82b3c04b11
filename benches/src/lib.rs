//! Workloads shared by the benchmarks in `benches/`: request-shaped threat payloads of a given
//! canonical size, and tracehound configurations for them.
#![forbid(unsafe_code)]

use std::num::NonZeroU32;
use std::time::Duration;

use serde_json::{Value, json};
use tracehound::{CanonicalForm, Category, Config, RateLimitConfig, Scent, Severity, canonicalize};

/// A request-shaped payload, unique per `n`, padded so its canonical form is `size` bytes.
pub fn payload(n: u64, size: usize) -> Value {
    let mut value = json!({
        "method": "POST",
        "path": "/api/v1/search",
        "query": {"page": 3, "sort": "desc"},
        "headers": {"user-agent": "Mozilla/5.0 (X11; Linux x86_64)", "content-type": "application/json"},
        "body": {"id": n, "q": "", "note": "' UNION SELECT username, password FROM users --"},
    });
    let len = canonicalize(&value, CanonicalForm::Jcs).map_or(0, |b| b.len());
    let pad = "A".repeat(size.saturating_sub(len));
    value["body"]["q"] = Value::String(pad);
    value
}

/// A threat scent from one of 1,024 sources.
pub fn threat(n: u64, size: usize) -> Scent {
    Scent::new(
        format!("198.51.{}.{}", (n / 256) % 4, n % 256),
        payload(n, size),
    )
    .with_threat(Category::Injection, Severity::Medium)
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

/// The default configuration, with a rate limit that never refuses (the check still runs)
/// and no maintenance thread competing for the two cores.
pub fn config() -> Config {
    /// A billion requests a second: more than any bench sends.
    const UNLIMITED: NonZeroU32 = match NonZeroU32::new(1_000_000_000) {
        Some(n) => n,
        None => NonZeroU32::MAX,
    };
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = UNLIMITED;
    rate_limit.window = Duration::from_secs(1);
    let mut config = Config::default();
    config.rate_limit = Some(rate_limit);
    config.maintenance = None;
    config
}

/// Audit log workloads: a stream of realistic lifecycle records.
pub mod audit {
    use std::time::Duration;

    use tracehound::audit::{AuditConfig, AuditLog, EvidenceRecord, RecordType};
    use tracehound::clock::Timestamp;
    use tracehound::{Category, Digest, Severity, Signature};

    const START: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

    fn signature(n: u64) -> Signature {
        Signature::new(Category::Injection, Digest::of(&n.to_be_bytes()))
    }

    /// Appends `count` `quarantined` records (one per piece of evidence, each with its own
    /// hash, size and time), calling `after_each` after every append.
    pub fn append_records(
        log: &mut AuditLog,
        count: u64,
        mut after_each: impl FnMut(&mut AuditLog),
    ) {
        let first = log.size();
        for n in first..first + count {
            let sig = signature(n);
            let record = EvidenceRecord::new(
                RecordType::Quarantined,
                START.saturating_add(Duration::from_micros(n)),
                &sig,
                300 + n % 4096,
                Severity::High,
            );
            if let Err(error) = log.append(&record) {
                panic!("append {n}: {error}");
            }
            after_each(log);
        }
    }

    /// The bytes of record `n` as the log stores them.
    pub fn record_bytes(n: u64) -> Vec<u8> {
        let mut log = match AuditLog::open(&AuditConfig::default()) {
            Ok(log) => log,
            Err(error) => panic!("memory log: {error}"),
        };
        append_records(&mut log, n + 1, |_| {});
        match log.record(n) {
            Ok(bytes) => bytes,
            Err(error) => panic!("record {n}: {error}"),
        }
    }
}
