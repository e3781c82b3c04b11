//! [`PayloadSummary`]: size, JSON shape, byte statistics and encodings.

use serde_json::Value;

use super::{Node, hex_digits_at, walk};
use crate::hound::{Analyzer, Facts, Input};

/// Shape and statistics of a payload.
///
/// Records the same 25 facts, in this order, for every payload; facts that do not apply (the
/// JSON shape of bytes that are not JSON) are zero. Counts are exact; no fact carries payload
/// text.
///
/// | Fact | Kind | Meaning |
/// |---|---|---|
/// | `size` | count | payload size, bytes |
/// | `utf8` | flag | the payload is valid UTF-8 |
/// | `json.kind` | label | top-level JSON value: `object`, `array`, `string`, `number`, `bool`, `null`, or `not-json` when the payload does not parse |
/// | `json.depth` | count | deepest nesting of objects and arrays (`1` = `{}` or `[]`, `0` = a scalar or not JSON) |
/// | `json.fields` | count | object members, all objects together |
/// | `json.elements` | count | array elements, all arrays together |
/// | `json.strings` | count | string values (keys not included) |
/// | `json.numbers` | count | number values |
/// | `json.longest_string` | count | longest string value, bytes of UTF-8 after unescaping |
/// | `json.longest_key` | count | longest object key, bytes of UTF-8 after unescaping |
/// | `bytes.letters` | count | bytes `A-Z a-z` |
/// | `bytes.digits` | count | bytes `0-9` |
/// | `bytes.whitespace` | count | space, tab, line feed, carriage return |
/// | `bytes.punctuation` | count | the other printable ASCII bytes (``!"#$%&'()*+,-./:;<=>?@[\]^_`{\|}~``) |
/// | `bytes.control` | count | the other bytes below `0x20`, and `0x7f` |
/// | `bytes.high` | count | bytes `0x80` and above |
/// | `bytes.distinct` | count | distinct byte values, 0 to 256 |
/// | `entropy.millibits` | count | Shannon entropy of the bytes, thousandths of a bit per byte (0 to 8000) |
/// | `encoding.base64` | count | base64 tokens (below) |
/// | `encoding.hex` | count | hex tokens (below) |
/// | `encoding.percent` | count | percent escapes `%XX` |
/// | `encoding.double_percent` | count | double percent escapes `%25XX` (each also counts once in `encoding.percent`) |
/// | `encoding.unicode_escape` | count | unicode escapes `\uXXXX` and `%uXXXX` |
/// | `encoding.hex_escape` | count | byte escapes `\xXX` |
/// | `encoding.html_entity` | count | HTML character references: `&#DDD;`, `&#xHHH;` and named ones such as `&lt;` (`&` + a letter + 1 to 9 letters or digits + `;`) |
///
/// The six `bytes.*` classes partition the payload: they sum to `size`.
///
/// The `encoding.*` facts count what appears in the payload's *strings*: every object key
/// and string value when the payload is JSON (so JSON's own `\u` escapes, already decoded,
/// are not counted, while a `\u` that survives unescaping is), otherwise the raw bytes. A
/// *base64 token* is a maximal run of the base64 alphabet (`A-Z a-z 0-9 + /`, or the URL-safe
/// `- _` instead of `+ /`) with up to two `=` of padding, at least 16 characters and a
/// multiple of 4 long, mixing upper case, lower case and digits (which random data almost
/// always does and words and paths seldom do). A *hex token* is a maximal run of letters and
/// digits, optionally after `0x`, of at least 16 hex digits, an even number of them, with at
/// least one letter and a single letter case.
///
/// Entropy is computed in 32-bit fixed point, so it is the same on every platform.
///
/// ```
/// use tracehound::hound::{Analyzer, FactValue, Facts, Input, PayloadSummary};
///
/// let mut facts = Facts::default();
/// PayloadSummary.analyze(&Input::new(br#"{"q":["%27",1]}"#), &mut facts);
/// let fact = |name: &str| facts.as_slice().iter().find(|f| f.name == name).map(|f| &f.value);
/// assert_eq!(fact("json.kind"), Some(&FactValue::Label("object".into())));
/// assert_eq!(fact("json.depth"), Some(&FactValue::Count(2)));
/// assert_eq!(fact("encoding.percent"), Some(&FactValue::Count(1)));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct PayloadSummary;

