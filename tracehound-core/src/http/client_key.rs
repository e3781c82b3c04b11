//! Which source a request is keyed by, chosen by the operator and never guessed.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use super::Head;
use crate::scent::SourceKey;

/// Where the client key (rate limiting and evidence source) comes from.
///
/// Forwarding headers are honoured only when the connection comes from a configured trusted
/// proxy, and are read from the right: the rightmost address a trusted proxy did not add is
/// the client. A client can put anything in the leftmost entries, so they never count.
///
/// Entries are read in the forms proxies write: `192.0.2.7`, `192.0.2.7:4711`,
/// `2001:db8::7`, `[2001:db8::7]`, `[2001:db8::7]:4711`, `fe80::7%eth0` (the zone is
/// dropped), each possibly in double quotes (`for="[2001:db8::7]:4711"`). At most
/// [`MAX_HOPS`] entries are read from the right. When the entry that names the client
/// cannot be read (garbage, an obfuscated `for=_hidden` or `for=unknown`), or every entry
/// read is a trusted proxy while more entries lie beyond the bound, the request has no key:
/// the [`MissingKey`](super::MissingKey) policy decides, and the case is counted in
/// [`HttpStats::unreadable_keys`](super::HttpStats::unreadable_keys). It is never keyed by
/// the proxy's own address, which would put every client behind the proxy under one key.
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

/// A function that computes the client key of a request from its head (the key is needed
/// before the body is read).
pub type KeyFn = Arc<dyn Fn(&Head<'_>) -> Option<String> + Send + Sync>;

/// Most forwarding entries read, from the right.
pub const MAX_HOPS: usize = 16;

/// What the configured source found.
#[derive(Debug)]
pub(crate) enum Key {
    /// The key.
    Found(SourceKey),
    /// The source has nothing: no peer address, or the named header is absent.
    Missing,
    /// A forwarding header from a trusted proxy that names no readable client.
    Unreadable,
}

impl PartialEq for ClientKeySource {
    /// Functions are equal only to themselves.
    fn eq(&self, other: &Self) -> bool {
        use ClientKeySource::*;
        match (self, other) {
            (Peer, Peer) => true,
            (
                RightmostForwardedFor { trusted_proxies: a },
                RightmostForwardedFor { trusted_proxies: b },
            )
            | (
                RightmostForwarded { trusted_proxies: a },
                RightmostForwarded { trusted_proxies: b },
            ) => a == b,
            (Header(a), Header(b)) => a == b,
            (Custom(a), Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for ClientKeySource {}

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
/// trusted proxies. `more` says whether entries were left unread to the left of `entries`.
fn rightmost_untrusted(
    entries: &VecDeque<String>,
    more: bool,
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
    // Every hop read was a trusted proxy. If that was the whole chain, the leftmost is
    // where the request started (a proxy's own request); otherwise the client is unread.
    if more { None } else { last }
}

/// A node as proxies write it: an address, possibly quoted, IPv6 possibly in brackets,
/// possibly with a port, possibly with a zone. Anything else (obfuscated identifiers such
/// as `_hidden` or `unknown`) is not an address.
fn node_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let (addr, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']')?;
            let port = if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix(':')?)
            };
            (addr, port)
        }
        // One colon is an IPv4 address and a port; more are an IPv6 address.
        None => match text.split_once(':') {
            Some((addr, port)) if !port.contains(':') => (addr, Some(port)),
            _ => (text, None),
        },
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let addr = match addr.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() && addr.contains(':') => addr,
        Some(_) => return None,
        None => addr,
    };
    addr.parse().ok()
}

/// The `for=` value of one `Forwarded` element (`for=...;proto=https;by=...`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    node_address(value)
}

