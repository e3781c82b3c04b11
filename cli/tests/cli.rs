//! The `tracehound` binary, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tracehound::audit::merkle;
use tracehound::audit::note::NoteSigner;
use tracehound::audit::{AuditConfig, AuditLog, EvidenceRecord, RecordType};
use tracehound::clock::Timestamp;
use tracehound::{Category, Digest, Severity, Signature};
use tracehound_test_support::{TempDir, temp_path};

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

    assert!(
        report.contains("\nServer  http://127.0.0.1:"),
        "the server's address is shown: {report}"
    );
    assert!(report.contains("plays a trusted proxy"), "{report}");

    let clean = figure(&report, "  clean  ", "clean");
    let rate_limited = figure(&report, "rate limited", "limited");
    let too_large = figure(&report, "payload too large", "large");
    let unencodable = figure(&report, "unencodable", "unencodable");
    let ignored = figure(&report, "ignored", "threat)");
    let quarantined = figure(&report, "  quarantined  ", "quarantined");
    let dropped = figure(&report, "dropped (lowest priority)", "priority)");
    let error = figure(&report, "error", "error");
    assert!(quarantined > 10_000, "the burst overfills the buffer");
    assert!(ignored > 0, "repeated attacks are known threats");
    assert!(rate_limited > 0, "the floods hit the rate limit");
    assert_eq!(error, 0);
    assert_eq!(too_large, 1);

    // What the clients received over HTTP agrees with what the layer and Tracehound counted.
    let sent = figure(&report, "requests over HTTP", "");
    let ok = figure(&report, "200 OK", "OK");
    let forbidden = figure(&report, "403 Forbidden", "Forbidden");
    let payload_too_large = figure(&report, "413 Payload Too Large", "Large");
    let too_many = figure(&report, "429 Too Many Requests", "Requests");
    assert_eq!(figure(&report, "  other  ", "other"), 0);
    assert_eq!(ok + forbidden + payload_too_large + too_many, sent);
    assert_eq!(figure(&report, "HTTP layer", "requests"), sent);
    assert_eq!(
        figure(&report, "HTTP layer", "rejected"),
        forbidden + payload_too_large + too_many
    );
    assert_eq!(figure(&report, "HTTP layer", "panics"), 0);
    assert_eq!(figure(&report, "HTTP layer", "key"), 0);
    assert_eq!(too_many, rate_limited);
    assert_eq!(payload_too_large, too_large);
    assert_eq!(forbidden, quarantined + ignored + dropped + unencodable);
    assert_eq!(ok, clean + error);
    assert_eq!(
        clean + rate_limited + too_large + unencodable + ignored + quarantined + dropped + error,
        sent,
        "every request reached Tracehound"
    );
    // Every signed marking was believed and became a threat; every forged one was counted
    // and served.
    let marked = figure(&report, "signed WAF markings", "markings");
    assert_eq!(figure(&report, "Verdicts", "accepted"), marked);
    assert_eq!(
        too_large + unencodable + ignored + quarantined + dropped,
        marked
    );
    assert_eq!(
        figure(&report, "Verdicts", "forged"),
        figure(&report, "forged markings", "wrong secret")
            + figure(&report, "forged markings", "moved to another request")
    );
    assert_eq!(
        figure(&report, "Verdicts", "stale"),
        figure(&report, "forged markings", "stale replay")
    );
    assert_eq!(
        figure(&report, "Verdicts", "malformed"),
        figure(&report, "forged markings", "garbled")
    );

    let held = figure(&report, "Quarantine  ", "Quarantine");
    assert_eq!(held, 10_000);
    assert!(report.contains("10,000 verified intact"), "{report}");
    // Audit leaves: one per insert, one per removal, one per finished analysis, one per
    // piece of evidence evacuated or not.
    let leaves = figure(&report, "Audit log", "Audit log");
    let inserts = figure(&report, "expired", "quarantined");
    let evicted = figure(&report, "expired", "evicted");
    let dropped = figure(&report, "expired", "dropped");
    let analysed = figure(&report, "expired", "analysed");
    let evacuated = figure(&report, "to cold storage", "evacuated");
    let not_evacuated = figure(&report, "to cold storage", "cold-dropped");
    assert_eq!(
        leaves,
        inserts + evicted + dropped + analysed + evacuated + not_evacuated
    );
    // Everything held at the end, and every eviction of medium severity or more, went to
    // the store (or, counted, did not).
    assert!(evacuated + not_evacuated >= held, "{report}");
    assert_eq!(figure(&report, "already there", "lost"), not_evacuated);
    assert!(report.contains("read back and verified"), "{report}");
    assert_eq!(inserts - evicted - dropped, held);
    // Every quarantined evidence was offered to the hound pool, and every job it took was
    // finished (analysed, or skipped because its evidence was evicted first).
    assert_eq!(figure(&report, "Hound pool", "of"), inserts);
    let accepted = figure(&report, "skipped (evicted first)", "accepted");
    let gone = figure(
        &report,
        "skipped (evicted first)",
        "skipped (evicted first)",
    );
    assert_eq!(accepted, analysed + gone);
    assert_eq!(figure(&report, "Hound pool", "workers;"), analysed);
    assert_eq!(figure(&report, "protocol violations", "timeouts"), 0);
    assert_eq!(figure(&report, "protocol violations", "sandbox kills"), 0);
    assert!(analysed > 0, "{report}");
    // Every published event reached the listener.
    assert_eq!(
        figure(&report, "Events", "Events"),
        figure(&report, "Events", "of")
    );
    assert_eq!(figure(&report, "Events", "published,"), 0);

    // The default run logs durably to a temporary directory, removed when it ends.
    let audit_line = report.lines().find(|l| l.starts_with("Audit log")).unwrap();
    let dir = audit_line
        .split_once("durable in ")
        .and_then(|(_, rest)| rest.strip_suffix(" (temporary: removed when the demo ends)"))
        .unwrap_or_else(|| panic!("no temporary directory in {audit_line:?}"));
    assert!(!Path::new(dir).exists(), "{dir} was left behind");
    assert!(
        report.contains("demo.tracehound.local/tracehound/1\n"),
        "{report}"
    );
    assert!(
        report.contains("the flagged request's canonical bytes hash to the record's evidence hash"),
        "the demo re-created the evidence it proved: {report}"
    );
    // Records hold hashes: no attack payload is ever printed.
    for payload in ["OR '1'='1'", "<script>", "etc/passwd", "curl http"] {
        assert!(!report.contains(payload), "{payload:?} printed");
    }
}

