//! Test helpers shared by tracehound's adapter and scenario tests (not published).
//!
//! [`RawClient`] speaks HTTP/1.1 over a plain TCP socket, byte for byte as the test writes
//! it, so tests can send what a well-behaved client library never would: repeated and
//! oddly cased headers, a head without its body, a body trickled one byte at a time,
//! `Expect: 100-continue`.
#![forbid(unsafe_code)]

pub mod hostile;
pub mod servers;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a read waits before the test gives up on the server.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The head of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The headers, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 client over a raw socket.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    /// Bytes read past the last head or body returned.
    buffered: Vec<u8>,
}

impl RawClient {
    /// Connects to `addr`; reads wait at most [`READ_TIMEOUT`].
    pub fn connect(addr: SocketAddr) -> io::Result<RawClient> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            buffered: Vec::new(),
        })
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads one response head (an interim `100 Continue` is a head of its own).
    pub fn read_head(&mut self) -> io::Result<ResponseHead> {
        let end = loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                break end;
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before a response head",
                ));
            }
        };
        let head: Vec<u8> = self.buffered.drain(..end + 4).collect();
        let text = String::from_utf8_lossy(&head[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(format!("not a status line: {text:?}")))?;
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(ResponseHead { status, headers })
    }

    /// Reads the body that follows `head`, by its `content-length` (0 without one).
    pub fn read_body(&mut self, head: &ResponseHead) -> io::Result<Vec<u8>> {
        let len: usize = match head.header("content-length") {
            Some(len) => len
                .parse()
                .map_err(|_| invalid(format!("content-length {len:?}")))?,
            None => 0,
        };
        while self.buffered.len() < len {
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection inside a response body",
                ));
            }
        }
        Ok(self.buffered.drain(..len).collect())
    }

    /// Reads a final response: its head (skipping, and returning, any `100 Continue`
    /// before it) and its body.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let mut interim = Vec::new();
        loop {
            let head = self.read_head()?;
            if head.status == 100 {
                interim.push(head);
                continue;
            }
            let body = self.read_body(&head)?;
            return Ok(Response {
                interim,
                head,
                body,
            });
        }
    }

    /// Whether the server closes the connection (end of stream, or a reset) within
    /// `within`, having sent nothing more.
    pub fn closed_within(&mut self, within: Duration) -> io::Result<bool> {
        if !self.buffered.is_empty() {
            return Ok(false);
        }
        self.stream.set_read_timeout(Some(within))?;
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => return Err(e),
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(closed)
    }

    /// Whether nothing at all arrives within `within` (the server is waiting).
    pub fn silent_for(&mut self, within: Duration) -> io::Result<bool> {
        if !self.buffered.is_empty() {
            return Ok(false);
        }
        let started = Instant::now();
        self.stream.set_read_timeout(Some(within))?;
        let mut byte = [0u8; 1];
        let silent = match self.stream.read(&mut byte) {
            Ok(0) => false,
            Ok(_) => {
                self.buffered.push(byte[0]);
                false
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                started.elapsed() >= within
            }
            Err(e) => return Err(e),
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(silent)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buffered.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

/// A final response and any interim ones before it.
#[derive(Debug, Clone)]
pub struct Response {
    /// `100 Continue` heads that came first.
    pub interim: Vec<ResponseHead>,
    /// The final head.
    pub head: ResponseHead,
    /// The body.
    pub body: Vec<u8>,
}

/// The bytes of a request: the request line, each header as given (names in the case
/// given, repeats kept), and `body`. `Host` and `Content-Length` are not added.
pub fn request_bytes(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A path under the system's temporary directory, unique to this process, moment and call,
/// whose name starts with `tracehound-<name>-`. Nothing is created there.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "tracehound-{name}-{}-{nanos}-{n}",
        std::process::id()
    ))
}

/// A fresh directory under the system's temporary directory, removed with everything in it
/// when dropped. `.0` is its path.
#[derive(Debug)]
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A new, empty directory at a [`temp_path`].
    pub fn new(name: &str) -> io::Result<TempDir> {
        let dir = temp_path(name);
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file below `dir` (not following symbolic links), sorted by path.
pub fn files_below(dir: &std::path::Path) -> io::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                todo.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Bytes from lowercase or uppercase hex; `None` if `text` is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A small deterministic generator (SplitMix64), so a failing run can be repeated from its
/// printed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}
