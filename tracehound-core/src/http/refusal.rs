//! The one mapping from a [`Rejection`] to the response an adapter writes.

use super::Rejection;

/// A [`Rejection`] as every adapter writes it: a status, headers and a body, each valid
/// HTTP, so that a framework's checked constructors accept them.
///
/// An adapter converts these parts into its framework's response and does nothing else with
/// a refusal. The policy only produces statuses 400 to 599 (200 for a gRPC trailers-only
/// refusal) and well-formed headers; should that ever change, the fallback is decided here
/// for every adapter: a status that is not three digits becomes
/// [`FALLBACK_STATUS`](Refusal::FALLBACK_STATUS), so a refusal stays a refusal, and a
/// header that is not valid HTTP is left out rather than failing the response.
///
/// ```
/// use tracehound::http::{Head, HttpConfig, HttpPolicy, MissingKey, Refusal, Request};
/// use tracehound::{ThreatSignal, Tracehound};
///
/// let mut config = HttpConfig::default();
/// config.missing_key = MissingKey::Reject(400);
/// let flag_nothing = |_: &Request<'_>| -> Option<ThreatSignal> { None };
/// let policy = HttpPolicy::new(Tracehound::builder().build()?, config, flag_nothing)?;
/// let head = Head {
///     method: "POST",
///     path: "/upload",
///     query: None,
///     headers: &|_: &str| None::<&str>,
///     peer: None,
///     body_follows: true,
/// };
/// let inspection = policy.inspect(&head.with_body(b"", true));
/// let rejection = inspection.decision.rejection().ok_or("refused: no client address")?;
///
/// let refusal = Refusal::new(rejection);
/// assert_eq!(refusal.status(), 400);
/// // The body was never read, so the connection cannot carry another request.
/// assert_eq!(refusal.headers().collect::<Vec<_>>(), [("connection", "close")]);
/// assert_eq!(refusal.body(), b"no client address\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    rejection: &'a Rejection,
}

impl<'a> Refusal<'a> {
    /// The status sent instead of one that is not a valid HTTP status: 403 Forbidden.
    pub const FALLBACK_STATUS: u16 = 403;

    /// The response for `rejection`.
    pub fn new(rejection: &'a Rejection) -> Refusal<'a> {
        Refusal { rejection }
    }

    /// The status: the rejection's, or [`FALLBACK_STATUS`](Self::FALLBACK_STATUS) if it is
    /// not three digits. Always within 100 to 999.
    pub fn status(&self) -> u16 {
        match self.rejection.status {
            status @ 100..=999 => status,
            _ => Self::FALLBACK_STATUS,
        }
    }

    /// The headers to append, in order: the rejection's, without any whose name is not an
    /// HTTP token or whose value holds a control character (a line break above all).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &'a str)> + 'a {
        self.rejection
            .headers
            .iter()
            .filter(|(name, value)| is_token(name) && is_field_value(value))
            .map(|(name, value)| (*name, value.as_str()))
    }

    /// The body: short plain text, or empty for a gRPC trailers-only refusal.
    pub fn body(&self) -> &'static [u8] {
        self.rejection.body.as_bytes()
    }
}

/// Whether `name` is a header name (RFC 9110 `token`).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` is a header value (RFC 9110 `field-value` characters: visible, space,
/// tab, and obs-text).
fn is_field_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(status: u16, headers: &[(&'static str, &str)], body: &'static str) -> Rejection {
        Rejection {
            status,
            headers: headers.iter().map(|&(n, v)| (n, v.to_owned())).collect(),
            body,
        }
    }

    #[test]
    fn a_valid_refusal_is_written_as_the_policy_wrote_it() {
        let refused = rejection(
            429,
            &[
                ("retry-after", "3"),
                ("content-type", "text/plain; charset=utf-8"),
            ],
            "too many requests\n",
        );
        let refusal = Refusal::new(&refused);
        assert_eq!(refusal.status(), 429);
        assert_eq!(
            refusal.headers().collect::<Vec<_>>(),
            [
                ("retry-after", "3"),
                ("content-type", "text/plain; charset=utf-8")
            ]
        );
        assert_eq!(refusal.body(), b"too many requests\n");
    }

    #[test]
    fn a_grpc_trailers_only_refusal_keeps_its_status_200_and_empty_body() {
        let refused = rejection(
            200,
            &[
                ("content-type", "application/grpc"),
                ("grpc-status", "7"),
                ("grpc-message", "forbidden"),
            ],
            "",
        );
        let refusal = Refusal::new(&refused);
        assert_eq!(refusal.status(), 200);
        assert_eq!(refusal.headers().count(), 3);
        assert!(refusal.body().is_empty());
    }

    #[test]
    fn a_status_that_is_not_three_digits_falls_back_to_403() {
        for status in [0, 42, 99, 1000, u16::MAX] {
            let refused = rejection(status, &[("connection", "close")], "forbidden\n");
            let refusal = Refusal::new(&refused);
            assert_eq!(refusal.status(), Refusal::FALLBACK_STATUS, "{status}");
            assert_eq!(refusal.headers().count(), 1, "the rest is kept");
            assert_eq!(refusal.body(), b"forbidden\n");
        }
        for status in [100, 200, 400, 408, 599, 999] {
            assert_eq!(Refusal::new(&rejection(status, &[], "")).status(), status);
        }
    }

    #[test]
    fn an_invalid_header_is_left_out_and_the_others_kept_in_order() {
        let refused = rejection(
            403,
            &[
                ("retry-after", "1"),
                ("", "empty name"),
                ("bad name", "space in the name"),
                ("x-split", "a\r\nset-cookie: injected"),
                ("x-nul", "a\0b"),
                ("x-del", "a\x7fb"),
                ("x-tab", "a\tb"),
                ("x-obs-text", "caf\u{e9}"),
                ("content-type", "text/plain; charset=utf-8"),
            ],
            "forbidden\n",
        );
        let names: Vec<&str> = Refusal::new(&refused).headers().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["retry-after", "x-tab", "x-obs-text", "content-type"]
        );
    }

    #[test]
    fn header_names_are_tokens() {
        for name in ["a", "x-ratelimit-limit", "!#$%&'*+-.^_`|~09AZaz"] {
            assert!(is_token(name), "{name}");
        }
        for name in ["", "a b", "a:b", "a\"b", "(a)", "a/b", "caf\u{e9}", "a\r"] {
            assert!(!is_token(name), "{name:?}");
        }
    }
}
