//! Redaction before anything is hashed: secrets in headers, JSON fields and query
//! parameters, and card numbers anywhere in text, are replaced by a marker.

use serde_json::Value;

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";
/// What replaces a card number found in text.
pub const REDACTED_CARD: &str = "[redacted:card]";

/// Field names compared case-insensitively, ignoring `-` and `_` (`API-Key` = `api_key`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names(Vec<String>);

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

impl Names {
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> Names {
        Names(names.into_iter().map(|n| normalise(n)).collect())
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let name = normalise(name);
        self.0.contains(&name)
    }
}

/// Redacts `value` in place: every field named in `fields` (at any depth) and every card
/// number in any string.
pub(crate) fn redact_json(value: &mut Value, fields: &Names) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if fields.contains(key) {
                    *field = Value::String(REDACTED.to_owned());
                } else {
                    redact_json(field, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, fields)),
        Value::String(text) => {
            if let Some(clean) = redact_cards(text) {
                *text = clean;
            }
        }
        _ => {}
    }
}

/// A query string with the values of sensitive parameters and card numbers redacted.
pub(crate) fn redact_query(query: &str, fields: &Names) -> String {
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if fields.contains(&percent_decode(name)) => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    let joined = redacted.join("&");
    redact_cards(&joined).unwrap_or(joined)
}

/// Enough percent-decoding to compare a parameter name.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every card number (13 to 19 digits, optionally grouped by single spaces or
/// dashes, passing the Luhn check) replaced; `None` when there is none.
pub(crate) fn redact_cards(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        // The longest run of digits with single separators starting here.
        let (mut end, mut digits, mut j) = (i, Vec::new(), i);
        while j < bytes.len() && digits.len() < 19 {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b - b'0');
                j += 1;
                end = j;
            } else if (b == b' ' || b == b'-')
                && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
                && !digits.is_empty()
            {
                j += 1;
            } else {
                break;
            }
        }
        let followed_by_digit = bytes.get(end).is_some_and(u8::is_ascii_digit);
        if (13..=19).contains(&digits.len()) && !followed_by_digit && luhn(&digits) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..i]);
            out.push_str(REDACTED_CARD);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.map(|mut out| {
        out.push_str(&text[copied..]);
        out
    })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Names {
        let owned: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        Names::new(&owned)
    }

    #[test]
    fn card_numbers_are_found_in_text() {
        let cases = [
            ("4111111111111111", Some("[redacted:card]")),
            (
                "pay 4111 1111 1111 1111 now",
                Some("pay [redacted:card] now"),
            ),
            ("5500-0000-0000-0004", Some("[redacted:card]")),
            (
                "378282246310005 and 6011111111111117",
                Some("[redacted:card] and [redacted:card]"),
            ),
            ("4111111111111112", None),        // fails Luhn
            ("order 1234567890", None),        // too short
            ("41111111111111110000000", None), // a longer number, not a card
            ("4111  1111 1111 1111", None),    // double space breaks the run
            ("id=4111111111111111&x=1", Some("id=[redacted:card]&x=1")),
            ("", None),
            ("no digits", None),
        ];
        for (text, want) in cases {
            assert_eq!(redact_cards(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn json_fields_are_redacted_at_any_depth() {
        let fields = names(&["password", "card_number", "api-key"]);
        let cases = [
            (
                json!({"user": "a", "password": "hunter2"}),
                json!({"user": "a", "password": REDACTED}),
            ),
            (
                json!({"payment": {"cardNumber": "4111111111111111", "CARD-NUMBER": 5}}),
                json!({"payment": {"cardNumber": REDACTED, "CARD-NUMBER": REDACTED}}),
            ),
            (
                json!([{"ApiKey": {"nested": true}}, "4111 1111 1111 1111"]),
                json!([{"ApiKey": REDACTED}, REDACTED_CARD]),
            ),
            (json!({"q": "' OR 1=1 --"}), json!({"q": "' OR 1=1 --"})),
            (json!(42), json!(42)),
        ];
        for (mut input, want) in cases {
            redact_json(&mut input, &fields);
            assert_eq!(input, want);
        }
    }

    #[test]
    fn query_parameters_are_redacted_by_name() {
        let fields = names(&["password", "token"]);
        let cases = [
            ("q=1&password=secret", "q=1&password=[redacted]"),
            ("TOKEN=abc", "TOKEN=[redacted]"),
            ("pass%77ord=x", "pass%77ord=[redacted]"),
            ("q=' OR 1=1", "q=' OR 1=1"),
            ("card=4111111111111111", "card=[redacted:card]"),
            ("flag&password", "flag&password"),
        ];
        for (query, want) in cases {
            assert_eq!(redact_query(query, &fields), want, "{query}");
        }
    }
}
