//! The log: an RFC 6962 tree over leaf records, in a directory or in memory, with signed
//! checkpoints and epochs.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracehound_codec::Digest;
use zeroize::Zeroizing;

use super::error::AuditError;
use super::head::{self, Head};
use super::merkle::{self, NodeSource};
use super::note::{Checkpoint, NoteSigner, SignedCheckpoint, VerifierKey};
use super::record::{
    AuditRecord, EvidenceRecord, MAX_INLINE_RECORD_LEN, RecordBody, ResetFacts, encode_epoch_start,
    encode_reset, encoded_seq, encoded_type,
};
use super::sealed::SealedEpochs;
use super::storage::{self, DirStore, MemoryStore, Storage, read_frames};
use super::{AuditConfig, AuditCounts, EvidenceProof, FsyncPolicy};
use crate::clock::Timestamp;

/// A leaf just appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// Its leaf index in the current epoch.
    pub index: u64,
    /// Its leaf hash, SHA-256(0x00 ‖ record).
    pub leaf_hash: Digest,
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// The current epoch.
    pub epoch: u64,
    /// Records verified.
    pub records: u64,
    /// Bytes of incomplete writes cut on open: a torn record at the end of the last
    /// segment, a torn checkpoint at the end of the checkpoint file, or a segment file
    /// whose header was never completely written (a crash in the middle of a write).
    /// Nothing in them was acknowledged by a commit under `Always` or `Every`.
    pub torn_bytes: u64,
    /// Node hashes rebuilt because their files were missing, short or wrong.
    pub repaired_nodes: u64,
    /// Signed checkpoints checked against the records.
    pub checkpoints: u64,
    /// Whether a new signing key was generated and saved.
    pub key_created: bool,
    /// Set when the stored history was missing, damaged or contradicted and
    /// `audit.accept_lost_history` let the log start over: the problem found. The current
    /// epoch then starts with a `reset` record saying so.
    pub reset: Option<AuditError>,
}

/// An append-only, verifiable audit log.
///
/// Leaves are [records](super::AuditRecord); the tree is RFC 6962's. Appends are buffered
/// until [`commit`](Self::commit) makes them durable under the configured
/// [`FsyncPolicy`]. Checkpoints are C2SP signed notes over (origin, size, root) and are
/// only ever signed over durable records, each consistent with the one before.
///
/// Memory does not grow with the number of records: the log keeps the compact range (at
/// most 64 hashes) and reads older node hashes from disk.
///
/// ```
/// use tracehound::audit::{AuditConfig, AuditLog, EvidenceRecord, RecordType, verify};
/// use tracehound::{Category, Severity, Signature, clock::Timestamp};
/// use tracehound_codec::Digest;
///
/// let dir = std::env::temp_dir().join(format!("th-doc-{}", std::process::id()));
/// let mut config = AuditConfig::default();
/// config.dir = Some(dir.clone());
/// config.deployment = "example.com".into();
/// let mut log = AuditLog::open(&config)?;
///
/// let signature = Signature::new(Category::Injection, Digest::of(b"{\"q\":\"1 OR 1=1\"}"));
/// let at = Timestamp::from_unix_millis(1_700_000_000_000);
/// let leaf = log.append(&EvidenceRecord::new(RecordType::Quarantined, at, &signature, 17, Severity::High))?;
/// log.commit()?;
///
/// // A self-contained proof of that leaf, checked with only the public key.
/// let bundle = log.prove(leaf.index)?;
/// let key = log.verifier_key();
/// let checked = bundle.verify(&[key], None)?;
/// assert_eq!(checked.record.signature(), Some(&signature));
/// # drop(log);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AuditLog {
    storage: Storage,
    root_dir: Option<PathBuf>,
    _lock: Option<File>,
    config: AuditConfig,
    signer: NoteSigner,
    keys: Vec<VerifierKey>,
    epoch: u64,
    frontier: Vec<Digest>,
    size: u64,
    durable: u64,
    counts: AuditCounts,
    last_checkpoint: Option<SignedCheckpoint>,
    report: OpenReport,
    poisoned: bool,
    /// The first epoch of the epoch chain the current epoch belongs to: 1, or the epoch of
    /// the last reset.
    chain_first: u64,
    /// Whether the head file names an older checkpoint than the last one signed (its
    /// rewrite failed).
    head_behind: bool,
}

