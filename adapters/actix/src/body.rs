//! Reading the first bytes of a request body without taking it from the handler.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::rt::time::sleep;
use actix_web::web::Bytes;
use futures_core::Stream;
use tracehound::http::BodyPrefix;

/// The start of a request body, read for inspection, and what remains of it.
pub(crate) struct Buffered {
    prefix: BodyPrefix,
    /// The rest of the chunk that crossed the cap: handed on after the prefix, not copied.
    past_cap: Option<Bytes>,
    rest: Rest,
    /// The deadline passed before the body was buffered.
    pub(crate) timed_out: bool,
}

/// What follows the buffered bytes.
enum Rest {
    /// The body ended.
    End,
    /// The unread remainder of the body.
    More(Payload),
    /// Reading failed; the handler gets this error after the buffered bytes.
    Failed(PayloadError),
}

/// Reads `payload` until a byte past `cap` has arrived or it ends (or fails), or until
/// `timeout` has passed ([`Buffered::timed_out`]).
///
/// At most one chunk past the cap is held, so memory stays near `cap` whatever the body's
/// size. Reading past the cap is also how "more followed" is known.
pub(crate) async fn buffer(mut payload: Payload, cap: usize, timeout: Duration) -> Buffered {
    let mut deadline = pin!(sleep(timeout));
    let mut prefix = BodyPrefix::new(cap);
    let mut past_cap = None;
    let mut timed_out = false;
    let rest = loop {
        if prefix.is_truncated() {
            break Rest::More(payload);
        }
        let next = poll_fn(|cx| match Pin::new(&mut payload).poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(Some(item)),
            Poll::Pending => deadline.as_mut().poll(cx).map(|()| None),
        })
        .await;
        let Some(next) = next else {
            timed_out = true;
            break Rest::More(payload);
        };
        match next {
            None => break Rest::End,
            Some(Ok(chunk)) => {
                let taken = prefix.push(&chunk);
                if taken < chunk.len() {
                    past_cap = Some(chunk.slice(taken..));
                }
            }
            Some(Err(error)) => {
                prefix.mark_truncated();
                break Rest::Failed(error);
            }
        }
    };
    Buffered {
        prefix,
        past_cap,
        rest,
        timed_out,
    }
}

impl Buffered {
    /// The bytes the policy inspects, and whether the body goes on past them.
    pub(crate) fn prefix(&self) -> &BodyPrefix {
        &self.prefix
    }

    /// A payload for the handler: every buffered byte, then the rest of the original body
    /// (or its read error), so the handler sees exactly what it would have seen unwrapped.
    pub(crate) fn into_payload(self) -> Payload {
        match (self.rest, self.past_cap) {
            (Rest::End, None) if self.prefix.is_empty() => Payload::None,
            (Rest::End, None) => Payload::from(self.prefix.into_bytes()),
            (rest, past_cap) => {
                let first =
                    (!self.prefix.is_empty()).then(|| Bytes::from(self.prefix.into_bytes()));
                let replay: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
                    Box::pin(Replay {
                        first,
                        past_cap,
                        rest,
                    });
                Payload::from(replay)
            }
        }
    }
}

/// The buffered bytes followed by the rest of the body.
struct Replay {
    first: Option<Bytes>,
    past_cap: Option<Bytes>,
    rest: Rest,
}

impl Stream for Replay {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(buffered) = this.first.take().or_else(|| this.past_cap.take()) {
            return Poll::Ready(Some(Ok(buffered)));
        }
        if let Rest::More(payload) = &mut this.rest {
            return Pin::new(payload).poll_next(cx);
        }
        match std::mem::replace(&mut this.rest, Rest::End) {
            Rest::Failed(error) => Poll::Ready(Some(Err(error))),
            _ => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A deadline no test reaches.
    const LONG: Duration = Duration::from_secs(3600);

    /// A body arriving in the given chunks.
    struct Chunks(VecDeque<Result<Bytes, PayloadError>>);

    impl Stream for Chunks {
        type Item = Result<Bytes, PayloadError>;

        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.get_mut().0.pop_front())
        }
    }

    fn payload(chunks: Vec<Result<Bytes, PayloadError>>) -> Payload {
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(Chunks(chunks.into()));
        Payload::from(stream)
    }

    fn chunk(byte: u8, len: usize) -> Result<Bytes, PayloadError> {
        Ok(Bytes::from(vec![byte; len]))
    }

    /// Everything a handler would read: the bytes, and whether an error ended them.
    async fn drain(mut payload: Payload) -> (Vec<u8>, Option<PayloadError>) {
        let mut bytes = Vec::new();
        while let Some(item) = poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
            match item {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(error) => return (bytes, Some(error)),
            }
        }
        (bytes, None)
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        actix_web::rt::System::new().block_on(future)
    }

    #[test]
    fn reads_one_chunk_past_the_cap_and_replays_everything() {
        run(async {
            let chunks = vec![chunk(1, 600), chunk(2, 600), chunk(3, 600)];
            let buffered = buffer(payload(chunks), 1024, LONG).await;
            assert_eq!(buffered.prefix().len(), 1024);
            assert!(buffered.prefix().is_truncated());
            assert!(matches!(buffered.rest, Rest::More(_)));
            assert_eq!(buffered.past_cap.as_ref().map(Bytes::len), Some(600 - 424));
            let (bytes, error) = drain(buffered.into_payload()).await;
            let expected = [vec![1; 600], vec![2; 600], vec![3; 600]].concat();
            assert_eq!(bytes, expected);
            assert!(error.is_none());
        });
    }

    #[test]
    fn a_body_of_exactly_the_cap_is_whole() {
        run(async {
            let buffered = buffer(payload(vec![chunk(7, 512), chunk(8, 512)]), 1024, LONG).await;
            assert_eq!(buffered.prefix().len(), 1024);
            assert!(!buffered.prefix().is_truncated());
            let (bytes, error) = drain(buffered.into_payload()).await;
            assert_eq!(bytes, [vec![7; 512], vec![8; 512]].concat());
            assert!(error.is_none());
        });
    }

    #[test]
    fn a_zero_cap_still_learns_whether_there_is_a_body() {
        run(async {
            let empty = buffer(payload(Vec::new()), 0, LONG).await;
            assert!(empty.prefix().is_empty() && !empty.prefix().is_truncated());
            assert!(matches!(empty.into_payload(), Payload::None));

            let some = buffer(payload(vec![chunk(5, 10)]), 0, LONG).await;
            assert!(some.prefix().is_empty() && some.prefix().is_truncated());
            assert_eq!(drain(some.into_payload()).await.0, vec![5; 10]);
        });
    }

    #[test]
    fn a_read_error_is_inspected_as_truncated_and_handed_on() {
        run(async {
            let chunks = vec![chunk(9, 100), Err(PayloadError::Incomplete(None))];
            let buffered = buffer(payload(chunks), 1024, LONG).await;
            assert_eq!(buffered.prefix().as_bytes(), &[9; 100][..]);
            assert!(buffered.prefix().is_truncated());
            let (bytes, error) = drain(buffered.into_payload()).await;
            assert_eq!(bytes, vec![9; 100]);
            assert!(matches!(error, Some(PayloadError::Incomplete(None))));
        });
    }
}
