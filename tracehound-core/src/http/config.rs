//! How requests are described, keyed and answered: [`HttpConfig`], the `[http]` table of the
//! TOML configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client_key::{ClientKeySource, IpPrefix};
use crate::config::ConfigError;

/// What to do when the configured client key source has no key for a request (no peer
/// address, or the named header is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MissingKey {
    /// Examine the request under the one shared key `unknown` (the default), so it is
    /// still recorded and rate limited, together with every other keyless request.
    #[default]
    Shared,
    /// Serve the request without examining it.
    Pass,
    /// Refuse it with this status.
    Reject(u16),
}

/// The status returned for each blocking outcome; `None` lets that outcome through.
///
/// In TOML a status is a number, or `"pass"` for `None`:
/// `responses = { dropped = "pass", unencodable = 400 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Responses {
    /// `RateLimited`: default 429, with `Retry-After`.
    #[serde(with = "status")]
    pub rate_limited: Option<u16>,
    /// `PayloadTooLarge`: default 413.
    #[serde(with = "status")]
    pub payload_too_large: Option<u16>,
    /// `Quarantined`: default 403.
    #[serde(with = "status")]
    pub quarantined: Option<u16>,
    /// `Ignored` (a threat already held): default 403.
    #[serde(with = "status")]
    pub ignored: Option<u16>,
    /// `Dropped` (a threat ranked below everything held): default 403.
    #[serde(with = "status")]
    pub dropped: Option<u16>,
    /// `Unencodable` (a threat nested too deep to keep): default 403.
    #[serde(with = "status")]
    pub unencodable: Option<u16>,
}

impl Default for Responses {
    fn default() -> Self {
        Responses {
            rate_limited: Some(429),
            payload_too_large: Some(413),
            quarantined: Some(403),
            ignored: Some(403),
            dropped: Some(403),
            unencodable: Some(403),
        }
    }
}

/// How requests are described, keyed and answered.
///
/// It is the `[http]` table of a TOML [`Config`](crate::Config):
///
/// ```
/// use std::time::Duration;
/// use tracehound::Config;
/// use tracehound::http::MissingKey;
///
/// let config = Config::from_toml(r#"
///     [http]
///     client_key = { rightmost_forwarded_for = ["10.0.0.0/8", "2001:db8::/32"] }
///     missing_key = { reject = 400 }
///     max_body_bytes = 131072
///     body_timeout = "5s"
///     responses = { dropped = "pass" }
/// "#)?;
/// assert_eq!(config.http.missing_key, MissingKey::Reject(400));
/// assert_eq!(config.http.body_timeout, Duration::from_secs(5));
/// assert_eq!(config.http.responses.dropped, None);
/// # Ok::<(), tracehound::ConfigError>(())
/// ```
///
/// `client_key` is `"peer"`, `{ header = "<name>" }`, `{ rightmost_forwarded_for = [...] }`
/// or `{ rightmost_forwarded = [...] }` (trusted proxies as addresses or blocks); a
/// [`ClientKeySource::Custom`] function cannot be written in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Where the client key comes from. Default: the peer address.
    #[serde(with = "client_key_text")]
    pub client_key: ClientKeySource,
    /// IPv6 client addresses are keyed by this many leading bits. Default 64.
    pub ipv6_prefix: u8,
    /// What to do when there is no key. Default: a shared key.
    pub missing_key: MissingKey,
    /// Headers copied into the evidence (lowercase names). Default: `user-agent`,
    /// `content-type`, `referer`, `origin`, `host`, plus the redacted ones below so the
    /// evidence shows that they were present.
    pub headers: Vec<String>,
    /// Headers whose value is replaced by [`REDACTED`](super::REDACTED). Default: `authorization`, `cookie`,
    /// `proxy-authorization`, `x-api-key`.
    pub redact_headers: Vec<String>,
    /// JSON body fields and query parameters whose value is replaced by [`REDACTED`](super::REDACTED),
    /// compared ignoring case, `-` and `_`. Card numbers are redacted anywhere.
    pub redact_fields: Vec<String>,
    /// Body bytes buffered and put in the evidence. Default 64 KiB. The handler always
    /// receives the whole body.
    pub max_body_bytes: usize,
    /// How long buffering a body for inspection may take, from the moment the head was
    /// admitted. A body still incomplete then is refused with 408 and what was read of it
    /// is dropped, so a client that trickles or stalls its body cannot hold the buffer.
    /// Default 10 s; only requests the detector may flag are buffered.
    #[serde(with = "crate::config::duration_text")]
    pub body_timeout: Duration,
    /// The status for each blocking outcome.
    pub responses: Responses,
    /// Add `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` to 429
    /// responses. Default false.
    pub rate_limit_headers: bool,
    /// Record outcomes but never block. Default false.
    pub dry_run: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        HttpConfig {
            client_key: ClientKeySource::Peer,
            ipv6_prefix: 64,
            missing_key: MissingKey::Shared,
            headers: owned(&[
                "user-agent",
                "content-type",
                "referer",
                "origin",
                "host",
                "authorization",
                "cookie",
            ]),
            redact_headers: owned(&[
                "authorization",
                "cookie",
                "proxy-authorization",
                "x-api-key",
            ]),
            redact_fields: owned(&[
                "password",
                "passwd",
                "secret",
                "token",
                "access_token",
                "refresh_token",
                "api_key",
                "authorization",
                "card_number",
                "cvv",
                "cvc",
                "ssn",
            ]),
            max_body_bytes: 64 * 1024,
            body_timeout: Duration::from_secs(10),
            responses: Responses::default(),
            rate_limit_headers: false,
            dry_run: false,
        }
    }
}

