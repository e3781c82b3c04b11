//! Running object_store's futures from synchronous callers on any thread.
//!
//! A future is spawned on the store's runtime and its result comes back over a std channel,
//! so the calling thread never enters that runtime: `block_on` from a thread that is already
//! inside some runtime would panic, and a plain channel wait does not care which runtime, if
//! any, the caller runs in.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tracehound::cold::ColdError;

use crate::OpenError;

/// How long one call waits for its answer before it reports the store unavailable. The
/// client's own timeouts (2 s to connect, 30 s per request, retries for 10 s) end network
/// calls well before this; it bounds what they do not, such as a hung local disk or a
/// runtime that has stopped running tasks.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(300);

/// The runtime the store's futures run on: one of its own, or one the caller lent it.
#[derive(Debug)]
pub(crate) struct Bridge {
    handle: Handle,
    /// Present when the runtime is ours; shut down without waiting when the store goes.
    owned: Option<Runtime>,
}

impl Bridge {
    /// A runtime of our own: one worker thread (object store calls are I/O-bound and few)
    /// and a few blocking threads for the local filesystem.
    pub(crate) fn owned() -> Result<Bridge, OpenError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("tracehound-cold")
            .enable_all()
            .build()
            .map_err(|e| OpenError::Runtime {
                message: format!("cannot start the runtime thread: {e}"),
            })?;
        Ok(Bridge {
            handle: runtime.handle().clone(),
            owned: Some(runtime),
        })
    }

    /// The caller's runtime, which must be multi-threaded: tasks on a current-thread runtime
    /// only run while its owner blocks on it, so our callers would wait on each other.
    pub(crate) fn borrowed(handle: Handle) -> Result<Bridge, OpenError> {
        if handle.runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Err(OpenError::Runtime {
                message: "a current-thread runtime cannot serve a synchronous store; pass a \
                          multi-thread runtime's handle, or let the store start its own"
                    .to_owned(),
            });
        }
        Ok(Bridge {
            handle,
            owned: None,
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn owns_runtime(&self) -> bool {
        self.owned.is_some()
    }

    /// Runs `future` on the runtime and waits for its result on this thread.
    /// `what` names the operation and key for the error if no answer comes.
    pub(crate) fn run<T, F>(&self, what: impl FnOnce() -> String, future: F) -> Result<T, ColdError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ColdError>> + Send + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            // The caller may have stopped waiting (deadline); nobody to tell then.
            let _ = sender.send(future.await);
        });
        receive(&receiver, what)
    }

    /// Runs `future`, which sends items over the channel it is given, and hands each item to
    /// `each` on this thread as it arrives (a listing does not wait for its last page).
    pub(crate) fn stream<T, F>(
        &self,
        what: impl Fn() -> String,
        future: impl FnOnce(mpsc::Sender<T>) -> F,
        mut each: impl FnMut(T),
    ) -> Result<(), ColdError>
    where
        T: Send + 'static,
        F: Future<Output = Result<(), ColdError>> + Send + 'static,
    {
        let (items, item_receiver) = mpsc::channel();
        let (done, done_receiver) = mpsc::sync_channel(1);
        let future = future(items);
        self.handle.spawn(async move {
            let _ = done.send(future.await);
        });
        // Items first, until the sender is dropped with the finished future; then the result.
        loop {
            match item_receiver.recv_timeout(CALL_DEADLINE) {
                Ok(item) => each(item),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(ColdError::unavailable(format!(
                        "{}: no answer within {} s",
                        what(),
                        CALL_DEADLINE.as_secs()
                    )));
                }
            }
        }
        receive(&done_receiver, what)
    }
}

fn receive<T>(
    receiver: &mpsc::Receiver<Result<T, ColdError>>,
    what: impl FnOnce() -> String,
) -> Result<T, ColdError> {
    match receiver.recv_timeout(CALL_DEADLINE) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ColdError::unavailable(format!(
            "{}: no answer within {} s",
            what(),
            CALL_DEADLINE.as_secs()
        ))),
        // The task was dropped unfinished: its runtime is shutting down.
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ColdError::unavailable(format!(
            "{}: the store's runtime has shut down",
            what()
        ))),
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which panics inside another runtime;
        // the store may well be dropped there.
        if let Some(runtime) = self.owned.take() {
            runtime.shutdown_background();
        }
    }
}
