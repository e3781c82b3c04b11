//! A snapshot of every counter, taken at one moment.

use std::panic::{self, AssertUnwindSafe};

use crate::hound::HoundStats;
use crate::hound::pool::Pool;
use crate::snapshot::{EventStats, QuarantineStats, RateLimitStats, SeverityCounts, Snapshot};

use super::Inner;
use super::cold::Cold;

impl Inner {
    pub(super) fn snapshot(&self) -> Snapshot {
        let (quarantine, records) = {
            let vault = self.vault.lock();
            let q = &vault.quarantine;
            let config = &self.config.quarantine;
            let (max_count, max_bytes) = (config.max_count.get(), config.max_bytes.get());
            let fill = (q.len() as f64 / max_count as f64).max(q.bytes() as f64 / max_bytes as f64);
            (
                QuarantineStats {
                    count: q.len(),
                    bytes: q.bytes(),
                    max_count,
                    max_bytes,
                    by_severity: SeverityCounts::from_ranks(q.by_severity()),
                    fill_ratio: fill.clamp(0.0, 1.0),
                },
                vault.audit.counts(),
            )
        };
        let rate_limit = match (&self.limiter, &self.config.rate_limit) {
            (Some(limiter), Some(config)) => {
                // Counting blocked keys reads the clock; a panicking clock leaves them at zero
                // rather than panicking the caller of `snapshot`.
                let counts =
                    panic::catch_unwind(AssertUnwindSafe(|| limiter.counts())).unwrap_or_default();
                RateLimitStats {
                    enabled: true,
                    tracked_keys: counts.tracked,
                    blocked_keys: counts.blocked,
                    max_keys: config.max_keys.get(),
                    evicted_keys: counts.evicted,
                    forgotten_keys: counts.forgotten,
                }
            }
            _ => RateLimitStats::default(),
        };
        self.bus.prune();
        let bus = self.bus.counts();
        let taken_at = self.now_or_epoch();
        let audit = self.audit_writer.stats(records, taken_at);
        Snapshot {
            cold: self.cold.as_ref().map(Cold::stats).unwrap_or_default(),
            taken_at,
            outcomes: self.outcomes.read(),
            quarantine,
            rate_limit,
            events: EventStats {
                subscribers: bus.subscribers,
                published: bus.published,
                dropped: bus.dropped,
            },
            audit,
            hound: self
                .hound
                .as_ref()
                .map_or(HoundStats::default(), Pool::stats),
        }
    }
}