impl HttpConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ipv6_prefix > 128 {
            return Err(ConfigError::invalid(
                "http.ipv6_prefix",
                "must be at most 128",
            ));
        }
        let r = &self.responses;
        let statuses = [
            r.rate_limited,
            r.payload_too_large,
            r.quarantined,
            r.ignored,
            r.dropped,
            r.unencodable,
        ];
        let missing = match self.missing_key {
            MissingKey::Reject(status) => Some(status),
            _ => None,
        };
        if statuses
            .into_iter()
            .chain([missing])
            .flatten()
            .any(|s| !(400..=599).contains(&s))
        {
            return Err(ConfigError::invalid(
                "http.responses",
                "a refusal's status must be between 400 and 599",
            ));
        }
        if self.body_timeout.is_zero() || self.body_timeout > Duration::from_secs(3600) {
            return Err(ConfigError::invalid(
                "http.body_timeout",
                "must be more than 0 and at most an hour",
            ));
        }
        if self.max_body_bytes > 64 << 20 {
            return Err(ConfigError::invalid(
                "http.max_body_bytes",
                "must be at most 64 MiB",
            ));
        }
        Ok(())
    }
}

/// A status as a number, or `"pass"` for none.
mod status {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Status(u16),
        Word(String),
    }

    pub(super) fn serialize<S: Serializer>(status: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
        match status {
            Some(status) => s.serialize_u16(*status),
            None => s.serialize_str("pass"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        match Text::deserialize(d)? {
            Text::Status(status) => Ok(Some(status)),
            Text::Word(word) if word == "pass" => Ok(None),
            Text::Word(word) => Err(D::Error::custom(format!(
                "`{word}` is not a status: write a number, or \"pass\""
            ))),
        }
    }
}

/// The client key source as TOML can write it.
mod client_key_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::Error as _};

    use super::{ClientKeySource, IpPrefix};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    enum Text {
        Peer,
        Header(String),
        RightmostForwardedFor(Vec<String>),
        RightmostForwarded(Vec<String>),
    }

    fn prefixes<E: serde::de::Error>(list: Vec<String>) -> Result<Vec<IpPrefix>, E> {
        list.iter().map(|p| p.parse().map_err(E::custom)).collect()
    }

    fn texts(list: &[IpPrefix]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    pub(super) fn serialize<S: Serializer>(
        source: &ClientKeySource,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match source {
            ClientKeySource::Peer => Text::Peer,
            ClientKeySource::Header(name) => Text::Header(name.clone()),
            ClientKeySource::RightmostForwardedFor { trusted_proxies } => {
                Text::RightmostForwardedFor(texts(trusted_proxies))
            }
            ClientKeySource::RightmostForwarded { trusted_proxies } => {
                Text::RightmostForwarded(texts(trusted_proxies))
            }
            ClientKeySource::Custom(_) => {
                return Err(S::Error::custom(
                    "a custom client key function cannot be written out",
                ));
            }
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<ClientKeySource, D::Error> {
        Ok(match Text::deserialize(d)? {
            Text::Peer => ClientKeySource::Peer,
            Text::Header(name) => ClientKeySource::Header(name),
            Text::RightmostForwardedFor(list) => ClientKeySource::RightmostForwardedFor {
                trusted_proxies: prefixes(list)?,
            },
            Text::RightmostForwarded(list) => ClientKeySource::RightmostForwarded {
                trusted_proxies: prefixes(list)?,
            },
        })
    }
}

#[cfg(all(test, feature = "toml"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::Config;

    use super::*;

    #[test]
    fn every_http_setting_round_trips_through_toml() {
        let text = r#"
            [http]
            client_key = { rightmost_forwarded = ["10.0.0.1", "2001:db8::/32"] }
            ipv6_prefix = 56
            missing_key = "pass"
            headers = ["user-agent"]
            redact_headers = ["x-secret"]
            redact_fields = ["pin"]
            max_body_bytes = 1024
            body_timeout = "250ms"
            responses = { rate_limited = 503, dropped = "pass" }
            rate_limit_headers = true
            dry_run = true
        "#;
        let config = Config::from_toml(text).unwrap();
        let http = &config.http;
        assert_eq!(
            http.client_key,
            ClientKeySource::RightmostForwarded {
                trusted_proxies: vec![
                    "10.0.0.1".parse().unwrap(),
                    "2001:db8::/32".parse().unwrap()
                ]
            }
        );
        assert_eq!((http.ipv6_prefix, http.missing_key), (56, MissingKey::Pass));
        assert_eq!(http.body_timeout, Duration::from_millis(250));
        assert_eq!(http.responses.rate_limited, Some(503));
        assert_eq!(http.responses.dropped, None);
        assert_eq!(
            http.responses.quarantined,
            Some(403),
            "unnamed statuses keep their default"
        );
        assert!(http.rate_limit_headers && http.dry_run);
        let written = toml::to_string(&config).unwrap();
        assert_eq!(Config::from_toml(&written).unwrap(), config);
        let header =
            Config::from_toml("[http]\nclient_key = { header = \"cf-connecting-ip\" }").unwrap();
        assert_eq!(
            header.http.client_key,
            ClientKeySource::Header("cf-connecting-ip".into())
        );
    }

    #[test]
    fn bad_http_settings_are_named() {
        for (text, field) in [
            ("[http]\nclient_key = \"proxy\"", "client_key"),
            (
                "[http]\nclient_key = { rightmost_forwarded_for = [\"10.0.0.0/33\"] }",
                "10.0.0.0/33",
            ),
            ("[http]\nresponses = { dropped = \"allow\" }", "allow"),
            (
                "[http]\nresponses = { quarantined = 200 }",
                "http.responses",
            ),
            ("[http]\nbody_timeout = \"0s\"", "http.body_timeout"),
            ("[http]\nmax_body_byte = 1", "max_body_byte"),
            ("[http]\nipv6_prefix = 129", "http.ipv6_prefix"),
        ] {
            let error = Config::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(field), "{text}: {error}");
        }
    }
}
