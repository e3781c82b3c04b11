//! The audit log: every lifecycle step of every piece of evidence, as a leaf of an RFC 6962
//! Merkle tree. Its size, root and per-type counts are in [`Snapshot::audit`](crate::Snapshot).
//!
//! A leaf is a versioned binary record that commits to the evidence *hash*, never to payload
//! bytes, so erasing evidence never breaks the tree. Leaf hash = SHA-256(0x00 ‖ record), node
//! hash = SHA-256(0x01 ‖ left ‖ right), and the root of the empty tree is SHA-256 of nothing.
//!
//! In this form the log keeps only the compact range of the tree (one subtree root per set
//! bit of the size, at most 64 hashes), which is all that appending and computing the root
//! need. Its memory is constant however many records it holds.
//!
//! # Record layout, version 1
//!
//! All integers are big-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | format version, `1` |
//! | 1 | 1 | record type: 1 quarantined, 2 evicted, 3 dropped, 4 neutralized, 5 purged, 6 replaced, 7 expired |
//! | 2 | 8 | sequence number (the leaf index) |
//! | 10 | 8 | claimed time, nanoseconds since the Unix epoch (the host's clock, not trusted) |
//! | 18 | 1 | category length `L` (1 to 64) |
//! | 19 | L | category, ASCII |
//! | 19+L | 32 | evidence hash (SHA-256 of the canonical payload) |
//! | 51+L | 8 | stored size of the evidence, bytes |
//! | 59+L | 1 | severity, 0 low to 3 critical |
//! | 60+L | 1 | reason code (per type, 0 when none) |
//! | 61+L | 1 | digest length `D`, 0 or 32 |
//! | 62+L | D | digest: for `replaced`, the evidence hash of the replacement |
//!
//! Reason codes: evicted and dropped, 1 = count cap, 2 = byte cap; neutralized, 0 = single,
//! 1 = flush; purged, the [`PurgeReason`](crate::PurgeReason) code.

use tracehound_codec::Digest;

use crate::clock::Timestamp;
use crate::scent::{MAX_CATEGORY_LEN, Severity};
use crate::signature::Signature;

/// Format version written in every record.
const FORMAT_VERSION: u8 = 1;

/// Longest encoded record.
const MAX_RECORD_LEN: usize = 62 + MAX_CATEGORY_LEN + Digest::LEN;

/// Lifecycle step a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordType {
    Quarantined = 1,
    Evicted = 2,
    Dropped = 3,
    Neutralized = 4,
    Purged = 5,
    Replaced = 6,
    Expired = 7,
}

/// One lifecycle record, before it is given a sequence number.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub(crate) kind: RecordType,
    pub(crate) time: Timestamp,
    pub(crate) signature: &'a Signature,
    pub(crate) size: u64,
    pub(crate) severity: Severity,
    pub(crate) reason: u8,
    pub(crate) digest: Option<Digest>,
}

impl Record<'_> {
    /// Writes the version-1 encoding with sequence number `seq` into `out`; returns its
    /// length.
    fn encode(&self, seq: u64, out: &mut [u8; MAX_RECORD_LEN]) -> usize {
        let category = self.signature.category().as_str().as_bytes();
        // Category names are validated to at most 64 bytes; the cut only guards the layout.
        let category = &category[..category.len().min(MAX_CATEGORY_LEN)];
        let mut w = Writer { out, at: 0 };
        w.put(&[FORMAT_VERSION, self.kind as u8]);
        w.put(&seq.to_be_bytes());
        w.put(&self.time.as_unix_nanos().to_be_bytes());
        w.put(&[category.len() as u8]);
        w.put(category);
        w.put(self.signature.digest().as_bytes());
        w.put(&self.size.to_be_bytes());
        w.put(&[self.severity.rank(), self.reason]);
        match self.digest {
            Some(d) => {
                w.put(&[Digest::LEN as u8]);
                w.put(d.as_bytes());
            }
            None => w.put(&[0]),
        }
        w.at
    }
}

struct Writer<'a> {
    out: &'a mut [u8; MAX_RECORD_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        self.out[self.at..end].copy_from_slice(bytes);
        self.at = end;
    }
}

/// Number of audit records of each type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditCounts {
    /// Evidence entered the quarantine (including evidence dropped at once).
    pub quarantined: u64,
    /// Evidence removed to make room for higher-priority evidence.
    pub evicted: u64,
    /// New evidence that was itself the lowest priority and was not kept.
    pub dropped: u64,
    /// Evidence removed by `neutralize` or `flush`.
    pub neutralized: u64,
    /// Evidence removed by `purge`.
    pub purged: u64,
    /// Evidence removed by `replace`.
    pub replaced: u64,
    /// Evidence removed because it outlived the configured maximum age.
    pub expired: u64,
}

impl AuditCounts {
    /// Records that removed evidence from the quarantine.
    pub fn removals(&self) -> u64 {
        self.evicted + self.dropped + self.neutralized + self.purged + self.replaced + self.expired
    }

    /// All records.
    pub fn total(&self) -> u64 {
        self.quarantined + self.removals()
    }

    fn count(&mut self, kind: RecordType) {
        let slot = match kind {
            RecordType::Quarantined => &mut self.quarantined,
            RecordType::Evicted => &mut self.evicted,
            RecordType::Dropped => &mut self.dropped,
            RecordType::Neutralized => &mut self.neutralized,
            RecordType::Purged => &mut self.purged,
            RecordType::Replaced => &mut self.replaced,
            RecordType::Expired => &mut self.expired,
        };
        *slot += 1;
    }
}

