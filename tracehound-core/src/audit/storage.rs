//! Where the log's records and node hashes live: a directory of append-only, checksummed
//! segment files (the durable default), or memory.
//!
//! Segment files hold the records, the source of truth. Node files hold the hashes of
//! complete subtrees, level by level; they are derived data, checked against the records
//! on every open and repaired when they disagree. The checkpoint file holds every signed
//! checkpoint of the epoch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tracehound_codec::Digest;

use super::error::AuditError;
use super::record::MAX_RECORD_LEN;

/// Frame header: length, its complement, CRC-32 of the first 8 bytes and the payload.
pub(crate) const FRAME_HEADER_LEN: usize = 12;
/// File header: magic, version, epoch, first index, CRC-32 of the first 28 bytes.
pub(crate) const FILE_HEADER_LEN: usize = 32;
const SEGMENT_MAGIC: &[u8; 8] = b"THAUDSEG";
const CHECKPOINT_MAGIC: &[u8; 8] = b"THAUDCKP";
const FILE_VERSION: u32 = 1;
/// One record offset is remembered per this many records, to find records on disk.
const SPARSE_EVERY: u64 = 1024;
/// Pending bytes written out early, so buffered writes stay bounded between commits.
const MAX_PENDING_BYTES: usize = 1 << 20;

/// Frames `payload` onto `out`.
pub(crate) fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
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

/// What [`next_frame`] found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole, valid frame and the bytes it used.
    Whole(&'a [u8], usize),
    /// Nothing left.
    End,
    /// An incomplete frame at the end of the bytes: what a crash mid-write leaves.
    Torn,
    /// Bytes that no write could have left: damage.
    Corrupt(&'static str),
}

/// Reads the frame at the start of `bytes`, which run to the end of the file when
/// `at_eof`. Torn and corrupt frames are told apart: a crash leaves a *prefix* of a valid
/// frame (or zeros, on file systems that extend files before writing), never a complete
/// frame with a bad checksum or a length that disagrees with its complement.
pub(crate) fn next_frame(bytes: &[u8], at_eof: bool) -> Frame<'_> {
    if bytes.is_empty() {
        return Frame::End;
    }
    let torn_or = |problem| {
        if at_eof {
            Frame::Torn
        } else {
            Frame::Corrupt(problem)
        }
    };
    if bytes.len() < FRAME_HEADER_LEN {
        return torn_or("truncated frame header");
    }
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (len, check, crc) = (word(0), word(4), word(8));
    if len != !check {
        if at_eof && bytes.iter().all(|&b| b == 0) {
            return Frame::Torn;
        }
        return Frame::Corrupt("frame length does not match its complement");
    }
    let len = len as usize;
    if len == 0 || len > MAX_RECORD_LEN.max(MAX_NOTE_FRAME) {
        return Frame::Corrupt("frame length out of range");
    }
    let Some(payload) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return torn_or("truncated frame");
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..8]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Frame::Corrupt("frame checksum mismatch");
    }
    Frame::Whole(payload, FRAME_HEADER_LEN + len)
}

/// The checkpoint file of an epoch directory.
pub(crate) const CHECKPOINT_FILE: &str = "checkpoints.log";

/// Longest checkpoint note kept in the checkpoint file.
const MAX_NOTE_FRAME: usize = 64 * 1024;

fn file_header(magic: &[u8; 8], epoch: u64, first: u64) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&FILE_VERSION.to_be_bytes());
    h[12..20].copy_from_slice(&epoch.to_be_bytes());
    h[20..28].copy_from_slice(&first.to_be_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..].copy_from_slice(&crc.to_be_bytes());
    h
}

fn check_file_header(
    bytes: &[u8],
    magic: &[u8; 8],
    epoch: u64,
    first: u64,
) -> Result<(), &'static str> {
    let h = bytes
        .get(..FILE_HEADER_LEN)
        .ok_or("file shorter than its header")?;
    if h != file_header(magic, epoch, first) {
        return Err("file header does not match its name, epoch or checksum");
    }
    Ok(())
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> AuditError + 'a {
    move |e| AuditError::io(op, path, &e)
}

