//! Verification of sealed epochs: the epochs before the current one, which the log never
//! writes again and does not read on open.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use tracehound_codec::Digest;

use super::error::AuditError;
use super::log::push_leaf;
use super::merkle;
use super::note::{SignedCheckpoint, VerifierKey};
use super::record::{AuditRecord, RecordBody};
use super::storage;

/// Records between two looks at the stop flag of a background verification.
const STOP_EVERY: u64 = 1 << 16;

/// The sealed epochs of a directory log, to verify them without holding the log (see
/// [`AuditLog::sealed_epochs`](super::AuditLog::sealed_epochs)). Reading them never blocks
/// the log: sealed epochs are never written again.
#[derive(Debug, Clone)]
pub struct SealedEpochs {
    dir: Option<PathBuf>,
    deployment: String,
    keys: Vec<VerifierKey>,
    first: u64,
    current: u64,
}

/// A sealed epoch that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealedEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Its records.
    pub records: u64,
    /// Its final root, the root of its final checkpoint.
    pub root: Digest,
}

impl SealedEpochs {
    pub(crate) fn new(
        dir: Option<PathBuf>,
        deployment: String,
        keys: Vec<VerifierKey>,
        first: u64,
        current: u64,
    ) -> SealedEpochs {
        SealedEpochs {
            dir,
            deployment,
            keys,
            first,
            current,
        }
    }

    /// The sealed epochs of the log's epoch chain, oldest first: from the chain's first
    /// epoch (1, or the epoch of the last reset) to the one before the current epoch. Empty
    /// for a memory log.
    pub fn epochs(&self) -> RangeInclusive<u64> {
        match self.dir {
            Some(_) if self.current > self.first => self.first..=self.current - 1,
            #[allow(clippy::reversed_empty_ranges)]
            _ => 1..=0,
        }
    }

    /// Verifies sealed epoch `epoch` completely: every segment header and frame (no torn
    /// tail: a sealed epoch was fsynced whole), every record's layout and sequence number,
    /// every stored checkpoint's signature, origin and root; that its last checkpoint
    /// covers exactly its records; and that the next epoch's first leaf carries that final
    /// checkpoint verbatim, which chains the two epochs. Costs one pass over its records
    /// (see BENCHMARKS.md).
    pub fn verify(&self, epoch: u64) -> Result<SealedEpoch, AuditError> {
        self.verify_until(epoch, &|| false)
    }

    /// [`verify`](Self::verify), giving up with [`AuditError::Closed`] once `stop` says so.
    pub(crate) fn verify_until(
        &self,
        epoch: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<SealedEpoch, AuditError> {
        let dir = match &self.dir {
            Some(dir) if self.epochs().contains(&epoch) => dir,
            _ => return Err(AuditError::EpochUnavailable { epoch }),
        };
        if !storage::epoch_dir(dir, epoch).is_dir() {
            return Err(AuditError::EpochMissing {
                epoch,
                newest: self.current,
            });
        }
        let origin = format!("{}/tracehound/{epoch}", self.deployment);
        let mismatch = |problem, checkpoint_size, log_size| AuditError::CheckpointMismatch {
            epoch,
            checkpoint_size,
            log_size,
            problem,
        };
        let notes = storage::read_checkpoints(dir, epoch)?
            .ok_or_else(|| mismatch("the sealed epoch's checkpoint file is missing", 0, 0))?;
        let mut checkpoints = Vec::with_capacity(notes.len());
        for note in &notes {
            let signed = SignedCheckpoint::open(note, &self.keys)
                .map_err(|_| mismatch("a stored checkpoint's signature does not verify", 0, 0))?;
            let cp = signed.checkpoint();
            if cp.origin != origin {
                return Err(mismatch(
                    "a stored checkpoint names another origin",
                    cp.size,
                    0,
                ));
            }
            if checkpoints.last().is_some_and(|&(size, _)| size > cp.size) {
                return Err(mismatch(
                    "stored checkpoints shrink: the file was reordered",
                    cp.size,
                    0,
                ));
            }
            checkpoints.push((cp.size, cp.root));
        }
        let Some(&(final_size, final_root)) = checkpoints.last() else {
            return Err(mismatch("the sealed epoch has no final checkpoint", 0, 0));
        };

        let mut frontier = Vec::new();
        let mut next = checkpoints.iter().peekable();
        let root_of = |frontier: &[Digest]| {
            let mut subtrees = frontier.iter().rev();
            match subtrees.next() {
                None => merkle::empty_root(),
                Some(&last) => subtrees.fold(last, |right, left| merkle::node_hash(left, &right)),
            }
        };
        let check_roots = |size: u64,
                           frontier: &[Digest],
                           next: &mut std::iter::Peekable<std::slice::Iter<'_, (u64, Digest)>>|
         -> Result<(), AuditError> {
            while let Some(&&(cp_size, cp_root)) = next.peek() {
                if cp_size != size {
                    break;
                }
                if root_of(frontier) != cp_root {
                    return Err(mismatch(
                        "the records give another root at the checkpoint's size: history was rewritten",
                        cp_size,
                        size,
                    ));
                }
                next.next();
            }
            Ok(())
        };
        check_roots(0, &frontier, &mut next)?;
        let first = self.first;
        let records = storage::scan_sealed(dir, epoch, |index, bytes| {
            if index % STOP_EVERY == 0 && stop() {
                return Err(AuditError::Closed);
            }
            let record = AuditRecord::decode(bytes)?;
            if record.seq != index {
                return Err(AuditError::Record {
                    problem: "sequence number does not match the leaf's position",
                });
            }
            if index == 0 {
                chain_start(epoch, first, &record.body)?;
            }
            push_leaf(&mut frontier, index, merkle::leaf_hash(bytes));
            check_roots(index + 1, &frontier, &mut next)
        })?;
        if final_size > records {
            return Err(mismatch(
                "the epoch is shorter than a checkpoint it signed: records were removed",
                final_size,
                records,
            ));
        }
        if final_size != records {
            return Err(mismatch(
                "records follow the epoch's final checkpoint",
                final_size,
                records,
            ));
        }
        let successor = epoch + 1;
        let start = storage::first_record(dir, successor)?
            .map(|bytes| AuditRecord::decode(&bytes))
            .transpose()
            .map_err(|_| AuditError::Corrupt {
                epoch: successor,
                file: storage::epoch_dir(dir, successor),
                offset: 0,
                index: 0,
                problem: "the epoch's start leaf does not decode",
            })?;
        match start.map(|record| record.body) {
            Some(RecordBody::EpochStart {
                previous_epoch,
                checkpoint,
            }) if previous_epoch == epoch && notes.last() == Some(&checkpoint) => {}
            _ => {
                return Err(mismatch(
                    "the next epoch's start leaf does not carry this epoch's final checkpoint",
                    final_size,
                    records,
                ));
            }
        }
        Ok(SealedEpoch {
            epoch,
            records,
            root: final_root,
        })
    }
}

/// Checks an epoch's first leaf against its place in the chain: after the chain's first
/// epoch, an epoch-start naming the epoch before; the first epoch of a chain after a reset
/// starts with the reset record.
fn chain_start(epoch: u64, first: u64, body: &RecordBody) -> Result<(), AuditError> {
    let fits = match body {
        RecordBody::EpochStart { previous_epoch, .. } => {
            epoch > first && *previous_epoch == epoch - 1
        }
        RecordBody::Reset { .. } => epoch == first,
        _ => epoch == 1,
    };
    if fits {
        Ok(())
    } else {
        Err(AuditError::Record {
            problem: "the epoch's first leaf does not fit its place in the epoch chain",
        })
    }
}