impl Analyzer for PayloadSummary {
    fn name(&self) -> &'static str {
        "summary"
    }

    fn analyze(&mut self, input: &Input<'_>, facts: &mut Facts) {
        let bytes = input.bytes();
        facts.count("size", bytes.len() as u64);
        facts.flag("utf8", std::str::from_utf8(bytes).is_ok());

        let mut shape = Shape::default();
        let mut encodings = Encodings::default();
        let kind = match input.json() {
            Some(root) => {
                walk(root, |node| {
                    shape.add(node);
                    if let Node::Key(text) | Node::String(text) = node {
                        encodings.scan(text.as_bytes());
                    }
                });
                kind_of(root)
            }
            None => {
                encodings.scan(bytes);
                "not-json"
            }
        };
        facts.label("json.kind", kind);
        facts.count("json.depth", shape.depth);
        facts.count("json.fields", shape.fields);
        facts.count("json.elements", shape.elements);
        facts.count("json.strings", shape.strings);
        facts.count("json.numbers", shape.numbers);
        facts.count("json.longest_string", shape.longest_string);
        facts.count("json.longest_key", shape.longest_key);

        let histogram = histogram(bytes);
        let classes = ByteClasses::of(&histogram);
        facts.count("bytes.letters", classes.letters);
        facts.count("bytes.digits", classes.digits);
        facts.count("bytes.whitespace", classes.whitespace);
        facts.count("bytes.punctuation", classes.punctuation);
        facts.count("bytes.control", classes.control);
        facts.count("bytes.high", classes.high);
        facts.count("bytes.distinct", classes.distinct);
        facts.count("entropy.millibits", entropy_millibits(&histogram));

        facts.count("encoding.base64", encodings.base64);
        facts.count("encoding.hex", encodings.hex);
        facts.count("encoding.percent", encodings.percent);
        facts.count("encoding.double_percent", encodings.double_percent);
        facts.count("encoding.unicode_escape", encodings.unicode_escape);
        facts.count("encoding.hex_escape", encodings.hex_escape);
        facts.count("encoding.html_entity", encodings.html_entity);
    }
}

