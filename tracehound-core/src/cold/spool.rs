//! The spool: complete envelopes waiting on local disk while the store is unreachable.
//!
//! Each entry is one file, written to `<seq>.tmp`, synced, renamed to `<seq>.spool` and the
//! directory synced, so after a crash a `.spool` file is either complete or absent; `.tmp`
//! files are leftovers and are deleted when the spool opens. A file ends with the SHA-256 of
//! everything before it: one that does not check (a damaged disk, a hand edit) is discarded
//! and counted, never uploaded.
//!
//! File layout, big-endian: `THSP`, version 1, kind (1 evidence, 2 checkpoint), severity rank
//! (4 for a checkpoint, so checkpoints are dropped last), 0, captured time (`u64` ms), key
//! length (`u16`), manifest length (`u32`), body length (`u64`), the key, the manifest JSON,
//! the body (the envelope, or the checkpoint's note), then the SHA-256.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use tracehound_codec::Digest;

use super::layout::{Manifest, tag_of};
use super::{ObjectKey, SpoolConfig};
use crate::scent::Severity;

const MAGIC: &[u8; 4] = b"THSP";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 30;
/// Severity rank given to checkpoints: above every evidence severity.
const CHECKPOINT_RANK: u8 = 4;

/// What waits in the spool: an envelope with its manifest, or a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// Where it goes.
    pub(crate) key: ObjectKey,
    /// The evidence's manifest; `None` for a checkpoint.
    pub(crate) manifest: Option<Manifest>,
    /// The envelope, or the checkpoint's note.
    pub(crate) body: Vec<u8>,
}

impl Item {
    fn rank(&self) -> (u8, u64) {
        match &self.manifest {
            Some(m) => (
                m.severity.parse::<Severity>().map_or(0, |s| s.rank()),
                m.captured_ms,
            ),
            None => (CHECKPOINT_RANK, 0),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        let manifest = self.manifest.as_ref().map_or(0, |m| m.to_json().len());
        (HEADER_LEN + self.key.as_str().len() + manifest + self.body.len() + Digest::LEN) as u64
    }
}

/// An entry's place in the drop order: lowest (severity, capture time, arrival) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    severity: u8,
    captured_ms: u64,
    seq: u64,
}

/// What the spool remembers of an entry without reading its file.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) bytes: u64,
    /// The evidence's signature text and source tag, for erasure; `None` for a checkpoint.
    pub(crate) evidence: Option<(String, String)>,
    pub(crate) captured_ms: u64,
    /// The evidence's severity (low for a checkpoint) and payload size.
    pub(crate) severity: Severity,
    pub(crate) size: u64,
}

/// The spool directory and its index.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_files: usize,
    bytes: u64,
    entries: BTreeMap<Rank, Entry>,
    next_seq: u64,
}

/// The outcome of opening a spool.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Complete entries found.
    pub(crate) entries: usize,
    /// Damaged or half-written files deleted.
    pub(crate) discarded: u64,
}

impl Spool {
    /// Opens (creating) the spool directory and indexes the entries a previous run left.
    pub(crate) fn open(config: &SpoolConfig) -> io::Result<(Spool, Opened)> {
        fs::create_dir_all(&config.dir)?;
        let mut spool = Spool {
            dir: config.dir.clone(),
            max_bytes: config.max_bytes,
            max_files: config.max_files,
            bytes: 0,
            entries: BTreeMap::new(),
            next_seq: 0,
        };
        let mut opened = Opened::default();
        let mut names: Vec<PathBuf> = fs::read_dir(&config.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        for path in names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(seq) = name.strip_suffix(".tmp") {
                if u64::from_str_radix(seq, 16).is_ok() {
                    fs::remove_file(&path)?;
                    opened.discarded += 1;
                }
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".spool")
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            else {
                continue;
            };
            spool.next_seq = spool.next_seq.max(seq + 1);
            match fs::read(&path).ok().and_then(|bytes| decode(&bytes)) {
                Some(item) => {
                    spool.index(seq, &item);
                    opened.entries += 1;
                }
                None => {
                    fs::remove_file(&path)?;
                    opened.discarded += 1;
                }
            }
        }
        Ok((spool, opened))
    }

    fn index(&mut self, seq: u64, item: &Item) -> Rank {
        let (severity, captured_ms) = item.rank();
        let rank = Rank {
            severity,
            captured_ms,
            seq,
        };
        let bytes = item.len();
        self.bytes += bytes;
        self.entries.insert(
            rank,
            Entry {
                bytes,
                evidence: item
                    .manifest
                    .as_ref()
                    .map(|m| (m.signature.clone(), tag_of(&m.source))),
                captured_ms,
                severity: Severity::from_rank(severity).unwrap_or(Severity::Low),
                size: item.manifest.as_ref().map_or(0, |m| m.size),
            },
        );
        rank
    }

    fn path(&self, seq: u64, suffix: &str) -> PathBuf {
        self.dir.join(format!("{seq:016x}.{suffix}"))
    }

