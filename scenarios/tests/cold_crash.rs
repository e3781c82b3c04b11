//! A host killed with SIGKILL while its spool holds evidence the store never got: the next
//! start finds every spool file complete, uploads each once, and the bucket holds exactly
//! them. The host is a real process (`cold-host`), the store a real moto server behind a
//! TCP gate, closed while the first process runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tracehound_scenarios::cold::{BUCKET, store};
use tracehound_test_support::TempDir;
use tracehound_test_support::servers::{Gate, Moto};

const COUNT: u64 = 60;

#[test]
fn a_spool_left_by_kill_9_uploads_once_after_restart() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket(BUCKET).unwrap();
    let mut gate = Gate::open(moto.addr()).unwrap();
    gate.close();
    let spool = TempDir::new("cold-crash").unwrap();
    let host = env!("CARGO_BIN_EXE_cold-host");
    let endpoint = gate.endpoint();
    let args = |mode: &str| {
        [
            mode.to_owned(),
            endpoint.clone(),
            spool.0.display().to_string(),
            COUNT.to_string(),
        ]
    };

    let mut first = Command::new(host)
        .args(args("fill"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("spooled {COUNT}"));
    first.kill().unwrap(); // SIGKILL: no shutdown, no destructors
    first.wait().unwrap();
    let files = std::fs::read_dir(&spool.0).unwrap().count() as u64;
    assert_eq!(files, COUNT, "complete spool files survive the kill");

    gate.reopen().unwrap();
    let second = Command::new(host).args(args("drain")).output().unwrap();
    let report = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{report}");
    assert_eq!(
        report.trim(),
        format!("uploaded {COUNT} existing 0 dropped 0 spooled 0"),
        "each uploaded once"
    );
    let mut envelopes = 0;
    let mut manifests = 0;
    store(&moto.endpoint())
        .list("evidence/", &mut |key, _| {
            let key = key.as_str();
            envelopes += u64::from(key.ends_with(".thcs"));
            manifests += u64::from(key.ends_with(".json"));
        })
        .unwrap();
    assert_eq!((envelopes, manifests), (COUNT, COUNT));
}
