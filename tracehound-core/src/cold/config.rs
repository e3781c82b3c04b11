//! What goes to cold storage, when, and how the uploader holds it meanwhile.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, duration_text, nonzero};
use crate::scent::Severity;

use super::{Layout, ObjectKey};

/// Evacuation to a cold store: the policy, the uploader's bounds and the spool.
///
/// ```
/// # #[cfg(feature = "toml")] {
/// use tracehound::{Config, Severity};
///
/// let config = Config::from_toml(r#"
///     [cold]
///     prefix = "evidence"
///     evict_min_severity = "high"
///     on_flush = false
///
///     [cold.spool]
///     dir = "/var/lib/tracehound/spool"
///     max_bytes = 268435456
/// "#).unwrap();
/// let cold = config.cold.unwrap();
/// assert_eq!(cold.evict_min_severity, Severity::High);
/// assert_eq!(cold.spool.unwrap().max_bytes, 256 << 20);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ColdConfig {
    /// First segments of every key. Default `evidence`.
    pub prefix: String,
    /// The deployment's key segment. Default: `audit.deployment`, which must then be a valid
    /// key segment (`a-z 0-9 . _ -`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Evacuate evicted evidence. Default on.
    pub on_evict: bool,
    /// The lowest severity evacuated on eviction. Default `medium`.
    pub evict_min_severity: Severity,
    /// Evacuate evidence removed by `flush`. Default on.
    pub on_flush: bool,
    /// Evacuate evidence removed by `neutralize`. Default on.
    pub on_neutralize: bool,
    /// Evacuate evidence that outlived `quarantine.max_age`. Default on.
    pub on_expire: bool,
    /// Evacuate everything still held when the `Tracehound` shuts down. Default on.
    pub on_shutdown: bool,
    /// Export every signed checkpoint. Default on.
    pub checkpoints: bool,
    /// Evacuations waiting for the uploader, at most. At the cap a new one is dropped,
    /// counted, audited and evented. Default 4,096.
    pub queue_capacity: NonZeroUsize,
    /// Payload bytes waiting for the uploader, at most. Default 64 MiB.
    pub queue_bytes: NonZeroUsize,
    /// Writes in flight at once (threads the uploader writes with): a store's latency, a
    /// bucket's round trip or a disk's fsync, overlaps instead of adding up. Default 8; at
    /// most 64.
    pub upload_concurrency: NonZeroUsize,
    /// First wait before retrying an unreachable store; doubled per failure, with jitter.
    /// Default 250 ms.
    #[serde(with = "duration_text")]
    pub retry_initial: Duration,
    /// Longest wait between retries. Default 30 s.
    #[serde(with = "duration_text")]
    pub retry_max: Duration,
    /// How long shutdown waits for the queue to reach the store (or the spool). Default 5 s.
    #[serde(with = "duration_text")]
    pub shutdown_deadline: Duration,
    /// Where envelopes wait while the store is unreachable. Without a spool, the uploader
    /// holds one evacuation and retries it while the queue fills.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spool: Option<SpoolConfig>,
}

impl Default for ColdConfig {
    fn default() -> Self {
        Self {
            prefix: "evidence".to_owned(),
            deployment: None,
            on_evict: true,
            evict_min_severity: Severity::Medium,
            on_flush: true,
            on_neutralize: true,
            on_expire: true,
            on_shutdown: true,
            checkpoints: true,
            queue_capacity: nonzero!(4_096),
            queue_bytes: nonzero!(64 << 20),
            upload_concurrency: nonzero!(8),
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            shutdown_deadline: Duration::from_secs(5),
            spool: None,
        }
    }
}

/// The spool: a local directory of complete, checksummed envelopes waiting for the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SpoolConfig {
    /// The directory (created if missing; one `Tracehound` at a time).
    pub dir: PathBuf,
    /// Bytes of spool files, at most. At the cap the lowest (severity, age) entries are
    /// dropped first, each counted, audited and evented. Default 256 MiB.
    #[serde(default = "default_spool_bytes")]
    pub max_bytes: u64,
    /// Spool files, at most, with the same rule at the cap. Default 100,000.
    #[serde(default = "default_spool_files")]
    pub max_files: usize,
}

fn default_spool_files() -> usize {
    100_000
}

fn default_spool_bytes() -> u64 {
    256 << 20
}

impl SpoolConfig {
    /// A spool in `dir` with the default cap.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: default_spool_bytes(),
            max_files: default_spool_files(),
        }
    }
}

impl ColdConfig {
    /// The layout for a log whose deployment is `audit_deployment`.
    pub(crate) fn layout(&self, audit_deployment: &str) -> Result<Layout, ConfigError> {
        let deployment = self.deployment.as_deref().unwrap_or(audit_deployment);
        if ObjectKey::new(self.prefix.as_str()).is_err() {
            return Err(ConfigError::invalid(
                "cold.prefix",
                "must be non-empty `/`-separated segments of a-z, 0-9, '.', '_' and '-'",
            ));
        }
        Layout::new(&self.prefix, deployment).map_err(|_| {
            ConfigError::invalid(
                "cold.deployment",
                format!(
                    "`{deployment}` is not a key segment (a-z, 0-9, '.', '_', '-'); set \
                     cold.deployment"
                ),
            )
        })
    }

    /// Checks every field.
    pub fn validate(&self, audit_deployment: &str) -> Result<(), ConfigError> {
        self.layout(audit_deployment)?;
        if self.retry_initial < Duration::from_millis(1) || self.retry_initial > self.retry_max {
            return Err(ConfigError::invalid(
                "cold.retry_initial",
                "must be at least 1ms and at most cold.retry_max",
            ));
        }
        if self.upload_concurrency.get() > 64 {
            return Err(ConfigError::invalid(
                "cold.upload_concurrency",
                "must be between 1 and 64",
            ));
        }
        if self.retry_max > Duration::from_secs(3_600) {
            return Err(ConfigError::invalid("cold.retry_max", "must be at most 1h"));
        }
        if self.shutdown_deadline > Duration::from_secs(600) {
            return Err(ConfigError::invalid(
                "cold.shutdown_deadline",
                "must be at most 10m",
            ));
        }
        if let Some(spool) = &self.spool {
            if spool.max_bytes < 1 << 16 {
                return Err(ConfigError::invalid(
                    "cold.spool.max_bytes",
                    "must be at least 64 KiB",
                ));
            }
            if spool.max_files == 0 {
                return Err(ConfigError::invalid(
                    "cold.spool.max_files",
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}
