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
