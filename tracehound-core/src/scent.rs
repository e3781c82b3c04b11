//! The input unit: a [`Scent`] is what a request smells like, plus an optional verdict from an
//! external detector.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use crate::clock::Timestamp;

/// Longest source key kept, in bytes; longer keys are cut at a character boundary.
///
/// A source key is usually an address or a service name. Capping it bounds the memory the
/// rate limiter spends per tracked key, whatever an adapter derives keys from.
pub const MAX_SOURCE_KEY_LEN: usize = 256;

/// Who sent a request: the key rate limiting is applied to (an address, a prefix, a service
/// name). Cheap to clone.
///
/// ```
/// use tracehound::SourceKey;
///
/// let key = SourceKey::new("203.0.113.7");
/// assert_eq!(key.as_str(), "203.0.113.7");
/// assert_eq!(SourceKey::new("x".repeat(1000)).as_str().len(), tracehound::MAX_SOURCE_KEY_LEN);
/// ```
#[derive(Clone)]
pub struct SourceKey(Arc<str>);

impl SourceKey {
    /// A key from `text`, cut to [`MAX_SOURCE_KEY_LEN`] bytes at a character boundary.
    pub fn new(text: impl AsRef<str>) -> Self {
        let text = text.as_ref();
        let mut end = text.len().min(MAX_SOURCE_KEY_LEN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self(Arc::from(&text[..end]))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for SourceKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for SourceKey {}

impl Hash for SourceKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Borrow<str> for SourceKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SourceKey {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for SourceKey {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

/// How bad a threat is, as the detector judged it. Orders `Low < Medium < High < Critical`;
/// the quarantine evicts lower severities first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: evicted last.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name (`low`, `medium`, `high`, `critical`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Rank from 0 (low) to 3 (critical); also the code stored in audit records.
    pub const fn rank(self) -> u8 {
        self as u8
    }

    /// The severity of a rank (see [`rank`](Self::rank)), if it is one.
    pub const fn from_rank(rank: u8) -> Option<Severity> {
        match rank {
            0 => Some(Severity::Low),
            1 => Some(Severity::Medium),
            2 => Some(Severity::High),
            3 => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(|_| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&text),
                &"one of low, medium, high, critical",
            )
        })
    }
}

impl FromStr for Severity {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str() == s)
            .ok_or(ParseError::Severity)
    }
}

/// Longest custom category name, in bytes.
pub const MAX_CATEGORY_LEN: usize = 64;

/// What kind of threat the detector saw. Part of the [`Signature`](crate::Signature): the same
/// payload under two categories is two pieces of evidence.
///
/// Custom names are validated: 1 to 64 characters from `a-z 0-9 _ . -`, starting with a
/// letter. A custom name equal to a built-in one *is* the built-in category.
///
/// ```
/// use tracehound::Category;
///
/// assert_eq!("injection".parse::<Category>().unwrap(), Category::Injection);
/// let bot = Category::custom("credential-stuffing").unwrap();
/// assert_eq!(bot.as_str(), "credential-stuffing");
/// assert!(Category::custom("has:colon").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    /// SQL, command, script or other injection.
    Injection,
    /// Distributed denial of service.
    Ddos,
    /// Request flooding.
    Flood,
    /// Spam.
    Spam,
    /// Malware delivery.
    Malware,
    /// A threat the detector could not classify.
    Unknown,
    /// A validated custom name; build one with [`Category::custom`].
    Custom(CustomCategory),
}

/// A validated custom category name. Built only through [`Category::custom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomCategory(Arc<str>);

impl Category {
    const BUILT_IN: [Category; 6] = [
        Category::Injection,
        Category::Ddos,
        Category::Flood,
        Category::Spam,
        Category::Malware,
        Category::Unknown,
    ];

    /// A category from a name: a built-in one if the name is one, otherwise a validated
    /// custom category.
    pub fn custom(name: &str) -> Result<Category, ParseError> {
        if let Some(built_in) = Self::BUILT_IN.iter().find(|c| c.as_str() == name) {
            return Ok(built_in.clone());
        }
        validate_custom_name(name)?;
        Ok(Category::Custom(CustomCategory(Arc::from(name))))
    }

    /// The name, as it appears in signatures.
    pub fn as_str(&self) -> &str {
        match self {
            Category::Injection => "injection",
            Category::Ddos => "ddos",
            Category::Flood => "flood",
            Category::Spam => "spam",
            Category::Malware => "malware",
            Category::Unknown => "unknown",
            Category::Custom(custom) => &custom.0,
        }
    }
}

fn validate_custom_name(name: &str) -> Result<(), ParseError> {
    let invalid = |reason: &'static str| ParseError::Category { reason };
    let bytes = name.as_bytes();
    match bytes.first() {
        None => return Err(invalid("a category name cannot be empty")),
        Some(first) if !first.is_ascii_lowercase() => {
            return Err(invalid("a category name starts with a letter a-z"));
        }
        Some(_) => {}
    }
    if bytes.len() > MAX_CATEGORY_LEN {
        return Err(invalid("a category name is at most 64 characters"));
    }
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(b);
    if !bytes.iter().all(allowed) {
        return Err(invalid(
            "a category name uses only a-z, 0-9, '_', '.' and '-'",
        ));
    }
    Ok(())
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::custom(s)
    }
}