/// What opening found before it knew whether the history holds, for a reset record.
#[derive(Debug, Default)]
struct Found {
    head: Option<Head>,
    newest: u64,
}

/// First epoch number.
const FIRST_EPOCH: u64 = 1;

impl AuditLog {
    /// Opens (or creates) the log `config` describes: a directory, or memory when
    /// `config.dir` is `None`. A directory log is verified on open: every frame's checksum,
    /// every record's layout and sequence number, every stored checkpoint's signature and
    /// root, the head file against the newest epoch, and the epoch chain down to its first
    /// epoch (one leaf per sealed epoch); a torn tail left by a crash is cut, and node files
    /// are rebuilt where wrong. Missing epochs, a missing or stale head and a cut checkpoint
    /// file are errors unless `config.accept_lost_history` is set, in which case the log
    /// starts a new epoch with a `reset` record ([`OpenReport::reset`]).
    pub fn open(config: &AuditConfig) -> Result<AuditLog, AuditError> {
        config
            .validate()
            .map_err(|_| AuditError::Internal("invalid audit configuration"))?;
        match &config.dir {
            None => {
                let signer = match &config.key_file {
                    Some(path) => load_or_create_key(path, &config.key_name())?.0,
                    None => NoteSigner::generate(&config.key_name()).map_err(|problem| {
                        AuditError::Key {
                            path: None,
                            problem,
                        }
                    })?,
                };
                Ok(AuditLog::new(
                    Storage::Memory(MemoryStore::default()),
                    None,
                    None,
                    config,
                    signer,
                    FIRST_EPOCH,
                    OpenReport {
                        epoch: FIRST_EPOCH,
                        ..OpenReport::default()
                    },
                ))
            }
            Some(dir) => AuditLog::open_dir(dir, config),
        }
    }

    fn new(
        storage: Storage,
        root_dir: Option<PathBuf>,
        lock: Option<File>,
        config: &AuditConfig,
        signer: NoteSigner,
        epoch: u64,
        report: OpenReport,
    ) -> AuditLog {
        let mut keys = vec![signer.verifier_key()];
        keys.extend(
            config
                .trusted_keys
                .iter()
                .filter_map(|key| key.parse().ok()),
        );
        AuditLog {
            storage,
            root_dir,
            _lock: lock,
            config: config.clone(),
            signer,
            keys,
            epoch,
            frontier: Vec::new(),
            size: 0,
            durable: 0,
            counts: AuditCounts::default(),
            last_checkpoint: None,
            report,
            poisoned: false,
            chain_first: FIRST_EPOCH,
            head_behind: false,
        }
    }

