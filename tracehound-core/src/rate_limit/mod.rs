//! Per-source rate limiting: governor's GCRA over a bounded key store.
//!
//! governor's own keyed stores grow with every distinct key until swept and cannot drop one
//! key, so a flood of spoofed or rotating addresses grows memory without bound between sweeps.
//! [`KeyStore`] implements governor's `StateStore` with a hard cap instead: keys are spread
//! over shards by a randomly seeded hash, and a full shard forgets its least recently seen key
//! to admit a new one. Memory is bounded by `max_keys` at all times.
//!
//! The optional block penalty lives in the same entry as the GCRA state, so a check costs one
//! lookup. When a key first exceeds its quota, its theoretical arrival time is pushed forward
//! so that GCRA itself refuses the key until the penalty has passed, and says exactly when.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::Quota;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use hashbrown::HashTable;
use parking_lot::Mutex;

mod config;

pub use self::config::RateLimitConfig;

use crate::clock::Clock;
use crate::config::ConfigError;
use crate::scent::SourceKey;

/// Most shards a store is split into.
const MAX_SHARDS: usize = 32;

/// Marks "no slot" in a recency list.
const NIL: u32 = u32::MAX;

/// A rate limiter over source keys.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limiter: governor::RateLimiter<SourceKey, KeyStore, GovClock, NoOpMiddleware<Nanos>>,
    /// A second handle on the store inside `limiter`, which governor does not lend out.
    store: KeyStore,
    clock: GovClock,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    Limited { retry_after: Duration },
}

/// Key counters for the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KeyCounts {
    pub(crate) tracked: usize,
    pub(crate) blocked: usize,
    pub(crate) evicted: u64,
    pub(crate) forgotten: u64,
}

impl RateLimiter {
    /// A limiter for a validated configuration.
    pub(crate) fn new(
        config: &RateLimitConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let quota = config.quota()?;
        let store = KeyStore::new(config.max_keys.get(), quota, config.block);
        let clock = GovClock {
            clock,
            origin: Arc::new(OnceLock::new()),
        };
        // `governor::RateLimiter::new` takes the first reading of this fresh clock, which
        // pins the clock's origin to governor's start: both measure from the same instant.
        let limiter = governor::RateLimiter::new(quota, store.clone(), clock.clone());
        Ok(Self {
            limiter,
            store,
            clock,
        })
    }

    /// Takes one request from `key`'s quota.
    pub(crate) fn check(&self, key: &SourceKey) -> Verdict {
        match self.limiter.check_key(key) {
            Ok(()) => Verdict::Allowed,
            Err(not_until) => Verdict::Limited {
                retry_after: not_until.wait_time_from(governor::clock::Clock::now(&self.clock)),
            },
        }
    }

    /// Forgets the keys of one shard whose state is no different from a fresh key's, taking
    /// the shards in turn: no call holds a lock long or walks every key. Returns how many
    /// keys were forgotten.
    pub(crate) fn sweep(&self) -> usize {
        let now = governor::clock::Clock::now(&self.clock).as_u64();
        self.store.sweep_next(now)
    }

    pub(crate) fn counts(&self) -> KeyCounts {
        self.store
            .counts(governor::clock::Clock::now(&self.clock).as_u64())
    }
}

/// governor's view of the injected [`Clock`]: monotonic nanoseconds since its first reading.
#[derive(Debug, Clone)]
struct GovClock {
    clock: Arc<dyn Clock>,
    origin: Arc<OnceLock<u64>>,
}

/// Latest monotonic reading passed to governor: about 146 years. governor adds quota
/// intervals to readings without overflow checks, so a clock reporting more is held here.
const MAX_MONOTONIC_NANOS: u64 = 1 << 62;

impl governor::clock::Clock for GovClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let raw = u64::try_from(self.clock.monotonic().as_nanos())
            .unwrap_or(u64::MAX)
            .min(MAX_MONOTONIC_NANOS);
        let origin = *self.origin.get_or_init(|| raw);
        Nanos::from(raw.saturating_sub(origin))
    }
}

