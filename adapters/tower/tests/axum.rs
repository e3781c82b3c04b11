//! The layer in front of a real axum server on a loopback port, driven by a real HTTP client:
//! every outcome of the policy, client keys behind proxies, and bodies below, at and above
//! the buffering cap; and attacked over raw sockets: verdict stripping, refusal before the
//! body, trickled and stalled bodies, body-bound verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::Read;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Extension;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tracehound::http::{
    ClientKeySource, HttpConfig, HttpPolicy, Inspection, REDACTED, Request, SignedVerdict,
};
use tracehound::{
    CanonicalForm, Category, Config, RateLimitConfig, Receipt, ThreatSignal, Tracehound, signature,
};
use tracehound_test_support::hostile::{self, BOUND_BODY, Continue, MARKED_TARGET, Marks};
use tracehound_tower::TracehoundLayer;

const SECRET: &[u8] = b"test secret: 32 bytes of entropy";
const INJECTION: &str = "/search?q=1%27%20OR%201%3D1";

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

/// A quota of `requests` a minute with a minute's block, or none.
fn quota(requests: Option<u32>) -> Option<RateLimitConfig> {
    let requests = requests?;
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = NonZeroU32::new(requests).unwrap();
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    Some(rate_limit)
}

fn tracehound(rate_limit: Option<RateLimitConfig>, max_payload_bytes: usize) -> Tracehound {
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = rate_limit;
    config.max_payload_bytes = NonZeroUsize::new(max_payload_bytes).unwrap();
    Tracehound::builder().config(config).build().unwrap()
}

/// A server answering `GET /` with `hello`, `GET /search` with the outcome tracehound
/// recorded, `POST /echo` with the body it received, and `POST /ignore` without reading
/// its body.
struct Server {
    addr: SocketAddr,
    base: String,
    host: String,
    policy: Arc<HttpPolicy>,
    agent: ureq::Agent,
}

fn serve(policy: HttpPolicy) -> Server {
    let policy = Arc::new(policy);
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/search",
            get(|Extension(inspection): Extension<Inspection>| async move {
                format!("{:?}", inspection.outcome)
            }),
        )
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
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    Server {
        addr,
        base: format!("http://{addr}"),
        host: addr.to_string(),
        policy,
        agent: ureq::Agent::new_with_config(config),
    }
}

fn start(rate_limit: Option<RateLimitConfig>, config: HttpConfig) -> (Server, SignedVerdict) {
    let waf = waf();
    let policy = HttpPolicy::new(tracehound(rate_limit, 1_000_000), config, waf.clone()).unwrap();
    (serve(policy), waf)
}

/// A response's status, `retry-after` header and body.
struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Server {
    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: impl ureq::AsSendBody,
    ) -> Reply {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = self.agent.run(request.body(body).unwrap()).unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        Reply {
            status: response.status().as_u16(),
            retry_after,
            body: response
                .body_mut()
                .with_config()
                .limit(10 << 20)
                .read_to_vec()
                .unwrap(),
        }
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", target, headers, ())
    }

    fn post(&self, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.send("POST", target, headers, body)
    }

    fn receipts(&self) -> Vec<Receipt> {
        self.policy.tracehound().list()
    }
}

fn verdict(waf: &SignedVerdict, method: &str, target: &str) -> String {
    waf.sign(method, target, now(), "injection", "high")
}

#[test]
fn clean_requests_reach_the_handler_with_their_outcome() {
    let (server, waf) = start(quota(None), HttpConfig::default());
    let reply = server.get("/", &[]);
    assert_eq!((reply.status, reply.text()), (200, "hello".to_owned()));
    let reply = server.get("/search?q=rust", &[]);
    assert_eq!(
        (reply.status, reply.text()),
        (200, "Some(Clean)".to_owned())
    );
    let stats = server.policy.stats();
    assert_eq!((stats.requests, stats.rejected), (2, 0));
    assert!(server.receipts().is_empty());
    assert_eq!(waf.stats(), Default::default());
}

