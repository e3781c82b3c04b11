//! [`Indicators`]: URLs, addresses, path traversal, SQL and script markers in a payload's
//! strings.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::{for_each_string, hex_value, is_word, starts_with_lowercase};
use crate::hound::{Analyzer, Facts, Input};

/// Indicators found in a payload's strings.
///
/// Records the same 29 facts, in this order, for every payload, zero when nothing matched.
/// Every fact but `source` (a label) is a count; none carries payload text. Matching is ASCII case-insensitive
/// unless the table says otherwise, and each recogniser is a single forward pass with
/// bounded look-around, so the cost is linear in the payload size.
///
/// | Fact | Meaning |
/// |---|---|
/// | `source` | label: `json` when the payload parsed as JSON (its keys and string values were scanned), `raw` when its bytes were scanned as one string |
/// | `strings` | strings scanned |
/// | `strings.bytes` | their total size, bytes |
/// | `strings.percent_decoded` | strings that held `%XX` escapes and were scanned after decoding them (below) |
/// | `url` | URLs: a scheme (2 to 32 letters, digits, `+ . -`, starting with a letter), `://`, then at least one byte up to white space, a control byte or one of ``" ' < > ` `` |
/// | `url.distinct` | distinct URLs, compared on their first 128 bytes |
/// | `ipv4` | IPv4 addresses: four dot-separated decimal octets of 1 to 3 digits, each at most 255, not inside a longer dotted number or word |
/// | `ipv4.distinct` | distinct IPv4 addresses |
/// | `ipv6` | IPv6 addresses: 8 groups of 1 to 4 hex digits, or fewer with one `::`, optionally ending in an IPv4 address, not inside a word (the IPv4 tail is not counted again in `ipv4`) |
/// | `ipv6.distinct` | distinct IPv6 addresses, by value (`::1` and `0:0:0:0:0:0:0:1` are one) |
/// | `email` | e-mail addresses: a local part of 1 to 64 of `A-Z a-z 0-9 . _ % + -`, `@`, then at least two dot-separated labels of letters, digits and `-`, the last of 2 or more letters |
/// | `email.distinct` | distinct e-mail addresses, compared on their first 128 bytes |
/// | `traversal` | path traversal: two dots then a separator, where a dot may be `.`, `%2e`, `%252e` or `%c0%ae`, and a separator `/`, `\`, `%2f`, `%5c`, `%252f`, `%255c` or `%c0%af` |
/// | `traversal.encoded` | the traversals with at least one encoded part |
/// | `sql.quote` | single quotes `'` |
/// | `sql.comment` | line comments: runs of two or more `-` |
/// | `sql.block_comment` | block comment openings `/*` |
/// | `sql.semicolon` | semicolons `;` |
/// | `sql.keyword` | whole words from a fixed list (below) |
/// | `sql.union_select` | `UNION` followed by `SELECT`, with only `ALL`, `DISTINCT` or non-word bytes (spaces, comments, parentheses) between |
/// | `sql.tautology` | `OR` or `AND` followed by `x=x`: two equal operands (a word or number, or a quoted word that may lack its closing quote, such as `' OR 'a'='a`), with spaces, `+`, parentheses or short `/* */` comments allowed around them |
/// | `script.lt` | `<` |
/// | `script.gt` | `>` |
/// | `script.tag` | `<script` |
/// | `script.javascript_uri` | `javascript:`, also with tab, line feed or carriage return between its letters (browsers drop them) |
/// | `script.event_handler` | an event handler attribute: after white space, `/`, `+` or a quote, a word `on` + 3 or more letters, then `=` (white space allowed before it) |
/// | `script.backtick` | backticks `` ` `` |
/// | `script.command_subst` | shell command substitution `$(` |
/// | `script.template` | template expressions `${` |
///
/// The SQL keywords: `select union insert update delete drop alter create truncate exec
/// execute declare from where having cast convert concat char sleep benchmark waitfor
/// pg_sleep information_schema xp_cmdshell load_file outfile dumpfile` (`or` and `and` only
/// count in `sql.tautology`).
///
/// A string that holds `%XX` escapes, such as a raw query string, is scanned once after
/// decoding them (so `%3Cscript%3E` counts as a tag and `%27` as a quote); the traversal
/// recogniser, which knows the encoded forms, always reads the string as it is. The
/// `distinct` counts track at most 1,024 values each (1,024 means "at least 1,024") and
/// compare URLs and e-mail addresses case-insensitively, by a 64-bit hash.
///
/// ```
/// use tracehound::hound::{Analyzer, FactValue, Facts, Indicators, Input};
///
/// let mut facts = Facts::default();
/// let payload = br#"{"query":"id=1%27%20UNION%20SELECT%20pass%20FROM%20users--","ip":"10.0.0.1"}"#;
/// Indicators.analyze(&Input::new(payload), &mut facts);
/// let fact = |name: &str| facts.as_slice().iter().find(|f| f.name == name).map(|f| &f.value);
/// assert_eq!(fact("sql.union_select"), Some(&FactValue::Count(1)));
/// assert_eq!(fact("sql.keyword"), Some(&FactValue::Count(3)));
/// assert_eq!(fact("ipv4"), Some(&FactValue::Count(1)));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Indicators;

