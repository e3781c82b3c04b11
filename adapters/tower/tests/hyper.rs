//! The layer around a plain tower service served by hyper, which inserts the peer address as
//! a `SocketAddr` extension itself.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower_layer::Layer;
use tower_service::Service;
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{Config, Tracehound};
use tracehound_tower::{RequestBody, TracehoundLayer};

/// Answers with the body it received.
#[derive(Clone)]
struct Echo;

impl Service<Request<RequestBody<Incoming>>> for Echo {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody<Incoming>>) -> Self::Future {
        Box::pin(async move {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            Ok(Response::new(Full::new(body)))
        })
    }
}

#[test]
fn a_hyper_server_keys_by_the_socket_addr_extension_and_delivers_bodies() {
    let secret = b"test secret: 32 bytes of entropy".to_vec();
    let waf = SignedVerdict::new(secret).unwrap();
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = None;
    let tracehound = Tracehound::builder().config(config).build().unwrap();
    let mut http = HttpConfig::default();
    http.max_body_bytes = 16;
    let policy = Arc::new(HttpPolicy::new(tracehound, http, waf.clone()).unwrap());
    let service = TracehoundLayer::new(Arc::clone(&policy)).layer(Echo);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = service.clone();
            let hyper_service =
                hyper::service::service_fn(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(peer);
                    let mut service = service.clone();
                    async move {
                        poll_fn(|cx| service.poll_ready(cx)).await?;
                        service.call(request).await
                    }
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_service),
            );
        }
    });

    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let url = format!("http://{addr}/upload");
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut response = agent.post(&url).send(&body[..]).unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.body_mut().read_to_vec().unwrap() == body);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let marking = waf.sign("POST", "/upload", now, "malware", "critical");
    let response = agent
        .post(&url)
        .header("tracehound-verdict", &marking)
        .send(&body[..16])
        .unwrap();
    assert_eq!(response.status(), 403);
    let receipts = policy.tracehound().list();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].source().as_str(), "127.0.0.1");
    assert_eq!(policy.stats().missing_keys, 0);
}