#[test]
fn a_signed_threat_is_refused_and_its_redacted_evidence_held() {
    let (server, waf) = start(quota(None), HttpConfig::default());
    let target = format!("{INJECTION}&password=hunter2");
    let marking = verdict(&waf, "GET", &target);
    let headers = [
        ("tracehound-verdict", marking.as_str()),
        ("user-agent", "tests"),
        ("authorization", "Bearer s3cr3t"),
        ("cookie", "session=abc"),
        ("x-not-kept", "anything"),
    ];
    let reply = server.get(&target, &headers);
    assert_eq!(
        (reply.status, reply.text()),
        (403, "forbidden\n".to_owned())
    );

    let receipts = server.receipts();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].source().as_str(), "127.0.0.1");
    // The evidence is not readable from outside; its signature is the hash of exactly this
    // description, so secrets were redacted before anything was hashed or kept.
    let expected = json!({
        "method": "GET",
        "path": "/search",
        "query": format!("q=1%27%20OR%201%3D1&password={REDACTED}"),
        "headers": {
            "user-agent": "tests",
            "host": server.host,
            "authorization": REDACTED,
            "cookie": REDACTED,
        },
    });
    assert_eq!(
        *receipts[0].signature(),
        signature(Category::Injection, &expected, CanonicalForm::Jcs).unwrap()
    );

    // A known threat stays blocked, and is held once.
    let reply = server.get(&target, &headers);
    assert_eq!(reply.status, 403);
    let snapshot = server.policy.tracehound().snapshot();
    assert_eq!(
        (snapshot.outcomes.quarantined, snapshot.outcomes.ignored),
        (1, 1)
    );
    assert_eq!(server.receipts().len(), 1);
    assert_eq!(waf.stats().accepted, 2);
    assert_eq!(server.policy.stats().rejected, 2);
}

#[test]
fn forged_stale_and_misdirected_verdicts_are_ignored_and_counted() {
    let (server, waf) = start(quota(None), HttpConfig::default());
    let impostor = SignedVerdict::new(b"not the secret, but as long as it".to_vec()).unwrap();
    let forged = verdict(&impostor, "GET", INJECTION);
    let stale = waf.sign("GET", INJECTION, now() - 600, "injection", "high");
    let elsewhere = verdict(&waf, "GET", "/other");
    for (marking, forged, stale) in [
        (forged.as_str(), 1, 0),
        (stale.as_str(), 1, 1),
        (elsewhere.as_str(), 2, 1),
    ] {
        let reply = server.get(INJECTION, &[("tracehound-verdict", marking)]);
        assert_eq!(
            (reply.status, reply.text()),
            (200, "Some(Clean)".to_owned())
        );
        let stats = waf.stats();
        assert_eq!(
            (stats.forged, stats.stale, stats.accepted),
            (forged, stale, 0)
        );
    }
    assert!(server.receipts().is_empty());
}

#[test]
fn a_source_over_its_quota_gets_429_with_retry_after() {
    let (server, _) = start(quota(Some(1)), HttpConfig::default());
    assert_eq!(server.get("/", &[]).status, 200);
    let reply = server.get("/", &[]);
    assert_eq!(
        (reply.status, reply.text()),
        (429, "too many requests\n".to_owned())
    );
    assert!(reply.retry_after.unwrap() >= 1);
}

#[test]
fn a_threat_too_large_to_keep_gets_413() {
    let waf = waf();
    let policy = HttpPolicy::new(
        tracehound(quota(None), 256),
        HttpConfig::default(),
        waf.clone(),
    )
    .unwrap();
    let server = serve(policy);
    let marking = verdict(&waf, "POST", "/echo");
    let reply = server.post("/echo", &[("tracehound-verdict", &marking)], &[b'a'; 1000]);
    assert_eq!(
        (reply.status, reply.text()),
        (413, "payload too large\n".to_owned())
    );
    assert!(server.receipts().is_empty());
    assert_eq!(
        server
            .policy
            .tracehound()
            .snapshot()
            .outcomes
            .payload_too_large,
        1
    );
}