/// Writes a whole new file with a header and makes it and its directory entry durable.
fn create_with_header(path: &Path, header: &[u8], sync: bool) -> Result<File, AuditError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("create", path))?;
    file.write_all(header).map_err(io_err("write", path))?;
    if sync {
        file.sync_data().map_err(io_err("fsync", path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
    }
    Ok(file)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Reads a file of frames from offset `skip`, calling `each` with every payload and its
/// offset; returns the length of the valid prefix and whether a torn tail follows it. A torn
/// tail is an error unless `tail_may_tear`.
pub(crate) fn read_frames(
    path: &Path,
    tail_may_tear: bool,
    mut each: impl FnMut(&[u8], u64) -> Result<(), AuditError>,
    corrupt: impl Fn(u64, u64, &'static str) -> AuditError,
    skip: usize,
) -> Result<(u64, bool), AuditError> {
    const CHUNK: usize = 1 << 20;
    const LOOKAHEAD: usize = FRAME_HEADER_LEN + MAX_NOTE_FRAME;
    let mut file = File::open(path).map_err(io_err("open", path))?;
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    file.seek(SeekFrom::Start(skip as u64))
        .map_err(io_err("seek", path))?;
    let mut read_to = skip as u64;
    let mut offset = skip as u64;
    let mut n = 0u64;
    let mut buf = Vec::with_capacity(CHUNK + LOOKAHEAD);
    let mut pos = 0;
    loop {
        if buf.len() - pos < LOOKAHEAD && read_to < len {
            buf.drain(..pos);
            pos = 0;
            let got = (&mut file)
                .take(CHUNK as u64)
                .read_to_end(&mut buf)
                .map_err(io_err("read", path))?;
            read_to += got as u64;
            if got == 0 {
                // The file shrank under us; judge what we have.
                read_to = len;
            }
        }
        match next_frame(&buf[pos..], read_to >= len) {
            Frame::End => return Ok((offset, false)),
            Frame::Torn if tail_may_tear => return Ok((offset, true)),
            Frame::Torn => return Err(corrupt(offset, n, "truncated frame")),
            Frame::Corrupt(problem) => return Err(corrupt(offset, n, problem)),
            Frame::Whole(payload, used) => {
                each(payload, offset)?;
                offset += used as u64;
                n += 1;
                pos += used;
            }
        }
    }
}

/// Node hashes not yet written to their files.
#[derive(Debug, Default)]
struct Level {
    /// Hashes in the file.
    written: u64,
    pending: Vec<u8>,
    file: Option<File>,
}

/// The log's records and node hashes.
#[derive(Debug)]
pub(crate) enum Storage {
    Memory(MemoryStore),
    Dir(DirStore),
}

/// Records and nodes in memory; the log bounds it by rotating epochs.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    records: Vec<u8>,
    /// End offset of each record in `records`.
    ends: Vec<usize>,
    levels: Vec<Vec<Digest>>,
    checkpoints: Vec<String>,
}

/// The directory store of one epoch.
#[derive(Debug)]
pub(crate) struct DirStore {
    epoch_dir: PathBuf,
    epoch: u64,
    sync: bool,
    segment_bytes: u64,
    segments: Vec<Segment>,
    /// Bytes of the current segment written to the file.
    segment_written: u64,
    /// Framed records not yet written.
    pending: Vec<u8>,
    /// Records in the store, written or pending.
    count: u64,
    /// (record index, segment position, offset) every `SPARSE_EVERY` records.
    sparse: Vec<(u64, usize, u64)>,
    levels: Vec<Level>,
    checkpoint_file: Option<File>,
}

#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
}

/// What opening a store found.
#[derive(Debug, Default)]
pub(crate) struct Opened {
    pub(crate) torn_bytes: u64,
    pub(crate) repaired_nodes: u64,
    pub(crate) checkpoints: Vec<String>,
    pub(crate) torn_checkpoint_bytes: u64,
    /// Whether the checkpoint file was missing (and has been created empty).
    pub(crate) checkpoint_file_missing: bool,
}

pub(crate) fn epoch_dir(root: &Path, epoch: u64) -> PathBuf {
    root.join(format!("epoch-{epoch:08}"))
}

/// Epoch numbers present under `root`, in order.
pub(crate) fn epochs(root: &Path) -> Result<Vec<u64>, AuditError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(root).map_err(io_err("list", root))? {
        let entry = entry.map_err(io_err("list", root))?;
        let name = entry.file_name();
        // Only names this log writes count: `epoch-0` or `epoch-+1` would alias a real one.
        if let Some(name) = name.to_str()
            && let Some(Ok(epoch)) = name.strip_prefix("epoch-").map(str::parse::<u64>)
            && epoch_dir(root, epoch).file_name() == Some(std::ffi::OsStr::new(name))
        {
            found.push(epoch);
        }
    }
    found.sort_unstable();
    Ok(found)
}

