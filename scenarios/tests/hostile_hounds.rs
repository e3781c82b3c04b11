//! Hostile hound workers, as real sandboxed processes: one that crashes, hangs, floods
//! stdout, claims a 4 GB frame, allocates without bound, forks, opens a socket or writes a
//! file (and, beyond the list, one that smuggles text into a label or answers for a
//! job that does not exist). For each, the host survives, the job gets the right outcome, the worker is
//! replaced (the next job is analysed by a fresh one), and the sandbox blocked what it
//! should. Also the exhaustion policies, and the TypeScript pool's timeout cascade (§4.B2).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tracehound::hound::{Analysis, FactValue, HoundOutcome, Violation, WorkerLoss};
use tracehound::{
    Category, EventKind, Exhaustion, HoundConfig, Outcome, PurgeReason, Scent, Severity, Signature,
    Subscription, Tracehound,
};
use tracehound_scenarios::config;

const HOSTILE: &str = env!("CARGO_BIN_EXE_hostile-hound");

fn hound(mode: &str) -> HoundConfig {
    let mut hound = HoundConfig::new(HOSTILE);
    hound.args = vec![mode.to_owned()];
    hound.workers = NonZeroUsize::new(1).unwrap();
    hound.job_timeout = Duration::from_secs(2);
    hound.address_space = 256 << 20;
    hound
}

fn start(hound: HoundConfig) -> (Tracehound, Subscription) {
    let mut config = config();
    config.rate_limit = None;
    config.hound = Some(hound);
    let th = Tracehound::builder().config(config).build().unwrap();
    let events = th.subscribe(4096).unwrap();
    (th, events)
}

fn quarantine(th: &Tracehound, text: &str) -> Signature {
    let scent = Scent::new("203.0.113.9", json!({"body": text}))
        .with_threat(Category::Injection, Severity::High);
    match th.intercept(&scent) {
        Outcome::Quarantined(receipt) => receipt.signature().clone(),
        other => panic!("expected Quarantined, got {other:?}"),
    }
}

/// Waits for the analysis of `signature` to be published.
fn analysis(events: &Subscription, signature: &Signature) -> Arc<Analysis> {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Some(event) = events.recv_timeout(Duration::from_millis(100))
            && let EventKind::EvidenceAnalysed(analysis) = event.into_kind()
            && analysis.signature == *signature
        {
            return analysis;
        }
    }
    panic!("no analysis of {signature} within 20 s");
}

fn fact(analysis: &Analysis, analyzer: &str, name: &str) -> FactValue {
    let HoundOutcome::Analysed(report) = &analysis.outcome else {
        panic!("expected a report, got {:?}", analysis.outcome);
    };
    report
        .findings
        .iter()
        .filter(|f| f.analyzer == analyzer)
        .flat_map(|f| &f.facts)
        .find(|f| f.name == name)
        .map(|f| f.value.clone())
        .unwrap_or_else(|| panic!("no fact {analyzer}/{name}"))
}

/// Runs one hostile job, checks its outcome, then checks that a replacement worker analyses
/// a benign job and that the host's books agree.
fn hostile_job(mode: &str, check: impl FnOnce(&Analysis)) {
    let mut config = hound(mode);
    if mode == "alloc" {
        // Touching 200-odd MiB takes a while on a loaded machine; only "hang" needs the short
        // timeout.
        config.job_timeout = Duration::from_secs(20);
    }
    let (th, events) = start(config);
    let bad = quarantine(&th, "hostile");
    let analysed = analysis(&events, &bad);
    check(&analysed);
    assert_eq!(th.analysis(&bad).as_deref(), Some(&*analysed));

    let good = quarantine(&th, "benign");
    let next = analysis(&events, &good);
    assert!(
        matches!(next.outcome, HoundOutcome::Analysed(_)),
        "{mode}: the replacement worker did not analyse the next job: {:?}",
        next.outcome
    );
    assert_eq!(fact(&next, "hostile", "triggered"), FactValue::Flag(false));
    assert!(next.job > analysed.job);

    let stats = th.snapshot().hound;
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.live, 1, "{mode}: a worker is running after the job");
    let snapshot = th.snapshot();
    assert_eq!(snapshot.audit.records.analysed, 2);
}

#[test]
fn a_crashing_worker_is_reported_and_replaced() {
    hostile_job("crash", |a| {
        assert_eq!(
            a.outcome,
            HoundOutcome::Crashed {
                code: Some(3),
                signal: None
            }
        );
        assert_eq!(a.digest, None);
        assert!(a.audit_leaf.is_some());
    });
}

