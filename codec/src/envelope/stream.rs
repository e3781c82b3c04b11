//! Streaming envelopes: a writer that never holds the payload and a reader that verifies
//! before it releases a byte.

use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use sha2::Digest as _;
use sha2::Sha256;

use super::header::{self, Header, PREFIX_LEN};
use super::{CodecError, Format, MAGIC, SealOptions, V1_HEADER_LEN};
use crate::gzip::{BoundedDecoder, Deflater, Level};

/// Seals a payload written in pieces, without holding it.
///
/// The header comes first in an envelope but holds the sizes and the hash, which are known only
/// at the end, so the output must be seekable: the writer reserves the header, streams the
/// compressed bytes after it while hashing them, and [`finish`](Self::finish) seeks back to
/// write the header. Any `Write + Seek` works: a file, or `Cursor<Vec<u8>>` for memory.
///
/// The envelope is byte-identical to [`seal_with`](super::seal_with) of the whole payload,
/// however the writes were split. `flush` does not force compressed output (that would make the
/// bytes depend on when it was called); the envelope is complete only after `finish`. A writer
/// dropped without `finish` leaves a zeroed header behind, which every reader refuses.
///
/// ```
/// use std::io::{Cursor, Write};
/// use tracehound_codec::envelope::{self, EnvelopeWriter};
///
/// let mut writer = EnvelopeWriter::new(Cursor::new(Vec::new()))?;
/// for i in 0..1000 {
///     write!(writer, "{{\"seq\":{i},\"path\":\"/search\"}}\n")?;
/// }
/// let sealed = writer.finish()?.into_inner();
/// let payload = envelope::open(&sealed, 1 << 20)?;
/// assert!(payload.starts_with(b"{\"seq\":0,"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EnvelopeWriter<W: Write + Seek> {
    sink: HashingSink<W>,
    deflater: Deflater,
    options: SealOptions,
    /// Position of the envelope's first byte in the output.
    start: u64,
    original_size: u64,
    failed: bool,
}

impl<W: Write + Seek> EnvelopeWriter<W> {
    /// A v2 writer at level 6 that writes at `output`'s current position.
    ///
    /// # Errors
    ///
    /// [`CodecError::Io`] if the output cannot report its position or take the placeholder
    /// header.
    pub fn new(output: W) -> Result<Self, CodecError> {
        Self::with_options(output, SealOptions::default())
    }

    /// A writer with the version and level of `options`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_options(mut output: W, options: SealOptions) -> Result<Self, CodecError> {
        let start = output.stream_position().map_err(CodecError::Io)?;
        output
            .write_all(&[0u8; V1_HEADER_LEN][..options.format.header_len()])
            .map_err(CodecError::Io)?;
        let mut sink = HashingSink {
            inner: output,
            hasher: Sha256::new(),
            written: 0,
        };
        let mut deflater = Deflater::new(options.level);
        deflater.begin(&mut sink)?;
        Ok(EnvelopeWriter {
            sink,
            deflater,
            options,
            start,
            original_size: 0,
            failed: false,
        })
    }

    /// Bytes of payload accepted so far.
    pub fn original_size(&self) -> u64 {
        self.original_size
    }

    /// Compresses what is left, writes the header and returns the output, positioned just after
    /// the envelope.
    ///
    /// # Errors
    ///
    /// [`CodecError::Io`] if writing or seeking fails or an earlier write failed;
    /// [`CodecError::TooLarge`] if a v1 compressed section reached 4 GiB.
    pub fn finish(mut self) -> Result<W, CodecError> {
        if self.failed {
            return Err(CodecError::Io(io::Error::other(
                "an earlier write to this envelope failed",
            )));
        }
        self.deflater.finish(&mut self.sink)?;
        let HashingSink {
            mut inner,
            hasher,
            written,
        } = self.sink;
        let header = header::encode(
            self.options.format,
            self.options.level,
            self.original_size,
            written,
            hasher,
        )?;
        let end = self
            .start
            .saturating_add(self.options.format.header_len() as u64)
            .saturating_add(written);
        inner
            .seek(SeekFrom::Start(self.start))
            .and_then(|_| inner.write_all(header.as_slice()))
            .and_then(|_| inner.seek(SeekFrom::Start(end)))
            .map_err(CodecError::Io)?;
        Ok(inner)
    }
}

impl<W: Write + Seek> Write for EnvelopeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write to this envelope failed"));
        }
        let total = self.original_size.saturating_add(buf.len() as u64);
        if self.options.format == Format::V1 && total > u64::from(u32::MAX) {
            return Err(CodecError::TooLarge {
                limit: u64::from(u32::MAX),
            }
            .into());
        }
        if let Err(e) = self.deflater.write(buf, &mut self.sink) {
            self.failed = true;
            return Err(e.into());
        }
        self.original_size = total;
        Ok(buf.len())
    }

    /// Does nothing: compressed output is only complete after [`finish`](Self::finish), and
    /// flushing the compressor early would change the bytes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Seek> fmt::Debug for EnvelopeWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeWriter")
            .field("options", &self.options)
            .field("original_size", &self.original_size)
            .field("compressed_size", &self.sink.written)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Passes compressed bytes to the output while hashing and counting them.
