//! Configuration: plain structs with defaults, validated with errors that name the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use governor::Quota;
use serde::{Deserialize, Serialize};

use crate::canonical::{CanonicalForm, MAX_DEPTH, MAX_PAYLOAD_BYTES};
use crate::error::ConfigError;
use crate::http::HttpConfig;

/// Everything a [`Tracehound`](crate::Tracehound) can be configured with: plain structs with
/// defaults, loadable from TOML and validated with errors that name the field.
///
/// ```
/// use std::time::Duration;
/// use tracehound::Config;
///
/// let config = Config::from_toml(r#"
///     max_payload_bytes = 65536
///
///     [quarantine]
///     max_count = 5000
///     max_age = "24h"
///
///     [rate_limit]
///     requests = 600
///     window = "1m"
///     block = "0s"    # no block penalty
/// "#).unwrap();
/// assert_eq!(config.quarantine.max_age, Some(Duration::from_secs(86_400)));
///
/// let typo = Config::from_toml("[quarantine]\nmax_cuont = 5").unwrap_err();
/// assert!(typo.to_string().contains("max_cuont"));
/// ```
///
/// Durations are written as a whole number and a unit: `ns`, `us`, `ms`, `s`, `m`, `h`, `d`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Canonical JSON form evidence is hashed in. Default: RFC 8785 (`"jcs"`); use
    /// `"tracehound-js"` to match signatures computed by the TypeScript library.
    pub canonical_form: CanonicalForm,
    /// Largest canonical payload quarantined, in bytes; larger threats are answered
    /// [`PayloadTooLarge`](crate::Outcome::PayloadTooLarge). Default 1,000,000; at most 64 MiB
    /// and at most `quarantine.max_bytes`.
    pub max_payload_bytes: usize,
    /// Deepest nesting of arrays and objects in a threat payload. Default 128 (deeper than
    /// anything serde_json parses by default); at most 256.
    pub max_depth: usize,
    /// The evidence buffer.
    pub quarantine: QuarantineConfig,
    /// Per-source rate limiting.
    pub rate_limit: RateLimitConfig,
    /// Event subscriptions.
    pub events: EventsConfig,
    /// Background housekeeping.
    pub maintenance: MaintenanceConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Hound workers that analyse quarantined evidence in sandboxed processes. Default: none
    /// (evidence is held and audited, not analysed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hound: Option<HoundConfig>,
    /// How an HTTP adapter describes, keys and answers requests: pass it to
    /// [`HttpPolicy::new`](crate::http::HttpPolicy::new). Not used by the `Tracehound`
    /// itself.
    pub http: HttpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            canonical_form: CanonicalForm::Jcs,
            max_payload_bytes: 1_000_000,
            max_depth: 128,
            quarantine: QuarantineConfig::default(),
            rate_limit: RateLimitConfig::default(),
            events: EventsConfig::default(),
            maintenance: MaintenanceConfig::default(),
            audit: AuditConfig::default(),
            hound: None,
            http: HttpConfig::default(),
        }
    }
}

impl Config {
    /// Parses and validates a TOML document. Unknown keys are errors, so a misspelt option
    /// is reported rather than silently ignored.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a TOML file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_payload_bytes == 0 || self.max_payload_bytes > MAX_PAYLOAD_BYTES {
            return Err(ConfigError::invalid(
                "max_payload_bytes",
                format!("must be between 1 and {MAX_PAYLOAD_BYTES}"),
            ));
        }
        if self.max_payload_bytes > self.quarantine.max_bytes {
            return Err(ConfigError::invalid(
                "max_payload_bytes",
                "must not exceed quarantine.max_bytes, or a single payload could never be kept",
            ));
        }
        if self.max_depth == 0 || self.max_depth > MAX_DEPTH {
            return Err(ConfigError::invalid(
                "max_depth",
                format!("must be between 1 and {MAX_DEPTH}"),
            ));
        }
        self.quarantine.validate()?;
        self.rate_limit.validate()?;
        self.events.validate()?;
        self.maintenance.validate()?;
        self.http.validate()?;
        if let Some(hound) = &self.hound {
            hound.validate()?;
        }
        self.audit.validate()
    }
}

/// The evidence buffer's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct QuarantineConfig {
    /// Most pieces of evidence held. Default 10,000; at most 10,000,000.
    pub max_count: usize,
    /// Most payload bytes held. Default 100,000,000.
    pub max_bytes: usize,
    /// Evidence older than this (by capture time) is removed by maintenance and recorded as
    /// expired. Default: none (evidence stays until evicted or removed).
    #[serde(with = "option_duration_text", skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self {
            max_count: 10_000,
            max_bytes: 100_000_000,
            max_age: None,
        }
    }
}

