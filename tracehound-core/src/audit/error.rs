//! Errors of the audit log and of verification.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::merkle::ProofError;
use super::note::NoteError;
use super::record::RecordError;

/// What went wrong with the audit log's storage, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditError {
    /// A file operation failed. Check the path's permissions and free space; the log
    /// retries appends by itself.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error kind.
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// A stored file is damaged or was changed: bytes no crash could have left. `index` is
    /// the record (leaf index) whose frame is bad; `offset` its byte offset in `file`.
    /// Restore the epoch from a backup, or keep the damaged copy as evidence.
    Corrupt {
        /// The epoch.
        epoch: u64,
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// Leaf index of the damaged record (for checkpoint files, the checkpoint's position).
        index: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// The stored records disagree with the log's own last signed checkpoint: history was
    /// truncated or rewritten. Treat the host as compromised; keep the files as evidence.
    CheckpointMismatch {
        /// The epoch.
        epoch: u64,
        /// Size of the checkpoint.
        checkpoint_size: u64,
        /// Records found.
        log_size: u64,
        /// What disagrees.
        problem: &'static str,
    },
    /// A record is malformed (an internal caller passed bytes that are not a record).
    Record {
        /// The broken rule.
        problem: &'static str,
    },
    /// Another process holds the log directory's lock. Only one writer may open a log.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The signing key could not be loaded or created.
    Key {
        /// The key file, if any.
        path: Option<PathBuf>,
        /// Why.
        problem: NoteError,
    },
    /// The epoch holds its configured maximum of records; rotate to a new epoch.
    EpochFull {
        /// The maximum.
        max: u64,
    },
    /// An index or size beyond the log.
    OutOfRange {
        /// The index or size asked for.
        index: u64,
        /// The log's size.
        size: u64,
    },
    /// The log refused to sign a checkpoint inconsistent with its previous one: its node
    /// store disagrees with the records. Reopen the log, which rebuilds and checks it.
    Inconsistent,
    /// The epoch asked for is not stored (rotated out of a memory log, or deleted).
    EpochUnavailable {
        /// The epoch.
        epoch: u64,
    },
    /// An fsync failed, so the kernel may have dropped written pages: the log acknowledges
    /// nothing more. Reopen it (restart), which verifies what reached the disk.
    Poisoned,
    /// The writer thread is gone (the `Tracehound` is shutting down).
    Closed,
    /// The writer did not commit within the time allowed: the disk is slow or failing
    /// (`snapshot().audit.failing` says which). Records stay queued and are retried.
    Timeout,
    /// The log directory holds epochs but no head file, so the newest epochs may have been
    /// deleted along with it. Treat the host as compromised and keep the files as evidence;
    /// to go on with a new epoch anyway, set `audit.accept_lost_history` for one start
    /// (the reset is recorded in the log).
    HeadMissing {
        /// Where the head file should be.
        path: PathBuf,
    },
    /// The head file is damaged, not signed by a trusted key, or names an older epoch than
    /// the newest directory (an old copy was put back). Keep the files as evidence; set
    /// `audit.accept_lost_history` for one start to go on with a new epoch.
    HeadInvalid {
        /// The head file.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// An epoch the log's head or its epoch chain names is not stored: it was deleted (or
    /// moved away). Epoch numbers are never reused, so the log does not open until the
    /// epoch is restored, or `audit.accept_lost_history` is set for one start (the reset is
    /// recorded in the log).
    EpochMissing {
        /// The missing epoch.
        epoch: u64,
        /// The newest epoch directory found (0: none).
        newest: u64,
    },
    /// The newest epoch is below the configured `audit.min_epoch`: the log directory was
    /// replaced by an older or a fresh one. Restore it, or set `audit.accept_lost_history`
    /// for one start.
    BelowMinEpoch {
        /// The newest epoch found (0: an empty directory).
        epoch: u64,
        /// The configured minimum.
        min: u64,
    },
    /// A bug in tracehound. Please report it.
    Internal(&'static str),
}

impl AuditError {
    /// The reset cause when this error says the stored history is missing, damaged or
    /// contradicted (what `audit.accept_lost_history` lets the log start over from); `None`
    /// for errors starting over would not cure (I/O, lock, key).
    pub fn reset_cause(&self) -> Option<super::ResetCause> {
        use super::ResetCause;
        Some(match self {
            AuditError::HeadMissing { .. } => ResetCause::HeadMissing,
            AuditError::HeadInvalid { .. } => ResetCause::HeadInvalid,
            AuditError::EpochMissing { .. } => ResetCause::EpochMissing,
            AuditError::CheckpointMismatch { .. } => ResetCause::Contradicted,
            AuditError::Corrupt { .. } => ResetCause::Damaged,
            AuditError::BelowMinEpoch { .. } => ResetCause::BelowMinimum,
            _ => return None,
        })
    }

    pub(crate) fn io(op: &'static str, path: &Path, error: &io::Error) -> AuditError {
        AuditError::Io {
            op,
            path: path.to_path_buf(),
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

impl From<RecordError> for AuditError {
    fn from(e: RecordError) -> Self {
        AuditError::Record { problem: e.0 }
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io {
                op, path, message, ..
            } => write!(f, "audit log: {op} {}: {message}", path.display()),
            AuditError::Corrupt {
                epoch,
                file,
                offset,
                index,
                problem,
            } => write!(
                f,
                "audit log epoch {epoch}: record {index} at byte {offset} of {} is damaged: {problem}",
                file.display()
            ),
            AuditError::CheckpointMismatch {
                epoch,
                checkpoint_size,
                log_size,
                problem,
            } => write!(
                f,
                "audit log epoch {epoch} ({log_size} records) contradicts its signed checkpoint at size {checkpoint_size}: {problem}"
            ),
            AuditError::Record { problem } => write!(f, "malformed audit record: {problem}"),
            AuditError::Locked { path } => write!(
                f,
                "audit log is locked by another process ({})",
                path.display()
            ),
            AuditError::Key { path, problem } => match path {
                Some(path) => write!(f, "audit signing key {}: {problem}", path.display()),
                None => write!(f, "audit signing key: {problem}"),
            },
            AuditError::EpochFull { max } => {
                write!(f, "audit epoch holds its maximum of {max} records; rotate")
            }
            AuditError::OutOfRange { index, size } => {
                write!(f, "audit index or size {index} is beyond the log's {size} records")
            }
            AuditError::Inconsistent => f.write_str(
                "refused to sign a checkpoint inconsistent with the previous one; reopen the log",
            ),
            AuditError::EpochUnavailable { epoch } => {
                write!(f, "audit epoch {epoch} is not stored")
            }
            AuditError::Poisoned => f.write_str(
                "an fsync of the audit log failed; nothing more is acknowledged until it is reopened",
            ),
            AuditError::Closed => f.write_str("the audit writer has stopped"),
            AuditError::Timeout => f.write_str(
                "the audit writer did not commit in time; the disk is slow or failing",
            ),
            AuditError::HeadMissing { path } => write!(
                f,
                "audit log has epochs but no head file {}: its newest epochs may have been deleted",
                path.display()
            ),
            AuditError::HeadInvalid { path, problem } => {
                write!(f, "audit log head file {}: {problem}", path.display())
            }
            AuditError::EpochMissing { epoch, newest } => write!(
                f,
                "audit epoch {epoch} is missing (newest epoch directory: {newest}); \
                 epoch numbers are never reused"
            ),
            AuditError::BelowMinEpoch { epoch, min } => write!(
                f,
                "audit log's newest epoch {epoch} is below audit.min_epoch {min}: the directory was replaced"
            ),
            AuditError::Internal(what) => write!(f, "internal audit log error: {what}"),
        }
    }
}

impl std::error::Error for AuditError {}

/// Why a proof, checkpoint or evidence bundle did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The checkpoint's signed note did not verify or parse.
    Note(NoteError),
    /// The Merkle proof does not hold.
    Proof(ProofError),
    /// The leaf is not a well-formed record.
    Record(RecordError),
    /// The checkpoint is for another log.
    Origin {
        /// The origin required.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// The bundle carries no leaf record (`extra` line).
    MissingLeaf,
    /// The evidence bytes given do not hash to the record's evidence hash.
    EvidenceMismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Note(e) => write!(f, "checkpoint: {e}"),
            VerifyError::Proof(e) => write!(f, "proof: {e}"),
            VerifyError::Record(e) => write!(f, "leaf: {e}"),
            VerifyError::Origin { expected, found } => {
                write!(f, "checkpoint origin is `{found}`, expected `{expected}`")
            }
            VerifyError::MissingLeaf => f.write_str("the bundle carries no leaf record"),
            VerifyError::EvidenceMismatch => {
                f.write_str("the evidence does not hash to the record's evidence hash")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<NoteError> for VerifyError {
    fn from(e: NoteError) -> Self {
        VerifyError::Note(e)
    }
}

impl From<ProofError> for VerifyError {
    fn from(e: ProofError) -> Self {
        VerifyError::Proof(e)
    }
}

impl From<RecordError> for VerifyError {
    fn from(e: RecordError) -> Self {
        VerifyError::Record(e)
    }
}