impl DirStore {
    /// Creates the directory of a new epoch.
    pub(crate) fn create(
        root: &Path,
        epoch: u64,
        sync: bool,
        segment_bytes: u64,
    ) -> Result<DirStore, AuditError> {
        let dir = epoch_dir(root, epoch);
        fs::create_dir(&dir).map_err(io_err("create directory", &dir))?;
        let created = (|| {
            if sync {
                sync_dir(root)?;
            }
            let mut store = DirStore::empty(dir.clone(), epoch, sync, segment_bytes);
            store.new_segment(0)?;
            store.open_checkpoints()?;
            Ok(store)
        })();
        if created.is_err() {
            // Only what was just created: a retry can then create the epoch again.
            let _ = fs::remove_dir_all(&dir);
        }
        created
    }

    fn empty(epoch_dir: PathBuf, epoch: u64, sync: bool, segment_bytes: u64) -> DirStore {
        DirStore {
            epoch_dir,
            epoch,
            sync,
            segment_bytes,
            segments: Vec::new(),
            segment_written: 0,
            pending: Vec::new(),
            count: 0,
            sparse: Vec::new(),
            levels: Vec::new(),
            checkpoint_file: None,
        }
    }

    /// Opens an existing epoch: verifies every frame of every segment, cuts a torn tail off
    /// the last one, and streams every record to `each` in order (which rebuilds the tree
    /// and returns the nodes each leaf completes, to check against the node files).
    pub(crate) fn open(
        root: &Path,
        epoch: u64,
        sync: bool,
        segment_bytes: u64,
        mut each: impl FnMut(u64, &[u8]) -> Result<Vec<(u32, Digest)>, AuditError>,
    ) -> Result<(DirStore, Opened), AuditError> {
        let dir = epoch_dir(root, epoch);
        let mut store = DirStore::empty(dir.clone(), epoch, sync, segment_bytes);
        let mut opened = Opened::default();
        let firsts = segment_firsts(&dir, epoch)?;
        if firsts.is_empty() {
            store.new_segment(0)?;
        }
        let mut verifier = NodeVerifier::open(&dir)?;
        let last = firsts.len().saturating_sub(1);
        for (position, &first) in firsts.iter().enumerate() {
            let path = dir.join(segment_name(first));
            let corrupt = |offset, index, problem| AuditError::Corrupt {
                epoch,
                file: path.clone(),
                offset,
                index,
                problem,
            };
            if first != store.count {
                return Err(corrupt(
                    0,
                    store.count,
                    "segment does not start where the previous one ends (records missing)",
                ));
            }
            let mut head = [0u8; FILE_HEADER_LEN];
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io_err("open", &path))?;
            let header_ok = file
                .read_exact_at(&mut head, 0)
                .ok()
                .map(|()| check_file_header(&head, SEGMENT_MAGIC, epoch, first));
            match header_ok {
                Some(Ok(())) => {}
                Some(Err(problem)) => return Err(corrupt(0, first, problem)),
                None if position == last => {
                    // A crash while creating the segment: nothing in it was acknowledged.
                    let torn = file.metadata().map_err(io_err("stat", &path))?.len();
                    if torn != 0 && !all_zero(&file, torn) {
                        return Err(corrupt(0, first, "file shorter than its header"));
                    }
                    drop(file);
                    fs::remove_file(&path).map_err(io_err("remove", &path))?;
                    opened.torn_bytes += torn;
                    store.new_segment(first)?;
                    continue;
                }
                None => return Err(corrupt(0, first, "file shorter than its header")),
            }
            let index_base = store.count;
            let (valid, torn) = read_frames(
                &path,
                position == last,
                |payload, offset| {
                    let index = store.count;
                    if index.is_multiple_of(SPARSE_EVERY) {
                        store.sparse.push((index, position, offset));
                    }
                    let nodes = each(index, payload).map_err(|e| match e {
                        AuditError::Record { problem, .. } => AuditError::Corrupt {
                            epoch,
                            file: path.clone(),
                            offset,
                            index,
                            problem,
                        },
                        other => other,
                    })?;
                    verifier.check(&nodes)?;
                    store.count += 1;
                    Ok(())
                },
                |offset, n, problem| corrupt(offset, index_base + n, problem),
                FILE_HEADER_LEN,
            )?;
            if torn {
                let len = file.metadata().map_err(io_err("stat", &path))?.len();
                opened.torn_bytes += len - valid;
                file.set_len(valid).map_err(io_err("truncate", &path))?;
                file.sync_data().map_err(io_err("fsync", &path))?;
            }
            store.segment_written = valid;
            store.segments.push(Segment { first, path, file });
        }
        opened.repaired_nodes = verifier.finish()?;
        store.levels = verifier.into_levels();
        opened.checkpoint_file_missing = !dir.join(CHECKPOINT_FILE).exists();
        let (checkpoints, torn) = store.open_checkpoints()?;
        opened.checkpoints = checkpoints;
        opened.torn_checkpoint_bytes = torn;
        Ok((store, opened))
    }

    fn open_checkpoints(&mut self) -> Result<(Vec<String>, u64), AuditError> {
        let path = self.epoch_dir.join(CHECKPOINT_FILE);
        let header = file_header(CHECKPOINT_MAGIC, self.epoch, 0);
        let exists = path.exists();
        if !exists {
            self.checkpoint_file = Some(create_with_header(&path, &header, self.sync)?);
            return Ok((Vec::new(), 0));
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let (notes, valid, torn) = checkpoint_notes(&path, &file, self.epoch, true)?;
        let mut cut = 0;
        if torn {
            let len = file.metadata().map_err(io_err("stat", &path))?.len();
            cut = len - valid;
            file.set_len(valid).map_err(io_err("truncate", &path))?;
        }
        self.checkpoint_file = Some(file);
        Ok((notes, cut))
    }

    fn new_segment(&mut self, first: u64) -> Result<(), AuditError> {
        let path = self.epoch_dir.join(segment_name(first));
        let header = file_header(SEGMENT_MAGIC, self.epoch, first);
        let file = create_with_header(&path, &header, self.sync)?;
        self.segments.push(Segment { first, path, file });
        self.segment_written = FILE_HEADER_LEN as u64;
        Ok(())
    }

    fn current(&self) -> Result<&Segment, AuditError> {
        self.segments
            .last()
            .ok_or(AuditError::Internal("no open segment"))
    }

    /// Buffers a record and the nodes it completes. Fails, without buffering it, only when
    /// the buffer is full and cannot be written out.
    pub(crate) fn append(
        &mut self,
        record: &[u8],
        nodes: &[(u32, Digest)],
    ) -> Result<(), AuditError> {
        if self.pending.len() >= MAX_PENDING_BYTES {
            self.write_out()?;
        }
        if self.count.is_multiple_of(SPARSE_EVERY) {
            let position = self.segments.len() - 1;
            self.sparse.push((
                self.count,
                position,
                self.segment_written + self.pending.len() as u64,
            ));
        }
        put_frame(&mut self.pending, record);
        self.count += 1;
        push_nodes(&mut self.levels, nodes);
        Ok(())
    }

    /// Writes pending bytes to the files, rolling to a new segment when the current one is
    /// full; with `sync`, makes them durable.
    pub(crate) fn commit(&mut self, sync: bool) -> Result<(), AuditError> {
        self.write_out()?;
        if sync {
            let segment = self.current()?;
            segment
                .file
                .sync_data()
                .map_err(io_err("fsync", &segment.path))?;
        }
        if self.segment_written >= self.segment_bytes {
            if !sync {
                let segment = self.current()?;
                segment
                    .file
                    .sync_data()
                    .map_err(io_err("fsync", &segment.path))?;
            }
            self.new_segment(self.count)?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), AuditError> {
        if !self.pending.is_empty() {
            let segment = self
                .segments
                .last_mut()
                .ok_or(AuditError::Internal("no open segment"))?;
            if let Err(e) = segment.file.write_all(&self.pending) {
                // Leave the file as it was, so the next attempt appends whole frames.
                let _ = segment.file.set_len(self.segment_written);
                return Err(AuditError::io("write", &segment.path, &e));
            }
            self.segment_written += self.pending.len() as u64;
            self.pending.clear();
        }
        for (level, nodes) in self.levels.iter_mut().enumerate() {
            if nodes.pending.is_empty() {
                continue;
            }
            let path = self.epoch_dir.join(node_name(level));
            let file = match &mut nodes.file {
                Some(file) => file,
                slot => slot.insert(
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&path)
                        .map_err(io_err("open", &path))?,
                ),
            };
            file.write_all_at(&nodes.pending, nodes.written * Digest::LEN as u64)
                .map_err(io_err("write", &path))?;
            nodes.written += (nodes.pending.len() / Digest::LEN) as u64;
            nodes.pending.clear();
        }
        Ok(())
    }

    pub(crate) fn node(&self, level: u32, index: u64) -> Result<Digest, AuditError> {
        let nodes = self
            .levels
            .get(level as usize)
            .ok_or(AuditError::Internal("node level beyond the tree"))?;
        if index < nodes.written {
            let path = self.epoch_dir.join(node_name(level as usize));
            let file = nodes
                .file
                .as_ref()
                .ok_or(AuditError::Internal("node file not open"))?;
            let mut hash = [0u8; 32];
            file.read_exact_at(&mut hash, index * Digest::LEN as u64)
                .map_err(io_err("read", &path))?;
            return Ok(Digest::from_bytes(hash));
        }
        let at = ((index - nodes.written) as usize) * Digest::LEN;
        let bytes = nodes
            .pending
            .get(at..at + Digest::LEN)
            .ok_or(AuditError::Internal("node beyond the tree"))?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(bytes);
        Ok(Digest::from_bytes(hash))
    }

    pub(crate) fn record(&mut self, index: u64) -> Result<Vec<u8>, AuditError> {
        if index >= self.count {
            return Err(AuditError::OutOfRange {
                index,
                size: self.count,
            });
        }
        self.write_out()?;
        let slot = self.sparse.partition_point(|&(i, _, _)| i <= index);
        let &(mut at_index, mut position, mut offset) = self
            .sparse
            .get(slot.wrapping_sub(1))
            .ok_or(AuditError::Internal("sparse index is empty"))?;
        loop {
            let segment = self
                .segments
                .get(position)
                .ok_or(AuditError::Internal("record beyond the segments"))?;
            let mut header = [0u8; FRAME_HEADER_LEN];
            let read = segment.file.read_exact_at(&mut header, offset);
            if read.is_err()
                || (position + 1 < self.segments.len()
                    && self.segments[position + 1].first == at_index)
            {
                position += 1;
                offset = FILE_HEADER_LEN as u64;
                continue;
            }
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if at_index == index {
                let mut frame = vec![0u8; FRAME_HEADER_LEN + len.min(MAX_RECORD_LEN)];
                segment
                    .file
                    .read_exact_at(&mut frame, offset)
                    .map_err(io_err("read", &segment.path))?;
                return match next_frame(&frame, false) {
                    Frame::Whole(payload, _) => Ok(payload.to_vec()),
                    _ => Err(AuditError::Corrupt {
                        epoch: self.epoch,
                        file: segment.path.clone(),
                        offset,
                        index,
                        problem: "frame changed on disk after the log was opened",
                    }),
                };
            }
            offset += (FRAME_HEADER_LEN + len) as u64;
            at_index += 1;
        }
    }

    pub(crate) fn save_checkpoint(&mut self, note: &str) -> Result<(), AuditError> {
        let path = self.epoch_dir.join(CHECKPOINT_FILE);
        let file = self
            .checkpoint_file
            .as_mut()
            .ok_or(AuditError::Internal("checkpoint file not open"))?;
        let mut frame = Vec::with_capacity(note.len() + FRAME_HEADER_LEN);
        put_frame(&mut frame, note.as_bytes());
        file.write_all(&frame).map_err(io_err("write", &path))?;
        if self.sync {
            file.sync_data().map_err(io_err("fsync", &path))?;
        }
        Ok(())
    }

    /// Closes the epoch for good: everything written and durable.
    pub(crate) fn seal(&mut self) -> Result<(), AuditError> {
        self.write_out()?;
        let segment = self.current()?;
        segment
            .file
            .sync_data()
            .map_err(io_err("fsync", &segment.path))?;
        for (level, nodes) in self.levels.iter().enumerate() {
            if let Some(file) = &nodes.file {
                file.sync_data()
                    .map_err(io_err("fsync", &self.epoch_dir.join(node_name(level))))?;
            }
        }
        Ok(())
    }
}