impl Analyzer for Indicators {
    fn name(&self) -> &'static str {
        "indicators"
    }

    fn analyze(&mut self, input: &Input<'_>, facts: &mut Facts) {
        let mut scan = Scan::default();
        let json = for_each_string(input, |text| scan.string(text));
        let counts = &scan.counts;
        facts.label("source", if json { "json" } else { "raw" });
        facts.count("strings", counts.strings);
        facts.count("strings.bytes", counts.string_bytes);
        facts.count("strings.percent_decoded", counts.percent_decoded);
        facts.count("url", counts.url);
        facts.count("url.distinct", scan.urls.count());
        facts.count("ipv4", counts.ipv4);
        facts.count("ipv4.distinct", scan.ipv4s.count());
        facts.count("ipv6", counts.ipv6);
        facts.count("ipv6.distinct", scan.ipv6s.count());
        facts.count("email", counts.email);
        facts.count("email.distinct", scan.emails.count());
        facts.count("traversal", counts.traversal);
        facts.count("traversal.encoded", counts.traversal_encoded);
        facts.count("sql.quote", counts.sql_quote);
        facts.count("sql.comment", counts.sql_comment);
        facts.count("sql.block_comment", counts.sql_block_comment);
        facts.count("sql.semicolon", counts.sql_semicolon);
        facts.count("sql.keyword", counts.sql_keyword);
        facts.count("sql.union_select", counts.sql_union_select);
        facts.count("sql.tautology", counts.sql_tautology);
        facts.count("script.lt", counts.script_lt);
        facts.count("script.gt", counts.script_gt);
        facts.count("script.tag", counts.script_tag);
        facts.count("script.javascript_uri", counts.script_javascript_uri);
        facts.count("script.event_handler", counts.script_event_handler);
        facts.count("script.backtick", counts.script_backtick);
        facts.count("script.command_subst", counts.script_command_subst);
        facts.count("script.template", counts.script_template);
    }
}

/// The counts behind the facts of the same names.
#[derive(Debug, Default)]
struct Counts {
    strings: u64,
    string_bytes: u64,
    percent_decoded: u64,
    url: u64,
    ipv4: u64,
    ipv6: u64,
    email: u64,
    traversal: u64,
    traversal_encoded: u64,
    sql_quote: u64,
    sql_comment: u64,
    sql_block_comment: u64,
    sql_semicolon: u64,
    sql_keyword: u64,
    sql_union_select: u64,
    sql_tautology: u64,
    script_lt: u64,
    script_gt: u64,
    script_tag: u64,
    script_javascript_uri: u64,
    script_event_handler: u64,
    script_backtick: u64,
    script_command_subst: u64,
    script_template: u64,
}

/// Most values a `distinct` count tracks.
const MAX_DISTINCT: usize = 1024;

/// Bytes of a URL or e-mail address that its fingerprint covers.
const FINGERPRINT_LEN: usize = 128;

/// A capped set of fingerprints. A sorted vector rather than a hash set: no seed to choose
/// (with a fixed one, crafted inputs could pile into one bucket), and at most
/// [`MAX_DISTINCT`] insertions, each a binary search and a short move.
#[derive(Debug, Default)]
struct Distinct {
    sorted: Vec<u64>,
}

impl Distinct {
    fn insert(&mut self, fingerprint: u64) {
        if self.sorted.len() < MAX_DISTINCT
            && let Err(at) = self.sorted.binary_search(&fingerprint)
        {
            self.sorted.insert(at, fingerprint);
        }
    }

    fn count(&self) -> u64 {
        self.sorted.len() as u64
    }
}

/// A 64-bit hash of the first [`FINGERPRINT_LEN`] bytes of `text`, ASCII-lowercased. The
/// seed is fixed so that counts are deterministic; crafted inputs that collide can only make
/// a `distinct` count smaller.
fn fingerprint(text: &[u8]) -> u64 {
    let mut lower = [0u8; FINGERPRINT_LEN];
    let len = text.len().min(FINGERPRINT_LEN);
    for (out, byte) in lower.iter_mut().zip(&text[..len]) {
        *out = byte.to_ascii_lowercase();
    }
    FixedState::with_seed(0).hash_one(&lower[..len])
}

/// The state of one payload's scan.
#[derive(Debug, Default)]
struct Scan {
    counts: Counts,
    urls: Distinct,
    ipv4s: Distinct,
    ipv6s: Distinct,
    emails: Distinct,
    /// Scratch space for percent-decoded strings, reused across strings.
    decoded: Vec<u8>,
}