/// GCRA state for every tracked key, capped, in shards with least-recently-seen eviction.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// GCRA emission interval `t` and tolerance `tau`, as governor derives them from the
    /// quota, in nanoseconds.
    emission: u64,
    tolerance: u64,
    /// Block penalty in nanoseconds; zero for none.
    penalty: u64,
    evicted: AtomicU64,
    forgotten: AtomicU64,
    /// Next shard to sweep.
    sweep_cursor: AtomicUsize,
}

impl KeyStore {
    fn new(max_keys: usize, quota: Quota, block: Duration) -> Self {
        let shard_count = max_keys.clamp(1, MAX_SHARDS);
        // Spread the cap exactly: the first `max_keys % shards` shards hold one more.
        let shards = (0..shard_count)
            .map(|i| {
                let capacity = max_keys / shard_count + usize::from(i < max_keys % shard_count);
                Mutex::new(Shard::new(capacity))
            })
            .collect();
        let emission = nanos(quota.replenish_interval()).max(1);
        Self {
            inner: Arc::new(StoreInner {
                shards,
                hasher: RandomState::new(),
                emission,
                tolerance: emission.saturating_mul(u64::from(quota.burst_size().get() - 1)),
                penalty: nanos(block),
                evicted: AtomicU64::new(0),
                forgotten: AtomicU64::new(0),
                sweep_cursor: AtomicUsize::new(0),
            }),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // Middle bits: hashbrown uses the low bits for buckets and the top seven for tags,
        // so these keep both well spread inside a shard.
        let index = (hash >> 32) as usize % self.inner.shards.len();
        &self.inner.shards[index]
    }

    /// Sweeps the next shard: a key whose arrival time is not after `now` behaves exactly as
    /// an unseen key would, so forgetting it changes no decision.
    fn sweep_next(&self, now: u64) -> usize {
        let shards = &self.inner.shards;
        let index = self.inner.sweep_cursor.fetch_add(1, Ordering::Relaxed) % shards.len();
        let forgotten = shards[index].lock().retain(|slot| slot.tat > now);
        self.inner
            .forgotten
            .fetch_add(forgotten as u64, Ordering::Relaxed);
        forgotten
    }

    fn counts(&self, now: u64) -> KeyCounts {
        let tolerance = self.inner.tolerance;
        let mut counts = KeyCounts {
            evicted: self.inner.evicted.load(Ordering::Relaxed),
            forgotten: self.inner.forgotten.load(Ordering::Relaxed),
            ..KeyCounts::default()
        };
        for shard in self.inner.shards.iter() {
            let shard = shard.lock();
            counts.tracked += shard.len();
            counts.blocked += shard
                .slots
                .iter()
                .filter(|slot| slot.tat.saturating_sub(tolerance) > now)
                .count();
        }
        counts
    }
}

impl StateStore for KeyStore {
    type Key = SourceKey;

