//! A host process for the cold-storage crash scenario (`tests/cold_crash.rs`).
//!
//! `cold-host fill ENDPOINT SPOOL COUNT`: quarantines COUNT threats and flushes them while
//! the store at ENDPOINT is unreachable, waits until all are in the spool, prints
//! `spooled N`, and waits to be killed.
//!
//! `cold-host drain ENDPOINT SPOOL COUNT`: starts on the spool a killed run left, waits until
//! it is empty and COUNT pieces are in the store, and prints the uploader's counters as
//! `uploaded U existing E dropped D spooled S`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use tracehound_scenarios::cold::{store, threat, tracehound, wait_for};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, endpoint, spool, count] = args.as_slice() else {
        eprintln!("usage: cold-host fill|drain ENDPOINT SPOOL COUNT");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("COUNT must be a number");
        return ExitCode::from(2);
    };
    let th = tracehound(store(endpoint), spool.as_ref(), count as usize + 1);
    let mut out = std::io::stdout();
    match mode.as_str() {
        "fill" => {
            for n in 0..count {
                th.intercept(&threat(n));
            }
            if th.flush().is_err() {
                return ExitCode::FAILURE;
            }
            let (snapshot, spooled) = wait_for(&th, Duration::from_secs(60), |s| {
                s.cold.spool_files as u64 == count
            });
            if !spooled {
                eprintln!("not spooled: {:?}", snapshot.cold);
                return ExitCode::FAILURE;
            }
            let _ = writeln!(out, "spooled {}", snapshot.cold.spool_files);
            let _ = out.flush();
            loop {
                std::thread::sleep(Duration::from_secs(3_600));
            }
        }
        "drain" => {
            let (snapshot, drained) = wait_for(&th, Duration::from_secs(60), |s| {
                s.cold.spool_files == 0 && s.cold.uploaded + s.cold.existing >= count
            });
            let c = snapshot.cold;
            let _ = writeln!(
                out,
                "uploaded {} existing {} dropped {} spooled {}",
                c.uploaded, c.existing, c.dropped, c.spool_files
            );
            if drained {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("mode is fill or drain");
            ExitCode::from(2)
        }
    }
}