/// The last [`MAX_HOPS`] entries of every value of a comma-separated header, in order, and
/// whether there were more.
fn last_entries(head: &Head<'_>, name: &str) -> (VecDeque<String>, bool) {
    let mut entries = VecDeque::with_capacity(MAX_HOPS);
    let mut more = false;
    head.headers.each_value(name, &mut |value| {
        // Not text: a broken entry, read as such.
        let text = String::from_utf8_lossy(value);
        for entry in text.split(',') {
            if entries.len() == MAX_HOPS {
                entries.pop_front();
                more = true;
            }
            entries.push_back(entry.to_owned());
        }
    });
    (entries, more)
}

impl ClientKeySource {
    /// The key of the request with this head.
    pub(crate) fn key(&self, head: &Head<'_>, ipv6_prefix: u8) -> Key {
        let peer = head.peer.map(unmap);
        let forwarded = |header: &str, trusted: &[IpPrefix], parse: fn(&str) -> Option<IpAddr>| {
            let Some(peer) = peer else {
                return Key::Missing;
            };
            if !trusted.iter().any(|net| net.contains(peer)) {
                return Key::Found(address_key(peer, ipv6_prefix));
            }
            let (entries, more) = last_entries(head, header);
            if entries.is_empty() {
                // A trusted proxy that added nothing: the request is the proxy's own.
                return Key::Found(address_key(peer, ipv6_prefix));
            }
            match rightmost_untrusted(&entries, more, trusted, parse) {
                Some(ip) => Key::Found(address_key(ip, ipv6_prefix)),
                None => Key::Unreadable,
            }
        };
        match self {
            ClientKeySource::Peer => match peer {
                Some(ip) => Key::Found(address_key(ip, ipv6_prefix)),
                None => Key::Missing,
            },
            ClientKeySource::RightmostForwardedFor { trusted_proxies } => {
                forwarded("x-forwarded-for", trusted_proxies, node_address)
            }
            ClientKeySource::RightmostForwarded { trusted_proxies } => {
                forwarded("forwarded", trusted_proxies, forwarded_for)
            }
            ClientKeySource::Header(name) => {
                let mut value = None;
                head.headers
                    .each_value(&name.to_ascii_lowercase(), &mut |v| {
                        value.get_or_insert_with(|| String::from_utf8_lossy(v).trim().to_owned());
                    });
                match value.filter(|v| !v.is_empty()) {
                    None => Key::Missing,
                    Some(value) => Key::Found(match node_address(&value) {
                        Some(ip) => address_key(ip, ipv6_prefix),
                        None => SourceKey::new(value),
                    }),
                }
            }
            ClientKeySource::Custom(f) => match f(head).filter(|k| !k.is_empty()) {
                Some(key) => Key::Found(SourceKey::new(key)),
                None => Key::Missing,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_read_in_every_form_proxies_write() {
        let cases: &[(&str, Option<&str>)] = &[
            ("192.0.2.7", Some("192.0.2.7")),
            (" 192.0.2.7 ", Some("192.0.2.7")),
            ("192.0.2.7:4711", Some("192.0.2.7")),
            ("\"192.0.2.7:4711\"", Some("192.0.2.7")),
            ("2001:db8::7", Some("2001:db8::7")),
            ("[2001:db8::7]", Some("2001:db8::7")),
            ("[2001:db8::7]:4711", Some("2001:db8::7")),
            ("\"[2001:db8::7]:4711\"", Some("2001:db8::7")),
            ("fe80::7%eth0", Some("fe80::7")),
            ("[fe80::7%25eth0]:80", Some("fe80::7")),
            ("::ffff:192.0.2.7", Some("::ffff:192.0.2.7")),
            ("192.0.2.7:", None),
            ("192.0.2.7:99999999", None),
            ("192.0.2.7:http", None),
            ("[2001:db8::7", None),
            ("[2001:db8::7]x", None),
            ("192.0.2.7%eth0", None),
            ("fe80::7%", None),
            ("_hidden", None),
            ("unknown", None),
            ("", None),
            ("\"", None),
            ("999.0.2.7", None),
        ];
        for (text, want) in cases {
            let want = want.map(|w| w.parse::<IpAddr>().unwrap_or_else(|_| unreachable!()));
            assert_eq!(node_address(text), want, "{text:?}");
        }
    }
}