fn all_zero(file: &File, len: u64) -> bool {
    let mut buf = vec![0u8; len.min(FILE_HEADER_LEN as u64) as usize];
    file.read_exact_at(&mut buf, 0).is_ok() && buf.iter().all(|&b| b == 0)
}

fn segment_name(first: u64) -> String {
    format!("segment-{first:020}.log")
}

fn node_name(level: usize) -> String {
    format!("nodes-{level:02}.bin")
}

fn push_nodes(levels: &mut Vec<Level>, nodes: &[(u32, Digest)]) {
    for &(level, hash) in nodes {
        let level = level as usize;
        while levels.len() <= level {
            levels.push(Level::default());
        }
        levels[level].pending.extend_from_slice(hash.as_bytes());
    }
}

/// Checks rebuilt node hashes against the node files as they stream past, and rewrites a
/// file from the first hash that disagrees (or is missing).
#[derive(Debug)]
struct NodeVerifier {
    dir: PathBuf,
    levels: Vec<CheckedLevel>,
}

#[derive(Debug)]
struct CheckedLevel {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    /// Hashes that matched the file.
    matched: u64,
    /// Hashes after the first mismatch, rewritten at `matched`.
    rewrite: Option<File>,
    rewritten: u64,
}

impl NodeVerifier {
    fn open(dir: &Path) -> Result<NodeVerifier, AuditError> {
        Ok(NodeVerifier {
            dir: dir.to_path_buf(),
            levels: Vec::new(),
        })
    }

