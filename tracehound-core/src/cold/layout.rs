//! Where each object lives in a cold store, and the manifest that describes a piece of
//! evidence there. The layout is documented in `docs/cold-storage-format.md`.
//!
//! For one piece of evidence, two objects are written once each:
//!
//! - the envelope, `<prefix>/<deployment>/<yyyy>/<mm>/<dd>/<category>/<sha256>.thcs`, dated by
//!   the evidence's capture time (UTC);
//! - its manifest, `<prefix>/<deployment>/index/<yyyy>/<mm>/<dd>/<category>/`
//!   `<sha256>-<captured-ms>-<severity>-<size>-<source-tag>.json`: JSON metadata whose key
//!   alone answers listing and erasure questions (when, what, how bad, how big, from whom),
//!   so neither needs to download an object.
//!
//! Signed checkpoints go to `<prefix>/<deployment>/checkpoints/<epoch>/<size>`.
//!
//! Every part of a key is a fixed format, a validated name (category, prefix, deployment) or
//! a hash: the source key, which an attacker may choose, appears only as its source tag, the
//! first 32 hex digits of its SHA-256.

use serde::{Deserialize, Serialize};
use tracehound_codec::Digest;

use crate::clock::Timestamp;
use crate::scent::{Category, Severity, SourceKey};
use crate::signature::Signature;

use super::{ColdError, ObjectKey};

/// The manifest format written in [`Manifest::format`].
const MANIFEST_FORMAT: u32 = 1;

/// Hex digits of the source key's SHA-256 kept in a manifest's key.
const SOURCE_TAG_LEN: usize = 32;

/// Where objects go: a key prefix and the deployment's name.
///
/// ```
/// use tracehound::cold::Layout;
///
/// let layout = Layout::new("evidence", "payments.example.com")?;
/// assert_eq!(layout.checkpoint_key(3, 1_024).as_str(),
///            "evidence/payments.example.com/checkpoints/3/1024");
/// assert!(Layout::new("evidence", "Payments/Prod").is_err());
/// # Ok::<(), tracehound::cold::ColdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `<prefix>/<deployment>`.
    root: String,
}

impl Layout {
    /// A layout under `prefix` (one or more key segments) for `deployment` (one segment);
    /// both must be valid in an [`ObjectKey`].
    pub fn new(prefix: &str, deployment: &str) -> Result<Layout, ColdError> {
        if deployment.contains('/') {
            return Err(ColdError::InvalidKey {
                reason: "the deployment must be a single key segment",
            });
        }
        let root = format!("{prefix}/{deployment}");
        ObjectKey::new(root.as_str())?;
        Ok(Layout { root })
    }

    /// `<prefix>/<deployment>`: every object of the deployment is below it.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The key of the envelope of evidence `signature`, captured at `captured`.
    pub fn evidence_key(&self, signature: &Signature, captured: Timestamp) -> ObjectKey {
        let date = Date::of(captured);
        self.key(format!(
            "{}/{date}/{}/{}.thcs",
            self.root,
            signature.category(),
            signature.digest()
        ))
    }

    /// The key of a manifest: its routing facts, spelled out.
    pub fn manifest_key(&self, manifest: &Manifest) -> ObjectKey {
        let date = Date::of(manifest.captured());
        self.key(format!(
            "{}/{date}/{}/{}-{}-{}-{}-{}.json",
            self.index_prefix(),
            manifest.category,
            manifest.evidence_hash,
            manifest.captured_ms,
            manifest.severity,
            manifest.size,
            tag_of(&manifest.source),
        ))
    }

    /// The key of the signed checkpoint of `epoch` at tree `size`.
    pub fn checkpoint_key(&self, epoch: u64, size: u64) -> ObjectKey {
        self.key(format!("{}/checkpoints/{epoch}/{size}", self.root))
    }

    /// The prefix every manifest key starts with.
    pub fn index_prefix(&self) -> String {
        format!("{}/index", self.root)
    }