#[test]
fn a_hanging_worker_times_out_and_is_killed() {
    hostile_job("hang", |a| {
        assert_eq!(a.outcome, HoundOutcome::TimedOut);
        assert!(a.duration >= Duration::from_secs(2));
        assert!(a.duration < Duration::from_secs(4));
    });
}

#[test]
fn a_worker_flooding_stdout_is_a_protocol_violation() {
    hostile_job("flood", |a| {
        assert!(
            matches!(
                a.outcome,
                HoundOutcome::ProtocolViolation(
                    Violation::OversizedFrame | Violation::MalformedFrame
                )
            ),
            "{:?}",
            a.outcome
        );
    });
}

#[test]
fn a_4gb_frame_claim_is_refused_after_four_bytes() {
    hostile_job("bigframe", |a| {
        assert_eq!(
            a.outcome,
            HoundOutcome::ProtocolViolation(Violation::OversizedFrame)
        );
    });
}

#[test]
fn allocation_stops_at_the_address_space_limit() {
    hostile_job("alloc", |a| {
        let FactValue::Count(mib) = fact(a, "hostile", "alloc.mib") else {
            panic!("alloc.mib is not a count");
        };
        // 256 MiB of address space, part of it taken by the executable and its libraries.
        assert!(mib > 0 && mib < 256, "allocated {mib} MiB");
    });
}

#[test]
fn an_unchecked_allocation_past_the_limit_aborts_the_worker() {
    hostile_job("oom", |a| {
        assert_eq!(
            a.outcome,
            HoundOutcome::Crashed {
                code: None,
                signal: Some(6) // SIGABRT from the failed allocation
            }
        );
    });
}

#[test]
fn fork_is_a_sandbox_violation() {
    hostile_job("fork", |a| {
        assert_eq!(a.outcome, HoundOutcome::SandboxViolation);
    });
}

#[test]
fn a_socket_is_a_sandbox_violation() {
    hostile_job("socket", |a| {
        assert_eq!(a.outcome, HoundOutcome::SandboxViolation);
    });
}

#[test]
fn writing_a_file_is_a_sandbox_violation_and_no_file_appears() {
    let path = std::path::Path::new("/tmp/tracehound-hostile-hound-file");
    let _ = std::fs::remove_file(path);
    hostile_job("file", |a| {
        assert_eq!(a.outcome, HoundOutcome::SandboxViolation);
    });
    assert!(!path.exists(), "the sandboxed worker created a file");
}

#[test]
fn a_report_smuggling_text_in_a_label_is_refused() {
    hostile_job("label", |a| {
        assert_eq!(
            a.outcome,
            HoundOutcome::ProtocolViolation(Violation::InvalidReport)
        );
    });
}

#[test]
fn an_answer_for_another_job_is_refused() {
    hostile_job("wrongjob", |a| {
        assert_eq!(
            a.outcome,
            HoundOutcome::ProtocolViolation(Violation::WrongJob)
        );
    });
}

#[test]
fn a_report_about_other_evidence_is_refused() {
    hostile_job("forge", |a| {
        assert_eq!(
            a.outcome,
            HoundOutcome::ProtocolViolation(Violation::InvalidReport)
        );
    });
}

/// A worker that answers correctly and then burns CPU while idle (one that lies about its
/// sandbox, as an exploited worker could) is replaced by the periodic idle check.
#[test]
fn a_worker_spinning_while_idle_is_replaced() {
    let (th, events) = start(hound("spin-idle"));
    let signature = quarantine(&th, "benign");
    assert!(matches!(
        analysis(&events, &signature).outcome,
        HoundOutcome::Analysed(_)
    ));
    let until = Instant::now() + Duration::from_secs(15);
    while th.snapshot().hound.idle_failures == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = th.snapshot().hound;
    assert_eq!(stats.idle_failures, 1);
    assert_eq!(
        stats.idle_deaths, 0,
        "it was killed for spinning, it did not die"
    );
    assert_eq!(stats.respawns, 0, "no job was charged for it");
    let lost = th.hound_workers().lost;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(
        (lost[0].job, lost[0].cause),
        (None, WorkerLoss::BurnedCpuWhileIdle)
    );
    let until = Instant::now() + Duration::from_secs(5);
    while th.snapshot().hound.spawns < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(th.snapshot().hound.spawns, 2);
}

/// Evidence erased while its job waits in the defer queue is never sent to a worker.
#[test]
fn evidence_erased_before_its_job_runs_is_not_analysed() {
    let mut config = hound("hang");
    config.job_timeout = Duration::from_millis(500);
    let (th, events) = start(config);
    let hung = quarantine(&th, "hostile");
    let erased = quarantine(&th, "benign, to be erased");
    let kept = quarantine(&th, "benign, kept");
    th.purge(&erased, PurgeReason::Erasure).unwrap();
    assert_eq!(analysis(&events, &hung).outcome, HoundOutcome::TimedOut);
    let a = analysis(&events, &kept);
    assert!(matches!(a.outcome, HoundOutcome::Analysed(_)));
    let stats = th.snapshot().hound;
    assert_eq!(stats.gone, 1);
    assert_eq!(th.analysis(&erased), None);
    assert_eq!(th.snapshot().audit.records.analysed, 2);
}