#[test]
fn dry_run_records_threats_but_never_blocks() {
    let mut config = HttpConfig::default();
    config.dry_run = true;
    let (server, waf) = start(quota(None), config);
    let marking = verdict(&waf, "GET", INJECTION);
    let reply = server.get(INJECTION, &[("tracehound-verdict", &marking)]);
    assert_eq!(reply.status, 200);
    assert!(
        reply.text().starts_with("Some(Quarantined("),
        "{}",
        reply.text()
    );
    let stats = server.policy.stats();
    assert_eq!((stats.dry_run_passed, stats.rejected), (1, 0));
    assert_eq!(server.receipts().len(), 1);
}

#[test]
fn a_panicking_detector_lets_requests_through() {
    let detector = |_: &Request<'_>| -> Option<ThreatSignal> { panic!("a detector bug") };
    let policy = HttpPolicy::new(
        tracehound(quota(None), 1_000_000),
        HttpConfig::default(),
        detector,
    )
    .unwrap();
    let server = serve(policy);
    let reply = server.get("/", &[]);
    assert_eq!((reply.status, reply.text()), (200, "hello".to_owned()));
    assert_eq!(server.policy.stats().panics, 1);
}

#[test]
fn forwarded_for_is_read_from_the_right_and_only_from_trusted_proxies() {
    // Behind a trusted proxy (the client connects from 127.0.0.1), the rightmost entry is
    // the client, whatever the leftmost says.
    let mut config = HttpConfig::default();
    config.client_key = ClientKeySource::RightmostForwardedFor {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
    };
    let (server, waf) = start(quota(Some(1)), config);
    let xff = |value| [("x-forwarded-for", value)];
    assert_eq!(server.get("/", &xff("1.1.1.1, 203.0.113.9")).status, 200);
    assert_eq!(server.get("/", &xff("2.2.2.2, 203.0.113.9")).status, 429);
    assert_eq!(server.get("/", &xff("2.2.2.2, 203.0.113.10")).status, 200);
    let marking = verdict(&waf, "GET", INJECTION);
    let headers = [
        ("x-forwarded-for", "6.6.6.6, 203.0.113.50"),
        ("tracehound-verdict", &marking),
    ];
    assert_eq!(server.get(INJECTION, &headers).status, 403);
    assert_eq!(server.receipts()[0].source().as_str(), "203.0.113.50");

    // Without trusted proxies the header changes nothing: every request is the peer's.
    let (server, waf) = start(quota(Some(2)), HttpConfig::default());
    assert_eq!(server.get("/", &xff("203.0.113.9")).status, 200);
    let marking = verdict(&waf, "GET", INJECTION);
    let headers = [
        ("x-forwarded-for", "198.51.100.1"),
        ("tracehound-verdict", &marking),
    ];
    assert_eq!(server.get(INJECTION, &headers).status, 403);
    assert_eq!(server.receipts()[0].source().as_str(), "127.0.0.1");
    assert_eq!(server.get("/", &xff("198.51.100.2")).status, 429);
}

/// `len` bytes covering every byte value, in an order that catches reordering.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn handlers_receive_the_whole_body_below_at_and_above_the_cap() {
    let mut config = HttpConfig::default();
    config.max_body_bytes = 1024;
    let (server, _) = start(quota(None), config);
    for len in [0, 1, 1023, 1024, 1025, 4096, 100 * 1024] {
        let body = pattern(len);
        let reply = server.post("/echo", &[], &body);
        assert_eq!(reply.status, 200);
        assert!(reply.body == body, "a {len}-byte body arrived changed");
        // Chunked, in small reads: many frames, no announced length.
        let mut reader = SmallReads(&body);
        let reply = server.send(
            "POST",
            "/echo",
            &[],
            ureq::SendBody::from_reader(&mut reader),
        );
        assert_eq!(reply.status, 200);
        assert!(
            reply.body == body,
            "a chunked {len}-byte body arrived changed"
        );
    }
    assert_eq!(server.policy.stats().requests, 14);
}

/// A reader that hands out at most 300 bytes at a time.
struct SmallReads<'a>(&'a [u8]);

