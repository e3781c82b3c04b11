//! Canonical JSON: one byte string per JSON value, so that equal payloads hash equally.
//!
//! Two forms share number formatting and string escaping and differ only in key order:
//!
//! - [`CanonicalForm::Jcs`] (the default) is RFC 8785, the JSON Canonicalization Scheme: object
//!   keys sorted by their UTF-16 code units, numbers in ECMAScript `Number.prototype.toString`
//!   form, minimal string escaping, no white space.
//! - [`CanonicalForm::TracehoundJs`] reproduces the TypeScript tracehound library, whose
//!   `JSON.stringify` put integer-like keys (`"0"` to `"4294967294"` without leading zeros)
//!   first in numeric order. Fleets that mix the two implementations use it to compute equal
//!   signatures.
//!
//! Size and depth are enforced while encoding: the encoder stops as soon as the output would
//! pass the byte limit or the nesting would pass the depth limit, so a huge payload costs work
//! proportional to the limit, not to the payload.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use zeroize::Zeroize;

/// Largest payload, in bytes of canonical JSON, that any configuration may allow (64 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting of arrays and objects that any configuration may allow.
pub const MAX_DEPTH: usize = 256;

/// Which canonical JSON form evidence is hashed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CanonicalForm {
    /// RFC 8785 (JCS).
    #[default]
    #[serde(rename = "jcs")]
    Jcs,
    /// The TypeScript tracehound library's form: integer-like keys first, numerically.
    #[serde(rename = "tracehound-js", alias = "ts")]
    TracehoundJs,
}

/// The canonical bytes of `payload` in `form`.
///
/// Enforces the absolute ceilings [`MAX_PAYLOAD_BYTES`] and [`MAX_DEPTH`]; a
/// [`Tracehound`](crate::Tracehound) enforces its configured, usually smaller, limits.
///
/// ```
/// use serde_json::json;
/// use tracehound::{CanonicalForm, canonicalize};
///
/// let payload = json!({"b": 1, "a": [1e21, 0.5, "é"], "10": null, "9": true});
/// assert_eq!(
///     canonicalize(&payload, CanonicalForm::Jcs).unwrap(),
///     r#"{"10":null,"9":true,"a":[1e+21,0.5,"é"],"b":1}"#.as_bytes()
/// );
/// assert_eq!(
///     canonicalize(&payload, CanonicalForm::TracehoundJs).unwrap(),
///     r#"{"9":true,"10":null,"a":[1e+21,0.5,"é"],"b":1}"#.as_bytes()
/// );
/// ```
pub fn canonicalize(payload: &Value, form: CanonicalForm) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(payload, form, Limits::CEILING, &mut out)?;
    Ok(out)
}

/// Why a payload has no canonical encoding within the limits. Payload-less: it names the
/// limit, never the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The canonical encoding is longer than `limit` bytes. Raise the configured
    /// `max_payload_bytes` if such payloads are legitimate evidence.
    TooLarge {
        /// The limit, in bytes of canonical JSON.
        limit: usize,
    },
    /// The payload nests arrays and objects more than `limit` levels deep. Raise the
    /// configured `max_depth`, or have the adapter flatten what it captures.
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The payload holds a value with no canonical JSON form (a non-finite number, possible
    /// only when serde_json's `arbitrary_precision` feature is enabled).
    NotCanonical,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::TooLarge { limit } => {
                write!(
                    f,
                    "canonical payload is larger than the limit of {limit} bytes"
                )
            }
            EncodeError::TooDeep { limit } => {
                write!(f, "payload nests deeper than the limit of {limit} levels")
            }
            EncodeError::NotCanonical => {
                f.write_str("payload holds a non-finite number, which has no canonical JSON form")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Byte and depth limits for one encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_bytes: usize,
    pub(crate) max_depth: usize,
}

impl Limits {
    pub(crate) const CEILING: Limits = Limits {
        max_bytes: MAX_PAYLOAD_BYTES,
        max_depth: MAX_DEPTH,
    };
}

/// Encodes `value` into `out` (cleared first).
pub(crate) fn encode(
    value: &Value,
    form: CanonicalForm,
    limits: Limits,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.clear();
    let mut encoder = Encoder {
        out: Sink(out),
        form,
        max_bytes: limits.max_bytes,
    };
    match encoder.value(value, limits.max_depth) {
        Ok(()) => Ok(()),
        Err(Stop::TooLarge) => Err(EncodeError::TooLarge {
            limit: limits.max_bytes,
        }),
        Err(Stop::TooDeep) => Err(EncodeError::TooDeep {
            limit: limits.max_depth,
        }),
        Err(Stop::NotFinite) => Err(EncodeError::NotCanonical),
    }
}

enum Stop {
    TooLarge,
    TooDeep,
    NotFinite,
}

struct Encoder<'o> {
    out: Sink<'o>,
    form: CanonicalForm,
    max_bytes: usize,
}

