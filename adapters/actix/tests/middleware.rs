//! The middleware on a real listening actix-web server, driven by a real HTTP client; and
//! attacked over raw sockets: verdict stripping, refusal before the body, trickled and
//! stalled bodies, body-bound verdicts.

use std::error::Error;
use std::io::Cursor;
use std::net::{SocketAddr, TcpListener};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpServer, web};
use serde_json::{Value, json};
use tracehound::http::{
    ClientKeySource, Detector, HttpConfig, HttpPolicy, REDACTED, REDACTED_CARD, Request,
    SignedVerdict, VERDICT_HEADER,
};
use tracehound::{
    CanonicalForm, Category, Config, Outcome, RateLimitConfig, ThreatSignal, Tracehound,
};
use tracehound_actix::{Protect, inspection};
use tracehound_test_support::hostile::{self, BOUND_BODY, Continue, MARKED_TARGET, Marks};

type TestResult = Result<(), Box<dyn Error>>;

const SECRET: &[u8] = b"tracehound-actix test secret, 32 bytes or more";
const USER_AGENT: &str = "tracehound-actix-test";

/// The outcome the handler found in the request's extensions.
async fn outcome_name(req: HttpRequest) -> &'static str {
    match inspection(&req).and_then(|i| i.outcome) {
        Some(Outcome::Clean) => "clean",
        Some(Outcome::Quarantined(_)) => "quarantined",
        Some(_) => "other",
        None => "none",
    }
}

/// A server on an ephemeral port, on its own thread and actix system; stopped on drop.
struct Server {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(policy: &Arc<HttpPolicy>) -> Result<Server, Box<dyn Error>> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let protect = Protect::new(Arc::clone(policy));
        let (handle_tx, handle_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(protect.clone())
                        .route("/", web::get().to(|| async { "hello" }))
                        .route("/search", web::get().to(|| async { "results" }))
                        .route("/echo", web::post().to(|body: web::Bytes| async { body }))
                        .route("/ignore", web::post().to(|| async { "ignored" }))
                        .route("/inspection", web::get().to(outcome_name))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run();
                // The receiver outlives this send: `start` waits for it.
                let _ = handle_tx.send(server.handle());
                server.await
            })
        });
        let handle = handle_rx.recv()?;
        Ok(Server {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only reports completion, which
        // joining the thread waits for anyway.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .build()
        .new_agent()
}

fn tracehound(rate_limit: Option<RateLimitConfig>) -> Result<Tracehound, Box<dyn Error>> {
    Ok(Tracehound::builder()
        .rate_limit(rate_limit)
        .maintenance(None)
        .build()?)
}

/// `requests` a minute for each source, and a minute's block for one that exceeds it.
fn quota(requests: NonZeroU32) -> Option<RateLimitConfig> {
    let mut rate = RateLimitConfig::default();
    rate.requests = requests;
    rate.window = Duration::from_secs(60);
    rate.block = Duration::from_secs(60);
    Some(rate)
}

fn waf() -> Result<SignedVerdict, Box<dyn Error>> {
    Ok(SignedVerdict::new(SECRET.to_vec())?)
}

fn policy(
    tracehound: Tracehound,
    config: HttpConfig,
    detector: impl Detector + 'static,
) -> Result<Arc<HttpPolicy>, Box<dyn Error>> {
    Ok(Arc::new(HttpPolicy::new(tracehound, config, detector)?))
}

fn now() -> Result<u64, Box<dyn Error>> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// The signature tracehound gives `description` as injection evidence.
fn injection_signature(description: &Value) -> Result<tracehound::Signature, Box<dyn Error>> {
    Ok(tracehound::signature(
        Category::Injection,
        description,
        CanonicalForm::Jcs,
    )?)
}

/// `len` bytes of every value, so a lost, reordered or repeated chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn clean_requests_pass_with_their_inspection() -> TestResult {
    let policy = policy(tracehound(None)?, HttpConfig::default(), waf()?)?;
    let server = Server::start(&policy)?;
    let agent = agent();

    let mut hello = agent.get(server.url("/")).call()?;
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.body_mut().read_to_string()?, "hello");

    let mut seen = agent.get(server.url("/inspection")).call()?;
    assert_eq!(seen.body_mut().read_to_string()?, "clean");

    let stats = policy.stats();
    assert_eq!((stats.requests, stats.rejected), (2, 0));
    assert!(policy.tracehound().list().is_empty());
    Ok(())
}

