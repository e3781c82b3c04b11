//! Opening a log directory whose files are untrusted bytes: segment files (file header,
//! checksummed frames, records), the checkpoint file, node files and the signing key.
//!
//! The segment reader is private, so the input is written out as the files of a log
//! directory (under /dev/shm, one per process, recreated for every input) and opened with
//! `AuditLog::open`. A small valid log of two epochs, built once per process, is the base the
//! input changes. The first byte picks one of three modes:
//!
//! - **edit**: a list of byte edits (flip, set, insert, append, truncate, remove) on the
//!   base files and on a few extra paths (odd epoch and segment names, stray node files);
//! - **replace**: one of those files replaced by the rest of the input;
//! - **rebuild**: the last epoch rewritten from records the input picks (base records, with
//!   byte changes, or raw bytes), correctly framed, with optional segment splits, a torn
//!   tail, node files (correct, damaged or missing) and signed checkpoints (correct or
//!   wrong), and a head file naming the epoch at size 0. Here the outcome is known in
//!   advance and checked: open succeeds exactly when every record decodes with its own index
//!   as sequence number, every checkpoint is right, the checkpoint file is there if the epoch
//!   has records, and the first record continues the epoch chain (an epoch-start naming
//!   epoch 1, or a reset), with the expected size, root, torn bytes and repaired nodes.
//!
//! Whenever open succeeds, the log must answer through its public API: roots, records,
//! inclusion and consistency proofs that verify against its root, and its latest checkpoint.
//! It must then take one more record and a checkpoint, and reopen cleanly with them.

#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tracehound::audit::merkle::{self, leaf_hash};
use tracehound::audit::{
    AuditConfig, AuditLog, AuditRecord, Checkpoint, EvidenceRecord, FsyncPolicy, RecordBody,
    RecordType, SignedCheckpoint,
};
use tracehound::clock::Timestamp;
use tracehound::{Category, Digest, Severity, Signature};
use tracehound_fuzz::{DEPLOYMENT, MemoryTree, SKEY, keys, reference_root};

/// File path (relative to the log directory, `/`-separated) to contents.
type Files = BTreeMap<String, Vec<u8>>;

// The on-disk layout, as `storage.rs` writes it.
const FILE_HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 12;
const SEGMENT_MAGIC: &[u8; 8] = b"THAUDSEG";
const CHECKPOINT_MAGIC: &[u8; 8] = b"THAUDCKP";
const FILE_VERSION: u32 = 1;

/// The smallest segment size the configuration allows, so the base log has two segments.
const SEGMENT_BYTES: u64 = 4096;
/// The base log's epochs; the rebuild mode rewrites the last.
const LAST_EPOCH: u64 = 2;
/// Most records the rebuild mode writes, and most edits the edit mode applies.
const MAX_ITEMS: usize = 64;

/// Paths the edit and replace modes may create, besides the base log's files.
const EXTRA_PATHS: &[&str] = &[
    "epoch-00000000/segment-00000000000000000000.log",
    "epoch-00000002/segment-00000000000000000100.log",
    "epoch-00000002/segment-1.log",
    "epoch-00000002/segment-+0.log",
    "epoch-00000002/segment-x.log",
    "epoch-00000002/nodes-09.bin",
    "epoch-00000003/segment-00000000000000000000.log",
    "epoch-00000003/checkpoints.log",
    "epoch-00000003/signing.key",
    "epoch-18446744073709551615/checkpoints.log",
    "epoch-99999999999999999999/checkpoints.log",
];

/// The valid log every input starts from.
struct Base {
    files: Files,
    /// The last epoch's records, in order.
    records: Vec<Vec<u8>>,
    /// Every path the edit and replace modes can touch.
    targets: Vec<String>,
}

static BASE: LazyLock<Base> = LazyLock::new(build_base);

/// Where inputs are written: one directory per process.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| scratch_dir("log"));

fuzz_target!(|data: &[u8]| {
    let base = &*BASE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (files, expected) = match mode % 3 {
        0 => (edit(rest, base), None),
        1 => (replace(rest, base), None),
        _ => {
            let (files, expected) = rebuild(rest, base);
            (files, Some(expected))
        }
    };
    let dir = &*DIR;
    write_files(dir, &files);
    let config = config(dir);
    let opened = AuditLog::open(&config);
    if let Some(expected) = &expected {
        expected.check(&opened);
    }
    if let Ok(log) = opened {
        check_open_log(log, &config);
    }
});

