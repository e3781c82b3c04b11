//! Which source a request is keyed by, chosen by the operator and never guessed.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use super::Request;
use crate::SourceKey;

/// Where the client key (rate limiting and evidence source) comes from.
///
/// Forwarding headers are honoured only when the connection comes from a configured trusted
/// proxy, and are read from the right: the rightmost address a trusted proxy did not add is
/// the client. A client can put anything in the leftmost entries, so they never count.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ClientKeySource {
    /// The connection's peer address (the default).
    #[default]
    Peer,
    /// The rightmost `X-Forwarded-For` address that is not itself a trusted proxy, when the
    /// peer is one of `trusted_proxies`; otherwise the peer.
    RightmostForwardedFor {
        /// Proxies whose forwarding headers are believed.
        trusted_proxies: Vec<IpPrefix>,
    },
    /// The same over the RFC 7239 `Forwarded` header's `for=` parameters.
    RightmostForwarded {
        /// Proxies whose forwarding headers are believed.
        trusted_proxies: Vec<IpPrefix>,
    },
    /// The value of a header set by infrastructure you trust (for example
    /// `cf-connecting-ip`, or an authenticated tenant id). An address is normalised and
    /// masked like a peer address; any other value is used as it is.
    Header(String),
    /// A function of the request.
    Custom(KeyFn),
}

/// A function that computes the client key of a request.
pub type KeyFn = Arc<dyn Fn(&Request<'_>) -> Option<String> + Send + Sync>;

impl fmt::Debug for ClientKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKeySource::Peer => f.write_str("Peer"),
            ClientKeySource::RightmostForwardedFor { trusted_proxies } => f
                .debug_struct("RightmostForwardedFor")
                .field("trusted_proxies", trusted_proxies)
                .finish(),
            ClientKeySource::RightmostForwarded { trusted_proxies } => f
                .debug_struct("RightmostForwarded")
                .field("trusted_proxies", trusted_proxies)
                .finish(),
            ClientKeySource::Header(name) => f.debug_tuple("Header").field(name).finish(),
            ClientKeySource::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a block of
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// Whether `ip` is in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Why an address block could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPrefixError(String);

impl fmt::Display for IpPrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an address or an address/prefix-length",
            self.0
        )
    }
}

impl std::error::Error for IpPrefixError {}

impl FromStr for IpPrefix {
    type Err = IpPrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || IpPrefixError(s.to_owned());
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr = unmap(addr.parse::<IpAddr>().map_err(|_| error())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(error)?,
            None => max,
        };
        Ok(IpPrefix { addr, len })
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as the IPv4 address they carry.
pub(crate) fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key of an address: IPv4 as it is, IPv6 masked to `ipv6_prefix` bits and written as
/// `prefix/len`, since one subscriber usually holds a whole /64 (or more).
pub(crate) fn address_key(ip: IpAddr, ipv6_prefix: u8) -> SourceKey {
    match unmap(ip) {
        IpAddr::V4(v4) => SourceKey::new(v4.to_string()),
        IpAddr::V6(v6) => {
            let len = ipv6_prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            let masked = Ipv6Addr::from(u128::from(v6) & mask);
            if len == 128 {
                SourceKey::new(masked.to_string())
            } else {
                SourceKey::new(format!("{masked}/{len}"))
            }
        }
    }
}

/// The client address a chain of forwarding entries names, reading from the right past
/// trusted proxies; `None` when the rightmost untrusted entry is not an address.
fn rightmost_untrusted(
    entries: &[&str],
    trusted: &[IpPrefix],
    parse: impl Fn(&str) -> Option<IpAddr>,
) -> Option<IpAddr> {
    let mut last = None;
    for entry in entries.iter().rev() {
        let ip = parse(entry.trim())?;
        last = Some(ip);
        if !trusted.iter().any(|net| net.contains(ip)) {
            return Some(ip);
        }
    }
    // Every hop was a trusted proxy: the leftmost is as close to the client as we get.
    last
}

/// One `for=` value of a `Forwarded` element: an address, possibly quoted, with IPv6 in
/// brackets and an optional port. Obfuscated identifiers (`_hidden`, `unknown`) are not
/// addresses.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if let Some(rest) = value.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return addr.parse().ok();
    }
    let addr = match value.rsplit_once(':') {
        Some((addr, port)) if port.bytes().all(|b| b.is_ascii_digit()) => addr,
        _ => value,
    };
    addr.parse().ok()
}

/// The entries of every value of a comma-separated header, in order.
fn list_entries<'a>(request: &'a Request<'a>, name: &str, out: &mut Vec<String>) {
    request.headers.each_value(name, &mut |value| {
        if let Ok(text) = std::str::from_utf8(value) {
            out.extend(text.split(',').map(str::to_owned));
        }
    });
}

impl ClientKeySource {
    /// The key of `request`, or `None` when the configured source has nothing.
    pub(crate) fn key(&self, request: &Request<'_>, ipv6_prefix: u8) -> Option<SourceKey> {
        let peer = request.peer.map(unmap);
        let forwarded = |header: &str, trusted: &[IpPrefix], forwarded: bool| {
            let peer = peer?;
            if !trusted.iter().any(|net| net.contains(peer)) {
                return Some(peer);
            }
            let mut entries = Vec::new();
            list_entries(request, header, &mut entries);
            if entries.is_empty() {
                return Some(peer);
            }
            let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
            let found = if forwarded {
                rightmost_untrusted(&refs, trusted, forwarded_for)
            } else {
                rightmost_untrusted(&refs, trusted, |e| e.parse().ok())
            };
            // A malformed entry added by our own proxy: key by the proxy, never by a guess.
            Some(found.unwrap_or(peer))
        };
        let ip = match self {
            ClientKeySource::Peer => peer,
            ClientKeySource::RightmostForwardedFor { trusted_proxies } => {
                forwarded("x-forwarded-for", trusted_proxies, false)
            }
            ClientKeySource::RightmostForwarded { trusted_proxies } => {
                forwarded("forwarded", trusted_proxies, true)
            }
            ClientKeySource::Header(name) => {
                let mut value = None;
                request
                    .headers
                    .each_value(&name.to_ascii_lowercase(), &mut |v| {
                        value.get_or_insert_with(|| String::from_utf8_lossy(v).trim().to_owned());
                    });
                let value = value.filter(|v| !v.is_empty())?;
                return Some(match value.parse::<IpAddr>() {
                    Ok(ip) => address_key(ip, ipv6_prefix),
                    Err(_) => SourceKey::new(value),
                });
            }
            ClientKeySource::Custom(f) => {
                return f(request).filter(|k| !k.is_empty()).map(SourceKey::new);
            }
        };
        ip.map(|ip| address_key(ip, ipv6_prefix))
    }
}
