//! The bodies the middleware hands on: the request body the inner service reads (the
//! buffered prefix, then the rest of the original stream) and the response body (the inner
//! service's, or a short refusal), and the refusal's response itself.

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracehound::http::{BodyPrefix, Refusal, Rejection};

/// The request body the inner service receives: every byte of the original body, in order.
///
/// The middleware reads the first [`HttpPolicy::max_body_bytes`] bytes (and at most one
/// frame past them) to inspect them; this body yields those buffered bytes first, then
/// whatever the original body still has. Trailers are passed on. If the original body
/// failed while it was being buffered, the bytes read before the failure come first and
/// the failure follows as this body's error: the request itself still reaches the
/// inner service (fail-open), and the handler sees the same error it would have seen
/// without the middleware.
///
/// [`HttpPolicy::max_body_bytes`]: tracehound::http::HttpPolicy::max_body_bytes
pub struct RequestBody<B: Body> {
    prefix: BodyPrefix,
    /// What ended the buffering, handed on after the prefix: the rest of the frame that
    /// crossed the cap (not copied), the trailers, or the body's error.
    held: Option<Result<Frame<Bytes>, B::Error>>,
    /// The unread rest of the original body; `None` once it has ended or failed. Boxed so
    /// that it can be polled here and then moved into the request.
    rest: Option<Pin<Box<B>>>,
}

// Nothing is pinned in place: the original body lives in a `Pin<Box<_>>`.
impl<B: Body> Unpin for RequestBody<B> {}

impl<B: Body> fmt::Debug for RequestBody<B> {
    /// Shows sizes and state, never body bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("buffered_len", &self.buffered_len())
            .field(
                "trailers",
                &self.held_frame().is_some_and(Frame::is_trailers),
            )
            .field("failed", &matches!(self.held, Some(Err(_))))
            .field("rest", &self.rest.is_some())
            .finish()
    }
}

impl<B: Body> RequestBody<B> {
    /// `body`, of which [`poll_buffer`](Self::poll_buffer) reads up to `cap` bytes.
    pub(crate) fn new(body: B, cap: usize) -> Self {
        // An empty body (most GETs) is neither boxed nor polled.
        let rest = (!body.is_end_stream()).then(|| Box::pin(body));
        RequestBody {
            prefix: BodyPrefix::new(cap),
            held: None,
            rest,
        }
    }

    /// Reads the original body until a byte past the cap has arrived, or it ends, or it
    /// fails.
    pub(crate) fn poll_buffer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while !self.prefix.is_truncated() {
            let Some(rest) = self.rest.as_mut() else {
                break;
            };
            if rest.is_end_stream() {
                self.rest = None;
                break;
            }
            match ready!(rest.as_mut().poll_frame(cx)) {
                None => self.rest = None,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let data = into_bytes(data);
                        let taken = self.prefix.push(&data);
                        if taken < data.len() {
                            self.held = Some(Ok(Frame::data(data.slice(taken..))));
                        }
                    }
                    Err(frame) => {
                        // Trailers end a body; http-body 1 has no other kind of frame.
                        self.held = Some(Ok(frame.map_data(into_bytes)));
                        self.rest = None;
                    }
                },
                Some(Err(error)) => {
                    self.prefix.mark_truncated();
                    self.held = Some(Err(error));
                    self.rest = None;
                }
            }
        }
        Poll::Ready(())
    }

    /// The bytes to inspect, and whether the body goes on past them (or failed before its
    /// end).
    pub(crate) fn prefix(&self) -> &BodyPrefix {
        &self.prefix
    }

    fn held_frame(&self) -> Option<&Frame<Bytes>> {
        self.held.as_ref()?.as_ref().ok()
    }

    fn buffered_len(&self) -> usize {
        let held = self.held_frame().and_then(Frame::data_ref);
        self.prefix.len() + held.map_or(0, Bytes::len)
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let prefix = mem::replace(&mut this.prefix, BodyPrefix::new(0));
            return Poll::Ready(Some(Ok(Frame::data(prefix.into_bytes().into()))));
        }
        if let Some(held) = this.held.take() {
            return Poll::Ready(Some(held));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(rest.as_mut().poll_frame(cx));
        if frame.is_none() {
            this.rest = None;
        }
        Poll::Ready(frame.map(|frame| frame.map(|frame| frame.map_data(into_bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty()
            && self.held.is_none()
            && self.rest.as_ref().is_none_or(|rest| rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |rest| rest.size_hint());
        let buffered = self.buffered_len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(buffered));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(buffered));
        }
        hint
    }
}

fn into_bytes(mut data: impl Buf) -> Bytes {
    // Free for `Bytes`, the data type of hyper, axum and tonic bodies.
    data.copy_to_bytes(data.remaining())
}

