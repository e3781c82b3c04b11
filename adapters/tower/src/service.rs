//! The middleware service: hands each request to a [`ResponseFuture`], which does the rest.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;
use tracehound::http::HttpPolicy;

use crate::body::{RequestBody, ResponseBody};
use crate::future::ResponseFuture;

/// Inspects every request with an [`HttpPolicy`] before the inner service sees it.
///
/// Built by [`TracehoundLayer`](crate::TracehoundLayer). A request that passes reaches the
/// inner service with its whole body (as a [`RequestBody`]) and the policy's
/// [`Inspection`](tracehound::http::Inspection) in its extensions; a refused one is answered
/// by the middleware.
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
