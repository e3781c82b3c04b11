//! Background housekeeping: a thread the library owns runs [`Tracehound::maintain`]
//! (expiry, forgetting idle rate-limit keys) on an interval.
//!
//! [`Tracehound::maintain`]: crate::Tracehound::maintain

use std::sync::Weak;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, duration_text};

use super::{Inner, guard};

/// Background housekeeping: expiring evidence past `quarantine.max_age` and forgetting idle
/// rate-limit keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MaintenanceConfig {
    /// How often a thread owned by the [`Tracehound`](crate::Tracehound) runs maintenance.
    /// Default 1 s; between 10 ms and 1 day. Without maintenance (`Config::maintenance`
    /// set to `None`, `maintenance = false` in TOML) no thread starts; call
    /// [`Tracehound::maintain`](crate::Tracehound::maintain) yourself then.
    #[serde(with = "duration_text")]
    pub interval: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
        }
    }
}

impl MaintenanceConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let allowed = Duration::from_millis(10)..=Duration::from_secs(86_400);
        if !allowed.contains(&self.interval) {
            return Err(ConfigError::invalid(
                "maintenance.interval",
                "must be between 10ms and 1d (set maintenance to false for no thread)",
            ));
        }
        Ok(())
    }
}

/// Runs maintenance every `interval` until the `Tracehound` is dropped: dropping it drops the
/// stop sender, which wakes this thread at once.
pub(super) fn spawn(
    inner: Weak<Inner>,
    stopped: Receiver<()>,
    interval: Duration,
) -> std::io::Result<()> {
    thread::Builder::new()
        .name("tracehound-maintenance".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let Some(inner) = inner.upgrade() else { break };
                if let Err(error) = guard("maintenance", || inner.maintain()) {
                    tracing::error!(%error, "tracehound maintenance failed");
                }
            }
        })
        .map(drop)
}