    /// Reads the routing facts back out of a manifest key; `None` for any other key.
    pub fn parse_manifest_key(&self, key: &ObjectKey) -> Option<IndexEntry> {
        let rest = key
            .as_str()
            .strip_prefix(self.root.as_str())?
            .strip_prefix("/index/")?;
        let mut parts = rest.split('/');
        let (yyyy, mm, dd) = (parts.next()?, parts.next()?, parts.next()?);
        let category: Category = parts.next()?.parse().ok()?;
        let name = parts.next()?.strip_suffix(".json")?;
        if parts.next().is_some() {
            return None;
        }
        let mut fields = name.split('-');
        let digest = Digest::from_hex(fields.next()?).ok()?;
        let captured_ms: u64 = fields.next()?.parse().ok()?;
        let severity: Severity = fields.next()?.parse().ok()?;
        let size: u64 = fields.next()?.parse().ok()?;
        let source_tag = fields.next()?;
        if fields.next().is_some()
            || source_tag.len() != SOURCE_TAG_LEN
            || !source_tag.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        let captured = Timestamp::from_unix_millis(captured_ms);
        // Strict: only the spelling the layout writes (no leading zeros, lowercase hex).
        let canonical = format!("{digest}-{captured_ms}-{severity}-{size}-{source_tag}");
        if format!("{yyyy}/{mm}/{dd}") != Date::of(captured).to_string()
            || name != canonical
            || source_tag.bytes().any(|b| b.is_ascii_uppercase())
        {
            return None;
        }
        let signature = Signature::new(category, digest);
        Some(IndexEntry {
            evidence_key: self.evidence_key(&signature, captured),
            manifest_key: key.clone(),
            signature,
            captured,
            severity,
            size,
            source_tag: source_tag.to_owned(),
        })
    }

    /// A key built from validated parts; the checks in [`Layout::new`] and on categories
    /// make it valid, and a failure here would be a bug, reported rather than panicked on.
    fn key(&self, text: String) -> ObjectKey {
        ObjectKey::new(text).unwrap_or_else(|_| ObjectKey(format!("{}/invalid", self.root)))
    }
}

/// The first 32 hex digits of the SHA-256 of `source`: how a manifest's key names the source
/// without holding its text.
pub fn source_tag(source: &SourceKey) -> String {
    tag_of(source.as_str())
}

pub(crate) fn tag_of(source: &str) -> String {
    let mut hex = [0u8; 64];
    Digest::of(source.as_bytes()).write_hex(&mut hex);
    String::from_utf8_lossy(&hex[..SOURCE_TAG_LEN]).into_owned()
}

/// The destination digest of an `evacuated` audit record: SHA-256 of the object key, a zero
/// byte and the envelope object's SHA-256, so the leaf commits to where the evidence went
/// and to exactly what was written there.
pub fn destination_digest(key: &ObjectKey, envelope_hash: &Digest) -> Digest {
    Digest::of_parts(&[key.as_str().as_bytes(), &[0], envelope_hash.as_bytes()])
}

/// What a manifest's key says about its evidence, read without downloading anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexEntry {
    /// The manifest's key.
    pub manifest_key: ObjectKey,
    /// The key of the envelope it describes.
    pub evidence_key: ObjectKey,
    /// The evidence's signature.
    pub signature: Signature,
    /// Its capture time, to the millisecond.
    pub captured: Timestamp,
    /// Its severity.
    pub severity: Severity,
    /// Its canonical payload's size, in bytes.
    pub size: u64,
    /// Its source's tag ([`source_tag`]).
    pub source_tag: String,
}

/// Metadata of one evacuated piece of evidence, stored as JSON beside its envelope. Holds
/// hashes, sizes, times and the source key; never payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Manifest {
    /// The manifest format (1).
    pub format: u32,
    /// The evidence's signature, `category:sha256`.
    pub signature: String,
    /// Its category.
    pub category: String,
    /// SHA-256 of the canonical payload, hex.
    pub evidence_hash: String,
    /// Its severity (`low` … `critical`).
    pub severity: String,
    /// Canonical payload size, in bytes.
    pub size: u64,
    /// Capture time, Unix milliseconds.
    pub captured_ms: u64,
    /// The source key of the scent it came from.
    pub source: String,
    /// The audit leaf that recorded its entry into the quarantine: `[epoch, index]`.
    pub audit_leaf: Option<[u64; 2]>,
    /// The envelope's key.
    pub object: String,
    /// SHA-256 of the whole envelope object, hex.
    pub envelope_hash: String,
    /// Size of the envelope object, in bytes.
    pub envelope_size: u64,
    /// Why it was evacuated (`evicted`, `flushed`, `neutralized`, `expired`, `shutdown`,
    /// `on-demand`).
    pub cause: String,
}

