//! What the policy is told about a request: its head, as received, and the first bytes of
//! its body.

use std::net::{IpAddr, SocketAddr};

use http::request::Parts;
use tracehound::http::{Admission, BodyPrefix, BodyTicket, Head, Headers, HttpPolicy, Inspection};

/// Admits the request from its head; `body_follows` tells whether a body comes after it.
pub(crate) fn admit(policy: &HttpPolicy, parts: &Parts, body_follows: bool) -> Admission {
    let headers = |name: &str| parts.headers.get_all(name);
    policy.admit(&Head {
        body_follows,
        ..head(parts, &headers)
    })
}

/// Inspects the request with the first bytes of its body.
pub(crate) fn inspect_body(
    policy: &HttpPolicy,
    ticket: BodyTicket,
    parts: &Parts,
    prefix: &BodyPrefix,
) -> Inspection {
    let headers = |name: &str| parts.headers.get_all(name);
    policy.inspect_body(ticket, &head(parts, &headers).with_prefix(prefix))
}

/// The head as the policy sees it: the request target exactly as received. An invalid
/// header name matches nothing: `get_all` does not panic on it.
fn head<'a>(parts: &'a Parts, headers: &'a dyn Headers) -> Head<'a> {
    Head {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers,
        peer: peer(parts),
        body_follows: true,
    }
}

/// The connection's peer: axum's `ConnectInfo<SocketAddr>`, tonic's `TcpConnectInfo`, or a
/// plain `SocketAddr` extension (what a hyper server inserts itself).
fn peer(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "tonic")]
    if let Some(addr) = parts
        .extensions
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(tonic::transport::server::TcpConnectInfo::remote_addr)
    {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}