/// A directory that does not exist yet, at a fresh temporary path; removed with its
/// contents when dropped.
fn fresh_dir(label: &str) -> TempDir {
    TempDir(temp_path(label))
}

/// A path as the text of a command-line argument.
fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The verifier key the demo printed.
fn demo_verifier_key(report: &str) -> String {
    report
        .lines()
        .find_map(|l| l.strip_prefix("  verifier key  "))
        .unwrap_or_else(|| panic!("no verifier key in\n{report}"))
        .trim()
        .to_owned()
}

#[test]
fn demo_keeps_a_verifiable_audit_log_in_the_audit_dir() {
    let dir = fresh_dir("demo-audit");
    let demo = || tracehound(&["demo", "--scale", "1", "--audit-dir", arg(&dir.0)]);
    let bundle = dir.0.join("evidence-proof.tlog-proof");
    let bundle = bundle.to_str().unwrap();

    let out = demo();
    assert_exit(&out, 0, "first demo run");
    let report = stdout(&out);
    assert_eq!(figure(&report, "  epoch ", "epoch"), 1);
    assert!(
        report.contains("\n    demo.tracehound.local/tracehound/1\n"),
        "the checkpoint note is printed: {report}"
    );
    let key = demo_verifier_key(&report);
    assert!(
        key.starts_with("demo.tracehound.local/tracehound+"),
        "{key}"
    );
    assert!(report.contains(&format!("--key '{key}'")), "{report}");
    assert!(
        report.contains("one byte of the record line changed: rejected ("),
        "{report}"
    );
    assert!(Path::new(bundle).is_file(), "{bundle} was not kept");
    let out = tracehound(&["verify-proof", bundle, "--key", &key]);
    assert_exit(&out, 0, "the demo's bundle");
    let summary = stdout(&out);
    assert!(summary.contains("critical"), "{summary}");
    assert!(
        summary.contains("demo.tracehound.local/tracehound/1"),
        "{summary}"
    );

    // Every start begins a new epoch, signed with the key kept in the directory.
    let out = demo();
    assert_exit(&out, 0, "second demo run");
    let report = stdout(&out);
    assert_eq!(figure(&report, "  epoch ", "epoch"), 2);
    assert!(
        report.contains("\n    demo.tracehound.local/tracehound/2\n"),
        "{report}"
    );
    assert_eq!(demo_verifier_key(&report), key);
    let out = tracehound(&["verify-proof", bundle, "--key", &key]);
    assert_exit(&out, 0, "the second run's bundle");
    assert!(
        stdout(&out).contains("demo.tracehound.local/tracehound/2"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn vkey_prints_the_verifier_key_of_a_logs_signing_key() {
    let dir = fresh_dir("vkey");
    let mut config = AuditConfig::default();
    config.dir = Some(dir.0.clone());
    config.deployment = "vkey.example".into();
    let expected = AuditLog::open(&config).unwrap().verifier_key().to_string();
    let key_file = dir.0.join("signing.key");
    let out = tracehound(&["vkey", key_file.to_str().unwrap()]);
    assert_exit(&out, 0, "vkey of a real key file");
    assert_eq!(stdout(&out).trim(), expected);

    // A file that is not a private key is refused without echoing what it holds.
    let other = dir.0.join("not-a-key");
    std::fs::write(
        &other,
        "PRIVATE+KEY+vkey.example/tracehound+00000000+c2VjcmV0",
    )
    .unwrap();
    let out = tracehound(&["vkey", other.to_str().unwrap()]);
    assert_exit(&out, 1, "a damaged key file");
    assert!(!stderr(&out).contains("c2VjcmV0"), "{}", stderr(&out));
    let out = tracehound(&["vkey", dir.0.join("missing").to_str().unwrap()]);
    assert_exit(&out, 1, "a missing key file");
}

/// The processes whose parent is `parent`, from `/proc/<pid>/stat`.
#[cfg(target_os = "linux")]
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rfind(')')
                    .and_then(|end| stat[end + 1..].split_whitespace().nth(1)?.parse().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// Whether `pid` is a `tracehound hound` worker that has answered the pool's handshake: it
/// runs under seccomp (which it applies just before answering) and sleeps (reading its next
/// job).
#[cfg(target_os = "linux")]
fn ready_hound(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    cmdline.ends_with(b"\0hound\0")
        && status.lines().any(|l| l == "Seccomp:\t2")
        && status.lines().any(|l| l.starts_with("State:\tS"))
}

/// A worker killed with SIGKILL while the demo runs (as an operator or the OOM killer might)
/// is noticed, replaced and named in the report, whether it was idle or had a job.
#[cfg(target_os = "linux")]
#[test]
fn demo_reports_a_hound_worker_killed_while_it_runs() {
    use std::io::Read;
    use std::time::{Duration, Instant};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let mut demo = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .args(["demo", "--seed", "11"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).unwrap();
            text
        })
    };
    let stdout = drain(Box::new(demo.stdout.take().unwrap()));
    let stderr = drain(Box::new(demo.stderr.take().unwrap()));

    // Killed as soon as one is ready: the demo has only just started its traffic, so the
    // worker is most likely idle.
    let until = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        if let Some(pid) = children_of(demo.id())
            .into_iter()
            .find(|&pid| ready_hound(pid))
        {
            break pid;
        }
        assert!(Instant::now() < until, "no ready hound worker within 60 s");
        std::thread::sleep(Duration::from_millis(1));
    };
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();

    let until = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= until {
            let _ = demo.kill();
            panic!("the demo did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let report = stdout.join().unwrap();
    let progress = stderr.join().unwrap();
    assert!(status.success(), "{progress}");

    let line = report
        .lines()
        .find(|l| l.contains(&format!("worker pid {victim} (slot ")))
        .unwrap_or_else(|| panic!("worker {victim} not reported lost:\n{report}"));
    assert!(line.contains("killed by signal 9"), "{line}");
    let idle_deaths = figure(&report, "died while idle", "died while idle");
    let crashes = figure(&report, "protocol violations", "crashes");
    if line.ends_with("while idle") {
        assert!(idle_deaths >= 1, "{report}");
    } else {
        assert!(line.contains("during job "), "{line}");
        assert!(crashes >= 1, "{report}");
    }
    assert!(figure(&report, "died while idle", "workers lost") >= 1);
    // Replaced: two workers at the end, and the victim is not one of them.
    assert_eq!(figure(&report, "died while idle", "live"), 2);
    let pids = report
        .lines()
        .find(|l| l.contains("died while idle"))
        .and_then(|l| Some(l.split_once("(pids ")?.1.split_once(')')?.0.to_owned()))
        .unwrap();
    assert!(
        pids.split(", ")
            .all(|pid| pid.parse::<u32>().is_ok_and(|pid| pid != victim)),
        "{pids}"
    );
    assert!(
        !report.contains("had not checked its worker again"),
        "{report}"
    );
}

#[test]
fn the_same_seed_gives_the_same_audit_counts() {
    let counts = |seed: &str| {
        let report = stdout(&tracehound(&["demo", "--seed", seed]));
        // How many the hound pool analysed before their evidence was evicted depends on
        // timing; the rest of the line does not.
        let line = report.lines().find(|l| l.contains("expired")).unwrap();
        line[..line.find("analysed").unwrap()].to_string()
    };
    assert_eq!(counts("5"), counts("5"));
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts the exit status, and that a failure says why on exactly one line.
fn assert_exit(out: &Output, code: i32, context: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{context}\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    if code == 1 {
        let message = stderr(out);
        assert_eq!(message.lines().count(), 1, "{context}: {message}");
        assert!(message.starts_with("tracehound: "), "{context}: {message}");
    }
}

#[test]
fn help_mentions_every_command() {
    let out = tracehound(&["--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for command in ["demo", "signature", "verify-proof", "rfc6962", "vkey"] {
        assert!(help.contains(command), "{command} missing from\n{help}");
    }
    let help = stdout(&tracehound(&["rfc6962", "--help"]));
    for command in ["verify-inclusion", "verify-consistency"] {
        assert!(help.contains(command), "{command} missing from\n{help}");
    }
    let help = stdout(&tracehound(&["verify-proof", "--help"]));
    for option in ["--key", "--origin", "--evidence"] {
        assert!(help.contains(option), "{option} missing from\n{help}");
    }
}

// ---- tracehound rfc6962 ----------------------------------------------------------------------

fn rfc6962_testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/rfc6962")
}

/// Every `.json` file under `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A vector's proof hashes, as base64 text (`null` is the empty proof).
fn proof_hashes(case: &serde_json::Value) -> Vec<String> {
    match &case["proof"] {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("proof is neither null nor an array: {other}"),
    }
}

fn decoded(case: &serde_json::Value, field: &str) -> Vec<u8> {
    STANDARD.decode(case[field].as_str().unwrap()).unwrap()
}

/// The one vector tracehound answers differently on purpose (see the `merkle` module docs): the
/// reference verifier accepts an empty proof between equal sizes with any two equal byte
/// strings as roots, while tracehound refuses a 12-byte "root" before anything else.
const STRICTER_THAN_REFERENCE: &str = "sizes-are-equal-one-and-proof-is-empty.json";

/// Command-line options and the vector fields they take their values from.
type OptionFields = [(&'static str, &'static str); 2];

/// Runs the binary over every transparency-dev vector: exit 0 exactly when the vector expects
/// the proof to verify, 1 (with a one-line reason) when it expects an error.
///
/// Two kinds of vector input cannot be written on the command line:
/// - a number outside `u64` (none today), which clap refuses, so exit 2 is expected;
/// - a proof of exactly one empty hash (`[""]`): `--proof ''` is by definition the empty
///   proof, so the single empty element has no spelling. These vectors are checked against
///   the library function the command calls instead. (Empty elements among others, `,A` or
///   `A,`, are passed through and refused as 0-byte hashes.)
#[test]
fn rfc6962_commands_agree_with_every_transparency_dev_vector() {
    let mut failures = Vec::new();
    let mut through_the_binary = 0;
    let mut unspellable = Vec::new();
    for kind in ["inclusion", "consistency"] {
        let files = json_files(&rfc6962_testdata().join(kind));
        assert!(files.len() >= 90, "only {} {kind} vectors", files.len());
        for file in files {
            let case: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let name = file.strip_prefix(rfc6962_testdata()).unwrap().display();
            let want_err = case["wantErr"].as_bool().unwrap();
            let hashes = proof_hashes(&case);
            if hashes == [""] {
                let result = if kind == "inclusion" {
                    merkle::verify_inclusion_bytes(
                        &decoded(&case, "leafHash"),
                        case["leafIdx"].as_u64().unwrap(),
                        case["treeSize"].as_u64().unwrap(),
                        &[&[]],
                        &decoded(&case, "root"),
                    )
                } else {
                    merkle::verify_consistency_bytes(
                        case["size1"].as_u64().unwrap(),
                        case["size2"].as_u64().unwrap(),
                        &[&[]],
                        &decoded(&case, "root1"),
                        &decoded(&case, "root2"),
                    )
                };
                assert!(want_err && result.is_err(), "{name}: {result:?}");
                unspellable.push(name.to_string());
                continue;
            }
            let (numbers, hash_options): (OptionFields, OptionFields) = if kind == "inclusion" {
                (
                    [("--index", "leafIdx"), ("--size", "treeSize")],
                    [("--leaf-hash", "leafHash"), ("--root", "root")],
                )
            } else {
                (
                    [("--size1", "size1"), ("--size2", "size2")],
                    [("--root1", "root1"), ("--root2", "root2")],
                )
            };
            let mut args = vec![
                "rfc6962".to_owned(),
                format!("verify-{kind}"),
                "--proof".to_owned(),
                hashes.join(","),
            ];
            let mut spellable = true;
            for (option, field) in numbers {
                spellable &= case[field].as_u64().is_some();
                args.extend([option.to_string(), case[field].to_string()]);
            }
            for (option, field) in hash_options {
                args.extend([option.to_string(), case[field].as_str().unwrap().to_owned()]);
            }
            let expected = if !spellable {
                assert!(want_err, "{name}: a valid proof must be expressible");
                2
            } else if file.ends_with(STRICTER_THAN_REFERENCE) {
                assert!(!want_err);
                1
            } else if want_err {
                1
            } else {
                0
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = tracehound(&args);
            if out.status.code() != Some(expected) {
                failures.push(format!(
                    "{name} ({}): exit {:?}, expected {expected}: {}",
                    case["desc"],
                    out.status.code(),
                    stderr(&out).trim()
                ));
                continue;
            }
            assert_exit(&out, expected, &name.to_string());
            if expected == 0 {
                assert!(stdout(&out).starts_with(&format!("{kind} proof verifies: ")));
            }
            through_the_binary += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        through_the_binary >= 190,
        "only {through_the_binary} vectors run"
    );
    assert_eq!(
        unspellable,
        [
            "inclusion/0/preceding-garbage.json",
            "inclusion/0/trailing-garbage.json"
        ]
    );
}

/// The fields of a vector, read without interpretation.
fn vector(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(rfc6962_testdata().join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn field(case: &serde_json::Value, name: &str) -> String {
    match &case[name] {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn certificate_transparency_style_proofs_check_out() {
    // A leaf of an 8-leaf tree, and that tree grown from its first leaf, as a CT monitor would
    // check them: hashes copied from the vectors, nothing computed here.
    let case = vector("inclusion/1/happy-path.json");
    let proof = proof_hashes(&case);
    let inclusion = |proof: &str, index: &str| {
        tracehound(&[
            "rfc6962",
            "verify-inclusion",
            "--leaf-hash",
            &field(&case, "leafHash"),
            "--index",
            index,
            "--size",
            &field(&case, "treeSize"),
            "--root",
            &field(&case, "root"),
            "--proof",
            proof,
        ])
    };
    let out = inclusion(&proof.join(","), &field(&case, "leafIdx"));
    assert_exit(&out, 0, "inclusion happy path");
    assert_eq!(
        stdout(&out),
        "inclusion proof verifies: leaf 0 of a tree of size 8\n"
    );
    let reversed: Vec<&str> = proof.iter().rev().map(String::as_str).collect();
    let out = inclusion(&reversed.join(","), "0");
    assert_exit(&out, 1, "reordered proof");
    assert!(stderr(&out).contains("does not lead to the expected root"));
    let out = inclusion(&proof.join(","), "1");
    assert_exit(&out, 1, "another leaf index");

    let case = vector("consistency/1/happy-path.json");
    let out = tracehound(&[
        "rfc6962",
        "verify-consistency",
        "--size1",
        &field(&case, "size1"),
        "--size2",
        &field(&case, "size2"),
        "--root1",
        &field(&case, "root1"),
        "--root2",
        &field(&case, "root2"),
        "--proof",
        &proof_hashes(&case).join(","),
    ]);
    assert_exit(&out, 0, "consistency happy path");
    assert_eq!(
        stdout(&out),
        "consistency proof verifies: the tree of size 1 is a prefix of the tree of size 8\n"
    );

    // A tree of one leaf: the leaf hash is the root and the proof is empty, or omitted.
    let case = vector("inclusion/single-entry/matching-root-and-leaf.json");
    let root = field(&case, "root");
    let single = ["rfc6962", "verify-inclusion", "--leaf-hash", &root];
    let single = [
        &single[..],
        &["--index", "0", "--size", "1", "--root", &root],
    ]
    .concat();
    assert_exit(&tracehound(&single), 0, "omitted proof");
    let empty_proof = [&single[..], &["--proof", ""]].concat();
    assert_exit(&tracehound(&empty_proof), 0, "empty proof");
}

#[test]
fn malformed_base64_is_a_usage_error_naming_the_option() {
    let hash = "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=";
    let unpadded = hash.trim_end_matches('=');
    let inclusion = |leaf: &str, root: &str, proof: &str| {
        tracehound(&[
            "rfc6962",
            "verify-inclusion",
            "--leaf-hash",
            leaf,
            "--index",
            "0",
            "--size",
            "2",
            "--root",
            root,
            "--proof",
            proof,
        ])
    };
    for (out, option) in [
        (inclusion(unpadded, hash, hash), "--leaf-hash"),
        (inclusion(hash, "not base64!", hash), "--root"),
        (inclusion(hash, hash, &format!("{hash},{hash}x")), "--proof"),
    ] {
        assert_exit(&out, 2, option);
        assert!(stderr(&out).contains(option), "{}", stderr(&out));
    }
    let consistency = |root1: &str, root2: &str| {
        tracehound(&[
            "rfc6962",
            "verify-consistency",
            "--size1",
            "1",
            "--size2",
            "1",
            "--root1",
            root1,
            "--root2",
            root2,
        ])
    };
    for (out, option) in [
        (consistency("%%%%", hash), "--root1"),
        (consistency(hash, "-AAA"), "--root2"),
    ] {
        assert_exit(&out, 2, option);
        assert!(stderr(&out).contains(option), "{}", stderr(&out));
    }
    assert_exit(&consistency(hash, hash), 0, "well-formed");
    let out = tracehound(&["rfc6962", "verify-inclusion", "--leaf-hash", hash]);
    assert_exit(&out, 2, "missing options");
    let out = tracehound(&[
        "rfc6962",
        "verify-consistency",
        "--size1",
        "-1",
        "--size2",
        "1",
        "--root1",
        hash,
        "--root2",
        hash,
    ]);
    assert_exit(&out, 2, "negative size");
}

// ---- tracehound verify-proof -------------------------------------------------------------------

/// The evidence the proven record is about.
const EVIDENCE: &[u8] = br#"{"q":"1 OR 1=1"}"#;

/// A bundle proving one record of a real in-memory log.
struct Proven {
    /// The bundle's text.
    text: String,
    /// The log's verifier key string.
    key: String,
    /// The checkpoint origin.
    origin: String,
    /// The proven record's leaf index.
    index: u64,
    /// The proven record's signature.
    signature: Signature,
}

fn proven() -> Proven {
    let mut log = AuditLog::open(&AuditConfig::default()).unwrap();
    let signature = Signature::new(Category::Injection, Digest::of(EVIDENCE));
    let other = Signature::new(Category::Spam, Digest::of(b"{}"));
    let at = Timestamp::from_unix_millis(1_700_000_000_000);
    let mut index = None;
    for sig in [&other, &signature, &other, &other, &other] {
        let record = EvidenceRecord::new(RecordType::Quarantined, at, sig, 17, Severity::High);
        let appended = log.append(&record).unwrap();
        if sig == &signature {
            index = Some(appended.index);
        }
    }
    log.commit().unwrap();
    let index = index.unwrap();
    let bundle = log.prove(index).unwrap();
    assert!(bundle.proof.len() >= 2, "the proof has lines to damage");
    Proven {
        text: bundle.to_text(),
        key: log.verifier_key().to_string(),
        origin: log.origin(),
        index,
        signature,
    }
}

/// A file under the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(label: &str, contents: &[u8]) -> TempFile {
        let path = temp_path(label);
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `text` with one base64 character of line `line` (from 0) replaced, `at` characters after
/// the line's `prefix`, so the bundle still parses and the damage reaches verification.
fn damage(text: &str, line: usize, prefix: &str, at: usize) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let target = &mut lines[line];
    assert!(target.starts_with(prefix), "line {line} is {target:?}");
    let position = prefix.len() + at;
    let old = target.as_bytes()[position];
    let new = if old == b'A' { "B" } else { "A" };
    target.replace_range(position..=position, new);
    lines.join("\n")
}

#[test]
fn verify_proof_accepts_a_real_bundle_and_summarizes_it() {
    let proven = proven();
    let bundle = TempFile::new("bundle", proven.text.as_bytes());
    let out = tracehound(&["verify-proof", bundle.path(), "--key", &proven.key]);
    assert_exit(&out, 0, "good bundle");
    let summary = stdout(&out);
    for expected in [
        "proof verifies".to_owned(),
        "quarantined".to_owned(),
        proven.signature.to_string(),
        "high".to_owned(),
        "17 bytes".to_owned(),
        "2023-11-14T22:13:20Z".to_owned(),
        format!("leaf index  {}", proven.index),
        proven.origin.clone(),
        "tree size   5".to_owned(),
    ] {
        assert!(
            summary.contains(&expected),
            "{expected:?} missing:\n{summary}"
        );
    }
    assert!(!summary.contains("1 OR 1=1"), "no payload: {summary}");

    // The origin pinned; several keys, one of them right; the bundle on standard input.
    let out = tracehound(&[
        "verify-proof",
        bundle.path(),
        "--key",
        &proven.key,
        "--origin",
        &proven.origin,
    ]);
    assert_exit(&out, 0, "pinned origin");
    let stranger = AuditLog::open(&AuditConfig::default()).unwrap();
    let stranger_key = stranger.verifier_key().to_string();
    let out = tracehound(&[
        "verify-proof",
        bundle.path(),
        "--key",
        &stranger_key,
        "--key",
        &proven.key,
    ]);
    assert_exit(&out, 0, "one of two keys");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .args(["verify-proof", "-", "--key", &proven.key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(proven.text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, "standard input");
    assert!(stdout(&out).contains(&proven.signature.to_string()));
}

#[test]
fn verify_proof_rejects_a_wrong_key_origin_or_damaged_bundle() {
    let proven = proven();
    let verify = |text: &str, extra: &[&str]| {
        let bundle = TempFile::new("bundle", text.as_bytes());
        let args = [
            &["verify-proof", bundle.path(), "--key", &proven.key],
            extra,
        ]
        .concat();
        tracehound(&args)
    };
    assert_exit(&verify(&proven.text, &[]), 0, "intact");

    let stranger = AuditLog::open(&AuditConfig::default()).unwrap();
    let bundle = TempFile::new("bundle", proven.text.as_bytes());
    let out = tracehound(&[
        "verify-proof",
        bundle.path(),
        "--key",
        &stranger.verifier_key().to_string(),
    ]);
    assert_exit(&out, 1, "another log's key");
    assert!(stderr(&out).contains("no signature from a trusted key"));

    let out = verify(&proven.text, &["--origin", "example.com/tracehound/1"]);
    assert_exit(&out, 1, "another origin");
    assert!(stderr(&out).contains("origin"));

    // Lines: header, `extra <record>`, `index N`, the proof hashes, a blank line, then the
    // checkpoint: origin, size, root, a blank line and the signature.
    let lines: Vec<&str> = proven.text.split('\n').collect();
    let blank = lines.iter().position(|l| l.is_empty()).unwrap();
    let wrong_root = "proof: the proof does not lead to the expected root";
    let bad_signature = "checkpoint: signature from trusted key";
    for (what, damaged, complaint) in [
        ("record", damage(&proven.text, 1, "extra ", 20), wrong_root),
        (
            "first proof hash",
            damage(&proven.text, 3, "", 10),
            wrong_root,
        ),
        (
            "last proof hash",
            damage(&proven.text, blank - 1, "", 30),
            wrong_root,
        ),
        (
            "checkpoint root",
            damage(&proven.text, blank + 3, "", 10),
            bad_signature,
        ),
        (
            "checkpoint origin",
            proven.text.replace("/tracehound/1\n", "/tracehound/2\n"),
            bad_signature,
        ),
    ] {
        assert_ne!(damaged, proven.text);
        let out = verify(&damaged, &[]);
        assert_exit(&out, 1, what);
        let message = stderr(&out);
        assert!(
            message.starts_with("tracehound: proof does not verify: "),
            "{what}: {message}"
        );
        assert!(message.contains(complaint), "{what}: {message}");
    }
    let out = verify(&format!("{}x", proven.text), &[]);
    assert_exit(&out, 1, "trailing garbage");
    let out = verify("not a proof bundle\n", &[]);
    assert_exit(&out, 1, "not a bundle");
}

#[test]
fn verify_proof_checks_the_evidence_bytes() {
    let proven = proven();
    let bundle = TempFile::new("bundle", proven.text.as_bytes());
    let check = |evidence: &[u8]| {
        let evidence = TempFile::new("evidence", evidence);
        tracehound(&[
            "verify-proof",
            bundle.path(),
            "--key",
            &proven.key,
            "--evidence",
            evidence.path(),
        ])
    };
    let out = check(EVIDENCE);
    assert_exit(&out, 0, "the evidence");
    assert!(stdout(&out).contains("matches the record's evidence hash"));
    let out = check(br#"{"q":"1 OR 1=2"}"#);
    assert_exit(&out, 1, "other evidence");
    assert!(stderr(&out).contains("does not hash to the record's evidence hash"));
}

#[test]
fn verify_proof_that_cannot_check_exits_2() {
    let proven = proven();
    let bundle = TempFile::new("bundle", proven.text.as_bytes());
    let missing = std::env::temp_dir().join(format!(
        "tracehound-cli-test-{}-does-not-exist",
        std::process::id()
    ));
    let missing = missing.to_str().unwrap();

    let out = tracehound(&["verify-proof", missing, "--key", &proven.key]);
    assert_exit(&out, 2, "unreadable bundle");
    assert!(stderr(&out).contains("cannot read the proof bundle"));
    let out = tracehound(&[
        "verify-proof",
        bundle.path(),
        "--key",
        &proven.key,
        "--evidence",
        missing,
    ]);
    assert_exit(&out, 2, "unreadable evidence");

    let mut bad_key = proven.key.clone();
    bad_key.pop();
    for (key, complaint) in [
        (bad_key.as_str(), "not a verifier key"),
        ("example.com/tracehound", "not a verifier key"),
    ] {
        let out = tracehound(&["verify-proof", bundle.path(), "--key", key]);
        assert_exit(&out, 2, key);
        assert!(stderr(&out).contains(complaint), "{}", stderr(&out));
    }
    let signer = NoteSigner::generate("example.com/tracehound").unwrap();
    let secret = signer.to_skey();
    let out = tracehound(&["verify-proof", bundle.path(), "--key", &secret]);
    assert_exit(&out, 2, "signer key");
    let complaint = stderr(&out);
    assert!(complaint.contains("signer key"), "{complaint}");
    let secret_part = secret.rsplit('+').next().unwrap();
    assert!(!complaint.contains(secret_part), "the secret is not echoed");

    let out = tracehound(&["verify-proof", bundle.path()]);
    assert_exit(&out, 2, "no key");
}