/// The encoder's output buffer. It grows by hand so that the allocation it outgrows is wiped
/// before it is freed: no partial copy of a payload is left behind in free memory.
pub(crate) struct Sink<'o>(pub(crate) &'o mut Vec<u8>);

impl Sink<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    /// Shortens the output, wiping what it drops: bytes past the length are never left
    /// holding payload, so wiping the used part of the buffer is always enough.
    fn truncate(&mut self, len: usize) {
        if let Some(dropped) = self.0.get_mut(len..) {
            dropped.zeroize();
        }
        self.0.truncate(len);
    }

    #[inline]
    fn reserve(&mut self, additional: usize) {
        if self.0.capacity() - self.0.len() < additional {
            self.grow(additional);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize) {
        let buf = &mut *self.0;
        let wanted = (buf.len() + additional)
            .max(buf.capacity().saturating_mul(2))
            .max(256);
        let mut bigger = Vec::with_capacity(wanted);
        bigger.extend_from_slice(buf);
        buf.as_mut_slice().zeroize();
        *buf = bigger;
    }

    fn push(&mut self, byte: u8) {
        self.reserve(1);
        self.0.push(byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    fn repeat(&mut self, byte: u8, count: usize) {
        self.reserve(count);
        self.0.extend(std::iter::repeat_n(byte, count));
    }
}

impl Encoder<'_> {
    fn remaining(&self) -> usize {
        self.max_bytes.saturating_sub(self.out.len())
    }

    fn check(&self) -> Result<(), Stop> {
        if self.out.len() > self.max_bytes {
            Err(Stop::TooLarge)
        } else {
            Ok(())
        }
    }

    fn value(&mut self, value: &Value, depth_left: usize) -> Result<(), Stop> {
        match value {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Number(n) => self.number(n)?,
            Value::String(s) => return self.string(s),
            Value::Array(items) => return self.array(items, depth_left),
            Value::Object(map) => return self.object(map, depth_left),
        }
        self.check()
    }

    fn array(&mut self, items: &[Value], depth_left: usize) -> Result<(), Stop> {
        let depth_left = depth_left.checked_sub(1).ok_or(Stop::TooDeep)?;
        // Every element costs at least one byte plus a separator: refuse early rather than
        // walk a million-element array to find out.
        if items.len().saturating_mul(2) > self.remaining().saturating_add(1) {
            return Err(Stop::TooLarge);
        }
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.value(item, depth_left)?;
        }
        self.out.push(b']');
        self.check()
    }

    fn object(&mut self, map: &Map<String, Value>, depth_left: usize) -> Result<(), Stop> {
        let depth_left = depth_left.checked_sub(1).ok_or(Stop::TooDeep)?;
        // Every member costs at least `"":0` plus a separator; this bounds the sort below.
        if map.len().saturating_mul(5) > self.remaining().saturating_add(1) {
            return Err(Stop::TooLarge);
        }
        let start = self.out.len();
        self.out.push(b'{');
        let form = self.form;
        // serde_json's map usually iterates in byte order, which is the JCS order for almost
        // all keys: write members as they come, and only if one turns out to be out of
        // order, rewind and write them sorted.
        let mut previous: Option<&String> = None;
        let mut in_order = true;
        for (i, (key, item)) in map.iter().enumerate() {
            if previous.is_some_and(|p| key_order(form, p, key) != Ordering::Less) {
                in_order = false;
                break;
            }
            previous = Some(key);
            self.member(i, key, item, depth_left)?;
        }
        if !in_order {
            self.out.truncate(start + 1);
            // Sorting compares whole keys: first make sure they all fit, so the sort's work
            // stays proportional to the limit.
            let key_bytes = map
                .keys()
                .fold(0usize, |sum, k| sum.saturating_add(k.len()));
            if key_bytes.saturating_add(map.len().saturating_mul(5)) > self.remaining() {
                return Err(Stop::TooLarge);
            }
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| key_order(form, a.0, b.0));
            for (i, (key, item)) in members.into_iter().enumerate() {
                self.member(i, key, item, depth_left)?;
            }
        }
        self.out.push(b'}');
        self.check()
    }

    fn member(&mut self, i: usize, key: &str, item: &Value, depth_left: usize) -> Result<(), Stop> {
        if i > 0 {
            self.out.push(b',');
        }
        self.string(key)?;
        self.out.push(b':');
        self.value(item, depth_left)
    }

    fn string(&mut self, s: &str) -> Result<(), Stop> {
        // Escaping only lengthens a string, so this refuses oversized strings before copying.
        if s.len().saturating_add(2) > self.remaining() {
            return Err(Stop::TooLarge);
        }
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        loop {
            let at = next_escape(bytes, start);
            self.out.extend_from_slice(&bytes[start..at]);
            let Some(&byte) = bytes.get(at) else { break };
            self.escape(byte);
            // An escape writes up to six bytes for one: stop as soon as the limit is passed.
            self.check()?;
            start = at + 1;
        }
        self.out.push(b'"');
        self.check()
    }

    fn escape(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match ESCAPE[usize::from(byte)] {
            b'u' => self.out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]),
            short => self.out.extend_from_slice(&[b'\\', short]),
        }
    }

    fn number(&mut self, n: &Number) -> Result<(), Stop> {
        // Integers that an IEEE double holds exactly print the same in ECMAScript; all others
        // go through the double, as JavaScript would.
        const SAFE: u64 = (1 << 53) - 1;
        if let Some(i) = n.as_i64() {
            if i.unsigned_abs() <= SAFE {
                self.out
                    .extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                return Ok(());
            }
        } else if let Some(u) = n.as_u64()
            && u <= SAFE
        {
            self.out
                .extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
            return Ok(());
        }
        match n.as_f64() {
            Some(f) if f.is_finite() => {
                write_ecmascript_number(f, &mut self.out);
                Ok(())
            }
            _ => Err(Stop::NotFinite),
        }
    }
}