    fn level(&mut self, level: usize) -> Result<&mut CheckedLevel, AuditError> {
        while self.levels.len() <= level {
            let path = self.dir.join(node_name(self.levels.len()));
            let reader = match File::open(&path) {
                Ok(file) => Some(BufReader::with_capacity(64 * 1024, file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(AuditError::io("open", &path, &e)),
            };
            self.levels.push(CheckedLevel {
                path,
                reader,
                matched: 0,
                rewrite: None,
                rewritten: 0,
            });
        }
        Ok(&mut self.levels[level])
    }

    fn check(&mut self, nodes: &[(u32, Digest)]) -> Result<(), AuditError> {
        for &(level, hash) in nodes {
            let checked = self.level(level as usize)?;
            if checked.rewrite.is_none() {
                let mut stored = [0u8; 32];
                let same = match &mut checked.reader {
                    Some(reader) => {
                        reader.read_exact(&mut stored).is_ok() && stored == *hash.as_bytes()
                    }
                    None => false,
                };
                if same {
                    checked.matched += 1;
                    continue;
                }
                checked.reader = None;
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&checked.path)
                    .map_err(io_err("open", &checked.path))?;
                file.set_len(checked.matched * Digest::LEN as u64)
                    .map_err(io_err("truncate", &checked.path))?;
                file.seek(SeekFrom::End(0))
                    .map_err(io_err("seek", &checked.path))?;
                checked.rewrite = Some(file);
            }
            if let Some(file) = &mut checked.rewrite {
                file.write_all(hash.as_bytes())
                    .map_err(io_err("write", &checked.path))?;
                checked.rewritten += 1;
            }
        }
        Ok(())
    }

    /// Cuts node files that hold more hashes than the records justify; returns how many
    /// hashes were rewritten.
    fn finish(&mut self) -> Result<u64, AuditError> {
        let mut repaired = 0;
        for checked in &mut self.levels {
            repaired += checked.rewritten;
            let count = checked.matched + checked.rewritten;
            let path = checked.path.clone();
            if let Some(reader) = checked.reader.take() {
                let file = reader.into_inner();
                let len = file.metadata().map_err(io_err("stat", &path))?.len();
                if len != count * Digest::LEN as u64 {
                    drop(file);
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io_err("open", &path))?;
                    file.set_len(count * Digest::LEN as u64)
                        .map_err(io_err("truncate", &path))?;
                    repaired += 1;
                }
            }
        }
        Ok(repaired)
    }

