//! The layer in front of a real axum server, attacked over raw sockets: verdict stripping,
//! refusal before the body, trickled and stalled bodies, body-bound verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{RateLimitConfig, Tracehound};
use tracehound_test_support::hostile::{self, Continue, MARKED_TARGET, Marks};
use tracehound_test_support::{RawClient, request_bytes};
use tracehound_tower::TracehoundLayer;

const SECRET: &[u8] = b"test secret: 32 bytes of entropy";
const BODY_TIMEOUT: Duration = Duration::from_secs(1);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn waf() -> SignedVerdict {
    SignedVerdict::new(SECRET.to_vec()).unwrap()
}

fn marks() -> Marks {
    let waf = waf();
    let other = SignedVerdict::new(b"another secret, also 32 bytes!!!".to_vec()).unwrap();
    Marks {
        valid: waf.sign("GET", MARKED_TARGET, now(), "injection", "high"),
        forged: waf.sign("GET", "/search?q=2", now(), "injection", "high"),
        stale: waf.sign("GET", MARKED_TARGET, now() - 3600, "injection", "high"),
        other_key: other.sign("GET", MARKED_TARGET, now(), "injection", "high"),
    }
}

fn marked_post() -> String {
    waf().sign("POST", "/echo", now(), "injection", "high")
}

/// `/` says hello, `/search` results, `/echo` returns its body, `/ignore` never reads its
/// body; all behind the layer.
fn serve(rate_limit: RateLimitConfig) -> (SocketAddr, Arc<HttpPolicy>) {
    let tracehound = Tracehound::builder()
        .rate_limit(rate_limit)
        .build()
        .unwrap();
    let mut config = HttpConfig::default();
    config.body_timeout = BODY_TIMEOUT;
    let policy = Arc::new(HttpPolicy::new(tracehound, config, waf()).unwrap());
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/search", get(|| async { "results" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/ignore", post(|| async { "ignored" }))
        .layer(TracehoundLayer::new(Arc::clone(&policy)));
    let listener = runtime()
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime().spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    (addr, policy)
}

fn one_a_minute() -> RateLimitConfig {
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = 1;
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    rate_limit
}

#[test]
fn no_second_value_strips_a_valid_verdict() {
    let (addr, policy) = serve(RateLimitConfig::disabled());
    let sent = hostile::no_value_strips_a_valid_verdict(addr, &marks()).unwrap();
    let snapshot = policy.tracehound().snapshot();
    // Every refused request was a threat; one piece of evidence per distinct description.
    assert_eq!(policy.stats().rejected as usize, sent - 1);
    assert!(snapshot.quarantine.count >= 1);
}

#[test]
fn a_limited_source_is_refused_before_its_body_is_read() {
    let (addr, _policy) = serve(one_a_minute());
    let mut client = RawClient::connect(addr).unwrap();
    client
        .send(&request_bytes(
            "GET",
            "/",
            &[("Host", "t"), ("Connection", "close")],
            b"",
        ))
        .unwrap();
    assert_eq!(client.read_response().unwrap().head.status, 200);
    hostile::a_limited_source_is_refused_from_its_head(addr, &marked_post(), Continue::OnRead)
        .unwrap();
}

#[test]
fn an_unmarked_request_is_served_without_waiting_for_its_body() {
    let (addr, policy) = serve(RateLimitConfig::disabled());
    hostile::an_unmarked_request_does_not_wait_for_its_body(addr, Continue::OnRead).unwrap();
    assert_eq!(policy.stats().reading_bodies, 0);
}

#[test]
fn a_trickled_body_gets_408_at_the_deadline() {
    let (addr, policy) = serve(RateLimitConfig::disabled());
    hostile::a_trickled_body_gets_408(addr, &marked_post(), BODY_TIMEOUT).unwrap();
    assert_eq!(policy.stats().body_timeouts, 1);
}

#[test]
fn three_hundred_stalled_bodies_are_all_refused_and_released() {
    let (addr, policy) = serve(RateLimitConfig::disabled());
    hostile::stalled_bodies_are_all_released(addr, &marked_post(), 300, BODY_TIMEOUT).unwrap();
    let stats = policy.stats();
    assert_eq!((stats.body_timeouts, stats.reading_bodies), (300, 0));
}

#[test]
fn a_body_bound_verdict_flags_only_its_own_body() {
    let (addr, policy) = serve(RateLimitConfig::disabled());
    let body = br#"{"q":"' OR 1=1 --"}"#;
    let verdict = waf().sign_with_body("POST", "/echo", now(), "injection", "high", body);
    let send = |body: &[u8]| {
        let len = body.len().to_string();
        let headers = [
            ("Host", "t"),
            ("Connection", "close"),
            ("Content-Length", len.as_str()),
            ("Tracehound-Verdict", verdict.as_str()),
        ];
        let mut client = RawClient::connect(addr).unwrap();
        client
            .send(&request_bytes("POST", "/echo", &headers, body))
            .unwrap();
        client.read_response().unwrap()
    };
    assert_eq!(send(body).head.status, 403);
    let replayed = send(b"{\"q\":\"the attacker's own body\"}");
    assert_eq!(
        replayed.head.status, 200,
        "a replay with another body is not believed"
    );
    assert_eq!(replayed.body, b"{\"q\":\"the attacker's own body\"}");
    assert_eq!(policy.tracehound().snapshot().quarantine.count, 1);
}

#[test]
fn a_limited_client_that_sends_its_body_anyway_reads_its_429() {
    let (addr, _policy) = serve(one_a_minute());
    let mut client = RawClient::connect(addr).unwrap();
    client
        .send(&request_bytes(
            "GET",
            "/",
            &[("Host", "t"), ("Connection", "close")],
            b"",
        ))
        .unwrap();
    assert_eq!(client.read_response().unwrap().head.status, 200);
    hostile::a_limited_client_that_sends_its_body_reads_its_answer(addr).unwrap();
}
