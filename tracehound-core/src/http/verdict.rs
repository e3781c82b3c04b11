//! Verdicts from an upstream WAF or gateway, signed so that nobody on the way can forge,
//! replay elsewhere, or strip them.
//!
//! # Wire format
//!
//! ```text
//! Tracehound-Verdict: category=<c>,severity=<s>,ts=<unix seconds>[,body=<hex>],sig=<hex>
//! ```
//!
//! `sig` is the hex HMAC-SHA256 (either letter case), under the shared secret, of
//!
//! ```text
//! METHOD "\n" target "\n" ts "\n" category "\n" severity [ "\n" body ]
//! ```
//!
//! with every field's text exactly as it appears in the header. `target` is the request
//! target as the service receives it, in origin form: the path exactly as sent (no
//! percent-decoding, no removal of dot segments, no merging of slashes), followed, when the
//! request line has a `?`, by `?` and the query exactly as sent (`/search?q=1`, or
//! `/search?` for an empty query). A gateway that rewrites the target between the signer
//! and the service (decoding, normalising, stripping a prefix) breaks the signature: the
//! verdict is then counted as forged. Sign after any rewriting, at the hop closest to the
//! service.
//!
//! `body`, when present, is the hex SHA-256 of the whole request body, and is part of the
//! signed string: the verdict is believed only for a request carrying that body, so a
//! captured verdict cannot be replayed with another body. When the body is longer than
//! [`HttpConfig::max_body_bytes`](super::HttpConfig::max_body_bytes), only its first bytes
//! are read and the binding cannot be checked; the verdict is then believed on its other
//! fields and counted in [`VerdictStats::body_unchecked`]. Raise `max_body_bytes` above your
//! largest legitimate body if every binding must be checked.
//!
//! A verdict is believed when its signature matches, `ts` is within the window (default
//! 300 s) of the server's clock, and its body binding, if any, holds.
//!
//! # Several values
//!
//! Gateways often append their header to whatever the client sent, as another header line
//! or joined to the client's value with a comma. So a request is flagged when **any** of
//! its verdicts is believed; every other value (garbage, forged, stale, repeated) is
//! counted and changes nothing. When several believed verdicts disagree, the highest
//! severity wins (the category of the rightmost such verdict). Verdicts are read from the
//! right, the end closest to the service, across header lines and comma-joined values: a
//! verdict starts at its `category=` field and ends at its `sig=` field. At most
//! [`MAX_VERDICTS`] verdicts are checked per request, the rightmost ones, and only the last
//! [`MAX_VERDICT_VALUES`] header lines are read: what lies beyond is counted in
//! [`VerdictStats::ignored`]. (The server's own limit on header size bounds a line.)

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Detector, Head, Request};
use crate::clock::{Clock, SystemClock};
use crate::scent::{Category, Severity, ThreatSignal};

/// The header a gateway marks requests with.
pub const VERDICT_HEADER: &str = "tracehound-verdict";

/// Most verdicts checked per request (the rightmost ones).
pub const MAX_VERDICTS: usize = 8;

/// Most `Tracehound-Verdict` header lines read per request (the last ones).
pub const MAX_VERDICT_VALUES: usize = 8;

/// A [`Detector`] that believes the signed `Tracehound-Verdict` header of an upstream WAF
/// or gateway, and nothing else. See the [module documentation](self) for the format.
///
/// ```
/// use std::time::Duration;
/// use tracehound::http::SignedVerdict;
///
/// let waf = SignedVerdict::new(b"a shared secret of 32 bytes or more!".to_vec())?
///     .with_window(Duration::from_secs(60));
/// let header = waf.sign("POST", "/login?next=%2F", 1_700_000_000, "injection", "high");
/// assert!(header.starts_with("category=injection,severity=high,ts=1700000000,sig="));
/// let bound = waf.sign_with_body("POST", "/login", 1_700_000_000, "injection", "high", b"{}");
/// assert!(bound.contains(",body=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a,sig="));
/// # Ok::<(), tracehound::http::VerdictError>(())
/// ```
#[derive(Clone)]
pub struct SignedVerdict {
    key: Arc<Zeroizing<Vec<u8>>>,
    window: Duration,
    clock: Arc<dyn Clock>,
    stats: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    malformed: AtomicU64,
    stale: AtomicU64,
    forged: AtomicU64,
    body_mismatch: AtomicU64,
    body_unchecked: AtomicU64,
    ignored: AtomicU64,
}

