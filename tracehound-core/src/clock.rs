//! Time sources.
//!
//! Every time tracehound reads (capture times, TTLs, audit record times, rate-limit decisions)
//! comes through one injected [`Clock`], so tests drive time with a [`ManualClock`] and never
//! sleep.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point in wall-clock time: nanoseconds since the Unix epoch (UTC).
///
/// Covers the years 1970 to 2554; earlier times read as the epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From nanoseconds since the Unix epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// From milliseconds since the Unix epoch, saturating at the largest representable time.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self(millis.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn as_unix_nanos(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the Unix epoch.
    pub const fn as_unix_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// From a [`SystemTime`]; times before the epoch read as the epoch, times after 2554 as
    /// the largest representable time.
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Err(_) => Self::EPOCH,
        }
    }

    /// The UTC calendar date `(year, month, day)` of this time, in the proleptic Gregorian
    /// calendar.
    ///
    /// ```
    /// use tracehound::clock::Timestamp;
    ///
    /// assert_eq!(Timestamp::from_unix_millis(951_782_400_000).utc_date(), (2000, 2, 29));
    /// ```
    pub fn utc_date(self) -> (i64, u32, u32) {
        // Days to a date by counting 400-year eras of 146,097 days from 0000-03-01 (March
        // first, so the leap day ends a year).
        let days = (self.as_unix_millis() / 86_400_000) as i64 + 719_468;
        let era = days.div_euclid(146_097);
        let day_of_era = days.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        } as u32;
        (year_of_era + era * 400 + i64::from(month <= 2), month, day)
    }

    /// `self + duration`, saturating at the largest representable time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(nanos))
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Timestamp({}.{:09}s)",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// A source of time.
///
/// Two readings, because they answer different questions: [`now`](Clock::now) is the wall
/// clock recorded in evidence and audit records; [`monotonic`](Clock::monotonic) never goes
/// backwards and measures the intervals rate limiting depends on, so a wall-clock step (NTP,
/// an operator) cannot unblock or block a source.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Current wall-clock time.
    fn now(&self) -> Timestamp;

    /// Time elapsed since an arbitrary origin fixed for the life of the clock; never
    /// decreases.
    fn monotonic(&self) -> Duration;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }

    fn monotonic(&self) -> Duration {
        (**self).monotonic()
    }
}

/// The operating system's clocks: [`SystemTime`] and [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is the moment of this call.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to; for tests and simulations.
///
/// Clones share one time, so a test keeps a clone and advances the clock it gave to
/// tracehound.
///
/// ```
/// use std::time::Duration;
/// use tracehound::clock::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_unix_millis(1_000));
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now().as_unix_millis(), 1_005);
/// assert_eq!(clock.monotonic(), Duration::from_millis(5));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    start: Timestamp,
    elapsed_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start`, with a monotonic reading of zero.
    pub fn new(start: Timestamp) -> Self {
        Self {
            state: Arc::new(ManualState {
                start,
                elapsed_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .state
            .elapsed_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |e| {
                Some(e.saturating_add(nanos))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.state.elapsed_nanos.load(Ordering::Acquire);
        Timestamp::from_unix_nanos(self.state.start.as_unix_nanos().saturating_add(elapsed))
    }

    fn monotonic(&self) -> Duration {
        Duration::from_nanos(self.state.elapsed_nanos.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(Timestamp::from_unix_millis(10));
        let b = a.clone();
        b.advance(Duration::from_nanos(7));
        assert_eq!(a.now().as_unix_nanos(), 10_000_007);
        assert_eq!(a.monotonic(), Duration::from_nanos(7));
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_unix_nanos(u64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).as_unix_nanos(),
            u64::MAX
        );
        assert_eq!(
            Timestamp::EPOCH.saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_unix_millis(u64::MAX).as_unix_nanos(),
            u64::MAX
        );
        assert_eq!(
            Timestamp::from_system_time(UNIX_EPOCH - Duration::from_secs(1)),
            Timestamp::EPOCH
        );
    }

    #[test]
    fn system_clock_monotonic_does_not_decrease() {
        let c = SystemClock::new();
        let a = c.monotonic();
        let b = c.monotonic();
        assert!(b >= a);
        assert!(c.now() > Timestamp::from_unix_millis(1_600_000_000_000));
    }
}