/// An external detector's verdict: this request is a threat of this kind and severity.
///
/// Tracehound never produces one itself; it only acts on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ThreatSignal {
    /// What kind of threat.
    pub category: Category,
    /// How severe.
    pub severity: Severity,
}

impl ThreatSignal {
    /// A verdict of `category` at `severity`.
    pub fn new(category: Category, severity: Severity) -> Self {
        Self { category, severity }
    }
}

/// One observed request, as tracehound sees it: who sent it, a JSON description of it, and
/// the detector's verdict if there was one.
///
/// ```
/// use serde_json::json;
/// use tracehound::{Category, Scent, Severity};
///
/// let scent = Scent::new("198.51.100.4", json!({"path": "/login", "body": "' OR 1=1 --"}))
///     .with_threat(Category::Injection, Severity::High);
/// assert!(scent.threat().is_some());
/// ```
#[derive(Clone)]
pub struct Scent {
    source: SourceKey,
    payload: Value,
    threat: Option<ThreatSignal>,
    captured: Option<Timestamp>,
}

/// Shows the payload's shape, never its content: scents end up in logs and panics.
impl fmt::Debug for Scent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scent")
            .field("source", &self.source)
            .field("payload", &PayloadShape(&self.payload))
            .field("threat", &self.threat)
            .field("captured", &self.captured)
            .finish()
    }
}

struct PayloadShape<'a>(&'a Value);

impl fmt::Debug for PayloadShape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("<null>"),
            Value::Bool(_) => f.write_str("<bool>"),
            Value::Number(_) => f.write_str("<number>"),
            Value::String(s) => write!(f, "<string of {} bytes>", s.len()),
            Value::Array(a) => write!(f, "<array of {} items>", a.len()),
            Value::Object(o) => write!(f, "<object of {} members>", o.len()),
        }
    }
}

impl Scent {
    /// A scent with no threat signal (it will be [`Clean`](crate::Outcome::Clean)).
    ///
    /// The payload of a scent without a threat signal is never read, so an adapter that
    /// learns the verdict first may pass `Value::Null` for clean requests and skip building
    /// one.
    pub fn new(source: impl Into<SourceKey>, payload: Value) -> Self {
        Self {
            source: source.into(),
            payload,
            threat: None,
            captured: None,
        }
    }

    /// Adds a detector's verdict.
    pub fn with_threat(self, category: Category, severity: Severity) -> Self {
        self.with_signal(ThreatSignal::new(category, severity))
    }

    /// Adds a detector's verdict.
    pub fn with_signal(mut self, signal: ThreatSignal) -> Self {
        self.threat = Some(signal);
        self
    }

    /// Sets the capture time. Without it, tracehound's clock supplies the time of
    /// [`intercept`](crate::Tracehound::intercept). A capture time in the future is treated
    /// as now, so a caller cannot make evidence look newer than it is to dodge eviction or
    /// expiry.
    pub fn captured_at(mut self, at: Timestamp) -> Self {
        self.captured = Some(at);
        self
    }

    /// The source key.
    pub fn source(&self) -> &SourceKey {
        &self.source
    }

    /// The JSON payload.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The detector's verdict, if any.
    pub fn threat(&self) -> Option<&ThreatSignal> {
        self.threat.as_ref()
    }

    /// The capture time given with [`captured_at`](Self::captured_at), if any.
    pub fn captured(&self) -> Option<Timestamp> {
        self.captured
    }
}

/// A text that is not a category, a severity or a signature; says which rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Not a valid category name.
    Category {
        /// The rule broken.
        reason: &'static str,
    },
    /// Not one of `low`, `medium`, `high`, `critical`.
    Severity,
    /// Not a signature (`<category>:<64 lowercase hex>`).
    Signature {
        /// The rule broken.
        reason: &'static str,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Category { reason } => write!(f, "invalid category: {reason}"),
            ParseError::Severity => {
                f.write_str("invalid severity: expected low, medium, high or critical")
            }
            ParseError::Signature { reason } => write!(f, "invalid signature: {reason}"),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_key_truncates_at_char_boundary() {
        let text = format!("{}é", "a".repeat(MAX_SOURCE_KEY_LEN - 1));
        let key = SourceKey::new(&text);
        assert_eq!(key.as_str().len(), MAX_SOURCE_KEY_LEN - 1);
        assert_eq!(SourceKey::new("").as_str(), "");
    }

    #[test]
    fn debug_never_shows_payload_content() {
        let scent = Scent::new("s", serde_json::json!({"password": "hunter2", "n": [1, 2]}))
            .with_threat(Category::Injection, Severity::Low);
        let text = format!("{scent:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("password"),
            "{text}"
        );
        assert!(text.contains("<object of 2 members>"), "{text}");
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::High < Severity::Critical);
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
        }
        assert!("CRITICAL".parse::<Severity>().is_err());
        assert_eq!(Severity::Critical.rank(), 3);
    }

    #[test]
    fn categories_validate() {
        for name in ["injection", "ddos", "flood", "spam", "malware", "unknown"] {
            let c: Category = name.parse().unwrap();
            assert!(!matches!(c, Category::Custom(_)), "{name} must be built in");
            assert_eq!(c.as_str(), name);
        }
        assert!(matches!(
            Category::custom("bot.scraper_v2-x").unwrap(),
            Category::Custom(_)
        ));
        for bad in ["", "9lives", "Upper", "a:b", "a b", "é", &"a".repeat(65)] {
            assert!(Category::custom(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(Category::custom(&"a".repeat(64)).is_ok());
    }
}