/// What the verdict detector saw, counted per verdict (a request may carry several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerdictStats {
    /// Verdicts whose signature, time and body binding checked out.
    pub accepted: u64,
    /// Values that do not follow the format: garbage, empty values, incomplete or
    /// repeated fields, unknown categories or severities.
    pub malformed: u64,
    /// Verdicts signed outside the time window: replays, or a clock out of step.
    pub stale: u64,
    /// Verdicts whose signature does not match: forged, or for another request.
    pub forged: u64,
    /// Correctly signed verdicts bound to another body: replayed with a body of the
    /// client's choice. Not believed.
    pub body_mismatch: u64,
    /// Believed verdicts whose body binding could not be checked, because the body was
    /// longer than `max_body_bytes` (also counted in `accepted`).
    pub body_unchecked: u64,
    /// Verdicts or header lines past the examination bounds, not read.
    pub ignored: u64,
}

/// A secret that cannot key the verdict detector.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerdictError {
    /// Shorter than 16 bytes, too weak for an HMAC key an attacker may try to guess.
    SecretTooShort,
}

impl fmt::Display for VerdictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerdictError::SecretTooShort => {
                f.write_str("the verdict secret must be at least 16 bytes (use 32 random bytes)")
            }
        }
    }
}

impl std::error::Error for VerdictError {}

impl fmt::Debug for SignedVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedVerdict")
            .field("window", &self.window)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The names a verdict's fields may have.
const FIELD_NAMES: [&str; 5] = ["category", "severity", "ts", "body", "sig"];

/// The fields of one verdict, as text.
#[derive(Default)]
struct Fields<'t> {
    category: Option<&'t str>,
    severity: Option<&'t str>,
    ts: Option<&'t str>,
    body: Option<&'t str>,
    sig: Option<&'t str>,
}

impl<'t> Fields<'t> {
    /// The slot of field `name`, or `None` for a name the format does not have.
    fn slot(&mut self, name: &str) -> Option<&mut Option<&'t str>> {
        Some(match name {
            "category" => &mut self.category,
            "severity" => &mut self.severity,
            "ts" => &mut self.ts,
            "body" => &mut self.body,
            "sig" => &mut self.sig,
            _ => return None,
        })
    }
}

/// What checking one verdict found.
enum Checked {
    Accepted {
        signal: ThreatSignal,
        body_checked: bool,
    },
    Malformed,
    Stale,
    Forged,
    BodyMismatch,
}

/// The SHA-256 of the request body, computed at most once per request and only for a
/// verdict that binds one.
struct BodyDigest<'r> {
    body: &'r [u8],
    truncated: bool,
    digest: Option<[u8; 32]>,
}

impl BodyDigest<'_> {
    /// `None` when the body was not read whole.
    fn get(&mut self) -> Option<&[u8; 32]> {
        if self.truncated {
            return None;
        }
        let body = self.body;
        Some(
            self.digest
                .get_or_insert_with(|| Sha256::digest(body).into()),
        )
    }
}

