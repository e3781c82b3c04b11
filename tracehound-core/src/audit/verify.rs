//! One-call verification, and evidence proof bundles that verify with no access to the host.

use tracehound_codec::Digest;

use super::error::VerifyError;
use super::merkle;
use super::note::{Checkpoint, TlogProof, VerifierKey, open_note};
use super::record::AuditRecord;

/// Verifies that `leaf` (record bytes) is leaf `index` of the log a signed checkpoint
/// describes, all in one call: the note's signature by one of `keys` (signatures by other
/// keys are ignored), the origin, and the inclusion proof against the checkpoint's own root
/// and size. Returns the checkpoint.
///
/// `origin` is the origin required. With `None`, the origin must be
/// `<key name>/<epoch number>` for a key whose signature verified, which is how tracehound
/// names its epochs; pass the origin explicitly to pin one epoch.
pub fn verify(
    leaf: &[u8],
    index: u64,
    proof: &[Digest],
    checkpoint: &str,
    keys: &[VerifierKey],
    origin: Option<&str>,
) -> Result<Checkpoint, VerifyError> {
    let (text, signers) = open_note(checkpoint, keys)?;
    let checkpoint = Checkpoint::parse_text(text)?;
    match origin {
        Some(expected) if checkpoint.origin != expected => {
            return Err(VerifyError::Origin {
                expected: expected.to_owned(),
                found: checkpoint.origin,
            });
        }
        Some(_) => {}
        None => {
            let epoch_of = |name: &String| {
                checkpoint
                    .origin
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|epoch| {
                        !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit())
                    })
            };
            if !signers.iter().any(epoch_of) {
                return Err(VerifyError::Origin {
                    expected: signers
                        .first()
                        .map(|name| format!("{name}/<epoch>"))
                        .unwrap_or_default(),
                    found: checkpoint.origin,
                });
            }
        }
    }
    merkle::verify_inclusion(
        &merkle::leaf_hash(leaf),
        index,
        checkpoint.size,
        proof,
        &checkpoint.root,
    )?;
    Ok(checkpoint)
}

/// A self-contained proof that one record is in the log: a C2SP `tlog-proof` whose `extra`
/// line carries the record. Anyone with the log's verifier key can check it offline.
///
/// The text form is what `tracehound verify-proof FILE --key VKEY` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvidenceProof {
    /// The leaf's record bytes.
    pub record: Vec<u8>,
    /// Its leaf index.
    pub index: u64,
    /// Its inclusion proof in the checkpoint's tree.
    pub proof: Vec<Digest>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedEvidence {
    /// The record, decoded.
    pub record: AuditRecord,
    /// Its leaf index.
    pub index: u64,
    /// The checkpoint it is included in.
    pub checkpoint: Checkpoint,
}

impl EvidenceProof {
    /// The `.tlog-proof` text.
    pub fn to_text(&self) -> String {
        TlogProof {
            extra: Some(self.record.clone()),
            index: self.index,
            proof: self.proof.clone(),
            checkpoint: self.checkpoint.clone(),
        }
        .to_text()
    }

    /// Parses `.tlog-proof` text (nothing is verified yet).
    pub fn parse(text: &str) -> Result<EvidenceProof, VerifyError> {
        let parsed = TlogProof::parse(text)?;
        Ok(EvidenceProof {
            record: parsed.extra.ok_or(VerifyError::MissingLeaf)?,
            index: parsed.index,
            proof: parsed.proof,
            checkpoint: parsed.checkpoint,
        })
    }

    /// Verifies the bundle with [`verify`] and decodes its record, which must itself carry
    /// the leaf index as its sequence number.
    pub fn verify(
        &self,
        keys: &[VerifierKey],
        origin: Option<&str>,
    ) -> Result<VerifiedEvidence, VerifyError> {
        let checkpoint = verify(
            &self.record,
            self.index,
            &self.proof,
            &self.checkpoint,
            keys,
            origin,
        )?;
        let record = AuditRecord::decode(&self.record)?;
        if record.seq != self.index {
            return Err(VerifyError::Record(super::record::RecordError(
                "sequence number differs from the proven leaf index",
            )));
        }
        Ok(VerifiedEvidence {
            record,
            index: self.index,
            checkpoint,
        })
    }
}

impl VerifiedEvidence {
    /// Checks that `canonical` (the evidence's canonical bytes, from the quarantine or cold
    /// storage) is the evidence this record is about.
    pub fn check_evidence(&self, canonical: &[u8]) -> Result<(), VerifyError> {
        match self.record.signature() {
            Some(signature) if *signature.digest() == Digest::of(canonical) => Ok(()),
            _ => Err(VerifyError::EvidenceMismatch),
        }
    }
}