#[test]
fn a_signed_injection_is_refused_and_its_evidence_held_redacted() -> TestResult {
    let waf = waf()?;
    let policy = policy(tracehound(None)?, HttpConfig::default(), waf.clone())?;
    let server = Server::start(&policy)?;
    let agent = agent();

    let target = "/echo?q=1%27%20OR%201%3D1&token=abc123";
    let body = r#"{"user":"alice","password":"hunter2","note":"card 4111 1111 1111 1111"}"#;
    let verdict = waf.sign("POST", target, now()?, "injection", "high");
    let send = || {
        agent
            .post(server.url(target))
            .header(VERDICT_HEADER, &verdict)
            .header("content-type", "application/json")
            .header("authorization", "Bearer s3cr3t")
            .header("cookie", "session=s3cr3t")
            .send(body)
    };

    let mut first = send()?;
    assert_eq!(first.status(), 403);
    assert_eq!(first.body_mut().read_to_string()?, "forbidden\n");

    let held = policy.tracehound().list();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].source().as_str(), "127.0.0.1");
    // What the policy describes, with every secret already replaced: hashing it must give
    // the signature of the evidence held, so no secret reached the quarantine.
    let expected = json!({
        "method": "POST",
        "path": "/echo",
        "query": format!("q=1%27%20OR%201%3D1&token={REDACTED}"),
        "headers": {
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            "host": server.host(),
            "authorization": REDACTED,
            "cookie": REDACTED,
        },
        "body": {
            "user": "alice",
            "password": REDACTED,
            "note": format!("card {REDACTED_CARD}"),
        },
    });
    assert_eq!(held[0].signature(), &injection_signature(&expected)?);

    // The same marking again: a threat already held (Ignored), still refused.
    let again = send()?;
    assert_eq!(again.status(), 403);
    assert_eq!(policy.tracehound().list().len(), 1);
    assert_eq!(policy.tracehound().snapshot().outcomes.ignored, 1);
    assert_eq!(waf.stats().accepted, 2);
    assert_eq!(policy.stats().rejected, 2);
    Ok(())
}

#[test]
fn forged_stale_and_misdirected_verdicts_are_ignored_and_counted() -> TestResult {
    let waf = waf()?;
    let policy = policy(tracehound(None)?, HttpConfig::default(), waf.clone())?;
    let server = Server::start(&policy)?;
    let agent = agent();
    let target = "/search?q=1%27%20OR%201%3D1";
    let marked = |verdict: &str| -> Result<u16, Box<dyn Error>> {
        let response = agent
            .get(server.url(target))
            .header(VERDICT_HEADER, verdict)
            .call()?;
        Ok(response.status().as_u16())
    };

    let wrong_secret = SignedVerdict::new(b"not the gateway's secret, 32 bytes".to_vec())?;
    let forged = wrong_secret.sign("GET", target, now()?, "injection", "high");
    assert_eq!(marked(&forged)?, 200);
    assert_eq!(waf.stats().forged, 1);

    let stale = waf.sign("GET", target, now()? - 600, "injection", "high");
    assert_eq!(marked(&stale)?, 200);
    assert_eq!(waf.stats().stale, 1);

    let elsewhere = waf.sign("GET", "/other?q=1", now()?, "injection", "high");
    assert_eq!(marked(&elsewhere)?, 200);
    assert_eq!(waf.stats().forged, 2);

    assert_eq!(waf.stats().accepted, 0);
    assert!(policy.tracehound().list().is_empty());
    Ok(())
}

#[test]
fn a_source_over_its_quota_gets_429_with_retry_after() -> TestResult {
    let policy = policy(
        tracehound(quota(NonZeroU32::MIN))?,
        HttpConfig::default(),
        waf()?,
    )?;
    let server = Server::start(&policy)?;
    let agent = agent();

    assert_eq!(agent.get(server.url("/")).call()?.status(), 200);
    let mut limited = agent.get(server.url("/")).call()?;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .ok_or("no retry-after")?
        .to_str()?
        .parse()?;
    assert!(retry_after >= 1, "retry-after {retry_after}");
    assert_eq!(limited.body_mut().read_to_string()?, "too many requests\n");
    Ok(())
}

