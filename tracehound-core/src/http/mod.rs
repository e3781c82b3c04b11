//! The HTTP policy every adapter shares: how a request becomes a [`Scent`], which client it
//! is keyed by, which detector flags it, and how the [`Outcome`] becomes a response.
//!
//! This module has no HTTP types and no runtime. A request is decided in two steps, so that
//! nothing is read from a client that is going to be refused anyway:
//!
//! 1. **The head.** The adapter describes the request line, headers and peer with a
//!    [`Head`] (its headers through the one-method [`Headers`] trait) and calls
//!    [`HttpPolicy::admit`]. The client key is computed and charged to the rate limit here:
//!    a limited source, or a keyless one under [`MissingKey::Reject`], is refused
//!    ([`Admission::Decided`]) before a byte of its body is read, and no `100 Continue` is
//!    owed to it. A request the detector cannot flag (for [`SignedVerdict`]: one without a
//!    verdict header) is decided here as well, and its body is never buffered.
//! 2. **The body.** Otherwise ([`Admission::ReadBody`]) the adapter buffers the body up to
//!    [`HttpPolicy::max_body_bytes`] in a [`BodyPrefix`], within
//!    [`HttpConfig::body_timeout`], and calls [`HttpPolicy::inspect_body`] with a
//!    [`Request`], or [`HttpPolicy::body_timed_out`] if the deadline passed first (408, and
//!    the buffered bytes are dropped).
//!
//! The adapter then either serves the request or writes the [`Rejection`] as its
//! [`Refusal`] says. No decision is taken in an adapter. [`HttpPolicy::inspect`] runs both
//! steps for a caller that already holds the whole request, as here:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use tracehound::http::{Decision, Head, Headers, HttpConfig, HttpPolicy, SignedVerdict};
//! use tracehound::{Config, Tracehound};
//!
//! /// Headers as a list of (lowercase name, value).
//! struct List(Vec<(&'static str, String)>);
//! impl Headers for List {
//!     fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8])) {
//!         self.0.iter().filter(|(n, _)| *n == name).for_each(|(_, v)| each(v.as_bytes()));
//!     }
//! }
//!
//! let mut config = Config::default();
//! config.rate_limit = None;
//! let tracehound = Tracehound::builder().config(config).build()?;
//! let waf = SignedVerdict::new(b"0123456789abcdef0123456789abcdef".to_vec())?;
//! let policy = HttpPolicy::new(tracehound, HttpConfig::default(), waf.clone())?;
//!
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let verdict = waf.sign("GET", "/search?q=1%27%20OR%201%3D1", now, "injection", "high");
//! let headers = List(vec![("tracehound-verdict", verdict)]);
//! let head = Head {
//!     method: "GET",
//!     path: "/search",
//!     query: Some("q=1%27%20OR%201%3D1"),
//!     headers: &headers,
//!     peer: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
//!     body_follows: false,
//! };
//! let inspection = policy.inspect(&head.with_body(b"", false));
//! let Decision::Reject(rejection) = inspection.decision else { panic!("a signed threat") };
//! assert_eq!(rejection.status, 403);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod client_key;
pub(crate) mod config;
mod redact;
mod refusal;
mod verdict;

use std::fmt;
use std::net::IpAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};

pub use self::body::BodyPrefix;
pub use self::client_key::{ClientKeySource, IpPrefix, IpPrefixError, KeyFn, MAX_HOPS};
pub use self::config::{HttpConfig, MissingKey, Responses};
pub use self::redact::{REDACTED, REDACTED_CARD};
pub use self::refusal::Refusal;
pub use self::verdict::{
    MAX_VERDICT_VALUES, MAX_VERDICTS, SignedVerdict, VERDICT_HEADER, VerdictError, VerdictStats,
};
use crate::config::ConfigError;
use crate::facade::{Admitted, Outcome, Tracehound};
use crate::scent::{Scent, SourceKey, ThreatSignal};
use client_key::Key;
use redact::Names;

/// The request headers, however the framework stores them.
pub trait Headers {
    /// Calls `each` with every value of header `name` (given in ASCII lowercase), in the
    /// order they arrived.
    fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8]));
}

