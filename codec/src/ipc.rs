//! The hound IPC protocol: length-prefixed `postcard` frames over a worker's stdin and stdout.
//!
//! A frame is a `u32` big-endian payload length followed by that many bytes of one `postcard`
//! message. Every reader is given a cap and refuses a larger length as soon as it has seen the
//! four length bytes, without reading or allocating the rest: a worker that claims a 4 GB frame
//! costs the host four bytes.
//!
//! The conversation:
//!
//! 1. the host sends [`HostMessage::Hello`] with the protocol version and the worker's limits;
//! 2. the worker locks itself down, then answers [`WorkerMessage::Ready`] with its version, the
//!    sandbox it entered and the names of its analyzers;
//! 3. the host sends one [`HostMessage::Job`] at a time; the worker answers each with exactly one
//!    [`WorkerMessage::Report`] or [`WorkerMessage::Failed`] carrying the same job id.
//!
//! Anything else (a version mismatch, an unexpected message, a job id that is not the one in
//! flight, a frame that does not decode, a report that fails [`Report::validate`]) is a protocol
//! violation, and the host kills the worker.
//!
//! ```
//! use tracehound_codec::ipc::{self, FrameReader, HostMessage, Job, Encoding};
//! use tracehound_codec::Digest;
//!
//! let evidence = br#"{"q":"' OR 1=1 --"}"#;
//! let job = HostMessage::Job(Job {
//!     id: 7,
//!     evidence_hash: Digest::of(evidence).into(),
//!     encoding: Encoding::Plain,
//!     bytes: evidence,
//! });
//! let mut wire = Vec::new();
//! ipc::write_frame(&mut wire, &job, ipc::DEFAULT_MAX_FRAME)?;
//!
//! let mut reader = FrameReader::new(ipc::DEFAULT_MAX_FRAME);
//! reader.extend_from_slice(&wire);
//! let frame = reader.next_frame()?.expect("one whole frame");
//! let HostMessage::Job(decoded) = ipc::decode::<HostMessage<'_>>(frame)? else { unreachable!() };
//! assert_eq!(decoded.id, 7);
//! assert_eq!(decoded.bytes, evidence);
//! # Ok::<(), tracehound_codec::ipc::FrameError>(())
//! ```

use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Version of this protocol; both sides must speak the same one.
pub const PROTOCOL_VERSION: u16 = 1;

/// Length of the frame header (the big-endian `u32` length).
pub const FRAME_HEADER_LEN: usize = 4;

/// Default cap on one frame's payload: 1 MiB of evidence plus room for the job's fields.
pub const DEFAULT_MAX_FRAME: u32 = (1 << 20) + 4096;

/// Cap on a worker's messages to the host: reports are derived facts, never evidence, so they
/// are small.
pub const MAX_WORKER_FRAME: u32 = 64 * 1024;

/// Most findings (one per analyzer) a report may carry.
pub const MAX_FINDINGS: usize = 32;

/// Most facts one finding may carry.
pub const MAX_FACTS: usize = 128;

/// Most facts one report may carry, over all its findings.
pub const MAX_REPORT_FACTS: usize = 256;

/// Longest analyzer name, fact name or label, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Why a frame or message could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix claims more than the cap; nothing past the prefix was read.
    TooLarge {
        /// Claimed payload length.
        claimed: u64,
        /// The cap in force.
        max: u32,
    },
    /// The stream ended inside a frame.
    Truncated,
    /// The payload is not one well-formed message of the expected type.
    Malformed(postcard::Error),
    /// A message does not keep the protocol's rules (names, counts); the text says which.
    Invalid(&'static str),
    /// Reading or writing the stream failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { claimed, max } => {
                write!(f, "frame of {claimed} bytes exceeds the cap of {max} bytes")
            }
            FrameError::Truncated => f.write_str("stream ended inside a frame"),
            FrameError::Malformed(e) => write!(f, "malformed message: {e}"),
            FrameError::Invalid(rule) => write!(f, "invalid message: {rule}"),
            FrameError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Malformed(e) => Some(e),
            FrameError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// A message from the host to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostMessage<'a> {
    /// First message: who the host is and how the worker must limit itself.
    Hello(Hello),
    /// One piece of evidence to analyse.
    #[serde(borrow)]
    Job(Job<'a>),
}