#[test]
fn a_threat_too_large_to_keep_gets_413() -> TestResult {
    let waf = waf()?;
    let mut config = Config::default();
    config.rate_limit = None;
    config.maintenance = None;
    config.max_payload_bytes = NonZeroUsize::new(256).unwrap();
    let tracehound = Tracehound::builder().config(config).build()?;
    let policy = policy(tracehound, HttpConfig::default(), waf.clone())?;
    let server = Server::start(&policy)?;

    let verdict = waf.sign("POST", "/echo", now()?, "injection", "high");
    let response = agent()
        .post(server.url("/echo"))
        .header(VERDICT_HEADER, &verdict)
        .send("x".repeat(1024))?;
    assert_eq!(response.status(), 413);
    assert!(policy.tracehound().list().is_empty());
    Ok(())
}

#[test]
fn dry_run_serves_a_signed_threat_but_records_it() -> TestResult {
    let waf = waf()?;
    let mut config = HttpConfig::default();
    config.dry_run = true;
    let policy = policy(tracehound(None)?, config, waf.clone())?;
    let server = Server::start(&policy)?;

    let verdict = waf.sign("GET", "/inspection", now()?, "injection", "high");
    let mut response = agent()
        .get(server.url("/inspection"))
        .header(VERDICT_HEADER, &verdict)
        .call()?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_mut().read_to_string()?, "quarantined");
    assert_eq!(policy.stats().dry_run_passed, 1);
    assert_eq!(policy.stats().rejected, 0);
    assert_eq!(policy.tracehound().list().len(), 1);
    Ok(())
}

#[test]
fn a_panicking_detector_fails_open() -> TestResult {
    let detector = |_: &Request<'_>| -> Option<ThreatSignal> { panic!("a detector bug") };
    let policy = policy(tracehound(None)?, HttpConfig::default(), detector)?;
    let server = Server::start(&policy)?;

    let mut response = agent().get(server.url("/")).call()?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_mut().read_to_string()?, "hello");
    assert_eq!(policy.stats().panics, 1);
    Ok(())
}

#[test]
fn behind_a_trusted_proxy_the_rightmost_forwarded_address_is_the_key() -> TestResult {
    let waf = waf()?;
    let mut config = HttpConfig::default();
    config.client_key = ClientKeySource::RightmostForwardedFor {
        trusted_proxies: vec!["127.0.0.1".parse()?],
    };
    let policy = policy(tracehound(quota(NonZeroU32::MIN))?, config, waf.clone())?;
    let server = Server::start(&policy)?;
    let agent = agent();
    let status = |path: &str, forwarded_for: &str| -> Result<u16, Box<dyn Error>> {
        let response = agent
            .get(server.url(path))
            .header("x-forwarded-for", forwarded_for)
            .call()?;
        Ok(response.status().as_u16())
    };

    assert_eq!(status("/", "198.51.100.1, 203.0.113.9")?, 200);
    // The client wrote a different leftmost entry; the proxy's entry is the same client.
    assert_eq!(status("/", "198.51.100.2, 203.0.113.9")?, 429);
    // Another client behind the same proxy has its own quota.
    assert_eq!(status("/", "198.51.100.1, 203.0.113.10")?, 200);

    let verdict = waf.sign("GET", "/search", now()?, "injection", "high");
    let marked = agent
        .get(server.url("/search"))
        .header("x-forwarded-for", "10.9.9.9, 203.0.113.11")
        .header(VERDICT_HEADER, &verdict)
        .call()?;
    assert_eq!(marked.status(), 403);
    let held = policy.tracehound().list();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].source().as_str(), "203.0.113.11");
    Ok(())
}

