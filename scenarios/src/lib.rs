//! Shared pieces of the scenario tests in `tests/`: black-box checks of tracehound through its
//! public API only, strengthened forms of the TypeScript library's scenario suite.
#![forbid(unsafe_code)]

use std::time::Duration;

use serde_json::{Value, json};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::{Config, Tracehound};

/// A fixed start time, so every run computes the same audit leaves.
pub const START: Timestamp = Timestamp::from_unix_millis(1_763_800_000_000);

/// A configuration with no maintenance thread: scenarios drive time and maintenance.
pub fn config() -> Config {
    let mut config = Config::default();
    config.maintenance = None;
    config
}

/// A `Tracehound` on a manual clock starting at [`START`].
pub fn tracehound(config: Config) -> (Tracehound, ManualClock) {
    let clock = ManualClock::new(START);
    let tracehound = Tracehound::builder()
        .config(config)
        .clock(clock.clone())
        .build()
        .unwrap_or_else(|e| panic!("scenario configuration is invalid: {e}"));
    (tracehound, clock)
}

/// A request-shaped payload, distinct for every `n`.
pub fn request(n: u64) -> Value {
    json!({
        "method": "POST",
        "path": "/api/search",
        "query": {"page": n % 10},
        "headers": {"user-agent": "scanner/1.0"},
        "body": {"q": format!("' OR {n}={n} --")},
    })
}

/// The evidence signature of record `index` in the crash tests: a digest of the index.
pub fn crash_signature(index: u64) -> tracehound::Signature {
    tracehound::Signature::new(
        tracehound::Category::Injection,
        tracehound::Digest::of(&index.to_be_bytes()),
    )
}

/// Record `index` of the crash tests (its fields all follow from the index), for
/// `signature` = [`crash_signature`]`(index)`.
pub fn crash_record(
    index: u64,
    signature: &tracehound::Signature,
) -> tracehound::audit::EvidenceRecord<'_> {
    let severity =
        tracehound::Severity::from_rank((index % 4) as u8).unwrap_or(tracehound::Severity::Low);
    tracehound::audit::EvidenceRecord::new(
        tracehound::audit::RecordType::Quarantined,
        START.saturating_add(Duration::from_millis(index)),
        signature,
        index,
        severity,
    )
}

/// Checks that `bytes` is record `index` of the crash tests, as the appender wrote it.
pub fn check_crash_record(index: u64, bytes: &[u8]) -> Result<(), String> {
    let record = tracehound::audit::AuditRecord::decode(bytes)
        .map_err(|e| format!("record {index}: {e}"))?;
    let signature = crash_signature(index);
    let expected = crash_record(index, &signature);
    let tracehound::audit::RecordBody::Evidence {
        signature: found,
        size,
        severity,
        ..
    } = &record.body
    else {
        return Err(format!("record {index} is not an evidence record"));
    };
    if record.seq != index
        || record.kind != expected.kind
        || record.time != expected.time
        || *found != signature
        || *size != expected.size
        || *severity != expected.severity
    {
        return Err(format!("record {index} holds other content: {record:?}"));
    }
    Ok(())
}
