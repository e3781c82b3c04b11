//! Randomness sources.
//!
//! Every random choice tracehound makes (the jitter of hound worker rotation; retry backoff in
//! the parts that come later) draws from one injected [`Random`], as time comes from one
//! [`Clock`](crate::clock::Clock): tests give a [`SeededRandom`] and get the same choices on
//! every run. Nothing here is used for secrets: signing keys come from the operating system
//! directly.
//!
//! ```
//! use tracehound::random::{Random, SeededRandom};
//!
//! let a = SeededRandom::new(7);
//! let b = SeededRandom::new(7);
//! assert_eq!(a.next_u64(), b.next_u64());
//! ```

use std::fmt;

use parking_lot::Mutex;

/// A source of random 64-bit values for spreading work out (jitter, backoff), not for
/// secrets. Must be callable from any thread and never block for long.
pub trait Random: Send + Sync + fmt::Debug {
    /// The next value.
    fn next_u64(&self) -> u64;
}

/// The operating system's random number generator: the default when the builder is given
/// no other.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OsRandom;

impl OsRandom {
    pub(crate) fn new() -> Self {
        OsRandom
    }
}

impl Random for OsRandom {
    /// A value from the OS; if the OS cannot give one (never on a working Linux), one mixed
    /// from the time, which is spread enough for jitter.
    fn next_u64(&self) -> u64 {
        let mut bytes = [0u8; 8];
        match getrandom::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                splitmix(nanos)
            }
        }
    }
}

/// A deterministic sequence from a seed (SplitMix64): the same seed gives the same values, on
/// every platform. For tests and reproducible runs.
#[derive(Debug)]
pub struct SeededRandom {
    state: Mutex<u64>,
}

impl SeededRandom {
    /// The sequence that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandom {
            state: Mutex::new(seed),
        }
    }
}

impl Random for SeededRandom {
    fn next_u64(&self) -> u64 {
        let mut state = self.state.lock();
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(*state)
    }
}

/// SplitMix64's output function.
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_spread_sequence() {
        let a = SeededRandom::new(1);
        let b = SeededRandom::new(1);
        let first: Vec<u64> = (0..64).map(|_| a.next_u64()).collect();
        let again: Vec<u64> = (0..64).map(|_| b.next_u64()).collect();
        assert_eq!(first, again);
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), 64);
        let other = SeededRandom::new(2);
        let other: Vec<u64> = (0..64).map(|_| other.next_u64()).collect();
        assert_ne!(first, other);
    }

    #[test]
    fn the_os_source_varies() {
        let os = OsRandom::new();
        assert_ne!(os.next_u64(), os.next_u64());
    }
}