fn kind_of(root: &Value) -> &'static str {
    match root {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

/// The JSON shape facts.
#[derive(Debug, Default)]
struct Shape {
    depth: u64,
    fields: u64,
    elements: u64,
    strings: u64,
    numbers: u64,
    longest_string: u64,
    longest_key: u64,
}

impl Shape {
    fn add(&mut self, node: Node<'_>) {
        match node {
            Node::Object { members, depth } => {
                self.fields += members as u64;
                self.depth = self.depth.max(u64::from(depth));
            }
            Node::Array { elements, depth } => {
                self.elements += elements as u64;
                self.depth = self.depth.max(u64::from(depth));
            }
            Node::Key(key) => self.longest_key = self.longest_key.max(key.len() as u64),
            Node::String(text) => {
                self.strings += 1;
                self.longest_string = self.longest_string.max(text.len() as u64);
            }
            Node::Number => self.numbers += 1,
            Node::Literal => {}
        }
    }
}

fn histogram(bytes: &[u8]) -> [u64; 256] {
    // Four tables, so that a run of one byte value does not wait on its own increments.
    let mut tables = [[0u64; 256]; 4];
    let mut quads = bytes.chunks_exact(4);
    for quad in &mut quads {
        for (table, &byte) in tables.iter_mut().zip(quad) {
            table[usize::from(byte)] += 1;
        }
    }
    for &byte in quads.remainder() {
        tables[0][usize::from(byte)] += 1;
    }
    let mut histogram = [0u64; 256];
    for table in &tables {
        for (total, count) in histogram.iter_mut().zip(table) {
            *total += count;
        }
    }
    histogram
}

/// The `bytes.*` facts.
#[derive(Debug, Default, PartialEq, Eq)]
struct ByteClasses {
    letters: u64,
    digits: u64,
    whitespace: u64,
    punctuation: u64,
    control: u64,
    high: u64,
    distinct: u64,
}

impl ByteClasses {
    fn of(histogram: &[u64; 256]) -> Self {
        let sum = |bytes: std::ops::Range<usize>| histogram[bytes].iter().sum::<u64>();
        let at = |byte: u8| histogram[usize::from(byte)];
        let letters = sum(0x41..0x5b) + sum(0x61..0x7b);
        let digits = sum(0x30..0x3a);
        let whitespace = at(b' ') + at(b'\t') + at(b'\n') + at(b'\r');
        ByteClasses {
            letters,
            digits,
            whitespace,
            punctuation: sum(0x21..0x7f) - letters - digits,
            // Below 0x20 but tab, line feed and carriage return; and DEL.
            control: sum(0x00..0x20) - (whitespace - at(b' ')) + at(0x7f),
            high: sum(0x80..0x100),
            distinct: histogram.iter().filter(|&&count| count > 0).count() as u64,
        }
    }
}

/// Fractional bits of the fixed-point logarithms.
const FRACTION_BITS: u32 = 32;

/// `log2(x)` for `x >= 1` in fixed point with [`FRACTION_BITS`] fractional bits, by repeated
/// squaring: integer-only, so every platform computes the same value.
const fn log2_fixed(x: u64) -> u64 {
    debug_assert!(x > 0);
    let integer = 63 - x.leading_zeros();
    // The mantissa x / 2^integer in [1, 2), as Q31 in [2^31, 2^32): its square fits a u64.
    let mut mantissa = if integer >= 31 {
        x >> (integer - 31)
    } else {
        x << (31 - integer)
    };
    let mut fraction = 0u64;
    let mut bit = FRACTION_BITS;
    while bit > 0 {
        bit -= 1;
        mantissa = (mantissa * mantissa) >> 31;
        if mantissa >= 1 << 32 {
            mantissa >>= 1;
            fraction |= 1 << bit;
        }
    }
    ((integer as u64) << FRACTION_BITS) | fraction
}

/// Counts below this have their logarithm precomputed (at compile time).
const SMALL_COUNTS: usize = 1024;

static SMALL_LOG2: [u64; SMALL_COUNTS] = {
    let mut table = [0; SMALL_COUNTS];
    let mut count = 1;
    while count < SMALL_COUNTS {
        table[count] = log2_fixed(count as u64);
        count += 1;
    }
    table
};

fn log2(x: u64) -> u64 {
    match usize::try_from(x) {
        Ok(small) if small < SMALL_COUNTS => SMALL_LOG2[small],
        _ => log2_fixed(x),
    }
}

/// Shannon entropy of the byte distribution, thousandths of a bit per byte, rounded:
/// `log2(n) - sum(c * log2(c)) / n`.
fn entropy_millibits(histogram: &[u64; 256]) -> u64 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0;
    }
    let weighted: u128 = histogram
        .iter()
        .filter(|&&count| count > 1)
        .map(|&count| u128::from(count) * u128::from(log2(count)))
        .sum();
    let bits = u128::from(log2(total)).saturating_sub(weighted / u128::from(total));
    let millibits = (bits * 1000 + (1 << (FRACTION_BITS - 1))) >> FRACTION_BITS;
    u64::try_from(millibits).unwrap_or(u64::MAX)
}

/// The `encoding.*` facts, accumulated over a payload's strings.
#[derive(Debug, Default, PartialEq, Eq)]
struct Encodings {
    base64: u64,
    hex: u64,
    percent: u64,
    double_percent: u64,
    unicode_escape: u64,
    hex_escape: u64,
    html_entity: u64,
}

/// Shortest base64 and hex tokens counted.
const MIN_TOKEN_LEN: usize = 16;

