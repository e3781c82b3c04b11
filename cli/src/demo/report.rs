//! The report printed once the demo is over, every figure computed from the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use tracehound::hound::{Analysis, FactValue, HoundOutcome, HoundStats, HoundWorkers, LostWorker};
use tracehound::http::{HttpStats, VerdictStats};
use tracehound::{AuditStats, Digest, Snapshot};

use super::audit::AuditDemo;
use super::call::NESTING;
use super::client::{CLIENT_THREADS, Traffic};
use super::cold::ColdDemo;
use super::format::group;
use super::server::SERVER_THREADS;
use super::workload::{ATTACK_REPEATS, Forgery, Mix};

/// Every figure the report shows.
pub(super) struct Results<'a> {
    pub(super) addr: SocketAddr,
    pub(super) mix: &'a Mix,
    pub(super) traffic: &'a Traffic,
    pub(super) http: HttpStats,
    pub(super) verdicts: VerdictStats,
    pub(super) snapshot: &'a Snapshot,
    /// Evidence held that verified intact.
    pub(super) verified: usize,
    pub(super) audit: &'a AuditDemo,
    pub(super) cold: &'a ColdDemo,
    pub(super) events: &'a BTreeMap<&'static str, u64>,
    pub(super) events_lost: u64,
    /// The hound analysis of the evidence the proof is for.
    pub(super) analysis: Option<&'a Analysis>,
    /// Whether the pool finished its jobs before the report.
    pub(super) hound_drained: bool,
    /// Whether every slot had checked its worker just before the report.
    pub(super) hound_settled: bool,
    /// The pool's workers at report time, and those it lost.
    pub(super) workers: &'a HoundWorkers,
}

pub(super) fn report(results: &Results<'_>) {
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
    print_cold(results.cold);
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

fn print_cold(demo: &ColdDemo) {
    let c = &demo.stats;
    println!("Cold storage  {}", demo.url);
    println!(
        "  evacuated {} ({} already there)   spooled {}   retried {}   lost {}   {} bytes of \
         envelopes",
        group(c.uploaded),
        group(c.existing),
        group(c.spooled),
        group(c.retried),
        group(c.dropped),
        group(c.bytes),
    );
    println!(
        "  {} checkpoint(s) exported   spool now {} file(s)   {} piece(s) listed from object keys",
        group(c.checkpoints),
        group(c.spool_files as u64),
        group(demo.listed as u64),
    );
    match &demo.sample {
        Some((entry, Ok(size))) => {
            println!("  one object: {}", entry.evidence_key);
            println!(
                "    read back and verified: envelope, SHA-256, manifest; {size} payload bytes \
                 hash to {}",
                entry.signature
            );
        }
        Some((entry, Err(error))) => {
            println!(
                "  one object: {} FAILED verification: {error}",
                entry.evidence_key
            );
        }
        None => println!("  no object to read back"),
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
    println!(
        "  to cold storage: evacuated {}   cold-dropped {}   erased {}",
        group(rec.evacuated),
        group(rec.cold_dropped),
        group(rec.erased),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