/// A function from a header name to its values reads as [`Headers`], so a framework's map
/// needs no type of its own: `&|name: &str| map.get_all(name)` is one.
///
/// ```
/// use std::collections::HashMap;
/// use tracehound::http::Headers;
///
/// let map = HashMap::from([("x-forwarded-for", vec!["203.0.113.9", "198.51.100.7"])]);
/// let headers = |name: &str| map.get(name).cloned().unwrap_or_default();
/// let mut seen = Vec::new();
/// headers.each_value("x-forwarded-for", &mut |value| seen.push(value.to_vec()));
/// assert_eq!(seen, [b"203.0.113.9".to_vec(), b"198.51.100.7".to_vec()]);
/// ```
impl<F, I> Headers for F
where
    F: Fn(&str) -> I,
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8])) {
        for value in self(name) {
            each(value.as_ref());
        }
    }
}

/// The head of a request (everything but its body), as the policy sees it. Adapters fill it
/// from their framework's types.
#[derive(Clone, Copy)]
pub struct Head<'a> {
    /// The method, as sent (`GET`).
    pub method: &'a str,
    /// The path, as sent, without the query.
    pub path: &'a str,
    /// The raw query, without the `?`; `Some("")` when the target ends in `?`.
    pub query: Option<&'a str>,
    /// The headers.
    pub headers: &'a dyn Headers,
    /// The connection's peer address, if the server knows it.
    pub peer: Option<IpAddr>,
    /// Whether a body follows the head (a `Content-Length` above zero, or a chunked or
    /// streamed body). A refusal decided from the head then closes the connection, since
    /// the body is never read.
    pub body_follows: bool,
}

impl<'a> Head<'a> {
    /// The whole request: this head with `body`, the first
    /// [`HttpPolicy::max_body_bytes`] bytes of the body, and whether more followed them.
    pub fn with_body(self, body: &'a [u8], body_truncated: bool) -> Request<'a> {
        Request {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            peer: self.peer,
            body,
            body_truncated,
        }
    }

    /// The whole request: this head with the body read so far, as
    /// [`with_body`](Self::with_body) of the prefix's bytes and its truncation.
    pub fn with_prefix(self, prefix: &'a BodyPrefix) -> Request<'a> {
        self.with_body(prefix.as_bytes(), prefix.is_truncated())
    }
}

impl fmt::Debug for Head<'_> {
    /// Shows where the request went, never its content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A request as the policy sees it: its [`Head`] and the start of its body. Adapters build
/// it with [`Head::with_body`].
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The method, as sent (`GET`).
    pub method: &'a str,
    /// The path, as sent, without the query.
    pub path: &'a str,
    /// The raw query, without the `?`; `Some("")` when the target ends in `?`.
    pub query: Option<&'a str>,
    /// The headers.
    pub headers: &'a dyn Headers,
    /// The connection's peer address, if the server knows it.
    pub peer: Option<IpAddr>,
    /// The body, or its first [`HttpPolicy::max_body_bytes`] bytes.
    pub body: &'a [u8],
    /// Whether more body followed those bytes.
    pub body_truncated: bool,
}

impl<'a> Request<'a> {
    /// The head of this request.
    pub fn head(&self) -> Head<'a> {
        Head {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            peer: self.peer,
            body_follows: !self.body.is_empty() || self.body_truncated,
        }
    }
}

impl fmt::Debug for Request<'_> {
    /// Shows where the request went, never its content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("peer", &self.peer)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Decides whether a request is a threat. Tracehound never does; this is the seam where an