impl Encodings {
    fn scan(&mut self, text: &[u8]) {
        let mut at = 0;
        while let Some(&byte) = text.get(at) {
            if token_kind(byte) != 0 {
                let mut end = at;
                let mut kinds = 0;
                while let Some(kind) = text.get(end).map(|&b| token_kind(b)).filter(|&k| k != 0) {
                    kinds |= kind;
                    end += 1;
                }
                // With two bytes of padding, 14 bytes make a 16-byte token.
                if end - at + 2 >= MIN_TOKEN_LEN {
                    self.token(text, at, end, kinds);
                }
                at = end;
                continue;
            }
            match byte {
                b'%' if hex_digits_at(text, at + 1, 2) => {
                    self.percent += 1;
                    if text[at + 1..].starts_with(b"25") && hex_digits_at(text, at + 3, 2) {
                        self.double_percent += 1;
                    }
                }
                b'%' | b'\\'
                    if matches!(text.get(at + 1), Some(b'u' | b'U'))
                        && hex_digits_at(text, at + 2, 4) =>
                {
                    self.unicode_escape += 1;
                }
                b'\\' if text.get(at + 1) == Some(&b'x') && hex_digits_at(text, at + 2, 2) => {
                    self.hex_escape += 1;
                }
                b'&' if is_html_entity(&text[at + 1..]) => self.html_entity += 1,
                _ => {}
            }
            at += 1;
        }
    }

    /// Classifies the maximal base64-alphabet run `text[start..end]`, made of `kinds`, and the
    /// hex runs in it.
    fn token(&mut self, text: &[u8], start: usize, end: usize, kinds: u8) {
        let run = &text[start..end];
        let padding = text[end..]
            .iter()
            .take(3)
            .take_while(|&&b| b == b'=')
            .count();
        // Padding is only padding at the end of a token ("k=v" is not padded "k").
        let padding = match text.get(end + padding) {
            Some(&next) if padding > 0 && (token_kind(next) != 0 || next == b'=') => 0,
            _ if padding > 2 => 0,
            _ => padding,
        };
        if looks_base64(run.len() + padding, kinds) {
            self.base64 += 1;
        }
        if kinds & (STANDARD | URL_SAFE) == 0 {
            // One run of letters and digits: its kinds decide, unless it starts with "0x".
            let hex = if matches!(run, [b'0', b'x' | b'X', ..]) {
                looks_hex(run)
            } else {
                run.len() >= MIN_TOKEN_LEN
                    && run.len().is_multiple_of(2)
                    && kinds & OTHER_LETTER == 0
                    && (kinds & UPPER == 0) != (kinds & LOWER == 0)
            };
            self.hex += u64::from(hex);
            return;
        }
        let mut at = 0;
        while at < run.len() {
            if run[at].is_ascii_alphanumeric() {
                let len = run[at..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .unwrap_or(run.len() - at);
                if looks_hex(&run[at..at + len]) {
                    self.hex += 1;
                }
                at += len;
            } else {
                at += 1;
            }
        }
    }
}

/// Kinds of bytes in a base64-alphabet run, one bit each.
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const DIGIT: u8 = 4;
/// `+` and `/`, of the standard alphabet.
const STANDARD: u8 = 8;
/// `-` and `_`, of the URL-safe alphabet.
const URL_SAFE: u8 = 16;
/// Letters that are not hex digits.
const OTHER_LETTER: u8 = 32;

/// The kind of a byte of the base64 alphabets, 0 for the other bytes.
const fn token_kind_of(byte: u8) -> u8 {
    match byte {
        b'A'..=b'F' => UPPER,
        b'G'..=b'Z' => UPPER | OTHER_LETTER,
        b'a'..=b'f' => LOWER,
        b'g'..=b'z' => LOWER | OTHER_LETTER,
        b'0'..=b'9' => DIGIT,
        b'+' | b'/' => STANDARD,
        b'-' | b'_' => URL_SAFE,
        _ => 0,
    }
}

static TOKEN_KINDS: [u8; 256] = {
    let mut kinds = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        kinds[byte] = token_kind_of(byte as u8);
        byte += 1;
    }
    kinds
};

fn token_kind(byte: u8) -> u8 {
    TOKEN_KINDS[usize::from(byte)]
}

/// A base64 token of `len` bytes (padding included) made of `kinds`.
fn looks_base64(len: usize, kinds: u8) -> bool {
    let mixed = UPPER | LOWER | DIGIT;
    len >= MIN_TOKEN_LEN
        && len.is_multiple_of(4)
        && kinds & mixed == mixed
        && kinds & (STANDARD | URL_SAFE) != STANDARD | URL_SAFE
}