    /// Writes `item` durably, first dropping the lowest entries until it fits. Returns the
    /// entries dropped to make room, or `Err(Full)` with nothing written if `item` itself
    /// ranks lowest and does not fit.
    pub(crate) fn push(&mut self, item: &Item) -> Result<Vec<Item>, PushError> {
        let needed = item.len();
        if needed > self.max_bytes {
            return Err(PushError::Full);
        }
        let (severity, captured_ms) = item.rank();
        let incoming = Rank {
            severity,
            captured_ms,
            seq: self.next_seq,
        };
        let mut victims = Vec::new();
        let mut freed = 0;
        for (rank, entry) in &self.entries {
            if self.bytes - freed + needed <= self.max_bytes
                && self.entries.len() - victims.len() < self.max_files
            {
                break;
            }
            if *rank > incoming {
                return Err(PushError::Full);
            }
            victims.push(*rank);
            freed += entry.bytes;
        }
        if self.bytes - freed + needed > self.max_bytes
            || self.entries.len() - victims.len() >= self.max_files
        {
            return Err(PushError::Full);
        }
        let seq = self.next_seq;
        self.write(seq, item).map_err(PushError::Io)?;
        self.next_seq += 1;
        let mut dropped = Vec::with_capacity(victims.len());
        for rank in victims {
            if let Some(item) = self.take(rank).map_err(PushError::Io)? {
                dropped.push(item);
            }
        }
        self.index(seq, item);
        Ok(dropped)
    }

