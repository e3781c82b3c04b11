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

/// Cold storage on S3 for the scenarios: a store at an endpoint (moto, or a gate in front
/// of it) and the evidence it should end up holding.
pub mod cold {
    use std::num::NonZeroUsize;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tracehound::cold::{ColdConfig, ColdStore, SpoolConfig};
    use tracehound::{Category, Config, Scent, Severity, Snapshot, Tracehound};
    use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};

    /// The bucket the scenarios use.
    pub const BUCKET: &str = "scenario-evidence";

    /// The deployment, and so the key segment, of the scenarios' evidence.
    pub const DEPLOYMENT: &str = "scenario.test";

    /// An S3 store at `endpoint`, with moto's dummy credentials given in the configuration.
    pub fn store(endpoint: &str) -> Arc<dyn ColdStore> {
        let mut config = StoreConfig::new(format!("s3://{BUCKET}"))
            .with_option("aws_access_key_id", "testing")
            .with_option("aws_secret_access_key", "testing");
        config.endpoint = Some(endpoint.to_owned());
        config.region = Some("us-east-1".to_owned());
        config.allow_http = true;
        match ObjectStoreCold::open(&config) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("cannot open the store at {endpoint}: {e}"),
        }
    }

    /// A `Tracehound` that evacuates to `store`, spooling in `spool`, holding at most
    /// `held` pieces of evidence, retrying an unreachable store quickly.
    pub fn tracehound(store: Arc<dyn ColdStore>, spool: &Path, held: usize) -> Tracehound {
        let mut config = Config::default();
        config.maintenance = None;
        config.rate_limit = None;
        config.audit.deployment = DEPLOYMENT.to_owned();
        config.audit.checkpoint_interval = None;
        config.quarantine.max_count = NonZeroUsize::new(held).unwrap_or(NonZeroUsize::MIN);
        let mut cold = ColdConfig::default();
        cold.retry_initial = Duration::from_millis(20);
        cold.retry_max = Duration::from_millis(200);
        cold.spool = Some(SpoolConfig::new(spool));
        cold.shutdown_deadline = Duration::from_secs(20);
        config.cold = Some(cold);
        Tracehound::builder()
            .config(config)
            .cold_store(store)
            .build()
            .unwrap_or_else(|e| panic!("cannot build: {e}"))
    }

    /// A high-severity threat, distinct for every `n`, from one of seven sources.
    pub fn threat(n: u64) -> Scent {
        Scent::new(format!("203.0.113.{}", n % 7), super::request(n))
            .with_threat(Category::Injection, Severity::High)
    }

    /// Waits, at most `within`, until `done` holds of the snapshot; the last snapshot and
    /// whether it did.
    pub fn wait_for(
        tracehound: &Tracehound,
        within: Duration,
        done: impl Fn(&Snapshot) -> bool,
    ) -> (Snapshot, bool) {
        let deadline = Instant::now() + within;
        loop {
            let snapshot = tracehound.snapshot();
            if done(&snapshot) {
                return (snapshot, true);
            }
            if Instant::now() >= deadline {
                return (snapshot, false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
