//! The aggregate configuration: every room's settings, each defined beside its room, in one
//! struct that TOML loads (with the `toml` feature).

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use crate::audit::AuditConfig;
use crate::canonical::{CanonicalForm, MAX_DEPTH, MAX_PAYLOAD_BYTES};
use crate::cold::ColdConfig;
use crate::config::{ConfigError, nonzero, room};
use crate::events::EventsConfig;
use crate::hound::HoundConfig;
use crate::http::config::HttpConfig;
use crate::quarantine::QuarantineConfig;
use crate::rate_limit::RateLimitConfig;

use super::maintenance::MaintenanceConfig;

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
    pub max_payload_bytes: NonZeroUsize,
    /// Deepest nesting of arrays and objects in a threat payload. Default 128 (deeper than
    /// anything serde_json parses by default); at most 256.
    pub max_depth: NonZeroUsize,
    /// The evidence buffer.
    pub quarantine: QuarantineConfig,
    /// Per-source rate limiting. `None` (`rate_limit = false` in TOML) lets every source
    /// through. Default: on.
    #[serde(with = "room")]
    pub rate_limit: Option<RateLimitConfig>,
    /// Event subscriptions.
    pub events: EventsConfig,
    /// Background housekeeping on a thread the library owns. `None` (`maintenance = false`
    /// in TOML) starts no thread: call [`Tracehound::maintain`](crate::Tracehound::maintain)
    /// yourself. Default: on.
    #[serde(with = "room")]
    pub maintenance: Option<MaintenanceConfig>,
    /// The audit log.
    pub audit: AuditConfig,
    /// Hound workers that analyse quarantined evidence in sandboxed processes. Default: none
    /// (evidence is held and audited, not analysed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hound: Option<HoundConfig>,
    /// Evacuation to cold storage: when evidence goes, the uploader's queue and spool. The
    /// store itself is given to the builder
    /// ([`Builder::cold_store`](crate::Builder::cold_store)); giving one turns this on with
    /// the defaults. Default: off (`cold = false`).
    #[serde(with = "room")]
    pub cold: Option<ColdConfig>,
    /// How an HTTP adapter describes, keys and answers requests: pass it to
    /// [`HttpPolicy::new`](crate::http::HttpPolicy::new). Not used by the `Tracehound`
    /// itself.
    pub http: HttpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            canonical_form: CanonicalForm::Jcs,
            max_payload_bytes: nonzero!(1_000_000),
            max_depth: nonzero!(128),
            quarantine: QuarantineConfig::default(),
            rate_limit: Some(RateLimitConfig::default()),
            events: EventsConfig::default(),
            maintenance: Some(MaintenanceConfig::default()),
            audit: AuditConfig::default(),
            hound: None,
            cold: None,
            http: HttpConfig::default(),
        }
    }
}

impl Config {
    /// Parses and validates a TOML document. Unknown keys are errors, so a misspelt option
    /// is reported rather than silently ignored; so is a zero where a count must be at least
    /// one.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a TOML file.
    #[cfg(feature = "toml")]
    pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            kind: error.kind(),
            message: error.to_string(),
        })?;
        Self::from_toml(&text)
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_payload_bytes.get() > MAX_PAYLOAD_BYTES {
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
        if self.max_depth.get() > MAX_DEPTH {
            return Err(ConfigError::invalid(
                "max_depth",
                format!("must be between 1 and {MAX_DEPTH}"),
            ));
        }
        self.quarantine.validate()?;
        if let Some(rate_limit) = &self.rate_limit {
            rate_limit.validate()?;
        }
        self.events.validate()?;
        if let Some(maintenance) = &self.maintenance {
            maintenance.validate()?;
        }
        self.http.validate()?;
        if let Some(hound) = &self.hound {
            hound.validate()?;
        }
        if let Some(cold) = &self.cold {
            cold.validate(&self.audit.deployment)?;
            if cold.queue_bytes < self.max_payload_bytes {
                return Err(ConfigError::invalid(
                    "cold.queue_bytes",
                    "must be at least max_payload_bytes, or the largest evidence could never \
                     be queued",
                ));
            }
        }
        self.audit.validate()
    }
}

