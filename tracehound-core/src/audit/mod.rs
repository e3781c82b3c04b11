//! The audit log: every lifecycle step of every piece of evidence, as a leaf of an RFC 6962
//! Merkle tree, stored durably and provable to anyone holding a signed checkpoint.
//!
//! - **Leaves** are versioned, length-prefixed binary [records](AuditRecord) that commit to
//!   evidence *hashes*, never payload bytes, so erasing evidence never breaks the tree. The
//!   layout is documented byte by byte in `docs/audit-log-format.md`.
//! - **The tree** is RFC 6962's: leaf hash SHA-256(0x00 ‖ record), node hash
//!   SHA-256(0x01 ‖ left ‖ right), empty root SHA-256(""). Inclusion and consistency proofs
//!   follow RFC 9162 §2.1.3 and §2.1.4; the [`merkle`] verifiers are strict and check proofs
//!   of any RFC 6962 log, a Certificate Transparency log included.
//! - **Checkpoints** are C2SP `tlog-checkpoint` signed notes, signed with Ed25519 ([`note`]).
//!   The origin is `<deployment>/tracehound/<epoch>`; the key name is
//!   `<deployment>/tracehound`. The log never signs a checkpoint that is not consistent with
//!   its previous one.
//! - **Storage** ([`AuditLog`]) is a directory of append-only segment files, every record
//!   framed and checksummed, made durable by group commit under an [`FsyncPolicy`], and
//!   verified on open; or memory, bounded by rotating epochs.
//! - **Evidence bundles** ([`EvidenceProof`]) are C2SP `tlog-proof` files: record, inclusion
//!   proof and signed checkpoint, verified offline with [`EvidenceProof::verify`] or
//!   `tracehound verify-proof`.
//!
//! - **Tamper evidence** across epochs: a signed head file names the newest epoch and its
//!   latest checkpoint, and opening walks the epoch chain, so a deleted epoch, a cut or
//!   deleted checkpoint file or a replaced head stops the open with a typed error; epoch
//!   numbers are never reused. [`SealedEpochs`] verifies sealed epochs (the facade does so in
//!   the background). Starting over is explicit (`audit.accept_lost_history`) and recorded
//!   as a `reset` leaf. See `docs/audit-log-format.md` §6.15.
//!
//! What the log does *not* protect against: a host attacker who holds the signing key can
//! sign a rewritten history, and anyone who can write the directory can put back an earlier
//! copy of all of it, or a fresh log. Keep checkpoints off the host (ship them to a SIEM, a witness or
//! a WORM bucket); any checkpoint kept elsewhere exposes a rewrite through a failed
//! consistency proof. Claimed times in records are the host's clock and are not trusted.

mod checkpoint;
mod config;
mod error;
mod head;
mod key;
mod log;
pub mod merkle;
pub mod note;
mod note_error;
mod record;
mod scan;
mod sealed;
mod signed_note;
mod stats;
mod storage;
mod tlog_proof;
mod verify;
pub(crate) mod writer;

pub use self::config::{AuditConfig, FsyncPolicy};
pub use self::error::{AuditError, VerifyError};
pub use self::log::{Appended, AuditLog, OpenReport};
pub use self::note::{Checkpoint, NoteSigner, SignedCheckpoint, VerifierKey};
pub use self::record::{
    AuditRecord, EvidenceRecord, MAX_RECORD_LEN, RecordBody, RecordError, RecordType, ResetCause,
};
pub use self::scan::{Scanned, scan};
pub use self::sealed::{SealedEpoch, SealedEpochs};
pub use self::stats::{AuditCounts, AuditStats, SealedStats};
pub use self::verify::{EvidenceProof, VerifiedEvidence, verify};