/// The escape for each byte: 0 for none, `u` for `\u00XX`, otherwise the short escape letter.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Index of the first byte at or after `from` that needs escaping, or `bytes.len()`.
///
/// Scans eight bytes at a time for a control character, `"` or `\`; most evidence strings
/// have none, so this is close to a memory scan.
fn next_escape(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const fn has_zero_byte(word: u64) -> bool {
        word.wrapping_sub(ONES) & !word & HIGHS != 0
    }
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
        if control || has_zero_byte(word ^ (ONES * 0x22)) || has_zero_byte(word ^ (ONES * 0x5c)) {
            break;
        }
        i += 8;
    }
    while let Some(&byte) = bytes.get(i) {
        if ESCAPE[usize::from(byte)] != 0 {
            break;
        }
        i += 1;
    }
    i
}

fn key_order(form: CanonicalForm, a: &str, b: &str) -> Ordering {
    match form {
        CanonicalForm::Jcs => utf16_order(a, b),
        CanonicalForm::TracehoundJs => match (array_index(a), array_index(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => utf16_order(a, b),
        },
    }
}

/// Orders two strings by their UTF-16 code units, as JavaScript's default sort and RFC 8785
/// do. This differs from byte (code point) order only where a character above U+FFFF meets
/// one in U+E000..=U+FFFF.
fn utf16_order(a: &str, b: &str) -> Ordering {
    let first_difference = a.bytes().zip(b.bytes()).position(|(x, y)| x != y);
    match first_difference {
        None => a.len().cmp(&b.len()),
        Some(mut at) => {
            let (x, y) = (a.as_bytes()[at], b.as_bytes()[at]);
            // Below lead byte 0xEE (U+E000) both characters are in the range where UTF-16
            // and UTF-8 order agree, so the bytes decide.
            if x < 0xee && y < 0xee {
                return x.cmp(&y);
            }
            // The strings agree before `at`, so they share the character boundary found here.
            while !a.is_char_boundary(at) {
                at -= 1;
            }
            a[at..].encode_utf16().cmp(b[at..].encode_utf16())
        }
    }
}

/// The value of a canonical array-index key (`0` or a digit string without a leading zero,
/// at most 2^32 - 2), which JavaScript enumerates before other keys.
fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes[0] == b'0' && bytes.len() > 1 {
        return None;
    }
    let value = bytes
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    u32::try_from(value).ok().filter(|&v| v != u32::MAX)
}