impl QuarantineConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_count == 0 || self.max_count > 10_000_000 {
            return Err(ConfigError::invalid(
                "quarantine.max_count",
                "must be between 1 and 10000000",
            ));
        }
        if self.max_bytes == 0 {
            return Err(ConfigError::invalid(
                "quarantine.max_bytes",
                "must be at least 1",
            ));
        }
        if self.max_age == Some(Duration::ZERO) {
            return Err(ConfigError::invalid(
                "quarantine.max_age",
                "must be longer than zero; leave it out to keep evidence until evicted",
            ));
        }
        Ok(())
    }
}

/// Per-source rate limiting (GCRA): a source may send `burst` requests at once and then one
/// every `window / requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Whether requests are rate limited at all. Default true.
    pub enabled: bool,
    /// Requests allowed per `window`. Default 100.
    pub requests: u32,
    /// The window `requests` are counted over. Default 60 s.
    #[serde(with = "duration_text")]
    pub window: Duration,
    /// Requests a source may send at once. Default: `requests`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// How long a source that exhausts its quota is refused outright. Default 300 s; zero
    /// for no penalty (the source is then refused only until its next request is due).
    #[serde(with = "duration_text")]
    pub block: Duration,
    /// Most sources tracked at once; past it, the least recently seen source is forgotten.
    /// Default 100,000; at most 100,000,000.
    pub max_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            requests: 100,
            window: Duration::from_secs(60),
            burst: None,
            block: Duration::from_secs(300),
            max_keys: 100_000,
        }
    }
}

impl RateLimitConfig {
    /// Rate limiting switched off: every source passes step 1 of the pipeline.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The governor quota; fails if the emission interval rounds to zero.
    pub(crate) fn quota(&self) -> Result<Quota, ConfigError> {
        let interval = self
            .window
            .checked_div(self.requests)
            .filter(|i| !i.is_zero())
            .ok_or_else(|| {
                ConfigError::invalid(
                    "rate_limit.requests",
                    "must be at least 1 and at most one per nanosecond of `window`",
                )
            })?;
        let burst = std::num::NonZeroU32::new(self.burst.unwrap_or(self.requests))
            .ok_or_else(|| ConfigError::invalid("rate_limit.burst", "must be at least 1"))?;
        Quota::with_period(interval)
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| ConfigError::invalid("rate_limit.window", "must be longer than zero"))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let quota = self.quota()?;
        // governor keeps time as u64 nanoseconds: keep the burst tolerance plus the penalty
        // far from overflow (a century is more than any sane setting).
        const CENTURY_NANOS: u128 = 100 * 365 * 86_400 * 1_000_000_000;
        let tolerance =
            quota.replenish_interval().as_nanos() * u128::from(quota.burst_size().get());
        if tolerance + self.block.as_nanos() > CENTURY_NANOS {
            return Err(ConfigError::invalid(
                "rate_limit.burst",
                "burst times the request interval, plus block, must stay under 100 years",
            ));
        }
        if self.max_keys == 0 || self.max_keys > 100_000_000 {
            return Err(ConfigError::invalid(
                "rate_limit.max_keys",
                "must be between 1 and 100000000",
            ));
        }
        Ok(())
    }
}

/// Event subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct EventsConfig {
    /// Most subscriptions open at once. Default 16; at most 1,024.
    pub max_subscribers: usize,
    /// Largest queue one subscription may ask for, in events. Default 65,536; at most
    /// 1,048,576.
    pub max_queue: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_subscribers: 16,
            max_queue: 65_536,
        }
    }
}