/// The host's opening message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The host's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Limits the worker applies to itself before its first job.
    pub limits: WorkerLimits,
}

/// Resource limits a worker sets on itself (rlimits) and on its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerLimits {
    /// Address-space limit (`RLIMIT_AS`), bytes.
    pub address_space: u64,
    /// CPU time limit (`RLIMIT_CPU`) over the worker's life, seconds.
    pub cpu_seconds: u64,
    /// Most bytes one job may decompress to.
    pub max_decoded: u64,
    /// Cap on frames the worker reads.
    pub max_frame: u32,
}

/// One piece of evidence to analyse.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job<'a> {
    /// Job id; the answer must carry it.
    pub id: u64,
    /// SHA-256 recorded for the evidence bytes, checked by the worker before analysis.
    pub evidence_hash: [u8; 32],
    /// How `bytes` are encoded.
    pub encoding: Encoding,
    /// The evidence.
    #[serde(borrow, with = "serde_bytes")]
    pub bytes: &'a [u8],
}

impl fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Evidence bytes never reach a log: only their size.
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("encoding", &self.encoding)
            .field("size", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// How a job's evidence bytes are encoded. A new encoding is a new protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// The canonical payload itself; `evidence_hash` is its SHA-256.
    Plain,
    /// A gzip stream of the payload; `evidence_hash` is the SHA-256 of the stream.
    Gzip {
        /// Declared size of the payload; decoding stops past it.
        original_size: u64,
    },
}

/// A message from a worker to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerMessage {
    /// Answer to [`Hello`]: the worker is locked down and waits for jobs.
    Ready(Ready),
    /// A finished analysis.
    Report(Report),
    /// A job the worker could not analyse.
    Failed {
        /// The job's id.
        job: u64,
        /// Why.
        reason: JobFailure,
    },
}

/// The worker's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The worker's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// What the worker locked down before answering.
    pub sandbox: SandboxStatus,
    /// Names of its analyzers, in the order their findings appear.
    pub analyzers: Vec<String>,
}

/// What a worker's sandbox enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SandboxStatus {
    /// `PR_SET_NO_NEW_PRIVS` is set.
    pub no_new_privs: bool,
    /// The resource limits of [`WorkerLimits`] (and no files, no processes) are set.
    pub rlimits: bool,
    /// The seccomp allow-list is installed.
    pub seccomp: bool,
    /// Landlock denies every filesystem access the kernel can restrict.
    pub landlock: bool,
    /// The worker holds no capabilities: it did not run as root, or it dropped to `nobody`.
    pub unprivileged: bool,
}

impl SandboxStatus {
    /// Every layer is in force.
    pub fn is_complete(&self) -> bool {
        self.no_new_privs && self.rlimits && self.seccomp && self.landlock && self.unprivileged
    }
}

/// Why a worker could not analyse a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JobFailure {
    /// The evidence bytes do not hash to the recorded evidence hash.
    IntegrityMismatch,
    /// The gzip stream is corrupt.
    DecodeFailed,
    /// Decoding went past the declared original size or the worker's cap.
    DecodedTooLarge,
    /// An analyzer panicked; its index in [`Ready::analyzers`].
    AnalyzerPanicked(u16),
    /// The report would not fit in [`MAX_WORKER_FRAME`].
    ReportTooLarge,
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobFailure::IntegrityMismatch => f.write_str("evidence does not match its hash"),
            JobFailure::DecodeFailed => f.write_str("evidence does not decompress"),
            JobFailure::DecodedTooLarge => f.write_str("evidence decompresses past its limit"),
            JobFailure::AnalyzerPanicked(i) => write!(f, "analyzer {i} panicked"),
            JobFailure::ReportTooLarge => f.write_str("report exceeds the frame cap"),
        }
    }
}