/// Per-string state of [`Scan::text`].
#[derive(Debug, Default)]
struct Cursor {
    /// End of the last IPv6 address, whose IPv4 tail is not an IPv4 address of its own.
    ipv4_quiet_until: usize,
    /// The end of the last URL: URLs nested in it (`?next=http://...`) end there too, and
    /// remembering it keeps the scan linear.
    url_end: Option<usize>,
    /// The last word was `union` (or `all` or `distinct` after one).
    after_union: bool,
}

impl Scan {
    fn string(&mut self, text: &[u8]) {
        self.counts.strings += 1;
        self.counts.string_bytes += text.len() as u64;
        if percent_decode(text, &mut self.decoded) {
            self.counts.percent_decoded += 1;
            // Traversals are counted in the text as it is, which knows the encoded forms.
            for (at, byte) in text.iter().enumerate() {
                if matches!(byte, b'.' | b'%') {
                    count_traversal(text, at, &mut self.counts);
                }
            }
            let decoded = std::mem::take(&mut self.decoded);
            self.text(&decoded, false);
            self.decoded = decoded;
        } else {
            self.text(text, true);
        }
    }

    /// Runs the recognisers over `text` in one pass, the traversal one only if `traversals`:
    /// a word is handled as a whole, any other byte on its own.
    fn text(&mut self, text: &[u8], traversals: bool) {
        let mut cursor = Cursor::default();
        let mut at = 0;
        while let Some(&byte) = text.get(at) {
            if is_word(byte) {
                let end = word_end(text, at);
                self.word(text, at, end, &mut cursor);
                at = end;
                continue;
            }
            let next = text.get(at + 1).copied();
            let counts = &mut self.counts;
            match (byte, next) {
                (b'\'', _) => counts.sql_quote += 1,
                (b'-', Some(b'-')) if at == 0 || text[at - 1] != b'-' => counts.sql_comment += 1,
                (b';', _) => counts.sql_semicolon += 1,
                (b'/', Some(b'*')) => counts.sql_block_comment += 1,
                (b'<', _) => {
                    counts.script_lt += 1;
                    if starts_with_lowercase(text, at + 1, b"script") {
                        counts.script_tag += 1;
                    }
                }
                (b'>', _) => counts.script_gt += 1,
                (b'`', _) => counts.script_backtick += 1,
                (b'$', Some(b'(')) => counts.script_command_subst += 1,
                (b'$', Some(b'{')) => counts.script_template += 1,
                (b':', Some(b'/')) if text.get(at + 2) == Some(&b'/') => {
                    self.url(text, at, &mut cursor);
                }
                (b':', Some(b':')) if ipv6_may_start(text, at) => self.ipv6(text, at, &mut cursor),
                (b'@', _) => self.email(text, at),
                (b'.' | b'%', _) if traversals => count_traversal(text, at, counts),
                _ => {}
            }
            at += 1;
        }
    }

    /// Handles the word `text[start..end]`: addresses starting with it, SQL and script words.
    fn word(&mut self, text: &[u8], start: usize, end: usize, cursor: &mut Cursor) {
        let first = text[start];
        if first.is_ascii_hexdigit() && ipv6_may_start(text, start) {
            self.ipv6(text, start, cursor);
        }
        if first.is_ascii_digit()
            && start >= cursor.ipv4_quiet_until
            && ipv4_may_start(text, start)
            && let Some((_, address)) =
                parse_ipv4(text, start).filter(|(end, _)| ipv4_ends(text, *end))
        {
            self.counts.ipv4 += 1;
            self.ipv4s.insert(u64::from(address));
        }

        let mut buffer = [0u8; 32];
        let Some(word) = buffer.get_mut(..end - start) else {
            cursor.after_union = false;
            return;
        };
        for (lower, byte) in word.iter_mut().zip(&text[start..end]) {
            *lower = byte.to_ascii_lowercase();
        }
        let word = &*word;
        let counts = &mut self.counts;
        if is_sql_keyword(word) {
            counts.sql_keyword += 1;
        }
        match word {
            b"union" => cursor.after_union = true,
            b"all" | b"distinct" => {}
            b"select" if cursor.after_union => {
                counts.sql_union_select += 1;
                cursor.after_union = false;
            }
            _ => cursor.after_union = false,
        }
        if matches!(word, b"or" | b"and") && is_tautology(text, end) {
            counts.sql_tautology += 1;
        }
        if let [b'o', b'n', event @ ..] = word
            && event.len() >= 3
            && event.iter().all(u8::is_ascii_lowercase)
            && is_event_handler(text, start, end)
        {
            counts.script_event_handler += 1;
        }
        if word[0] == b'j' && is_javascript_uri(text, start) {
            counts.script_javascript_uri += 1;
        }
    }

