//! Untrusted bucket contents into cold storage's readers: object keys from a listing and
//! manifest objects, which anyone who can write the bucket controls.
//!
//! Beyond "never panics":
//! - a key the layout parses as a manifest key is re-derived exactly from the facts it
//!   yields (date, category, hash, capture time, severity, size, source tag);
//! - a manifest that parses serializes and parses back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracehound::cold::{Layout, Manifest, ObjectKey};

fuzz_target!(|data: &[u8]| {
    let Ok(layout) = Layout::new("evidence", "fuzz") else {
        return;
    };
    if let Some(manifest) = Manifest::from_json(data) {
        let again = Manifest::from_json(&manifest.to_json());
        assert_eq!(again.as_ref(), Some(&manifest));
    }
    let text = String::from_utf8_lossy(data);
    for candidate in [text.to_string(), format!("evidence/fuzz/index/{text}")] {
        let Ok(key) = ObjectKey::new(candidate) else {
            continue;
        };
        if let Some(entry) = layout.parse_manifest_key(&key) {
            assert_eq!(entry.manifest_key, key);
            let name = key.as_str().rsplit('/').next().unwrap_or_default();
            let expected = format!(
                "{}-{}-{}-{}-{}.json",
                entry.signature.digest(),
                entry.captured.as_unix_millis(),
                entry.severity,
                entry.size,
                entry.source_tag
            );
            assert_eq!(name, expected, "a parsed key names exactly its facts");
            assert_eq!(
                entry.evidence_key,
                layout.evidence_key(&entry.signature, entry.captured)
            );
        }
    }
});
