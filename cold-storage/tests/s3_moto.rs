//! S3 against a real moto server on 127.0.0.1 (see `tracehound_test_support::servers`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::time::{Duration, Instant};

use tracehound::cold::{ColdError, ColdStore, ObjectKey, Put};
use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};
use tracehound_test_support::servers::Moto;

const BUCKET: &str = "evidence";

fn started() -> Moto {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket(BUCKET).unwrap();
    moto
}

/// Dummy credentials through the config, not the process environment.
fn config(moto: &Moto, root: &str) -> StoreConfig {
    let mut config = StoreConfig::new(format!("s3://{BUCKET}/{root}"))
        .with_option("aws_access_key_id", "testing")
        .with_option("aws_secret_access_key", "testing");
    config.endpoint = Some(moto.endpoint());
    config.region = Some("us-east-1".to_owned());
    config.allow_http = true;
    config
}

fn store(moto: &Moto, root: &str) -> ObjectStoreCold {
    ObjectStoreCold::open(&config(moto, root)).unwrap()
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text).unwrap()
}

fn listed(store: &ObjectStoreCold, prefix: &str) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    store
        .list(prefix, &mut |key, size| found.push((key.to_string(), size)))
        .unwrap();
    found.sort();
    found
}

#[test]
fn writes_once_against_the_real_server() {
    let moto = started();
    let store = store(&moto, "tracehound/prod");
    let k = key("evidence/prod/2026/12/07/injection/ab12.thcs");
    assert_eq!(store.get(&k).unwrap(), None);
    assert_eq!(store.put(&k, b"envelope").unwrap(), Put::Created);
    // The second create gets moto's 412 to If-None-Match: *, then a read and compare.
    assert_eq!(store.put(&k, b"envelope").unwrap(), Put::Exists);
    assert_eq!(
        store.put(&k, b"a different envelope"),
        Err(ColdError::Conflict { key: k.clone() })
    );
    assert_eq!(store.get(&k).unwrap().as_deref(), Some(&b"envelope"[..]));
}

#[test]
fn lists_by_prefix_and_deletes() {
    let moto = started();
    let store = store(&moto, "tracehound/prod");
    let other_root = store_with_root(&moto, "tracehound/staging");
    let a = key("evidence/2026/12/07/injection/aa.thcs");
    let b = key("evidence/2026/12/08/xss/bb.thcs");
    let c = key("evidence/2027/01/01/xss/cc.thcs");
    store.put(&a, b"1").unwrap();
    store.put(&b, b"22").unwrap();
    store.put(&c, b"333").unwrap();
    other_root.put(&a, b"elsewhere").unwrap();

    assert_eq!(
        listed(&store, "evidence/2026/12/0"),
        [(a.to_string(), 1), (b.to_string(), 2)]
    );
    assert_eq!(listed(&store, "evidence/2027"), [(c.to_string(), 3)]);
    assert_eq!(listed(&store, "").len(), 3);
    assert_eq!(listed(&other_root, ""), [(a.to_string(), 9)]);

    assert!(store.delete(&a).unwrap());
    assert!(!store.delete(&a).unwrap());
    assert_eq!(store.get(&a).unwrap(), None);
    assert_eq!(
        other_root.get(&a).unwrap().as_deref(),
        Some(&b"elsewhere"[..])
    );
}

/// An unconditional, signed PUT by another client holding the bucket's credentials: what
/// anyone with write access could do. (moto refuses an anonymous overwrite of an object
/// that has an owner, so a plain unsigned PUT will not do.) The rustls provider is already
/// installed by the store opened before.
fn overwrite_behind_its_back(moto: &Moto, path: &str, body: &[u8]) {
    use tracehound_cold_storage::object_store::aws::AmazonS3Builder;
    use tracehound_cold_storage::object_store::path::Path;
    use tracehound_cold_storage::object_store::{ObjectStoreExt, PutPayload};
    let s3 = AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(BUCKET)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(s3.put(&Path::parse(path).unwrap(), PutPayload::from(body.to_vec())))
        .unwrap();
}

fn store_with_root(moto: &Moto, root: &str) -> ObjectStoreCold {
    store(moto, root)
}

#[test]
fn an_object_replaced_behind_its_back_is_a_conflict() {
    let moto = started();
    let store = store(&moto, "tracehound/prod");
    let k = key("evidence/2026/12/07/injection/ab12.thcs");
    assert_eq!(store.put(&k, b"original").unwrap(), Put::Created);

    overwrite_behind_its_back(&moto, &store.object_path(&k), b"tampered");

    assert_eq!(
        store.put(&k, b"original"),
        Err(ColdError::Conflict { key: k.clone() })
    );
    // The store hands back what is there; verifying it is the caller's job.
    assert_eq!(store.get(&k).unwrap().as_deref(), Some(&b"tampered"[..]));
}

#[test]
fn a_stopped_server_is_unavailable_quickly_and_a_restarted_one_serves_again() {
    let mut moto = started();
    let store = store(&moto, "root");
    let k = key("a/b");
    assert_eq!(store.put(&k, b"x").unwrap(), Put::Created);

    moto.stop();
    let started = Instant::now();
    match store.put(&key("a/c"), b"secret-bytes") {
        Err(ColdError::Unavailable { message }) => {
            assert!(message.starts_with("put a/c: "), "{message}");
            assert!(!message.contains("secret-bytes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(store.get(&k), Err(ColdError::Unavailable { .. })));
    assert!(matches!(
        store.list("", &mut |_, _| {}),
        Err(ColdError::Unavailable { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // moto keeps nothing across a restart: the bucket has to be made again.
    moto.restart().unwrap();
    moto.create_bucket(BUCKET).unwrap();
    assert_eq!(store.put(&k, b"x").unwrap(), Put::Created);
}

#[test]
fn opens_from_toml_and_works_inside_another_runtime() {
    let moto = started();
    let text = format!(
        r#"
        url = "s3://{BUCKET}/from/toml"
        endpoint = "{}"
        region = "us-east-1"
        allow_http = true

        [options]
        aws_access_key_id = "testing"
        aws_secret_access_key = "testing"
        "#,
        moto.endpoint()
    );
    let config: StoreConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap();
    assert!(!format!("{config:?}").contains("testing"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Opened, used and dropped on a thread that is inside a runtime.
        let store = ObjectStoreCold::open(&config).unwrap();
        assert_eq!(store.root(), "from/toml");
        let k = key("k");
        assert_eq!(store.put(&k, b"v").unwrap(), Put::Created);
        assert_eq!(store.get(&k).unwrap().as_deref(), Some(&b"v"[..]));
    });
}

#[test]
fn a_missing_bucket_is_unavailable() {
    let moto = started();
    // The operator has to create it; until then the uploader keeps retrying.
    let mut config = config(&moto, "root");
    config.url = "s3://no-such-bucket/root".to_owned();
    let store = ObjectStoreCold::open(&config).unwrap();
    assert!(matches!(
        store.put(&key("a"), b"x"),
        Err(ColdError::Unavailable { .. })
    ));
}

#[test]
fn credentials_the_server_rejects_are_refused() {
    // moto checks signatures once two requests (the launcher's probe, the bucket) are done,
    // and knows no access key "testing".
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "2")])
        .unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket(BUCKET).unwrap();
    let store = store(&moto, "root");
    let k = key("a");
    match store.put(&k, b"x") {
        Err(ColdError::Refused { key, message }) => {
            assert_eq!(key, k);
            assert!(message.starts_with("put: "), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