    fn write(&self, seq: u64, item: &Item) -> io::Result<()> {
        let tmp = self.path(seq, "tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&encode(item))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, self.path(seq, "spool"))?;
        File::open(&self.dir)?.sync_all()
    }

    /// The entry to upload next: the highest ranked.
    #[cfg(test)]
    pub(crate) fn next(&self) -> Option<Rank> {
        self.entries.keys().next_back().copied()
    }

    /// The `n` entries to upload next, highest ranked first.
    pub(crate) fn first(&self, n: usize) -> Vec<Rank> {
        self.entries.keys().rev().take(n).copied().collect()
    }

    /// Reads an entry's file back, verified. A file that no longer checks is deleted and
    /// `Ok(None)` returned (the caller counts it).
    pub(crate) fn read(&mut self, rank: Rank) -> io::Result<Option<Item>> {
        let bytes = fs::read(self.path(rank.seq, "spool"))?;
        match decode(&bytes) {
            Some(item) => Ok(Some(item)),
            None => {
                self.remove(rank)?;
                Ok(None)
            }
        }
    }

    /// Reads and removes an entry.
    fn take(&mut self, rank: Rank) -> io::Result<Option<Item>> {
        let item = self.read(rank)?;
        self.remove(rank)?;
        Ok(item)
    }

    /// Deletes an entry's file and forgets it.
    pub(crate) fn remove(&mut self, rank: Rank) -> io::Result<()> {
        if let Some(entry) = self.entries.remove(&rank) {
            self.bytes -= entry.bytes;
            match fs::remove_file(self.path(rank.seq, "spool")) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Entries matching `wanted`, for erasure.
    pub(crate) fn matching(&self, mut wanted: impl FnMut(&Entry) -> bool) -> Vec<(Rank, Entry)> {
        self.entries
            .iter()
            .filter(|(_, e)| wanted(e))
            .map(|(r, e)| (*r, e.clone()))
            .collect()
    }

    /// Files held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the files held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Why an item could not be spooled.
#[derive(Debug)]
pub(crate) enum PushError {
    /// It ranks below everything that would have to make room, or is larger than the cap.
    Full,
    /// The disk failed.
    Io(io::Error),
}

fn encode(item: &Item) -> Vec<u8> {
    let manifest = item.manifest.as_ref().map(Manifest::to_json);
    let manifest = manifest.as_deref().unwrap_or_default();
    let (severity, captured_ms) = item.rank();
    let kind = if item.manifest.is_some() { 1 } else { 2 };
    let key = item.key.as_str().as_bytes();
    let mut out = Vec::with_capacity(item.len() as usize);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, kind, severity, 0]);
    out.extend_from_slice(&captured_ms.to_be_bytes());
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
    out.extend_from_slice(&(item.body.len() as u64).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(manifest);
    out.extend_from_slice(&item.body);
    let digest = Digest::of(&out);
    out.extend_from_slice(digest.as_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<Item> {
    let (content, digest) = bytes.split_at_checked(bytes.len().checked_sub(Digest::LEN)?)?;
    if content.len() < HEADER_LEN
        || &content[..4] != MAGIC
        || content[4] != VERSION
        || Digest::of(content).as_bytes() != digest
    {
        return None;
    }
    let kind = content[5];
    let key_len = usize::from(u16::from_be_bytes([content[16], content[17]]));
    let manifest_len = u32::from_be_bytes(content[18..22].try_into().ok()?) as usize;
    let body_len = usize::try_from(u64::from_be_bytes(content[22..30].try_into().ok()?)).ok()?;
    let rest = &content[HEADER_LEN..];
    if rest.len() != key_len.checked_add(manifest_len)?.checked_add(body_len)? {
        return None;
    }
    let (key, rest) = rest.split_at(key_len);
    let (manifest, body) = rest.split_at(manifest_len);
    let key = ObjectKey::new(std::str::from_utf8(key).ok()?).ok()?;
    let manifest = match kind {
        1 => Some(Manifest::from_json(manifest)?),
        2 if manifest.is_empty() => None,
        _ => return None,
    };
    Some(Item {
        key,
        manifest,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use tracehound_test_support::TempDir;

    use super::*;
    use crate::clock::Timestamp;
    use crate::cold::layout::ManifestFacts;
    use crate::scent::{Category, SourceKey};
    use crate::signature::Signature;

    fn item(n: u8, severity: Severity, captured_ms: u64, size: usize) -> Item {
        let signature = Signature::new(Category::Spam, Digest::of(&[n]));
        let key = ObjectKey::new(format!("e/d/{n}.thcs")).unwrap();
        let source = SourceKey::new(format!("10.0.0.{n}"));
        let facts = ManifestFacts {
            signature: &signature,
            severity,
            size: size as u64,
            captured: Timestamp::from_unix_millis(captured_ms),
            source: &source,
            audit_leaf: None,
            cause: "evicted",
        };
        let body = vec![n; size];
        Item {
            manifest: Some(Manifest::new(facts, &key, &body)),
            key,
            body,
        }
    }

    fn config(dir: &TempDir, max_bytes: u64) -> SpoolConfig {
        let mut config = SpoolConfig::new(&dir.0);
        config.max_bytes = max_bytes;
        config
    }

    #[test]
    fn entries_survive_a_reopen_and_damage_is_discarded() {
        let dir = TempDir::new("spool-reopen").unwrap();
        let (mut spool, opened) = Spool::open(&config(&dir, 1 << 20)).unwrap();
        assert_eq!(opened, Opened::default());
        let a = item(1, Severity::High, 10, 100);
        let b = item(2, Severity::Low, 20, 100);
        assert!(spool.push(&a).unwrap().is_empty());
        assert!(spool.push(&b).unwrap().is_empty());
        let checkpoint = Item {
            key: ObjectKey::new("e/d/checkpoints/1/2").unwrap(),
            manifest: None,
            body: b"note".to_vec(),
        };
        spool.push(&checkpoint).unwrap();
        let bytes = spool.bytes();
        drop(spool);

        // A half-written file and a damaged one, as a crash and a bad disk leave them.
        fs::write(dir.0.join("00000000000000ff.tmp"), b"THSP\x01").unwrap();
        let damaged = dir.0.join(format!("{:016x}.spool", 1));
        let mut content = fs::read(&damaged).unwrap();
        content[40] ^= 1;
        fs::write(&damaged, content).unwrap();

        let (mut spool, opened) = Spool::open(&config(&dir, 1 << 20)).unwrap();
        assert_eq!(
            opened,
            Opened {
                entries: 2,
                discarded: 2
            }
        );
        assert!(spool.bytes() < bytes);
        // Checkpoints first, then the highest severity.
        let first = spool.next().unwrap();
        assert_eq!(spool.read(first).unwrap(), Some(checkpoint));
        spool.remove(first).unwrap();
        let second = spool.next().unwrap();
        assert_eq!(spool.read(second).unwrap(), Some(a));
        spool.remove(second).unwrap();
        assert_eq!((spool.next(), spool.len(), spool.bytes()), (None, 0, 0));
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);
    }

    #[test]
    fn at_the_cap_the_lowest_go_first() {
        let dir = TempDir::new("spool-cap").unwrap();
        let one = item(0, Severity::Low, 0, 1_000).len();
        let cap = one * 3 + 64; // severities differ in length in the manifest
        let (mut spool, _) = Spool::open(&config(&dir, cap)).unwrap();
        let low_old = item(1, Severity::Low, 10, 1_000);
        let low_new = item(2, Severity::Low, 20, 1_000);
        let high = item(3, Severity::High, 5, 1_000);
        for i in [&low_old, &low_new, &high] {
            assert!(spool.push(i).unwrap().is_empty());
        }
        let medium = item(4, Severity::Medium, 1, 1_000);
        assert_eq!(spool.push(&medium).unwrap(), vec![low_old.clone()]);
        // A newcomer below everything is refused, and nothing is lost to make room for it.
        let lowest = item(5, Severity::Low, 1, 1_000);
        assert!(matches!(spool.push(&lowest), Err(PushError::Full)));
        assert_eq!(spool.len(), 3);
        assert!(spool.bytes() <= cap);
        let big = item(6, Severity::Critical, 1, 5_000);
        assert!(matches!(spool.push(&big), Err(PushError::Full)));
    }
}