impl SignedVerdict {
    /// A detector keyed by `secret` (at least 16 bytes), with a 300 s window and the system
    /// clock.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<SignedVerdict, VerdictError> {
        let key = Zeroizing::new(secret.into());
        if key.len() < 16 {
            return Err(VerdictError::SecretTooShort);
        }
        Ok(SignedVerdict {
            key: Arc::new(key),
            window: Duration::from_secs(300),
            clock: Arc::new(SystemClock::new()),
            stats: Arc::default(),
        })
    }

    /// Accepts verdicts signed at most `window` before or after now.
    pub fn with_window(mut self, window: Duration) -> SignedVerdict {
        self.window = window;
        self
    }

    /// Reads "now" from `clock` (tests use a manual clock).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> SignedVerdict {
        self.clock = Arc::new(clock);
        self
    }

    /// Counts so far (shared by every clone).
    pub fn stats(&self) -> VerdictStats {
        let c = &self.stats;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        VerdictStats {
            accepted: load(&c.accepted),
            malformed: load(&c.malformed),
            stale: load(&c.stale),
            forged: load(&c.forged),
            body_mismatch: load(&c.body_mismatch),
            body_unchecked: load(&c.body_unchecked),
            ignored: load(&c.ignored),
        }
    }

    /// The header value a gateway sends: what a gateway in Rust, or a test, calls.
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        ts: u64,
        category: &str,
        severity: &str,
    ) -> String {
        self.sign_fields(method, path_and_query, ts, category, severity, None)
    }

    /// The header value of a verdict bound to `body`, the request's whole body.
    pub fn sign_with_body(
        &self,
        method: &str,
        path_and_query: &str,
        ts: u64,
        category: &str,
        severity: &str,
        body: &[u8],
    ) -> String {
        let digest = hex(&Sha256::digest(body).into());
        self.sign_fields(
            method,
            path_and_query,
            ts,
            category,
            severity,
            Some(&digest),
        )
    }

    fn sign_fields(
        &self,
        method: &str,
        target: &str,
        ts: u64,
        category: &str,
        severity: &str,
        body: Option<&str>,
    ) -> String {
        let ts = ts.to_string();
        let sig = hex(&self.mac(method, target, &ts, category, severity, body));
        let body = body.map(|b| format!(",body={b}")).unwrap_or_default();
        format!("category={category},severity={severity},ts={ts}{body},sig={sig}")
    }

    fn mac(
        &self,
        method: &str,
        target: &str,
        ts: &str,
        category: &str,
        severity: &str,
        body: Option<&str>,
    ) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let parts = [
            Some(method),
            Some(target),
            Some(ts),
            Some(category),
            Some(severity),
            body,
        ];
        for (i, part) in parts.into_iter().flatten().enumerate() {
            if i > 0 {
                mac.update(b"\n");
            }
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn check(
        &self,
        request: &Request<'_>,
        fields: &Fields<'_>,
        body: &mut BodyDigest<'_>,
    ) -> Checked {
        let (Some(category_text), Some(severity_text), Some(ts_text), Some(sig)) =
            (fields.category, fields.severity, fields.ts, fields.sig)
        else {
            return Checked::Malformed;
        };
        let bound = match fields.body.map(decode_hex32) {
            None => None,
            Some(Some(digest)) => Some(digest),
            Some(None) => return Checked::Malformed,
        };
        let (Ok(category), Ok(severity), Some(ts), Some(sig)) = (
            category_text.parse::<Category>(),
            severity_text.parse::<Severity>(),
            ts_text
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| ts_text.parse::<u64>().ok())
                .flatten(),
            decode_hex32(sig),
        ) else {
            return Checked::Malformed;
        };
        let target = match request.query {
            Some(query) => format!("{}?{query}", request.path),
            None => request.path.to_owned(),
        };
        let expected = self.mac(
            request.method,
            &target,
            ts_text,
            category_text,
            severity_text,
            fields.body,
        );
        if !bool::from(expected.ct_eq(&sig)) {
            return Checked::Forged;
        }
        let now = self.clock.now().as_unix_millis() / 1000;
        if now.abs_diff(ts) > self.window.as_secs() {
            return Checked::Stale;
        }
        let body_checked = match (bound, body.get()) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(bound), Some(actual)) if bool::from(bound.ct_eq(actual)) => true,
            (Some(_), Some(_)) => return Checked::BodyMismatch,
        };
        Checked::Accepted {
            signal: ThreatSignal::new(category, severity),
            body_checked,
        }
    }

    fn count(&self, counter: impl Fn(&Counters) -> &AtomicU64, n: u64) {
        if n > 0 {
            counter(&self.stats).fetch_add(n, Ordering::Relaxed);
        }
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits, in either letter case.
fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        };
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// The verdicts of one header line, read from the right: each starts at its `category=`
/// and ends at its `sig=`. `verdict` gets each complete or broken verdict (rightmost
/// first); the return value is how many stretches of text outside any verdict there were.
fn verdicts_of<'t>(value: &'t str, verdict: &mut dyn FnMut(Option<Fields<'t>>)) -> u64 {
    let mut junk = 0;
    let mut in_junk = false;
    let mut open: Option<Fields<'t>> = None;
    for token in value.rsplit(',') {
        let field = token
            .trim_matches([' ', '\t'])
            .split_once('=')
            .filter(|(name, _)| FIELD_NAMES.contains(name));
        match (open.as_mut(), field) {
            (None, Some(("sig", sig))) => {
                in_junk = false;
                open = Some(Fields {
                    sig: Some(sig),
                    ..Fields::default()
                });
            }
            (None, _) => {
                if !in_junk {
                    junk += 1;
                    in_junk = true;
                }
            }
            (Some(_), Some(("sig", sig))) => {
                // A verdict that never reached its `category=`: broken; a new one starts.
                verdict(None);
                open = Some(Fields {
                    sig: Some(sig),
                    ..Fields::default()
                });
            }
            (Some(fields), Some((name, text))) => {
                let repeated = fields
                    .slot(name)
                    .is_some_and(|slot| slot.replace(text).is_some());
                if repeated {
                    verdict(None);
                    open = None;
                    junk += 1;
                    in_junk = true;
                } else if name == "category" {
                    verdict(open.take());
                }
            }
            (Some(_), None) => {
                verdict(None);
                open = None;
                junk += 1;
                in_junk = true;
            }
        }
    }
    if open.is_some() {
        verdict(None);
    }
    junk
}