impl Read for SmallReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(300);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_long_threat_body_is_inspected_up_to_the_cap_and_delivered_whole() {
    let mut config = HttpConfig::default();
    config.max_body_bytes = 1024;
    config.dry_run = true;
    let (server, waf) = start(quota(None), config);
    let body: Vec<u8> = (0..100 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let marking = verdict(&waf, "POST", "/echo");
    let headers = [
        ("tracehound-verdict", marking.as_str()),
        ("user-agent", "tests"),
        ("content-type", "text/plain"),
    ];
    let reply = server.post("/echo", &headers, &body);
    assert_eq!(reply.status, 200);
    assert!(reply.body == body);
    let expected = json!({
        "method": "POST",
        "path": "/echo",
        "headers": {"user-agent": "tests", "content-type": "text/plain", "host": server.host},
        "body": Value::String(String::from_utf8(body[..1024].to_vec()).unwrap()),
        "body_truncated": true,
    });
    let receipts = server.receipts();
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        *receipts[0].signature(),
        signature(Category::Injection, &expected, CanonicalForm::Jcs).unwrap()
    );
}

// Attacks over raw sockets, the cases every adapter shares (`tracehound-test-support`).

const BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// A server whose bodies must arrive within [`BODY_TIMEOUT`].
fn hostile_server(rate_limit: Option<RateLimitConfig>) -> Server {
    let mut config = HttpConfig::default();
    config.body_timeout = BODY_TIMEOUT;
    start(rate_limit, config).0
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

#[test]
fn no_second_value_strips_a_valid_verdict() {
    let server = hostile_server(None);
    let (addr, policy) = (server.addr, &server.policy);
    let sent = hostile::no_value_strips_a_valid_verdict(addr, &marks()).unwrap();
    let snapshot = policy.tracehound().snapshot();
    // Every refused request was a threat; one piece of evidence per distinct description.
    assert_eq!(policy.stats().rejected as usize, sent - 1);
    assert!(snapshot.quarantine.count >= 1);
}

#[test]
fn a_limited_source_is_refused_before_its_body_is_read() {
    let addr = hostile_server(quota(Some(1))).addr;
    hostile::a_limited_source_is_refused_from_its_head(addr, &marked_post(), Continue::OnRead)
        .unwrap();
}

#[test]
fn an_unmarked_request_is_served_without_waiting_for_its_body() {
    let server = hostile_server(None);
    let (addr, policy) = (server.addr, &server.policy);
    hostile::an_unmarked_request_does_not_wait_for_its_body(addr, Continue::OnRead).unwrap();
    assert_eq!(policy.stats().reading_bodies, 0);
}

#[test]
fn a_trickled_body_gets_408_at_the_deadline() {
    let server = hostile_server(None);
    let (addr, policy) = (server.addr, &server.policy);
    hostile::a_trickled_body_gets_408(addr, &marked_post(), BODY_TIMEOUT).unwrap();
    assert_eq!(policy.stats().body_timeouts, 1);
}

#[test]
fn three_hundred_stalled_bodies_are_all_refused_and_released() {
    let server = hostile_server(None);
    let (addr, policy) = (server.addr, &server.policy);
    hostile::stalled_bodies_are_all_released(addr, &marked_post(), 300, BODY_TIMEOUT).unwrap();
    let stats = policy.stats();
    assert_eq!((stats.body_timeouts, stats.reading_bodies), (300, 0));
}

#[test]
fn a_body_bound_verdict_flags_only_its_own_body() {
    let server = hostile_server(None);
    let verdict = waf().sign_with_body("POST", "/echo", now(), "injection", "high", BOUND_BODY);
    hostile::a_body_bound_verdict_holds_only_for_its_body(server.addr, &verdict).unwrap();
    assert_eq!(server.policy.tracehound().snapshot().quarantine.count, 1);
}

#[test]
fn a_limited_client_that_sends_its_body_anyway_reads_its_429() {
    let addr = hostile_server(quota(Some(1))).addr;
    hostile::a_limited_client_that_sends_its_body_reads_its_answer(addr).unwrap();
}