    fn open_dir(dir: &Path, config: &AuditConfig) -> Result<AuditLog, AuditError> {
        fs::create_dir_all(dir).map_err(|e| AuditError::io("create directory", dir, &e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| AuditError::io("open", &lock_path, &e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(AuditError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => return Err(AuditError::io("lock", &lock_path, &e)),
        }
        let key_path = config
            .key_file
            .clone()
            .unwrap_or_else(|| dir.join("signing.key"));
        let (signer, key_created) = load_or_create_key(&key_path, &config.key_name())?;
        let mut log = AuditLog::new(
            Storage::Memory(MemoryStore::default()),
            Some(dir.to_path_buf()),
            Some(lock),
            config,
            signer,
            FIRST_EPOCH,
            OpenReport {
                key_created,
                ..OpenReport::default()
            },
        );
        let mut found = Found::default();
        if let Err(error) = log.open_history(dir, &mut found) {
            let Some(cause) = error.reset_cause().filter(|_| config.accept_lost_history) else {
                return Err(error);
            };
            let facts = ResetFacts {
                cause,
                head_epoch: found.head.map_or(0, |h| h.epoch),
                head_size: found.head.map_or(0, |h| h.size),
                found_epoch: found.newest,
            };
            tracing::warn!(%error, "tracehound audit log starts over (audit.accept_lost_history)");
            log.start_over(dir, &facts)?;
            log.report.reset = Some(error);
        }
        Ok(log)
    }

    fn sync(&self) -> bool {
        self.config.fsync != FsyncPolicy::Never
    }

    /// Opens the newest epoch after checking it against the head file and the epoch chain.
    fn open_history(&mut self, dir: &Path, found: &mut Found) -> Result<(), AuditError> {
        let sync = self.sync();
        let epochs = storage::epochs(dir)?;
        let newest = epochs.last().copied().unwrap_or(0);
        found.newest = newest;
        let head = head::read(dir, &self.keys, &self.config.deployment)?;
        found.head = head;
        if let Some(min) = self.config.min_epoch
            && newest.max(head.map_or(0, |h| h.epoch)) < min
        {
            return Err(AuditError::BelowMinEpoch { epoch: newest, min });
        }
        // The head is written just after a new epoch's directory is created, so a crash
        // between the two leaves an empty newest epoch one past the head (or, for a new log,
        // an empty epoch 1 and no head); anything else that disagrees is tampering.
        let (epoch, stale_head) = match head {
            None if newest == 0 => {
                let store = DirStore::create(dir, FIRST_EPOCH, sync, self.config.segment_bytes)?;
                self.storage = Storage::Dir(store);
                self.report.epoch = FIRST_EPOCH;
                self.write_head(FIRST_EPOCH, 0, merkle::empty_root())?;
                return Ok(());
            }
            None if newest == FIRST_EPOCH => (newest, true),
            None => {
                return Err(AuditError::HeadMissing {
                    path: head::path(dir),
                });
            }
            Some(head) if head.epoch > newest => {
                return Err(AuditError::EpochMissing {
                    epoch: head.epoch,
                    newest,
                });
            }
            Some(head) if head.epoch == newest => (newest, false),
            Some(head) if head.epoch + 1 == newest => (newest, true),
            Some(_) => return Err(stale_head_error(dir)),
        };
        self.epoch = epoch;
        let (store, opened) = {
            let (frontier, size, counts) = (&mut self.frontier, &mut self.size, &mut self.counts);
            DirStore::open(
                dir,
                epoch,
                sync,
                self.config.segment_bytes,
                |index, bytes| {
                    let record = AuditRecord::decode(bytes)?;
                    if record.seq != index {
                        return Err(AuditError::Record {
                            problem: "sequence number does not match the leaf's position",
                        });
                    }
                    counts.count(record.kind);
                    let nodes = push_leaf(frontier, *size, merkle::leaf_hash(bytes));
                    *size += 1;
                    Ok(nodes)
                },
            )?
        };
        self.storage = Storage::Dir(store);
        self.durable = self.size;
        self.report.epoch = epoch;
        self.report.records = self.size;
        self.report.torn_bytes = opened.torn_bytes + opened.torn_checkpoint_bytes;
        self.report.repaired_nodes = opened.repaired_nodes;
        if opened.checkpoint_file_missing && self.size > 0 {
            return Err(AuditError::CheckpointMismatch {
                epoch,
                checkpoint_size: 0,
                log_size: self.size,
                problem: "the epoch's checkpoint file is missing",
            });
        }
        self.check_checkpoints(&opened.checkpoints)?;
        match head {
            _ if stale_head && self.size > 0 => {
                return Err(match head {
                    None => AuditError::HeadMissing {
                        path: head::path(dir),
                    },
                    Some(_) => stale_head_error(dir),
                });
            }
            Some(head) if !stale_head => self.check_head(&head)?,
            _ => {}
        }
        let first = if self.size == 0 {
            None
        } else {
            Some(self.record(0)?)
        };
        self.chain_first = chain_first(dir, epoch, first)?;
        if self.size == 0 && epoch > FIRST_EPOCH {
            // A crash between creating this epoch and writing its first leaf.
            let previous =
                last_checkpoint_of(dir, epoch - 1, &self.config.origin(epoch - 1), &self.keys)?;
            if stale_head {
                self.write_head(epoch, 0, merkle::empty_root())?;
            }
            self.write_epoch_start(&previous, Timestamp::from_system_time(SystemTime::now()))?;
        } else if stale_head {
            self.write_head(epoch, 0, merkle::empty_root())?;
        }
        Ok(())
    }

    /// Checks the newest epoch against what the head file says of it.
    fn check_head(&self, head: &Head) -> Result<(), AuditError> {
        let mismatch = |problem| AuditError::CheckpointMismatch {
            epoch: self.epoch,
            checkpoint_size: head.size,
            log_size: self.size,
            problem,
        };
        if head.size > self.size {
            return Err(mismatch(
                "the log is shorter than its head file says: records were removed",
            ));
        }
        if self.root_at(head.size)? != head.root {
            return Err(mismatch(
                "the records give another root at the head's size: history was rewritten",
            ));
        }
        let stored = self
            .last_checkpoint
            .as_ref()
            .map_or(0, |cp| cp.checkpoint().size);
        if stored < head.size {
            return Err(mismatch(
                "the checkpoint file lost checkpoints the head file names: it was cut",
            ));
        }
        Ok(())
    }

    /// Starts a new epoch above every epoch seen, whose first leaf is a reset record.
    fn start_over(&mut self, dir: &Path, facts: &ResetFacts) -> Result<(), AuditError> {
        let floor = self.config.min_epoch.unwrap_or(FIRST_EPOCH) - 1;
        let epoch = facts.head_epoch.max(facts.found_epoch).max(floor) + 1;
        self.storage = Storage::Memory(MemoryStore::default());
        self.frontier.clear();
        self.size = 0;
        self.durable = 0;
        self.counts = AuditCounts::default();
        self.last_checkpoint = None;
        self.report = OpenReport {
            key_created: self.report.key_created,
            ..OpenReport::default()
        };
        let store = DirStore::create(dir, epoch, self.sync(), self.config.segment_bytes)?;
        self.storage = Storage::Dir(store);
        self.epoch = epoch;
        self.chain_first = epoch;
        self.write_head(epoch, 0, merkle::empty_root())?;
        self.report.epoch = epoch;
        let bytes = encode_reset(Timestamp::from_system_time(SystemTime::now()), facts);
        self.append_encoded(&bytes)?;
        self.commit()?;
        Ok(())
    }

    /// Replaces the head file (directory logs only).
    fn write_head(&self, epoch: u64, size: u64, root: Digest) -> Result<(), AuditError> {
        if let Some(dir) = &self.root_dir {
            let head = Head { epoch, size, root };
            head::write(
                dir,
                &self.signer,
                &self.config.deployment,
                &head,
                self.sync(),
            )?;
        }
        Ok(())
    }

    /// Checks every stored checkpoint: signed by a trusted key, for this epoch's origin,
    /// no larger than the log, and with the root the records give at its size.
    fn check_checkpoints(&mut self, notes: &[String]) -> Result<(), AuditError> {
        let origin = self.origin();
        for note in notes {
            let mismatch = |problem, size| AuditError::CheckpointMismatch {
                epoch: self.epoch,
                checkpoint_size: size,
                log_size: self.size,
                problem,
            };
            let signed = SignedCheckpoint::open(note, &self.keys)
                .map_err(|_| mismatch("a stored checkpoint's signature does not verify", 0))?;
            let cp = signed.checkpoint();
            if cp.origin != origin {
                return Err(mismatch(
                    "a stored checkpoint names another origin",
                    cp.size,
                ));
            }
            if cp.size > self.size {
                return Err(mismatch(
                    "the log is shorter than a checkpoint it signed: records were removed",
                    cp.size,
                ));
            }
            if self.root_at(cp.size)? != cp.root {
                return Err(mismatch(
                    "the records give another root at the checkpoint's size: history was rewritten",
                    cp.size,
                ));
            }
            self.report.checkpoints += 1;
            self.last_checkpoint = Some(signed);
        }
        Ok(())
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The current epoch (the first is 1).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The current epoch's origin line: `<deployment>/tracehound/<epoch>`.
    pub fn origin(&self) -> String {
        self.config.origin(self.epoch)
    }

    /// Leaves in the current epoch.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Leaves made durable by [`commit`](Self::commit).
    pub fn durable_size(&self) -> u64 {
        self.durable
    }

    /// Leaves per record type in the current epoch.
    pub fn counts(&self) -> AuditCounts {
        self.counts
    }

    /// The Merkle tree hash of the current epoch.
    pub fn root(&self) -> Digest {
        let mut subtrees = self.frontier.iter().rev();
        let Some(&last) = subtrees.next() else {
            return merkle::empty_root();
        };
        subtrees.fold(last, |right, left| merkle::node_hash(left, &right))
    }

    /// The Merkle tree hash of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Digest, AuditError> {
        if size > self.size {
            return Err(AuditError::OutOfRange {
                index: size,
                size: self.size,
            });
        }
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        merkle::subtree_root(self, 0, size)
    }

    /// The key checkpoints are signed with, as a C2SP verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }

    /// The last signed checkpoint of the current epoch.
    pub fn latest_checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.last_checkpoint.as_ref()
    }

    /// Appends a lifecycle record; the log sets its sequence number. Buffered until
    /// [`commit`](Self::commit). Gap and epoch-start records are the log's own and are
    /// refused here ([`AuditError::Record`]).
    pub fn append(&mut self, record: &EvidenceRecord<'_>) -> Result<Appended, AuditError> {
        if record.kind.is_log_own() {
            return Err(AuditError::Record {
                problem: "gap, epoch-start and reset records are written by the log itself",
            });
        }
        let mut buf = [0u8; MAX_INLINE_RECORD_LEN];
        let len = record.encode(self.size, &mut buf);
        self.append_encoded(&buf[..len])
    }

    /// Appends an encoded record whose sequence number must be the log's size.
    pub(crate) fn append_encoded(&mut self, bytes: &[u8]) -> Result<Appended, AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned);
        }
        if encoded_seq(bytes) != Some(self.size) {
            return Err(AuditError::Record {
                problem: "sequence number is not the next leaf index",
            });
        }
        let kind = encoded_type(bytes).ok_or(AuditError::Record {
            problem: "unknown record type",
        })?;
        if let Some(max) = self.config.epoch_limit()
            && self.size >= max
        {
            return Err(AuditError::EpochFull { max });
        }
        let leaf_hash = merkle::leaf_hash(bytes);
        let mut frontier = self.frontier.clone();
        let nodes = push_leaf(&mut frontier, self.size, leaf_hash);
        match &mut self.storage {
            Storage::Memory(store) => store.append(bytes, &nodes),
            Storage::Dir(store) => store.append(bytes, &nodes)?,
        }
        self.frontier = frontier;
        self.counts.count(kind);
        let index = self.size;
        self.size += 1;
        Ok(Appended { index, leaf_hash })
    }

    /// Writes everything appended and, unless the policy is [`FsyncPolicy::Never`], makes
    /// it durable with one fsync (group commit); returns the durable size. After a failed
    /// write the appended records stay buffered and the next commit retries them. A failed
    /// fsync poisons the log: the kernel may have dropped the dirty pages, so nothing more
    /// is acknowledged until the log is reopened and verified.
    pub fn commit(&mut self) -> Result<u64, AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned);
        }
        if let Storage::Dir(store) = &mut self.storage {
            let sync = self.config.fsync != FsyncPolicy::Never;
            if let Err(e) = store.commit(sync) {
                if matches!(&e, AuditError::Io { op, .. } if op.starts_with("fsync")) {
                    self.poisoned = true;
                }
                return Err(e);
            }
        }
        self.durable = self.size;
        Ok(self.durable)
    }

    /// Signs a checkpoint of everything appended (committing it first), persists it, and
    /// returns it. If nothing was appended since the last checkpoint, returns that one.
    /// Refuses ([`AuditError::Inconsistent`]) to sign a tree that is not an extension of
    /// the last checkpoint's, checked with a consistency proof.
    pub fn checkpoint(&mut self) -> Result<SignedCheckpoint, AuditError> {
        self.commit()?;
        let root = self.root();
        if let Some(last) = &self.last_checkpoint {
            let cp = last.checkpoint();
            if cp.size == self.size && cp.root == root {
                let last = last.clone();
                if self.head_behind {
                    self.write_head(self.epoch, self.size, root)?;
                    self.head_behind = false;
                }
                return Ok(last);
            }
            if cp.size > 0 {
                let proof = self.consistency_proof(cp.size, self.size)?;
                merkle::verify_consistency(cp.size, self.size, &proof, &cp.root, &root)
                    .map_err(|_| AuditError::Inconsistent)?;
            }
        }
        let checkpoint = Checkpoint::new(self.origin(), self.size, root);
        let signed = SignedCheckpoint::sign(checkpoint, &self.signer).map_err(|problem| {
            AuditError::Key {
                path: None,
                problem,
            }
        })?;
        match &mut self.storage {
            Storage::Memory(store) => store.save_checkpoint(signed.note()),
            Storage::Dir(store) => store.save_checkpoint(signed.note())?,
        }
        self.last_checkpoint = Some(signed.clone());
        // After the checkpoint file, so the head never names a checkpoint the file lacks. A
        // head left behind is only weaker; the next call for this size writes it again.
        self.head_behind = true;
        self.write_head(self.epoch, self.size, root)?;
        self.head_behind = false;
        Ok(signed)
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Digest>, AuditError> {
        self.in_range(size)?;
        merkle::inclusion_proof(self, index, size).map_err(generate_error)
    }

    /// A proof that the tree of the first `size1` leaves is a prefix of the tree of the
    /// first `size2`.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Digest>, AuditError> {
        self.in_range(size2)?;
        merkle::consistency_proof(self, size1, size2).map_err(generate_error)
    }

    fn in_range(&self, size: u64) -> Result<(), AuditError> {
        if size > self.size {
            return Err(AuditError::OutOfRange {
                index: size,
                size: self.size,
            });
        }
        Ok(())
    }

    /// The record bytes of leaf `index`.
    pub fn record(&mut self, index: u64) -> Result<Vec<u8>, AuditError> {
        match &mut self.storage {
            Storage::Memory(store) => store.record(index),
            Storage::Dir(store) => store.record(index),
        }
    }

    /// A self-contained proof that leaf `index` is in the log: the record, its inclusion
    /// proof and a signed checkpoint (signed now if the last one does not cover the leaf).
    pub fn prove(&mut self, index: u64) -> Result<EvidenceProof, AuditError> {
        if index >= self.size {
            return Err(AuditError::OutOfRange {
                index,
                size: self.size,
            });
        }
        let covered = self
            .last_checkpoint
            .as_ref()
            .is_some_and(|cp| cp.checkpoint().size > index);
        let signed = match (&self.last_checkpoint, covered) {
            (Some(cp), true) => cp.clone(),
            _ => self.checkpoint()?,
        };
        let size = signed.checkpoint().size;
        Ok(EvidenceProof {
            record: self.record(index)?,
            index,
            proof: self.inclusion_proof(index, size)?,
            checkpoint: signed.note().to_owned(),
        })
    }

    /// Closes the current epoch and starts the next: signs the final checkpoint of this
    /// epoch and writes it as leaf 0 of the new one (claimed time `now`), under a new
    /// origin.
    pub fn rotate(&mut self, now: Timestamp) -> Result<SignedCheckpoint, AuditError> {
        let last = self.checkpoint()?;
        let next = self.epoch + 1;
        self.storage = match (&mut self.storage, &self.root_dir) {
            (Storage::Dir(store), Some(dir)) => {
                store.seal()?;
                let sync = self.config.fsync != FsyncPolicy::Never;
                let store = DirStore::create(dir, next, sync, self.config.segment_bytes)?;
                // The head names the new epoch as soon as its directory exists, so the
                // number is never handed out twice, even if the directory is deleted.
                let head = Head {
                    epoch: next,
                    size: 0,
                    root: merkle::empty_root(),
                };
                if let Err(e) = head::write(dir, &self.signer, &self.config.deployment, &head, sync)
                {
                    // Undo the directory, so a retry can create it again under this number.
                    drop(store);
                    let _ = fs::remove_dir_all(storage::epoch_dir(dir, next));
                    return Err(e);
                }
                Storage::Dir(store)
            }
            _ => Storage::Memory(MemoryStore::default()),
        };
        self.epoch = next;
        self.frontier.clear();
        self.size = 0;
        self.durable = 0;
        self.counts = AuditCounts::default();
        self.last_checkpoint = None;
        self.write_epoch_start(&last, now)?;
        Ok(last)
    }

    fn write_epoch_start(
        &mut self,
        previous: &SignedCheckpoint,
        now: Timestamp,
    ) -> Result<(), AuditError> {
        let bytes = encode_epoch_start(now, self.epoch - 1, previous.note())?;
        self.append_encoded(&bytes)?;
        self.commit()?;
        Ok(())
    }

    /// The directory of an earlier epoch, if this log has one.
    pub fn epoch_path(&self, epoch: u64) -> Option<PathBuf> {
        self.root_dir
            .as_ref()
            .map(|dir| storage::epoch_dir(dir, epoch))
    }

    /// Approximate heap bytes held by the log (a directory log's is constant).
    pub fn memory_bytes(&self) -> usize {
        let base = self.frontier.capacity() * Digest::LEN;
        match &self.storage {
            Storage::Memory(store) => base + store.bytes(),
            Storage::Dir(_) => base,
        }
    }

    /// The sealed epochs of this log's epoch chain, to verify them (on another thread, if
    /// need be) with [`SealedEpochs::verify`].
    pub fn sealed_epochs(&self) -> SealedEpochs {
        SealedEpochs::new(
            self.root_dir.clone(),
            self.config.deployment.clone(),
            self.keys.clone(),
            self.chain_first,
            self.epoch,
        )
    }

    pub(crate) fn config(&self) -> &AuditConfig {
        &self.config
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

impl NodeSource for AuditLog {
    type Error = AuditError;

    fn node(&self, level: u32, index: u64) -> Result<Digest, AuditError> {
        match &self.storage {
            Storage::Memory(store) => store.node(level, index),
            Storage::Dir(store) => store.node(level, index),
        }
    }
}

fn generate_error(e: merkle::GenerateError<AuditError>) -> AuditError {
    match e {
        merkle::GenerateError::Source(e) => e,
        merkle::GenerateError::Range { first, second } => AuditError::OutOfRange {
            index: first,
            size: second,
        },
    }
}

/// Adds leaf `hash` at index `size` to the compact range; returns every node it completes,
/// as (level, hash), the leaf itself first.
pub(crate) fn push_leaf(frontier: &mut Vec<Digest>, size: u64, hash: Digest) -> Vec<(u32, Digest)> {
    let mut nodes = Vec::with_capacity(1 + size.trailing_ones() as usize);
    nodes.push((0, hash));
    let mut node = hash;
    let mut level = 0;
    let mut rest = size;
    while rest & 1 == 1 {
        let Some(left) = frontier.pop() else {
            break;
        };
        node = merkle::node_hash(&left, &node);
        level += 1;
        nodes.push((level, node));
        rest >>= 1;
    }
    frontier.push(node);
    nodes
}

/// Loads the signing key from `path`, or generates one and saves it there (mode 0600,
/// created exclusively, synced). Returns the signer and whether it was created.
fn load_or_create_key(path: &Path, name: &str) -> Result<(NoteSigner, bool), AuditError> {
    let key_error = |problem| AuditError::Key {
        path: Some(path.to_path_buf()),
        problem,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let signer = NoteSigner::from_skey(text.trim_end()).map_err(key_error)?;
            if signer.name() != name {
                return Err(AuditError::Key {
                    path: Some(path.to_path_buf()),
                    problem: super::note::NoteError::Malformed {
                        what: "key name does not match the configured deployment",
                    },
                });
            }
            Ok((signer, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = NoteSigner::generate(name).map_err(key_error)?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| AuditError::io("create", path, &e))?;
            let skey = signer.to_skey();
            file.write_all(skey.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| AuditError::io("write", path, &e))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                storage::sync_dir(parent)?;
            }
            Ok((signer, true))
        }
        Err(e) => Err(AuditError::io("read", path, &e)),
    }
}