    fn measure_and_replace<T, F, E>(&self, key: &SourceKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let hash = self.inner.hasher.hash_one(key);
        let mut shard = self.shard(hash).lock();
        let found = shard.find(hash, key);
        let previous = found.map(|i| Nanos::from(shard.slots[i as usize].tat));
        match f(previous) {
            Ok((positive, next)) => {
                match found {
                    Some(i) => {
                        let slot = &mut shard.slots[i as usize];
                        slot.tat = if slot.penalized {
                            // A served block clears the key's history, as the TypeScript
                            // library did: it starts again with its full burst.
                            slot.penalized = false;
                            f(None).map_or(next, |(_, fresh)| fresh).as_u64()
                        } else {
                            next.as_u64()
                        };
                        shard.touch(i);
                    }
                    None => {
                        if shard.insert(key.clone(), hash, next.as_u64()) {
                            self.inner.evicted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(positive)
            }
            // A key seen for the first time always conforms, so a refusal has a slot.
            Err(refusal) => match found {
                Some(i) => {
                    shard.touch(i);
                    self.penalize(&mut shard.slots[i as usize], &f)
                        .unwrap_or(Err(refusal))
                }
                None => Err(refusal),
            },
        }
    }
}

impl KeyStore {
    /// Starts the block penalty for a key that has just been refused, unless it is already
    /// serving one; returns governor's refusal for the blocked state.
    fn penalize<T, F, E>(&self, slot: &mut Slot, f: &F) -> Option<Result<T, E>>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if self.inner.penalty == 0 || slot.penalized {
            return None;
        }
        // For a fresh key GCRA conforms at the time of measurement t0 and answers t0 + t as
        // the next arrival time, which recovers the exact t0 governor used.
        let (_, fresh_next) = f(None).ok()?;
        let t0 = fresh_next.as_u64().saturating_sub(self.inner.emission);
        // GCRA refuses while t0 < tat - tau: this refuses until exactly t0 + penalty.
        let blocked_tat = t0
            .saturating_add(self.inner.penalty)
            .saturating_add(self.inner.tolerance);
        if blocked_tat <= slot.tat {
            return None;
        }
        slot.tat = blocked_tat;
        slot.penalized = true;
        match f(Some(Nanos::from(blocked_tat))) {
            Err(refusal) => Some(Err(refusal)),
            Ok(_) => None,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One key's state and its place in the shard's recency list.
#[derive(Debug)]
struct Slot {
    key: SourceKey,
    hash: u64,
    /// GCRA theoretical arrival time, nanoseconds on governor's clock.
    tat: u64,
    /// Serving a block penalty; cleared by the next conforming request.
    penalized: bool,
    /// Neighbours towards the most (`newer`) and least (`older`) recently seen ends.
    newer: u32,
    older: u32,
}

/// A fixed-capacity map from key to slot, ordered by recency.
#[derive(Debug)]
struct Shard {
    table: HashTable<u32>,
    slots: Vec<Slot>,
    newest: u32,
    oldest: u32,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            table: HashTable::new(),
            slots: Vec::new(),
            newest: NIL,
            oldest: NIL,
            capacity,
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn find(&self, hash: u64, key: &SourceKey) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(hash, |&i| slots[i as usize].key == *key)
            .copied()
    }

    fn unlink(&mut self, i: u32) {
        let (newer, older) = {
            let slot = &self.slots[i as usize];
            (slot.newer, slot.older)
        };
        self.point_neighbours(newer, older, older, newer);
    }

    /// Points `newer`'s older link at `newer_gets` and `older`'s newer link at `older_gets`;
    /// where a neighbour is missing, the list's end takes the value instead.
    fn point_neighbours(&mut self, newer: u32, older: u32, newer_gets: u32, older_gets: u32) {
        match newer {
            NIL => self.newest = newer_gets,
            n => self.slots[n as usize].older = newer_gets,
        }
        match older {
            NIL => self.oldest = older_gets,
            o => self.slots[o as usize].newer = older_gets,
        }
    }

    fn push_newest(&mut self, i: u32) {
        let old_newest = self.newest;
        {
            let slot = &mut self.slots[i as usize];
            slot.newer = NIL;
            slot.older = old_newest;
        }
        match old_newest {
            NIL => self.oldest = i,
            n => self.slots[n as usize].newer = i,
        }
        self.newest = i;
    }

    /// Marks slot `i` as the most recently seen.
    fn touch(&mut self, i: u32) {
        if self.newest != i {
            self.unlink(i);
            self.push_newest(i);
        }
    }

    /// Adds a key; when the shard is full, the least recently seen key makes room. Returns
    /// whether a key was evicted.
    fn insert(&mut self, key: SourceKey, hash: u64, tat: u64) -> bool {
        let slot = Slot {
            key,
            hash,
            tat,
            penalized: false,
            newer: NIL,
            older: NIL,
        };
        let oldest = self.oldest;
        let (index, evicted) = if self.slots.len() >= self.capacity && oldest != NIL {
            let victim_hash = self.slots[oldest as usize].hash;
            if let Ok(entry) = self.table.find_entry(victim_hash, |&j| j == oldest) {
                entry.remove();
            }
            self.unlink(oldest);
            self.slots[oldest as usize] = slot;
            (oldest, true)
        } else {
            self.slots.push(slot);
            ((self.slots.len() - 1) as u32, false)
        };
        let slots = &self.slots;
        self.table
            .insert_unique(hash, index, |&j| slots[j as usize].hash);
        self.push_newest(index);
        evicted
    }

    /// Removes slot `i` in place: the last slot moves into its place and its links and table
    /// entry follow.
    fn remove(&mut self, i: u32) {
        self.unlink(i);
        let hash = self.slots[i as usize].hash;
        if let Ok(entry) = self.table.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        let last = (self.slots.len() - 1) as u32;
        if i != last {
            let (moved_hash, newer, older) = {
                let moved = &self.slots[last as usize];
                (moved.hash, moved.newer, moved.older)
            };
            if let Ok(mut entry) = self.table.find_entry(moved_hash, |&j| j == last) {
                *entry.get_mut() = i;
            }
            self.point_neighbours(newer, older, i, i);
        }
        self.slots.swap_remove(i as usize);
    }

    /// Keeps only the slots `keep` accepts, in place; returns how many were removed. Releases
    /// memory once the shard is mostly empty.
    fn retain(&mut self, keep: impl Fn(&Slot) -> bool) -> usize {
        let before = self.slots.len();
        let mut i = 0;
        while i < self.slots.len() {
            if keep(&self.slots[i]) {
                i += 1;
            } else {
                // The last slot now sits at `i`; look at it next.
                self.remove(i as u32);
            }
        }
        if self.slots.len() * 4 < self.slots.capacity() {
            let slots = &self.slots;
            self.table.shrink_to_fit(|&j| slots[j as usize].hash);
            self.slots.shrink_to_fit();
        }
        before - self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use std::num::{NonZeroU32, NonZeroUsize};

    use super::*;
    use crate::clock::{ManualClock, Timestamp};

    fn limiter(
        requests: u32,
        window: Duration,
        block: Duration,
        max_keys: usize,
    ) -> (RateLimiter, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000));
        let config = RateLimitConfig {
            requests: NonZeroU32::new(requests).unwrap(),
            window,
            burst: None,
            block,
            max_keys: NonZeroUsize::new(max_keys).unwrap(),
            ..RateLimitConfig::default()
        };
        (
            RateLimiter::new(&config, Arc::new(clock.clone())).unwrap(),
            clock,
        )
    }

    fn key(i: usize) -> SourceKey {
        SourceKey::new(format!("10.0.{}.{}", i / 256, i % 256))
    }

    #[test]
    fn quota_then_refusal_with_exact_retry_after() {
        let (rl, clock) = limiter(5, Duration::from_secs(60), Duration::ZERO, 100);
        let k = key(1);
        for _ in 0..5 {
            assert_eq!(rl.check(&k), Verdict::Allowed);
        }
        // Burst spent: the next cell is due one emission interval (12 s) after the first.
        let Verdict::Limited { retry_after } = rl.check(&k) else {
            panic!("sixth request must be limited");
        };
        assert_eq!(retry_after, Duration::from_secs(12));
        clock.advance(retry_after - Duration::from_nanos(1));
        assert!(
            matches!(rl.check(&k), Verdict::Limited { retry_after } if retry_after == Duration::from_nanos(1))
        );
        clock.advance(Duration::from_nanos(1));
        assert_eq!(rl.check(&k), Verdict::Allowed);
        // Other keys are unaffected.
        assert_eq!(rl.check(&key(2)), Verdict::Allowed);
    }

    #[test]
    fn burst_smaller_than_quota_with_and_without_a_block() {
        // 10 per 10 s is one per second; a burst of 2 allows two at once.
        let config = |block| RateLimitConfig {
            requests: NonZeroU32::new(10).unwrap(),
            window: Duration::from_secs(10),
            burst: NonZeroU32::new(2),
            block,
            ..RateLimitConfig::default()
        };
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000));
        let rl = RateLimiter::new(&config(Duration::ZERO), Arc::new(clock.clone())).unwrap();
        let k = key(3);
        assert_eq!(rl.check(&k), Verdict::Allowed);
        assert_eq!(rl.check(&k), Verdict::Allowed);
        assert_eq!(
            rl.check(&k),
            Verdict::Limited {
                retry_after: Duration::from_secs(1)
            }
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(rl.check(&k), Verdict::Allowed);
        assert!(
            matches!(rl.check(&k), Verdict::Limited { .. }),
            "no second burst yet"
        );

        let rl =
            RateLimiter::new(&config(Duration::from_secs(30)), Arc::new(clock.clone())).unwrap();
        assert_eq!(rl.check(&k), Verdict::Allowed);
        assert_eq!(rl.check(&k), Verdict::Allowed);
        let block = Duration::from_secs(30);
        assert_eq!(rl.check(&k), Verdict::Limited { retry_after: block });
        clock.advance(block - Duration::from_nanos(1));
        assert_eq!(
            rl.check(&k),
            Verdict::Limited {
                retry_after: Duration::from_nanos(1)
            }
        );
        clock.advance(Duration::from_nanos(1));
        assert_eq!(rl.check(&k), Verdict::Allowed);
        assert_eq!(rl.check(&k), Verdict::Allowed, "the burst of two is back");
        assert_eq!(rl.check(&k), Verdict::Limited { retry_after: block });
    }

    #[test]
    fn block_penalty_is_exact_and_not_extended_by_retries() {
        let block = Duration::from_secs(300);
        let (rl, clock) = limiter(3, Duration::from_secs(60), block, 100);
        let k = key(7);
        for _ in 0..3 {
            assert_eq!(rl.check(&k), Verdict::Allowed);
        }
        assert_eq!(rl.check(&k), Verdict::Limited { retry_after: block });
        clock.advance(Duration::from_secs(100));
        assert_eq!(
            rl.check(&k),
            Verdict::Limited {
                retry_after: Duration::from_secs(200)
            },
            "retries during a block neither extend nor reset it"
        );
        assert_eq!(rl.counts().blocked, 1);
        clock.advance(Duration::from_secs(200) - Duration::from_nanos(1));
        assert!(matches!(rl.check(&k), Verdict::Limited { .. }));
        clock.advance(Duration::from_nanos(1));
        // A served block restores the full burst.
        assert_eq!(rl.check(&k), Verdict::Allowed);
        assert_eq!(rl.counts().blocked, 0);
        for _ in 0..2 {
            assert_eq!(rl.check(&k), Verdict::Allowed);
        }
        assert_eq!(rl.check(&k), Verdict::Limited { retry_after: block });
        assert_eq!(rl.counts().blocked, 1);
    }

    #[test]
    fn key_cap_holds_under_rotation_and_forgets_least_recent() {
        let (rl, _clock) = limiter(1, Duration::from_secs(60), Duration::ZERO, 64);
        let resident = key(0);
        assert_eq!(rl.check(&resident), Verdict::Allowed);
        for i in 1..10_000 {
            let _ = rl.check(&key(i));
            // The resident key keeps being seen, so it is never the least recent.
            assert!(matches!(rl.check(&resident), Verdict::Limited { .. }));
            assert!(rl.counts().tracked <= 64);
        }
        let counts = rl.counts();
        assert_eq!(counts.tracked, 64);
        assert!(counts.evicted >= 10_000 - 64);
    }

    #[test]
    fn sweep_forgets_only_idle_keys() {
        let (rl, clock) = limiter(10, Duration::from_secs(10), Duration::ZERO, 1000);
        for i in 0..100 {
            assert_eq!(rl.check(&key(i)), Verdict::Allowed);
        }
        let sweep_all = || (0..MAX_SHARDS).map(|_| rl.sweep()).sum::<usize>();
        assert_eq!(
            sweep_all(),
            0,
            "every key is still inside its first interval"
        );
        clock.advance(Duration::from_secs(5));
        assert_eq!(rl.check(&key(0)), Verdict::Allowed);
        // One shard per call: a single sweep forgets only that shard's idle keys.
        let first = rl.sweep();
        assert!(first < 99);
        assert_eq!(first + sweep_all(), 99);
        assert_eq!(rl.counts().tracked, 1);
        assert_eq!(rl.counts().forgotten, 99);
    }

    #[test]
    fn shard_matches_a_simple_model_under_random_operations() {
        // Model: keys in recency order, least recent first.
        let hasher = RandomState::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for capacity in 1..6usize {
            let mut shard = Shard::new(capacity);
            let mut model: Vec<SourceKey> = Vec::new();
            for _ in 0..20_000 {
                let k = key((next() % 9) as usize);
                let hash = hasher.hash_one(&k);
                match next() % 4 {
                    0 | 1 => match shard.find(hash, &k) {
                        Some(i) => {
                            shard.touch(i);
                            model.retain(|m| *m != k);
                            model.push(k);
                        }
                        None => {
                            let evicted = shard.insert(k.clone(), hash, 0);
                            assert_eq!(evicted, model.len() == capacity);
                            if evicted {
                                model.remove(0);
                            }
                            model.push(k);
                        }
                    },
                    2 => {
                        let drop = key((next() % 9) as usize);
                        let removed = shard.retain(|slot| slot.key != drop);
                        let before = model.len();
                        model.retain(|m| *m != drop);
                        assert_eq!(removed, before - model.len());
                    }
                    _ => assert_eq!(shard.find(hash, &k).is_some(), model.contains(&k)),
                }
                let mut order = Vec::new();
                let mut cursor = shard.oldest;
                while cursor != NIL {
                    order.push(shard.slots[cursor as usize].key.clone());
                    cursor = shard.slots[cursor as usize].newer;
                }
                assert_eq!(order, model);
                let mut backwards = Vec::new();
                let mut cursor = shard.newest;
                while cursor != NIL {
                    backwards.push(shard.slots[cursor as usize].key.clone());
                    cursor = shard.slots[cursor as usize].older;
                }
                backwards.reverse();
                assert_eq!(backwards, model);
            }
        }
    }

    #[test]
    fn shard_recency_list_survives_mixed_operations() {
        let mut shard = Shard::new(4);
        let keys: Vec<SourceKey> = (0..6).map(key).collect();
        let hasher = RandomState::new();
        for k in &keys[..4] {
            assert!(!shard.insert(k.clone(), hasher.hash_one(k), 1));
        }
        let one = shard.find(hasher.hash_one(&keys[0]), &keys[0]).unwrap();
        shard.touch(one);
        // keys[1] is now the least recent and is the one evicted.
        assert!(shard.insert(keys[4].clone(), hasher.hash_one(&keys[4]), 1));
        assert!(shard.find(hasher.hash_one(&keys[1]), &keys[1]).is_none());
        assert!(shard.find(hasher.hash_one(&keys[0]), &keys[0]).is_some());
        assert_eq!(shard.retain(|s| s.key != keys[2]), 1);
        assert_eq!(shard.len(), 3);
        assert!(!shard.insert(keys[5].clone(), hasher.hash_one(&keys[5]), 1));
        // Walk both directions: every slot reachable, links consistent.
        let mut forward = Vec::new();
        let mut cursor = shard.oldest;
        while cursor != NIL {
            forward.push(cursor);
            cursor = shard.slots[cursor as usize].newer;
        }
        assert_eq!(forward.len(), shard.len());
        assert_eq!(*forward.last().unwrap(), shard.newest);
        for k in [&keys[0], &keys[3], &keys[4], &keys[5]] {
            assert!(shard.find(hasher.hash_one(k), k).is_some());
        }
    }
}