impl EventsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_subscribers == 0 || self.max_subscribers > 1024 {
            return Err(ConfigError::invalid(
                "events.max_subscribers",
                "must be between 1 and 1024",
            ));
        }
        if self.max_queue == 0 || self.max_queue > 1 << 20 {
            return Err(ConfigError::invalid(
                "events.max_queue",
                "must be between 1 and 1048576",
            ));
        }
        Ok(())
    }
}

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
/// use std::time::Duration;
/// use tracehound::{Exhaustion, HoundConfig};
///
/// let mut hound = HoundConfig::new("/usr/local/bin/tracehound-hound");
/// hound.workers = 4;
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
    pub workers: usize,
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
    pub rotate_after: u64,
    /// See `rotate_after`. Default 100.
    #[serde(default = "defaults::rotation_jitter")]
    pub rotation_jitter: u64,
    /// What happens to a job when every worker is busy. Default [`Exhaustion::Defer`].
    #[serde(default = "defaults::on_exhausted")]
    pub on_exhausted: Exhaustion,
    /// Jobs queued under [`Exhaustion::Defer`]. Default 256; between 1 and 65,536.
    #[serde(default = "defaults::defer_queue")]
    pub defer_queue: usize,
    /// Largest evidence offered to a worker, bytes; larger evidence is held but not analysed
    /// (counted as `hound.too_large`). Default 1 MiB; at most 64 MiB.
    #[serde(default = "defaults::max_job_bytes")]
    pub max_job_bytes: usize,
    /// Most bytes a job may decompress to inside the worker. Default 16 MiB.
    #[serde(default = "defaults::max_decoded")]
    pub max_decoded: u64,
    /// Each worker's address-space limit (`RLIMIT_AS`), bytes. Default 512 MiB; at least
    /// 64 MiB (the executable and its libraries need room).
    #[serde(default = "defaults::address_space")]
    pub address_space: u64,
    /// Each worker's CPU time limit over its life (`RLIMIT_CPU`), seconds. Default 300.
    #[serde(default = "defaults::cpu_seconds")]
    pub cpu_seconds: u64,
    /// Refuse a worker that could not enter every sandbox layer. Default true; turn it off
    /// only on kernels without seccomp or landlock, knowingly.
    #[serde(default = "defaults::require_sandbox")]
    pub require_sandbox: bool,
    /// Analyses kept for lookup by signature; the oldest is forgotten first. Default 10,000.
    #[serde(default = "defaults::retained")]
    pub retained: usize,
}

mod defaults {
    use super::Exhaustion;
    use std::time::Duration;

    pub(super) fn workers() -> usize {
        2
    }
    pub(super) fn job_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn ready_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn rotate_after() -> u64 {
        1_000
    }
    pub(super) fn rotation_jitter() -> u64 {
        100
    }
    pub(super) fn on_exhausted() -> Exhaustion {
        Exhaustion::Defer
    }
    pub(super) fn defer_queue() -> usize {
        256
    }
    pub(super) fn max_job_bytes() -> usize {
        1 << 20
    }
    pub(super) fn max_decoded() -> u64 {
        16 << 20
    }
    pub(super) fn address_space() -> u64 {
        512 << 20
    }
    pub(super) fn cpu_seconds() -> u64 {
        300
    }
    pub(super) fn require_sandbox() -> bool {
        true
    }
    pub(super) fn retained() -> usize {
        10_000
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
            (1..=64).contains(&self.workers),
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
            self.rotate_after >= 1,
            "hound.rotate_after",
            "must be at least 1",
        )?;
        check(
            (1..=65_536).contains(&self.defer_queue),
            "hound.defer_queue",
            "must be between 1 and 65536",
        )?;
        check(
            (1..=MAX_PAYLOAD_BYTES).contains(&self.max_job_bytes),
            "hound.max_job_bytes",
            "must be between 1 and 64 MiB",
        )?;
        check(
            self.max_decoded >= 1,
            "hound.max_decoded",
            "must be at least 1",
        )?;
        check(
            self.address_space >= 64 << 20,
            "hound.address_space",
            "must be at least 64 MiB",
        )?;
        check(
            self.cpu_seconds >= 1,
            "hound.cpu_seconds",
            "must be at least 1",
        )?;
        check(
            (1..=10_000_000).contains(&self.retained),
            "hound.retained",
            "must be between 1 and 10000000",
        )
    }
}

/// Background housekeeping: expiring evidence past `quarantine.max_age` and forgetting idle
/// rate-limit keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MaintenanceConfig {
    /// How often a thread owned by the [`Tracehound`](crate::Tracehound) runs maintenance.
    /// Default 1 s. Zero starts no thread; call
    /// [`Tracehound::maintain`](crate::Tracehound::maintain) yourself then.
    #[serde(with = "duration_text")]
    pub interval: Duration,
}

impl MaintenanceConfig {
    /// No maintenance thread: the owner calls [`Tracehound::maintain`](crate::Tracehound::maintain)
    /// when it wants expiry and sweeping done (tests, single-threaded hosts).
    pub fn manual() -> Self {
        Self {
            interval: Duration::ZERO,
        }
    }
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
        }
    }
}

