//! Leaf records: the bytes each Merkle leaf commits to. The layout is documented byte by byte
//! in `docs/audit-log-format.md` and pinned by the golden tests below.

use std::fmt;

use tracehound_codec::Digest;

use crate::clock::Timestamp;
use crate::scent::{Category, MAX_CATEGORY_LEN, Severity};
use crate::signature::Signature;

/// Format version written in every record.
const FORMAT_VERSION: u8 = 1;

/// Longest evidence or gap record: these travel through the writer queue inline.
pub(crate) const MAX_INLINE_RECORD_LEN: usize = 62 + MAX_CATEGORY_LEN + Digest::LEN;

/// Longest signed checkpoint an epoch-start record may carry.
pub(crate) const MAX_CHECKPOINT_NOTE_LEN: usize = 1024;

/// Longest record of any type, in bytes.
pub const MAX_RECORD_LEN: usize = 28 + MAX_CHECKPOINT_NOTE_LEN;

/// What a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordType {
    /// Evidence entered the quarantine (also written for evidence dropped at once).
    Quarantined = 1,
    /// Evidence was evicted to make room.
    Evicted = 2,
    /// New evidence ranked lowest and was not kept.
    Dropped = 3,
    /// Evidence was neutralized (`neutralize` or `flush`).
    Neutralized = 4,
    /// Evidence was purged.
    Purged = 5,
    /// Evidence was replaced by other evidence.
    Replaced = 6,
    /// Evidence outlived the maximum age.
    Expired = 7,
    /// Records were lost because the log could not take them; this marks the gap.
    Gap = 8,
    /// First leaf of an epoch: the previous epoch's final signed checkpoint.
    EpochStart = 9,
    /// A hound finished a job on the evidence; the reason is the outcome code, the digest the
    /// analysis digest when there is a report.
    Analysed = 10,
    /// First leaf of an epoch that does not continue the one before: the operator accepted
    /// starting over after the log found its stored history missing or contradicted.
    Reset = 11,
    /// Evidence reached cold storage; the reason is the evacuation cause code, the digest
    /// the destination digest: SHA-256 of the object key, a zero byte, and the SHA-256 of
    /// the envelope object.
    Evacuated = 12,
    /// Evidence was erased on request; the reason is a bit set of where it was found
    /// (1 quarantine, 2 spool, 4 cold store).
    Erased = 13,
    /// Evidence meant for cold storage did not get there; the reason is the loss code.
    ColdDropped = 14,
}

impl RecordType {
    fn from_code(code: u8) -> Option<RecordType> {
        Some(match code {
            1 => RecordType::Quarantined,
            2 => RecordType::Evicted,
            3 => RecordType::Dropped,
            4 => RecordType::Neutralized,
            5 => RecordType::Purged,
            6 => RecordType::Replaced,
            7 => RecordType::Expired,
            8 => RecordType::Gap,
            9 => RecordType::EpochStart,
            10 => RecordType::Analysed,
            11 => RecordType::Reset,
            12 => RecordType::Evacuated,
            13 => RecordType::Erased,
            14 => RecordType::ColdDropped,
            _ => return None,
        })
    }

    /// The type's name in `docs/audit-log-format.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Quarantined => "quarantined",
            RecordType::Evicted => "evicted",
            RecordType::Dropped => "dropped",
            RecordType::Neutralized => "neutralized",
            RecordType::Purged => "purged",
            RecordType::Replaced => "replaced",
            RecordType::Expired => "expired",
            RecordType::Gap => "gap",
            RecordType::EpochStart => "epoch-start",
            RecordType::Analysed => "analysed",
            RecordType::Reset => "reset",
            RecordType::Evacuated => "evacuated",
            RecordType::Erased => "erased",
            RecordType::ColdDropped => "cold-dropped",
        }
    }

    fn is_evidence(self) -> bool {
        !matches!(
            self,
            RecordType::Gap | RecordType::EpochStart | RecordType::Reset
        )
    }

    /// Whether only the log itself writes records of this type.
    pub(crate) fn is_log_own(self) -> bool {
        !self.is_evidence()
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lifecycle step of one piece of evidence, before the log gives it a sequence number.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EvidenceRecord<'a> {
    /// The step; one of the evidence types (not `Gap` or `EpochStart`).
    pub kind: RecordType,
    /// Claimed time (the host's clock; not trusted).
    pub time: Timestamp,
    /// The evidence's signature: its category and evidence hash.
    pub signature: &'a Signature,
    /// Stored size of the evidence, in bytes.
    pub size: u64,
    /// Its severity.
    pub severity: Severity,
    /// Reason code, per type (0 when none).
    pub reason: u8,
    /// For `Replaced`, the evidence hash of the replacement; for later types, the
    /// destination or analysis digest.
    pub digest: Option<Digest>,
}

