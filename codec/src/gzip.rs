//! gzip (RFC 1952) with deterministic output and bounded decoding.
//!
//! [`encode`] writes one gzip member with the header `1f8b 08 00 00000000 XFL 03`: no file
//! name, modification time 0 and operating system 3 (Unix), the header Node's `zlib.gzipSync`
//! writes. XFL is 0 at levels 2 to 8, 2 at level 9 and 4 at levels 0 and 1, as zlib sets it.
//! The deflate stream comes from `flate2`'s zlib-rs backend, fed in fixed blocks so that the same
//! bytes at the same level always give the same output, however a streaming writer was handed
//! them (zlib-rs, unlike C zlib, makes different choices when its input or output arrives in
//! different pieces).
//!
//! Byte parity with Node holds for small inputs such as the envelope test vector (`hello`) but
//! not in general: zlib-rs derives from zlib-ng and finds different matches than C zlib from
//! about 2 KB of input on. Both are valid gzip, and every reader here reads either.
//!
//! [`decode`] is bounded: it takes the declared size of the payload and a cap, refuses a
//! declared size over the cap before doing any work, stops the moment the stream would produce
//! a byte past the declared size, and accepts the result only when the stream is exactly one
//! well-formed member (header, deflate data, CRC-32 and length trailer) with nothing after it and
//! exactly the declared number of bytes.
//!
//! ```
//! use tracehound_codec::gzip::{self, Level};
//!
//! let packed = gzip::encode(b"hello", Level::DEFAULT)?;
//! assert_eq!(packed[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
//! assert_eq!(gzip::decode(&packed, 5, 1 << 20)?, b"hello");
//!
//! // A stream that decodes to more than it declared stops one byte past the declaration.
//! assert!(gzip::decode(&packed, 4, 1 << 20).is_err());
//! # Ok::<(), tracehound_codec::CodecError>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use crate::CodecError;

/// A deflate compression level, 0 (stored, no compression) to 9 (smallest output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    /// Level 0: deflate's stored blocks, no compression.
    pub const NONE: Level = Level(0);
    /// Level 1: fastest.
    pub const FAST: Level = Level(1);
    /// Level 6: zlib's and the TypeScript library's default, and ours.
    pub const DEFAULT: Level = Level(6);
    /// Level 9: smallest output.
    pub const BEST: Level = Level(9);

    /// The level `level`, or `None` if it is above 9.
    pub const fn new(level: u8) -> Option<Level> {
        if level <= 9 { Some(Level(level)) } else { None }
    }

    /// The level as a number from 0 to 9.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The gzip header's XFL byte for this level, as zlib writes it.
    const fn extra_flags(self) -> u8 {
        match self.0 {
            9 => 2,
            0 | 1 => 4,
            _ => 0,
        }
    }
}

impl Default for Level {
    fn default() -> Self {
        Level::DEFAULT
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Length of the gzip header [`encode`] writes.
const HEADER_LEN: usize = 10;

/// Operating system byte of the header: 3 is Unix, what Node writes.
const OS_UNIX: u8 = 3;

/// Input is handed to the compressor in blocks of exactly this size (the last one shorter), and
/// output is taken in pieces of `OUTPUT_CHUNK`, so the compressed bytes do not depend on how a
/// caller split its writes.
const INPUT_BLOCK: usize = 64 * 1024;
const OUTPUT_CHUNK: usize = 32 * 1024;

/// Compresses `data` into one gzip member at `level`.
///
/// # Errors
///
/// [`CodecError::Io`] only if the compressor reports an internal error; writing to memory does
/// not fail otherwise.
pub fn encode(data: &[u8], level: Level) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64 + data.len() / 4);
    let mut deflater = Deflater::new(level);
    deflater.begin(&mut out)?;
    deflater.encode_all(data, &mut out)?;
    Ok(out)
}

/// Decompresses one gzip member that must decode to exactly `original_size` bytes.
///
/// Memory and work are bounded by `min(original_size, max_size)`: a declared size above
/// `max_size` is refused before anything is decompressed, and decompression stops as soon as
/// the stream would produce a byte past `original_size` (at most one byte past it is ever
/// decoded, into a scratch byte). The output buffer grows with the output, so a small stream
/// that declares a large size does not allocate the declared size up front.
///
/// # Errors
///
/// - [`CodecError::TooLarge`]: `original_size` is over `max_size` (limit `max_size`), or the
///   stream decodes past `original_size` (limit `original_size`);
/// - [`CodecError::SizeMismatch`]: the stream ends before `original_size` bytes;
/// - [`CodecError::Corrupt`]: the header, deflate data, CRC-32 or length trailer is wrong, or the
///   stream ends inside the member;
/// - [`CodecError::TrailingData`]: bytes follow the member.
pub fn decode(gzip: &[u8], original_size: u64, max_size: u64) -> Result<Vec<u8>, CodecError> {
    if original_size > max_size {
        return Err(CodecError::TooLarge { limit: max_size });
    }
    BoundedDecoder::new(gzip, original_size).read_to_vec()
}