    fn into_levels(self) -> Vec<Level> {
        self.levels
            .into_iter()
            .map(|checked| {
                let written = checked.matched + checked.rewritten;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&checked.path)
                    .ok();
                Level {
                    written,
                    pending: Vec::new(),
                    file,
                }
            })
            .collect()
    }
}

/// Segment numbers (first record index) of an epoch directory, in order.
fn segment_firsts(dir: &Path, epoch: u64) -> Result<Vec<u64>, AuditError> {
    let mut firsts = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = name
            .strip_prefix("segment-")
            .and_then(|n| n.strip_suffix(".log"))
        {
            let first = first
                .parse::<u64>()
                .ok()
                .filter(|&first| segment_name(first) == name)
                .ok_or_else(|| AuditError::Corrupt {
                    epoch,
                    file: entry.path(),
                    offset: 0,
                    index: 0,
                    problem: "segment file name is not one the log writes",
                })?;
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// The first record of an epoch, read without opening the epoch for writing; `None` when
/// its first segment holds no record.
pub(crate) fn first_record(root: &Path, epoch: u64) -> Result<Option<Vec<u8>>, AuditError> {
    let path = epoch_dir(root, epoch).join(segment_name(0));
    let corrupt = |offset, problem| AuditError::Corrupt {
        epoch,
        file: path.clone(),
        offset,
        index: 0,
        problem,
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(corrupt(0, "the epoch's first segment is missing"));
        }
        Err(e) => return Err(AuditError::io("open", &path, &e)),
    };
    let mut head = vec![0u8; FILE_HEADER_LEN + FRAME_HEADER_LEN + MAX_RECORD_LEN];
    let mut got = 0;
    loop {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AuditError::io("read", &path, &e)),
        }
        if got == head.len() {
            break;
        }
    }
    let bytes = &head[..got];
    check_file_header(bytes, SEGMENT_MAGIC, epoch, 0).map_err(|p| corrupt(0, p))?;
    let len = file.metadata().map_err(io_err("stat", &path))?.len();
    match next_frame(&bytes[FILE_HEADER_LEN..], got as u64 >= len) {
        Frame::Whole(payload, _) => Ok(Some(payload.to_vec())),
        Frame::End => Ok(None),
        Frame::Torn => Err(corrupt(FILE_HEADER_LEN as u64, "truncated frame")),
        Frame::Corrupt(problem) => Err(corrupt(FILE_HEADER_LEN as u64, problem)),
    }
}