impl MaintenanceConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let allowed = Duration::from_millis(10)..=Duration::from_secs(86_400);
        if !self.interval.is_zero() && !allowed.contains(&self.interval) {
            return Err(ConfigError::invalid(
                "maintenance.interval",
                "must be zero (no thread) or between 10ms and 1d",
            ));
        }
        Ok(())
    }
}

/// The audit log: where it lives, how durable an append is, and how it signs.
///
/// ```
/// use std::time::Duration;
/// use tracehound::{Config, audit::FsyncPolicy};
///
/// let config = Config::from_toml(r#"
///     [audit]
///     dir = "/var/lib/myservice/audit"
///     deployment = "payments.example.com"
///     fsync = "10ms"              # group commit every 10 ms; or "always", "never"
///     checkpoint_interval = "1m"
/// "#).unwrap();
/// assert_eq!(config.audit.fsync, FsyncPolicy::Every(Duration::from_millis(10)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditConfig {
    /// Directory of the durable log. `None` (the default) keeps the log in memory, bounded
    /// by rotating epochs every `max_epoch_records` (65,536 when unset), and lost on exit.
    pub dir: Option<PathBuf>,
    /// When appended records become durable. Default: group commit every 10 ms.
    pub fsync: FsyncPolicy,
    /// Names the deployment in checkpoint origins (`<deployment>/tracehound/<epoch>`) and
    /// in the signing key's name (`<deployment>/tracehound`). Use a schema-less URL you own.
    /// Default `localhost`.
    pub deployment: String,
    /// The Ed25519 signing key, as a C2SP private key string
    /// (`PRIVATE+KEY+<name>+<id>+<base64>`). Default: `<dir>/signing.key`, generated on
    /// first start (mode 0600); in memory, a fresh key per process.
    pub key_file: Option<PathBuf>,
    /// Older verifier keys (vkey strings) whose checkpoints the log still accepts on open,
    /// after a key rotation.
    pub trusted_keys: Vec<String>,
    /// How often a checkpoint is signed when the log has grown. Zero: only on demand.
    /// Default 10 s.
    #[serde(with = "duration_text")]
    pub checkpoint_interval: Duration,
    /// Records the writer queue holds between `intercept` and the log. When it is full,
    /// records are counted as lost and marked by a gap leaf. Default 16,384.
    pub queue_capacity: usize,
    /// A segment file is closed and a new one started past this size. Default 64 MiB.
    pub segment_bytes: u64,
    /// Records per epoch; a new epoch (and origin) starts when one is full. Default: no
    /// limit on disk, 65,536 in memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_epoch_records: Option<u64>,
    /// Record a gap leaf for records that could not be logged, once the log takes records
    /// again. Default true.
    pub gap_markers: bool,
    /// Start over when the stored history is missing, damaged or contradicted, instead of
    /// refusing to open ([`AuditError::EpochMissing`](crate::audit::AuditError) and its
    /// kin). The log then begins a new epoch, numbered above every epoch it has seen, whose
    /// first leaf is a `reset` record saying what was wrong; the damaged files are left as
    /// they are. Default false. Set it for one start after keeping the evidence, then unset
    /// it: while it is on, later tampering is still recorded but no longer stops the log.
    pub accept_lost_history: bool,
    /// The lowest epoch the log may be at when opened: set it from the newest checkpoint
    /// kept off the host, so that a log directory replaced by an older copy or a fresh one
    /// is refused ([`AuditError::BelowMinEpoch`](crate::audit::AuditError)). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_epoch: Option<u64>,
}

/// Records per epoch of a memory log when `max_epoch_records` is unset.
const MEMORY_EPOCH_RECORDS: u64 = 65_536;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: None,
            fsync: FsyncPolicy::Every(Duration::from_millis(10)),
            deployment: "localhost".to_owned(),
            key_file: None,
            trusted_keys: Vec::new(),
            checkpoint_interval: Duration::from_secs(10),
            queue_capacity: 16_384,
            segment_bytes: 64 << 20,
            max_epoch_records: None,
            gap_markers: true,
            accept_lost_history: false,
            min_epoch: None,
        }
    }
}

impl AuditConfig {
    /// The signing key's name: `<deployment>/tracehound`.
    pub fn key_name(&self) -> String {
        format!("{}/tracehound", self.deployment)
    }

    /// The checkpoint origin of `epoch`: `<deployment>/tracehound/<epoch>`.
    pub fn origin(&self, epoch: u64) -> String {
        format!("{}/tracehound/{epoch}", self.deployment)
    }