impl<'a> EvidenceRecord<'a> {
    /// A record of `kind` for `signature`, with no reason code and no digest.
    pub fn new(
        kind: RecordType,
        time: Timestamp,
        signature: &'a Signature,
        size: u64,
        severity: Severity,
    ) -> Self {
        EvidenceRecord {
            kind,
            time,
            signature,
            size,
            severity,
            reason: 0,
            digest: None,
        }
    }

    /// Sets the reason code.
    pub fn with_reason(mut self, reason: u8) -> Self {
        self.reason = reason;
        self
    }

    /// Sets the digest.
    pub fn with_digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    /// Writes the encoding with sequence number `seq`; returns its length.
    pub(crate) fn encode(&self, seq: u64, out: &mut [u8; MAX_INLINE_RECORD_LEN]) -> usize {
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

/// Encodes a gap record: `lost` records between `first` and `last` (claimed times) never
/// reached the log.
pub(crate) fn encode_gap(
    seq: u64,
    time: Timestamp,
    lost: u64,
    first: Timestamp,
    last: Timestamp,
    out: &mut [u8; MAX_INLINE_RECORD_LEN],
) -> usize {
    let mut w = Writer { out, at: 0 };
    w.put(&[FORMAT_VERSION, RecordType::Gap as u8]);
    w.put(&seq.to_be_bytes());
    w.put(&time.as_unix_nanos().to_be_bytes());
    w.put(&lost.to_be_bytes());
    w.put(&first.as_unix_nanos().to_be_bytes());
    w.put(&last.as_unix_nanos().to_be_bytes());
    w.at
}

/// Encodes an epoch-start record carrying the previous epoch's final signed checkpoint.
pub(crate) fn encode_epoch_start(
    time: Timestamp,
    previous_epoch: u64,
    checkpoint: &str,
) -> Result<Vec<u8>, RecordError> {
    let note = checkpoint.as_bytes();
    if note.len() > MAX_CHECKPOINT_NOTE_LEN {
        return Err(RecordError("checkpoint note longer than 1024 bytes"));
    }
    let mut out = Vec::with_capacity(28 + note.len());
    out.extend_from_slice(&[FORMAT_VERSION, RecordType::EpochStart as u8]);
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&time.as_unix_nanos().to_be_bytes());
    out.extend_from_slice(&previous_epoch.to_be_bytes());
    out.extend_from_slice(&(note.len() as u16).to_be_bytes());
    out.extend_from_slice(note);
    Ok(out)
}

/// Why the log started over instead of continuing its stored history (the `reset` record's
/// cause code, `docs/audit-log-format.md` §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetCause {
    /// Epoch directories were there but the head file was not.
    HeadMissing = 1,
    /// The head file was damaged, not signed by a trusted key, or older than the newest epoch.
    HeadInvalid = 2,
    /// An epoch the head or the epoch chain names was not stored.
    EpochMissing = 3,
    /// The newest epoch contradicted the head or its own signed checkpoints (records or
    /// checkpoints removed, history rewritten, checkpoint file missing).
    Contradicted = 4,
    /// The newest epoch held bytes no crash could have left.
    Damaged = 5,
    /// The newest epoch was below the configured `audit.min_epoch`.
    BelowMinimum = 6,
}

impl ResetCause {
    fn from_code(code: u8) -> Option<ResetCause> {
        Some(match code {
            1 => ResetCause::HeadMissing,
            2 => ResetCause::HeadInvalid,
            3 => ResetCause::EpochMissing,
            4 => ResetCause::Contradicted,
            5 => ResetCause::Damaged,
            6 => ResetCause::BelowMinimum,
            _ => return None,
        })
    }

