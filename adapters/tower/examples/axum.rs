//! An axum service protected by tracehound.
//!
//! ```text
//! cargo run --release -p tracehound-tower --example axum
//! curl -s 127.0.0.1:3000/                       # hello
//! curl -s --data-binary @Cargo.toml 127.0.0.1:3000/echo   # the body's length
//! ```
//!
//! Environment:
//! - `TRACEHOUND_ADDR`: where to listen (default `127.0.0.1:3000`);
//! - `TRACEHOUND_WAF_SECRET`: the secret (at least 16 bytes, 32 random ones recommended)
//!   the upstream WAF signs its `Tracehound-Verdict` headers with. Without it, a random
//!   secret is used, so no verdict verifies and every request passes as unflagged.
//!
//! Ctrl-C stops the server and prints the counters.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{Config, RateLimitConfig, Tracehound};
use tracehound_tower::TracehoundLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("TRACEHOUND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let waf = SignedVerdict::new(waf_secret()?)?;

    // The default quota (100 requests a minute, 5 minute block) suits an API called by
    // programs. Browsers load pages with dozens of requests at once, and many users can
    // share one address behind a NAT, so a web front gets 6,000 a minute (100 a second)
    // with bursts of 300, and a source over it is refused for 60 s, not 5 minutes.
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = NonZeroU32::try_from(6_000)?;
    rate_limit.window = Duration::from_secs(60);
    rate_limit.burst = Some(NonZeroU32::try_from(300)?);
    rate_limit.block = Duration::from_secs(60);
    let mut config = Config::default();
    config.rate_limit = Some(rate_limit);
    let tracehound = Tracehound::builder().config(config).build()?;
    let policy = Arc::new(HttpPolicy::new(tracehound, HttpConfig::default(), waf)?);

    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/echo",
            post(|body: Bytes| async move { format!("{}\n", body.len()) }),
        )
        .layer(TracehoundLayer::new(Arc::clone(&policy)));

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        // If the signal handler cannot be installed, serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await?;

    let snapshot = policy.tracehound().snapshot();
    println!("{:?}", policy.stats());
    println!("quarantined evidence: {}", snapshot.quarantine.count);
    Ok(())
}

/// `TRACEHOUND_WAF_SECRET`, or a random secret nobody knows.
fn waf_secret() -> Result<Vec<u8>, getrandom::Error> {
    if let Some(secret) = std::env::var_os("TRACEHOUND_WAF_SECRET") {
        return Ok(secret.into_encoded_bytes());
    }
    eprintln!(
        "TRACEHOUND_WAF_SECRET is not set: using a random secret, so no verdict can be \
         verified (every request passes as unflagged) until it is set"
    );
    let mut secret = vec![0; 32];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}