/// The result of analysing one job: derived facts and digests, never payload text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The job's id.
    pub job: u64,
    /// Size of the analysed (decoded) payload, bytes.
    pub decoded_size: u64,
    /// SHA-256 of the analysed (decoded) payload.
    pub decoded_hash: [u8; 32],
    /// One finding per analyzer, in [`Ready::analyzers`] order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Checks the rules a host enforces on every report: at most [`MAX_FINDINGS`] findings of
    /// at most [`MAX_FACTS`] facts, [`MAX_REPORT_FACTS`] in all, names and labels of 1 to [`MAX_NAME_LEN`] bytes of
    /// `a-z 0-9 _ . -`. A label is a word chosen by analyzer code, so the charset leaves no room
    /// for smuggling payload text into the host's events.
    pub fn validate(&self) -> Result<(), FrameError> {
        if self.findings.len() > MAX_FINDINGS {
            return Err(FrameError::Invalid("too many findings"));
        }
        if self.findings.iter().map(|f| f.facts.len()).sum::<usize>() > MAX_REPORT_FACTS {
            return Err(FrameError::Invalid("too many facts in the report"));
        }
        for finding in &self.findings {
            check_name(&finding.analyzer)?;
            if finding.facts.len() > MAX_FACTS {
                return Err(FrameError::Invalid("too many facts"));
            }
            for fact in &finding.facts {
                check_name(&fact.name)?;
                if let FactValue::Label(label) = &fact.value {
                    check_name(label)?;
                }
            }
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), FrameError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(FrameError::Invalid(
            "names and labels are 1-64 bytes of a-z 0-9 _ . -",
        ))
    }
}

/// What one analyzer found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The analyzer's name.
    pub analyzer: String,
    /// Its facts, in the order it recorded them.
    pub facts: Vec<Fact>,
}

/// One named fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Name, such as `json.depth` or `indicator.url`.
    pub name: String,
    /// Value.
    pub value: FactValue,
}

/// The value of a fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FactValue {
    /// A count, size or scaled measure.
    Count(u64),
    /// Yes or no.
    Flag(bool),
    /// A SHA-256 of derived bytes.
    Digest([u8; 32]),
    /// A word from the analyzer's own vocabulary (such as `object`).
    Label(String),
}

/// Encodes `message` as one frame appended to `out`.
///
/// Fails with [`FrameError::TooLarge`] (leaving `out` as it was) when the payload would exceed
/// `max_frame`.
pub fn encode_frame<M: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    message: &M,
    max_frame: u32,
) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    let encoded = postcard::to_io(message, &mut *out).map(|_| ());
    let len = out.len() - start - FRAME_HEADER_LEN;
    match encoded {
        Ok(_) if len <= max_frame as usize => {
            let len = (len as u32).to_be_bytes();
            out[start..start + FRAME_HEADER_LEN].copy_from_slice(&len);
            Ok(())
        }
        Ok(_) => {
            out.truncate(start);
            Err(FrameError::TooLarge {
                claimed: len as u64,
                max: max_frame,
            })
        }
        Err(e) => {
            out.truncate(start);
            Err(FrameError::Malformed(e))
        }
    }
}

/// Encodes `message` as one frame and writes it to `writer`, then flushes.
pub fn write_frame<W: Write, M: Serialize + ?Sized>(
    writer: &mut W,
    message: &M,
    max_frame: u32,
) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    encode_frame(&mut buf, message, max_frame)?;
    writer.write_all(&buf)?;
    writer.flush()?;
    Ok(())
}

