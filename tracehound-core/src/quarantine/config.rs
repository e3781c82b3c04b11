//! The quarantine's bounds.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, nonzero, option_duration_text};

/// The evidence buffer's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct QuarantineConfig {
    /// Most pieces of evidence held. Default 10,000; at most 10,000,000.
    pub max_count: NonZeroUsize,
    /// Most payload bytes held. Default 100,000,000.
    pub max_bytes: NonZeroUsize,
    /// Evidence older than this (by capture time) is removed by maintenance and recorded as
    /// expired. Default: none (evidence stays until evicted or removed).
    #[serde(with = "option_duration_text", skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self {
            max_count: nonzero!(10_000),
            max_bytes: nonzero!(100_000_000),
            max_age: None,
        }
    }
}

impl QuarantineConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_count.get() > 10_000_000 {
            return Err(ConfigError::invalid(
                "quarantine.max_count",
                "must be between 1 and 10000000",
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
