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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::Quota;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;
use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::config::RateLimitConfig;
use crate::error::ConfigError;
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
}

impl RateLimiter {
    /// A limiter for a validated configuration.
    pub(crate) fn new(
        config: &RateLimitConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let quota = config.quota()?;
        let store = KeyStore::new(config.max_keys, quota, config.block);
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

    /// Forgets keys whose state is no different from a fresh key's; returns how many.
    pub(crate) fn sweep(&self) -> usize {
        let before = self.store.len();
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        before.saturating_sub(self.store.len())
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

impl governor::clock::Clock for GovClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let raw = u64::try_from(self.clock.monotonic().as_nanos()).unwrap_or(u64::MAX);
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
            }),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // Middle bits: hashbrown uses the low bits for buckets and the top seven for tags,
        // so these keep both well spread inside a shard.
        let index = (hash >> 32) as usize % self.inner.shards.len();
        &self.inner.shards[index]
    }

    fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().len()).sum()
    }

    fn counts(&self, now: u64) -> KeyCounts {
        let tolerance = self.inner.tolerance;
        let mut counts = KeyCounts {
            evicted: self.inner.evicted.load(Ordering::Relaxed),
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

impl ShrinkableKeyedStateStore<SourceKey> for KeyStore {
    fn retain_recent(&self, drop_below: Nanos) {
        let drop_below = drop_below.as_u64();
        for shard in self.inner.shards.iter() {
            shard.lock().retain(|slot| slot.tat >= drop_below);
        }
    }

    fn shrink_to_fit(&self) {
        for shard in self.inner.shards.iter() {
            shard.lock().shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        KeyStore::len(self)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
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
        match newer {
            NIL => self.newest = older,
            n => self.slots[n as usize].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o as usize].newer = newer,
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

    /// Keeps only the slots `keep` accepts, preserving their recency order.
    fn retain(&mut self, keep: impl Fn(&Slot) -> bool) {
        let mut order = Vec::with_capacity(self.slots.len());
        let mut cursor = self.oldest;
        while cursor != NIL {
            order.push(cursor);
            cursor = self.slots[cursor as usize].newer;
        }
        let mut old: Vec<Option<Slot>> = std::mem::take(&mut self.slots)
            .into_iter()
            .map(Some)
            .collect();
        self.table.clear();
        self.newest = NIL;
        self.oldest = NIL;
        for i in order {
            if let Some(slot) = old[i as usize].take().filter(|s| keep(s)) {
                let index = self.slots.len() as u32;
                let hash = slot.hash;
                self.slots.push(slot);
                let slots = &self.slots;
                self.table
                    .insert_unique(hash, index, |&j| slots[j as usize].hash);
                self.push_newest(index);
            }
        }
    }

    fn shrink_to_fit(&mut self) {
        let slots = &self.slots;
        self.table.shrink_to_fit(|&j| slots[j as usize].hash);
        self.slots.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, Timestamp};

    fn limiter(
        requests: u32,
        window: Duration,
        block: Duration,
        max_keys: usize,
    ) -> (RateLimiter, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000));
        let mut config = RateLimitConfig::default();
        config.requests = requests;
        config.window = window;
        config.burst = None;
        config.block = block;
        config.max_keys = max_keys;
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
        assert_eq!(
            rl.sweep(),
            0,
            "every key is still inside its first interval"
        );
        clock.advance(Duration::from_secs(5));
        assert_eq!(rl.check(&key(0)), Verdict::Allowed);
        assert_eq!(rl.sweep(), 99);
        assert_eq!(rl.counts().tracked, 1);
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
        shard.retain(|s| s.key != keys[2]);
        assert_eq!(shard.len(), 3);
        assert!(shard.insert(keys[5].clone(), hasher.hash_one(&keys[5]), 1) == false);
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
