//! Verdicts from an upstream WAF or gateway, signed so that nobody on the way can forge,
//! replay or strip-and-replace them.
//!
//! Wire format (one header):
//!
//! ```text
//! Tracehound-Verdict: category=<c>,severity=<s>,ts=<unix seconds>,sig=<hex>
//! ```
//!
//! `sig` is the lowercase hex HMAC-SHA256, under the shared secret, of
//!
//! ```text
//! METHOD "\n" path-and-query "\n" ts "\n" category "\n" severity
//! ```
//!
//! where `path-and-query` is the request target as received (`/search?q=1`), `ts` the same
//! decimal text as in the header, and `category` and `severity` the header's text. A verdict
//! is accepted when its signature matches and `ts` is within the window (default 300 s) of
//! the server's clock. Anything else is ignored, so the request counts as unflagged, and
//! counted ([`VerdictStats`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Detector, Request};
use crate::clock::{Clock, SystemClock};
use crate::{Category, Severity, ThreatSignal};

/// The header a gateway marks requests with.
pub const VERDICT_HEADER: &str = "tracehound-verdict";

/// Longest verdict header read; a longer one is malformed.
const MAX_VERDICT_LEN: usize = 512;

/// A [`Detector`] that believes the signed `Tracehound-Verdict` header of an upstream WAF
/// or gateway, and nothing else.
///
/// ```
/// use std::time::Duration;
/// use tracehound::http::SignedVerdict;
///
/// let waf = SignedVerdict::new(b"a shared secret of 32 bytes or more!".to_vec())?
///     .with_window(Duration::from_secs(60));
/// let header = waf.sign("POST", "/login?next=%2F", 1_700_000_000, "injection", "high");
/// assert!(header.starts_with("category=injection,severity=high,ts=1700000000,sig="));
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
}

/// What the verdict detector saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerdictStats {
    /// Verdicts whose signature and time checked out.
    pub accepted: u64,
    /// Headers that do not follow the format (or appear more than once).
    pub malformed: u64,
    /// Verdicts signed outside the time window: replays, or a clock out of step.
    pub stale: u64,
    /// Verdicts whose signature does not match: forged, or for another request.
    pub forged: u64,
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

enum Checked {
    Accepted(ThreatSignal),
    Malformed,
    Stale,
    Forged,
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
        VerdictStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            stale: c.stale.load(Ordering::Relaxed),
            forged: c.forged.load(Ordering::Relaxed),
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
        let ts = ts.to_string();
        let sig = self.mac(method, path_and_query, &ts, category, severity);
        let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        format!("category={category},severity={severity},ts={ts},sig={hex}")
    }

    fn mac(
        &self,
        method: &str,
        target: &str,
        ts: &str,
        category: &str,
        severity: &str,
    ) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for (i, part) in [method, target, ts, category, severity].iter().enumerate() {
            if i > 0 {
                mac.update(b"\n");
            }
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn check(&self, request: &Request<'_>, header: &[u8]) -> Checked {
        let Some(text) = std::str::from_utf8(header)
            .ok()
            .filter(|t| t.len() <= MAX_VERDICT_LEN)
        else {
            return Checked::Malformed;
        };
        let (mut category, mut severity, mut ts, mut sig) = (None, None, None, None);
        for field in text.split(',') {
            let Some((name, value)) = field.trim().split_once('=') else {
                return Checked::Malformed;
            };
            let slot = match name {
                "category" => &mut category,
                "severity" => &mut severity,
                "ts" => &mut ts,
                "sig" => &mut sig,
                _ => return Checked::Malformed,
            };
            if slot.replace(value).is_some() {
                return Checked::Malformed;
            }
        }
        let (Some(category_text), Some(severity_text), Some(ts_text), Some(sig)) =
            (category, severity, ts, sig)
        else {
            return Checked::Malformed;
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
        );
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], &sig[..])) {
            return Checked::Forged;
        }
        let now = self.clock.now().as_unix_millis() / 1000;
        if now.abs_diff(ts) > self.window.as_secs() {
            return Checked::Stale;
        }
        Checked::Accepted(ThreatSignal::new(category, severity))
    }
}

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
            _ => None,
        };
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

impl Detector for SignedVerdict {
    fn detect(&self, request: &Request<'_>) -> Option<ThreatSignal> {
        let mut values = 0usize;
        let mut first: Option<Vec<u8>> = None;
        request.headers.each_value(VERDICT_HEADER, &mut |value| {
            values += 1;
            if first.is_none() {
                first = Some(value.to_vec());
            }
        });
        let counter = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        let header = first?;
        if values > 1 {
            counter(&self.stats.malformed);
            return None;
        }
        match self.check(request, &header) {
            Checked::Accepted(signal) => {
                counter(&self.stats.accepted);
                Some(signal)
            }
            Checked::Malformed => {
                counter(&self.stats.malformed);
                None
            }
            Checked::Stale => {
                counter(&self.stats.stale);
                None
            }
            Checked::Forged => {
                counter(&self.stats.forged);
                None
            }
        }
    }
}
