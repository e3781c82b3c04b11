//! Google Cloud Storage: configuration and key layout only, with no network. No emulator
//! available to the project honours GCS conditional writes, so write-once is not tested
//! against a GCS server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use tracehound::cold::ObjectKey;
use tracehound_cold_storage::{ObjectStoreCold, OpenError, StoreConfig};

/// A static bearer token: building the client then reads no credential file and asks no
/// metadata server.
fn config(url: &str) -> StoreConfig {
    StoreConfig::new(url).with_option("google_bearer_token", "not-a-real-token")
}

#[test]
fn opens_a_bucket_and_places_keys_under_the_root() {
    let store = ObjectStoreCold::open(&config("gs://evidence/tracehound/prod")).unwrap();
    assert_eq!(store.root(), "tracehound/prod");
    let key = ObjectKey::new("evidence/prod/2026/12/07/injection/ab12.thcs").unwrap();
    assert_eq!(
        store.object_path(&key),
        "tracehound/prod/evidence/prod/2026/12/07/injection/ab12.thcs"
    );
    let top = ObjectStoreCold::open(&config("gs://evidence")).unwrap();
    assert_eq!(top.object_path(&key), key.as_str());
    // Percent-encoded roots are decoded, then checked.
    let spaced = ObjectStoreCold::open(&config("gs://evidence/cold%20store")).unwrap();
    assert_eq!(spaced.root(), "cold store");
}

#[test]
fn parses_from_toml() {
    let config: StoreConfig = toml::from_str(
        r#"
        url = "gs://evidence/tracehound"
        endpoint = "https://storage.example.internal"

        [options]
        google_service_account = "/etc/tracehound/gcs-key.json"
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(
        config.endpoint.as_deref(),
        Some("https://storage.example.internal")
    );
}

#[test]
fn settings_gcs_does_not_take_are_named() {
    let mut with_region = config("gs://evidence/root");
    with_region.region = Some("europe-west1".to_owned());
    assert!(matches!(
        with_region.validate(),
        Err(OpenError::InvalidOption { key, .. }) if key == "region"
    ));

    let unknown = config("gs://evidence/root").with_option("aws_secret_access_key", "s3cr3t");
    let error = unknown.validate().unwrap_err();
    assert!(
        matches!(&error, OpenError::InvalidOption { key, .. } if key == "aws_secret_access_key")
    );
    assert!(!error.to_string().contains("s3cr3t"), "{error}");

    assert!(matches!(
        config("gs:///root").validate(),
        Err(OpenError::InvalidUrl { .. })
    ));
    assert!(matches!(
        config("gs://evidence:443/root").validate(),
        Err(OpenError::InvalidUrl { .. })
    ));
}