    /// The cause's name in `docs/audit-log-format.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetCause::HeadMissing => "head-missing",
            ResetCause::HeadInvalid => "head-invalid",
            ResetCause::EpochMissing => "epoch-missing",
            ResetCause::Contradicted => "contradicted",
            ResetCause::Damaged => "damaged",
            ResetCause::BelowMinimum => "below-minimum",
        }
    }
}

impl fmt::Display for ResetCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reset record states: the cause, what the head file claimed (epoch 0 and size 0
/// when there was no valid head) and the newest epoch directory found (0 when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResetFacts {
    pub(crate) cause: ResetCause,
    pub(crate) head_epoch: u64,
    pub(crate) head_size: u64,
    pub(crate) found_epoch: u64,
}

/// Length of a reset record.
pub(crate) const RESET_RECORD_LEN: usize = 43;

/// Encodes a reset record; it is always leaf 0 of its epoch.
pub(crate) fn encode_reset(time: Timestamp, facts: &ResetFacts) -> [u8; RESET_RECORD_LEN] {
    let mut out = [0u8; RESET_RECORD_LEN];
    out[0] = FORMAT_VERSION;
    out[1] = RecordType::Reset as u8;
    // Bytes 2..10: sequence number 0.
    out[10..18].copy_from_slice(&time.as_unix_nanos().to_be_bytes());
    out[18] = facts.cause as u8;
    out[19..27].copy_from_slice(&facts.head_epoch.to_be_bytes());
    out[27..35].copy_from_slice(&facts.head_size.to_be_bytes());
    out[35..43].copy_from_slice(&facts.found_epoch.to_be_bytes());
    out
}

struct Writer<'a> {
    out: &'a mut [u8; MAX_INLINE_RECORD_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        self.out[self.at..end].copy_from_slice(bytes);
        self.at = end;
    }
}

/// A decoded leaf record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// What it describes.
    pub kind: RecordType,
    /// Sequence number: its leaf index within its epoch.
    pub seq: u64,
    /// Claimed time (the host's clock when it was written; not trusted).
    pub time: Timestamp,
    /// The type-specific fields.
    pub body: RecordBody,
}

/// The type-specific part of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordBody {
    /// A lifecycle step of one piece of evidence.
    Evidence {
        /// Category and evidence hash (SHA-256 of the canonical payload).
        signature: Signature,
        /// Stored size, bytes.
        size: u64,
        /// Severity.
        severity: Severity,
        /// Reason code, per type.
        reason: u8,
        /// Replacement hash, destination or analysis digest, when the type has one.
        digest: Option<Digest>,
    },
    /// Records lost because the log could not take them.
    Gap {
        /// How many.
        lost: u64,
        /// Claimed time of the first lost record.
        first: Timestamp,
        /// Claimed time of the last lost record.
        last: Timestamp,
    },
    /// The first leaf of an epoch.
    EpochStart {
        /// The epoch that ended.
        previous_epoch: u64,
        /// Its final signed checkpoint, verbatim.
        checkpoint: String,
    },
    /// The first leaf of an epoch that starts over: the stored history before it was found
    /// missing or contradicted, and the operator accepted starting over.
    Reset {
        /// What was wrong.
        cause: ResetCause,
        /// The newest epoch the head file named (0: no valid head file).
        head_epoch: u64,
        /// The size the head file named for it.
        head_size: u64,
        /// The newest epoch directory found (0: none).
        found_epoch: u64,
    },
}

/// A record that does not follow the layout; the text names the broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordError(pub(crate) &'static str);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed audit record: {}", self.0)
    }
}

impl std::error::Error for RecordError {}

