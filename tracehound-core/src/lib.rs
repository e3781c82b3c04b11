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
//! # Layout
//!
//! Dependencies inside the crate point one way, bottom to top (decision record 0010 in
//! the repository draws them, and a test checks every `use`):
//!
//! 1. **model**: [`clock`], [`random`], scents, canonical encoding, signatures, evidence
//!    values ([`Receipt`], [`AuditLeaf`]) and configuration errors;
//! 2. **rooms**: the quarantine, the rate limiter, the [`audit`] log, the [`hound`] pool, and
//!    the [`cold`] store seam; each has its own error type and config, and none imports
//!    another floor above it;
//! 3. **events and snapshot**: what the rooms tell the world;
//! 4. **facade**: [`Tracehound`], which owns the rooms, turns the quarantine's changes into
//!    audit leaves and events, and answers with one [`Error`] type;
//! 5. **[`http`]**: the HTTP policy that adapters call.
//!
//! # Features
//!
//! - `toml` (default): [`Config::from_toml`] and [`Config::from_toml_file`].
//! - `sandbox` (default): the hound workers' Linux sandbox (seccomp, landlock, rlimits).
//!   Without it a worker runs unsandboxed and reports so, and a pool with
//!   `hound.require_sandbox` (the default) refuses it.
//!
//! The crate has no async runtime, HTTP or cloud dependency with any features.
#![forbid(unsafe_code)]

// model
mod canonical;
pub mod clock;
mod config;
mod evidence;
pub mod random;
mod scent;
mod signature;
// rooms
pub mod audit;
pub mod cold;
pub mod hound;
mod quarantine;
mod rate_limit;
// what the rooms tell
mod error;
mod events;
mod snapshot;
// the facade, and the HTTP policy over it
mod facade;
pub mod http;
// for fuzz targets and tests only; not a stable API
#[doc(hidden)]
pub mod internal;

pub use crate::audit::{AuditConfig, AuditStats, SealedStats};
pub use crate::canonical::{
    CanonicalForm, EncodeError, MAX_DEPTH, MAX_PAYLOAD_BYTES, canonicalize,
};
pub use crate::config::ConfigError;
pub use crate::error::{Error, SubscribeError};
pub use crate::events::{Event, EventKind, EventsConfig, Subscription};
pub use crate::evidence::{AuditLeaf, EvictionCause, PurgeReason, Receipt, Removed};
pub use crate::facade::{
    Admitted, AuditHead, AuditReader, Builder, Config, ErasedEvidence, Erasure, Maintenance,
    MaintenanceConfig, Observer, Outcome, Replacement, Tracehound,
};
pub use crate::hound::{Exhaustion, HoundConfig};
pub use crate::quarantine::QuarantineConfig;
pub use crate::rate_limit::RateLimitConfig;
pub use crate::scent::{
    Category, CustomCategory, MAX_CATEGORY_LEN, MAX_SOURCE_KEY_LEN, ParseError, Scent, Severity,
    SourceKey, ThreatSignal,
};
pub use crate::signature::{Signature, signature};
pub use crate::snapshot::{
    EventStats, OutcomeCounts, QuarantineStats, RateLimitStats, SeverityCounts, Snapshot,
};
pub use tracehound_codec::Digest;

/// The README's example, compiled and run as a test.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;
