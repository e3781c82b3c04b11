//! A child process for the crash tests in `tests/audit_crash.rs`: appends records to a
//! durable audit log as fast as it can until it is killed, and reports on stdout what the
//! log has acknowledged.
//!
//! Usage: `audit-appender DIR POLICY SEED` where POLICY is `always`, `never` or a duration
//! such as `10ms`. Output lines:
//! - `open <size>`: the log is open and holds `size` records;
//! - `ack <size>`: `commit` returned: the first `size` records are durable under POLICY;
//! - `cp <hex>`: a checkpoint was signed (the note's bytes in hex, one line).
//!
//! Record `i` is [`tracehound_scenarios::crash_record`] for index `i`, so the parent can check every
//! record it reads back. The process stops by itself after 20 seconds.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tracehound::audit::{AuditConfig, AuditLog, FsyncPolicy};
use tracehound_scenarios::{crash_record, crash_signature};
use tracehound_test_support::{Rng, hex};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("audit-appender: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, policy, seed] = args.as_slice() else {
        return Err("usage: audit-appender DIR POLICY SEED".into());
    };
    let mut config = AuditConfig::default();
    config.dir = Some(dir.into());
    config.deployment = "crash.test".into();
    config.segment_bytes = 64 * 1024;
    config.fsync = parse_policy(policy)?;
    let seed = seed.parse::<u64>().map_err(|e| format!("seed: {e}"))?;
    let mut rng = Rng::new(seed);
    let mut log = AuditLog::open(&config).map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    say(&mut out, format!("open {}", log.size()))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut batches = 0u64;
    while Instant::now() < deadline {
        for _ in 0..rng.below(64) + 1 {
            let index = log.size();
            let signature = crash_signature(index);
            log.append(&crash_record(index, &signature))
                .map_err(|e| e.to_string())?;
        }
        let durable = log.commit().map_err(|e| e.to_string())?;
        say(&mut out, format!("ack {durable}"))?;
        batches += 1;
        if batches.is_multiple_of(8) {
            let checkpoint = log.checkpoint().map_err(|e| e.to_string())?;
            say(
                &mut out,
                format!("cp {}", hex(checkpoint.note().as_bytes())),
            )?;
        }
        // Pace the writer so a test run stays small; kills still land mid-write.
        std::thread::sleep(Duration::from_micros(rng.below(400)));
    }
    Ok(())
}

fn parse_policy(text: &str) -> Result<FsyncPolicy, String> {
    match text {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        other => {
            let millis = other
                .strip_suffix("ms")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("policy `{other}`: expected always, never or <N>ms"))?;
            Ok(FsyncPolicy::Every(Duration::from_millis(millis)))
        }
    }
}
