//! Where the audit log lives, how durable an append is, and how it signs.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, duration_text, nonzero, option_duration_text};

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
    /// How often a checkpoint is signed when the log has grown. `None` (`false` in TOML):
    /// only on demand. Default 10 s.
    #[serde(with = "option_duration_text")]
    pub checkpoint_interval: Option<Duration>,
    /// Records the writer queue holds between `intercept` and the log. When it is full,
    /// records are counted as lost and marked by a gap leaf. Default 16,384.
    pub queue_capacity: NonZeroUsize,
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
            checkpoint_interval: Some(Duration::from_secs(10)),
            queue_capacity: nonzero!(16_384),
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
        if self
            .checkpoint_interval
            .is_some_and(|every| every < Duration::from_millis(10))
        {
            return Err(ConfigError::invalid(
                "audit.checkpoint_interval",
                "must be at least 10ms, or false (on demand only)",
            ));
        }
        if self.queue_capacity.get() > 1 << 20 {
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