#[test]
fn without_a_trusted_proxy_forwarded_for_never_changes_the_key() -> TestResult {
    let sources = [
        ClientKeySource::Peer,
        ClientKeySource::RightmostForwardedFor {
            trusted_proxies: Vec::new(),
        },
        ClientKeySource::RightmostForwardedFor {
            trusted_proxies: vec!["192.0.2.0/24".parse()?],
        },
    ];
    for source in sources {
        let waf = waf()?;
        let mut config = HttpConfig::default();
        config.client_key = source.clone();
        let policy = policy(
            tracehound(quota(NonZeroU32::MIN.saturating_add(1)))?,
            config,
            waf.clone(),
        )?;
        let server = Server::start(&policy)?;
        let agent = agent();

        let verdict = waf.sign("GET", "/search", now()?, "injection", "high");
        let marked = agent
            .get(server.url("/search"))
            .header("x-forwarded-for", "203.0.113.1")
            .header(VERDICT_HEADER, &verdict)
            .call()?;
        assert_eq!(marked.status(), 403, "{source:?}");
        let held = policy.tracehound().list();
        assert_eq!(held[0].source().as_str(), "127.0.0.1", "{source:?}");

        // The quota of 2 is spent by the marked request and this one, whatever they claim.
        let second = agent
            .get(server.url("/"))
            .header("x-forwarded-for", "203.0.113.2")
            .call()?;
        assert_eq!(second.status(), 200, "{source:?}");
        let third = agent
            .get(server.url("/"))
            .header("x-forwarded-for", "203.0.113.3")
            .call()?;
        assert_eq!(third.status(), 429, "{source:?}");
    }
    Ok(())
}

#[test]
fn bodies_reach_the_handler_intact_at_and_past_the_cap() -> TestResult {
    let mut config = HttpConfig::default();
    config.max_body_bytes = 1024;
    let policy = policy(tracehound(None)?, config, waf()?)?;
    let server = Server::start(&policy)?;
    let agent = agent();

    for len in [0, 1, 1023, 1024, 1025, 64 * 1024 + 7, 100 * 1024] {
        let body = pattern(len);
        let mut echoed = agent.post(server.url("/echo")).send(&body[..])?;
        assert_eq!(echoed.status(), 200, "{len} bytes");
        assert!(echoed.body_mut().read_to_vec()? == body, "{len} bytes");

        // The same, chunked (no Content-Length).
        let mut reader = Cursor::new(body.clone());
        let mut echoed = agent
            .post(server.url("/echo"))
            .send(ureq::SendBody::from_reader(&mut reader))?;
        assert_eq!(echoed.status(), 200, "{len} bytes, chunked");
        assert!(
            echoed.body_mut().read_to_vec()? == body,
            "{len} bytes, chunked"
        );
    }
    assert_eq!(policy.stats().rejected, 0);
    Ok(())
}

