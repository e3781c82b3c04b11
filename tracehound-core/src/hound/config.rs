//! The hound pool's workers, limits and sandbox.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::canonical::MAX_PAYLOAD_BYTES;
use crate::config::{ConfigError, duration_text};

/// What a hound pool does with evidence offered while every worker is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exhaustion {
    /// Skip the analysis and count it (`hound.exhausted`). For hosts where analysis is a
    /// best-effort extra.
    Drop,
    /// Queue the job (up to `defer_queue` jobs, then skip and count). The default.
    Defer,
    /// Skip the analysis, count it, and publish an `AnalysisEscalated` event so an operator
    /// or watcher can act (more workers, a flood to look at).
    Escalate,
}

/// The hound pool: sandboxed worker processes that analyse quarantined evidence.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use tracehound::{Exhaustion, HoundConfig};
///
/// let mut hound = HoundConfig::new("/usr/local/bin/tracehound-hound");
/// hound.workers = NonZeroUsize::new(4).unwrap();
/// hound.job_timeout = Duration::from_secs(2);
/// hound.on_exhausted = Exhaustion::Drop;
/// assert!(hound.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HoundConfig {
    /// The worker executable: `tracehound-hound`, or a binary of yours built on
    /// [`hound::serve`](crate::hound::serve). It runs with an empty environment.
    pub program: PathBuf,
    /// Arguments passed to it. Default none.
    #[serde(default)]
    pub args: Vec<String>,
    /// Worker processes, each running one job at a time. Default 2; at most 64.
    #[serde(default = "defaults::workers")]
    pub workers: NonZeroUsize,
    /// A job not answered in this time kills its worker (SIGKILL), which is replaced.
    /// Default 5 s; between 1 ms and 1 h.
    #[serde(default = "defaults::job_timeout", with = "duration_text")]
    pub job_timeout: Duration,
    /// A worker not ready (sandboxed and answering the handshake) in this time is killed.
    /// Default 5 s; between 1 ms and 1 min.
    #[serde(default = "defaults::ready_timeout", with = "duration_text")]
    pub ready_timeout: Duration,
    /// A worker is retired and replaced after this many jobs, plus a random 0 to
    /// `rotation_jitter` more, so workers do not all restart at once. Default 1,000; at least 1.
    #[serde(default = "defaults::rotate_after")]
    pub rotate_after: NonZeroU64,
    /// See `rotate_after`. Default 100.
    #[serde(default = "defaults::rotation_jitter")]
    pub rotation_jitter: u64,
    /// What happens to a job when every worker is busy. Default [`Exhaustion::Defer`].
    #[serde(default = "defaults::on_exhausted")]
    pub on_exhausted: Exhaustion,
    /// Jobs queued under [`Exhaustion::Defer`]. Default 256; between 1 and 65,536.
    #[serde(default = "defaults::defer_queue")]
    pub defer_queue: NonZeroUsize,
    /// Largest evidence offered to a worker, bytes; larger evidence is held but not analysed
    /// (counted as `hound.too_large`). Default 1 MiB; at most 64 MiB.
    #[serde(default = "defaults::max_job_bytes")]
    pub max_job_bytes: NonZeroUsize,
    /// Most bytes a job may decompress to inside the worker. Default 16 MiB.
    #[serde(default = "defaults::max_decoded")]
    pub max_decoded: NonZeroU64,
    /// Each worker's address-space limit (`RLIMIT_AS`), bytes. Default 512 MiB; at least
    /// 64 MiB (the executable and its libraries need room).
    #[serde(default = "defaults::address_space")]
    pub address_space: u64,
    /// Each worker's CPU time limit over its life (`RLIMIT_CPU`), seconds. Default 300.
    #[serde(default = "defaults::cpu_seconds")]
    pub cpu_seconds: NonZeroU64,
    /// Refuse a worker that could not enter every sandbox layer. Default true; turn it off
    /// only on kernels without seccomp or landlock, knowingly.
    #[serde(default = "defaults::require_sandbox")]
    pub require_sandbox: bool,
    /// Analyses kept for lookup by signature; the oldest is forgotten first. Default 10,000.
    #[serde(default = "defaults::retained")]
    pub retained: NonZeroUsize,
}

mod defaults {
    use std::num::{NonZeroU64, NonZeroUsize};
    use std::time::Duration;

    use super::Exhaustion;
    use crate::config::nonzero;

    pub(super) fn workers() -> NonZeroUsize {
        nonzero!(2)
    }
    pub(super) fn job_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn ready_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn rotate_after() -> NonZeroU64 {
        nonzero!(1_000)
    }
    pub(super) fn rotation_jitter() -> u64 {
        100
    }
    pub(super) fn on_exhausted() -> Exhaustion {
        Exhaustion::Defer
    }
    pub(super) fn defer_queue() -> NonZeroUsize {
        nonzero!(256)
    }
    pub(super) fn max_job_bytes() -> NonZeroUsize {
        nonzero!(1 << 20)
    }
    pub(super) fn max_decoded() -> NonZeroU64 {
        nonzero!(16 << 20)
    }
    pub(super) fn address_space() -> u64 {
        512 << 20
    }
    pub(super) fn cpu_seconds() -> NonZeroU64 {
        nonzero!(300)
    }
    pub(super) fn require_sandbox() -> bool {
        true
    }
    pub(super) fn retained() -> NonZeroUsize {
        nonzero!(10_000)
    }
}

impl HoundConfig {
    /// The defaults, running `program`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        HoundConfig {
            program: program.into(),
            args: Vec::new(),
            workers: defaults::workers(),
            job_timeout: defaults::job_timeout(),
            ready_timeout: defaults::ready_timeout(),
            rotate_after: defaults::rotate_after(),
            rotation_jitter: defaults::rotation_jitter(),
            on_exhausted: defaults::on_exhausted(),
            defer_queue: defaults::defer_queue(),
            max_job_bytes: defaults::max_job_bytes(),
            max_decoded: defaults::max_decoded(),
            address_space: defaults::address_space(),
            cpu_seconds: defaults::cpu_seconds(),
            require_sandbox: defaults::require_sandbox(),
            retained: defaults::retained(),
        }
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, field, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::invalid(field, reason))
            }
        };
        check(
            !self.program.as_os_str().is_empty(),
            "hound.program",
            "must name the worker executable",
        )?;
        check(
            self.workers.get() <= 64,
            "hound.workers",
            "must be between 1 and 64",
        )?;
        check(
            (Duration::from_millis(1)..=Duration::from_secs(3600)).contains(&self.job_timeout),
            "hound.job_timeout",
            "must be between 1ms and 1h",
        )?;
        check(
            (Duration::from_millis(1)..=Duration::from_secs(60)).contains(&self.ready_timeout),
            "hound.ready_timeout",
            "must be between 1ms and 1m",
        )?;
        check(
            self.defer_queue.get() <= 65_536,
            "hound.defer_queue",
            "must be between 1 and 65536",
        )?;
        check(
            self.max_job_bytes.get() <= MAX_PAYLOAD_BYTES,
            "hound.max_job_bytes",
            "must be between 1 and 64 MiB",
        )?;
        check(
            self.address_space >= 64 << 20,
            "hound.address_space",
            "must be at least 64 MiB",
        )?;
        check(
            self.retained.get() <= 10_000_000,
            "hound.retained",
            "must be between 1 and 10000000",
        )
    }
}
