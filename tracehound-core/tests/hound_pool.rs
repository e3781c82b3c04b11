//! The hound pool with the stock `tracehound-hound` worker, as real processes.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use tracehound::hound::{
    Analysis, FactValue, HoundOutcome, HoundWorkers, WorkerLoss, analysis_digest,
};
use tracehound::{
    Category, EventKind, HoundConfig, Outcome, Scent, Severity, Signature, Subscription, Tracehound,
};

const HOUND: &str = env!("CARGO_BIN_EXE_tracehound-hound");

fn start(hound: HoundConfig) -> (Tracehound, Subscription) {
    let th = Tracehound::builder()
        .rate_limit(None)
        .maintenance(None)
        .hound(hound)
        .build()
        .unwrap();
    let events = th.subscribe(4096).unwrap();
    (th, events)
}

fn quarantine(th: &Tracehound, body: serde_json::Value) -> Signature {
    let scent = Scent::new("198.51.100.7", body).with_threat(Category::Injection, Severity::High);
    match th.intercept(&scent) {
        Outcome::Quarantined(receipt) => receipt.signature().clone(),
        other => panic!("expected Quarantined, got {other:?}"),
    }
}

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

#[test]
fn quarantined_evidence_is_analysed_audited_and_retrievable() {
    let (th, events) = start(HoundConfig::new(HOUND));
    let signature = quarantine(
        &th,
        json!({"path": "/../../etc/passwd", "q": "' UNION SELECT password FROM users --"}),
    );
    let analysed = analysis(&events, &signature);
    let HoundOutcome::Analysed(report) = &analysed.outcome else {
        panic!("expected a report, got {:?}", analysed.outcome);
    };
    let analyzers: Vec<_> = report
        .findings
        .iter()
        .map(|f| f.analyzer.as_str())
        .collect();
    assert_eq!(analyzers, ["summary", "indicators"]);
    assert_eq!(report.decoded_hash, <[u8; 32]>::from(*signature.digest()));
    assert!(report.validate().is_ok());
    assert_eq!(analysed.digest, analysis_digest(report));
    assert!(analysed.digest.is_some());
    assert!(analysed.audit_leaf.is_some());
    assert_eq!(th.analysis(&signature).as_deref(), Some(&*analysed));

    // Derived facts only: no payload text anywhere in the report.
    let text = format!("{report:?}");
    assert!(!text.contains("passwd") && !text.contains("UNION"));

    let snapshot = th.snapshot();
    assert_eq!(snapshot.audit.records.analysed, 1);
    let stats = snapshot.hound;
    assert!(stats.enabled);
    assert_eq!((stats.offered, stats.accepted, stats.analysed), (1, 1, 1));
    assert_eq!((stats.timeouts, stats.crashes, stats.respawns), (0, 0, 0));
    assert_eq!(stats.spawn_failures, 0);
    assert!(stats.mean_job_micros > 0 && stats.p99_job_micros >= stats.mean_job_micros);
}