/// external detector's verdict comes in. Closures over the request implement it.
pub trait Detector: Send + Sync {
    /// The threat signal for `request`, or `None` when it is not flagged.
    fn detect(&self, request: &Request<'_>) -> Option<ThreatSignal>;

    /// Whether [`detect`](Self::detect) could flag the request with this head. When it
    /// cannot, the request passes as clean without its body being buffered. The default,
    /// `true`, buffers every body: right for detectors that read it.
    fn may_flag(&self, head: &Head<'_>) -> bool {
        let _ = head;
        true
    }
}

impl<F> Detector for F
where
    F: Fn(&Request<'_>) -> Option<ThreatSignal> + Send + Sync,
{
    fn detect(&self, request: &Request<'_>) -> Option<ThreatSignal> {
        self(request)
    }
}

/// A response that refuses the request. Its body never carries evidence.
///
/// To a gRPC call (`content-type: application/grpc...`) the refusal is a gRPC status in a
/// trailers-only response: `status` 200, an empty body, and `grpc-status` and
/// `grpc-message` among the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The HTTP status.
    pub status: u16,
    /// Headers to set (lowercase names).
    pub headers: Vec<(&'static str, String)>,
    /// A short plain-text body.
    pub body: &'static str,
}

/// Whether the request is a gRPC call (`content-type: application/grpc`, `+proto` and the
/// like).
fn is_grpc(headers: &dyn Headers) -> bool {
    let mut grpc = false;
    headers.each_value("content-type", &mut |value| {
        grpc |= value.len() >= 16 && value[..16].eq_ignore_ascii_case(b"application/grpc");
    });
    grpc
}

impl Rejection {
    /// Words this refusal as a gRPC status in a trailers-only response (HTTP 200, no body,
    /// `grpc-status` and `grpc-message` in the headers), which gRPC clients report as that
    /// status: an HTTP error with a text body would reach them as `INTERNAL`, whatever the
    /// reason. 403 is `PERMISSION_DENIED`, 429 and 413 `RESOURCE_EXHAUSTED`, 408
    /// `DEADLINE_EXCEEDED`; other statuses follow gRPC's HTTP-to-status mapping.
    fn as_grpc_status(&mut self) {
        let code = match self.status {
            401 => 16,
            403 => 7,
            404 => 12,
            408 => 4,
            413 | 429 => 8,
            502..=504 => 14,
            400 => 13,
            _ => 2,
        };
        let message = self.body.trim_end();
        self.headers.retain(|(name, _)| *name != "content-type");
        self.headers.extend([
            ("content-type", "application/grpc".to_owned()),
            ("grpc-status", code.to_string()),
            ("grpc-message", message.to_owned()),
        ]);
        self.status = 200;
        self.body = "";
    }

    /// Asks the server to close the connection after this response: its request's body was
    /// not read, so the connection cannot carry another request. (A client that kept it
    /// would send its next request after an unread body.)
    fn close_connection(&mut self) {
        if !self.headers.iter().any(|(name, _)| *name == "connection") {
            self.headers.push(("connection", "close".to_owned()));
        }
    }
}

/// Serve the request, or refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Hand the request (with its whole body) to the handler.
    Pass,
    /// Answer with this response instead.
    Reject(Rejection),
}

impl Decision {
    /// The response to send instead of serving the request, if any. A variant added later
    /// either returns its response here or is to be served, so adapters match on this.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Decision::Reject(rejection) => Some(rejection),
            Decision::Pass => None,
        }
    }
}

/// What the policy found and decided about a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// What to do with the request.
    pub decision: Decision,
    /// Tracehound's outcome; `None` when the request was not examined (no key with
    /// [`MissingKey::Pass`] or [`MissingKey::Reject`], a body that timed out, or a panic
    /// inside tracehound's part).
    pub outcome: Option<Outcome>,
}

impl Inspection {
    fn unexamined(decision: Decision) -> Inspection {
        Inspection {
            decision,
            outcome: None,
        }
    }
}

/// What [`HttpPolicy::admit`] decided from a request's head.
#[derive(Debug)]
#[must_use = "a request must be answered as admitted: decided now, or after its body"]
pub enum Admission {
    /// Decided without the body, which must not be read for inspection: refuse the request,
    /// or serve it with its body untouched.
    Decided(Inspection),
    /// Buffer the body (up to [`HttpPolicy::max_body_bytes`], within
    /// [`HttpPolicy::body_timeout`]), then call [`HttpPolicy::inspect_body`], or
    /// [`HttpPolicy::body_timed_out`] if the deadline passes first.
    ReadBody(BodyTicket),
}

/// A request admitted from its head whose body is awaited: its client key and its rate
/// limit charge. Used up by [`HttpPolicy::inspect_body`] or [`HttpPolicy::body_timed_out`];
/// while it lives, the request counts in [`HttpStats::reading_bodies`].
#[derive(Debug)]
#[must_use = "pass the ticket to inspect_body or body_timed_out"]
pub struct BodyTicket {
    source: SourceKey,
    admitted: Admitted,
    grpc: bool,
    _reading: Reading,
}

