//! `tracehound cold` against a real S3 (moto on 127.0.0.1) and a local directory, run as an
//! operator would: list without downloading, get (payload only when asked), verify (naming
//! each damaged object and exiting 1), erase. The evidence is written by a real `Tracehound`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracehound::cold::{ColdConfig, ColdStore, ObjectKey};
use tracehound::{Category, Config, Scent, Severity, Tracehound};
use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};
use tracehound_test_support::TempDir;
use tracehound_test_support::servers::Moto;

const BUCKET: &str = "cli-evidence";
const DEPLOYMENT: &str = "cli.test";

/// Evacuates `count` pieces of evidence from seven sources to `store`, and returns their
/// signatures and the log's verifier key.
fn evacuate(store: Arc<dyn ColdStore>, count: u64) -> (Vec<String>, String) {
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = None;
    config.audit.deployment = DEPLOYMENT.into();
    config.cold = Some(ColdConfig::default());
    let th = Tracehound::builder()
        .config(config)
        .cold_store(store)
        .build()
        .unwrap();
    let signatures = (0..count)
        .map(|n| {
            let scent = Scent::new(
                format!("192.0.2.{}", n % 7),
                json!({"q": format!("<script>{n}</script>")}),
            )
            .with_threat("xss".parse::<Category>().unwrap(), Severity::High);
            match th.intercept(&scent) {
                tracehound::Outcome::Quarantined(r) => r.signature().to_string(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    th.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while th.snapshot().cold.uploaded < count {
        assert!(Instant::now() < deadline, "{:?}", th.snapshot().cold);
        std::thread::sleep(Duration::from_millis(10));
    }
    (signatures, th.verifier_key().to_string())
}

fn cold(url: &str, moto: Option<&Moto>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracehound"));
    command.arg("cold").args(&args[..1]).arg(url);
    command.args(["--deployment", DEPLOYMENT]);
    if let Some(moto) = moto {
        command
            .args(["--endpoint", &moto.endpoint(), "--allow-http"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
    }
    command.args(&args[1..]).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", text(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn list_get_verify_and_erase_in_a_bucket_and_name_a_tampered_object() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket(BUCKET).unwrap();
    let url = format!("s3://{BUCKET}");
    let mut config = StoreConfig::new(url.as_str())
        .with_option("aws_access_key_id", "testing")
        .with_option("aws_secret_access_key", "testing");
    config.endpoint = Some(moto.endpoint());
    config.region = Some("us-east-1".into());
    config.allow_http = true;
    let (signatures, _) = evacuate(Arc::new(ObjectStoreCold::open(&config).unwrap()), 14);
    let m = Some(&moto);

    let listed = json_of(&cold(&url, m, &["list", "--json"]));
    let evidence = listed["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 14);
    let from_one = json_of(&cold(&url, m, &["list", "--json", "--source", "192.0.2.3"]));
    assert_eq!(from_one["evidence"].as_array().unwrap().len(), 2);
    let human = cold(&url, m, &["list", "--min-severity", "critical"]);
    assert!(
        text(&human).contains("0 piece(s) of evidence"),
        "{}",
        text(&human)
    );

    // get: metadata, and the payload only when asked for.
    let got = cold(&url, m, &["get", &signatures[0]]);
    let shown = text(&got);
    assert!(got.status.success(), "{shown}");
    assert!(
        shown.contains("192.0.2.0") && !shown.contains("<script>"),
        "{shown}"
    );
    let with_payload = json_of(&cold(
        &url,
        m,
        &["get", &signatures[0], "--json", "--show-payload"],
    ));
    assert_eq!(
        with_payload["payload"],
        json!("{\"q\":\"<script>0</script>\"}")
    );
    assert_eq!(with_payload["verified"], json!(true));

    let clean = cold(&url, m, &["verify"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(text(&clean).contains("14 piece(s) of evidence verified"));

    // One byte of one envelope changed through the S3 API, as anyone with write access
    // could: deleted and written again (the store's own client never overwrites).
    let victim = evidence[5]["object"].as_str().unwrap().to_owned();
    let direct = ObjectStoreCold::open(&config).unwrap();
    let key = ObjectKey::new(victim.as_str()).unwrap();
    let mut bytes = direct.get(&key).unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(direct.delete(&key).unwrap());
    direct.put(&key, &bytes).unwrap();
    let damaged = cold(&url, m, &["verify"]);
    assert_eq!(damaged.status.code(), Some(1), "{}", text(&damaged));
    assert!(
        text(&damaged).contains(&format!("DAMAGED  {victim}")),
        "{}",
        text(&damaged)
    );
    let report = cold(&url, m, &["verify", "--json"]);
    assert_eq!(report.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["damaged"][0]["key"], json!(victim));
    assert_eq!(report["verified"], json!(13));
    let read = cold(
        &url,
        m,
        &["get", evidence[5]["signature"].as_str().unwrap()],
    );
    assert_eq!(read.status.code(), Some(1));
    assert!(text(&read).contains(&victim), "{}", text(&read));

    // Erase one source: its objects go, the others stay.
    let erased = json_of(&cold(
        &url,
        m,
        &["erase", "--source", "192.0.2.3", "--json"],
    ));
    assert_eq!(erased["erased"].as_array().unwrap().len(), 2);
    let left = json_of(&cold(&url, m, &["list", "--json"]));
    assert_eq!(left["evidence"].as_array().unwrap().len(), 12);
    let unselected = cold(&url, m, &["erase"]);
    assert_eq!(unselected.status.code(), Some(1));
    assert!(text(&unselected).contains("needs a selection"));
}

#[test]
fn a_local_directory_works_the_same() {
    let dir = TempDir::new("cli-cold-local").unwrap();
    let url = format!("file://{}", dir.0.display());
    let store = ObjectStoreCold::open(&StoreConfig::new(url.as_str())).unwrap();
    let (_, vkey) = evacuate(Arc::new(store), 3);
    let verified = cold(&url, None, &["verify", "--json", "--key", &vkey]);
    let report = json_of(&verified);
    assert_eq!(report["verified"], json!(3));
    assert!(report["checkpoints"].as_u64().unwrap() >= 1, "{report}");
    // Checkpoints that another key signed are named as damaged.
    let (_, other) = evacuate(Arc::new(ObjectStoreCold::memory().unwrap()), 1);
    let wrong = cold(&url, None, &["verify", "--key", &other]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("signature does not verify"),
        "{}",
        text(&wrong)
    );
    let bad = cold("ftp://example.com/x", None, &["list"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("ftp://example.com/x"), "{}", text(&bad));
}

/// A service with a durable audit log that evacuates `count` pieces to a local directory,
/// erases the first one, and stops: the store's URL and the log's directory.
fn evacuate_with_a_log(base: &std::path::Path, count: u64) -> (String, std::path::PathBuf) {
    let url = format!("file://{}", base.join("cold").display());
    let log = base.join("audit");
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = None;
    config.audit.deployment = DEPLOYMENT.into();
    config.audit.dir = Some(log.clone());
    config.cold = Some(ColdConfig::default());
    let store = ObjectStoreCold::open(&StoreConfig::new(url.as_str())).unwrap();
    let th = Tracehound::builder()
        .config(config)
        .cold_store(Arc::new(store))
        .build()
        .unwrap();
    let mut first = None;
    for n in 0..count {
        let scent = Scent::new(format!("192.0.2.{n}"), json!({"q": format!("<img {n}>")}))
            .with_threat("xss".parse::<Category>().unwrap(), Severity::High);
        match th.intercept(&scent) {
            tracehound::Outcome::Quarantined(r) => {
                first.get_or_insert_with(|| r.signature().clone());
            }
            other => panic!("{other:?}"),
        }
    }
    th.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while th.snapshot().cold.uploaded < count {
        assert!(Instant::now() < deadline, "{:?}", th.snapshot().cold);
        std::thread::sleep(Duration::from_millis(10));
    }
    let erasure = th
        .erase(&tracehound::cold::Selection::signature(first.unwrap()))
        .unwrap();
    assert_eq!(erasure.evidence.len(), 1);
    drop(th);
    (url, log)
}

/// Every file below `dir` whose path ends with `suffix`, sorted.
fn files(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = tracehound_test_support::files_below(dir).unwrap();
    found.retain(|path| path.to_string_lossy().ends_with(suffix));
    found
}

#[test]
fn verify_against_the_log_catches_what_the_store_alone_cannot() {
    let base = TempDir::new("cli-cold-log").unwrap();
    let (url, log) = evacuate_with_a_log(&base.0, 4);
    let log_arg = log.display().to_string();
    let with_log = |json: bool| {
        let mut args = vec!["verify", "--log", log_arg.as_str()];
        if json {
            args.push("--json");
        }
        cold(&url, None, &args)
    };
    // Intact: three pieces held, one erased with an `erased` record after its evacuation.
    let report = json_of(&with_log(true));
    assert_eq!(report["verified"], json!(3), "{report}");
    assert_eq!(report["damaged"], json!([]), "{report}");
    assert_eq!(report["log"]["evacuations"], json!(4), "{report}");
    assert_eq!(report["log"]["erasures"], json!(1), "{report}");

    // Someone with write access re-seals one envelope (same payload, another level) and
    // fixes its manifest to match: every hash in the store agrees, the log does not.
    let manifests = files(&base.0.join("cold"), ".json");
    let manifest_path = manifests
        .iter()
        .find(|p| p.to_string_lossy().contains("/index/"))
        .unwrap();
    let manifest_bytes = std::fs::read(manifest_path).unwrap();
    let mut manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let object = base
        .0
        .join("cold")
        .join(manifest["object"].as_str().unwrap());
    let original = std::fs::read(&object).unwrap();
    let payload = tracehound_codec::envelope::open(&original, 1 << 20).unwrap();
    let mut options = tracehound_codec::envelope::SealOptions::default();
    options.level = tracehound_codec::gzip::Level::FAST;
    let resealed = tracehound_codec::envelope::seal_with(&payload, options).unwrap();
    assert_ne!(resealed, original);
    std::fs::write(&object, &resealed).unwrap();
    manifest["envelope_hash"] = json!(tracehound::Digest::of(&resealed).to_string());
    manifest["envelope_size"] = json!(resealed.len());
    std::fs::write(manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let alone = json_of(&cold(&url, None, &["verify", "--json"]));
    assert_eq!(
        alone["damaged"],
        json!([]),
        "the store alone sees nothing: {alone}"
    );
    let caught = with_log(false);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught));
    let key = manifest["object"].as_str().unwrap();
    assert!(
        text(&caught).contains(&format!("DAMAGED  {key}: no evacuated record")),
        "{}",
        text(&caught)
    );
    assert!(
        text(&caught).contains("the store does not hold that object"),
        "{}",
        text(&caught)
    );
    std::fs::write(&object, &original).unwrap();
    std::fs::write(manifest_path, &manifest_bytes).unwrap();
    assert_eq!(json_of(&with_log(true))["damaged"], json!([]));

    // A manifest pointing at another leaf of the log.
    let mut manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let leaf = manifest["audit_leaf"].clone();
    manifest["audit_leaf"] = json!([leaf[0], leaf[1].as_u64().unwrap() + 1]);
    std::fs::write(manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let moved = json_of_failed(&with_log(true));
    let reasons: Vec<&str> = moved["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 1, "{moved}");
    assert!(reasons[0].contains("which records"), "{moved}");
    std::fs::write(manifest_path, &manifest_bytes).unwrap();
    assert_eq!(json_of(&with_log(true))["damaged"], json!([]));

    // Objects deleted behind the log's back (not erased): the store alone sees nothing.
    std::fs::remove_file(&object).unwrap();
    std::fs::remove_file(manifest_path).unwrap();
    assert_eq!(
        json_of(&cold(&url, None, &["verify", "--json"]))["damaged"],
        json!([])
    );
    let deleted = json_of_failed(&with_log(true));
    let damaged = deleted["damaged"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{deleted}");
    assert_eq!(damaged[0]["key"], manifest["signature"], "{deleted}");

    // A damaged log is named, and fails the run.
    let segment = files(&log, ".log")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("segment-"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let broken = json_of_failed(&with_log(true));
    let reason = broken["damaged"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("the audit log: "), "{broken}");
    assert!(reason.contains("segment-"), "{broken}");
}

fn json_of_failed(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(1), "{}", text(output));
    serde_json::from_slice(&output.stdout).unwrap()
}