impl Detector for SignedVerdict {
    fn detect(&self, request: &Request<'_>) -> Option<ThreatSignal> {
        // The last header lines: the end a gateway appends to. The server's limit on header
        // size bounds their length; at most MAX_VERDICTS of their verdicts are checked.
        let mut values: VecDeque<Vec<u8>> = VecDeque::with_capacity(MAX_VERDICT_VALUES);
        let mut ignored = 0u64;
        request.headers.each_value(VERDICT_HEADER, &mut |value| {
            if values.len() == MAX_VERDICT_VALUES {
                values.pop_front();
                ignored += 1;
            }
            values.push_back(value.to_vec());
        });
        if values.is_empty() {
            return None;
        }
        let mut body = BodyDigest {
            body: request.body,
            truncated: request.body_truncated,
            digest: None,
        };
        let (mut checked, mut malformed, mut stale, mut forged) = (0usize, 0, 0, 0);
        let (mut accepted, mut mismatched, mut unchecked) = (0, 0, 0);
        let mut best: Option<ThreatSignal> = None;
        for value in values.iter().rev() {
            let Ok(text) = std::str::from_utf8(value) else {
                malformed += 1;
                continue;
            };
            let junk = verdicts_of(text, &mut |fields| {
                let Some(fields) = fields else {
                    malformed += 1;
                    return;
                };
                if checked == MAX_VERDICTS {
                    ignored += 1;
                    return;
                }
                checked += 1;
                match self.check(request, &fields, &mut body) {
                    Checked::Accepted {
                        signal,
                        body_checked,
                    } => {
                        accepted += 1;
                        unchecked += u64::from(!body_checked);
                        if best.as_ref().is_none_or(|b| signal.severity > b.severity) {
                            best = Some(signal);
                        }
                    }
                    Checked::Malformed => malformed += 1,
                    Checked::Stale => stale += 1,
                    Checked::Forged => forged += 1,
                    Checked::BodyMismatch => mismatched += 1,
                }
            });
            malformed += junk;
        }
        self.count(|c| &c.accepted, accepted);
        self.count(|c| &c.malformed, malformed);
        self.count(|c| &c.stale, stale);
        self.count(|c| &c.forged, forged);
        self.count(|c| &c.body_mismatch, mismatched);
        self.count(|c| &c.body_unchecked, unchecked);
        self.count(|c| &c.ignored, ignored);
        best
    }

    fn may_flag(&self, head: &Head<'_>) -> bool {
        let mut present = false;
        head.headers
            .each_value(VERDICT_HEADER, &mut |_| present = true);
        present
    }
}
