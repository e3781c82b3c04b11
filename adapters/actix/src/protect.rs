//! The middleware factory: what `App::wrap` takes.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use tracehound::http::HttpPolicy;

use crate::service::ProtectService;

/// actix-web middleware that runs every request through an [`HttpPolicy`]: wrap an `App`,
/// a `Scope` or a `Resource` with it.
///
/// Cloning is cheap and clones share the policy (its `Tracehound`, counters and
/// detector). See the [crate documentation](crate) for what it does.
///
/// ```
/// use actix_web::{App, web};
/// use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
/// use tracehound::Tracehound;
/// use tracehound_actix::Protect;
///
/// let waf = SignedVerdict::new(b"0123456789abcdef0123456789abcdef".to_vec())?;
/// let policy = HttpPolicy::new(Tracehound::builder().build()?, HttpConfig::default(), waf)?;
/// let protect = Protect::new(policy);
/// let app = App::new()
///     .wrap(protect.clone())
///     .route("/", web::get().to(|| async { "hello" }));
/// assert_eq!(protect.policy().stats().requests, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Protect {
    policy: Arc<HttpPolicy>,
}

impl Protect {
    /// Middleware applying `policy` (an [`HttpPolicy`] or an `Arc` of one, to keep a handle
    /// on its `Tracehound` and counters).
    pub fn new(policy: impl Into<Arc<HttpPolicy>>) -> Protect {
        Protect {
            policy: policy.into(),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &Arc<HttpPolicy> {
        &self.policy
    }
}

impl<S, B> Transform<S, ServiceRequest> for Protect
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = S::Error;
    type Transform = ProtectService<S>;
    type InitError = ();
    type Future = Ready<Result<ProtectService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ProtectService::new(
            Rc::new(service),
            Arc::clone(&self.policy),
        )))
    }
}
