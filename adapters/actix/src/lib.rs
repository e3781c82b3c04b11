//! tracehound as actix-web middleware: every request is described, keyed and checked by a
//! [`tracehound::http::HttpPolicy`], and refused or served as the policy decides.
//!
//! # Contents
//!
//! - [`Protect`]: the middleware, for `App::wrap` (and `Scope::wrap`, `Resource::wrap`).
//! - [`ProtectService`], [`ProtectFuture`]: what actix-web builds from it.
//! - [`inspection`]: the policy's [`Inspection`](tracehound::http::Inspection) of a request
//!   that passed, for handlers.
//! - [`ActixHeaders`]: actix-web headers as the policy reads them.
//!
//! # Quick start
//!
//! ```
//! use actix_web::{App, test, web};
//! use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
//! use tracehound::Tracehound;
//! use tracehound_actix::Protect;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The secret your WAF or gateway signs its verdicts with (32 random bytes).
//! let waf = SignedVerdict::new(b"0123456789abcdef0123456789abcdef".to_vec())?;
//! let policy = HttpPolicy::new(Tracehound::builder().build()?, HttpConfig::default(), waf.clone())?;
//! let protect = Protect::new(policy);
//!
//! let peer: std::net::SocketAddr = "198.51.100.7:40000".parse()?;
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let verdict = waf.sign("GET", "/search?q=%27%20OR%201%3D1", now, "injection", "high");
//!
//! actix_web::rt::System::new().block_on(async {
//!     let app = test::init_service(
//!         App::new()
//!             .wrap(protect.clone())
//!             .route("/search", web::get().to(|| async { "results" })),
//!     )
//!     .await;
//!
//!     // Unflagged traffic is served.
//!     let plain = test::TestRequest::get().uri("/search?q=boots").peer_addr(peer);
//!     assert_eq!(test::call_service(&app, plain.to_request()).await.status(), 200);
//!
//!     // A request your WAF marked as an attack is refused, and its evidence is held.
//!     let marked = test::TestRequest::get()
//!         .uri("/search?q=%27%20OR%201%3D1")
//!         .insert_header(("tracehound-verdict", verdict))
//!         .peer_addr(peer);
//!     assert_eq!(test::call_service(&app, marked.to_request()).await.status(), 403);
//! });
//! assert_eq!(protect.policy().tracehound().list().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! On a real server, the same middleware wraps the app in every worker:
//!
//! ```no_run
//! # use actix_web::{App, HttpServer, web};
//! # use tracehound_actix::Protect;
//! # async fn run(protect: Protect) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(protect.clone())
//!         .route("/", web::get().to(|| async { "hello" }))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await
//! # }
//! ```
//!
//! `examples/actix.rs` is a complete server (`cargo run --release -p tracehound-actix
//! --example actix`).
//!
//! # What the middleware does
//!
//! For each request, in order:
//!
//! 1. Describes the request's head to
//!    [`HttpPolicy::admit`](tracehound::http::HttpPolicy::admit): method, path and query as
//!    received, headers, and the connection's peer address
//!    ([`ServiceRequest::peer_addr`](actix_web::dev::ServiceRequest::peer_addr), never
//!    `realip_remote_addr`, which believes headers: forwarding headers are honoured only
//!    through the policy's [`ClientKeySource`](tracehound::http::ClientKeySource) and its
//!    trusted proxies). The client key is charged to the rate limit here, so a limited
//!    source is refused **before any of its body is read**; a request the detector cannot
//!    flag (with [`SignedVerdict`](tracehound::http::SignedVerdict): one without a verdict
//!    header) is served at once, its payload untouched and never waited for.
//! 2. Otherwise reads the body up to
//!    [`HttpPolicy::max_body_bytes`](tracehound::http::HttpPolicy::max_body_bytes) (holding
//!    at most one more chunk, to learn whether more follows), within
//!    [`HttpConfig::body_timeout`](tracehound::http::HttpConfig::body_timeout): a body still
//!    incomplete then gets 408 with `connection: close`, and what was read is dropped. The
//!    buffered bytes go to
//!    [`HttpPolicy::inspect_body`](tracehound::http::HttpPolicy::inspect_body), and the
//!    handler is given a payload that yields them followed by the rest of the original
//!    stream. **The handler always receives the whole, unchanged body**, whatever its size.
//! 3. No decision is taken here: keys, detection, rate limiting, quarantine, redaction,
//!    dry-run and the statuses are all the policy's. On
//!    [`Decision::Reject`](tracehound::http::Decision::Reject), answers with the
//!    rejection's status, headers and short plain-text body without calling the handler;
//!    the response body is `EitherBody::Right`. On `Decision::Pass`, stores the
//!    [`Inspection`](tracehound::http::Inspection) in the request's extensions and calls the
//!    inner service (`EitherBody::Left`, untouched).
//!
//! **`Expect: 100-continue`**: actix-web's HTTP/1 server answers it with `100 Continue`
//! itself, before any middleware runs, and offers no hook to change that. A refused client
//! is therefore invited to send its body, but the middleware never reads it: the refusal
//! goes out at once and the connection is not kept for the body. (The tower layer on
//! hyper refuses without sending `100 Continue`.)
//!
//! With the default [`Responses`](tracehound::http::Responses):
//!
//! | Outcome | Status |
//! | --- | --- |
//! | `Clean`, `Error` (tracehound failed: fail-open) | served |
//! | `RateLimited` | 429, with `Retry-After` in whole seconds (at least 1) |
//! | the body did not arrive within `body_timeout` | 408, `connection: close` |
//! | `PayloadTooLarge` (the evidence is over `max_payload_bytes`) | 413 |
//! | `Quarantined`, `Ignored`, `Dropped`, `Unencodable` | 403 |
//! | a panic in the detector, key source or tracehound | served, counted in `HttpStats::panics` |
//!
//! Where verdicts come from: [`SignedVerdict`](tracehound::http::SignedVerdict) believes
//! the signed `Tracehound-Verdict` header of an upstream WAF or gateway (its documentation
//! has the wire format); any other [`Detector`](tracehound::http::Detector) plugs in the
//! same way.
//!
//! # Failing open
//!
//! - A body read error (the client hung up mid-body, a malformed chunk): the request is
//!   still inspected on its headers and the bytes read so far, flagged as truncated; if it
//!   passes, the handler reads those bytes and then the same error, as it would have
//!   without the middleware.
//! - A panic inside the policy, or a tracehound failure: the request is served (the
//!   policy's rule).
//!
//! # What it does not do
//!
//! - It does not detect attacks: a [`Detector`](tracehound::http::Detector) does.
//! - It inspects the body as received: `Content-Encoding` is not decoded, and bytes past
//!   `max_body_bytes` reach the handler but not the evidence.
//! - It does not look at responses, or at WebSocket messages after an upgrade.
//! - It does not deduce the client from headers: configure the policy's
//!   [`ClientKeySource`](tracehound::http::ClientKeySource) when behind a proxy.
//!
//! # Feature flags
//!
//! None. The crate enables no actix-web feature; the application chooses them (HTTP/2,
//! TLS, compression).
#![forbid(unsafe_code)]

mod body;
mod headers;
mod protect;
mod service;

pub use crate::headers::ActixHeaders;
pub use crate::protect::Protect;
pub use crate::service::{ProtectFuture, ProtectService, inspection};
