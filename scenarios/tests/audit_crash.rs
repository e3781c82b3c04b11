//! Crash safety of the durable audit log, with real processes: a child appends records as
//! fast as it can and is killed with SIGKILL at random moments. After every kill the log
//! reopens with everything the child had acknowledged, every record reads back as written,
//! and every checkpoint the child published before any kill is a prefix of the new head
//! (its consistency proof verifies against the reopened log's root).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracehound::audit::{AuditConfig, AuditLog, FsyncPolicy, SignedCheckpoint, merkle};
use tracehound_scenarios::check_crash_record;
use tracehound_test_support::{Rng, temp_path, unhex};

const KILLS: usize = 50;
const POLICIES: [&str; 3] = ["always", "10ms", "never"];

fn config(dir: &Path, policy: &str) -> AuditConfig {
    let mut config = AuditConfig::default();
    config.dir = Some(dir.to_path_buf());
    config.deployment = "crash.test".into();
    config.segment_bytes = 64 * 1024;
    config.fsync = match policy {
        "always" => FsyncPolicy::Always,
        "never" => FsyncPolicy::Never,
        _ => FsyncPolicy::Every(Duration::from_millis(10)),
    };
    config
}

struct Run {
    acked: u64,
    /// Checkpoint notes as published, verified once the log is open here.
    notes: Vec<String>,
}

/// Starts the appender, lets it run for `delay` after it opened the log, kills it with
/// SIGKILL, and returns what it acknowledged and published before it died.
fn run_and_kill(dir: &Path, policy: &str, seed: u64, delay: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_audit-appender"))
        .arg(dir)
        .arg(policy)
        .arg(seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the appender starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, from_child) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut run = Run {
        acked: 0,
        notes: Vec::new(),
    };
    let handle = |line: String, run: &mut Run| {
        if let Some(n) = line.strip_prefix("ack ") {
            let n = n.parse().expect("ack is a number");
            assert!(n >= run.acked, "acknowledged sizes only grow");
            run.acked = n;
        } else if let Some(note) = line.strip_prefix("cp ") {
            let note = String::from_utf8(unhex(note).expect("hex")).expect("UTF-8 note");
            run.notes.push(note);
        }
    };
    let first = from_child
        .recv_timeout(Duration::from_secs(60))
        .expect("the appender opens the log");
    assert!(
        first.starts_with("open "),
        "unexpected first line {first:?}"
    );
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reaped");
    assert!(!status.success(), "the appender was killed, not finished");
    reader.join().expect("reader thread");
    for line in from_child.try_iter() {
        handle(line, &mut run);
    }
    run
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = temp_dir("crash");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let mut published: Vec<SignedCheckpoint> = Vec::new();
    let mut verified_up_to = 0u64;
    let (mut torn, mut max_size) = (0u64, 0u64);
    let started = Instant::now();
    for kill in 0..KILLS {
        let policy = POLICIES[kill % POLICIES.len()];
        let delay = Duration::from_micros(rng.below(40_000));
        let run = run_and_kill(&dir, policy, rng.next_u64(), delay);

        let mut log = AuditLog::open(&config(&dir, policy))
            .unwrap_or_else(|e| panic!("kill {kill} (seed {seed}): reopening failed: {e}"));
        let key = log.verifier_key();
        for note in &run.notes {
            published.push(
                SignedCheckpoint::open(note, std::slice::from_ref(&key))
                    .expect("a published checkpoint carries the log's signature"),
            );
        }
        let size = log.size();
        assert!(
            size >= run.acked,
            "kill {kill} (seed {seed}, {policy}): {} acknowledged records, {size} after reopening",
            run.acked
        );
        torn += log.open_report().torn_bytes;
        max_size = size;
        for index in verified_up_to.min(size)..size {
            let bytes = log.record(index).expect("record reads back");
            check_crash_record(index, &bytes)
                .unwrap_or_else(|e| panic!("kill {kill} (seed {seed}): {e}"));
        }
        verified_up_to = size;
        let root = log.root();
        for checkpoint in &published {
            let cp = checkpoint.checkpoint();
            assert!(
                cp.size <= size,
                "kill {kill}: a signed checkpoint is ahead of the log"
            );
            if cp.size == 0 {
                continue;
            }
            let proof = log.consistency_proof(cp.size, size).expect("proof");
            merkle::verify_consistency(cp.size, size, &proof, &cp.root, &root).unwrap_or_else(
                |e| {
                    panic!(
                        "kill {kill} (seed {seed}): checkpoint at {} is not a prefix: {e}",
                        cp.size
                    )
                },
            );
        }
        // Keep the set bounded: older checkpoints were proven consistent with this head, so
        // the newest few stand for them from now on.
        if published.len() > 64 {
            published.drain(..published.len() - 64);
        }
        drop(log);
    }
    println!(
        "{KILLS} kills in {:.1?}: {max_size} records, {} torn bytes cut",
        started.elapsed(),
        torn
    );
    assert!(max_size > 0, "the appender wrote nothing in {KILLS} runs");
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = temp_path(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
