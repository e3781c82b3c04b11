//! The middleware on a real actix-web server, attacked over raw sockets: verdict stripping,
//! refusal before the body, trickled and stalled bodies, body-bound verdicts.

use std::error::Error;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{MaintenanceConfig, RateLimitConfig, Tracehound};
use tracehound_actix::Protect;
use tracehound_test_support::hostile::{self, Continue, MARKED_TARGET, Marks};
use tracehound_test_support::{RawClient, request_bytes};

type TestResult = Result<(), Box<dyn Error>>;

const SECRET: &[u8] = b"tracehound-actix test secret, 32 bytes or more";
const BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// `/` says hello, `/search` results, `/echo` returns its body, `/ignore` never reads its
/// body; all behind the middleware, on its own thread; stopped on drop.
struct Server {
    addr: SocketAddr,
    policy: Arc<HttpPolicy>,
    handle: ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(rate_limit: RateLimitConfig) -> Result<Server, Box<dyn Error>> {
        let tracehound = Tracehound::builder()
            .rate_limit(rate_limit)
            .maintenance(MaintenanceConfig::manual())
            .build()?;
        let mut config = HttpConfig::default();
        config.body_timeout = BODY_TIMEOUT;
        let policy = Arc::new(HttpPolicy::new(tracehound, config, waf()?)?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let protect = Protect::new(Arc::clone(&policy));
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
            policy,
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now() -> Result<u64, Box<dyn Error>> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

fn waf() -> Result<SignedVerdict, Box<dyn Error>> {
    Ok(SignedVerdict::new(SECRET.to_vec())?)
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
    let server = Server::start(RateLimitConfig::disabled())?;
    let sent = hostile::no_value_strips_a_valid_verdict(server.addr, &marks()?)?;
    assert_eq!(server.policy.stats().rejected as usize, sent - 1);
    Ok(())
}

#[test]
fn a_limited_source_is_refused_before_its_body_is_read() -> TestResult {
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = 1;
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    let server = Server::start(rate_limit)?;
    let mut client = RawClient::connect(server.addr)?;
    client.send(&request_bytes(
        "GET",
        "/",
        &[("Host", "t"), ("Connection", "close")],
        b"",
    ))?;
    assert_eq!(client.read_response()?.head.status, 200);
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
    let server = Server::start(RateLimitConfig::disabled())?;
    hostile::an_unmarked_request_does_not_wait_for_its_body(server.addr, Continue::Always)?;
    assert_eq!(server.policy.stats().reading_bodies, 0);
    Ok(())
}

#[test]
fn a_trickled_body_gets_408_at_the_deadline() -> TestResult {
    let server = Server::start(RateLimitConfig::disabled())?;
    hostile::a_trickled_body_gets_408(server.addr, &marked_post()?, BODY_TIMEOUT)?;
    assert_eq!(server.policy.stats().body_timeouts, 1);
    Ok(())
}

#[test]
fn three_hundred_stalled_bodies_are_all_refused_and_released() -> TestResult {
    let server = Server::start(RateLimitConfig::disabled())?;
    hostile::stalled_bodies_are_all_released(server.addr, &marked_post()?, 300, BODY_TIMEOUT)?;
    let stats = server.policy.stats();
    assert_eq!((stats.body_timeouts, stats.reading_bodies), (300, 0));
    Ok(())
}

#[test]
fn a_body_bound_verdict_flags_only_its_own_body() -> TestResult {
    let server = Server::start(RateLimitConfig::disabled())?;
    let body = br#"{"q":"' OR 1=1 --"}"#;
    let verdict = waf()?.sign_with_body("POST", "/echo", now()?, "injection", "high", body);
    let send = |body: &[u8]| -> Result<tracehound_test_support::Response, Box<dyn Error>> {
        let len = body.len().to_string();
        let headers = [
            ("Host", "t"),
            ("Connection", "close"),
            ("Content-Length", len.as_str()),
            ("Tracehound-Verdict", verdict.as_str()),
        ];
        let mut client = RawClient::connect(server.addr)?;
        client.send(&request_bytes("POST", "/echo", &headers, body))?;
        Ok(client.read_response()?)
    };
    assert_eq!(send(body)?.head.status, 403);
    let replayed = send(b"{\"q\":\"the attacker's own body\"}")?;
    assert_eq!(
        replayed.head.status, 200,
        "a replay with another body is not believed"
    );
    assert_eq!(replayed.body, b"{\"q\":\"the attacker's own body\"}");
    assert_eq!(server.policy.tracehound().snapshot().quarantine.count, 1);
    Ok(())
}

#[test]
fn a_limited_client_that_sends_its_body_anyway_reads_its_429() -> TestResult {
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = 1;
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    let server = Server::start(rate_limit)?;
    let mut client = RawClient::connect(server.addr)?;
    client.send(&request_bytes(
        "GET",
        "/",
        &[("Host", "t"), ("Connection", "close")],
        b"",
    ))?;
    assert_eq!(client.read_response()?.head.status, 200);
    hostile::a_limited_client_that_sends_its_body_reads_its_answer(server.addr)?;
    Ok(())
}
