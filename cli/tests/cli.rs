//! The `tracehound` binary, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn tracehound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `tracehound signature --category <category> --form <form> <json>`, printed text.
fn signature(category: &str, form: &str, json: &str) -> String {
    let out = tracehound(&["signature", "--category", category, "--form", form, json]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

#[test]
fn signature_matches_the_typescript_vectors() {
    assert_eq!(
        signature("injection", "ts", r#"{"10":1,"9":2,"a":3}"#),
        "injection:ac43de46bc6196a4be2565243663627b7f366df169441ec5be1ab0c243f154bb"
    );
    // The default form is RFC 8785, which agrees with the TypeScript form here.
    let out = tracehound(&[
        "signature",
        "--category",
        "injection",
        r#"{"n":1e21,"m":0.1,"z":-0}"#,
    ]);
    assert_eq!(
        stdout(&out).trim(),
        "injection:e6ca63ac5192a5468872a3f84201ee34e6dda98f7cb3bbe219d05195526d8a9f"
    );
}

#[test]
fn the_two_forms_differ_only_where_key_order_does() {
    let index_keys = r#"{"10":1,"9":2}"#;
    assert_ne!(
        signature("spam", "jcs", index_keys),
        signature("spam", "ts", index_keys)
    );
    let plain_keys = r#"{"b":1,"a":2}"#;
    assert_eq!(
        signature("spam", "jcs", plain_keys),
        signature("spam", "ts", plain_keys)
    );
}

#[test]
fn signature_reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .args(["signature", "--category", "injection", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"a": 1}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        "injection:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    );
}

#[test]
fn bad_input_fails_with_a_clear_message() {
    let out = tracehound(&["signature", "--category", "injection", "{not json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
    let out = tracehound(&["signature", "--category", "Bad:Category", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid category"));
    let out = tracehound(&["signature", "--category", "spam", "--form", "xml", "{}"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

/// The figure after `label` on the first report line that contains `line_has`.
fn figure(report: &str, line_has: &str, label: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.contains(line_has))
        .unwrap_or_else(|| panic!("no line with {line_has:?} in\n{report}"));
    let after = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
        + label.len()..];
    after
        .split_whitespace()
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

#[test]
fn demo_reports_consistent_figures() {
    let out = tracehound(&["demo", "--seed", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout(&out);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("100%"), "progress was shown: {progress}");

    let quarantined = figure(&report, "  quarantined  ", "quarantined");
    let ignored = figure(&report, "ignored", "threat)");
    assert!(quarantined > 10_000, "the burst overfills the buffer");
    assert!(ignored > 0, "repeated attacks are known threats");
    assert_eq!(figure(&report, "error", "error"), 0);
    assert_eq!(figure(&report, "payload too large", "large"), 1);
    assert_eq!(figure(&report, "unencodable", "unencodable"), 1);

    let held = figure(&report, "Quarantine  ", "Quarantine");
    assert_eq!(held, 10_000);
    assert!(report.contains("10,000 verified intact"), "{report}");
    // Audit leaves: one per insert plus one per removal.
    let leaves = figure(&report, "Audit log", "Audit log");
    let inserts = figure(&report, "expired", "quarantined");
    let evicted = figure(&report, "expired", "evicted");
    let dropped = figure(&report, "expired", "dropped");
    assert_eq!(leaves, inserts + evicted + dropped);
    assert_eq!(inserts - evicted - dropped, held);
    // Every published event reached the listener.
    assert_eq!(
        figure(&report, "Events", "Events"),
        figure(&report, "Events", "of")
    );
    assert_eq!(figure(&report, "Events", "published,"), 0);
}

#[test]
fn the_same_seed_gives_the_same_audit_counts() {
    let counts = |seed: &str| {
        let report = stdout(&tracehound(&["demo", "--seed", seed]));
        report
            .lines()
            .find(|l| l.contains("expired"))
            .unwrap()
            .to_string()
    };
    assert_eq!(counts("5"), counts("5"));
}