struct HashingSink<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let accepted = buf.get(..n).unwrap_or(buf);
        self.hasher.update(accepted);
        self.written = self.written.saturating_add(accepted.len() as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads an envelope from a stream and yields its payload through [`Read`].
///
/// [`new`](Self::new) reads the header, checks it, refuses a declared size over the cap, reads
/// the compressed section (and makes sure nothing follows it) and verifies the hash, all before
/// the first payload byte is available. Reads then decompress on demand, never past the declared
/// size; the read that delivers the last byte also checks the gzip trailer and that the stream
/// ends there, so `Ok(0)` means the whole payload checked out.
///
/// Memory: the compressed section, which the header check limits to `cap + cap / 8 + 1 KiB`,
/// plus the decompressor's state (a window of 32 KiB and tables). The payload itself is never
/// held; it goes to the caller's buffers.
///
/// Errors from `read` are [`io::Error`]s of kind `InvalidData` wrapping a [`CodecError`]; after
/// one, every later read fails too.
///
/// ```
/// use std::io::Read;
/// use tracehound_codec::envelope::{self, EnvelopeReader};
///
/// let sealed = envelope::seal(b"evidence bytes")?;
/// let mut reader = EnvelopeReader::new(&sealed[..], 1 << 20)?;
/// let mut payload = Vec::new();
/// reader.read_to_end(&mut payload)?;
/// assert_eq!(payload, b"evidence bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EnvelopeReader {
    header: Header,
    decoder: BoundedDecoder<Cursor<Vec<u8>>>,
}

impl EnvelopeReader {
    /// Reads a whole envelope from `source` (to its end) and verifies it; the payload, up to
    /// `max_size` bytes, is then read from the returned reader.
    ///
    /// # Errors
    ///
    /// The structure errors of [`Envelope::unpack`](super::Envelope::unpack) (a source that
    /// ends inside the compressed section or goes on after it gives
    /// [`CodecError::LengthMismatch`]), [`CodecError::TooLarge`] when the declared size is over
    /// `max_size`, [`CodecError::HashMismatch`], and [`CodecError::Io`] when reading fails.
    pub fn new<R: Read>(mut source: R, max_size: u64) -> Result<Self, CodecError> {
        let mut head = [0u8; V1_HEADER_LEN];
        fill(&mut source, &mut head[..MAGIC.len()], CodecError::Truncated)?;
        if head[..MAGIC.len()] != MAGIC {
            return Err(CodecError::BadMagic);
        }
        fill(
            &mut source,
            &mut head[MAGIC.len()..PREFIX_LEN],
            CodecError::Truncated,
        )?;
        let format = Header::format_of(&head)?;
        fill(
            &mut source,
            &mut head[PREFIX_LEN..format.header_len()],
            CodecError::Truncated,
        )?;
        let header = Header::parse(format, &head)?;
        if header.original_size > max_size {
            return Err(CodecError::TooLarge { limit: max_size });
        }
        let expected = header.envelope_len();
        let length_mismatch = || CodecError::LengthMismatch { expected };
        let compressed_len =
            usize::try_from(header.compressed_len).map_err(|_| length_mismatch())?;
        let compressed = read_section(&mut source, compressed_len, expected)?;
        if !at_end(&mut source)? {
            return Err(length_mismatch());
        }
        header.verify(&compressed)?;
        Ok(EnvelopeReader {
            decoder: BoundedDecoder::new(Cursor::new(compressed), header.original_size),
            header,
        })
    }

    /// The envelope's version.
    pub fn format(&self) -> Format {
        self.header.format
    }

    /// The declared (and, once reading ends with `Ok(0)`, checked) size of the payload.
    pub fn original_size(&self) -> u64 {
        self.header.original_size
    }

    /// The gzip level the writer recorded (v2 only).
    pub fn level(&self) -> Option<Level> {
        self.header.level
    }
}

impl Read for EnvelopeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf).map_err(io::Error::from)
    }
}

impl fmt::Debug for EnvelopeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeReader")
            .field("format", &self.header.format)
            .field("original_size", &self.header.original_size)
            .field("compressed_size", &self.header.compressed_len)
            .field("decoder", &self.decoder)
            .finish()
    }
}

/// Fills `buf` from `source`; an early end of the source is `on_eof`.
fn fill<R: Read>(source: &mut R, buf: &mut [u8], on_eof: CodecError) -> Result<(), CodecError> {
    match source.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(on_eof),
        Err(e) => Err(CodecError::Io(e)),
    }
}

/// Reads exactly `len` bytes, growing the buffer with what arrives rather than trusting `len`
/// up front.
fn read_section<R: Read>(source: &mut R, len: usize, expected: u64) -> Result<Vec<u8>, CodecError> {
    const FIRST_CHUNK: usize = 64 * 1024;
    let mut buf = Vec::new();
    while buf.len() < len {
        let start = buf.len();
        let grow = (len - start).min(start.max(FIRST_CHUNK));
        buf.reserve_exact(grow);
        buf.resize(start + grow, 0);
        fill(
            source,
            &mut buf[start..],
            CodecError::LengthMismatch { expected },
        )?;
    }
    Ok(buf)
}

/// Whether `source` has ended (reads at most one byte).
fn at_end<R: Read>(source: &mut R) -> Result<bool, CodecError> {
    let mut probe = [0u8; 1];
    loop {
        match source.read(&mut probe) {
            Ok(n) => return Ok(n == 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CodecError::Io(e)),
        }
    }
}