fn config(dir: &Path) -> AuditConfig {
    let mut config = AuditConfig::default();
    config.dir = Some(dir.to_path_buf());
    config.deployment = DEPLOYMENT.to_owned();
    config.fsync = FsyncPolicy::Never;
    config.segment_bytes = SEGMENT_BYTES;
    config.checkpoint_interval = None;
    config
}

fn scratch_dir(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    root.join(format!("tracehound-fuzz-{}-{name}", std::process::id()))
}

fn reset_dir(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot remove {}: {e}", dir.display()),
    }
    fs::create_dir_all(dir).expect("create the scratch directory");
}

fn write_files(dir: &Path, files: &Files) {
    reset_dir(dir);
    for (path, bytes) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create an epoch directory");
        }
        fs::write(&path, bytes).expect("write a log file");
    }
}

fn read_files(dir: &Path, under: &str, files: &mut Files) {
    for entry in fs::read_dir(dir.join(under)).expect("list the base log") {
        let entry = entry.expect("list the base log");
        let name = entry.file_name().into_string().expect("UTF-8 file names");
        let path = if under.is_empty() {
            name
        } else {
            format!("{under}/{name}")
        };
        if entry.file_type().expect("file type").is_dir() {
            read_files(dir, &path, files);
        } else if path != "LOCK" {
            files.insert(path, fs::read(entry.path()).expect("read a base file"));
        }
    }
}

/// Builds the base log through the public API: epoch 1 with 12 records and two
/// checkpoints, then epoch 2 with its start record, 60 records over two segments and three
/// checkpoints. Checks that this target's own encoders reproduce its files byte for byte.
fn build_base() -> Base {
    let dir = scratch_dir("base");
    reset_dir(&dir);
    fs::write(dir.join("signing.key"), format!("{SKEY}\n")).expect("write the key");
    let mut log = AuditLog::open(&config(&dir)).expect("a new log opens");
    let custom = Category::custom("credential-stuffing").expect("a valid category name");
    let categories = [Category::Injection, Category::Spam, custom];
    let kinds = [
        RecordType::Quarantined,
        RecordType::Evicted,
        RecordType::Dropped,
        RecordType::Neutralized,
        RecordType::Purged,
        RecordType::Replaced,
        RecordType::Expired,
    ];
    let severities = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    let append = |log: &mut AuditLog, i: usize| {
        let signature = Signature::new(
            categories[i % categories.len()].clone(),
            Digest::of(&i.to_be_bytes()),
        );
        let time = Timestamp::from_unix_millis(1_700_000_000_000 + i as u64);
        let kind = kinds[i % kinds.len()];
        let mut record =
            EvidenceRecord::new(kind, time, &signature, 100 + i as u64, severities[i % 4])
                .with_reason((i % 3) as u8);
        if kind == RecordType::Replaced {
            record = record.with_digest(Digest::of(b"replacement"));
        }
        log.append(&record).expect("append to the base log");
    };
    for i in 0..12 {
        append(&mut log, i);
        if i == 4 {
            log.checkpoint().expect("checkpoint the base log");
        }
    }
    log.rotate(Timestamp::from_unix_millis(1_700_000_100_000))
        .expect("rotate the base log");
    for i in 12..72 {
        append(&mut log, i);
        if i % 10 == 9 {
            log.commit().expect("commit the base log");
        }
        if i % 25 == 24 {
            log.checkpoint().expect("checkpoint the base log");
        }
    }
    log.checkpoint().expect("checkpoint the base log");
    drop(log);

    let mut files = Files::new();
    read_files(&dir, "", &mut files);
    fs::remove_dir_all(&dir).expect("remove the base log's directory");

    let epoch_dir = format!("epoch-{LAST_EPOCH:08}/");
    let mut records = Vec::new();
    let mut segments = 0;
    for (path, bytes) in files.range(epoch_dir.clone()..) {
        let Some(name) = path.strip_prefix(&epoch_dir) else {
            break;
        };
        let Some(first) = name
            .strip_prefix("segment-")
            .and_then(|n| n.strip_suffix(".log"))
        else {
            continue;
        };
        let first: u64 = first.parse().expect("a segment name holds its first index");
        let frames = parse_frames(bytes);
        let mut again = file_header(SEGMENT_MAGIC, LAST_EPOCH, first).to_vec();
        frames
            .iter()
            .for_each(|payload| put_frame(&mut again, payload));
        assert_eq!(
            &again, bytes,
            "{path}: the target's segment encoder is wrong"
        );
        assert_eq!(first, records.len() as u64);
        records.extend(frames);
        segments += 1;
    }
    assert!(segments >= 2, "the base log should span several segments");
    assert_eq!(records.len(), 61);
    let tree = MemoryTree::new(records.iter().map(|r| leaf_hash(r)).collect());
    assert_eq!(node_files(LAST_EPOCH, &tree).len(), tree.levels().len());
    for (path, bytes) in node_files(LAST_EPOCH, &tree) {
        assert_eq!(
            files.get(&path),
            Some(&bytes),
            "{path}: the node encoder is wrong"
        );
    }
    let notes = parse_frames(&files[&format!("{epoch_dir}checkpoints.log")]);
    assert_eq!(notes.len(), 3);
    let mut again = file_header(CHECKPOINT_MAGIC, LAST_EPOCH, 0).to_vec();
    for note in &notes {
        put_frame(&mut again, note);
        let note = std::str::from_utf8(note).expect("UTF-8 note");
        let signed = SignedCheckpoint::open(note, &keys().trusted).expect("a base checkpoint");
        let size = signed.checkpoint().size as usize;
        assert_eq!(
            signed.checkpoint().root,
            reference_root(&tree.leaves()[..size])
        );
    }
    assert_eq!(again, files[&format!("{epoch_dir}checkpoints.log")]);

    let mut targets: Vec<String> = files.keys().cloned().collect();
    targets.extend(EXTRA_PATHS.iter().map(|path| (*path).to_owned()));
    targets.sort();
    targets.dedup();
    Base {
        files,
        records,
        targets,
    }
}

