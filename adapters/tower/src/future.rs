//! The response future: admit the request from its head, buffer the body if the policy needs
//! it (within its deadline), inspect, then call the inner service or refuse.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Buf;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;
use tracehound::http::{Admission, BodyTicket, HttpPolicy, Inspection, Rejection};

use crate::body::{RequestBody, ResponseBody, refuse};
use crate::head::{admit, inspect_body};

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
        // A refusal decided from the head, to be answered at the first poll.
        refused: Option<Rejection>,
    }
}

struct Pending<S, B: Body> {
    service: S,
    policy: Arc<HttpPolicy>,
    parts: Parts,
    body: RequestBody<B>,
    ticket: BodyTicket,
    deadline: Deadline,
}

/// When the body must have arrived. The timer is made only if the body is not there at the
/// first poll, so a body that came with its head (most do) costs no timer.
enum Deadline {
    /// Not armed yet: the body must be buffered by this instant.
    At(Instant),
    /// Armed.
    Armed(Pin<Box<Sleep>>),
    /// No tokio runtime with timers here: the body is awaited without a deadline.
    None,
}

impl Deadline {
    /// Ready once the deadline has passed.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Deadline::At(at) = *self {
            *self = match timer(at) {
                Some(sleep) => Deadline::Armed(sleep),
                None => Deadline::None,
            };
        }
        match self {
            Deadline::Armed(sleep) => sleep.as_mut().poll(cx),
            Deadline::At(_) | Deadline::None => Poll::Pending,
        }
    }
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
            .field("refused", &self.refused.is_some())
            .finish()
    }
}

impl<S, B: Body> Pending<S, B> {
    /// Buffers the body: ready with `false` once it is buffered, `true` if the deadline
    /// passed first.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.body.poll_buffer(cx).is_ready() {
            return Poll::Ready(false);
        }
        self.deadline.poll(cx).map(|()| true)
    }
}

/// A timer for `at` on the current tokio runtime, if there is one with timers.
fn timer(at: Instant) -> Option<Pin<Box<Sleep>>> {
    tokio::runtime::Handle::try_current().ok()?;
    // A runtime built without timers panics here; the request is then served without a
    // deadline rather than failing.
    let at = tokio::time::Instant::from_std(at);
    panic::catch_unwind(AssertUnwindSafe(|| Box::pin(tokio::time::sleep_until(at)))).ok()
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<RequestBody<B>>>,
    B: Body,
{
    /// Admits `request` from its head: a refusal or a request that needs no inspection is
    /// settled here, without touching the body (so no `100 Continue` is sent for it by
    /// this layer).
    pub(crate) fn new(mut service: S, policy: Arc<HttpPolicy>, request: Request<B>) -> Self {
        let (parts, body) = request.into_parts();
        let body_follows = !body.is_end_stream();
        let body = RequestBody::new(body, policy.max_body_bytes());
        let mut future = ResponseFuture {
            called: None,
            pending: None,
            refused: None,
        };
        match admit(&policy, &parts, body_follows) {
            Admission::Decided(inspection) => {
                match call_or_refuse(&mut service, parts, body, inspection) {
                    Ok(called) => future.called = Some(called),
                    Err(rejection) => future.refused = Some(rejection),
                }
            }
            Admission::ReadBody(ticket) => {
                future.pending = Some(Pending {
                    deadline: Deadline::At(Instant::now() + policy.body_timeout()),
                    service,
                    policy,
                    parts,
                    body,
                    ticket,
                });
            }
        }
        future
    }
}

/// Calls the inner service with the request and its inspection, or returns the refusal.
fn call_or_refuse<S, B>(
    service: &mut S,
    mut parts: Parts,
    body: RequestBody<B>,
    inspection: Inspection,
) -> Result<S::Future, Rejection>
where
    S: Service<Request<RequestBody<B>>>,
    B: Body,
{
    if let Some(rejection) = inspection.decision.rejection() {
        return Err(rejection.clone());
    }
    parts.extensions.insert(inspection);
    Ok(service.call(Request::from_parts(parts, body)))
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
        if let Some(rejection) = this.refused.take() {
            return Poll::Ready(Ok(refuse(&rejection)));
        }
        let timed_out = match this.pending.as_mut() {
            Some(pending) => ready!(pending.poll_body(cx)),
            None => false,
        };
        if let Some(Pending {
            mut service,
            policy,
            parts,
            body,
            ticket,
            ..
        }) = this.pending.take()
        {
            let inspection = if timed_out {
                policy.body_timed_out(ticket)
            } else {
                inspect_body(&policy, ticket, &parts, body.prefix())
            };
            // On a refusal, the buffered bytes and the rest of the body are dropped here.
            match call_or_refuse(&mut service, parts, body, inspection) {
                Ok(called) => this.called.set(Some(called)),
                Err(rejection) => return Poll::Ready(Ok(refuse(&rejection))),
            }
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
    use tracehound::{ThreatSignal, Tracehound};

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
            .rate_limit(None)
            .maintenance(None)
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
