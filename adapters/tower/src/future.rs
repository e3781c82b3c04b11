//! The response future: buffer the body, inspect, then call the inner service or refuse.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;
use tracehound::http::HttpPolicy;

use crate::body::{RequestBody, ResponseBody};
use crate::service::{inspect, refuse};

pin_project! {
    /// The future of [`TracehoundService`](crate::TracehoundService)'s response.
    ///
    /// # Panics
    ///
    /// Like most futures, it panics if polled again after it completed.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<RequestBody<B>>>,
        B: Body,
    {
        // The inner service's future, once the request passed.
        #[pin]
        called: Option<S::Future>,
        // Everything needed to call the inner service, while the body is being buffered.
        pending: Option<Pending<S, B>>,
    }
}

struct Pending<S, B: Body> {
    service: S,
    policy: Arc<HttpPolicy>,
    parts: Parts,
    body: RequestBody<B>,
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
    B: Body,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("buffering", &self.pending.is_some())
            .field("called", &self.called.is_some())
            .finish()
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
    B: Body,
{
    pub(crate) fn new(service: S, policy: Arc<HttpPolicy>, request: Request<B>) -> Self {
        let (parts, body) = request.into_parts();
        ResponseFuture {
            called: None,
            pending: Some(Pending {
                service,
                policy,
                parts,
                body: RequestBody::new(body),
            }),
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResBody>>,
    B: Body,
    B::Data: Buf,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(pending) = this.pending.as_mut() {
            ready!(
                pending
                    .body
                    .poll_buffer(cx, pending.policy.max_body_bytes())
            );
        }
        if let Some(Pending {
            mut service,
            policy,
            mut parts,
            body,
        }) = this.pending.take()
        {
            let (inspected, truncated) = body.inspected(policy.max_body_bytes());
            let inspection = inspect(&policy, &parts, inspected, truncated);
            if let Some(rejection) = inspection.decision.rejection() {
                return Poll::Ready(Ok(refuse(rejection)));
            }
            parts.extensions.insert(inspection);
            this.called
                .set(Some(service.call(Request::from_parts(parts, body))));
        }
        let Some(called) = this.called.as_pin_mut() else {
            panic!("tracehound ResponseFuture polled after completion");
        };
        called
            .poll(cx)
            .map_ok(|response| response.map(ResponseBody::inner))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::sync::Mutex;

    use bytes::Bytes;
    use http_body_util::Full;
    use tracehound::http::{HttpConfig, Inspection, Request as Described};
    use tracehound::{MaintenanceConfig, RateLimitConfig, ThreatSignal, Tracehound};

    use super::*;
    use crate::body::tests::{Frames, data, drain};

    /// Answers with what it read of the body, and whether the body then failed.
    #[derive(Clone)]
    struct Reader;

    impl Service<Request<RequestBody<Frames>>> for Reader {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<RequestBody<Frames>>) -> Self::Future {
            assert!(request.extensions().get::<Inspection>().is_some());
            let (mut bytes, others) = drain(request.into_body());
            bytes.extend(others.concat().into_bytes());
            ready(Ok(Response::new(Full::new(bytes.into()))))
        }
    }

    #[test]
    fn a_body_that_fails_is_inspected_as_read_and_passed_on_with_its_error() {
        let tracehound = Tracehound::builder()
            .rate_limit(RateLimitConfig::disabled())
            .maintenance(MaintenanceConfig::manual())
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(None));
        let detector = {
            let seen = Arc::clone(&seen);
            move |request: &Described<'_>| -> Option<ThreatSignal> {
                *seen.lock().unwrap() = Some((request.body.to_vec(), request.body_truncated));
                None
            }
        };
        let policy =
            Arc::new(HttpPolicy::new(tracehound, HttpConfig::default(), detector).unwrap());
        let frames = Frames(vec![data("abc"), Err("reset")].into());
        let request = Request::post("/upload").body(frames).unwrap();
        let mut future = std::pin::pin!(ResponseFuture::new(Reader, Arc::clone(&policy), request));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
            panic!("every frame is ready");
        };
        assert_eq!(response.status(), 200);
        assert_eq!(drain(response.into_body()).0, b"abcerror");
        assert_eq!(*seen.lock().unwrap(), Some((b"abc".to_vec(), true)));
        assert_eq!(policy.stats().panics, 0);
    }
}