#[cfg(all(test, feature = "toml"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::duration_text;

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
        assert_eq!(
            field_of("max_payload_bytes = 2000\n[quarantine]\nmax_bytes = 1000"),
            "max_payload_bytes"
        );
        assert_eq!(field_of("max_depth = 257"), "max_depth");
        assert_eq!(
            field_of("[quarantine]\nmax_age = \"0s\""),
            "quarantine.max_age"
        );
        assert_eq!(
            field_of("[rate_limit]\nrequests = 1000\nwindow = \"100ns\""),
            "rate_limit.requests"
        );
        assert_eq!(
            field_of("[rate_limit]\nrequests = 1\nwindow = \"365d\"\nburst = 1000"),
            "rate_limit.burst"
        );
        assert_eq!(
            field_of("[maintenance]\ninterval = \"1ms\""),
            "maintenance.interval"
        );
        assert_eq!(field_of("[audit]\nmin_epoch = 0"), "audit.min_epoch");
    }

    #[test]
    fn a_zero_count_is_unrepresentable_and_named() {
        for (text, key) in [
            ("max_payload_bytes = 0", "max_payload_bytes"),
            ("max_depth = 0", "max_depth"),
            ("[quarantine]\nmax_count = 0", "max_count"),
            ("[quarantine]\nmax_bytes = 0", "max_bytes"),
            ("[rate_limit]\nrequests = 0", "requests"),
            ("[rate_limit]\nburst = 0", "burst"),
            ("[rate_limit]\nmax_keys = 0", "max_keys"),
            ("[events]\nmax_subscribers = 0", "max_subscribers"),
            ("[events]\nmax_queue = 0", "max_queue"),
            ("[audit]\nqueue_capacity = 0", "queue_capacity"),
            ("[hound]\nprogram = \"/bin/h\"\nworkers = 0", "workers"),
        ] {
            let err = Config::from_toml(text).unwrap_err();
            assert!(
                matches!(err, ConfigError::Parse { .. })
                    && err.to_string().contains(key)
                    && err.to_string().contains("nonzero"),
                "{text:?} gave {err}"
            );
        }
    }

    #[test]
    fn an_optional_room_is_off_with_false_and_on_with_true_or_a_table() {
        let off = Config::from_toml("rate_limit = false\nmaintenance = false").unwrap();
        assert_eq!((&off.rate_limit, &off.maintenance), (&None, &None));
        let text = toml::to_string(&off).unwrap();
        assert!(text.contains("rate_limit = false"), "{text}");
        assert_eq!(Config::from_toml(&text).unwrap().rate_limit, None);
        let on = Config::from_toml("rate_limit = true").unwrap();
        assert_eq!(on.rate_limit, Some(RateLimitConfig::default()));
        let table = Config::from_toml("[rate_limit]\nrequests = 7").unwrap();
        assert_eq!(table.rate_limit.map(|r| r.requests.get()), Some(7));
        let typo = Config::from_toml("[rate_limit]\nrequestz = 7").unwrap_err();
        assert!(typo.to_string().contains("requestz"), "{typo}");
        for bad in ["rate_limit = 1", "rate_limit = \"off\""] {
            assert!(
                matches!(Config::from_toml(bad), Err(ConfigError::Parse { .. })),
                "{bad}"
            );
        }
        let on_demand = Config::from_toml("[audit]\ncheckpoint_interval = false").unwrap();
        assert_eq!(on_demand.audit.checkpoint_interval, None);
        let text = toml::to_string(&on_demand).unwrap();
        assert_eq!(Config::from_toml(&text).unwrap(), on_demand);
    }

    #[test]
    fn the_readme_cold_storage_block_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[cold]")
            .expect("the README's [cold] block");
        let block = &readme[start + 8..];
        let block = &block[..block.find("```").unwrap()];
        let config = Config::from_toml(block).unwrap();
        let cold = config.cold.unwrap();
        assert_eq!(cold.upload_concurrency.get(), 8);
        assert_eq!(cold.spool.unwrap().max_bytes, 256 << 20);
        assert!(Config::from_toml("cold = true").unwrap().cold.is_some());
        assert!(Config::from_toml("cold = false").unwrap().cold.is_none());
        let bad = Config::from_toml("[cold]\nevict_min_severity = \"severe\"").unwrap_err();
        assert!(bad.to_string().contains("severe"), "{bad}");
        let key = Config::from_toml("[audit]\ndeployment = \"Prod/EU\"\n[cold]").unwrap_err();
        assert!(key.to_string().contains("cold.deployment"), "{key}");
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
        assert!(matches!(
            err,
            ConfigError::Read {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ));
        assert!(err.to_string().contains("/nonexistent/tracehound.toml"));
    }
}