#[test]
fn the_same_evidence_gives_the_same_analysis_digest_in_another_host() {
    let body = json!({"q": "<script>alert(1)</script>", "to": "admin@example.com"});
    let digests: Vec<_> = (0..2)
        .map(|_| {
            let (th, events) = start(HoundConfig::new(HOUND));
            let signature = quarantine(&th, body.clone());
            analysis(&events, &signature).digest
        })
        .collect();
    assert!(digests[0].is_some());
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn workers_rotate_after_their_job_budget() {
    let mut hound = HoundConfig::new(HOUND);
    hound.workers = NonZeroUsize::new(1).unwrap();
    hound.rotate_after = NonZeroU64::new(2).unwrap();
    hound.rotation_jitter = 0;
    let (th, events) = start(hound);
    for n in 0..6 {
        let signature = quarantine(&th, json!({"n": n}));
        let a = analysis(&events, &signature);
        assert!(
            matches!(a.outcome, HoundOutcome::Analysed(_)),
            "{:?}",
            a.outcome
        );
    }
    // The last rotation's replacement starts after the last result is published.
    let until = Instant::now() + Duration::from_secs(10);
    while th.snapshot().hound.live == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = th.snapshot().hound;
    assert_eq!(stats.rotations, 3);
    assert_eq!(stats.respawns, 0);
    // The first worker, and a replacement after each rotation.
    assert_eq!(stats.spawns, 4);
}

#[test]
fn a_worker_that_cannot_start_never_blocks_intercept() {
    let mut hound = HoundConfig::new("/nonexistent/tracehound-hound");
    hound.on_exhausted = tracehound::Exhaustion::Drop;
    let (th, _events) = start(hound);
    let started = Instant::now();
    for n in 0..100 {
        quarantine(&th, json!({"n": n}));
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let until = Instant::now() + Duration::from_secs(10);
    while th.snapshot().hound.spawn_failures == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = th.snapshot().hound;
    assert_eq!(stats.offered, 100);
    assert_eq!(stats.accepted + stats.exhausted, 100);
    assert!(stats.spawn_failures >= 1);
    assert_eq!(stats.live, 0);
}

#[test]
fn evidence_above_the_job_cap_is_held_but_not_offered() {
    let mut hound = HoundConfig::new(HOUND);
    hound.max_job_bytes = NonZeroUsize::new(64).unwrap();
    let (th, _events) = start(hound);
    quarantine(&th, json!({"long": "x".repeat(100)}));
    let stats = th.snapshot().hound;
    assert_eq!((stats.offered, stats.too_large, stats.accepted), (1, 1, 0));
}

#[test]
#[cfg(feature = "toml")]
fn hound_configuration_loads_from_toml() {
    let config = tracehound::Config::from_toml(
        r#"
        [hound]
        program = "/usr/local/bin/tracehound-hound"
        workers = 4
        job_timeout = "2s"
        on_exhausted = "escalate"
        "#,
    )
    .unwrap();
    let hound = config.hound.unwrap();
    assert_eq!(hound.workers.get(), 4);
    assert_eq!(hound.job_timeout, Duration::from_secs(2));
    assert_eq!(hound.on_exhausted, tracehound::Exhaustion::Escalate);
    assert!(tracehound::Config::from_toml("[hound]\nprogram = \"x\"\nworkers = 0\n").is_err());
}

#[test]
fn a_real_worker_counts_what_it_finds() {
    let (th, events) = start(HoundConfig::new(HOUND));
    let signature = quarantine(&th, json!({"b64": "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="}));
    let a = analysis(&events, &signature);
    let HoundOutcome::Analysed(report) = &a.outcome else {
        panic!("{:?}", a.outcome)
    };
    let base64 = report
        .findings
        .iter()
        .flat_map(|f| &f.facts)
        .find(|f| f.name == "encoding.base64")
        .map(|f| f.value.clone());
    assert_eq!(base64, Some(FactValue::Count(1)));
}

#[test]
fn replacement_evidence_is_analysed_too() {
    let (th, events) = start(HoundConfig::new(HOUND));
    let old = quarantine(&th, json!({"v": 1}));
    analysis(&events, &old);
    let scent = Scent::new("198.51.100.7", json!({"v": 2}))
        .with_threat(Category::Injection, Severity::High);
    let replacement = th.replace(&old, &scent).unwrap();
    let Outcome::Quarantined(receipt) = replacement.outcome() else {
        panic!("expected Quarantined, got {:?}", replacement.outcome());
    };
    let a = analysis(&events, receipt.signature());
    assert!(
        matches!(a.outcome, HoundOutcome::Analysed(_)),
        "{:?}",
        a.outcome
    );
    assert_eq!(th.snapshot().hound.offered, 2);
}

/// Polls the pool's workers until `done` holds, for at most `within`.
fn wait_for_workers(
    th: &Tracehound,
    within: Duration,
    done: impl Fn(&HoundWorkers) -> bool,
) -> HoundWorkers {
    let until = Instant::now() + within;
    loop {
        let workers = th.hound_workers();
        if done(&workers) || Instant::now() >= until {
            return workers;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The parent process id in `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_worker_killed_while_idle_is_noticed_counted_named_and_replaced() {
    let mut hound = HoundConfig::new(HOUND);
    hound.workers = NonZeroUsize::new(2).unwrap();
    let (th, events) = start(hound);
    let ready = wait_for_workers(&th, Duration::from_secs(10), |w| {
        w.slots.iter().all(|s| s.pid.is_some())
    });
    let pids: Vec<u32> = ready.slots.iter().map(|s| s.pid.unwrap()).collect();
    // The pids are this process's own worker children, not some other process.
    for &pid in &pids {
        assert_eq!(parent_of(pid), std::process::id(), "worker {pid}");
    }
    assert!(ready.lost.is_empty());
    assert_eq!(th.snapshot().hound.live, 2);

    let victim = pids[0];
    let killed = Instant::now();
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
    let after = wait_for_workers(&th, Duration::from_secs(5), |w| {
        w.slots[0].pid.is_some_and(|pid| pid != victim)
    });
    let noticed = killed.elapsed();
    let replacement = after.slots[0]
        .pid
        .unwrap_or_else(|| panic!("slot 0 not replaced: {after:?}"));
    assert_ne!(replacement, victim);
    // Checked every 100 ms while idle, not only when the next job comes (none did).
    assert!(
        noticed < Duration::from_secs(1),
        "noticed after {noticed:?}"
    );
    assert_eq!(
        after.slots[1].pid,
        Some(pids[1]),
        "the other worker is untouched"
    );
    assert_eq!(after.lost.len(), 1, "{after:?}");
    let lost = after.lost[0];
    assert_eq!((lost.pid, lost.slot, lost.job), (victim, 0, None));
    assert_eq!(
        lost.cause,
        WorkerLoss::Died {
            code: None,
            signal: Some(9)
        }
    );
    assert_eq!(lost.cause.describe(), "killed by signal 9");

    let stats = th.snapshot().hound;
    assert_eq!((stats.idle_failures, stats.idle_deaths), (1, 1));
    assert_eq!((stats.live, stats.spawns), (2, 3));
    // Nothing was charged to a job: none was in flight.
    assert_eq!((stats.crashes, stats.respawns, stats.accepted), (0, 0, 0));

    // The pool still works, and the replacement is a real worker.
    let signature = quarantine(&th, json!({"after": "the kill"}));
    let a = analysis(&events, &signature);
    assert!(
        matches!(a.outcome, HoundOutcome::Analysed(_)),
        "{:?}",
        a.outcome
    );
}

#[test]
fn an_idle_slot_checks_its_worker_about_every_100_ms() {
    let mut hound = HoundConfig::new(HOUND);
    hound.workers = NonZeroUsize::new(1).unwrap();
    let (th, _events) = start(hound);
    let first = wait_for_workers(&th, Duration::from_secs(10), |w| w.slots[0].pid.is_some());
    let before = first.slots[0].checks;
    // Idle slots check their worker about every 100 ms: two more checks well within 2 s.
    let later = wait_for_workers(&th, Duration::from_secs(2), |w| {
        w.slots[0].checks >= before + 2
    });
    assert!(
        later.slots[0].checks >= before + 2,
        "{first:?} then {later:?}"
    );
    assert_eq!(later.slots[0].pid, first.slots[0].pid);
    assert_eq!(th.snapshot().hound.idle_failures, 0);
}

#[test]
fn without_a_pool_there_are_no_workers() {
    let th = Tracehound::builder().maintenance(None).build().unwrap();
    assert_eq!(th.hound_workers(), HoundWorkers::default());
}