/// The size an encoder may need, at most, for `original_size` bytes: the deflate data plus its
/// block headers (stored blocks cost 5 bytes per 64 KiB; a fixed-Huffman block of 9-bit
/// literals 1/8), the gzip header and trailer, and room for optional header fields.
///
/// Envelopes refuse a compressed section longer than this, which bounds what a streaming reader
/// buffers by what it may decode.
pub(crate) fn max_compressed_len(original_size: u64) -> u64 {
    original_size
        .saturating_add(original_size / 8)
        .saturating_add(1024)
}

/// Deterministic gzip writer over `flate2::Compress`: the header, then blocks of exactly
/// `INPUT_BLOCK` bytes with no flush, then the rest with `Finish`, then CRC-32 and length.
pub(crate) struct Deflater {
    compress: Compress,
    level: Level,
    crc: Crc,
    scratch: Vec<u8>,
    /// A partial input block (streaming only), compressed when it holds `INPUT_BLOCK` bytes.
    pending: Vec<u8>,
}

impl Deflater {
    pub(crate) fn new(level: Level) -> Self {
        Deflater {
            compress: Compress::new(Compression::new(u32::from(level.get())), false),
            level,
            crc: Crc::new(),
            scratch: vec![0; OUTPUT_CHUNK],
            pending: Vec::new(),
        }
    }

    /// Writes the gzip header.
    pub(crate) fn begin<W: Write>(&mut self, out: &mut W) -> Result<(), CodecError> {
        let header = [
            0x1f,
            0x8b,
            8, // deflate
            0, // no flags: no name, comment, extra field or header CRC
            0,
            0,
            0,
            0, // modification time 0
            self.level.extra_flags(),
            OS_UNIX,
        ];
        out.write_all(&header).map_err(CodecError::Io)
    }

    /// Compresses all of `data` and finishes the member (for one-shot encoding).
    pub(crate) fn encode_all<W: Write>(
        &mut self,
        data: &[u8],
        out: &mut W,
    ) -> Result<(), CodecError> {
        self.crc.update(data);
        let mut blocks = data.chunks_exact(INPUT_BLOCK);
        for block in blocks.by_ref() {
            self.deflate(block, FlushCompress::None, out)?;
        }
        self.deflate(blocks.remainder(), FlushCompress::Finish, out)?;
        self.trailer(out)
    }

    /// Accepts `data` (for streaming), compressing every block that fills up.
    pub(crate) fn write<W: Write>(
        &mut self,
        mut data: &[u8],
        out: &mut W,
    ) -> Result<(), CodecError> {
        self.crc.update(data);
        while !data.is_empty() {
            if self.pending.is_empty() && data.len() >= INPUT_BLOCK {
                let (block, rest) = data.split_at(INPUT_BLOCK);
                self.deflate(block, FlushCompress::None, out)?;
                data = rest;
                continue;
            }
            let take = (INPUT_BLOCK - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
            if self.pending.len() == INPUT_BLOCK {
                // Taken out for the call, then put back to reuse its allocation.
                let block = std::mem::take(&mut self.pending);
                let result = self.deflate(&block, FlushCompress::None, out);
                self.pending = block;
                self.pending.clear();
                result?;
            }
        }
        Ok(())
    }

    /// Compresses what is pending and writes the trailer (for streaming).
    pub(crate) fn finish<W: Write>(&mut self, out: &mut W) -> Result<(), CodecError> {
        let block = std::mem::take(&mut self.pending);
        self.deflate(&block, FlushCompress::Finish, out)?;
        self.trailer(out)
    }

    fn trailer<W: Write>(&mut self, out: &mut W) -> Result<(), CodecError> {
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        out.write_all(&trailer).map_err(CodecError::Io)
    }

    fn deflate<W: Write>(
        &mut self,
        mut input: &[u8],
        flush: FlushCompress,
        out: &mut W,
    ) -> Result<(), CodecError> {
        let finishing = matches!(flush, FlushCompress::Finish);
        loop {
            let (in_before, out_before) = (self.compress.total_in(), self.compress.total_out());
            let status = self
                .compress
                .compress(input, &mut self.scratch, flush)
                .map_err(|e| CodecError::Io(io::Error::other(e)))?;
            let consumed = progress(in_before, self.compress.total_in());
            let produced = progress(out_before, self.compress.total_out());
            input = input.get(consumed..).unwrap_or_default();
            let written = self.scratch.get(..produced).unwrap_or_default();
            out.write_all(written).map_err(CodecError::Io)?;
            if finishing {
                if status == Status::StreamEnd {
                    return Ok(());
                }
                if consumed == 0 && produced == 0 {
                    return Err(CodecError::Io(io::Error::other(
                        "the compressor stopped making progress",
                    )));
                }
            } else if input.is_empty() && produced < self.scratch.len() {
                // All input taken and the output was not cut short: nothing is held back.
                return Ok(());
            }
        }
    }
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("level", &self.level)
            .field("total_in", &self.compress.total_in())
            .field("total_out", &self.compress.total_out())
            .finish_non_exhaustive()
    }
}