fn looks_hex(run: &[u8]) -> bool {
    let digits = match run {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => run,
    };
    let lower = digits.iter().any(|b| matches!(b, b'a'..=b'f'));
    let upper = digits.iter().any(|b| matches!(b, b'A'..=b'F'));
    digits.len() >= MIN_TOKEN_LEN
        && digits.len().is_multiple_of(2)
        && digits.iter().all(u8::is_ascii_hexdigit)
        && lower != upper
}

/// `rest` (what follows an `&`) starts with the rest of an HTML character reference.
fn is_html_entity(rest: &[u8]) -> bool {
    let run = |body: &[u8], min: usize, max: usize, class: fn(&u8) -> bool| {
        let len = body.iter().take(max + 1).take_while(|b| class(b)).count();
        (min..=max).contains(&len) && body.get(len) == Some(&b';')
    };
    match rest {
        [b'#', b'x' | b'X', hex @ ..] => run(hex, 1, 6, u8::is_ascii_hexdigit),
        [b'#', decimal @ ..] => run(decimal, 1, 7, u8::is_ascii_digit),
        [first, ..] if first.is_ascii_alphabetic() => run(rest, 2, 10, u8::is_ascii_alphanumeric),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::hound::FactValue;

    /// The facts as (name, value) pairs, values rendered for compact comparison.
    fn summary(bytes: &[u8]) -> Vec<(String, String)> {
        let mut facts = Facts::default();
        PayloadSummary.analyze(&Input::new(bytes), &mut facts);
        facts
            .as_slice()
            .iter()
            .map(|fact| {
                let value = match &fact.value {
                    FactValue::Count(n) => n.to_string(),
                    FactValue::Flag(b) => b.to_string(),
                    FactValue::Label(l) => l.clone(),
                    FactValue::Digest(_) => "digest".to_owned(),
                };
                (fact.name.clone(), value)
            })
            .collect()
    }

    fn fact(facts: &[(String, String)], name: &str) -> String {
        facts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no fact {name}"))
    }

    fn encodings(text: &str) -> Encodings {
        let mut encodings = Encodings::default();
        encodings.scan(text.as_bytes());
        encodings
    }

    #[test]
    fn empty_input_has_every_fact_at_zero() {
        let facts = summary(b"");
        let expected: Vec<(String, String)> = [
            ("size", "0"),
            ("utf8", "true"),
            ("json.kind", "not-json"),
            ("json.depth", "0"),
            ("json.fields", "0"),
            ("json.elements", "0"),
            ("json.strings", "0"),
            ("json.numbers", "0"),
            ("json.longest_string", "0"),
            ("json.longest_key", "0"),
            ("bytes.letters", "0"),
            ("bytes.digits", "0"),
            ("bytes.whitespace", "0"),
            ("bytes.punctuation", "0"),
            ("bytes.control", "0"),
            ("bytes.high", "0"),
            ("bytes.distinct", "0"),
            ("entropy.millibits", "0"),
            ("encoding.base64", "0"),
            ("encoding.hex", "0"),
            ("encoding.percent", "0"),
            ("encoding.double_percent", "0"),
            ("encoding.unicode_escape", "0"),
            ("encoding.hex_escape", "0"),
            ("encoding.html_entity", "0"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(facts, expected);
    }

    #[test]
    fn request_shaped_json() {
        let facts = summary(
            br#"{"body":{"q":"' OR 1=1 --"},"headers":{"accept":"*/*"},"method":"POST","path":"/a","query":"x=%27&y=1","tags":[1,2,"z"]}"#,
        );
        assert_eq!(fact(&facts, "size"), "120");
        assert_eq!(fact(&facts, "utf8"), "true");
        assert_eq!(fact(&facts, "json.kind"), "object");
        assert_eq!(fact(&facts, "json.depth"), "2");
        // 6 top-level members, 1 in body, 1 in headers.
        assert_eq!(fact(&facts, "json.fields"), "8");
        assert_eq!(fact(&facts, "json.elements"), "3");
        assert_eq!(fact(&facts, "json.strings"), "6");
        assert_eq!(fact(&facts, "json.numbers"), "2");
        assert_eq!(fact(&facts, "json.longest_string"), "11");
        assert_eq!(fact(&facts, "json.longest_key"), "7");
        assert_eq!(fact(&facts, "encoding.percent"), "1");
        assert_eq!(fact(&facts, "bytes.control"), "0");
        let classes: u64 = [
            "bytes.letters",
            "bytes.digits",
            "bytes.whitespace",
            "bytes.punctuation",
            "bytes.control",
            "bytes.high",
        ]
        .iter()
        .map(|name| fact(&facts, name).parse::<u64>().unwrap())
        .sum();
        assert_eq!(classes, 120);
    }

    #[test]
    fn json_kinds() {
        for (payload, kind) in [
            (&b"{}"[..], "object"),
            (b"[1]", "array"),
            (b"\"s\"", "string"),
            (b"-1.5e3", "number"),
            (b"true", "bool"),
            (b"null", "null"),
            (b"{", "not-json"),
            (b"\xff\xfe", "not-json"),
        ] {
            assert_eq!(fact(&summary(payload), "json.kind"), kind, "{payload:?}");
        }
        assert_eq!(fact(&summary(b"\"s\""), "json.depth"), "0");
        assert_eq!(fact(&summary(b"{}"), "json.depth"), "1");
    }

    #[test]
    fn deeply_nested_json() {
        // serde_json refuses 128 levels or more, so this is as deep as JSON gets here.
        let deep = format!(r#"{}{{"k":"v"}}{}"#, "[".repeat(126), "]".repeat(126));
        let facts = summary(deep.as_bytes());
        assert_eq!(fact(&facts, "json.kind"), "array");
        assert_eq!(fact(&facts, "json.depth"), "127");
        assert_eq!(fact(&facts, "json.elements"), "126");
        assert_eq!(fact(&facts, "json.fields"), "1");

        let too_deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let facts = summary(too_deep.as_bytes());
        assert_eq!(fact(&facts, "json.kind"), "not-json");
        assert_eq!(fact(&facts, "bytes.punctuation"), "200000");
        assert_eq!(fact(&facts, "entropy.millibits"), "1000");
    }

    #[test]
    fn non_json_bytes() {
        let facts = summary(b"GET /\x00\x7f\xc3\xa9 \t\r\n9");
        assert_eq!(fact(&facts, "size"), "14");
        assert_eq!(fact(&facts, "utf8"), "true");
        assert_eq!(fact(&facts, "json.kind"), "not-json");
        assert_eq!(fact(&facts, "bytes.letters"), "3");
        assert_eq!(fact(&facts, "bytes.digits"), "1");
        assert_eq!(fact(&facts, "bytes.whitespace"), "5");
        assert_eq!(fact(&facts, "bytes.punctuation"), "1");
        assert_eq!(fact(&facts, "bytes.control"), "2");
        assert_eq!(fact(&facts, "bytes.high"), "2");
        assert_eq!(fact(&facts, "bytes.distinct"), "13");
        assert_eq!(fact(&summary(b"\xc3"), "utf8"), "false");
    }

    #[test]
    fn byte_classes_partition_the_bytes() {
        let all: Vec<u8> = (0..=u8::MAX).collect();
        assert_eq!(
            ByteClasses::of(&histogram(&all)),
            ByteClasses {
                letters: 52,
                digits: 10,
                whitespace: 4,
                punctuation: 32,
                control: 30,
                high: 128,
                distinct: 256,
            }
        );
    }

    #[test]
    fn entropy_known_answers() {
        let entropy = |bytes: &[u8]| entropy_millibits(&histogram(bytes));
        assert_eq!(entropy(b""), 0);
        assert_eq!(entropy(b"aaaa"), 0);
        assert_eq!(entropy(b"ab"), 1000);
        assert_eq!(entropy(b"abcd"), 2000);
        // -(2/3 log2 2/3 + 1/3 log2 1/3) = 0.9182958...
        assert_eq!(entropy(b"aab"), 918);
        let all: Vec<u8> = (0..=u8::MAX).collect();
        assert_eq!(entropy(&all), 8000);
        let doubled: Vec<u8> = all.iter().chain(&all).copied().collect();
        assert_eq!(entropy(&doubled), 8000);
    }

    #[test]
    fn fixed_point_log2_matches_f64() {
        for x in (1..5000u64).chain([1 << 20, 1_000_003, u64::from(u32::MAX), u64::MAX]) {
            assert_eq!(log2(x), log2_fixed(x));
            let fixed = log2(x) as f64 / f64::from(1u32 << 16) / f64::from(1u32 << 16);
            assert!((fixed - (x as f64).log2()).abs() < 1e-8, "{x}");
        }
    }

    proptest! {
        #[test]
        fn entropy_agrees_with_f64(bytes in vec(any::<u8>(), 0..4096)) {
            let histogram = histogram(&bytes);
            let n = bytes.len() as f64;
            let reference: f64 = histogram
                .iter()
                .filter(|&&count| count > 0)
                .map(|&count| {
                    let p = count as f64 / n;
                    -p * p.log2()
                })
                .sum();
            let fixed = entropy_millibits(&histogram) as f64;
            prop_assert!((fixed - reference * 1000.0).abs() <= 0.5 + 1e-6, "{} {}", fixed, reference);

            let classes = ByteClasses::of(&histogram);
            let sum = classes.letters
                + classes.digits
                + classes.whitespace
                + classes.punctuation
                + classes.control
                + classes.high;
            prop_assert_eq!(sum, bytes.len() as u64);
        }
    }

    #[test]
    fn base64_tokens() {
        assert_eq!(encodings("SGVsbG8gd29ybGQhISE=").base64, 1);
        assert_eq!(encodings("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").base64, 1);
        assert_eq!(encodings("v=QWxhZGRpbjpvcGVuIHNlc2FtZQ==&w=1").base64, 1);
        // A JWT: unpadded URL-safe parts; only the header is a multiple of 4 long.
        assert_eq!(
            encodings("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig")
                .base64,
            1
        );
        // Too short, wrong length, one letter case, mixed alphabets, misplaced padding.
        for text in [
            "SGVsbG8=",
            "SGVsbG8gd29ybGQhISE",
            "/api/v1/search/items",
            "abcdefghijklmnopqrst1234",
            "ab+/ab-_AB12ab+/AB12ab-_",
            "SGVsbG8gd29ybGQhISE=x",
            "SGVsbG8gd29ybGQhIS===",
        ] {
            assert_eq!(encodings(text).base64, 0, "{text}");
        }
    }

    #[test]
    fn hex_tokens() {
        assert_eq!(encodings("deadbeefdeadbeef").hex, 1);
        assert_eq!(encodings("id=0xDEADBEEF00112233/x").hex, 1);
        assert_eq!(encodings("sha 9f86d081884c7d659a2feaa0c55ad015").hex, 1);
        for text in [
            "deadbeefdeadbee",
            "deadbeefdeadbeefa",
            "1234567890123456",
            "DeadBeefDeadBeef",
            "deadbeefdeadbeefx",
            "550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert_eq!(encodings(text).hex, 0, "{text}");
        }
    }

    #[test]
    fn escapes_and_entities() {
        let found = encodings(
            r"%3Cscript%3E %252e%252E %u003c \u003C \x41 &lt; &#60; &#x3C; &quot;x &amp b&c; %zz %2 \u12 \xZ1 &#; &#x; &a;",
        );
        assert_eq!(
            found,
            Encodings {
                base64: 0,
                hex: 0,
                percent: 4,
                double_percent: 2,
                unicode_escape: 2,
                hex_escape: 1,
                html_entity: 4,
            }
        );
    }

    #[test]
    fn encodings_are_counted_in_keys_and_values_after_json_unescaping() {
        // JSON's own \u escape is decoded away; an escaped backslash leaves "\u003c" text.
        let facts = summary(br#"{"%41":"\u003c","k":"\\u003c &lt;"}"#);
        assert_eq!(fact(&facts, "encoding.percent"), "1");
        assert_eq!(fact(&facts, "encoding.unicode_escape"), "1");
        assert_eq!(fact(&facts, "encoding.html_entity"), "1");
        assert_eq!(fact(&facts, "json.longest_string"), "11");
    }
}
