//! A decision-free runtime security buffer for Rust services.
//!
//! External detectors (a WAF verdict, a rules engine, a model) decide that a request is a
//! threat; tracehound does everything after that decision. It rate limits sources,
//! quarantines the evidence (canonical payload, SHA-256, signature `category:hash`) in a
//! bounded buffer that evicts by priority in O(log n), records every lifecycle step in an
//! RFC 6962 Merkle audit log, and tells subscribers what happened. Its own failures never
//! block traffic: they are an [`Outcome::Error`], a counter and an event.
//!
//! # Quick start
//!
//! ```
//! use serde_json::json;
//! use tracehound::{Category, Outcome, Scent, Severity, Tracehound};
//!
//! let tracehound = Tracehound::builder().build()?;
//! let events = tracehound.subscribe(1024)?;
//!
//! // A request your detector flagged.
//! let scent = Scent::new("198.51.100.23", json!({
//!     "method": "POST",
//!     "path": "/search",
//!     "body": {"q": "'; DROP TABLE users; --"},
//! }))
//! .with_threat(Category::Injection, Severity::Critical);
//!
//! match tracehound.intercept(&scent) {
//!     Outcome::Quarantined(receipt) => println!("held as {}", receipt.signature()),
//!     Outcome::Ignored { signature } => println!("already held: {signature}"),
//!     Outcome::Clean | Outcome::Error(_) => { /* let the request through */ }
//!     other => println!("refused: {other:?}"),
//! }
//!
//! let snapshot = tracehound.snapshot();
//! assert_eq!(snapshot.quarantine.count, 1);
//! assert_eq!(snapshot.audit.size, 1);
//! assert!(events.try_recv().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The pipeline
//!
//! [`Tracehound::intercept`] is a plain synchronous method on `&self`, callable from any
//! thread or runtime:
//!
//! 1. the source key is rate limited (GCRA, hard cap on tracked keys) → [`Outcome::RateLimited`];
//! 2. no threat signal → [`Outcome::Clean`];
//! 3. the payload is canonicalized ([`CanonicalForm`]), stopping at the size and depth
//!    limits → [`Outcome::PayloadTooLarge`], or [`Outcome::Unencodable`] when it nests too
//!    deep;
//! 4. signature = category + SHA-256; already held → [`Outcome::Ignored`];
//! 5. insert, evicting the lowest (severity, capture time, insertion order) →
//!    [`Outcome::Quarantined`], or [`Outcome::Dropped`] if the newcomer ranks lowest;
//! 6. audit leaves for the insert and each eviction, and events, all without blocking.
//!
//! [`Outcome::passes`] turns the outcome into the decision: only `Clean` and `Error` (a
//! failure of tracehound itself) let the request through.
//!
//! # Guarantees
//!
//! - **Bounded**: the quarantine (count and bytes), the rate limiter's tracked keys, every
//!   subscriber queue and the number of subscribers have hard caps; the audit log keeps a
//!   constant-size frontier. [`Snapshot`] shows every figure.
//! - **Fail-open**: `intercept` never panics into the caller; internal failures become
//!   [`Outcome::Error`].
//! - **Payload-less outside the quarantine**: receipts, events, audit records, errors and logs
//!   carry signatures, hashes, sizes and source keys, never payload bytes. Evidence bytes are
//!   wiped when removed, and the encoding scratch buffer after every use.
//! - **Deterministic**: the same scents under the same [`clock::ManualClock`] give the same
//!   signatures, audit leaves and root.
//!
//! # What is not protected
//!
//! Tracehound does not detect anything: a threat without a signal passes as clean. The audit
//! log is durable only with a directory configured (`audit.dir`); without one it lives in
//! memory, and it and its signing key are lost on exit. Its checkpoints are signed on the
//! host, so they prove nothing against whoever controls the host unless they are kept
//! elsewhere too (see [`audit`]). A payload is still parsed by `serde_json` in the host
//! before tracehound sees it. Panics are caught only when the host is built with
//! unwinding (`panic = "unwind"`, the default). See `SECURITY.md` in the repository.
//!
//! # Features
//!
//! None yet; the crate has no async runtime, HTTP or cloud dependency.
#![forbid(unsafe_code)]

pub mod audit;
mod canonical;
pub mod clock;
mod config;
mod error;
mod events;
pub mod hound;
pub mod http;
#[doc(hidden)]
pub mod internal;
mod quarantine;
mod rate_limit;
mod scent;
mod signature;
mod snapshot;
mod tracehound;

pub use crate::audit::AuditCounts;
pub use crate::audit::writer::AuditLeaf;
pub use crate::canonical::{CanonicalForm, MAX_DEPTH, MAX_PAYLOAD_BYTES, canonicalize};
pub use crate::config::{
    AuditConfig, Config, EventsConfig, Exhaustion, HoundConfig, MaintenanceConfig,
    QuarantineConfig, RateLimitConfig,
};
pub use crate::error::{ConfigError, Error};
pub use crate::events::{Event, EventKind, Subscription};
pub use crate::quarantine::{EvictionCause, PurgeReason, Receipt, Removed};
pub use crate::scent::{
    Category, CustomCategory, MAX_CATEGORY_LEN, MAX_SOURCE_KEY_LEN, Scent, Severity, SourceKey,
    ThreatSignal,
};
pub use crate::signature::{Signature, signature};
pub use crate::snapshot::{
    AuditStats, EventStats, OutcomeCounts, QuarantineStats, RateLimitStats, SealedStats,
    SeverityCounts, Snapshot,
};
pub use crate::tracehound::{
    Admitted, AuditHead, Builder, Maintenance, Outcome, Replacement, Tracehound,
};
pub use tracehound_codec::Digest;

/// The README's example, compiled and run as a test.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;