    /// Counts a URL whose `://` starts at `colon`, if a scheme precedes it.
    fn url(&mut self, text: &[u8], colon: usize, cursor: &mut Cursor) {
        const MAX_SCHEME: usize = 32;
        let run = text[..colon]
            .iter()
            .rev()
            .take(MAX_SCHEME + 1)
            .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
            .count();
        if run > MAX_SCHEME {
            return;
        }
        let Some(start) = (colon - run..colon).find(|&at| text[at].is_ascii_alphabetic()) else {
            return;
        };
        if colon - start < 2 {
            return;
        }
        let rest = colon + 3;
        let end = match cursor.url_end {
            Some(end) if rest <= end => end,
            _ => {
                let end = text[rest..]
                    .iter()
                    .position(|&b| is_url_terminator(b))
                    .map_or(text.len(), |len| rest + len);
                cursor.url_end = Some(end);
                end
            }
        };
        if end > rest {
            self.counts.url += 1;
            self.urls.insert(fingerprint(&text[start..end]));
        }
    }

    /// Counts an IPv6 address starting at `start`, if there is one.
    fn ipv6(&mut self, text: &[u8], start: usize, cursor: &mut Cursor) {
        if let Some((end, address)) = parse_ipv6(text, start) {
            self.counts.ipv6 += 1;
            self.ipv6s
                .insert(FixedState::with_seed(0).hash_one(address));
            cursor.ipv4_quiet_until = end;
        }
    }

    /// Counts an e-mail address around the `@` at `at`, if there is one.
    fn email(&mut self, text: &[u8], at: usize) {
        if let Some((start, end)) = email_around(text, at) {
            self.counts.email += 1;
            self.emails.insert(fingerprint(&text[start..end]));
        }
    }
}

fn word_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|&b| !is_word(b))
        .map_or(text.len(), |len| start + len)
}

/// Decodes the `%XX` escapes of `text` into `out`; false (and `out` unspecified) when there
/// are none.
fn percent_decode(text: &[u8], out: &mut Vec<u8>) -> bool {
    if !text.contains(&b'%') {
        return false;
    }
    out.clear();
    out.reserve(text.len());
    let mut decoded_any = false;
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        let escaped = match (byte, text.get(at + 1..at + 3)) {
            (b'%', Some(&[high, low])) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                out.push(high << 4 | low);
                decoded_any = true;
                at += 3;
            }
            None => {
                out.push(byte);
                at += 1;
            }
        }
    }
    decoded_any
}

fn is_url_terminator(byte: u8) -> bool {
    byte <= b' ' || matches!(byte, b'"' | b'\'' | b'<' | b'>' | b'`' | 0x7f)
}

fn is_sql_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"select"
            | b"union"
            | b"insert"
            | b"update"
            | b"delete"
            | b"drop"
            | b"alter"
            | b"create"
            | b"truncate"
            | b"exec"
            | b"execute"
            | b"declare"
            | b"from"
            | b"where"
            | b"having"
            | b"cast"
            | b"convert"
            | b"concat"
            | b"char"
            | b"sleep"
            | b"benchmark"
            | b"waitfor"
            | b"pg_sleep"
            | b"information_schema"
            | b"xp_cmdshell"
            | b"load_file"
            | b"outfile"
            | b"dumpfile"
    )
}

/// Most bytes [`skip_sql_gap`] skips.
const MAX_SQL_GAP: usize = 64;

/// Skips what SQL allows between tokens: white space, `+` (a space in a query string),
/// parentheses and `/* */` comments, at most [`MAX_SQL_GAP`] bytes in all.
fn skip_sql_gap(text: &[u8], start: usize) -> usize {
    let mut at = start;
    while at - start < MAX_SQL_GAP {
        match text.get(at..) {
            Some(
                [
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' | b'+' | b'(' | b')',
                    ..,
                ],
            ) => {
                at += 1;
            }
            Some([b'/', b'*', rest @ ..]) => {
                let window = &rest[..rest.len().min(MAX_SQL_GAP)];
                match window.windows(2).position(|pair| pair == b"*/") {
                    Some(len) => at += len + 4,
                    None => break,
                }
            }
            _ => break,
        }
    }
    at
}

/// Longest SQL operand [`sql_operand`] reads.
const MAX_OPERAND: usize = 64;

/// An operand at `at`: a word, or a quoted word whose closing quote may be missing (the
/// application supplies it). Returns the word and the end of the operand.
fn sql_operand(text: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let quote = match text.get(at) {
        Some(&quote @ (b'\'' | b'"')) => Some(quote),
        Some(&b) if is_word(b) => None,
        _ => return None,
    };
    let start = at + usize::from(quote.is_some());
    let len = text[start..]
        .iter()
        .take(MAX_OPERAND + 1)
        .take_while(|&&b| is_word(b))
        .count();
    if len > MAX_OPERAND {
        return None;
    }
    let mut end = start + len;
    if quote.is_some() && text.get(end) == quote.as_ref() {
        end += 1;
    }
    Some((&text[start..start + len], end))
}

