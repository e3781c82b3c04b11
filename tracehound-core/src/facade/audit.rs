//! The facade's view of its audit log: its durable head, checkpoints, proofs, and a
//! read-only reader. Nothing here can append to or rotate the log, so leaf indices handed out
//! by the sequencer always name the records they were given for.

use std::time::Duration;

use parking_lot::MutexGuard;
use tracehound_codec::Digest;

use crate::audit::{AuditError, AuditLog, EvidenceProof, SignedCheckpoint, VerifierKey};
use crate::error::Error;
use crate::signature::Signature;

use super::{Inner, Tracehound};

/// How long API calls wait for the audit writer.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The durable head of the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditHead {
    /// The epoch.
    pub epoch: u64,
    /// Durable leaves in it.
    pub size: u64,
    /// Their Merkle tree hash.
    pub root: Digest,
}

/// Read-only access to a running [`Tracehound`]'s audit log, from
/// [`Tracehound::read_audit`]: records, roots and proofs of the current epoch. The writer
/// waits while a reader is held (`intercept` does not: records queue up, and past the queue's
/// capacity are counted as lost and marked by a gap leaf), so keep the work short.
///
/// ```
/// use serde_json::json;
/// use tracehound::audit::{AuditRecord, RecordType};
/// use tracehound::{Category, Scent, Severity, Tracehound};
///
/// let tracehound = Tracehound::builder().build()?;
/// let scent = Scent::new("203.0.113.9", json!({"q": "1 UNION SELECT password"}))
///     .with_threat(Category::Injection, Severity::High);
/// tracehound.intercept(&scent);
/// let head = tracehound.sync_audit(std::time::Duration::from_secs(5))?;
///
/// let kinds = tracehound.read_audit(|log| -> Result<Vec<RecordType>, tracehound::Error> {
///     (0..log.size())
///         .map(|i| Ok(AuditRecord::decode(&log.record(i)?)?.kind))
///         .collect()
/// })?;
/// assert_eq!(kinds, [RecordType::Quarantined]);
/// # let _ = head;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AuditReader<'a> {
    log: MutexGuard<'a, AuditLog>,
}

impl AuditReader<'_> {
    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.log.epoch()
    }

    /// The checkpoint origin of the current epoch.
    pub fn origin(&self) -> String {
        self.log.origin()
    }

    /// Leaves written in the current epoch (some may not be durable yet).
    pub fn size(&self) -> u64 {
        self.log.size()
    }

    /// Leaves made durable under the fsync policy.
    pub fn durable_size(&self) -> u64 {
        self.log.durable_size()
    }

    /// The Merkle tree hash of every leaf written.
    pub fn root(&self) -> Digest {
        self.log.root()
    }

    /// The Merkle tree hash of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Digest, Error> {
        Ok(self.log.root_at(size)?)
    }

    /// The record bytes of leaf `index` of the current epoch; decode them with
    /// [`AuditRecord::decode`](crate::audit::AuditRecord::decode).
    pub fn record(&mut self, index: u64) -> Result<Vec<u8>, Error> {
        Ok(self.log.record(index)?)
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Digest>, Error> {
        Ok(self.log.inclusion_proof(index, size)?)
    }

    /// A proof that the tree of the first `size1` leaves is a prefix of the first `size2`.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Digest>, Error> {
        Ok(self.log.consistency_proof(size1, size2)?)
    }

    /// The last checkpoint signed, if any.
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.log.latest_checkpoint().cloned()
    }

    /// The directory of epoch `epoch`, for a log kept in a directory.
    pub fn epoch_path(&self, epoch: u64) -> Option<std::path::PathBuf> {
        self.log.epoch_path(epoch)
    }
}

impl Tracehound {
    /// Waits until every audit record handed to the log so far is committed under the
    /// fsync policy (at most `timeout`), and returns the log's durable head.
    pub fn sync_audit(&self, timeout: Duration) -> Result<AuditHead, Error> {
        self.inner.audit_writer.sync(timeout)?;
        let log = self.inner.audit_writer.log.lock();
        if log.is_poisoned() {
            return Err(AuditError::Poisoned.into());
        }
        Ok(AuditHead {
            epoch: log.epoch(),
            size: log.durable_size(),
            root: log.root_at(log.durable_size())?,
        })
    }

    /// Signs a checkpoint of everything handed to the log so far (waiting for the writer to
    /// commit it) and returns it. Also published as
    /// [`EventKind::CheckpointSigned`](crate::EventKind::CheckpointSigned).
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, Error> {
        let writer = &self.inner.audit_writer;
        writer.sync(SYNC_TIMEOUT)?;
        let signed = writer.log.lock().checkpoint()?;
        writer.signed(&signed, self.inner.now_or_epoch());
        Ok(signed)
    }

    /// A self-contained proof that the evidence held under `signature` entered the
    /// quarantine: its `quarantined` record, inclusion proof and a signed checkpoint, to
    /// hand to anyone holding the log's verifier key. Fails with [`Error::NotFound`] when
    /// the evidence is not held, and with [`Error::Audit`] when its record was lost or its
    /// epoch is no longer stored.
    pub fn prove(&self, signature: &Signature) -> Result<EvidenceProof, Error> {
        let receipt = self.get(signature).ok_or(Error::NotFound)?;
        let leaf = receipt
            .audit_leaf()
            .ok_or(Error::Audit(AuditError::Internal("the record was lost")))?;
        let writer = &self.inner.audit_writer;
        writer.sync(SYNC_TIMEOUT)?;
        let mut log = writer.log.lock();
        if log.epoch() != leaf.epoch {
            return Err(AuditError::EpochUnavailable { epoch: leaf.epoch }.into());
        }
        let before = log.latest_checkpoint().map(|cp| cp.checkpoint().size);
        let bundle = log.prove(leaf.index)?;
        if let Some(signed) = log
            .latest_checkpoint()
            .filter(|cp| Some(cp.checkpoint().size) != before)
        {
            // Proving signed a new checkpoint: count and publish it like any other.
            writer.signed(signed, self.inner.now_or_epoch());
        }
        Ok(bundle)
    }

    /// The key the audit log signs checkpoints with.
    pub fn verifier_key(&self) -> VerifierKey {
        self.inner.verifier_key()
    }

    /// Runs `f` with read-only access to the audit log, for records and proofs beyond
    /// [`prove`](Self::prove). The writer waits while `f` runs (`intercept` does not).
    pub fn read_audit<R>(&self, f: impl FnOnce(&mut AuditReader<'_>) -> R) -> R {
        f(&mut AuditReader {
            log: self.inner.audit_writer.log.lock(),
        })
    }
}

impl Inner {
    pub(super) fn verifier_key(&self) -> VerifierKey {
        self.audit_writer.log.lock().verifier_key()
    }
}

/// Decoding a record read through an [`AuditReader`] fails like any other audit read.
impl From<crate::audit::RecordError> for Error {
    fn from(error: crate::audit::RecordError) -> Self {
        Error::Audit(AuditError::from(error))
    }
}