    pub(crate) fn epoch_limit(&self) -> Option<u64> {
        match (self.max_epoch_records, &self.dir) {
            (Some(max), _) => Some(max),
            (None, None) => Some(MEMORY_EPOCH_RECORDS),
            (None, Some(_)) => None,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.deployment;
        if d.is_empty() || d.len() > 200 || !d.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
            return Err(ConfigError::invalid(
                "audit.deployment",
                "must be 1 to 200 printable ASCII characters, without spaces or '+'",
            ));
        }
        for key in &self.trusted_keys {
            key.parse::<crate::audit::VerifierKey>()
                .map_err(|e| ConfigError::invalid("audit.trusted_keys", format!("`{key}`: {e}")))?;
        }
        if let FsyncPolicy::Every(every) = self.fsync
            && !(Duration::from_micros(100)..=Duration::from_secs(60)).contains(&every)
        {
            return Err(ConfigError::invalid(
                "audit.fsync",
                "a group-commit interval must be between 100us and 60s",
            ));
        }
        if !self.checkpoint_interval.is_zero()
            && self.checkpoint_interval < Duration::from_millis(10)
        {
            return Err(ConfigError::invalid(
                "audit.checkpoint_interval",
                "must be zero (on demand only) or at least 10ms",
            ));
        }
        if !(1..=1 << 20).contains(&self.queue_capacity) {
            return Err(ConfigError::invalid(
                "audit.queue_capacity",
                "must be between 1 and 1048576",
            ));
        }
        if self.segment_bytes < 4096 {
            return Err(ConfigError::invalid(
                "audit.segment_bytes",
                "must be at least 4096",
            ));
        }
        if self.min_epoch == Some(0) {
            return Err(ConfigError::invalid(
                "audit.min_epoch",
                "must be at least 1 (epochs are numbered from 1)",
            ));
        }
        if self.max_epoch_records.is_some_and(|max| max < 3) {
            return Err(ConfigError::invalid(
                "audit.max_epoch_records",
                "must be at least 3 (an epoch's first leaf is its start record, and a gap \
                 leaf must fit beside a record)",
            ));
        }
        Ok(())
    }
}

/// When appended audit records are made durable.
///
/// A record is *acknowledged* when [`AuditLog::commit`](crate::audit::AuditLog::commit)
/// (or [`Tracehound::sync_audit`](crate::Tracehound::sync_audit)) returns after it. Records
/// not yet committed live in the process's buffers and the writer's queue, and any crash
/// loses them; the facade starts a new epoch on every start, so their leaf indices are
/// never given to other records.
///
/// Written in TOML as `"always"`, `"never"` or a duration such as `"10ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// Write and fsync every batch the writer takes (a batch is whatever is queued: group
    /// commit). Nothing acknowledged is lost to a process crash or a power cut.
    Always,
    /// Write and fsync at most this often, everything appended since. Nothing acknowledged
    /// is lost to a process crash or a power cut; a crash loses at most the records of the
    /// last interval, none of them acknowledged.
    Every(Duration),
    /// Write every batch but leave write-back to the OS (files are still synced when a
    /// segment is full and when an epoch is sealed). Nothing acknowledged is lost to a
    /// process crash; a power cut may lose acknowledged records the OS had not written
    /// back, and a log that lost records a checkpoint covers refuses to open as if it had
    /// been truncated.
    Never,
}

impl Serialize for FsyncPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FsyncPolicy::Always => s.serialize_str("always"),
            FsyncPolicy::Never => s.serialize_str("never"),
            FsyncPolicy::Every(every) => duration_text::serialize(every, s),
        }
    }
}

impl<'de> Deserialize<'de> for FsyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => duration_text::parse(other)
                .map(FsyncPolicy::Every)
                .map_err(|e| {
                    serde::de::Error::custom(format!("`always`, `never` or a duration: {e}"))
                }),
        }
    }
}

/// Durations as text: a whole number and a unit.
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    const UNITS: [(&str, u128); 7] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];

    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}` has no unit (ns, us, ms, s, m, h, d)"))?;
        let (number, unit) = text.split_at(split);
        let count: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` does not start with a whole number"))?;
        let (_, nanos_per) = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| format!("`{unit}` is not a unit (ns, us, ms, s, m, h, d)"))?;
        let nanos = u128::from(count) * nanos_per;
        let secs = u64::try_from(nanos / 1_000_000_000)
            .map_err(|_| format!("`{text}` is too long a duration"))?;
        Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    }

    pub(crate) fn format(duration: Duration) -> String {
        let nanos = duration.as_nanos();
        let (unit, per) = UNITS
            .iter()
            .find(|(_, per)| nanos.is_multiple_of(*per))
            .copied()
            .unwrap_or(("ns", 1));
        format!("{}{unit}", nanos / per)
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }
}