/// What a manifest describes, for [`Manifest::new`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ManifestFacts<'a> {
    pub(crate) signature: &'a Signature,
    pub(crate) severity: Severity,
    pub(crate) size: u64,
    pub(crate) captured: Timestamp,
    pub(crate) source: &'a SourceKey,
    pub(crate) audit_leaf: Option<[u64; 2]>,
    pub(crate) cause: &'static str,
}

impl Manifest {
    pub(crate) fn new(facts: ManifestFacts<'_>, object: &ObjectKey, envelope: &[u8]) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            signature: facts.signature.to_string(),
            category: facts.signature.category().to_string(),
            evidence_hash: facts.signature.digest().to_string(),
            severity: facts.severity.as_str().to_owned(),
            size: facts.size,
            captured_ms: facts.captured.as_unix_millis(),
            source: facts.source.as_str().to_owned(),
            audit_leaf: facts.audit_leaf,
            object: object.to_string(),
            envelope_hash: Digest::of(envelope).to_string(),
            envelope_size: envelope.len() as u64,
            cause: facts.cause.to_owned(),
        }
    }

    /// The capture time.
    pub fn captured(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.captured_ms)
    }

    /// The JSON stored in the manifest object.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses a manifest object; `None` if it is not one.
    pub fn from_json(bytes: &[u8]) -> Option<Manifest> {
        serde_json::from_slice(bytes)
            .ok()
            .filter(|m: &Manifest| m.format == MANIFEST_FORMAT)
    }
}

/// A UTC calendar date, `yyyy/mm/dd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// The UTC date of `at`.
    pub(crate) fn of(at: Timestamp) -> Date {
        let (year, month, day) = at.utc_date();
        Date { year, month, day }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        for (ms, date) in [
            (0, "1970/01/01"),
            (86_399_999, "1970/01/01"),
            (86_400_000, "1970/01/02"),
            (951_782_400_000, "2000/02/29"),
            (951_868_800_000, "2000/03/01"),
            (1_796_083_200_000, "2026/12/01"),
            (1_798_761_599_999, "2026/12/31"),
            (4_107_542_400_000, "2100/03/01"),
        ] {
            assert_eq!(
                Date::of(Timestamp::from_unix_millis(ms)).to_string(),
                date,
                "{ms}"
            );
        }
    }

    #[test]
    fn manifest_keys_round_trip_and_hold_no_source_text() {
        let layout = Layout::new("evidence/eu", "prod").unwrap();
        let signature = Signature::new(Category::Injection, Digest::of(b"payload"));
        let source = SourceKey::new("203.0.113.9/../../etc");
        let captured = Timestamp::from_unix_millis(1_796_083_200_123);
        let object = layout.evidence_key(&signature, captured);
        assert_eq!(
            object.as_str(),
            format!(
                "evidence/eu/prod/2026/12/01/injection/{}.thcs",
                signature.digest()
            )
        );
        let facts = ManifestFacts {
            signature: &signature,
            severity: Severity::High,
            size: 7,
            captured,
            source: &source,
            audit_leaf: Some([1, 4]),
            cause: "evicted",
        };
        let manifest = Manifest::new(facts, &object, b"envelope");
        let key = layout.manifest_key(&manifest);
        assert!(!key.as_str().contains("203"), "{key}");
        let entry = layout.parse_manifest_key(&key).unwrap();
        assert_eq!(entry.evidence_key, object);
        assert_eq!(entry.signature, signature);
        assert_eq!(entry.captured, captured);
        assert_eq!((entry.severity, entry.size), (Severity::High, 7));
        assert_eq!(entry.source_tag, source_tag(&source));
        assert_eq!(Manifest::from_json(&manifest.to_json()), Some(manifest));

        for other in [
            object.as_str().to_owned(),
            layout.checkpoint_key(1, 2).to_string(),
            key.as_str().replace("/2026/12/01/", "/2026/12/02/"),
            key.as_str().replace("-high-", "-severe-"),
            key.as_str().replace(".json", "-x.json"),
            key.as_str().replace("-high-7-", "-high-07-"),
        ] {
            let other = ObjectKey::new(other).unwrap();
            assert_eq!(layout.parse_manifest_key(&other), None, "{other}");
        }
    }
}
