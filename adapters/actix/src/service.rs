//! The middleware service: extract, inspect, and answer or pass on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpResponse};
use tracehound::http::{Admission, Decision, Head, HttpPolicy, Inspection, Refusal};

use crate::body;
use crate::headers::ActixHeaders;

/// The service [`Protect`](crate::Protect) wraps around the inner one; built by actix-web,
/// not by hand.
pub struct ProtectService<S> {
    service: Rc<S>,
    policy: Arc<HttpPolicy>,
}

impl<S> ProtectService<S> {
    pub(crate) fn new(service: Rc<S>, policy: Arc<HttpPolicy>) -> ProtectService<S> {
        ProtectService { service, policy }
    }
}

impl<S> fmt::Debug for ProtectService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The future of [`ProtectService::call`].
pub type ProtectFuture<B, E> = Pin<Box<dyn Future<Output = Result<ServiceResponse<B>, E>>>>;

impl<S, B> Service<ServiceRequest> for ProtectService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = S::Error;
    type Future = ProtectFuture<EitherBody<B>, S::Error>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let body_follows = !matches!(req.parts().1, Payload::None);
            let admission = policy.admit(&Head {
                body_follows,
                ..head(&req, &ActixHeaders(req.headers()))
            });
            let inspection = match admission {
                Admission::Decided(inspection) => inspection,
                Admission::ReadBody(ticket) => {
                    let cap = policy.max_body_bytes();
                    let body = body::buffer(req.take_payload(), cap, policy.body_timeout()).await;
                    let inspection = if body.timed_out {
                        policy.body_timed_out(ticket)
                    } else {
                        let headers = ActixHeaders(req.headers());
                        let request = head(&req, &headers).with_prefix(body.prefix());
                        policy.inspect_body(ticket, &request)
                    };
                    // A refused request's buffered bytes and unread body are dropped here.
                    if inspection.decision.rejection().is_none() {
                        req.set_payload(body.into_payload());
                    }
                    inspection
                }
            };
            match respond(&inspection.decision) {
                Some(refusal) => Ok(req.into_response(refusal).map_into_right_body()),
                None => {
                    req.extensions_mut().insert(inspection);
                    let response = service.call(req).await?;
                    Ok(response.map_into_left_body())
                }
            }
        })
    }
}

/// The head as the policy sees it: the request target exactly as received, and the TCP
/// peer (forwarding headers are the policy's business).
fn head<'a>(req: &'a ServiceRequest, headers: &'a ActixHeaders<'a>) -> Head<'a> {
    Head {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        headers,
        peer: req.peer_addr().map(|addr| addr.ip()),
        body_follows: true,
    }
}

/// The response for `decision`, or `None` to serve the request.
///
/// The one place a [`Decision`] becomes actix-web types, as the policy's [`Refusal`]
/// spells it.
fn respond(decision: &Decision) -> Option<HttpResponse> {
    let refusal = Refusal::new(decision.rejection()?);
    // `Refusal` only yields valid statuses and headers; these fallbacks satisfy the types.
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = HttpResponse::build(status);
    for (name, value) in refusal.headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.append_header((name, value));
        }
    }
    Some(response.body(refusal.body()))
}

/// The [`Inspection`] of a request that passed, as the handler finds it in the request's
/// extensions.
///
/// ```
/// use actix_web::HttpRequest;
/// use tracehound::Outcome;
/// use tracehound_actix::inspection;
///
/// async fn handler(req: HttpRequest) -> &'static str {
///     match inspection(&req).and_then(|i| i.outcome) {
///         Some(Outcome::Clean) => "clean",
///         Some(_) => "flagged, let through (dry run)",
///         None => "not inspected",
///     }
/// }
/// ```
pub fn inspection(req: &impl HttpMessage) -> Option<Inspection> {
    req.extensions().get::<Inspection>().cloned()
}