fn stale_head_error(dir: &Path) -> AuditError {
    AuditError::HeadInvalid {
        path: head::path(dir),
        problem: "it names an older epoch than the newest directory: an old copy was put back",
    }
}

/// Walks the epoch chain down from `epoch` (whose first record is `first`, if it has one)
/// and returns its first epoch: 1, or the epoch that starts with a reset record. Every epoch
/// in between must be stored.
fn chain_first(dir: &Path, newest: u64, first: Option<Vec<u8>>) -> Result<u64, AuditError> {
    let (mut epoch, mut first) = (newest, first);
    loop {
        let body = first
            .map(|bytes| AuditRecord::decode(&bytes).map(|record| record.body))
            .transpose()
            .map_err(|e| AuditError::Corrupt {
                epoch,
                file: storage::epoch_dir(dir, epoch),
                offset: storage::FILE_HEADER_LEN as u64,
                index: 0,
                problem: e.0,
            })?;
        match body {
            Some(RecordBody::Reset { .. }) => return Ok(epoch),
            _ if epoch == FIRST_EPOCH => return Ok(epoch),
            Some(RecordBody::EpochStart { previous_epoch, .. }) if previous_epoch == epoch - 1 => {}
            // An empty epoch after the first: a crash before its start leaf was written.
            None => {}
            Some(_) => {
                return Err(AuditError::Corrupt {
                    epoch,
                    file: storage::epoch_dir(dir, epoch),
                    offset: storage::FILE_HEADER_LEN as u64,
                    index: 0,
                    problem: "the epoch's first leaf does not fit its place in the epoch chain",
                });
            }
        }
        let previous = epoch - 1;
        if !storage::epoch_dir(dir, previous).is_dir() {
            return Err(AuditError::EpochMissing {
                epoch: previous,
                newest,
            });
        }
        first = storage::first_record(dir, previous)?;
        if first.is_none() {
            return Err(AuditError::Corrupt {
                epoch: previous,
                file: storage::epoch_dir(dir, previous),
                offset: storage::FILE_HEADER_LEN as u64,
                index: 0,
                problem: "a sealed epoch holds no record",
            });
        }
        epoch = previous;
    }
}

/// The last checkpoint stored in an earlier epoch's directory.
fn last_checkpoint_of(
    dir: &Path,
    epoch: u64,
    origin: &str,
    keys: &[VerifierKey],
) -> Result<SignedCheckpoint, AuditError> {
    let path = storage::epoch_dir(dir, epoch).join(storage::CHECKPOINT_FILE);
    let mut last = None;
    read_frames(
        &path,
        true,
        |payload, _| {
            last = Some(payload.to_vec());
            Ok(())
        },
        |offset, index, problem| AuditError::Corrupt {
            epoch,
            file: path.clone(),
            offset,
            index,
            problem,
        },
        storage::FILE_HEADER_LEN,
    )?;
    let note = last
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(AuditError::EpochUnavailable { epoch })?;
    let mismatch = |problem| AuditError::CheckpointMismatch {
        epoch,
        checkpoint_size: 0,
        log_size: 0,
        problem,
    };
    let signed = SignedCheckpoint::open(&note, keys)
        .map_err(|_| mismatch("the previous epoch's final checkpoint does not verify"))?;
    if signed.checkpoint().origin != origin {
        return Err(mismatch(
            "the previous epoch's final checkpoint names another origin",
        ));
    }
    Ok(signed)
}