impl AuditRecord {
    /// Decodes a record strictly: known version and type, exact length, valid fields.
    pub fn decode(bytes: &[u8]) -> Result<AuditRecord, RecordError> {
        let mut r = Reader { bytes, at: 0 };
        if r.u8()? != FORMAT_VERSION {
            return Err(RecordError("unknown format version"));
        }
        let kind = RecordType::from_code(r.u8()?).ok_or(RecordError("unknown record type"))?;
        let seq = r.u64()?;
        let time = Timestamp::from_unix_nanos(r.u64()?);
        let body = match kind {
            RecordType::Gap => RecordBody::Gap {
                lost: r.u64()?,
                first: Timestamp::from_unix_nanos(r.u64()?),
                last: Timestamp::from_unix_nanos(r.u64()?),
            },
            RecordType::EpochStart => {
                let previous_epoch = r.u64()?;
                let len = u16::from_be_bytes(r.array()?) as usize;
                if len > MAX_CHECKPOINT_NOTE_LEN {
                    return Err(RecordError("checkpoint note too long"));
                }
                let note = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| RecordError("checkpoint note is not UTF-8"))?;
                RecordBody::EpochStart {
                    previous_epoch,
                    checkpoint: note.to_owned(),
                }
            }
            RecordType::Reset => RecordBody::Reset {
                cause: ResetCause::from_code(r.u8()?).ok_or(RecordError("unknown reset cause"))?,
                head_epoch: r.u64()?,
                head_size: r.u64()?,
                found_epoch: r.u64()?,
            },
            _ => {
                debug_assert!(kind.is_evidence());
                let len = r.u8()? as usize;
                let name = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| RecordError("category is not UTF-8"))?;
                let category =
                    Category::custom(name).map_err(|_| RecordError("invalid category"))?;
                let hash = Digest::from_bytes(r.array()?);
                let size = r.u64()?;
                let severity = Severity::from_rank(r.u8()?).ok_or(RecordError("bad severity"))?;
                let reason = r.u8()?;
                let digest = match r.u8()? {
                    0 => None,
                    32 => Some(Digest::from_bytes(r.array()?)),
                    _ => return Err(RecordError("digest length is neither 0 nor 32")),
                };
                RecordBody::Evidence {
                    signature: Signature::new(category, hash),
                    size,
                    severity,
                    reason,
                    digest,
                }
            }
        };
        if r.at != bytes.len() {
            return Err(RecordError("trailing bytes"));
        }
        Ok(AuditRecord {
            kind,
            seq,
            time,
            body,
        })
    }

    /// The evidence signature, for evidence records.
    pub fn signature(&self) -> Option<&Signature> {
        match &self.body {
            RecordBody::Evidence { signature, .. } => Some(signature),
            _ => None,
        }
    }
}

/// Reads the sequence number of an encoded record without decoding the rest.
pub(crate) fn encoded_seq(bytes: &[u8]) -> Option<u64> {
    let seq: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
    Some(u64::from_be_bytes(seq))
}