/// Bytes moved by one compressor call; the counters only grow, by at most one buffer.
fn progress(before: u64, after: u64) -> usize {
    usize::try_from(after.saturating_sub(before)).unwrap_or(usize::MAX)
}

/// A gzip reader that produces exactly `declared` bytes or fails.
pub(crate) struct BoundedDecoder<B: BufRead> {
    decoder: flate2::bufread::GzDecoder<B>,
    declared: u64,
    produced: u64,
    state: DecodeState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    Reading,
    Done,
    /// An error was returned; every later read fails too, so that a caller who retries never
    /// mistakes a later `Ok(0)` for a complete payload.
    Failed,
}

impl<B: BufRead> BoundedDecoder<B> {
    pub(crate) fn new(gzip: B, declared: u64) -> Self {
        BoundedDecoder {
            decoder: flate2::bufread::GzDecoder::new(gzip),
            declared,
            produced: 0,
            state: DecodeState::Reading,
        }
    }

    /// Reads decoded bytes into `buf`. `Ok(0)` (for a non-empty `buf`) means the whole member
    /// checked out: exactly `declared` bytes, a correct trailer and nothing after it. The call
    /// that delivers the last byte already checks all of that.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<usize, CodecError> {
        match self.state {
            DecodeState::Done => return Ok(0),
            DecodeState::Failed => {
                return Err(CodecError::Corrupt(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "decoding failed earlier",
                )));
            }
            DecodeState::Reading => {}
        }
        let result = self.step(buf);
        if result.is_err() {
            self.state = DecodeState::Failed;
        }
        result
    }

    fn step(&mut self, buf: &mut [u8]) -> Result<usize, CodecError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.declared - self.produced;
        if room == 0 {
            self.finish()?;
            return Ok(0);
        }
        let want = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let n = self
            .decoder
            .read(&mut buf[..want])
            .map_err(CodecError::Corrupt)?;
        if n == 0 {
            return Err(CodecError::SizeMismatch {
                declared: self.declared,
                decoded: self.produced,
            });
        }
        self.produced += n as u64;
        if self.produced == self.declared {
            self.finish()?;
        }
        Ok(n)
    }

    /// After `declared` bytes: the stream must end here, with a good trailer and no more bytes.
    fn finish(&mut self) -> Result<(), CodecError> {
        let mut probe = [0u8; 1];
        match self.decoder.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => {
                return Err(CodecError::TooLarge {
                    limit: self.declared,
                });
            }
            Err(e) => return Err(CodecError::Corrupt(e)),
        }
        let rest = self.decoder.get_mut().fill_buf().map_err(CodecError::Io)?;
        if !rest.is_empty() {
            return Err(CodecError::TrailingData);
        }
        self.state = DecodeState::Done;
        Ok(())
    }

    /// Decodes everything into a vector that grows with the output (never past `declared`).
    pub(crate) fn read_to_vec(mut self) -> Result<Vec<u8>, CodecError> {
        const FIRST_CHUNK: usize = 64 * 1024;
        let declared = usize::try_from(self.declared).map_err(|_| CodecError::TooLarge {
            limit: usize::MAX as u64,
        })?;
        let mut out = Vec::new();
        let mut filled = 0;
        while filled < declared {
            if filled == out.len() {
                let grow = (declared - filled).min(filled.max(FIRST_CHUNK));
                out.reserve_exact(grow);
                out.resize(filled + grow, 0);
            }
            filled += self.read(&mut out[filled..])?;
        }
        out.truncate(filled);
        // Checks the end of the stream when nothing was declared; otherwise already done.
        self.read(&mut [0u8; 1])?;
        Ok(out)
    }
}

