//! What the policy is told about a request: its head, as received, and the first bytes of
//! its body.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::request::Parts;
use tracehound::http::{Admission, BodyTicket, Head, Headers, HttpPolicy, Inspection};

/// The headers of an `http` request, as the policy reads them.
struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8])) {
        // An invalid name matches nothing; `get_all` does not panic on it.
        for value in self.0.get_all(name) {
            each(value.as_bytes());
        }
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

/// Admits the request from its head; `body_follows` tells whether a body comes after it.
pub(crate) fn admit(policy: &HttpPolicy, parts: &Parts, body_follows: bool) -> Admission {
    let headers = HttpHeaders(&parts.headers);
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
    body: &[u8],
    body_truncated: bool,
) -> Inspection {
    let headers = HttpHeaders(&parts.headers);
    let request = head(parts, &headers).with_body(body, body_truncated);
    policy.inspect_body(ticket, &request)
}

/// The head as the policy sees it: the request target exactly as received.
fn head<'a>(parts: &'a Parts, headers: &'a HttpHeaders<'a>) -> Head<'a> {
    Head {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers,
        peer: peer(parts),
        body_follows: true,
    }
}