/// Streams every record of a sealed epoch to `each`, read-only and strictly: no torn tail
/// is allowed, segments must follow each other, every header must be exact. Returns the
/// number of records.
pub(crate) fn scan_sealed(
    root: &Path,
    epoch: u64,
    each: impl FnMut(u64, &[u8]) -> Result<(), AuditError>,
) -> Result<u64, AuditError> {
    scan_epoch(root, epoch, false, each).map(|(count, _)| count)
}

/// [`scan_sealed`], except that the last segment may end in a torn frame when
/// `tail_may_tear` (the current epoch of a live log): returns the number of records and
/// whether a torn tail followed them.
pub(crate) fn scan_epoch(
    root: &Path,
    epoch: u64,
    tail_may_tear: bool,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), AuditError>,
) -> Result<(u64, bool), AuditError> {
    let dir = epoch_dir(root, epoch);
    let mut count = 0u64;
    let firsts = segment_firsts(&dir, epoch)?;
    if firsts.is_empty() {
        return Err(AuditError::Corrupt {
            epoch,
            file: dir.join(segment_name(0)),
            offset: 0,
            index: 0,
            problem: "the epoch's first segment is missing",
        });
    }
    let last = firsts.len() - 1;
    let mut torn = false;
    for (position, first) in firsts.into_iter().enumerate() {
        let path = dir.join(segment_name(first));
        let corrupt = |offset, index, problem| AuditError::Corrupt {
            epoch,
            file: path.clone(),
            offset,
            index,
            problem,
        };
        if first != count {
            return Err(corrupt(
                0,
                count,
                "segment does not start where the previous one ends (records missing)",
            ));
        }
        let file = File::open(&path).map_err(io_err("open", &path))?;
        let mut head = [0u8; FILE_HEADER_LEN];
        file.read_exact_at(&mut head, 0)
            .map_err(|_| corrupt(0, first, "file shorter than its header"))?;
        check_file_header(&head, SEGMENT_MAGIC, epoch, first).map_err(|p| corrupt(0, first, p))?;
        drop(file);
        let base = count;
        (_, torn) = read_frames(
            &path,
            tail_may_tear && position == last,
            |payload, offset| {
                each(count, payload).map_err(|e| match e {
                    AuditError::Record { problem } => corrupt(offset, count, problem),
                    other => other,
                })?;
                count += 1;
                Ok(())
            },
            |offset, n, problem| corrupt(offset, base + n, problem),
            FILE_HEADER_LEN,
        )?;
    }
    Ok((count, torn))
}

