//! Cold storage: where evidence goes when it leaves the quarantine, so it outlives the
//! buffer.
//!
//! This room holds the seam, [`ColdStore`], and everything that does not depend on how a
//! store is reached: the object [`Layout`] and [`Manifest`]s, the uploader thread with its
//! bounded queue, retries and on-disk spool, verified reads and erasure ([`ColdReader`]).
//!
//! The core owns this trait and stays synchronous and free of cloud SDKs; a separate crate
//! (`tracehound-cold-storage`) implements it over a local directory or an object store,
//! running whatever runtime it needs on threads of its own. A store is called from the
//! library's own background threads, never from `intercept`.
//!
//! Objects are written once: a `put` of a key that already holds the same bytes is
//! [`Put::Exists`], one that holds different bytes is [`ColdError::Conflict`], and the store
//! must never overwrite.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Mutex;
//! use tracehound::cold::{ColdError, ColdStore, ObjectKey, Put};
//!
//! /// A store in memory (a real one is in `tracehound-cold-storage`).
//! #[derive(Debug, Default)]
//! struct Memory(Mutex<BTreeMap<ObjectKey, Vec<u8>>>);
//!
//! impl ColdStore for Memory {
//!     fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError> {
//!         let mut objects = self.0.lock().map_err(|_| ColdError::unavailable("poisoned"))?;
//!         match objects.get(key) {
//!             Some(held) if held.as_slice() == object => Ok(Put::Exists),
//!             Some(_) => Err(ColdError::Conflict { key: key.clone() }),
//!             None => {
//!                 objects.insert(key.clone(), object.to_vec());
//!                 Ok(Put::Created)
//!             }
//!         }
//!     }
//!     fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> {
//!         let objects = self.0.lock().map_err(|_| ColdError::unavailable("poisoned"))?;
//!         Ok(objects.get(key).cloned())
//!     }
//!     fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError> {
//!         let mut objects = self.0.lock().map_err(|_| ColdError::unavailable("poisoned"))?;
//!         Ok(objects.remove(key).is_some())
//!     }
//!     fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> {
//!         let objects = self.0.lock().map_err(|_| ColdError::unavailable("poisoned"))?;
//!         for (key, object) in objects.iter().filter(|(k, _)| k.as_str().starts_with(prefix)) {
//!             each(key, object.len() as u64);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let store = Memory::default();
//! let key = ObjectKey::new("evidence/demo/2026/12/07/injection/ab12.thcs")?;
//! assert_eq!(store.put(&key, b"envelope")?, Put::Created);
//! assert_eq!(store.put(&key, b"envelope")?, Put::Exists);
//! assert!(matches!(store.put(&key, b"other"), Err(ColdError::Conflict { .. })));
//! # Ok::<(), ColdError>(())
//! ```

mod config;
mod layout;
mod read;
pub(crate) mod spool;
pub(crate) mod uploader;

use std::fmt;

pub use config::{ColdConfig, SpoolConfig};
pub use layout::{IndexEntry, Layout, Manifest, destination_digest, source_tag};
pub use read::{ColdEvidence, ColdReader, ErasedFrom, ErasedObjects, ReadError, Selection};
pub use uploader::{ColdStats, EvacuationCause, LossReason};

/// The name of one object: printable ASCII of `[a-z0-9._/-]`, 1 to 1,024 bytes, made of
/// non-empty `/`-separated segments none of which is `.` or `..`. Keys are built from
/// signatures, dates and configured prefixes, never from attacker-chosen text, and this
/// check keeps every backend (a directory, a bucket) reading them the same way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

/// The longest key, in bytes (S3's limit).
const MAX_KEY_LEN: usize = 1024;

impl ObjectKey {
    /// Checks `key` and wraps it.
    pub fn new(key: impl Into<String>) -> Result<ObjectKey, ColdError> {
        let key = key.into();
        let invalid = |reason| Err(ColdError::InvalidKey { reason });
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return invalid("must be 1 to 1024 bytes");
        }
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._/-".contains(&b);
        if !key.bytes().all(allowed) {
            return invalid("may hold only a-z, 0-9, '.', '_', '-' and '/'");
        }
        if key
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return invalid("segments between '/' must be non-empty and not '.' or '..'");
        }
        Ok(ObjectKey(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a write-once [`ColdStore::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Put {
    /// The object was written.
    Created,
    /// The key already held these exact bytes; nothing was written.
    Exists,
}

/// Why a cold store could not do what was asked. Names keys, never object contents.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColdError {
    /// The store cannot be reached or failed transiently; retry later.
    Unavailable {
        /// The store's or the transport's message.
        message: String,
    },
    /// The key already holds a different object. Write-once storage never overwrites it:
    /// treat it as an integrity problem and look at both.
    Conflict {
        /// The key.
        key: ObjectKey,
    },
    /// The store refused the operation for this key (permissions, a retention lock).
    Refused {
        /// The key.
        key: ObjectKey,
        /// The store's reason.
        message: String,
    },
    /// A key that [`ObjectKey::new`] does not accept.
    InvalidKey {
        /// The rule broken.
        reason: &'static str,
    },
}

impl ColdError {
    /// [`ColdError::Unavailable`] with `message`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ColdError::Unavailable {
            message: message.into(),
        }
    }
}

impl fmt::Display for ColdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColdError::Unavailable { message } => write!(f, "cold store unavailable: {message}"),
            ColdError::Conflict { key } => {
                write!(f, "cold store already holds a different object at {key}")
            }
            ColdError::Refused { key, message } => {
                write!(f, "cold store refused the operation on {key}: {message}")
            }
            ColdError::InvalidKey { reason } => write!(f, "invalid object key: {reason}"),
        }
    }
}

impl std::error::Error for ColdError {}

/// Where evidence goes when it leaves the quarantine: a write-once object store, called
/// synchronously from the library's background threads (never from `intercept`), so an
/// implementation may block on I/O.
pub trait ColdStore: Send + Sync + fmt::Debug {
    /// Writes `object` under `key` once; see the [module docs](self) for the write-once rule.
    fn put(&self, key: &ObjectKey, object: &[u8]) -> Result<Put, ColdError>;

    /// The object under `key`, or `None` if there is none. Callers verify what they get.
    fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError>;

    /// Removes the object under `key`; `false` if there was none.
    fn delete(&self, key: &ObjectKey) -> Result<bool, ColdError>;

    /// Calls `each` with the key and size of every object whose key starts with `prefix`,
    /// without reading the objects.
    fn list(&self, prefix: &str, each: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError>;

    /// Makes every object written so far durable. The uploader calls it after each batch of
    /// writes, before it reports any of them as evacuated, so a store that syncs per batch
    /// (a local disk) need not sync per object. The default does nothing: for stores whose
    /// `put` is durable when it returns (a bucket).
    fn sync(&self) -> Result<(), ColdError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_no_attacker_shaped_text() {
        for good in [
            "a",
            "evidence/prod/2026/12/07/injection/00ff.thcs",
            "x-y_z.1",
        ] {
            assert_eq!(
                ObjectKey::new(good).map(|k| k.to_string()),
                Ok(good.to_owned())
            );
        }
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "/leading",
            "trailing/",
            "a//b",
            "a/../b",
            "./a",
            "A",
            "a b",
            "a\\b",
            "a%2fb",
            "caf\u{e9}",
            "a\0b",
        ] {
            assert!(
                matches!(ObjectKey::new(bad), Err(ColdError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
        assert!(ObjectKey::new("a".repeat(MAX_KEY_LEN)).is_ok());
    }
}
