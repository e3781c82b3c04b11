//! Subscription limits.

use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, nonzero};

/// Event subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct EventsConfig {
    /// Most subscriptions open at once. Default 16; at most 1,024.
    pub max_subscribers: NonZeroUsize,
    /// Largest queue one subscription may ask for, in events. Default 65,536; at most
    /// 1,048,576.
    pub max_queue: NonZeroUsize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_subscribers: nonzero!(16),
            max_queue: nonzero!(65_536),
        }
    }
}

impl EventsConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_subscribers.get() > 1024 {
            return Err(ConfigError::invalid(
                "events.max_subscribers",
                "must be between 1 and 1024",
            ));
        }
        if self.max_queue.get() > 1 << 20 {
            return Err(ConfigError::invalid(
                "events.max_queue",
                "must be between 1 and 1048576",
            ));
        }
        Ok(())
    }
}
