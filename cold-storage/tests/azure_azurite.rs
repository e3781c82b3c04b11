//! Azure Blob Storage against a real Azurite server on 127.0.0.1 (see
//! `tracehound_test_support::servers`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use tracehound::cold::{ColdError, ColdStore, ObjectKey, Put};
use tracehound_cold_storage::{ObjectStoreCold, StoreConfig};
use tracehound_test_support::servers::Azurite;

const CONTAINER: &str = "evidence";

fn started() -> Azurite {
    let azurite = Azurite::start().unwrap_or_else(|e| panic!("{e}"));
    azurite.create_container(CONTAINER).unwrap();
    azurite
}

/// The emulator's published account and key, named in the config; the account's URL as
/// the endpoint, since object_store's own emulator switch only knows one fixed address.
fn store(azurite: &Azurite, root: &str) -> ObjectStoreCold {
    let mut config = StoreConfig::new(format!("az://{CONTAINER}/{root}"))
        .with_option("azure_storage_account_name", Azurite::ACCOUNT)
        .with_option("azure_storage_account_key", Azurite::KEY);
    config.endpoint = Some(azurite.endpoint());
    config.allow_http = true;
    ObjectStoreCold::open(&config).unwrap()
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text).unwrap()
}

#[test]
fn writes_once_against_the_real_server() {
    let azurite = started();
    let store = store(&azurite, "tracehound/prod");
    let k = key("evidence/prod/2026/12/07/injection/ab12.thcs");
    assert_eq!(store.get(&k).unwrap(), None);
    assert_eq!(store.put(&k, b"envelope").unwrap(), Put::Created);
    // Azurite answers the second conditional create with 409.
    assert_eq!(store.put(&k, b"envelope").unwrap(), Put::Exists);
    assert_eq!(
        store.put(&k, b"a different envelope"),
        Err(ColdError::Conflict { key: k.clone() })
    );
    assert_eq!(store.get(&k).unwrap().as_deref(), Some(&b"envelope"[..]));
}

#[test]
fn lists_by_prefix_and_deletes() {
    let azurite = started();
    let store = store(&azurite, "tracehound/prod");
    let a = key("evidence/2026/12/07/injection/aa.thcs");
    let b = key("evidence/2026/12/08/xss/bb.thcs");
    let c = key("evidence/2027/01/01/xss/cc.thcs");
    store.put(&a, b"1").unwrap();
    store.put(&b, b"22").unwrap();
    store.put(&c, b"333").unwrap();

    let mut found = Vec::new();
    store
        .list("evidence/2026/12/0", &mut |key, size| {
            found.push((key.to_string(), size))
        })
        .unwrap();
    found.sort();
    assert_eq!(found, [(a.to_string(), 1), (b.to_string(), 2)]);

    assert!(store.delete(&a).unwrap());
    assert!(!store.delete(&a).unwrap());
    assert_eq!(store.get(&a).unwrap(), None);
    assert_eq!(store.get(&c).unwrap().as_deref(), Some(&b"333"[..]));
}

#[test]
fn a_wrong_account_key_is_refused() {
    let azurite = started();
    let mut config = StoreConfig::new(format!("az://{CONTAINER}/root"))
        .with_option("azure_storage_account_name", Azurite::ACCOUNT)
        // A valid base64 key, but not the account's.
        .with_option(
            "azure_storage_account_key",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        );
    config.endpoint = Some(azurite.endpoint());
    config.allow_http = true;
    let store = ObjectStoreCold::open(&config).unwrap();
    assert!(matches!(
        store.put(&key("a"), b"x"),
        Err(ColdError::Refused { .. })
    ));
}
