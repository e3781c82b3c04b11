//! The server: an axum app behind the tracehound layer, on its own runtime.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use tracehound::http::HttpPolicy;
use tracehound_tower::TracehoundLayer;

/// The server runtime's worker threads.
pub(super) const SERVER_THREADS: usize = 2;

/// How long the server may take to finish its connections once asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The app the demo serves: a page, a search, a login and an API, behind the layer.
pub(super) fn app(policy: &Arc<HttpPolicy>) -> Router {
    async fn body_length(body: Bytes) -> String {
        format!("{}\n", body.len())
    }
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/search", get(|| async { "results" }))
        .route("/login", post(body_length))
        .route("/api/{*rest}", post(body_length))
        .layer(TracehoundLayer::new(Arc::clone(policy)))
}

/// The server: its runtime, address, and the way to stop it.
pub(super) struct Server {
    runtime: tokio::runtime::Runtime,
    pub(super) addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `app` on 127.0.0.1, on a port the system picks.
    pub(super) fn start(app: Router) -> Result<Server, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_THREADS)
            .thread_name("demo-server")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the server's address: {e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            runtime,
            addr,
            stop,
            task,
        })
    }

    /// Stops accepting, lets open connections finish, and drops the app (and with it the
    /// layer's handle on the `Tracehound`).
    pub(super) fn shut_down(self) -> Result<(), String> {
        let Server {
            runtime,
            stop,
            task,
            ..
        } = self;
        let _ = stop.send(());
        let served = runtime.block_on(async { tokio::time::timeout(SHUTDOWN_GRACE, task).await });
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
        match served {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("the server failed: {e}")),
            Ok(Err(e)) => Err(format!("the server task failed: {e}")),
            Err(_) => Err(format!(
                "the server did not shut down within {} s",
                SHUTDOWN_GRACE.as_secs()
            )),
        }
    }
}
