//! The middleware service, and the functions that are the whole adapter: what the policy is
//! told about a request ([`admit`], [`inspect_body`]) and how its refusal is written
//! ([`refuse`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;
use tracehound::http::{Admission, BodyTicket, Head, Headers, HttpPolicy, Inspection, Rejection};

use crate::body::{RequestBody, ResponseBody};
use crate::future::ResponseFuture;

/// Inspects every request with an [`HttpPolicy`] before the inner service sees it.
///
/// Built by [`TracehoundLayer`](crate::TracehoundLayer). A request that passes reaches the
/// inner service with its whole body (as a [`RequestBody`]) and the policy's
/// [`Inspection`] in its extensions; a refused one is answered by the middleware.
#[derive(Debug, Clone)]
pub struct TracehoundService<S> {
    inner: S,
    policy: Arc<HttpPolicy>,
}

impl<S> TracehoundService<S> {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: S, policy: impl Into<Arc<HttpPolicy>>) -> Self {
        TracehoundService {
            inner,
            policy: policy.into(),
        }
    }

    /// The policy requests are inspected with.
    pub fn policy(&self) -> &Arc<HttpPolicy> {
        &self.policy
    }

    /// The wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for TracehoundService<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>> + Clone,
    B: Body,
    B::Data: Buf,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The body is read before the inner service is called: take the service that was
        // driven to readiness and leave a fresh clone in its place.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(ready, Arc::clone(&self.policy), request)
    }
}

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

/// The response for a refusal: its status, headers and short body, as the policy wrote them.
pub(crate) fn refuse<B>(rejection: &Rejection) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::refusal(rejection.body));
    // The policy only produces statuses 400..=599; 403 stands in should that ever change.
    *response.status_mut() =
        StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::FORBIDDEN);
    for (name, value) in &rejection.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
