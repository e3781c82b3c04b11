//! Reading a stored log's records without opening it: no lock, no repair, nothing written.

use std::path::Path;

use super::error::AuditError;
use super::record::AuditRecord;
use super::storage;
use crate::evidence::AuditLeaf;

/// What [`scan`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scanned {
    /// The epochs read, oldest first.
    pub epochs: Vec<u64>,
    /// The records read, in all epochs.
    pub records: u64,
    /// Whether the newest epoch ended in a torn frame (a write under way, or cut by a
    /// crash), which was not read.
    pub torn_tail: bool,
}

/// Reads every record of the log stored in directory `dir`, epoch by epoch and in leaf
/// order, calling `each` with its leaf and the record decoded.
///
/// Read-only: it takes no lock and repairs nothing, so it can read the directory of a
/// running service, or a copy. It checks what can be checked record by record: every file
/// header, frame length and checksum, segments following each other without a gap, and
/// every record's format and sequence number. A torn frame is accepted only at the very end
/// of the newest epoch (a live log's last write may be under way). It does **not** check
/// the Merkle tree, the signed checkpoints or the chain from one epoch to the next:
/// opening the log with [`AuditLog::open`](super::AuditLog::open) does.
///
/// # Errors
///
/// [`AuditError::Io`] if a file cannot be listed or read; [`AuditError::Corrupt`] naming
/// the file, offset and leaf of the first damage found; whatever `each` returns, which
/// stops the scan.
///
/// # Example
///
/// ```
/// use tracehound::audit::{self, AuditConfig, AuditLog, RecordType};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("scan-doc-{}", std::process::id()));
/// let mut config = AuditConfig::default();
/// config.dir = Some(dir.clone());
/// let log = AuditLog::open(&config)?;
/// drop(log);
///
/// let mut kinds = Vec::new();
/// let scanned = audit::scan(&dir, |_, record| {
///     kinds.push(record.kind);
///     Ok(())
/// })?;
/// assert_eq!(scanned.epochs, [1]);
/// assert_eq!(scanned.records, kinds.len() as u64);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub fn scan(
    dir: &Path,
    mut each: impl FnMut(AuditLeaf, &AuditRecord) -> Result<(), AuditError>,
) -> Result<Scanned, AuditError> {
    let epochs = storage::epochs(dir)?;
    let mut scanned = Scanned::default();
    let newest = epochs.last().copied();
    for &epoch in &epochs {
        let (records, torn) =
            storage::scan_epoch(dir, epoch, Some(epoch) == newest, |index, bytes| {
                let record = AuditRecord::decode(bytes)?;
                if record.seq != index {
                    return Err(AuditError::Record {
                        problem: "sequence number does not match the leaf index",
                    });
                }
                each(AuditLeaf { epoch, index }, &record)
            })?;
        scanned.records += records;
        scanned.torn_tail = torn;
    }
    scanned.epochs = epochs;
    Ok(scanned)
}