impl<B: BufRead> fmt::Debug for BoundedDecoder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedDecoder")
            .field("declared", &self.declared)
            .field("produced", &self.produced)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_flate2_gz_builder_at_every_level() {
        for level in 0..=9u8 {
            let ours = encode(b"x", Level(level)).unwrap();
            let mut theirs = flate2::GzBuilder::new()
                .operating_system(OS_UNIX)
                .write(Vec::new(), Compression::new(u32::from(level)));
            theirs.write_all(b"x").unwrap();
            let theirs = theirs.finish().unwrap();
            assert_eq!(ours[..HEADER_LEN], theirs[..HEADER_LEN], "level {level}");
        }
    }

    #[test]
    fn small_inputs_are_identical_to_flate2_gz_encoder() {
        for data in [&b""[..], b"hello", &[7u8; 1000]] {
            let mut theirs = flate2::GzBuilder::new()
                .operating_system(OS_UNIX)
                .write(Vec::new(), Compression::new(6));
            theirs.write_all(data).unwrap();
            assert_eq!(
                encode(data, Level::DEFAULT).unwrap(),
                theirs.finish().unwrap()
            );
        }
    }

    #[test]
    fn streaming_writes_in_any_split_give_the_one_shot_bytes() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| {
                format!(
                    "{{\"i\":{i},\"v\":{}}},",
                    i.wrapping_mul(2_654_435_761) % 977
                )
                .into_bytes()
            })
            .take(3 * INPUT_BLOCK + 17)
            .collect();
        let one_shot = encode(&data, Level::DEFAULT).unwrap();
        for split in [
            1,
            7,
            4093,
            INPUT_BLOCK - 1,
            INPUT_BLOCK,
            INPUT_BLOCK + 1,
            data.len(),
        ] {
            let mut out = Vec::new();
            let mut deflater = Deflater::new(Level::DEFAULT);
            deflater.begin(&mut out).unwrap();
            for piece in data.chunks(split) {
                deflater.write(piece, &mut out).unwrap();
            }
            deflater.finish(&mut out).unwrap();
            assert_eq!(out, one_shot, "split {split}");
        }
    }

    #[test]
    fn levels_are_checked() {
        assert_eq!(Level::new(9), Some(Level::BEST));
        assert_eq!(Level::new(10), None);
        assert_eq!(Level::default().get(), 6);
    }

    #[test]
    fn a_failed_decoder_never_reports_a_clean_end() {
        let packed = encode(b"hello world", Level::DEFAULT).unwrap();
        let mut decoder = BoundedDecoder::new(&packed[..], 5);
        let mut buf = [0u8; 64];
        assert!(matches!(
            decoder.read(&mut buf),
            Err(CodecError::TooLarge { limit: 5 })
        ));
        assert!(decoder.read(&mut buf).is_err());
        assert!(decoder.read(&mut buf).is_err());
    }

    #[test]
    fn the_last_byte_is_only_delivered_with_a_good_trailer() {
        let mut packed = encode(b"hello", Level::DEFAULT).unwrap();
        let crc = packed.len() - 8;
        packed[crc] ^= 1;
        let mut decoder = BoundedDecoder::new(&packed[..], 5);
        let mut buf = [0u8; 5];
        assert!(matches!(
            decoder.read(&mut buf),
            Err(CodecError::Corrupt(_))
        ));
    }

    /// A `BufRead` over a slice that counts what the decoder consumed.
    struct Counting<'a> {
        rest: &'a [u8],
        consumed: usize,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.rest.read(buf)?;
            self.consumed += n;
            Ok(n)
        }
    }

    impl BufRead for Counting<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(self.rest)
        }

        fn consume(&mut self, amount: usize) {
            self.rest = &self.rest[amount..];
            self.consumed += amount;
        }
    }

    #[test]
    fn a_bomb_is_read_only_as_far_as_the_limit_needs() {
        let zeros = vec![0u8; 64 << 20];
        let bomb = encode(&zeros, Level::DEFAULT).unwrap();
        let limit = 1 << 20;
        let mut decoder = BoundedDecoder::new(
            Counting {
                rest: &bomb,
                consumed: 0,
            },
            limit,
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut produced = 0u64;
        let error = loop {
            match decoder.read(&mut buf) {
                Ok(n) => produced += n as u64,
                Err(e) => break e,
            }
        };
        assert!(matches!(error, CodecError::TooLarge { limit: 1_048_576 }));
        // The read that reached the limit failed, so its bytes were not handed out.
        assert!(produced < limit);
        assert_eq!(decoder.produced, limit);
        // 1 MiB of zeros needs about 1 KB of this stream; the bomb is about 64 KB.
        let consumed = decoder.decoder.get_ref().consumed;
        assert!(consumed < 4 * 1024, "consumed {consumed} of {}", bomb.len());
    }

    #[test]
    fn compressed_bound_holds_for_incompressible_data() {
        let mut x = 0x9e37_79b9_u32;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for level in [Level::NONE, Level::FAST, Level::DEFAULT, Level::BEST] {
            let packed = encode(&noise, level).unwrap();
            assert!(packed.len() as u64 <= max_compressed_len(noise.len() as u64));
        }
    }
}