/// The TypeScript pool bound exits to the slot, not the job: after one timeout, every
/// deferred job failed with the dead process's exit (§4.B2). Here each job gets its own
/// outcome.
#[test]
fn one_timeout_does_not_cascade_through_the_defer_queue() {
    let mut config = hound("hang");
    config.job_timeout = Duration::from_millis(500);
    config.on_exhausted = Exhaustion::Defer;
    config.defer_queue = NonZeroUsize::new(8).unwrap();
    let (th, events) = start(config);
    let hung = quarantine(&th, "hostile");
    let benign: Vec<_> = (0..3)
        .map(|n| quarantine(&th, &format!("benign {n}")))
        .collect();
    assert_eq!(analysis(&events, &hung).outcome, HoundOutcome::TimedOut);
    for signature in &benign {
        let a = th
            .analysis(signature)
            .unwrap_or_else(|| analysis(&events, signature));
        assert!(
            matches!(a.outcome, HoundOutcome::Analysed(_)),
            "{:?}",
            a.outcome
        );
    }
    let stats = th.snapshot().hound;
    assert_eq!((stats.timeouts, stats.analysed), (1, 3));
    assert_eq!(stats.respawns, 1);
}

#[test]
fn exhaustion_policies_drop_defer_and_escalate_without_blocking() {
    for policy in [Exhaustion::Drop, Exhaustion::Defer, Exhaustion::Escalate] {
        let mut config = hound("hang");
        config.on_exhausted = policy;
        config.defer_queue = NonZeroUsize::new(2).unwrap();
        let (th, events) = start(config);
        let hung = quarantine(&th, "hostile");
        // Wait until the only worker holds the hanging job.
        let until = Instant::now() + Duration::from_secs(5);
        while th.snapshot().hound.busy == 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        for n in 0..5 {
            quarantine(&th, &format!("benign {n}"));
        }
        // Offering never waits on the busy worker.
        assert!(started.elapsed() < Duration::from_secs(1));
        let stats = th.snapshot().hound;
        let expected_queued = if policy == Exhaustion::Defer { 2 } else { 0 };
        assert_eq!(stats.queue_depth, expected_queued, "{policy:?}");
        assert_eq!(stats.exhausted, 5 - expected_queued as u64, "{policy:?}");
        let escalations = events
            .drain()
            .filter(|e| matches!(e.kind(), EventKind::AnalysisEscalated { .. }))
            .count();
        let expected = if policy == Exhaustion::Escalate { 5 } else { 0 };
        assert_eq!(escalations, expected, "{policy:?}");
        drop(hung);
    }
}

/// A worker killed from outside in the middle of a job: the job is charged with the crash
/// (signal 9), the pool names the worker it lost and the job it had, and a replacement
/// takes the next job.
#[test]
fn a_worker_killed_during_a_job_is_charged_to_that_job_and_replaced() {
    let mut config = hound("hang");
    config.job_timeout = Duration::from_secs(30);
    let (th, events) = start(config);
    let hung = quarantine(&th, "hostile");
    let until = Instant::now() + Duration::from_secs(10);
    while th.snapshot().hound.busy == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        th.snapshot().hound.busy,
        1,
        "the worker took the hanging job"
    );
    let pid = th.hound_workers().slots[0].pid.unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();

    let a = analysis(&events, &hung);
    assert_eq!(
        a.outcome,
        HoundOutcome::Crashed {
            code: None,
            signal: Some(9)
        }
    );
    // Long before the 30 s job timeout: the hang-up is noticed at once.
    assert!(a.duration < Duration::from_secs(10), "{:?}", a.duration);
    let lost = th.hound_workers().lost;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!((lost[0].pid, lost[0].job), (pid, Some(a.job)));
    assert_eq!(
        lost[0].cause,
        WorkerLoss::Died {
            code: None,
            signal: Some(9)
        }
    );

    let next = quarantine(&th, "benign");
    assert!(matches!(
        analysis(&events, &next).outcome,
        HoundOutcome::Analysed(_)
    ));
    let stats = th.snapshot().hound;
    assert_eq!((stats.crashes, stats.respawns), (1, 1));
    assert_eq!((stats.idle_failures, stats.idle_deaths), (0, 0));
    assert_ne!(th.hound_workers().slots[0].pid, Some(pid));
}
