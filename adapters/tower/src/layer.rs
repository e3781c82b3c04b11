//! The layer: one policy, shared by every service it wraps.

use std::sync::Arc;

use tower_layer::Layer;
use tracehound::http::HttpPolicy;

use crate::service::TracehoundService;

/// A [`Layer`] that inspects every request with an [`HttpPolicy`].
///
/// Built from an `HttpPolicy` or an `Arc<HttpPolicy>` (keep a clone of the `Arc` to read
/// [`HttpPolicy::stats`] or the [`Tracehound`](tracehound::Tracehound) behind it). Cloning
/// the layer shares the policy, so every route wrapped by one `Router::layer` call is rate
/// limited and quarantined together.
#[derive(Debug, Clone)]
pub struct TracehoundLayer {
    policy: Arc<HttpPolicy>,
}

impl TracehoundLayer {
    /// A layer applying `policy`.
    pub fn new(policy: impl Into<Arc<HttpPolicy>>) -> Self {
        TracehoundLayer {
            policy: policy.into(),
        }
    }

    /// The policy requests are inspected with.
    pub fn policy(&self) -> &Arc<HttpPolicy> {
        &self.policy
    }
}

impl<S> Layer<S> for TracehoundLayer {
    type Service = TracehoundService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TracehoundService::new(inner, Arc::clone(&self.policy))
    }
}
