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
    config.maintenance.interval = Duration::ZERO;
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
