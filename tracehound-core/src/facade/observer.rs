//! A watching-only handle, for the parts that tell the security stack what happened (SIEM
//! sinks, metrics, admin endpoints): they read snapshots and subscribe to events, and can do
//! nothing else.

use std::sync::{Arc, Weak};

use crate::audit::VerifierKey;
use crate::error::Error;
use crate::events::Subscription;
use crate::snapshot::Snapshot;

use super::{Inner, Tracehound};

/// A read-only handle on a [`Tracehound`], from [`Tracehound::observer`]: snapshots, event
/// subscriptions and the audit log's verifier key. It cannot intercept, remove evidence or
/// touch the log, and it does not keep the `Tracehound` alive: once every `Tracehound`
/// handle is gone, its calls fail with [`Error::Closed`]. Cheap to clone; `Send + Sync`.
///
/// ```
/// use tracehound::{Error, Tracehound};
///
/// let tracehound = Tracehound::builder().build()?;
/// let observer = tracehound.observer();
/// let events = observer.subscribe(64)?;
/// assert_eq!(observer.snapshot()?.events.subscribers, 1);
///
/// drop(tracehound);
/// assert!(matches!(observer.snapshot(), Err(Error::Closed)));
/// // The subscription keeps what was published, then ends.
/// while events.recv().is_some() {}
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Observer {
    inner: Weak<Inner>,
}

impl Observer {
    fn inner(&self) -> Result<Arc<Inner>, Error> {
        self.inner.upgrade().ok_or(Error::Closed)
    }

    /// Every counter, at one moment.
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        Ok(self.inner()?.snapshot())
    }

    /// Subscribes to events, as [`Tracehound::subscribe`] does.
    pub fn subscribe(&self, capacity: usize) -> Result<Subscription, Error> {
        Ok(self.inner()?.bus.subscribe(capacity)?)
    }

    /// The key the audit log signs checkpoints with.
    pub fn verifier_key(&self) -> Result<VerifierKey, Error> {
        Ok(self.inner()?.verifier_key())
    }

    /// Whether the `Tracehound` is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.strong_count() == 0
    }
}

impl Tracehound {
    /// A watching-only handle that does not keep this `Tracehound` alive, for sinks and
    /// metrics that run beside it.
    pub fn observer(&self) -> Observer {
        Observer {
            inner: Arc::downgrade(&self.inner),
        }
    }
}
