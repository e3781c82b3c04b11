//! The tower layer's own cost per request, without a network: an axum `Router` answering
//! `hello`, called directly, bare and behind `TracehoundLayer`, for a clean request and for a
//! flagged one (a signed verdict for its own unique target, refused with 403). Run with
//! `cargo bench -p tracehound-benches --bench layer`.
//!
//! The HTTP load benchmark (`benches/http-load.sh`) measures the same layer under wrk, where
//! loopback TCP dominates and the machine's noise is larger than the layer's cost; this one
//! isolates the layer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches fail loudly

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower_service::Service;
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{Config, Tracehound};
use tracehound_tower::TracehoundLayer;

const SECRET: &[u8] = b"bench secret, 32 bytes of it....";

fn app(layered: bool) -> Router {
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .fallback(|| async { "hello" });
    if !layered {
        return app;
    }
    let mut config = Config::default();
    config.rate_limit = None;
    let tracehound = Tracehound::builder().config(config).build().unwrap();
    let waf = SignedVerdict::new(SECRET.to_vec()).unwrap();
    let policy = HttpPolicy::new(tracehound, HttpConfig::default(), waf).unwrap();
    app.layer(TracehoundLayer::new(policy))
}

/// A browser-like GET from one peer, with a verdict if given.
fn request(target: &str, verdict: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::get(target)
        .header("host", "shop.example")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Firefox/126.0",
        )
        .header("accept", "text/html,application/xhtml+xml");
    if let Some(verdict) = verdict {
        builder = builder.header("tracehound-verdict", verdict);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    let peer: SocketAddr = "198.51.100.7:50000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

/// Times `requests` through `app` on one current-thread runtime.
fn run(app: &mut Router, requests: Vec<http::Request<Body>>) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let started = Instant::now();
        for request in requests {
            let response = app.call(request).await.unwrap();
            std::hint::black_box(response.status());
        }
        started.elapsed()
    })
}

fn layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer");
    for layered in [false, true] {
        let name = if layered { "layer" } else { "bare" };
        let mut clean_app = app(layered);
        group.bench_function(format!("clean, {name}"), |b| {
            b.iter_custom(|iters| {
                let requests = (0..iters).map(|_| request("/", None)).collect();
                run(&mut clean_app, requests)
            });
        });
        let mut flagged_app = app(layered);
        let waf = SignedVerdict::new(SECRET.to_vec()).unwrap();
        let mut next = 0u64;
        group.bench_function(format!("flagged, {name}"), |b| {
            b.iter_custom(|iters| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let requests = (0..iters)
                    .map(|_| {
                        next += 1;
                        let target = format!("/search?q=%27%20OR%201%3D1--%20{next}");
                        let verdict = waf.sign("GET", &target, now, "injection", "high");
                        request(&target, Some(&verdict))
                    })
                    .collect();
                run(&mut flagged_app, requests)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