/// After `or` or `and` ending at `at`: `x=x`.
fn is_tautology(text: &[u8], at: usize) -> bool {
    let Some((left, end)) = sql_operand(text, skip_sql_gap(text, at)) else {
        return false;
    };
    let equals = skip_sql_gap(text, end);
    if text.get(equals) != Some(&b'=') {
        return false;
    }
    sql_operand(text, skip_sql_gap(text, equals + 1))
        .is_some_and(|(right, _)| left.eq_ignore_ascii_case(right))
}

/// The word `text[start..end]` sits where an HTML attribute does and is followed by `=`.
fn is_event_handler(text: &[u8], start: usize, end: usize) -> bool {
    let attribute_position = start > 0
        && matches!(
            text[start - 1],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'+' | b'"' | b'\'' | b'`'
        );
    let gap = text[end..]
        .iter()
        .take(16)
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        .count();
    attribute_position && text.get(end + gap) == Some(&b'=')
}

/// `javascript:` starts at `start`, maybe with tabs and line breaks between its letters.
fn is_javascript_uri(text: &[u8], start: usize) -> bool {
    let skip_ignorable = |at: usize| {
        at + text[at.min(text.len())..]
            .iter()
            .take(8)
            .take_while(|b| matches!(b, b'\t' | b'\n' | b'\r'))
            .count()
    };
    let mut at = start;
    for (index, &expected) in b"javascript:".iter().enumerate() {
        if index > 0 {
            at = skip_ignorable(at);
        }
        if text
            .get(at)
            .is_none_or(|b| b.to_ascii_lowercase() != expected)
        {
            return false;
        }
        at += 1;
    }
    true
}

/// An IPv4 address may start at `at` (not inside a word or a dotted number).
fn ipv4_may_start(text: &[u8], at: usize) -> bool {
    at == 0 || !(is_word(text[at - 1]) || text[at - 1] == b'.')
}

/// An IPv4 address ending at `end` is not part of a longer word or dotted number.
fn ipv4_ends(text: &[u8], end: usize) -> bool {
    match text.get(end) {
        Some(&b) if is_word(b) => false,
        Some(b'.') => !text.get(end + 1).is_some_and(u8::is_ascii_digit),
        _ => true,
    }
}

/// Four dot-separated octets at `start`: the address's end and value.
fn parse_ipv4(text: &[u8], start: usize) -> Option<(usize, u32)> {
    let mut at = start;
    let mut address = 0u32;
    for octet in 0..4 {
        if octet > 0 {
            if text.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let digits = text
            .get(at..)?
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=3).contains(&digits) {
            return None;
        }
        let value = text[at..at + digits]
            .iter()
            .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
        if value > 255 {
            return None;
        }
        address = address << 8 | value;
        at += digits;
    }
    Some((at, address))
}

/// An IPv6 address may start at `at` (not inside a word, a dotted number or another address).
fn ipv6_may_start(text: &[u8], at: usize) -> bool {
    at == 0 || !(is_word(text[at - 1]) || matches!(text[at - 1], b':' | b'.'))
}

/// An IPv6 address at `start`: its end and value.
fn parse_ipv6(text: &[u8], start: usize) -> Option<(usize, u128)> {
    // Groups before and after the "::", if any.
    let mut groups = [[0u16; 8]; 2];
    let mut counts = [0usize; 2];
    let mut compressed = false;
    let mut at = start;
    if text[at..].starts_with(b"::") {
        compressed = true;
        at += 2;
    }
    loop {
        let side = usize::from(compressed);
        let digits = text[at..]
            .iter()
            .take(5)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits == 0 {
            // Only an address ending in "::" (such as "fe80::") has no last group.
            if compressed && text[..at].ends_with(b"::") {
                break;
            }
            return None;
        }
        if digits > 4 || counts[0] + counts[1] == 8 {
            return None;
        }
        if text.get(at + digits) == Some(&b'.') {
            let (end, ipv4) = parse_ipv4(text, at)?;
            if counts[0] + counts[1] > 6 {
                return None;
            }
            groups[side][counts[side]] = (ipv4 >> 16) as u16;
            groups[side][counts[side] + 1] = ipv4 as u16;
            counts[side] += 2;
            at = end;
            break;
        }
        groups[side][counts[side]] = text[at..at + digits]
            .iter()
            .filter_map(|&b| hex_value(b))
            .fold(0u16, |group, digit| group << 4 | u16::from(digit));
        counts[side] += 1;
        at += digits;
        if text[at..].starts_with(b"::") {
            if compressed {
                return None;
            }
            compressed = true;
            at += 2;
        } else if text.get(at) == Some(&b':') && text.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
        {
            at += 1;
        } else {
            break;
        }
    }
    let total = counts[0] + counts[1];
    let complete = if compressed { total <= 7 } else { total == 8 };
    let followed_by_word = match text.get(at) {
        Some(&b) => {
            is_word(b) || b == b':' || b == b'.' && text.get(at + 1).is_some_and(|&b| is_word(b))
        }
        None => false,
    };
    if !complete || total == 0 || followed_by_word {
        return None;
    }
    let mut address = 0u128;
    for (index, group) in groups[0][..counts[0]].iter().enumerate() {
        address |= u128::from(*group) << (16 * (7 - index));
    }
    for (index, group) in groups[1][..counts[1]].iter().enumerate() {
        address |= u128::from(*group) << (16 * (counts[1] - 1 - index));
    }
    Some((at, address))
}

