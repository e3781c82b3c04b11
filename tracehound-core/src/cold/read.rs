//! Reading cold storage back: listing by the facts in manifest keys, verified reads of
//! envelopes, and deleting evidence for erasure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use tracehound_codec::{Digest, envelope};

use crate::clock::Timestamp;
use crate::scent::{Category, Severity, SourceKey};
use crate::signature::Signature;

use super::layout::{IndexEntry, Layout, Manifest, source_tag};
use super::{ColdError, ColdStore, ObjectKey};

/// Which evidence to list or erase. Every set field must match; the default matches all.
///
/// ```
/// use tracehound::cold::Selection;
/// use tracehound::{Severity, SourceKey};
///
/// let mut selection = Selection::default();
/// selection.min_severity = Some(Severity::High);
/// selection.source = Some(SourceKey::new("203.0.113.9"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selection {
    /// Captured at or after this time.
    pub from: Option<Timestamp>,
    /// Captured before this time.
    pub until: Option<Timestamp>,
    /// Of this category.
    pub category: Option<Category>,
    /// At least this severe.
    pub min_severity: Option<Severity>,
    /// From this source key (matched by its tag; the key's text is not in object keys).
    pub source: Option<SourceKey>,
    /// This piece of evidence.
    pub signature: Option<Signature>,
}

impl Selection {
    /// Evidence with this signature.
    pub fn signature(signature: Signature) -> Selection {
        Selection {
            signature: Some(signature),
            ..Selection::default()
        }
    }

    /// Evidence from this source.
    pub fn source(source: SourceKey) -> Selection {
        Selection {
            source: Some(source),
            ..Selection::default()
        }
    }

    /// Evidence captured in `[from, until)`.
    pub fn captured(from: Timestamp, until: Timestamp) -> Selection {
        Selection {
            from: Some(from),
            until: Some(until),
            ..Selection::default()
        }
    }

    /// A matcher on the facts a manifest key holds.
    pub(crate) fn matcher(&self) -> impl Fn(&Signature, Timestamp, Severity, &str) -> bool + '_ {
        let tag = self.source.as_ref().map(source_tag);
        move |signature, captured, severity, source_tag| {
            self.from.is_none_or(|from| captured >= from)
                && self.until.is_none_or(|until| captured < until)
                && self
                    .category
                    .as_ref()
                    .is_none_or(|c| c == signature.category())
                && self.min_severity.is_none_or(|min| severity >= min)
                && tag.as_deref().is_none_or(|tag| tag == source_tag)
                && self.signature.as_ref().is_none_or(|s| s == signature)
        }
    }

    /// Whether `entry` is selected.
    pub fn matches(&self, entry: &IndexEntry) -> bool {
        self.matcher()(
            &entry.signature,
            entry.captured,
            entry.severity,
            &entry.source_tag,
        )
    }
}

/// Why a cold read failed. Names keys, never object contents.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The store failed.
    Store(ColdError),
    /// No object under this key.
    Missing {
        /// The key.
        key: ObjectKey,
    },
    /// The object is not intact: its envelope does not check, its payload does not hash to
    /// its name, or its manifest disagrees with it.
    Damaged {
        /// The key.
        key: ObjectKey,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Store(error) => error.fmt(f),
            ReadError::Missing { key } => write!(f, "no object at {key}"),
            ReadError::Damaged { key, reason } => write!(f, "{key} is damaged: {reason}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ColdError> for ReadError {
    fn from(error: ColdError) -> Self {
        ReadError::Store(error)
    }
}

/// Evidence read back from cold storage and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColdEvidence {
    /// What its manifest key says.
    pub entry: IndexEntry,
    /// Its manifest.
    pub manifest: Manifest,
    /// The canonical payload: it hashes to the signature.
    pub payload: Vec<u8>,
}

/// Where erased evidence was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ErasedFrom {
    /// It was held in the quarantine.
    pub quarantine: bool,
    /// It waited in the spool.
    pub spool: bool,
    /// The cold store held it.
    pub store: bool,
}

impl ErasedFrom {
    /// The reason code of its `erased` audit record: 1 quarantine, 2 spool, 4 store.
    pub const fn code(self) -> u8 {
        self.quarantine as u8 | (self.spool as u8) << 1 | (self.store as u8) << 2
    }
}