/// Reads the type of an encoded record without decoding the rest.
pub(crate) fn encoded_type(bytes: &[u8]) -> Option<RecordType> {
    RecordType::from_code(*bytes.get(1)?)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.at.checked_add(n).ok_or(RecordError("truncated"))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(RecordError("truncated"))?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sample(sig: &Signature) -> EvidenceRecord<'_> {
        EvidenceRecord::new(
            RecordType::Replaced,
            Timestamp::from_unix_nanos(0x0102_0304_0506_0708),
            sig,
            300,
            Severity::High,
        )
        .with_digest(Digest::from_bytes([0xcd; 32]))
    }

    #[test]
    fn evidence_record_encoding_is_pinned() {
        let sig = Signature::new(Category::Spam, Digest::from_bytes([0xab; 32]));
        let mut buf = [0u8; MAX_INLINE_RECORD_LEN];
        let len = sample(&sig).encode(5, &mut buf);
        let mut expected = vec![1, 6, 0, 0, 0, 0, 0, 0, 0, 5];
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.push(4);
        expected.extend_from_slice(b"spam");
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&300u64.to_be_bytes());
        expected.extend_from_slice(&[2, 0, 32]);
        expected.extend_from_slice(&[0xcd; 32]);
        assert_eq!(&buf[..len], &expected[..]);
        // The leaf hash docs/audit-log-format.md §2.10.1 gives for this record.
        assert_eq!(
            super::super::merkle::leaf_hash(&buf[..len]).to_string(),
            "e4d9ada9ceefc37bad2594a604a8d4c214e4889ce8d44fe9d76dc025d0f1a0be"
        );

        let decoded = AuditRecord::decode(&buf[..len]).unwrap();
        assert_eq!(decoded.kind, RecordType::Replaced);
        assert_eq!(decoded.seq, 5);
        assert_eq!(decoded.signature(), Some(&sig));

        let longest = Signature::new(
            Category::custom(&"z".repeat(MAX_CATEGORY_LEN)).unwrap(),
            Digest::from_bytes([0; 32]),
        );
        let record = EvidenceRecord {
            signature: &longest,
            ..sample(&sig)
        };
        assert_eq!(record.encode(0, &mut buf), MAX_INLINE_RECORD_LEN);
        assert!(AuditRecord::decode(&buf).is_ok());
    }

    #[test]
    fn gap_and_epoch_start_encodings_are_pinned() {
        let mut buf = [0u8; MAX_INLINE_RECORD_LEN];
        let len = encode_gap(
            7,
            Timestamp::from_unix_nanos(9),
            3,
            Timestamp::from_unix_nanos(1),
            Timestamp::from_unix_nanos(2),
            &mut buf,
        );
        let mut expected = vec![1, 8, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9];
        for n in [3u64, 1, 2] {
            expected.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(&buf[..len], &expected[..]);
        // Leaf hashes as docs/audit-log-format.md §2.10.2 gives them.
        let leaf = |bytes: &[u8]| super::super::merkle::leaf_hash(bytes).to_string();
        assert_eq!(
            leaf(&buf[..len]),
            "8998027db70e311419164e1a3356e1f26c4414183a5e5f3aaeff3c0ddf0dc3cc"
        );
        assert_eq!(
            AuditRecord::decode(&buf[..len]).unwrap().body,
            RecordBody::Gap {
                lost: 3,
                first: Timestamp::from_unix_nanos(1),
                last: Timestamp::from_unix_nanos(2)
            }
        );

        let bytes = encode_epoch_start(Timestamp::from_unix_nanos(1), 4, "cp\n").unwrap();
        let mut expected = vec![1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        expected.extend_from_slice(&4u64.to_be_bytes());
        expected.extend_from_slice(&[0, 3]);
        expected.extend_from_slice(b"cp\n");
        assert_eq!(bytes, expected);
        assert_eq!(
            leaf(&bytes),
            "423ef0686cf1f979722eb56336743c30479a82b231f197831387d4e89c49ed6c"
        );
        assert!(encode_epoch_start(Timestamp::EPOCH, 1, &"x".repeat(1025)).is_err());
    }

    #[test]
    fn reset_encoding_is_pinned() {
        let facts = ResetFacts {
            cause: ResetCause::EpochMissing,
            head_epoch: 7,
            head_size: 300,
            found_epoch: 6,
        };
        let bytes = encode_reset(Timestamp::from_unix_nanos(9), &facts);
        let mut expected = vec![1, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 3];
        for n in [7u64, 300, 6] {
            expected.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(&bytes[..], &expected[..]);
        // The leaf hash docs/audit-log-format.md §2.10.3 gives for this record.
        assert_eq!(
            super::super::merkle::leaf_hash(&bytes).to_string(),
            "3c1cb86bb1714b06fb005b5fccede6c4873122e78b4dd34bd122d4fdd14cec96"
        );
        let decoded = AuditRecord::decode(&bytes).unwrap();
        assert_eq!(decoded.kind, RecordType::Reset);
        assert_eq!(
            decoded.body,
            RecordBody::Reset {
                cause: ResetCause::EpochMissing,
                head_epoch: 7,
                head_size: 300,
                found_epoch: 6,
            }
        );
        for cut in 0..bytes.len() {
            assert!(AuditRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for cause in [0u8, 7, 255] {
            let mut bad = bytes;
            bad[18] = cause;
            assert!(AuditRecord::decode(&bad).is_err(), "cause {cause}");
        }
    }

    #[test]
    fn decode_is_strict() {
        let sig = Signature::new(Category::Spam, Digest::from_bytes([0xab; 32]));
        let mut buf = [0u8; MAX_INLINE_RECORD_LEN];
        let len = sample(&sig).encode(5, &mut buf);
        let good = buf[..len].to_vec();
        for cut in 0..good.len() {
            assert!(AuditRecord::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(AuditRecord::decode(&longer).is_err());
        for (at, value) in [(0, 2), (1, 0), (1, 15), (18, 0), (18, 65), (59 + 4, 4)] {
            let mut bad = good.clone();
            bad[at] = value;
            assert!(AuditRecord::decode(&bad).is_err(), "byte {at} = {value}");
        }
        let mut bad = good.clone();
        bad[19] = b'A';
        assert!(AuditRecord::decode(&bad).is_err(), "upper-case category");
    }
}