fn is_email_local(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// The e-mail address around the `@` at `at`, as `(start, end)`.
fn email_around(text: &[u8], at: usize) -> Option<(usize, usize)> {
    const MAX_LOCAL: usize = 64;
    const MAX_DOMAIN: usize = 253;
    const MAX_LABEL: usize = 63;

    let local = text[..at]
        .iter()
        .rev()
        .take(MAX_LOCAL + 1)
        .take_while(|&&b| is_email_local(b))
        .count();
    if local > MAX_LOCAL {
        return None;
    }
    // A local part does not start with a dot.
    let start = (at - local..at).find(|&index| text[index] != b'.')?;

    let domain = at + 1;
    let mut labels = 0;
    let mut label_start;
    let mut end = domain;
    loop {
        let len = text[end..]
            .iter()
            .take(MAX_LABEL + 1)
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-')
            .count();
        if len == 0 || len > MAX_LABEL || end + len - domain > MAX_DOMAIN {
            return None;
        }
        labels += 1;
        label_start = end;
        end += len;
        let more = text.get(end) == Some(&b'.')
            && text
                .get(end + 1)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'-');
        if !more {
            break;
        }
        end += 1;
    }
    let top_level = &text[label_start..end];
    (labels >= 2 && top_level.len() >= 2 && top_level.iter().all(u8::is_ascii_alphabetic))
        .then_some((start, end))
}

/// Counts a path traversal starting at `at` (see [`Indicators`]).
fn count_traversal(text: &[u8], at: usize, counts: &mut Counts) {
    let Some((first, first_encoded)) = traversal_dot(text, at) else {
        return;
    };
    let Some((second, second_encoded)) = traversal_dot(text, at + first) else {
        return;
    };
    let Some(separator_encoded) = traversal_separator(text, at + first + second) else {
        return;
    };
    counts.traversal += 1;
    if first_encoded || second_encoded || separator_encoded {
        counts.traversal_encoded += 1;
    }
}

/// A dot at `at`: its length and whether it is encoded.
fn traversal_dot(text: &[u8], at: usize) -> Option<(usize, bool)> {
    if text.get(at) == Some(&b'.') {
        return Some((1, false));
    }
    [&b"%2e"[..], b"%252e", b"%c0%ae"]
        .into_iter()
        .find(|encoded| starts_with_lowercase(text, at, encoded))
        .map(|encoded| (encoded.len(), true))
}