/// Every checkpoint note stored for an epoch, read-only; `None` when its checkpoint file is
/// missing. A torn tail is damage here: only the current epoch's file may tear.
pub(crate) fn read_checkpoints(root: &Path, epoch: u64) -> Result<Option<Vec<String>>, AuditError> {
    let path = epoch_dir(root, epoch).join(CHECKPOINT_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io("open", &path, &e)),
    };
    let (notes, _, _) = checkpoint_notes(&path, &file, epoch, false)?;
    Ok(Some(notes))
}

/// The notes of the checkpoint file at `path`, open as `file`: its header checked, then
/// every frame read as text. Also returns where the last whole frame ends, and whether a
/// torn frame follows it (possible only when `tail_may_tear`; otherwise it is damage).
fn checkpoint_notes(
    path: &Path,
    file: &File,
    epoch: u64,
    tail_may_tear: bool,
) -> Result<(Vec<String>, u64, bool), AuditError> {
    let corrupt = |offset, index, problem| AuditError::Corrupt {
        epoch,
        file: path.to_path_buf(),
        offset,
        index,
        problem,
    };
    let mut head = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut head, 0)
        .map_err(|_| corrupt(0, 0, "file shorter than its header"))?;
    check_file_header(&head, CHECKPOINT_MAGIC, epoch, 0).map_err(|p| corrupt(0, 0, p))?;
    let mut notes = Vec::new();
    let (valid, torn) = read_frames(
        path,
        tail_may_tear,
        |payload, offset| {
            let note = std::str::from_utf8(payload)
                .map_err(|_| corrupt(offset, notes.len() as u64, "checkpoint is not UTF-8"))?;
            notes.push(note.to_owned());
            Ok(())
        },
        corrupt,
        FILE_HEADER_LEN,
    )?;
    Ok((notes, valid, torn))
}

impl MemoryStore {
    pub(crate) fn append(&mut self, record: &[u8], nodes: &[(u32, Digest)]) {
        self.records.extend_from_slice(record);
        self.ends.push(self.records.len());
        for &(level, hash) in nodes {
            let level = level as usize;
            while self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
        }
    }

    pub(crate) fn node(&self, level: u32, index: u64) -> Result<Digest, AuditError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(AuditError::Internal("node beyond the tree"))
    }

    pub(crate) fn record(&self, index: u64) -> Result<Vec<u8>, AuditError> {
        let size = self.ends.len() as u64;
        let i = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.ends.len())
            .ok_or(AuditError::OutOfRange { index, size })?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Ok(self.records[start..self.ends[i]].to_vec())
    }

    pub(crate) fn save_checkpoint(&mut self, note: &str) {
        // Only the latest is needed in memory; the log keeps it.
        self.checkpoints.clear();
        self.checkpoints.push(note.to_owned());
    }

    pub(crate) fn bytes(&self) -> usize {
        self.records.capacity()
            + self.ends.capacity() * 8
            + self.levels.iter().map(|l| l.capacity() * 32).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_tell_torn_from_corrupt() {
        let mut bytes = Vec::new();
        put_frame(&mut bytes, b"hello");
        put_frame(&mut bytes, b"world!");
        let Frame::Whole(first, used) = next_frame(&bytes, true) else {
            panic!()
        };
        assert_eq!(first, b"hello");
        assert_eq!(
            next_frame(&bytes[used..], true),
            Frame::Whole(b"world!", 18)
        );
        // Every strict prefix of the last frame is torn at the end of a file, corrupt elsewhere.
        for cut in used + 1..bytes.len() {
            assert_eq!(
                next_frame(&bytes[used..cut], true),
                Frame::Torn,
                "cut {cut}"
            );
            assert!(matches!(
                next_frame(&bytes[used..cut], false),
                Frame::Corrupt(_)
            ));
        }
        // Zeros left by a crash are torn; any flipped bit of a whole frame is corrupt.
        assert_eq!(next_frame(&[0u8; 40], true), Frame::Torn);
        for at in 0..used {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[at] ^= 1 << bit;
                assert!(
                    matches!(next_frame(&bad, true), Frame::Corrupt(_)),
                    "byte {at} bit {bit}"
                );
            }
        }
    }
}
