//! tracehound as a tower middleware: every request to an axum, tonic or hyper service is
//! inspected by a [`tracehound::http::HttpPolicy`] before the service sees it.
//!
//! # Quick start (axum)
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use axum::{Router, body::Body, extract::ConnectInfo, routing::get};
//! use tower_service::Service;
//! use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
//! use tracehound::Tracehound;
//! use tracehound_tower::TracehoundLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The secret your WAF or gateway signs its verdicts with (32 random bytes).
//! let waf = SignedVerdict::new(b"0123456789abcdef0123456789abcdef".to_vec())?;
//! let policy = HttpPolicy::new(Tracehound::builder().build()?, HttpConfig::default(), waf)?;
//! let mut app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(TracehoundLayer::new(policy));
//!
//! // A server would do: axum::serve(listener,
//! //     app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! // which gives the layer each request's peer address, as this request has:
//! let peer: SocketAddr = "198.51.100.7:50000".parse()?;
//! let mut request = http::Request::get("/").body(Body::empty())?;
//! request.extensions_mut().insert(ConnectInfo(peer));
//! let response = app.call(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/axum.rs` is a complete server: `cargo run --release -p tracehound-tower
//! --example axum`.
//!
//! # What the middleware does
//!
//! For each request it
//!
//! 1. describes the request's head to [`HttpPolicy::admit`]: method, path and query as
//!    received, headers (read in place, not copied) and the peer address. The client key
//!    is charged to the rate limit here, so a limited source is refused **before its body
//!    is polled**: hyper then sends no `100 Continue` and reads no body byte. A request the
//!    detector cannot flag (with [`SignedVerdict`]: one without a verdict header) goes to
//!    the inner service at once, its body untouched and never waited for;
//! 2. otherwise reads the body up to [`HttpPolicy::max_body_bytes`] (64 KiB by default; at
//!    most one frame past that), within [`HttpConfig::body_timeout`] (10 s by default): a
//!    body still incomplete then gets 408 with `connection: close`, and what was read is
//!    dropped. The timer is tokio's (every axum, tonic and hyper-util server runs on
//!    tokio); outside a tokio runtime with timers the body is awaited without a deadline.
//!    The buffered bytes go to [`HttpPolicy::inspect_body`], with `body_truncated` set
//!    when the body goes on past them;
//! 3. answers a [`Decision::Reject`] itself, with the policy's status, headers and short
//!    plain-text body, without calling the inner service;
//! 4. otherwise calls the inner service with the request, its [`Inspection`] added to the
//!    extensions (so a handler can see what tracehound decided, useful in dry-run mode),
//!    and its body as a [`RequestBody`]: the buffered bytes followed by the rest of the
//!    original stream, so the handler always receives the whole body, trailers included.
//!
//! Every decision is the policy's: this crate only extracts, calls and maps, so it behaves
//! exactly like the other tracehound adapters.
//!
//! **Peer address**: from axum's `ConnectInfo<SocketAddr>` extension (feature `axum`, set
//! by `into_make_service_with_connect_info::<SocketAddr>()`), tonic's `TcpConnectInfo`
//! (feature `tonic`), or else from a plain
//! [`std::net::SocketAddr`] extension, which a hyper server inserts itself before calling
//! the service. Without either, the policy's `missing_key` setting applies (by default all
//! such requests share one key, `unknown`). Which address or header the client is keyed by
//! is [`HttpConfig::client_key`](tracehound::http::HttpConfig); forwarding headers count
//! only from configured trusted proxies.
//!
//! **Body errors fail open**: if the body fails while it is being buffered, the policy
//! inspects the bytes read so far (marked truncated) and, if it lets the request pass, the
//! inner service receives those bytes followed by the same error, so the handler fails as
//! it would have without the middleware.
//!
//! **Status mapping** (the defaults of
//! [`Responses`](tracehound::http::Responses); each can be changed or turned off):
//!
//! | tracehound outcome | response |
//! | --- | --- |
//! | `Clean`, `Error` (tracehound itself failed: fail-open) | the inner service's |
//! | `RateLimited` | 429 with `Retry-After` (whole seconds, at least 1) |
//! | the body did not arrive within `body_timeout` | 408, `connection: close` |
//! | `PayloadTooLarge` (the threat's evidence is over `max_payload_bytes`) | 413 |
//! | `Quarantined`, `Ignored` (already held), `Dropped`, `Unencodable` | 403 |
//! | a panic in the detector or tracehound | the inner service's (counted in [`HttpPolicy::stats`]) |
//! | anything, with `HttpConfig::dry_run` | the inner service's (counted as `dry_run_passed`) |
//!
//! With tonic (any request whose `content-type` is `application/grpc...`), a refusal is a
//! gRPC status in a trailers-only response: HTTP 200, no body, `grpc-status` and
//! `grpc-message` in the headers. A gRPC client reports 403 as `PERMISSION_DENIED`, 429
//! and 413 as `RESOURCE_EXHAUSTED` (with `retry-after` in the metadata for 429) and 408 as
//! `DEADLINE_EXCEEDED`; a plain HTTP error with a text body would reach a tonic client as
//! `INTERNAL`, whatever the reason. tonic keeps the peer address in a
//! `TcpConnectInfo` extension: enable this crate's `tonic` feature and the layer reads it;
//! without the feature, copy its `remote_addr()` into a `SocketAddr` extension in a layer in
//! front of this one (`tests/tonic.rs` does), or every tonic client falls under
//! `missing_key`.
//!
//! # Signed verdicts
//!
//! Tracehound detects nothing. The detector usually is [`SignedVerdict`]: it believes the
//! verdict an upstream WAF or gateway puts in a header,
//!
//! ```text
//! Tracehound-Verdict: category=<c>,severity=<s>,ts=<unix seconds>[,body=<hex>],sig=<hex>
//! ```
//!
//! where `sig` is the hex HMAC-SHA256, under the shared secret, of
//! `METHOD "\n" path-and-query "\n" ts "\n" category "\n" severity ["\n" body]`, with
//! `path-and-query` the request target exactly as received (`/search?q=1`) and `body` the
//! optional SHA-256 of the whole body. A request is flagged when any of its verdicts is
//! believed, so values a client adds cannot strip one; a verdict that is forged, signed
//! for another request or body, or older than the window (300 s by default) is ignored and
//! counted ([`SignedVerdict::stats`]). See [`SignedVerdict`] for the details; any other
//! [`Detector`](tracehound::http::Detector), closures included, plugs in the same way.
//!
//! # What is not protected
//!
//! - Nothing is detected here: an unflagged attack passes as clean.
//! - Only the first `max_body_bytes` of a body are inspected and kept as evidence; a
//!   compressed body (`Content-Encoding`) is inspected as it was sent, not decompressed.
//! - The path is the one the layer sees: in axum, put the layer on the outermost `Router`,
//!   since a nested router's services see the path without its prefix (and verdicts are
//!   signed over the full target).
//! - Responses are not inspected.
//! - Buffering costs up to `max_body_bytes` (plus one frame) per request in flight that
//!   carries a verdict header (or that the detector may flag), for at most `body_timeout`. Bound concurrency and body sizes with layers in front of
//!   this one (for example tower-http's `RequestBodyLimitLayer` and a concurrency limit).
//!
//! # Features
//!
//! - `axum` (default): read the peer address from axum's `ConnectInfo<SocketAddr>`.
//! - `tonic`: read the peer address from tonic's `TcpConnectInfo`.
//!
//! [`HttpPolicy::max_body_bytes`]: tracehound::http::HttpPolicy::max_body_bytes
//! [`HttpPolicy::admit`]: tracehound::http::HttpPolicy::admit
//! [`HttpPolicy::inspect_body`]: tracehound::http::HttpPolicy::inspect_body
//! [`HttpConfig::body_timeout`]: tracehound::http::HttpConfig::body_timeout
//! [`HttpPolicy::stats`]: tracehound::http::HttpPolicy::stats
//! [`Decision::Reject`]: tracehound::http::Decision::Reject
//! [`Inspection`]: tracehound::http::Inspection
//! [`SignedVerdict`]: tracehound::http::SignedVerdict
//! [`SignedVerdict::stats`]: tracehound::http::SignedVerdict::stats
#![forbid(unsafe_code)]

mod body;
mod future;
mod head;
mod layer;
mod service;

pub use crate::body::{RequestBody, ResponseBody};
pub use crate::future::ResponseFuture;
pub use crate::layer::TracehoundLayer;
pub use crate::service::TracehoundService;