/// Decodes one message from a frame's payload; trailing bytes are malformed.
pub fn decode<'a, M: Deserialize<'a>>(payload: &'a [u8]) -> Result<M, FrameError> {
    let (message, rest) = postcard::take_from_bytes(payload).map_err(FrameError::Malformed)?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(FrameError::Invalid("trailing bytes after the message"))
    }
}

/// Reads one whole frame from a blocking reader into `buf` (replacing its contents).
///
/// Returns `Ok(false)` at a clean end of stream (before any byte of a frame),
/// [`FrameError::Truncated`] at an end inside one. The payload is read in steps of at most
/// 64 KiB, so a peer that claims a large frame and sends little costs little memory.
pub fn read_frame<R: Read>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max_frame: u32,
) -> Result<bool, FrameError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let mut got = 0;
    while got < FRAME_HEADER_LEN {
        match reader.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = check_len(header, max_frame)?;
    buf.clear();
    let mut remaining = len;
    while remaining > 0 {
        let step = remaining.min(64 * 1024);
        let start = buf.len();
        buf.resize(start + step, 0);
        match reader.read(&mut buf[start..]) {
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => {
                buf.truncate(start + n);
                remaining -= n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn check_len(header: [u8; FRAME_HEADER_LEN], max_frame: u32) -> Result<usize, FrameError> {
    let claimed = u32::from_be_bytes(header);
    if claimed > max_frame {
        Err(FrameError::TooLarge {
            claimed: u64::from(claimed),
            max: max_frame,
        })
    } else {
        Ok(claimed as usize)
    }
}

/// Incremental frame parser for non-blocking streams: feed it bytes as they arrive, take
/// whole frames out.
///
/// It never holds more than one frame's header and payload plus what was fed past it, and it
/// rejects an oversized length as soon as the four length bytes are in. After an error it
/// stays failed: the stream cannot be resynchronised, so the peer must be dropped.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    max_frame: u32,
    failed: bool,
}

impl FrameReader {
    /// A reader that refuses frames longer than `max_frame`.
    pub fn new(max_frame: u32) -> Self {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            max_frame,
            failed: false,
        }
    }

    /// Appends received bytes.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Reads once from `reader` (at most 8 KiB) into the buffer; returns what `read` returned.
    pub fn read_from<R: Read>(&mut self, reader: &mut R) -> io::Result<usize> {
        self.compact();
        let start = self.buf.len();
        // The space is zeroed before every read, so it is kept to what one answer usually
        // needs: a host reads a report per job.
        self.buf.resize(start + 8 * 1024, 0);
        let result = reader.read(&mut self.buf[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(start + n);
        result
    }

    /// Bytes received and not yet taken as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame's payload, `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if self.failed {
            return Err(FrameError::Invalid("stream already failed"));
        }
        let pending = &self.buf[self.start..];
        let Some(header) = pending.first_chunk::<FRAME_HEADER_LEN>() else {
            return Ok(None);
        };
        let len = match check_len(*header, self.max_frame) {
            Ok(len) => len,
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        if pending.len() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        let begin = self.start + FRAME_HEADER_LEN;
        self.start = begin + len;
        Ok(Some(&self.buf[begin..begin + len]))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(bytes: &[u8]) -> HostMessage<'_> {
        HostMessage::Job(Job {
            id: 1,
            evidence_hash: [7; 32],
            encoding: Encoding::Plain,
            bytes,
        })
    }

    #[test]
    fn frames_round_trip_through_both_readers() -> Result<(), FrameError> {
        let mut wire = Vec::new();
        encode_frame(&mut wire, &job(b"abc"), DEFAULT_MAX_FRAME)?;
        encode_frame(&mut wire, &job(b""), DEFAULT_MAX_FRAME)?;

        let mut buf = Vec::new();
        let mut cursor = &wire[..];
        assert!(read_frame(&mut cursor, &mut buf, DEFAULT_MAX_FRAME)?);
        assert_eq!(decode::<HostMessage<'_>>(&buf)?, job(b"abc"));
        assert!(read_frame(&mut cursor, &mut buf, DEFAULT_MAX_FRAME)?);
        assert_eq!(decode::<HostMessage<'_>>(&buf)?, job(b""));
        assert!(!read_frame(&mut cursor, &mut buf, DEFAULT_MAX_FRAME)?);

        // One byte at a time through the incremental reader.
        let mut reader = FrameReader::new(DEFAULT_MAX_FRAME);
        let mut seen = 0;
        for byte in &wire {
            reader.extend_from_slice(&[*byte]);
            while let Some(frame) = reader.next_frame()? {
                decode::<HostMessage<'_>>(frame)?;
                seen += 1;
            }
        }
        assert_eq!((seen, reader.buffered()), (2, 0));
        Ok(())
    }

    #[test]
    fn layout_is_a_big_endian_length_then_postcard() -> Result<(), FrameError> {
        let mut wire = Vec::new();
        let hello = HostMessage::Hello(Hello {
            version: 1,
            limits: WorkerLimits {
                address_space: 1,
                cpu_seconds: 2,
                max_decoded: 3,
                max_frame: 4,
            },
        });
        encode_frame(&mut wire, &hello, 64)?;
        // variant 0, version 1, then four varints.
        assert_eq!(wire, [0, 0, 0, 6, 0, 1, 1, 2, 3, 4]);
        Ok(())
    }

    #[test]
    fn oversized_claims_fail_after_the_header() {
        let mut reader = FrameReader::new(1024);
        reader.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, b'x']);
        assert!(matches!(
            reader.next_frame(),
            Err(FrameError::TooLarge {
                claimed: 4_294_967_295,
                max: 1024
            })
        ));
        // The stream stays failed: it cannot be resynchronised.
        assert!(reader.next_frame().is_err());

        let mut cursor = &[0xFFu8, 0xFF, 0xFF, 0xFF][..];
        let err = read_frame(&mut cursor, &mut Vec::new(), 1024);
        assert!(matches!(err, Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn short_streams_are_truncated_and_encode_respects_the_cap() {
        let mut cursor = &[0u8, 0, 0, 9, 1, 2][..];
        assert!(matches!(
            read_frame(&mut cursor, &mut Vec::new(), 1024),
            Err(FrameError::Truncated)
        ));
        let mut cursor = &[0u8, 0][..];
        assert!(matches!(
            read_frame(&mut cursor, &mut Vec::new(), 1024),
            Err(FrameError::Truncated)
        ));
        let mut out = vec![9];
        let big = vec![0u8; 100];
        assert!(matches!(
            encode_frame(&mut out, &job(&big), 64),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(out, [9]);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_malformed() {
        assert!(matches!(
            decode::<WorkerMessage>(&[9, 9, 9]),
            Err(FrameError::Malformed(_))
        ));
        let mut wire = Vec::new();
        encode_frame(&mut wire, &job(b"x"), 1024).ok();
        wire.push(0);
        assert!(matches!(
            decode::<HostMessage<'_>>(&wire[4..]),
            Err(FrameError::Invalid(_))
        ));
    }

    #[test]
    fn reports_with_free_text_are_refused() {
        let mut report = Report {
            job: 1,
            decoded_size: 0,
            decoded_hash: [0; 32],
            findings: vec![Finding {
                analyzer: "summary".into(),
                facts: vec![Fact {
                    name: "json.kind".into(),
                    value: FactValue::Label("object".into()),
                }],
            }],
        };
        assert!(report.validate().is_ok());
        report.findings[0].facts[0].value = FactValue::Label("DROP TABLE users".into());
        assert!(report.validate().is_err());
        report.findings[0].facts[0].value = FactValue::Count(1);
        report.findings[0].analyzer = String::new();
        assert!(report.validate().is_err());
    }
}