/// Evidence erased from cold storage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasedObjects {
    /// The evidence.
    pub signature: Signature,
    /// Its severity and size, from its manifest key.
    pub severity: Severity,
    /// Canonical payload size.
    pub size: u64,
    /// Keys deleted (envelope and manifests).
    pub deleted: Vec<ObjectKey>,
    /// Keys the store refused to delete (a retention lock, permissions), with its reason.
    pub refused: Vec<(ObjectKey, String)>,
}

/// Reads a deployment's evidence from a cold store: listing without downloading, and
/// verified reads.
///
/// ```
/// use std::sync::Arc;
/// use tracehound::cold::{ColdReader, Layout, Selection};
/// # use tracehound::cold::{ColdError, ColdStore, ObjectKey, Put};
/// # #[derive(Debug)] struct Empty;
/// # impl ColdStore for Empty {
/// #     fn put(&self, _: &ObjectKey, _: &[u8]) -> Result<Put, ColdError> { Ok(Put::Created) }
/// #     fn get(&self, _: &ObjectKey) -> Result<Option<Vec<u8>>, ColdError> { Ok(None) }
/// #     fn delete(&self, _: &ObjectKey) -> Result<bool, ColdError> { Ok(false) }
/// #     fn list(&self, _: &str, _: &mut dyn FnMut(&ObjectKey, u64)) -> Result<(), ColdError> { Ok(()) }
/// # }
///
/// let reader = ColdReader::new(Arc::new(Empty), Layout::new("evidence", "localhost")?);
/// assert!(reader.list(&Selection::default())?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ColdReader {
    store: Arc<dyn ColdStore>,
    layout: Layout,
    max_payload: u64,
}

impl ColdReader {
    /// A reader of `layout`'s objects in `store`, refusing payloads over 64 MiB.
    pub fn new(store: Arc<dyn ColdStore>, layout: Layout) -> ColdReader {
        ColdReader {
            store,
            layout,
            max_payload: crate::canonical::MAX_PAYLOAD_BYTES as u64,
        }
    }

    /// The layout read.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The store read.
    pub fn store(&self) -> &Arc<dyn ColdStore> {
        &self.store
    }

    /// Every selected piece of evidence, from manifest keys alone (nothing is downloaded),
    /// oldest first.
    pub fn list(&self, selection: &Selection) -> Result<Vec<IndexEntry>, ColdError> {
        let mut entries = Vec::new();
        let matcher = selection.matcher();
        self.store
            .list(&self.layout.index_prefix(), &mut |key, _| {
                if let Some(entry) = self.layout.parse_manifest_key(key)
                    && matcher(
                        &entry.signature,
                        entry.captured,
                        entry.severity,
                        &entry.source_tag,
                    )
                {
                    entries.push(entry);
                }
            })?;
        entries.sort_by(|a, b| (a.captured, &a.manifest_key).cmp(&(b.captured, &b.manifest_key)));
        Ok(entries)
    }

    /// Reads and verifies the envelope under `key`: its structure and hash, its declared and
    /// decompressed size (bounded), and that the payload hashes to the name the key gives.
    /// Returns the canonical payload.
    pub fn get_object(&self, key: &ObjectKey) -> Result<Vec<u8>, ReadError> {
        let object = self
            .store
            .get(key)?
            .ok_or_else(|| ReadError::Missing { key: key.clone() })?;
        self.open(key, &object)
    }

    fn open(&self, key: &ObjectKey, object: &[u8]) -> Result<Vec<u8>, ReadError> {
        let damaged = |reason: String| ReadError::Damaged {
            key: key.clone(),
            reason,
        };
        let payload =
            envelope::open(object, self.max_payload).map_err(|e| damaged(e.to_string()))?;
        let named = key
            .as_str()
            .rsplit('/')
            .next()
            .and_then(|name| name.strip_suffix(".thcs"))
            .and_then(|hex| Digest::from_hex(hex).ok());
        match named {
            Some(digest) if digest == Digest::of(&payload) => Ok(payload),
            Some(_) => Err(damaged(
                "the payload does not hash to the object's name".into(),
            )),
            None => Err(damaged("not an evidence envelope's key".into())),
        }
    }