pin_project! {
    /// The response body: the inner service's, or the short plain-text body of a refusal.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProjection]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Refusal { text: Bytes },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }

    fn refusal(text: &'static [u8]) -> Self {
        ResponseBody {
            kind: Kind::Refusal {
                text: Bytes::from_static(text),
            },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProjection::Inner { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map(|frame| frame.map_data(into_bytes)))),
            KindProjection::Refusal { text } => {
                let text = mem::take(text);
                Poll::Ready((!text.is_empty()).then(|| Ok(Frame::data(text))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Refusal { text } => text.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Refusal { text } => SizeHint::with_exact(text.len() as u64),
        }
    }
}

/// The response for a refusal: the one place a [`Rejection`] becomes `http` types, as the
/// policy's [`Refusal`] spells it.
pub(crate) fn refuse<B>(rejection: &Rejection) -> Response<ResponseBody<B>> {
    let refusal = Refusal::new(rejection);
    let mut response = Response::new(ResponseBody::refusal(refusal.body()));
    // `Refusal` only yields valid statuses and headers; these fallbacks satisfy the types.
    *response.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    for (name, value) in refusal.headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body that yields its frames one at a time, each poll ready.
    pub(crate) struct Frames(pub(crate) VecDeque<Result<Frame<Bytes>, &'static str>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    pub(crate) fn data(text: &'static str) -> Result<Frame<Bytes>, &'static str> {
        Ok(Frame::data(Bytes::from_static(text.as_bytes())))
    }

    fn buffered(
        frames: Vec<Result<Frame<Bytes>, &'static str>>,
        cap: usize,
    ) -> RequestBody<Frames> {
        let mut body = RequestBody::new(Frames(frames.into()), cap);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(body.poll_buffer(&mut cx).is_ready());
        body
    }

    fn inspected<B: Body>(body: &RequestBody<B>) -> (&[u8], bool) {
        (body.prefix().as_bytes(), body.prefix().is_truncated())
    }

    /// Everything the body yields: data joined, then the error or trailers if any.
    pub(crate) fn drain<B: Body<Data = Bytes> + Unpin>(mut body: B) -> (Vec<u8>, Vec<String>) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let (mut bytes, mut others) = (Vec::new(), Vec::new());
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            match frame.map(Frame::into_data) {
                Ok(Ok(data)) => bytes.extend_from_slice(&data),
                Ok(Err(frame)) => others.push(format!("trailers: {:?}", frame.trailers_ref())),
                Err(_) => others.push("error".to_owned()),
            }
        }
        assert!(body.is_end_stream());
        (bytes, others)
    }

    #[test]
    fn a_body_within_the_cap_is_inspected_whole_and_passed_on() {
        let body = buffered(vec![data("abc"), data("de")], 5);
        assert_eq!(inspected(&body), (&b"abcde"[..], false));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert_eq!(drain(body), (b"abcde".to_vec(), vec![]));
    }

    #[test]
    fn a_longer_body_is_inspected_up_to_the_cap_and_passed_on_whole() {
        let body = buffered(vec![data("abc"), data("def"), data("ghi")], 4);
        assert_eq!(inspected(&body), (&b"abcd"[..], true));
        assert_eq!(
            body.buffered_len(),
            6,
            "the rest of the frame that crossed the cap"
        );
        assert_eq!(drain(body), (b"abcdefghi".to_vec(), vec![]));
    }

    #[test]
    fn a_read_error_follows_the_bytes_read_before_it() {
        let body = buffered(vec![data("abc"), Err("reset"), data("never")], 100);
        assert_eq!(inspected(&body), (&b"abc"[..], true));
        assert_eq!(drain(body), (b"abc".to_vec(), vec!["error".to_owned()]));
    }

    #[test]
    fn trailers_follow_the_buffered_bytes() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let body = buffered(vec![data("abc"), Ok(Frame::trailers(trailers))], 100);
        assert_eq!(inspected(&body), (&b"abc"[..], false));
        let (bytes, others) = drain(body);
        assert_eq!(bytes, b"abc");
        assert_eq!(others.len(), 1);
        assert!(others[0].contains("grpc-status"));
    }

    #[test]
    fn a_refusal_body_is_its_text_with_an_exact_size() {
        let body = ResponseBody::<http_body_util::Empty<Bytes>>::refusal(b"forbidden\n");
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(drain(body), (b"forbidden\n".to_vec(), vec![]));
        let inner = ResponseBody::inner(http_body_util::Full::new(Bytes::from_static(b"ok")));
        assert_eq!(drain(inner), (b"ok".to_vec(), vec![]));
    }

    #[test]
    fn a_refusal_is_written_as_the_policy_spelled_it() -> Result<(), Box<dyn std::error::Error>> {
        use tracehound::http::{Head, HttpConfig, HttpPolicy, MissingKey};

        let mut config = HttpConfig::default();
        config.missing_key = MissingKey::Reject(401);
        let policy = HttpPolicy::new(
            tracehound::Tracehound::builder().build()?,
            config,
            |_: &tracehound::http::Request<'_>| None,
        )?;
        for (content_type, status, body) in [
            ("text/plain", 401, &b"no client address\n"[..]),
            ("application/grpc", 200, b""),
        ] {
            let headers = |name: &str| (name == "content-type").then_some(content_type);
            let head = Head {
                method: "POST",
                path: "/",
                query: None,
                headers: &headers,
                peer: None,
                body_follows: true,
            };
            let inspection = policy.inspect(&head.with_body(b"", true));
            let rejection = inspection.decision.rejection().ok_or("no client address")?;
            let response = refuse::<http_body_util::Empty<Bytes>>(rejection);
            assert_eq!(response.status(), status);
            let written: Vec<(&str, &[u8])> = response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect();
            let expected: Vec<(&str, &[u8])> = Refusal::new(rejection)
                .headers()
                .map(|(name, value)| (name, value.as_bytes()))
                .collect();
            assert_eq!(written, expected);
            assert!(written.contains(&("connection", b"close")));
            assert_eq!(response.body().is_end_stream(), body.is_empty());
            assert_eq!(drain(response.into_body()), (body.to_vec(), vec![]));
        }
        Ok(())
    }
}