#[test]
fn evidence_holds_the_body_up_to_the_cap_and_marks_the_rest() -> TestResult {
    let waf = waf()?;
    let mut config = HttpConfig::default();
    config.max_body_bytes = 1024;
    config.dry_run = true;
    let policy = policy(tracehound(None)?, config, waf.clone())?;
    let server = Server::start(&policy)?;
    let agent = agent();

    let text: String = (0..100 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for len in [1024, 1025, 100 * 1024] {
        let body = &text[..len];
        let verdict = waf.sign("POST", "/echo", now()?, "injection", "high");
        let mut echoed = agent
            .post(server.url("/echo"))
            .header(VERDICT_HEADER, &verdict)
            .send(body)?;
        // Dry run: served, whole.
        assert_eq!(echoed.status(), 200, "{len} bytes");
        assert!(echoed.body_mut().read_to_string()? == body, "{len} bytes");

        let mut expected = json!({
            "method": "POST",
            "path": "/echo",
            "headers": { "user-agent": USER_AGENT, "host": server.host() },
            "body": &text[..len.min(1024)],
        });
        if len > 1024 {
            expected["body_truncated"] = Value::Bool(true);
        }
        let signature = injection_signature(&expected)?;
        let held = policy.tracehound().list();
        assert!(
            held.iter().any(|r| r.signature() == &signature),
            "{len} bytes: no evidence with the expected description"
        );
    }
    // 1025 bytes and 100 KiB have the same first KiB: one piece of evidence for both.
    assert_eq!(policy.tracehound().list().len(), 2);
    assert_eq!(policy.stats().dry_run_passed, 3);
    Ok(())
}

// Attacks over raw sockets, the cases every adapter shares (`tracehound-test-support`).

const BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// A server whose bodies must arrive within [`BODY_TIMEOUT`], and its policy.
fn hostile_server(
    rate_limit: Option<RateLimitConfig>,
) -> Result<(Server, Arc<HttpPolicy>), Box<dyn Error>> {
    let mut config = HttpConfig::default();
    config.body_timeout = BODY_TIMEOUT;
    let policy = policy(tracehound(rate_limit)?, config, waf()?)?;
    Ok((Server::start(&policy)?, policy))
}

fn marks() -> Result<Marks, Box<dyn Error>> {
    let (waf, now) = (waf()?, now()?);
    let other = SignedVerdict::new(b"another secret, also 32 bytes!!!".to_vec())?;
    Ok(Marks {
        valid: waf.sign("GET", MARKED_TARGET, now, "injection", "high"),
        forged: waf.sign("GET", "/search?q=2", now, "injection", "high"),
        stale: waf.sign("GET", MARKED_TARGET, now - 3600, "injection", "high"),
        other_key: other.sign("GET", MARKED_TARGET, now, "injection", "high"),
    })
}

fn marked_post() -> Result<String, Box<dyn Error>> {
    Ok(waf()?.sign("POST", "/echo", now()?, "injection", "high"))
}

#[test]
fn no_second_value_strips_a_valid_verdict() -> TestResult {
    let (server, policy) = hostile_server(None)?;
    let sent = hostile::no_value_strips_a_valid_verdict(server.addr, &marks()?)?;
    assert_eq!(policy.stats().rejected as usize, sent - 1);
    Ok(())
}

#[test]
fn a_limited_source_is_refused_before_its_body_is_read() -> TestResult {
    let (server, _policy) = hostile_server(quota(NonZeroU32::MIN))?;
    // actix-web's HTTP/1 dispatcher answers `Expect: 100-continue` itself before any
    // middleware runs; the refusal still comes without a body byte read.
    hostile::a_limited_source_is_refused_from_its_head(
        server.addr,
        &marked_post()?,
        Continue::Always,
    )?;
    Ok(())
}

#[test]
fn an_unmarked_request_is_served_without_waiting_for_its_body() -> TestResult {
    let (server, policy) = hostile_server(None)?;
    hostile::an_unmarked_request_does_not_wait_for_its_body(server.addr, Continue::Always)?;
    assert_eq!(policy.stats().reading_bodies, 0);
    Ok(())
}

#[test]
fn a_trickled_body_gets_408_at_the_deadline() -> TestResult {
    let (server, policy) = hostile_server(None)?;
    hostile::a_trickled_body_gets_408(server.addr, &marked_post()?, BODY_TIMEOUT)?;
    assert_eq!(policy.stats().body_timeouts, 1);
    Ok(())
}

#[test]
fn three_hundred_stalled_bodies_are_all_refused_and_released() -> TestResult {
    let (server, policy) = hostile_server(None)?;
    hostile::stalled_bodies_are_all_released(server.addr, &marked_post()?, 300, BODY_TIMEOUT)?;
    let stats = policy.stats();
    assert_eq!((stats.body_timeouts, stats.reading_bodies), (300, 0));
    Ok(())
}

#[test]
fn a_body_bound_verdict_flags_only_its_own_body() -> TestResult {
    let (server, policy) = hostile_server(None)?;
    let verdict = waf()?.sign_with_body("POST", "/echo", now()?, "injection", "high", BOUND_BODY);
    hostile::a_body_bound_verdict_holds_only_for_its_body(server.addr, &verdict)?;
    assert_eq!(policy.tracehound().snapshot().quarantine.count, 1);
    Ok(())
}

#[test]
fn a_limited_client_that_sends_its_body_anyway_reads_its_429() -> TestResult {
    let (server, _policy) = hostile_server(quota(NonZeroU32::MIN))?;
    hostile::a_limited_client_that_sends_its_body_reads_its_answer(server.addr)?;
    Ok(())
}