    /// The manifest of an entry, checked against its key.
    pub fn manifest(&self, entry: &IndexEntry) -> Result<Manifest, ReadError> {
        let key = &entry.manifest_key;
        let bytes = self
            .store
            .get(key)?
            .ok_or_else(|| ReadError::Missing { key: key.clone() })?;
        let manifest = Manifest::from_json(&bytes).ok_or_else(|| ReadError::Damaged {
            key: key.clone(),
            reason: "not a manifest".into(),
        })?;
        if self.layout.manifest_key(&manifest) != *key
            || manifest.object != entry.evidence_key.as_str()
        {
            return Err(ReadError::Damaged {
                key: key.clone(),
                reason: "the manifest does not match its key".into(),
            });
        }
        Ok(manifest)
    }

    /// Reads one entry: its manifest and its verified payload, checking that the envelope
    /// is the one the manifest describes.
    pub fn read(&self, entry: &IndexEntry) -> Result<ColdEvidence, ReadError> {
        let manifest = self.manifest(entry)?;
        let key = &entry.evidence_key;
        let object = self
            .store
            .get(key)?
            .ok_or_else(|| ReadError::Missing { key: key.clone() })?;
        let payload = self.open(key, &object)?;
        if Digest::of(&object).to_string() != manifest.envelope_hash
            || object.len() as u64 != manifest.envelope_size
            || payload.len() as u64 != manifest.size
        {
            return Err(ReadError::Damaged {
                key: key.clone(),
                reason: "the envelope is not the one its manifest describes".into(),
            });
        }
        Ok(ColdEvidence {
            entry: entry.clone(),
            manifest,
            payload,
        })
    }

    /// The newest capture of the evidence with `signature`, verified; `None` if the store
    /// has none.
    pub fn get(&self, signature: &Signature) -> Result<Option<ColdEvidence>, ReadError> {
        let entries = self.list(&Selection::signature(signature.clone()))?;
        entries.last().map(|entry| self.read(entry)).transpose()
    }

    /// Deletes every selected piece of evidence: its envelope and all its manifests (those
    /// of other captures of the same evidence too, so none is left naming a deleted
    /// object). Decided from manifest keys alone: nothing is downloaded.
    pub fn erase(&self, selection: &Selection) -> Result<Vec<ErasedObjects>, ColdError> {
        // Two listings, so that memory holds the selected evidence only, not the store's
        // whole index: the objects a selected manifest describes, then every manifest of
        // those objects (other captures of the same evidence too).
        let prefix = self.layout.index_prefix();
        let mut selected = BTreeSet::new();
        self.store.list(&prefix, &mut |key, _| {
            if let Some(entry) = self.layout.parse_manifest_key(key)
                && selection.matches(&entry)
            {
                selected.insert(entry.evidence_key);
            }
        })?;
        let mut by_object: BTreeMap<ObjectKey, Vec<IndexEntry>> = BTreeMap::new();
        if !selected.is_empty() {
            self.store.list(&prefix, &mut |key, _| {
                if let Some(entry) = self.layout.parse_manifest_key(key)
                    && selected.contains(&entry.evidence_key)
                {
                    by_object
                        .entry(entry.evidence_key.clone())
                        .or_default()
                        .push(entry);
                }
            })?;
        }
        let mut erased = Vec::new();
        for (object, entries) in by_object {
            let Some(first) = entries.iter().find(|e| selection.matches(e)) else {
                continue;
            };
            let mut done = ErasedObjects {
                signature: first.signature.clone(),
                severity: first.severity,
                size: first.size,
                deleted: Vec::new(),
                refused: Vec::new(),
            };
            // The envelope first: a manifest left by a failure still leads to what remains.
            // If it is refused (a retention lock), its manifests stay too, so it stays listed.
            let keys = std::iter::once(object).chain(entries.into_iter().map(|e| e.manifest_key));
            for key in keys {
                match self.store.delete(&key) {
                    Ok(_) => done.deleted.push(key),
                    Err(ColdError::Refused { message, .. }) => {
                        done.refused.push((key, message));
                        break;
                    }
                    Err(error) => return Err(error),
                }
            }
            erased.push(done);
        }
        // Deletes on a local disk are made durable as writes are; if that fails they were
        // still made, and are reported: a machine crash before the file system writes them
        // back could bring objects back, which the next erase removes again.
        if erased.iter().any(|e| !e.deleted.is_empty())
            && let Err(error) = self.store.sync()
        {
            tracing::warn!(%error, "cold: erased objects could not be synced");
        }
        Ok(erased)
    }
}