/// A path separator at `at`: whether it is encoded.
fn traversal_separator(text: &[u8], at: usize) -> Option<bool> {
    match text.get(at)? {
        b'/' | b'\\' => Some(false),
        b'%' => [&b"%2f"[..], b"%5c", b"%252f", b"%255c", b"%c0%af"]
            .into_iter()
            .any(|encoded| starts_with_lowercase(text, at, encoded))
            .then_some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::hound::FactValue;

    fn indicators(bytes: &[u8]) -> Vec<(String, FactValue)> {
        let mut facts = Facts::default();
        Indicators.analyze(&Input::new(bytes), &mut facts);
        facts
            .as_slice()
            .iter()
            .map(|fact| (fact.name.clone(), fact.value.clone()))
            .collect()
    }

    /// The nonzero counts, by name.
    fn found(bytes: &[u8]) -> Vec<(String, u64)> {
        indicators(bytes)
            .into_iter()
            .filter_map(|(name, value)| match value {
                FactValue::Count(n) if n > 0 && !name.starts_with("strings") => Some((name, n)),
                _ => None,
            })
            .collect()
    }

    fn expect(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    /// The count of one fact over a raw (non-JSON) text.
    fn count(text: &str, name: &str) -> u64 {
        indicators(text.as_bytes())
            .into_iter()
            .find_map(|(n, value)| match value {
                FactValue::Count(v) if n == name => Some(v),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no fact {name}"))
    }

    #[test]
    fn nothing_found_still_reports_every_fact() {
        let facts = indicators(b"");
        let names: Vec<&str> = facts.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "source",
                "strings",
                "strings.bytes",
                "strings.percent_decoded",
                "url",
                "url.distinct",
                "ipv4",
                "ipv4.distinct",
                "ipv6",
                "ipv6.distinct",
                "email",
                "email.distinct",
                "traversal",
                "traversal.encoded",
                "sql.quote",
                "sql.comment",
                "sql.block_comment",
                "sql.semicolon",
                "sql.keyword",
                "sql.union_select",
                "sql.tautology",
                "script.lt",
                "script.gt",
                "script.tag",
                "script.javascript_uri",
                "script.event_handler",
                "script.backtick",
                "script.command_subst",
                "script.template",
            ]
        );
        assert_eq!(facts[0].1, FactValue::Label("raw".into()));
        assert_eq!(facts[1].1, FactValue::Count(1));
        assert!(
            facts[2..]
                .iter()
                .all(|(_, value)| *value == FactValue::Count(0))
        );
        assert_eq!(found(br#"{"method":"GET","path":"/"}"#), []);
    }

    #[test]
    fn sql_injection() {
        assert_eq!(
            found(br#"{"query":"id=1' UNION ALL SELECT username, password FROM users WHERE '1'='1' OR 1=1; -- x"}"#),
            expect(&[
                ("sql.quote", 5),
                ("sql.comment", 1),
                ("sql.semicolon", 1),
                ("sql.keyword", 4),
                ("sql.union_select", 1),
                ("sql.tautology", 1),
            ])
        );
        assert_eq!(count("' or 'a'='a", "sql.tautology"), 1);
        assert_eq!(count("\" OR \"\"=\"", "sql.tautology"), 1);
        assert_eq!(count("x'+or+(1)=(1)", "sql.tautology"), 1);
        assert_eq!(count("1 AND/**/2=2", "sql.tautology"), 1);
        assert_eq!(count("UNION/**/SELECT", "sql.union_select"), 1);
        assert_eq!(count("1 UNION(SELECT 1)", "sql.union_select"), 1);
        assert_eq!(count("/*!50000select*/", "sql.block_comment"), 1);
        // Near misses: unequal operands, a word containing "or", keywords inside words.
        assert_eq!(count("a or 1=2", "sql.tautology"), 0);
        assert_eq!(count("color 1=1", "sql.tautology"), 0);
        assert_eq!(count("selection unionized fromage", "sql.keyword"), 0);
        assert_eq!(count("union of the selected", "sql.union_select"), 0);
        // "---" is one comment; "a-b" none.
        assert_eq!(count("--- a-b --", "sql.comment"), 2);
    }

    #[test]
    fn cross_site_scripting() {
        assert_eq!(
            found(br#"{"q":"<ScRiPt>alert(`x`)</script><img src=x onerror=alert(1)><a href='java&#x09;script:x' x=\"javascript:y\">"}"#),
            expect(&[
                ("sql.quote", 2),
                ("sql.semicolon", 1),
                ("script.lt", 4),
                ("script.gt", 4),
                ("script.tag", 1),
                ("script.javascript_uri", 1),
                ("script.event_handler", 1),
                ("script.backtick", 2),
            ])
        );
        assert_eq!(count("<svg/onload =alert(1)>", "script.event_handler"), 1);
        assert_eq!(count("java\tscr\nipt:alert(1)", "script.javascript_uri"), 1);
        assert_eq!(count("%3Cscript%3E", "script.tag"), 1);
        assert_eq!(count("$(id) ${jndi:ldap://x}", "script.command_subst"), 1);
        assert_eq!(count("$(id) ${jndi:ldap://x}", "script.template"), 1);
        // Near misses: a query parameter, a short name, not a word start.
        assert_eq!(count("a=1&onion=2", "script.event_handler"), 0);
        assert_eq!(count(" one=1", "script.event_handler"), 0);
        assert_eq!(count(" xonerror=1", "script.event_handler"), 0);
        assert_eq!(count("myjavascript:x", "script.javascript_uri"), 0);
    }

    #[test]
    fn path_traversal() {
        assert_eq!(
            found(br#"{"path":"/static/../../etc/passwd","q":"..%2f..%2F%2e%2e/%2E%2E%5C..\\win.ini %252e%252e%252f"}"#),
            expect(&[("traversal", 8), ("traversal.encoded", 5)])
        );
        assert_eq!(count("%c0%ae%c0%ae%c0%af", "traversal.encoded"), 1);
        // Near misses: two dots without a separator, a single dot.
        assert_eq!(count("a..b ./x .%2e", "traversal"), 0);
        assert_eq!(count(".../", "traversal"), 1);
    }

    #[test]
    fn ipv4_addresses_and_near_misses() {
        assert_eq!(
            count("10.0.0.1 192.168.1.255:80 [10.0.0.1] 0.0.0.0.", "ipv4"),
            4
        );
        assert_eq!(
            count("10.0.0.1 192.168.1.255:80 [10.0.0.1]", "ipv4.distinct"),
            2
        );
        for near_miss in [
            "999.1.1.1",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "v1.2.3.4",
            "1.2.3.4a",
            "1.2.3.1000",
            "1..2.3.4",
            "x.1.2.3.4",
        ] {
            assert_eq!(count(near_miss, "ipv4"), 0, "{near_miss}");
        }
    }

    #[test]
    fn ipv6_addresses_and_near_misses() {
        for address in [
            "::1",
            "fe80::1",
            "fe80::",
            "2001:db8::8a2e:370:7334",
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
            "[::ffff:192.0.2.1]:443",
            "64:ff9b::192.0.2.33",
            "fe80::1%eth0",
        ] {
            assert_eq!(count(address, "ipv6"), 1, "{address}");
        }
        assert_eq!(count("::ffff:192.0.2.1", "ipv4"), 0);
        assert_eq!(count("::1 0:0:0:0:0:0:0:1 ::2", "ipv6.distinct"), 2);
        for near_miss in [
            "12:30:45",
            "00:1a:2b:3c:4d:5e",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::1",
            "std::vector",
            "::",
            ":::",
            "1:2:3:4:5:6:7:8x",
            "g::1",
        ] {
            assert_eq!(count(near_miss, "ipv6"), 0, "{near_miss}");
        }
    }

    #[test]
    fn emails_and_urls() {
        assert_eq!(
            count("mail Alice.B+tag@Example.co.uk, bob@example.com.", "email"),
            2
        );
        assert_eq!(
            count(
                "a@example.com A@EXAMPLE.COM b@example.com",
                "email.distinct"
            ),
            2
        );
        for near_miss in [
            "@example.com",
            "a@example",
            "a@example.c0m",
            "a@.com",
            "a@b.c",
            "a@@b.co",
        ] {
            assert_eq!(count(near_miss, "email"), 0, "{near_miss}");
        }
        let urls = "go http://a.example/x?next=https%3A%2F%2Fb.example%2F then FILE:///etc/passwd";
        assert_eq!(count(urls, "url"), 3);
        assert_eq!(count(urls, "url.distinct"), 3);
        assert_eq!(count(urls, "strings.percent_decoded"), 1);
        assert_eq!(
            count("HTTP://A.example/ http://a.EXAMPLE/", "url.distinct"),
            1
        );
        for near_miss in ["http://", "c://x", "://x", "http:/x", "1://x"] {
            assert_eq!(count(near_miss, "url"), 0, "{near_miss}");
        }
    }

    #[test]
    fn distinct_counts_are_capped() {
        let many: String = (0..3000)
            .map(|n| format!("10.{}.{}.1 ", n / 256, n % 256))
            .collect();
        assert_eq!(count(&many, "ipv4"), 3000);
        assert_eq!(count(&many, "ipv4.distinct"), 1024);
    }

    proptest! {
        #[test]
        fn ipv4_agrees_with_std(bits in any::<u32>(), text in "[0-9.]{0,20}") {
            let shown = Ipv4Addr::from(bits).to_string();
            prop_assert_eq!(parse_ipv4(shown.as_bytes(), 0), Some((shown.len(), bits)));

            let whole = parse_ipv4(text.as_bytes(), 0)
                .filter(|(end, _)| *end == text.len())
                .map(|(_, bits)| bits);
            match text.parse::<Ipv4Addr>() {
                Ok(std) => prop_assert_eq!(whole, Some(u32::from(std))),
                // The standard library also refuses leading zeros, which this recogniser takes.
                Err(_) => prop_assert!(
                    whole.is_none() || text.split('.').any(|octet| octet.len() > 1 && octet.starts_with('0'))
                ),
            }
        }

        #[test]
        fn ipv6_agrees_with_std(bits in any::<u128>(), text in "[0-9a-fA-F:]{0,40}") {
            let address = Ipv6Addr::from(bits);
            let full = address.segments().map(|group| format!("{group:x}")).join(":");
            for shown in [address.to_string(), full] {
                let parsed = parse_ipv6(shown.as_bytes(), 0);
                if shown == "::" {
                    prop_assert_eq!(parsed, None);
                } else {
                    prop_assert_eq!(parsed, Some((shown.len(), bits)), "{}", shown);
                }
            }

            let whole = parse_ipv6(text.as_bytes(), 0)
                .filter(|(end, _)| *end == text.len())
                .map(|(_, bits)| bits);
            let std = text.parse::<Ipv6Addr>().ok().map(u128::from);
            // "::" alone is an address, but too bare to count as an indicator.
            prop_assert_eq!(whole, if text == "::" { None } else { std });
        }
    }

    #[test]
    fn nested_urls_stay_linear() {
        // Every "://" starts a URL that runs to the end of the text; the scan still reads each
        // byte a bounded number of times (this would take minutes if it did not).
        let nested = "ab://".repeat(200_000);
        // The last "ab://" has nothing after it.
        assert_eq!(count(&nested, "url"), 199_999);
    }
}
