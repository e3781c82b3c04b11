//! How a request of the workload goes over the wire: its target, headers and body, and the
//! verdict the upstream WAF attaches to it (signed, forged or none).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tracehound::Severity;
use tracehound::http::SignedVerdict;

use super::workload::{ATTACKS, Forgery, Request};

/// How far in the past a replayed verdict was signed: well outside the 300 s window.
const REPLAY_AGE: Duration = Duration::from_secs(3_600);

/// Size of the oversized upload's blob: its evidence is over the default 1,000,000-byte
/// `max_payload_bytes`.
const OVERSIZED_BYTES: usize = 1_500_000;

/// Nesting of the deeply nested body: deeper than `max_depth` (128).
pub(super) const NESTING: usize = 200;

/// What a request's `Tracehound-Verdict` header carries.
#[derive(Debug, Clone, Copy)]
enum Marking {
    /// No header.
    None,
    /// A verdict signed with the server's secret for this very request, now.
    Signed {
        category: &'static str,
        severity: Severity,
    },
    /// A verdict the server must not believe.
    Forged(Forgery),
}

/// A request as the client sends it.
pub(super) struct Call {
    /// The path and query, as sent: what a verdict is signed over.
    pub(super) target: String,
    pub(super) user_agent: &'static str,
    /// A JSON body, sent with POST; without one the request is a GET.
    pub(super) body: Option<Vec<u8>>,
    marking: Marking,
}

impl Call {
    fn get(target: String, user_agent: &'static str, marking: Marking) -> Call {
        Call {
            target,
            user_agent,
            body: None,
            marking,
        }
    }

    fn post(target: &str, user_agent: &'static str, body: &Value, marking: Marking) -> Call {
        Call {
            target: target.to_owned(),
            user_agent,
            body: Some(body.to_string().into_bytes()),
            marking,
        }
    }

    pub(super) fn method(&self) -> &'static str {
        if self.body.is_some() { "POST" } else { "GET" }
    }

    /// The path alone: what an error message may name (a query may hold a payload).
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0";

pub(super) fn call(request: Request) -> Call {
    match request {
        Request::Clean { source, page } => match page % 4 {
            0 => Call::get("/".to_owned(), BROWSER, Marking::None),
            1 => Call::get(
                format!("/search?q=term{}&page={page}", source % 20),
                BROWSER,
                Marking::None,
            ),
            2 => Call::post(
                "/api/cart",
                BROWSER,
                &json!({"item": source % 97, "qty": 1 + page % 3}),
                Marking::None,
            ),
            _ => {
                let user = format!("shopper{source}@example.com");
                let body = json!({"user": user, "password": "correct horse battery staple"});
                Call::post("/login", BROWSER, &body, Marking::None)
            }
        },
        Request::Flood { n, .. } => Call::post(
            "/api/quote",
            "python-requests/2.31",
            &json!({"n": n}),
            Marking::None,
        ),
        Request::Attack {
            pattern, variant, ..
        } => {
            let attack = &ATTACKS[pattern];
            let marking = Marking::Signed {
                category: attack.category,
                severity: attack.severity,
            };
            if attack.method == "GET" {
                let target = format!(
                    "{}?{}={}&v={variant}",
                    attack.path,
                    attack.field,
                    percent_encoded(attack.payload)
                );
                Call::get(target, "sqlmap/1.7", marking)
            } else {
                let mut body = json!({"v": variant});
                body[attack.field] = Value::from(attack.payload);
                Call::post(attack.path, "sqlmap/1.7", &body, marking)
            }
        }
        Request::Burst { n } => Call::post(
            "/login",
            "okhttp/4.9",
            &json!({"user": format!("user{n}@example.com"), "password": format!("hunter{n}")}),
            Marking::Signed {
                category: "credential-stuffing",
                severity: if n % 5 == 0 {
                    Severity::Medium
                } else {
                    Severity::Low
                },
            },
        ),
        Request::Forged { forgery, n } => Call::get(
            format!("/search?q=deal{n}"),
            BROWSER,
            Marking::Forged(forgery),
        ),
        Request::Oversized => Call::post(
            "/api/upload",
            "curl/8.4",
            &json!({"name": "backup.tar", "blob": "A".repeat(OVERSIZED_BYTES)}),
            Marking::Signed {
                category: "malware",
                severity: Severity::High,
            },
        ),
        Request::TooDeep => Call {
            target: "/api/import".to_owned(),
            user_agent: "curl/8.4",
            body: Some(
                format!("{}\"payload\"{}", "[".repeat(NESTING), "]".repeat(NESTING)).into_bytes(),
            ),
            marking: Marking::Signed {
                category: "ddos",
                severity: Severity::Medium,
            },
        },
    }
}

