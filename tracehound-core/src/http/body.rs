//! The start of a request body, as every adapter reads it for inspection.

use std::fmt;

/// The first bytes of a request body, read for [`HttpPolicy::inspect_body`]: at most a cap
/// ([`HttpPolicy::max_body_bytes`]), and whether the body went on past them.
///
/// An adapter pushes the body's chunks as they arrive until [`is_truncated`] or the body
/// ends. Bytes past the cap are not copied: [`push`] says how much of a chunk it took, and
/// the adapter hands the rest of that chunk on to the handler after the prefix, so memory
/// stays at the cap plus one chunk whatever the body's size. A body of exactly the cap is
/// not truncated: only a byte past it is, which is why the adapter reads one more chunk
/// once the cap is reached. A body that fails before its end is [`mark_truncated`].
///
/// ```
/// use tracehound::http::BodyPrefix;
///
/// let body: [&[u8]; 3] = [b"hello ", b"world", b"!"];
/// let mut prefix = BodyPrefix::new(8);
/// let mut handed_on_later = Vec::new();
/// for chunk in body {
///     if prefix.is_truncated() {
///         // The adapter stops reading here; the handler reads the rest itself.
///         break;
///     }
///     let taken = prefix.push(chunk);
///     handed_on_later.extend_from_slice(&chunk[taken..]);
/// }
/// assert_eq!(prefix.as_bytes(), b"hello wo");
/// assert!(prefix.is_truncated());
/// assert_eq!(handed_on_later, b"rld");
/// ```
///
/// [`HttpPolicy::inspect_body`]: super::HttpPolicy::inspect_body
/// [`HttpPolicy::max_body_bytes`]: super::HttpPolicy::max_body_bytes
/// [`is_truncated`]: BodyPrefix::is_truncated
/// [`push`]: BodyPrefix::push
/// [`mark_truncated`]: BodyPrefix::mark_truncated
#[derive(Clone, PartialEq, Eq)]
pub struct BodyPrefix {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl BodyPrefix {
    /// An empty prefix holding at most `cap` bytes. Allocates nothing until a byte arrives.
    pub fn new(cap: usize) -> BodyPrefix {
        BodyPrefix {
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    /// Adds the next chunk of the body, up to the cap, and returns how many of its bytes
    /// were taken. Fewer than `chunk.len()` means the body goes on past the cap: the prefix
    /// is then truncated, and the untaken bytes are the caller's to hand on.
    pub fn push(&mut self, chunk: &[u8]) -> usize {
        let taken = chunk.len().min(self.cap - self.bytes.len());
        if taken < chunk.len() {
            self.truncated = true;
        }
        let needed = self.bytes.len() + taken;
        if needed > self.bytes.capacity() {
            // Doubling keeps many small chunks cheap; the cap bounds what one body can make
            // the adapter hold, whatever its chunks.
            let target = needed
                .max(self.bytes.capacity().saturating_mul(2))
                .min(self.cap);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(&chunk[..taken]);
        taken
    }

    /// Marks the prefix as truncated although the cap was not reached: the body failed
    /// before its end, so nobody knows what followed the bytes read.
    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// Whether the body goes on past [`as_bytes`](Self::as_bytes) (or failed before its
    /// end). Once it is, reading more would not change what is inspected.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The bytes to inspect: the body, or its first [`cap`](Self::cap) bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many bytes are held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The most bytes the prefix holds.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The bytes held, for handing on to the handler ahead of the rest of the body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for BodyPrefix {
    /// Shows sizes, never body bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyPrefix")
            .field("len", &self.bytes.len())
            .field("cap", &self.cap)
            .field("truncated", &self.truncated)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Head;

    /// Pushes `chunks` as an adapter does (until truncated), and returns the prefix and the
    /// bytes it left to be handed on.
    fn read(cap: usize, chunks: &[&[u8]]) -> (BodyPrefix, Vec<u8>) {
        let mut prefix = BodyPrefix::new(cap);
        let mut rest = Vec::new();
        for chunk in chunks {
            if prefix.is_truncated() {
                break;
            }
            let taken = prefix.push(chunk);
            rest.extend_from_slice(&chunk[taken..]);
        }
        (prefix, rest)
    }

    #[test]
    fn a_body_of_exactly_the_cap_is_whole() {
        let (prefix, rest) = read(6, &[b"abc", b"def"]);
        assert_eq!(prefix.as_bytes(), b"abcdef");
        assert!(!prefix.is_truncated());
        assert!(rest.is_empty());
        // An empty chunk at the cap (or the body's end) changes nothing.
        let (prefix, _) = read(6, &[b"abcdef", b""]);
        assert!(!prefix.is_truncated());
    }

    #[test]
    fn one_byte_over_the_cap_is_truncated_and_left_to_hand_on() {
        let (prefix, rest) = read(6, &[b"abc", b"defg"]);
        assert_eq!(prefix.as_bytes(), b"abcdef");
        assert!(prefix.is_truncated());
        assert_eq!(rest, b"g");
        // The same when the cap was reached by the chunk before.
        let (prefix, rest) = read(6, &[b"abcdef", b"g"]);
        assert_eq!(
            (prefix.as_bytes(), prefix.is_truncated()),
            (&b"abcdef"[..], true)
        );
        assert_eq!(rest, b"g");
    }

    #[test]
    fn an_empty_body_is_empty_and_whole() {
        let (prefix, rest) = read(6, &[]);
        assert!(prefix.is_empty() && !prefix.is_truncated() && rest.is_empty());
        assert_eq!(prefix.len(), 0);
        assert_eq!(prefix.bytes.capacity(), 0, "nothing allocated");
        let (zero_cap, rest) = read(0, &[b"x"]);
        assert!(zero_cap.is_empty() && zero_cap.is_truncated());
        assert_eq!(rest, b"x");
    }

    #[test]
    fn many_tiny_chunks_fill_the_cap_in_order_and_no_more() {
        let body: Vec<u8> = (0..=255).collect();
        let chunks: Vec<&[u8]> = body.chunks(1).collect();
        let (prefix, rest) = read(100, &chunks);
        assert_eq!(prefix.as_bytes(), &body[..100]);
        assert!(prefix.is_truncated());
        assert_eq!(rest, [100], "reading stops one byte past the cap");
        assert!(
            prefix.bytes.capacity() <= 100,
            "the cap bounds the allocation"
        );
    }

    #[test]
    fn a_large_chunk_allocates_the_cap_not_the_chunk() {
        let big = vec![7; 1 << 20];
        let (prefix, rest) = read(1000, &[b"ab", &big]);
        assert_eq!(prefix.len(), 1000);
        assert_eq!(prefix.cap(), 1000);
        assert_eq!(rest.len(), (1 << 20) - 998);
        assert!(prefix.bytes.capacity() <= 1000);
    }

    #[test]
    fn a_failed_body_is_truncated_short_of_the_cap() {
        let mut prefix = BodyPrefix::new(100);
        assert_eq!(prefix.push(b"abc"), 3);
        assert!(!prefix.is_truncated());
        prefix.mark_truncated();
        assert!(prefix.is_truncated());
        assert_eq!(prefix.into_bytes(), b"abc");
    }

    #[test]
    fn a_head_with_a_prefix_is_the_request_with_its_bytes_and_truncation() {
        let no_headers = |_: &str| None::<&str>;
        let head = Head {
            method: "POST",
            path: "/upload",
            query: None,
            headers: &no_headers,
            peer: None,
            body_follows: true,
        };
        let (prefix, _) = read(3, &[b"abcd"]);
        let request = head.with_prefix(&prefix);
        assert_eq!((request.body, request.body_truncated), (&b"abc"[..], true));
        let (whole, _) = read(3, &[b"ab"]);
        let request = head.with_prefix(&whole);
        assert_eq!((request.body, request.body_truncated), (&b"ab"[..], false));
    }

    #[test]
    fn debug_shows_no_body_bytes() {
        let mut prefix = BodyPrefix::new(10);
        prefix.push(b"secret");
        let shown = format!("{prefix:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("115"),
            "{shown}"
        );
        assert!(shown.contains("len: 6"), "{shown}");
    }
}
