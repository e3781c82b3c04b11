//! The built-in analyzers: [`PayloadSummary`] (shape and statistics) and [`Indicators`]
//! (URLs, addresses, injection and script markers).
//!
//! Both run on attacker-controlled bytes inside a hound, so both are written to the same
//! rules:
//!
//! - **no payload text leaves them**: every fact is a count, a flag or a label from a fixed
//!   vocabulary;
//! - **deterministic**: the same bytes give the same facts in the same order, with integer
//!   values only (entropy is computed in fixed point, not with platform `log2`);
//! - **linear time, bounded memory**: each analyzer reads each string in one forward pass
//!   with bounded look-around, no backtracking, no recursion (JSON is walked with an explicit stack), no allocation per
//!   byte; the only per-payload allocations are the walk's stack, one scratch buffer and the
//!   capped sets behind the `distinct` counts.
//!
//! The *strings* of a payload are, when it parses as JSON, every object key and every string
//! value (after JSON unescaping), each scanned on its own so that no match spans two of
//! them; otherwise the whole payload is one string of raw bytes. The recognisers only look
//! for ASCII, so bytes that are not valid UTF-8 simply match nothing.

mod indicators;
mod summary;

pub use indicators::Indicators;
pub use summary::PayloadSummary;

use serde_json::Value;

use crate::hound::Input;

/// One step of a walk over a JSON document, in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node<'v> {
    /// An object with `members` members, `depth` containers deep (the root container is 1).
    Object { members: usize, depth: u32 },
    /// An array with `elements` elements, `depth` containers deep.
    Array { elements: usize, depth: u32 },
    /// An object key; its value follows.
    Key(&'v str),
    /// A string value.
    String(&'v str),
    /// A number.
    Number,
    /// `true`, `false` or `null`.
    Literal,
}

/// Visits every node of `root` in document order (keys before their values), with an explicit
/// stack: nesting depth costs heap, never call stack.
fn walk<'v>(root: &'v Value, mut visit: impl FnMut(Node<'v>)) {
    enum Pending<'v> {
        Value(&'v Value, u32),
        Key(&'v str),
    }

    let mut stack = vec![Pending::Value(root, 0)];
    while let Some(pending) = stack.pop() {
        let (value, outer) = match pending {
            Pending::Key(key) => {
                visit(Node::Key(key));
                continue;
            }
            Pending::Value(value, outer) => (value, outer),
        };
        let depth = outer + 1;
        match value {
            Value::Object(members) => {
                visit(Node::Object {
                    members: members.len(),
                    depth,
                });
                stack.reserve(2 * members.len());
                for (key, member) in members.iter().rev() {
                    stack.push(Pending::Value(member, depth));
                    stack.push(Pending::Key(key));
                }
            }
            Value::Array(elements) => {
                visit(Node::Array {
                    elements: elements.len(),
                    depth,
                });
                stack.extend(
                    elements
                        .iter()
                        .rev()
                        .map(|element| Pending::Value(element, depth)),
                );
            }
            Value::String(text) => visit(Node::String(text)),
            Value::Number(_) => visit(Node::Number),
            Value::Bool(_) | Value::Null => visit(Node::Literal),
        }
    }
}

/// Calls `scan` on every string of the payload (see the module docs); returns whether the
/// payload was JSON.
fn for_each_string(input: &Input<'_>, mut scan: impl FnMut(&[u8])) -> bool {
    match input.json() {
        Some(root) => {
            walk(root, |node| match node {
                Node::Key(text) | Node::String(text) => scan(text.as_bytes()),
                _ => {}
            });
            true
        }
        None => {
            scan(input.bytes());
            false
        }
    }
}

/// `[A-Za-z0-9_]`: the bytes of a word, for whole-word matching.
fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The value of an ASCII hex digit.
fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// `count` hex digits start at `at`.
fn hex_digits_at(text: &[u8], at: usize, count: usize) -> bool {
    text.get(at..at + count)
        .is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit))
}

/// `text[at..]` starts with `pattern`, ignoring ASCII case (`pattern` is lowercase).
fn starts_with_lowercase(text: &[u8], at: usize, pattern: &[u8]) -> bool {
    text.get(at..at + pattern.len())
        .is_some_and(|window| window.eq_ignore_ascii_case(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(value: &Value) -> Vec<Node<'_>> {
        let mut nodes = Vec::new();
        walk(value, |node| nodes.push(node));
        nodes
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn walk_is_in_document_order_with_keys_before_values() {
        assert_eq!(
            nodes(&parse(r#"{"a":[1,"x",null],"b":{"c":"y"}}"#)),
            [
                Node::Object {
                    members: 2,
                    depth: 1
                },
                Node::Key("a"),
                Node::Array {
                    elements: 3,
                    depth: 2
                },
                Node::Number,
                Node::String("x"),
                Node::Literal,
                Node::Key("b"),
                Node::Object {
                    members: 1,
                    depth: 2
                },
                Node::Key("c"),
                Node::String("y"),
            ]
        );
        assert_eq!(nodes(&parse(r#""top""#)), [Node::String("top")]);
    }

    #[test]
    fn walk_survives_the_deepest_json_serde_accepts() {
        let text = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let deepest = nodes(&parse(&text))
            .iter()
            .filter_map(|node| match node {
                Node::Array { depth, .. } => Some(*depth),
                _ => None,
            })
            .max();
        assert_eq!(deepest, Some(127));
    }

    #[test]
    fn strings_are_keys_and_values_or_the_raw_bytes() {
        let input = Input::new(br#"{"k":["v",1,{"k2":"v2"}]}"#);
        let mut seen = Vec::new();
        assert!(for_each_string(&input, |text| seen.push(text.to_vec())));
        assert_eq!(seen, [&b"k"[..], b"v", b"k2", b"v2"]);

        let input = Input::new(b"not json \xff");
        let mut seen = Vec::new();
        assert!(!for_each_string(&input, |text| seen.push(text.to_vec())));
        assert_eq!(seen, [&b"not json \xff"[..]]);
    }
}
