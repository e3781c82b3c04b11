//! The durable audit log on a disk that fills up: a real file system (a 2 MiB tmpfs) runs out
//! of space under a stream of threats. `intercept` never fails or waits; the failure is
//! counted, raised as an event, and records the log could not take are marked by a gap leaf
//! once space is freed. The log then reopens clean.
//!
//! Mounting needs root (CI runs as root); elsewhere the test says it was skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tracehound::audit::{AuditConfig, AuditLog, AuditRecord, FsyncPolicy, RecordBody};
use tracehound::{Category, EventKind, Outcome, Scent, Severity};
use tracehound_scenarios::{config, tracehound};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("tracehound-diskfull-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .ok()?;
        if status.success() {
            Some(Tmpfs(dir))
        } else {
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn threat(n: u64) -> Scent {
    Scent::new(
        format!("203.0.113.{}", n % 200),
        json!({"attempt": n, "q": "<script>alert(1)</script>"}),
    )
    .with_threat(Category::Injection, Severity::Medium)
}

/// Fills the file system with a file, leaving about `leave` bytes free.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let free = {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(dir)
            .output()
            .expect("df runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .expect("df prints the free bytes")
    };
    std::fs::write(&path, vec![0u8; free.saturating_sub(leave) as usize]).expect("filler");
    path
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_full_disk_never_blocks_intercept_and_the_loss_is_recorded_once_space_returns() {
    let Some(fs) = Tmpfs::mount("2m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let dir = fs.0.join("audit");
    let mut cfg = config();
    cfg.rate_limit = None;
    cfg.audit.dir = Some(dir.clone());
    cfg.audit.deployment = "diskfull.test".into();
    cfg.audit.fsync = FsyncPolicy::Every(Duration::from_millis(10));
    cfg.audit.queue_capacity = NonZeroUsize::new(256).unwrap();
    cfg.audit.checkpoint_interval = None;
    let (th, _clock) = tracehound(cfg);
    let events = th.subscribe(65_536).expect("subscribe");
    let filler = fill(&fs.0, 64 * 1024);

    // About 12,000 records of ~140 bytes: far more than 64 KiB of free space holds, and more
    // than the writer's 1 MiB buffer, so the queue fills and records are lost.
    for n in 0..12_000 {
        let outcome = th.intercept(&threat(n));
        assert!(
            matches!(outcome, Outcome::Quarantined(_)),
            "threat {n}: {outcome:?}"
        );
    }
    wait_for("the writer to fail", || th.snapshot().audit.failing);
    let stalled = th.snapshot().audit;
    assert!(stalled.append_failures > 0);
    assert!(stalled.lost > 0, "the queue filled while the disk was full");
    assert!(
        th.sync_audit(Duration::from_millis(200)).is_err(),
        "nothing new is durable"
    );

    // Space returns: the writer retries, writes everything it holds, and the next record is
    // preceded by a gap leaf for the records it never got.
    std::fs::remove_file(&filler).expect("free space");
    wait_for("the writer to recover", || !th.snapshot().audit.failing);
    assert!(matches!(
        th.intercept(&threat(99_999)),
        Outcome::Quarantined(_)
    ));
    let head = th
        .sync_audit(Duration::from_secs(20))
        .expect("durable again");
    let audit = th.snapshot().audit;
    assert_eq!(
        audit.lost, stalled.lost,
        "nothing more was lost after recovery"
    );
    assert!(audit.gaps >= 1);
    assert_eq!(head.size, audit.size, "every numbered record is durable");
    let kinds: Vec<EventKind> = events.drain().map(|e| e.kind().clone()).collect();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::AuditWriteFailed { .. }))
    );
    let announced: u64 = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::AuditGapRecorded { lost, .. } => Some(*lost),
            _ => None,
        })
        .sum();
    assert_eq!(announced, audit.lost);
    drop(th);

    // The log on disk is whole: every frame intact, every numbered record present, and the
    // gap leaves account for every lost record.
    let mut plain = AuditConfig::default();
    plain.dir = Some(dir);
    plain.deployment = "diskfull.test".into();
    let mut log = AuditLog::open(&plain).expect("the log reopens clean");
    assert_eq!(log.open_report().torn_bytes, 0);
    assert_eq!(log.size(), head.size);
    let mut recorded = 0;
    for i in 0..log.size() {
        let record = AuditRecord::decode(&log.record(i).expect("record")).expect("decodes");
        if let RecordBody::Gap { lost, .. } = record.body {
            recorded += lost;
        }
    }
    assert_eq!(recorded, audit.lost);
    drop(fs);
}