/// Writes a finite double the way ECMAScript's `Number.prototype.toString` does (ECMA-262
/// Number::toString with radix 10), which RFC 8785 adopts.
fn write_ecmascript_number(value: f64, out: &mut Sink<'_>) {
    if value == 0.0 {
        // Both zeros print as "0".
        out.push(b'0');
        return;
    }
    if value < 0.0 {
        out.push(b'-');
    }
    let mut ryu = ryu::Buffer::new();
    let (digits, n) = shortest_digits(ryu.format_finite(value.abs()));
    let digits = digits.as_bytes();
    let k = digits.len() as i32;
    // ECMA-262's names: the value is 0.d1d2...dk x 10^n.
    if k <= n && n <= 21 {
        out.extend_from_slice(digits);
        out.repeat(b'0', (n - k) as usize);
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        out.extend_from_slice(whole);
        out.push(b'.');
        out.extend_from_slice(fraction);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.repeat(b'0', (-n) as usize);
        out.extend_from_slice(digits);
    } else {
        let e = n - 1;
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        out.extend_from_slice(itoa::Buffer::new().format(e.unsigned_abs()).as_bytes());
    }
}

/// The significant digits of a decimal numeral and the position of the decimal point
/// relative to them (ECMA-262's `n`): `"1.5e-7"` gives `("15", -6)`, `"120.0"` gives
/// `("12", 3)`.
///
/// The digits come from Ryū, which yields the shortest digit string that reads back as the
/// same double and, when two are equally close, the even one: exactly the string ECMA-262
/// Number::toString requires (Rust's own `{:e}` breaks such ties upwards).
fn shortest_digits(numeral: &str) -> (String, i32) {
    let (mantissa, exponent) = match numeral.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (numeral, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = whole.chars().chain(fraction.chars()).collect();
    let mut point = whole.len() as i32 + exponent;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..leading);
    point -= leading as i32;
    digits.truncate(digits.trim_end_matches('0').len());
    (digits, point)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jcs(text: &str) -> String {
        let value: Value = serde_json::from_str(text).unwrap();
        String::from_utf8(canonicalize(&value, CanonicalForm::Jcs).unwrap()).unwrap()
    }

    fn es(value: f64) -> String {
        let mut out = Vec::new();
        write_ecmascript_number(value, &mut Sink(&mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ecmascript_number_forms() {
        assert_eq!(es(0.0), "0");
        assert_eq!(es(-0.0), "0");
        assert_eq!(es(1.0), "1");
        assert_eq!(es(-1.5), "-1.5");
        assert_eq!(es(100.0), "100");
        assert_eq!(es(1e21), "1e+21");
        assert_eq!(es(1e20), "100000000000000000000");
        assert_eq!(es(123456789012345680000.0), "123456789012345680000");
        assert_eq!(es(0.000001), "0.000001");
        assert_eq!(es(1e-7), "1e-7");
        assert_eq!(es(1.5e-7), "1.5e-7");
        assert_eq!(es(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(es(5e-324), "5e-324");
        assert_eq!(es(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(es(-f64::MAX), "-1.7976931348623157e+308");
        assert_eq!(es(9007199254740992.0), "9007199254740992");
        assert_eq!(es(295147905179352830000.0), "295147905179352830000");
    }

    #[test]
    fn ties_go_to_the_even_digit() {
        // 1424953923781206.25 lies exactly between two 17-digit candidates.
        assert_eq!(
            es(f64::from_bits(0x4314_3ff3_c1cb_0959)),
            "1424953923781206.2"
        );
        assert_eq!(es((1u64 << 50) as f64 + 0.75), "1125899906842624.8");
    }

    #[test]
    fn digit_extraction() {
        assert_eq!(shortest_digits("1.5e-7"), ("15".into(), -6));
        assert_eq!(shortest_digits("120.0"), ("12".into(), 3));
        assert_eq!(shortest_digits("0.0003"), ("3".into(), -3));
        assert_eq!(shortest_digits("1e21"), ("1".into(), 22));
        assert_eq!(shortest_digits("5E-324"), ("5".into(), -323));
    }

    #[test]
    fn integers_outside_double_precision_round_like_javascript() {
        assert_eq!(jcs("12345678901234567890"), "12345678901234567000");
        assert_eq!(jcs("-9007199254740993"), "-9007199254740992");
        assert_eq!(jcs("9007199254740991"), "9007199254740991");
        assert_eq!(jcs("-0"), "0");
        assert_eq!(jcs("1.0"), "1");
    }

    #[test]
    fn escapes_minimally() {
        assert_eq!(
            jcs(r#""\u0000\u001f\b\t\n\f\r\"\\/\u007f\u2028é😀""#),
            "\"\\u0000\\u001f\\b\\t\\n\\f\\r\\\"\\\\/\u{7f}\u{2028}é😀\""
        );
        // Long strings exercise the eight-byte scan on both sides of an escape.
        let long = format!("{}\"{}", "a".repeat(37), "b".repeat(19));
        assert_eq!(
            jcs(&serde_json::to_string(&long).unwrap()),
            format!("\"{}\\\"{}\"", "a".repeat(37), "b".repeat(19))
        );
    }

    #[test]
    fn next_escape_finds_every_special_byte_at_every_offset() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..20 {
                for at in 0..len {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = special;
                    assert_eq!(
                        next_escape(&bytes, 0),
                        at,
                        "byte {special:#x} at {at}/{len}"
                    );
                }
            }
        }
        for byte in 0x20u8..=0xff {
            if byte != b'"' && byte != b'\\' {
                assert_eq!(next_escape(&[byte; 17], 0), 17, "byte {byte:#x}");
            }
        }
    }

    #[test]
    fn utf16_order_differs_from_code_point_order_where_it_should() {
        // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB33 there but after it by
        // code point.
        assert_eq!(utf16_order("\u{1F600}", "\u{FB33}"), Ordering::Less);
        assert_eq!("\u{1F600}".cmp("\u{FB33}"), Ordering::Greater);
        assert_eq!(utf16_order("a", "ab"), Ordering::Less);
        assert_eq!(utf16_order("é", "é"), Ordering::Equal);
        assert_eq!(utf16_order("xé", "xè"), Ordering::Greater);
        // Differences inside a shared lead byte, and at a continuation byte.
        assert_eq!(utf16_order("\u{E001}", "\u{E000}"), Ordering::Greater);
        assert_eq!(utf16_order("\u{10001}", "\u{FFFF}"), Ordering::Less);
        assert_eq!(utf16_order("\u{10001}", "\u{10000}"), Ordering::Greater);
        assert_eq!(utf16_order("a\u{20AC}", "a\u{1F600}"), Ordering::Less);
    }

    proptest::proptest! {
        #[test]
        fn utf16_order_matches_its_definition(a in ".{0,6}", b in ".{0,6}") {
            proptest::prop_assert_eq!(utf16_order(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
            let prefix = format!("k\u{FB33}{a}");
            let other = format!("k\u{1F600}{b}");
            proptest::prop_assert_eq!(
                utf16_order(&prefix, &other),
                prefix.encode_utf16().cmp(other.encode_utf16())
            );
        }
    }

    #[test]
    fn array_index_keys() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("4294967294"), Some(4_294_967_294));
        assert_eq!(array_index("4294967295"), None);
        assert_eq!(array_index("01"), None);
        assert_eq!(array_index(""), None);
        assert_eq!(array_index("-1"), None);
        assert_eq!(array_index("1e3"), None);
        assert_eq!(array_index("99999999999"), None);
    }

    #[test]
    fn limits_stop_early() {
        let limits = Limits {
            max_bytes: 7,
            max_depth: 2,
        };
        let mut out = Vec::new();
        assert!(encode(&json!({"a": 1}), CanonicalForm::Jcs, limits, &mut out).is_ok());
        assert_eq!(out.len(), 7, "a payload exactly at the limit is accepted");
        assert_eq!(
            encode(&json!({"a": 10}), CanonicalForm::Jcs, limits, &mut out),
            Err(EncodeError::TooLarge { limit: 7 })
        );
        assert_eq!(
            encode(&json!([[[]]]), CanonicalForm::Jcs, limits, &mut out),
            Err(EncodeError::TooDeep { limit: 2 })
        );
        assert!(encode(&json!([[]]), CanonicalForm::Jcs, limits, &mut out).is_ok());
        // A scalar root has no nesting at all.
        let flat = Limits {
            max_bytes: 100,
            max_depth: 0,
        };
        assert!(encode(&json!("x"), CanonicalForm::Jcs, flat, &mut out).is_ok());
        assert!(encode(&json!([]), CanonicalForm::Jcs, flat, &mut out).is_err());
    }

    #[test]
    fn escapes_cannot_write_far_past_the_limit() {
        let limits = Limits {
            max_bytes: 1000,
            max_depth: 4,
        };
        let mut out = Vec::new();
        let controls = Value::String("\u{1}".repeat(990));
        assert_eq!(
            encode(&controls, CanonicalForm::Jcs, limits, &mut out),
            Err(EncodeError::TooLarge { limit: 1000 })
        );
        assert!(out.len() <= 1000 + 6, "wrote {} bytes", out.len());
    }

    #[test]
    fn long_keys_are_refused_before_sorting() {
        let limits = Limits {
            max_bytes: 1000,
            max_depth: 4,
        };
        // Out of order in the TypeScript form, so the sort path runs.
        let mut map: Map<String, Value> = (0..50)
            .map(|i| (format!("{}{i}", "k".repeat(100)), json!(0)))
            .collect();
        map.insert("9".into(), json!(0));
        map.insert("10".into(), json!(0));
        // Refused right after the rewind, before any sorting or member writing.
        assert_eq!(refused_ts(Value::Object(map), limits), b"{");
    }

    /// The TypeScript form refuses `value` as too large for `limits`; returns what was
    /// written before the refusal.
    fn refused_ts(value: Value, limits: Limits) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(
            encode(&value, CanonicalForm::TracehoundJs, limits, &mut out),
            Err(EncodeError::TooLarge {
                limit: limits.max_bytes
            })
        );
        out
    }

    #[test]
    fn growth_keeps_content() {
        // Pushes across many reallocations must keep every byte.
        let big = Value::Array((0..5000).map(|i| json!(format!("item-{i}"))).collect());
        let mut reused = vec![7u8; 3];
        encode(&big, CanonicalForm::Jcs, Limits::CEILING, &mut reused).unwrap();
        assert_eq!(reused, serde_json::to_vec(&big).unwrap());
    }

    #[test]
    fn huge_containers_are_refused_without_being_walked() {
        let big = Value::Array(vec![Value::Null; 1_000_000]);
        let limits = Limits {
            max_bytes: 1000,
            max_depth: 8,
        };
        let mut out = Vec::new();
        assert_eq!(
            encode(&big, CanonicalForm::Jcs, limits, &mut out),
            Err(EncodeError::TooLarge { limit: 1000 })
        );
        assert!(out.is_empty(), "refused before writing anything");
        let map: Map<String, Value> = (0..100_000).map(|i| (i.to_string(), json!(0))).collect();
        assert!(refused_ts(Value::Object(map), limits).is_empty());
    }
}