/// Optional durations as text.
pub(crate) mod option_duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use super::duration_text;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        duration_text::parse(&text)
            .map(Some)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let config = Config::default();
        config.validate().unwrap();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(Config::from_toml(&text).unwrap(), config);

        let mut with_age = Config::default();
        with_age.quarantine.max_age = Some(Duration::from_secs(90));
        let text = toml::to_string(&with_age).unwrap();
        assert!(text.contains("max_age = \"90s\""), "{text}");
        assert_eq!(Config::from_toml(&text).unwrap(), with_age);

        let pinned =
            Config::from_toml("[audit]\naccept_lost_history = true\nmin_epoch = 12").unwrap();
        assert!(pinned.audit.accept_lost_history);
        assert_eq!(pinned.audit.min_epoch, Some(12));
        let text = toml::to_string(&pinned).unwrap();
        assert_eq!(Config::from_toml(&text).unwrap(), pinned);
        assert!(!Config::default().audit.accept_lost_history);
    }

    #[test]
    fn durations_parse_and_format() {
        use duration_text::{format, parse};
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 2d "), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        for bad in [
            "",
            "10",
            "ms",
            "1.5s",
            "-1s",
            "3 weeks",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format(Duration::from_secs(3600)), "1h");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::ZERO), "0d");
        assert_eq!(parse(&format(Duration::new(5, 7))), Ok(Duration::new(5, 7)));
    }

    fn field_of(text: &str) -> &'static str {
        match Config::from_toml(text) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("expected a field error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn invalid_values_name_their_field() {
        assert_eq!(field_of("max_payload_bytes = 0"), "max_payload_bytes");
        assert_eq!(
            field_of("max_payload_bytes = 2000\n[quarantine]\nmax_bytes = 1000"),
            "max_payload_bytes"
        );
        assert_eq!(field_of("max_depth = 0"), "max_depth");
        assert_eq!(field_of("max_depth = 257"), "max_depth");
        assert_eq!(
            field_of("[quarantine]\nmax_count = 0"),
            "quarantine.max_count"
        );
        assert_eq!(
            field_of("[quarantine]\nmax_age = \"0s\""),
            "quarantine.max_age"
        );
        assert_eq!(
            field_of("[rate_limit]\nrequests = 0"),
            "rate_limit.requests"
        );
        assert_eq!(
            field_of("[rate_limit]\nrequests = 1000\nwindow = \"100ns\""),
            "rate_limit.requests"
        );
        assert_eq!(field_of("[rate_limit]\nburst = 0"), "rate_limit.burst");
        assert_eq!(
            field_of("[rate_limit]\nrequests = 1\nwindow = \"365d\"\nburst = 1000"),
            "rate_limit.burst"
        );
        assert_eq!(
            field_of("[rate_limit]\nmax_keys = 0"),
            "rate_limit.max_keys"
        );
        assert_eq!(
            field_of("[events]\nmax_subscribers = 0"),
            "events.max_subscribers"
        );
        assert_eq!(field_of("[events]\nmax_queue = 0"), "events.max_queue");
        assert_eq!(
            field_of("[maintenance]\ninterval = \"1ms\""),
            "maintenance.interval"
        );
        assert_eq!(field_of("[audit]\nmin_epoch = 0"), "audit.min_epoch");
    }

    #[test]
    fn parse_errors_name_the_key() {
        for (text, needle) in [
            ("nonsense = 1", "nonsense"),
            ("[rate_limit]\nwindow = 60", "window"),
            ("[rate_limit]\nwindow = \"60\"", "unit"),
            ("canonical_form = \"xml\"", "canonical_form"),
        ] {
            let err = Config::from_toml(text).unwrap_err();
            assert!(
                matches!(err, ConfigError::Parse { .. }) && err.to_string().contains(needle),
                "{text:?} gave {err}"
            );
        }
        assert_eq!(
            Config::from_toml("canonical_form = \"ts\"")
                .unwrap()
                .canonical_form,
            CanonicalForm::TracehoundJs
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = Config::from_toml_file("/nonexistent/tracehound.toml").unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/tracehound.toml"));
    }
}