/// `text` with every byte but the unreserved ones (RFC 3986) percent-encoded.
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// 32 random bytes.
pub(super) fn random_secret() -> Result<Vec<u8>, String> {
    let mut secret = vec![0; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("cannot draw a random secret: {e}"))?;
    Ok(secret)
}

/// The WAF's side: signs verdicts, and forges some.
pub(super) struct Waf {
    /// Shares the server's secret.
    pub(super) signer: SignedVerdict,
    /// Knows another secret.
    pub(super) forger: SignedVerdict,
}

impl Waf {
    /// The `Tracehound-Verdict` header for `call`, if it carries one.
    pub(super) fn verdict(&self, call: &Call) -> Option<String> {
        let (method, target, now) = (call.method(), call.target.as_str(), unix_now());
        match call.marking {
            Marking::None => None,
            Marking::Signed { category, severity } => {
                Some(
                    self.signer
                        .sign(method, target, now, category, severity.as_str()),
                )
            }
            Marking::Forged(Forgery::WrongSecret) => {
                Some(self.forger.sign(method, target, now, "injection", "high"))
            }
            Marking::Forged(Forgery::Moved) => Some(self.signer.sign(
                method,
                "/search?q=another-request",
                now,
                "injection",
                "high",
            )),
            Marking::Forged(Forgery::Stale) => Some(self.signer.sign(
                method,
                target,
                now.saturating_sub(REPLAY_AGE.as_secs()),
                "injection",
                "high",
            )),
            Marking::Forged(Forgery::Garbled) => {
                Some(format!("category=injection,severity=high,ts={now}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_in_a_query_are_percent_encoded() {
        assert_eq!(percent_encoded("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encoded("' OR 1=1"), "%27%20OR%201%3D1");
        assert_eq!(percent_encoded("../etc"), "..%2Fetc");
    }

    #[test]
    fn forged_verdicts_are_not_the_servers() {
        let key = |byte: u8| SignedVerdict::new(vec![byte; 32]);
        let (Ok(signer), Ok(forger)) = (key(1), key(2)) else {
            panic!("32-byte secrets are accepted");
        };
        let waf = Waf {
            signer: signer.clone(),
            forger,
        };
        let verdict = |forgery| {
            waf.verdict(&call(Request::Forged { forgery, n: 3 }))
                .unwrap_or_default()
        };
        let now = unix_now();
        let genuine = signer.sign("GET", "/search?q=deal3", now, "injection", "high");
        // Signed in the same second, the genuine verdict differs only by its signature.
        let prefix = |v: &str| v.split(",sig=").next().unwrap_or_default().to_owned();
        for forgery in [Forgery::WrongSecret, Forgery::Moved] {
            let forged = verdict(forgery);
            assert_ne!(forged, genuine);
            assert!(forged.starts_with("category=injection,severity=high,ts="));
        }
        assert_ne!(prefix(&verdict(Forgery::Stale)), prefix(&genuine));
        assert!(!verdict(Forgery::Garbled).contains("sig="));
        assert!(
            waf.verdict(&call(Request::Clean { source: 1, page: 0 }))
                .is_none()
        );
    }
}
