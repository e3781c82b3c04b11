//! Opening stores from configuration: URL shapes, settings, and what each error says.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use tracehound::cold::{ColdStore, ObjectKey, Put};
use tracehound_cold_storage::{ObjectStoreCold, OpenError, StoreConfig};
use tracehound_test_support::TempDir;

#[test]
fn a_file_url_creates_its_directory() {
    let dir = TempDir::new("cold-config").unwrap();
    let target = dir.0.join("a/b/cold");
    let config: StoreConfig =
        toml::from_str(&format!("url = \"file://{}\"", target.display())).unwrap();
    config.validate().unwrap();
    let store = ObjectStoreCold::open(&config).unwrap();
    assert!(target.is_dir());
    let key = ObjectKey::new("x/y").unwrap();
    assert_eq!(store.put(&key, b"z").unwrap(), Put::Created);
    assert_eq!(std::fs::read(target.join("x/y")).unwrap(), b"z");
}

#[test]
fn a_memory_url_may_name_a_root() {
    let store = ObjectStoreCold::open(&StoreConfig::new("memory:///tracehound/test")).unwrap();
    assert_eq!(store.root(), "tracehound/test");
    let store = ObjectStoreCold::open(&StoreConfig::new("memory://")).unwrap();
    assert_eq!(store.root(), "");
}

#[test]
fn unknown_fields_are_rejected() {
    let typo = toml::from_str::<StoreConfig>("url = \"memory://\"\nallow_https = true");
    assert!(typo.is_err());
}

#[test]
fn bad_urls_say_what_to_write() {
    type Expected = fn(&OpenError) -> bool;
    let cases: [(&str, Expected); 7] = [
        ("", |e| matches!(e, OpenError::InvalidUrl { .. })),
        ("not a url", |e| matches!(e, OpenError::InvalidUrl { .. })),
        (
            "ftp://host/dir",
            |e| matches!(e, OpenError::UnsupportedScheme { scheme } if scheme == "ftp"),
        ),
        ("file://relative/dir", |e| {
            matches!(e, OpenError::InvalidUrl { .. })
        }),
        ("memory://host", |e| {
            matches!(e, OpenError::InvalidUrl { .. })
        }),
        (
            "s3://key:secret@bucket/root",
            |e| matches!(e, OpenError::InvalidUrl { reason, url } if reason.contains("credentials") && url.contains("bucket")),
        ),
        ("memory:///a?b=c", |e| {
            matches!(e, OpenError::InvalidUrl { .. })
        }),
    ];
    for (url, expected) in cases {
        let error = StoreConfig::new(url).validate().unwrap_err();
        assert!(expected(&error), "{url:?}: {error:?}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn local_stores_take_no_network_settings() {
    let mut with_endpoint = StoreConfig::new("memory://");
    with_endpoint.endpoint = Some("http://127.0.0.1:9".to_owned());
    assert!(matches!(
        with_endpoint.validate(),
        Err(OpenError::InvalidOption { key, .. }) if key == "endpoint"
    ));
    let with_option = StoreConfig::new("file:///tmp/x").with_option("timeout", "1s");
    assert!(matches!(
        with_option.validate(),
        Err(OpenError::InvalidOption { key, .. }) if key == "timeout"
    ));
}

#[test]
fn option_values_stay_out_of_debug_output() {
    let config =
        StoreConfig::new("s3://bucket/root").with_option("aws_secret_access_key", "s3cr3t");
    let shown = format!("{config:?}");
    assert!(shown.contains("aws_secret_access_key"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[cfg(not(feature = "s3"))]
#[test]
fn an_s3_url_without_the_feature_names_it() {
    let error = StoreConfig::new("s3://bucket/root").validate().unwrap_err();
    assert_eq!(
        error,
        OpenError::FeatureDisabled {
            scheme: "s3",
            feature: "s3"
        }
    );
    assert!(error.to_string().contains("\"s3\" feature"), "{error}");
}

#[cfg(not(feature = "gcs"))]
#[test]
fn a_gs_url_without_the_feature_names_it() {
    let error = StoreConfig::new("gs://bucket/root").validate().unwrap_err();
    assert!(matches!(
        error,
        OpenError::FeatureDisabled { feature: "gcs", .. }
    ));
}

#[cfg(not(feature = "azure"))]
#[test]
fn an_az_url_without_the_feature_names_it() {
    let error = StoreConfig::new("az://container/root")
        .validate()
        .unwrap_err();
    assert!(matches!(
        error,
        OpenError::FeatureDisabled {
            feature: "azure",
            ..
        }
    ));
}

#[cfg(feature = "s3")]
#[test]
fn s3_settings_are_checked_by_name() {
    let mut config = StoreConfig::new("s3://bucket/root")
        .with_option("aws_server_side_encryption", "aws:kms")
        .with_option("aws_sse_kms_key_id", "example-key");
    config.region = Some("eu-west-1".to_owned());
    config.validate().unwrap();
    let unknown = StoreConfig::new("s3://bucket/root").with_option("aws_secret_acess_key", "x");
    assert!(matches!(
        unknown.validate(),
        Err(OpenError::InvalidOption { key, .. }) if key == "aws_secret_acess_key"
    ));
}