/// A segment or checkpoint file header, as the library writes it.
fn file_header(magic: &[u8; 8], epoch: u64, first: u64) -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(magic);
    header[8..12].copy_from_slice(&FILE_VERSION.to_be_bytes());
    header[12..20].copy_from_slice(&epoch.to_be_bytes());
    header[20..28].copy_from_slice(&first.to_be_bytes());
    let crc = crc32fast::hash(&header[..28]);
    header[28..].copy_from_slice(&crc.to_be_bytes());
    header
}

/// Appends a frame: length, its complement, CRC-32 of both and the payload, then the payload.
fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&len.to_be_bytes());
    header[4..8].copy_from_slice(&(!len).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[..8]);
    crc.update(payload);
    header[8..].copy_from_slice(&crc.finalize().to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

/// The payloads of a file of frames the library wrote (so known to be well formed).
fn parse_frames(file: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = &file[FILE_HEADER_LEN..];
    let mut payloads = Vec::new();
    while let Some((header, tail)) = rest.split_first_chunk::<FRAME_HEADER_LEN>() {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        payloads.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    payloads
}

/// `nodes-NN.bin` of every level of `tree`, as the library writes them.
fn node_files(epoch: u64, tree: &MemoryTree) -> Files {
    tree.levels()
        .iter()
        .enumerate()
        .filter(|(_, hashes)| !hashes.is_empty())
        .map(|(level, hashes)| {
            let bytes = hashes.iter().flat_map(|hash| *hash.as_bytes()).collect();
            (format!("epoch-{epoch:08}/nodes-{level:02}.bin"), bytes)
        })
        .collect()
}

/// The input, read a byte at a time; missing bytes read as `None`.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// Applies edits of 5 bytes each: target path, operation, a 16-bit offset, a value.
fn edit(data: &[u8], base: &Base) -> Files {
    let mut files = base.files.clone();
    for op in data.chunks_exact(5).take(MAX_ITEMS) {
        let path = &base.targets[usize::from(op[0]) % base.targets.len()];
        let offset = usize::from(u16::from_be_bytes([op[2], op[3]]));
        let value = op[4];
        match op[1] % 7 {
            0 => {
                files.remove(path);
            }
            1 => {
                let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
                files.retain(|other, _| other.rsplit_once('/').map_or("", |(d, _)| d) != dir);
            }
            kind => {
                let bytes = files.entry(path.clone()).or_default();
                let at = offset % (bytes.len() + 1);
                match kind {
                    2 => bytes.truncate(at),
                    3 => bytes.insert(at, value),
                    4 => bytes.extend(std::iter::repeat_n(value, 1 + offset % 64)),
                    5 if at < bytes.len() => bytes[at] ^= value.max(1),
                    _ if at < bytes.len() => bytes[at] = value,
                    _ => bytes.push(value),
                }
            }
        }
    }
    files
}

/// Replaces one file (or creates one of the extra paths) with the rest of the input.
fn replace(data: &[u8], base: &Base) -> Files {
    let mut files = base.files.clone();
    if let Some((&target, contents)) = data.split_first() {
        let path = &base.targets[usize::from(target) % base.targets.len()];
        files.insert(path.clone(), contents.to_vec());
    }
    files
}

/// Flags of the rebuild mode (the input's second byte).
mod flag {
    /// Keep the records' own sequence numbers instead of setting them to their index.
    pub(super) const KEEP_SEQ: u8 = 1 << 0;
    /// Write no node files: open rebuilds them all.
    pub(super) const NO_NODES: u8 = 1 << 1;
    /// Flip one bit of the node files.
    pub(super) const DAMAGE_NODE: u8 = 1 << 2;
    /// Start a new segment every few records.
    pub(super) const SPLIT: u8 = 1 << 3;
    /// End the last segment with a torn frame, as a crash mid-write leaves it.
    pub(super) const TORN: u8 = 1 << 4;
    /// Sign the first checkpoint over a wrong root.
    pub(super) const BAD_ROOT: u8 = 1 << 5;
    /// Write no checkpoint file.
    pub(super) const NO_CHECKPOINTS: u8 = 1 << 6;
    /// Sign checkpoints for another epoch's origin.
    pub(super) const WRONG_ORIGIN: u8 = 1 << 7;
}

/// Bits of a record spec byte in the rebuild mode; the low 5 bits pick a base record.
mod spec {
    /// Change one byte of the record: the next two bytes are its position and an XOR mask.
    pub(super) const CHANGE: u8 = 1 << 5;
    /// Sign a checkpoint of the tree up to this record.
    pub(super) const CHECKPOINT: u8 = 1 << 6;
    /// Raw record: the next byte is a length, then that many bytes.
    pub(super) const RAW: u8 = 1 << 7;
}

/// What opening a rebuilt log must give.
#[derive(Debug)]
struct Expected {
    /// `None` when open must fail.
    outcome: Option<Outcome>,
}

#[derive(Debug)]
struct Outcome {
    /// The records written; with none, open writes an epoch-start record.
    records: u64,
    root: Digest,
    torn_bytes: u64,
    /// Exact number of node hashes open must rebuild, when known.
    repaired_nodes: Option<u64>,
    checkpoints: Vec<Checkpoint>,
}

impl Expected {
    fn check(&self, opened: &Result<AuditLog, tracehound::audit::AuditError>) {
        let (outcome, log) = match (&self.outcome, opened) {
            (None, Err(_)) => return,
            (None, Ok(log)) => panic!(
                "open accepted a log it must reject: {:?}",
                log.open_report()
            ),
            (Some(outcome), Err(error)) => {
                panic!("open rejected a valid log: {error}; expected {outcome:?}")
            }
            (Some(outcome), Ok(log)) => (outcome, log),
        };
        let report = log.open_report();
        assert_eq!(report.epoch, LAST_EPOCH);
        assert_eq!(report.torn_bytes, outcome.torn_bytes);
        if let Some(repaired) = outcome.repaired_nodes {
            assert_eq!(report.repaired_nodes, repaired);
        } else {
            assert!(
                report.repaired_nodes > 0,
                "a damaged node file was not repaired"
            );
        }
        assert_eq!(report.checkpoints, outcome.checkpoints.len() as u64);
        assert_eq!(
            log.latest_checkpoint().map(SignedCheckpoint::checkpoint),
            outcome.checkpoints.last()
        );
        if outcome.records == 0 {
            // The epoch's start record, written again from epoch 1's final checkpoint.
            assert_eq!(log.size(), 1);
        } else {
            assert_eq!(report.records, outcome.records);
            assert_eq!(log.size(), outcome.records);
            assert_eq!(log.root(), outcome.root);
        }
    }
}

/// Rewrites the last epoch from records the input picks; returns the files and what open
/// must make of them.
fn rebuild(data: &[u8], base: &Base) -> (Files, Expected) {
    let mut input = Cursor(data);
    let flags = input.byte().unwrap_or(0);
    let param = input.byte().unwrap_or(0);
    let has = |bit: u8| flags & bit != 0;

    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut checkpoint_sizes = Vec::new();
    while records.len() < MAX_ITEMS {
        let Some(spec) = input.byte() else { break };
        let mut record = if spec & spec::RAW != 0 {
            let len = input.byte().unwrap_or(0);
            input.take(usize::from(len)).to_vec()
        } else {
            base.records[usize::from(spec & 0x1f) % base.records.len()].clone()
        };
        if spec & spec::CHANGE != 0
            && let (Some(at), Some(mask)) = (input.byte(), input.byte())
            && !record.is_empty()
        {
            let at = usize::from(at) % record.len();
            record[at] ^= mask;
        }
        if !has(flag::KEEP_SEQ)
            && let Some(seq) = record.get_mut(2..10)
        {
            seq.copy_from_slice(&(records.len() as u64).to_be_bytes());
        }
        records.push(record);
        if spec & spec::CHECKPOINT != 0 {
            checkpoint_sizes.push(records.len());
        }
    }

    let mut files: Files = base
        .files
        .iter()
        .filter(|(path, _)| path.starts_with("epoch-00000001/") || *path == "signing.key")
        .map(|(path, bytes)| (path.clone(), bytes.clone()))
        .collect();
    let epoch_dir = format!("epoch-{LAST_EPOCH:08}");
    let segment_name = |first: usize| format!("{epoch_dir}/segment-{first:020}.log");

    let records_per_segment = if has(flag::SPLIT) {
        1 + usize::from(param % 8)
    } else {
        usize::MAX
    };
    let mut last_segment = segment_name(0);
    let mut segment = file_header(SEGMENT_MAGIC, LAST_EPOCH, 0).to_vec();
    for (index, record) in records.iter().enumerate() {
        if index > 0 && index % records_per_segment == 0 {
            files.insert(last_segment, std::mem::take(&mut segment));
            last_segment = segment_name(index);
            segment = file_header(SEGMENT_MAGIC, LAST_EPOCH, index as u64).to_vec();
        }
        put_frame(&mut segment, record);
    }
    let mut torn_bytes = 0;
    if has(flag::TORN) {
        let tail = if param & 0x80 != 0 {
            vec![0; 1 + usize::from(param % 64)]
        } else {
            let mut frame = Vec::new();
            put_frame(
                &mut frame,
                &base.records[usize::from(param) % base.records.len()],
            );
            frame.truncate(1 + usize::from(param) % (frame.len() - 1));
            frame
        };
        torn_bytes = tail.len() as u64;
        segment.extend_from_slice(&tail);
    }
    files.insert(last_segment, segment);

    let tree = MemoryTree::new(records.iter().map(|r| leaf_hash(r)).collect());
    let mut nodes = node_files(LAST_EPOCH, &tree);
    let node_count = tree.levels().iter().map(Vec::len).sum::<usize>() as u64;
    let repaired_nodes = if has(flag::NO_NODES) {
        nodes.clear();
        Some(node_count)
    } else if has(flag::DAMAGE_NODE) && node_count > 0 {
        let mut at = usize::from(param) * 97 % (node_count as usize * Digest::LEN);
        for bytes in nodes.values_mut() {
            if at < bytes.len() {
                bytes[at] ^= 1 << (param % 8);
                break;
            }
            at -= bytes.len();
        }
        None
    } else {
        Some(0)
    };
    files.extend(nodes);

    let epoch = if has(flag::WRONG_ORIGIN) {
        1
    } else {
        LAST_EPOCH
    };
    let origin = format!("{DEPLOYMENT}/tracehound/{epoch}");
    let mut checkpoints = Vec::new();
    let mut checkpoint_file = file_header(CHECKPOINT_MAGIC, LAST_EPOCH, 0).to_vec();
    for (n, &size) in checkpoint_sizes.iter().enumerate() {
        let root_size = if n == 0 && has(flag::BAD_ROOT) {
            size - 1
        } else {
            size
        };
        let root = reference_root(&tree.leaves()[..root_size]);
        let checkpoint = Checkpoint::new(origin.clone(), size as u64, root);
        let signed =
            SignedCheckpoint::sign(checkpoint.clone(), &keys().signer).expect("sign a checkpoint");
        put_frame(&mut checkpoint_file, signed.note().as_bytes());
        checkpoints.push(checkpoint);
    }
    if has(flag::NO_CHECKPOINTS) {
        checkpoints.clear();
    } else {
        files.insert(format!("{epoch_dir}/checkpoints.log"), checkpoint_file);
    }
    // The head file (docs/audit-log-format.md §6.14) names the rebuilt epoch at size 0,
    // which any records satisfy; the root is SHA-256 of nothing.
    let head = format!(
        "{DEPLOYMENT}/tracehound/head\nepoch {LAST_EPOCH}\nsize 0\n\
         root 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
    let head = keys().signer.sign(&head).expect("sign the head");
    files.insert("head.note".to_owned(), head.into_bytes());

    let records_valid = records.iter().enumerate().all(|(index, record)| {
        AuditRecord::decode(record).is_ok_and(|decoded| decoded.seq == index as u64)
    });
    let checkpoints_valid =
        checkpoints.is_empty() || !(has(flag::WRONG_ORIGIN) || has(flag::BAD_ROOT));
    // An epoch with records keeps its checkpoint file, and its first leaf continues the
    // chain from epoch 1 (or starts a new one with a reset record).
    let checkpoint_file_valid = records.is_empty() || !has(flag::NO_CHECKPOINTS);
    let chain_valid = records.first().is_none_or(|first| {
        matches!(
            AuditRecord::decode(first).map(|record| record.body),
            Ok(RecordBody::EpochStart {
                previous_epoch: 1,
                ..
            } | RecordBody::Reset { .. })
        )
    });
    let outcome = (records_valid && checkpoints_valid && checkpoint_file_valid && chain_valid)
        .then(|| Outcome {
        records: records.len() as u64,
        root: reference_root(tree.leaves()),
        torn_bytes,
        repaired_nodes,
        checkpoints,
    });
    (files, Expected { outcome })
}

/// Checks an opened log through its public API, then appends a record, signs a checkpoint
/// and reopens it.
fn check_open_log(mut log: AuditLog, config: &AuditConfig) {
    let size = log.size();
    let root = log.root();
    assert_eq!(log.durable_size(), size);
    assert_eq!(log.counts().total(), size);
    assert_eq!(log.root_at(size).expect("root at the log's size"), root);
    assert!(log.root_at(size + 1).is_err());
    if let Some(latest) = log.latest_checkpoint() {
        let latest = latest.checkpoint().clone();
        assert!(latest.size <= size);
        assert_eq!(latest.origin, log.origin());
        assert_eq!(
            log.root_at(latest.size).expect("root at a checkpoint"),
            latest.root
        );
    }
    if size > 0 {
        for index in [0, size / 2, size - 1] {
            let record = log.record(index).expect("read a verified record");
            let decoded = AuditRecord::decode(&record).expect("a verified record decodes");
            assert_eq!(decoded.seq, index);
            let proof = log.inclusion_proof(index, size).expect("inclusion proof");
            assert_eq!(
                merkle::verify_inclusion(&leaf_hash(&record), index, size, &proof, &root),
                Ok(()),
                "inclusion proof of leaf {index} in {size}"
            );
        }
        for old_size in [1, size / 2 + 1] {
            let old_root = log.root_at(old_size).expect("root at an older size");
            let proof = log
                .consistency_proof(old_size, size)
                .expect("consistency proof");
            assert_eq!(
                merkle::verify_consistency(old_size, size, &proof, &old_root, &root),
                Ok(()),
                "consistency proof from {old_size} to {size}"
            );
        }
    }

    let signature = Signature::new(Category::Flood, Digest::of(b"after open"));
    let time = Timestamp::from_unix_millis(1_800_000_000_000);
    let record = EvidenceRecord::new(RecordType::Quarantined, time, &signature, 1, Severity::Low);
    let appended = log.append(&record).expect("an opened log takes a record");
    assert_eq!(appended.index, size);
    let signed = log.checkpoint().expect("an opened log signs a checkpoint");
    assert_eq!(signed.checkpoint().size, size + 1);
    let root = log.root();
    let checkpoints = log.open_report().checkpoints + 1;
    drop(log);

    let log = AuditLog::open(config).expect("a log reopens after a record and a checkpoint");
    let report = log.open_report();
    assert_eq!(log.size(), size + 1);
    assert_eq!(log.root(), root);
    assert_eq!(report.torn_bytes, 0);
    assert_eq!(report.checkpoints, checkpoints);
    assert_eq!(log.latest_checkpoint(), Some(&signed));
}
