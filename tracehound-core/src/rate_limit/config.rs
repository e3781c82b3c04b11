//! The rate limit's quota and bounds.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use governor::Quota;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, duration_text, nonzero};

/// Per-source rate limiting (GCRA): a source may send `burst` requests at once and then one
/// every `window / requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Requests allowed per `window`. Default 100.
    pub requests: NonZeroU32,
    /// The window `requests` are counted over. Default 60 s.
    #[serde(with = "duration_text")]
    pub window: Duration,
    /// Requests a source may send at once. Default: `requests`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<NonZeroU32>,
    /// How long a source that exhausts its quota is refused outright. Default 300 s; zero
    /// for no penalty (the source is then refused only until its next request is due).
    #[serde(with = "duration_text")]
    pub block: Duration,
    /// Most sources tracked at once; past it, the least recently seen source is forgotten.
    /// Default 100,000; at most 100,000,000.
    pub max_keys: NonZeroUsize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests: nonzero!(100),
            window: Duration::from_secs(60),
            burst: None,
            block: Duration::from_secs(300),
            max_keys: nonzero!(100_000),
        }
    }
}

impl RateLimitConfig {
    /// The governor quota; fails if the emission interval rounds to zero.
    pub(crate) fn quota(&self) -> Result<Quota, ConfigError> {
        let interval = self
            .window
            .checked_div(self.requests.get())
            .filter(|i| !i.is_zero())
            .ok_or_else(|| {
                ConfigError::invalid(
                    "rate_limit.requests",
                    "must be at most one per nanosecond of `window`",
                )
            })?;
        let burst = self.burst.unwrap_or(self.requests);
        Quota::with_period(interval)
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| ConfigError::invalid("rate_limit.window", "must be longer than zero"))
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        if self.max_keys.get() > 100_000_000 {
            return Err(ConfigError::invalid(
                "rate_limit.max_keys",
                "must be between 1 and 100000000",
            ));
        }
        Ok(())
    }
}