/// The log: a compact range of an RFC 6962 tree plus per-type counts.
#[derive(Debug, Default)]
pub(crate) struct AuditLog {
    /// Roots of the perfect subtrees that make up the tree, largest (leftmost) first.
    frontier: Vec<Digest>,
    size: u64,
    counts: AuditCounts,
}

impl AuditLog {
    /// Appends a record; returns its leaf index.
    pub(crate) fn append(&mut self, record: &Record<'_>) -> u64 {
        let mut buf = [0u8; MAX_RECORD_LEN];
        let len = record.encode(self.size, &mut buf);
        self.counts.count(record.kind);
        self.append_leaf(&buf[..len])
    }

    /// Appends raw leaf bytes; returns the leaf index.
    fn append_leaf(&mut self, leaf: &[u8]) -> u64 {
        let index = self.size;
        let mut node = leaf_hash(leaf);
        // Each trailing one bit of the old size is a subtree of equal height to merge with.
        let mut size = self.size;
        while size & 1 == 1 {
            let Some(left) = self.frontier.pop() else {
                break;
            };
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.frontier.push(node);
        self.size += 1;
        index
    }

    /// Number of leaves.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash of all leaves.
    pub(crate) fn root(&self) -> Digest {
        let mut subtrees = self.frontier.iter().rev();
        let Some(&last) = subtrees.next() else {
            return Digest::of(b"");
        };
        subtrees.fold(last, |right, left| node_hash(left, &right))
    }

    pub(crate) fn counts(&self) -> AuditCounts {
        self.counts
    }
}

fn leaf_hash(leaf: &[u8]) -> Digest {
    Digest::of_parts(&[&[0x00], leaf])
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scent::Category;

    /// RFC 6962 §2.1, written recursively as the RFC states it.
    fn reference_root(leaves: &[Vec<u8>]) -> Digest {
        match leaves.len() {
            0 => Digest::of(b""),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = 1 << (usize::BITS - (n - 1).leading_zeros() - 1);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn known_roots_for_sizes_zero_to_eight() {
        // transparency-dev's reference leaf inputs and roots, as listed in
        // shared/reference/audit-log-and-middleware.md §A.5.
        let leaves = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut log = AuditLog::default();
        assert_eq!(log.root().to_string(), roots[0]);
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(log.append_leaf(&hex(leaf)), i as u64);
            assert_eq!(
                log.root().to_string(),
                roots[i + 1],
                "root of size {}",
                i + 1
            );
        }
    }

    #[test]
    fn hasher_known_answers() {
        assert_eq!(
            leaf_hash(b"L123456").to_string(),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        );
        let node = Digest::of_parts(&[&[0x01], b"N123", b"N456"]);
        assert_eq!(
            node.to_string(),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        );
    }

    #[test]
    fn compact_range_matches_recursive_reference() {
        let mut log = AuditLog::default();
        let mut leaves = Vec::new();
        for i in 0u32..300 {
            let leaf = i.to_be_bytes().repeat((i % 5) as usize);
            log.append_leaf(&leaf);
            leaves.push(leaf);
            assert_eq!(log.root(), reference_root(&leaves), "size {}", leaves.len());
            assert_eq!(log.frontier.len() as u32, log.size.count_ones());
        }
    }

    #[test]
    fn record_encoding_is_pinned() {
        let sig = Signature::new(Category::Spam, Digest::from_bytes([0xab; 32]));
        let replacement = Digest::from_bytes([0xcd; 32]);
        let record = Record {
            kind: RecordType::Replaced,
            time: Timestamp::from_unix_nanos(0x0102_0304_0506_0708),
            signature: &sig,
            size: 300,
            severity: Severity::High,
            reason: 0,
            digest: Some(replacement),
        };
        let mut buf = [0u8; MAX_RECORD_LEN];
        let len = record.encode(5, &mut buf);
        let mut expected = vec![1, 6, 0, 0, 0, 0, 0, 0, 0, 5];
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.push(4);
        expected.extend_from_slice(b"spam");
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&300u64.to_be_bytes());
        expected.extend_from_slice(&[2, 0, 32]);
        expected.extend_from_slice(&[0xcd; 32]);
        assert_eq!(&buf[..len], &expected[..]);

        let longest = Signature::new(
            Category::custom(&"z".repeat(MAX_CATEGORY_LEN)).unwrap(),
            Digest::from_bytes([0; 32]),
        );
        let record = Record {
            signature: &longest,
            ..record
        };
        assert_eq!(record.encode(0, &mut buf), MAX_RECORD_LEN);
    }

    #[test]
    fn counts_by_type() {
        let sig = Signature::new(Category::Unknown, Digest::of(b"x"));
        let mut log = AuditLog::default();
        for kind in [
            RecordType::Quarantined,
            RecordType::Quarantined,
            RecordType::Evicted,
            RecordType::Dropped,
            RecordType::Expired,
        ] {
            log.append(&Record {
                kind,
                time: Timestamp::EPOCH,
                signature: &sig,
                size: 1,
                severity: Severity::Low,
                reason: 0,
                digest: None,
            });
        }
        let counts = log.counts();
        assert_eq!(counts.quarantined, 2);
        assert_eq!(counts.removals(), 3);
        assert_eq!(counts.total(), log.size());
    }
}
