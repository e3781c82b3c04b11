//! The head file: a signed note at the log's root naming its newest epoch and the latest
//! checkpoint of that epoch, so that deleting the newest epoch, or cutting an epoch's
//! records together with its checkpoint file, is seen on the next open.
//!
//! The head is not a checkpoint (its text does not parse as one), and it is stored nowhere
//! else in the directory: an attacker who can write the directory but does not hold the key
//! can only put back a head file copied earlier (a rollback, which only a checkpoint kept off
//! the host exposes), never make one from the checkpoints the epochs keep.
//! `docs/audit-log-format.md` §6.14 gives the layout.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tracehound_codec::Digest;

use super::error::AuditError;
use super::note::{self, NoteSigner, VerifierKey};
use super::storage;

/// The head file's name in the log directory.
pub(crate) const HEAD_FILE: &str = "head.note";
/// Largest head file read.
const MAX_HEAD_BYTES: u64 = 64 * 1024;

/// What a head file states: `epoch` is the newest epoch, and it holds at least `size`
/// records whose tree has root `root` at that size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) epoch: u64,
    pub(crate) size: u64,
    pub(crate) root: Digest,
}

pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(HEAD_FILE)
}

fn text(deployment: &str, head: &Head) -> String {
    format!(
        "{deployment}/tracehound/head\nepoch {}\nsize {}\nroot {}\n",
        head.epoch,
        head.size,
        STANDARD.encode(head.root.as_bytes())
    )
}

/// Signs `head` and replaces the head file with it atomically (a temporary file renamed over
/// it); with `sync`, durably.
pub(crate) fn write(
    dir: &Path,
    signer: &NoteSigner,
    deployment: &str,
    head: &Head,
    sync: bool,
) -> Result<(), AuditError> {
    let target = path(dir);
    let note = signer
        .sign(&text(deployment, head))
        .map_err(|problem| AuditError::Key {
            path: None,
            problem,
        })?;
    let temporary = dir.join(format!("{HEAD_FILE}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(|e| AuditError::io("create", &temporary, &e))?;
    file.write_all(note.as_bytes())
        .map_err(|e| AuditError::io("write", &temporary, &e))?;
    if sync {
        file.sync_data()
            .map_err(|e| AuditError::io("fsync", &temporary, &e))?;
    }
    drop(file);
    fs::rename(&temporary, &target).map_err(|e| AuditError::io("rename", &target, &e))?;
    if sync {
        storage::sync_dir(dir)?;
    }
    Ok(())
}

/// Reads and verifies the head file; `None` when there is none.
pub(crate) fn read(
    dir: &Path,
    keys: &[VerifierKey],
    deployment: &str,
) -> Result<Option<Head>, AuditError> {
    let path = path(dir);
    let invalid = |problem| AuditError::HeadInvalid {
        path: path.clone(),
        problem,
    };
    let len = match fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io("stat", &path, &e)),
    };
    if len > MAX_HEAD_BYTES {
        return Err(invalid("longer than any head the log writes"));
    }
    let bytes = fs::read(&path).map_err(|e| AuditError::io("read", &path, &e))?;
    let note = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
    let (body, _) = note::open_note(&note, keys)
        .map_err(|_| invalid("its signature does not verify with the log's trusted keys"))?;
    let head = parse(body, deployment).ok_or_else(|| invalid("not a head this log writes"))?;
    Ok(Some(head))
}

fn parse(body: &str, deployment: &str) -> Option<Head> {
    let mut lines = body.strip_suffix('\n')?.split('\n');
    let origin = lines.next()?;
    if origin.strip_suffix("/tracehound/head")? != deployment {
        return None;
    }
    let epoch = lines.next()?.strip_prefix("epoch ")?.parse().ok()?;
    let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
    let root = STANDARD.decode(lines.next()?.strip_prefix("root ")?).ok()?;
    let root: [u8; 32] = root.try_into().ok()?;
    if lines.next().is_some() {
        return None;
    }
    let head = Head {
        epoch,
        size,
        root: Digest::from_bytes(root),
    };
    // Only the one spelling this module writes: no leading zeros, signs or padding tricks.
    (text(deployment, &head) == body).then_some(head)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::audit::note::Checkpoint;

    #[test]
    fn head_text_is_pinned_and_parsed_strictly() {
        let head = Head {
            epoch: 3,
            size: 17,
            root: Digest::from_bytes([0xab; 32]),
        };
        let body = text("example.com", &head);
        assert_eq!(
            body,
            "example.com/tracehound/head\nepoch 3\nsize 17\n\
             root q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
        );
        assert_eq!(parse(&body, "example.com"), Some(head));
        assert_eq!(parse(&body, "other.com"), None);
        for bad in [
            body.replace("epoch 3", "epoch 03"),
            body.replace("size 17", "size +17"),
            body.replace("epoch", "Epoch"),
            format!("{body}extra\n"),
            body.trim_end().to_owned(),
        ] {
            assert_eq!(parse(&bad, "example.com"), None, "{bad:?}");
        }
        // A head is never mistaken for a checkpoint, nor a checkpoint for a head.
        assert!(Checkpoint::parse_text(&body).is_err());
        let checkpoint = Checkpoint::new("example.com/tracehound/3", 17, head.root).to_text();
        assert_eq!(parse(&checkpoint, "example.com"), None);
    }
}