/// One request in [`HttpStats::reading_bodies`], for as long as it lives.
#[derive(Debug)]
struct Reading(Arc<Counters>);

impl Reading {
    fn start(counters: &Arc<Counters>) -> Reading {
        counters.reading_bodies.fetch_add(1, Ordering::Relaxed);
        Reading(Arc::clone(counters))
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.reading_bodies.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counters of the HTTP layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpStats {
    /// Requests inspected.
    pub requests: u64,
    /// Requests refused.
    pub rejected: u64,
    /// Requests that would have been refused, let through by dry-run mode.
    pub dry_run_passed: u64,
    /// Requests with no client key (including the unreadable ones below).
    pub missing_keys: u64,
    /// Requests whose trusted proxy's forwarding header names no readable client address.
    pub unreadable_keys: u64,
    /// Requests whose body was awaited for inspection, now (a gauge).
    pub reading_bodies: u64,
    /// Requests whose body did not arrive within [`HttpConfig::body_timeout`] (408).
    pub body_timeouts: u64,
    /// Panics caught inside tracehound's part of a request (the request passed).
    pub panics: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    rejected: AtomicU64,
    dry_run_passed: AtomicU64,
    missing_keys: AtomicU64,
    unreadable_keys: AtomicU64,
    reading_bodies: AtomicU64,
    body_timeouts: AtomicU64,
    panics: AtomicU64,
}

/// The policy an adapter applies to every request: one per service, shared by reference.
pub struct HttpPolicy {
    tracehound: Tracehound,
    detector: Arc<dyn Detector>,
    config: HttpConfig,
    headers: Vec<String>,
    redact_headers: Names,
    redact_fields: Names,
    counters: Arc<Counters>,
}

impl fmt::Debug for HttpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPolicy")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The key every keyless request shares under [`MissingKey::Shared`].
const UNKNOWN_SOURCE: &str = "unknown";

impl HttpPolicy {
    /// A policy feeding `tracehound`, flagging requests with `detector`.
    pub fn new(
        tracehound: Tracehound,
        config: HttpConfig,
        detector: impl Detector + 'static,
    ) -> Result<HttpPolicy, ConfigError> {
        config.validate()?;
        let headers = config
            .headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Ok(HttpPolicy {
            redact_headers: Names::new(&config.redact_headers),
            redact_fields: Names::new(&config.redact_fields),
            headers,
            tracehound,
            detector: Arc::new(detector),
            config,
            counters: Arc::default(),
        })
    }

    /// The `Tracehound` requests are fed to.
    pub fn tracehound(&self) -> &Tracehound {
        &self.tracehound
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Body bytes an adapter buffers before inspecting.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    /// How long an adapter waits for those bytes.
    pub fn body_timeout(&self) -> Duration {
        self.config.body_timeout
    }

    /// The counters so far.
    pub fn stats(&self) -> HttpStats {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HttpStats {
            requests: load(&c.requests),
            rejected: load(&c.rejected),
            dry_run_passed: load(&c.dry_run_passed),
            missing_keys: load(&c.missing_keys),
            unreadable_keys: load(&c.unreadable_keys),
            reading_bodies: load(&c.reading_bodies),
            body_timeouts: load(&c.body_timeouts),
            panics: load(&c.panics),
        }
    }

    /// Both steps at once, for a caller that holds the request's body (or its first
    /// [`max_body_bytes`](Self::max_body_bytes)) already: [`admit`](Self::admit) its head,
    /// then, if the body is needed, [`inspect_body`](Self::inspect_body).
    pub fn inspect(&self, request: &Request<'_>) -> Inspection {
        match self.admit(&request.head()) {
            Admission::Decided(inspection) => inspection,
            Admission::ReadBody(ticket) => self.inspect_body(ticket, request),
        }
    }

    /// The first step, from the request's head alone: the client key, the rate limit, and
    /// whether the body is needed at all. Never panics: a panic in the key source,
    /// detector or tracehound is caught, counted, and the request passes (fail-open).
    pub fn admit(&self, head: &Head<'_>) -> Admission {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        match panic::catch_unwind(AssertUnwindSafe(|| self.admit_head(head))) {
            Ok(Admission::Decided(mut inspection)) => {
                if head.body_follows
                    && let Decision::Reject(rejection) = &mut inspection.decision
                {
                    rejection.close_connection();
                }
                Admission::Decided(self.finish(inspection, is_grpc(head.headers)))
            }
            Ok(read) => read,
            Err(_) => Admission::Decided(self.panicked()),
        }
    }

    /// The second step, once the body is buffered: the detector, and tracehound's
    /// pipeline for the admitted source. Never panics (as [`admit`](Self::admit)).
    pub fn inspect_body(&self, ticket: BodyTicket, request: &Request<'_>) -> Inspection {
        let BodyTicket {
            source,
            admitted,
            grpc,
            ..
        } = ticket;
        let inspected = panic::catch_unwind(AssertUnwindSafe(|| {
            let scent = match self.detector.detect(request) {
                None => Scent::new(source, Value::Null),
                Some(threat) => Scent::new(source, self.describe(request)).with_signal(threat),
            };
            let outcome = self.tracehound.intercept_admitted(admitted, &scent);
            self.examined(outcome)
        }));
        match inspected {
            Ok(inspection) => self.finish(inspection, grpc),
            Err(_) => self.panicked(),
        }
    }

    /// The second step when the body did not arrive within
    /// [`body_timeout`](Self::body_timeout): 408 with `connection: close` (the adapter
    /// drops what it buffered), or, in dry-run mode, serve the request with what arrived
    /// and the rest of the body.
    pub fn body_timed_out(&self, ticket: BodyTicket) -> Inspection {
        let grpc = ticket.grpc;
        drop(ticket);
        self.counters.body_timeouts.fetch_add(1, Ordering::Relaxed);
        let rejection = Rejection {
            status: 408,
            headers: vec![
                ("connection", "close".to_owned()),
                ("content-type", "text/plain; charset=utf-8".to_owned()),
            ],
            body: "request body too slow\n",
        };
        self.finish(Inspection::unexamined(Decision::Reject(rejection)), grpc)
    }

    fn panicked(&self) -> Inspection {
        self.counters.panics.fetch_add(1, Ordering::Relaxed);
        tracing::error!("tracehound: a panic while inspecting a request; it passes");
        Inspection::unexamined(Decision::Pass)
    }

    /// Applies dry-run mode to a final decision, counts it, and words a refusal of a gRPC
    /// call as a gRPC status.
    fn finish(&self, mut inspection: Inspection, grpc: bool) -> Inspection {
        if grpc && let Decision::Reject(rejection) = &mut inspection.decision {
            rejection.as_grpc_status();
        }
        match inspection.decision {
            Decision::Reject(_) if self.config.dry_run => {
                self.counters.dry_run_passed.fetch_add(1, Ordering::Relaxed);
                Inspection {
                    decision: Decision::Pass,
                    outcome: inspection.outcome,
                }
            }
            Decision::Reject(_) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                inspection
            }
            Decision::Pass => inspection,
        }
    }

    fn examined(&self, outcome: Outcome) -> Inspection {
        Inspection {
            decision: self.respond(&outcome),
            outcome: Some(outcome),
        }
    }

    fn admit_head(&self, head: &Head<'_>) -> Admission {
        let source = match self.config.client_key.key(head, self.config.ipv6_prefix) {
            Key::Found(key) => key,
            missing => {
                self.counters.missing_keys.fetch_add(1, Ordering::Relaxed);
                if matches!(missing, Key::Unreadable) {
                    self.counters
                        .unreadable_keys
                        .fetch_add(1, Ordering::Relaxed);
                }
                match self.config.missing_key {
                    MissingKey::Shared => SourceKey::new(UNKNOWN_SOURCE),
                    MissingKey::Pass => {
                        return Admission::Decided(Inspection::unexamined(Decision::Pass));
                    }
                    MissingKey::Reject(status) => {
                        return Admission::Decided(Inspection::unexamined(Decision::Reject(
                            Rejection {
                                status,
                                headers: Vec::new(),
                                body: "no client address\n",
                            },
                        )));
                    }
                }
            }
        };
        let admitted = match self.tracehound.admit(&source) {
            Ok(admitted) => admitted,
            Err(outcome) => return Admission::Decided(self.examined(outcome)),
        };
        if !self.detector.may_flag(head) {
            // Clean traffic costs no buffering and no description.
            let outcome = self
                .tracehound
                .intercept_admitted(admitted, &Scent::new(source, Value::Null));
            return Admission::Decided(self.examined(outcome));
        }
        Admission::ReadBody(BodyTicket {
            source,
            admitted,
            grpc: is_grpc(head.headers),
            _reading: Reading::start(&self.counters),
        })
    }

    /// The evidence: method, path, query, allowed headers and body, redacted.
    fn describe(&self, request: &Request<'_>) -> Value {
        let mut map = Map::new();
        map.insert("method".into(), Value::String(request.method.to_owned()));
        map.insert(
            "path".into(),
            Value::String(
                redact::redact_cards(request.path).unwrap_or_else(|| request.path.to_owned()),
            ),
        );
        if let Some(query) = request.query {
            map.insert(
                "query".into(),
                Value::String(redact::redact_query(query, &self.redact_fields)),
            );
        }
        let mut headers = Map::new();
        for name in &self.headers {
            let mut values = Vec::new();
            request.headers.each_value(name, &mut |value| {
                values.push(if self.redact_headers.contains(name) {
                    REDACTED.to_owned()
                } else {
                    let text = String::from_utf8_lossy(value);
                    redact::redact_cards(&text).unwrap_or_else(|| text.into_owned())
                });
            });
            match values.len() {
                0 => {}
                1 => {
                    headers.insert(name.clone(), Value::String(values.remove(0)));
                }
                _ => {
                    headers.insert(
                        name.clone(),
                        Value::Array(values.into_iter().map(Value::String).collect()),
                    );
                }
            }
        }
        map.insert("headers".into(), Value::Object(headers));
        if !request.body.is_empty() {
            map.insert(
                "body".into(),
                self.body(request.body, request.body_truncated),
            );
        }
        if request.body_truncated {
            map.insert("body_truncated".into(), Value::Bool(true));
        }
        Value::Object(map)
    }

    fn body(&self, body: &[u8], truncated: bool) -> Value {
        if !truncated && let Ok(mut json) = serde_json::from_slice::<Value>(body) {
            redact::redact_json(&mut json, &self.redact_fields);
            return json;
        }
        match std::str::from_utf8(body) {
            Ok(text) => {
                Value::String(redact::redact_cards(text).unwrap_or_else(|| text.to_owned()))
            }
            Err(_) => {
                use base64::Engine as _;
                let mut map = Map::new();
                map.insert(
                    "base64".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                );
                Value::Object(map)
            }
        }
    }

    /// The response for `outcome`.
    fn respond(&self, outcome: &Outcome) -> Decision {
        let r = &self.config.responses;
        let (status, body) = match outcome {
            Outcome::Clean | Outcome::Error(_) => return Decision::Pass,
            Outcome::RateLimited { .. } => (r.rate_limited, "too many requests\n"),
            Outcome::PayloadTooLarge { .. } => (r.payload_too_large, "payload too large\n"),
            Outcome::Quarantined(_) => (r.quarantined, "forbidden\n"),
            Outcome::Ignored { .. } => (r.ignored, "forbidden\n"),
            Outcome::Dropped { .. } => (r.dropped, "forbidden\n"),
            Outcome::Unencodable { .. } => (r.unencodable, "forbidden\n"),
        };
        let Some(status) = status else {
            return Decision::Pass;
        };
        let mut headers = Vec::new();
        if let Outcome::RateLimited { retry_after } = outcome {
            // Whole seconds, rounded up and at least 1: "0" would invite an instant retry.
            let seconds = retry_after
                .as_secs()
                .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
                .max(1);
            headers.push(("retry-after", seconds.to_string()));
            // A source is limited only under a configured quota.
            if self.config.rate_limit_headers
                && let Some(quota) = &self.tracehound.config().rate_limit
            {
                headers.push(("x-ratelimit-limit", quota.requests.to_string()));
                headers.push(("x-ratelimit-remaining", "0".to_owned()));
                headers.push(("x-ratelimit-reset", seconds.to_string()));
            }
        }
        headers.push(("content-type", "text/plain; charset=utf-8".to_owned()));
        Decision::Reject(Rejection {
            status,
            headers,
            body,
        })
    }
}
