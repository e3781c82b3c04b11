//! The layer in front of a real tonic gRPC server, called by a real tonic client over HTTP/2
//! on 127.0.0.1. The service is written by hand: prost messages derived in Rust, tonic's
//! `server::Grpc` and `client::Grpc` with the prost codec; no protoc, no build script.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::util::MapRequestLayer;
use tower_service::Service;
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{Config, RateLimitConfig, Tracehound};
use tracehound_tower::TracehoundLayer;

const SERVICE: &str = "tracehound.test.Echo";
const ECHO: &str = "/tracehound.test.Echo/Echo";

#[derive(Clone, PartialEq, prost::Message)]
struct EchoRequest {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(bytes = "vec", tag = "2")]
    blob: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EchoReply {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(bytes = "vec", tag = "2")]
    blob: Vec<u8>,
}

/// `tracehound.test.Echo`: one unary method that answers with what it received, or with
/// `INVALID_ARGUMENT` when the text is `"refuse"`. Records the blob size of every call it
/// handled.
#[derive(Clone, Default)]
struct EchoService {
    handled: Arc<Mutex<Vec<usize>>>,
}

impl NamedService for EchoService {
    const NAME: &'static str = SERVICE;
}

impl Service<http::Request<Body>> for EchoService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let handled = Arc::clone(&self.handled);
        Box::pin(async move {
            if request.uri().path() != ECHO {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let echo = tower::service_fn(move |call: tonic::Request<EchoRequest>| {
                let handled = Arc::clone(&handled);
                async move {
                    let EchoRequest { text, blob } = call.into_inner();
                    handled.lock().unwrap().push(blob.len());
                    if text == "refuse" {
                        return Err(Status::invalid_argument("refused by the handler"));
                    }
                    Ok(tonic::Response::new(EchoReply { text, blob }))
                }
            });
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<EchoReply, EchoRequest>::default());
            Ok(grpc.unary(echo, request).await)
        })
    }
}

/// tonic puts the peer address in a `TcpConnectInfo` extension; the layer reads a plain
/// `SocketAddr`, so a deployment copies it across in a layer in front.
fn peer_address(mut request: http::Request<Body>) -> http::Request<Body> {
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    if let Some(peer) = peer {
        request.extensions_mut().insert(peer);
    }
    request
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    policy: Arc<HttpPolicy>,
    waf: SignedVerdict,
    service: EchoService,
}

fn serve(rate_limit: Option<RateLimitConfig>, max_payload_bytes: usize, keyed: bool) -> Fixture {
    let waf = SignedVerdict::new(b"test secret: 32 bytes of entropy".to_vec()).unwrap();
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = rate_limit;
    config.max_payload_bytes = NonZeroUsize::new(max_payload_bytes).unwrap();
    let tracehound = Tracehound::builder().config(config).build().unwrap();
    let mut http = HttpConfig::default();
    http.max_body_bytes = 16 * 1024;
    let policy = Arc::new(HttpPolicy::new(tracehound, http, waf.clone()).unwrap());
    let service = EchoService::default();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let incoming = runtime
        .block_on(async { TcpIncoming::bind("127.0.0.1:0".parse().unwrap()) })
        .unwrap();
    let addr = incoming.local_addr().unwrap();
    let layer = TracehoundLayer::new(Arc::clone(&policy));
    let echo = service.clone();
    if keyed {
        let server = Server::builder()
            .layer(MapRequestLayer::new(peer_address))
            .layer(layer)
            .add_service(echo)
            .serve_with_incoming(incoming);
        runtime.spawn(server);
    } else {
        let server = Server::builder()
            .layer(layer)
            .add_service(echo)
            .serve_with_incoming(incoming);
        runtime.spawn(server);
    }
    Fixture {
        runtime,
        addr,
        policy,
        waf,
        service,
    }
}

impl Fixture {
    fn client(&self) -> tonic::client::Grpc<Channel> {
        let endpoint = Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .timeout(Duration::from_secs(10));
        let channel = self.runtime.block_on(endpoint.connect()).unwrap();
        tonic::client::Grpc::new(channel)
    }

    /// One `Echo` call, with a `tracehound-verdict` metadata entry if `verdict` is given.
    fn echo(
        &self,
        client: &mut tonic::client::Grpc<Channel>,
        text: &str,
        blob: Vec<u8>,
        verdict: Option<String>,
    ) -> Result<tonic::Response<EchoReply>, Status> {
        let mut request = tonic::Request::new(EchoRequest {
            text: text.to_owned(),
            blob,
        });
        if let Some(verdict) = verdict {
            request
                .metadata_mut()
                .insert("tracehound-verdict", verdict.parse().unwrap());
        }
        self.runtime.block_on(async {
            client.ready().await.unwrap();
            client
                .unary(
                    request,
                    PathAndQuery::from_static(ECHO),
                    ProstCodec::<EchoRequest, EchoReply>::default(),
                )
                .await
        })
    }

    /// A verdict the WAF signed for a call to `Echo` now.
    fn marking(&self, category: &str, severity: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // gRPC calls are POSTs to `/<package>.<Service>/<Method>`.
        self.waf.sign("POST", ECHO, now, category, severity)
    }

    fn handled(&self) -> Vec<usize> {
        self.service.handled.lock().unwrap().clone()
    }
}

fn quota(requests: u32) -> Option<RateLimitConfig> {
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = NonZeroU32::new(requests).unwrap();
    rate_limit.burst = None;
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    Some(rate_limit)
}

#[test]
fn a_clean_call_is_served_with_its_trailers_and_a_large_message_arrives_intact() {
    let fixture = serve(None, 64 * 1024, true);
    let mut client = fixture.client();

    let reply = fixture
        .echo(&mut client, "hello", b"small".to_vec(), None)
        .unwrap();
    assert_eq!(reply.get_ref().text, "hello");
    assert_eq!(reply.get_ref().blob, b"small");
    // A unary answer ends with `grpc-status: 0` in HTTP/2 trailers, after the message: the
    // client merges them into the metadata, and without them it reports UNKNOWN instead.
    assert_eq!(
        reply
            .metadata()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap()),
        Some("0")
    );

    // 100 KiB in one message, over `max_body_bytes` (16 KiB): the layer inspects the first
    // 16 KiB and the handler still receives the whole message, byte for byte.
    let blob: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8).collect();
    let reply = fixture
        .echo(&mut client, "large", blob.clone(), None)
        .unwrap();
    assert!(
        reply.get_ref().blob == blob,
        "the message changed on its way"
    );
    assert_eq!(fixture.handled(), [5, 100 * 1024]);

    // A status the handler chose (a trailers-only answer) reaches the client unchanged.
    let refused = fixture
        .echo(&mut client, "refuse", Vec::new(), None)
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.message(), "refused by the handler");

    let stats = fixture.policy.stats();
    assert_eq!(
        (stats.requests, stats.rejected, stats.missing_keys),
        (3, 0, 0)
    );
    assert!(fixture.policy.tracehound().list().is_empty());
}

#[test]
fn a_flagged_call_is_refused_and_its_evidence_quarantined() {
    let fixture = serve(None, 64 * 1024, true);
    let mut client = fixture.client();
    let marking = fixture.marking("injection", "high");

    let refused = fixture
        .echo(
            &mut client,
            "' OR 1=1 --",
            Vec::new(),
            Some(marking.clone()),
        )
        .unwrap_err();
    // A gRPC call's refusal is a gRPC status (trailers-only), which the client reports as
    // such: an HTTP 403 with a text body would reach it as INTERNAL.
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(refused.message(), "forbidden");
    assert!(fixture.handled().is_empty(), "the handler never saw it");

    let receipts = fixture.policy.tracehound().list();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].source().as_str(), "127.0.0.1");
    assert_eq!(receipts[0].signature().category().as_str(), "injection");
    assert!(
        fixture
            .policy
            .tracehound()
            .verify_evidence(receipts[0].signature())
            .is_ok()
    );

    // The same call again is a known threat: refused the same way, nothing new kept.
    let again = fixture
        .echo(&mut client, "' OR 1=1 --", Vec::new(), Some(marking))
        .unwrap_err();
    assert_eq!(again.code(), Code::PermissionDenied);
    assert_eq!(fixture.policy.tracehound().list().len(), 1);
    assert_eq!(fixture.policy.tracehound().snapshot().outcomes.ignored, 1);

    // A clean call on the same channel is still served.
    let reply = fixture.echo(&mut client, "fine", Vec::new(), None).unwrap();
    assert_eq!(reply.get_ref().text, "fine");
    assert_eq!(fixture.handled(), [0]);
}

#[test]
fn a_rate_limited_client_gets_a_status_and_is_not_served() {
    let fixture = serve(quota(3), 64 * 1024, true);
    let mut client = fixture.client();
    for n in 0..3 {
        fixture
            .echo(&mut client, &format!("call {n}"), Vec::new(), None)
            .unwrap();
    }
    let limited = fixture
        .echo(&mut client, "one too many", Vec::new(), None)
        .unwrap_err();
    // Over the quota: RESOURCE_EXHAUSTED, with the wait in `retry-after` metadata.
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert_eq!(limited.message(), "too many requests");
    let retry: u64 = limited
        .metadata()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(fixture.handled().len(), 3);
    assert_eq!(
        fixture.policy.tracehound().snapshot().outcomes.rate_limited,
        1
    );
}

#[test]
fn flagged_evidence_over_the_payload_cap_is_refused_as_too_large() {
    let fixture = serve(None, 256, true);
    let mut client = fixture.client();
    let marking = fixture.marking("malware", "critical");
    let refused = fixture
        .echo(&mut client, "upload", vec![7; 4096], Some(marking))
        .unwrap_err();
    // Evidence too large to keep: RESOURCE_EXHAUSTED, as gRPC says of oversized messages.
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(refused.message(), "payload too large");
    assert!(fixture.handled().is_empty());
    assert!(fixture.policy.tracehound().list().is_empty());
    assert_eq!(
        fixture
            .policy
            .tracehound()
            .snapshot()
            .outcomes
            .payload_too_large,
        1
    );
}

/// Without a layer that copies tonic's `TcpConnectInfo` into a `SocketAddr` extension, the
/// layer finds no peer address, and the policy's `missing_key` applies: by default every
/// tonic client then shares one key, so one client's flood rate-limits them all.
#[cfg(not(feature = "tonic"))]
#[test]
fn without_the_peer_address_tonic_calls_have_no_client_key() {
    let fixture = serve(None, 64 * 1024, false);
    let mut client = fixture.client();
    fixture.echo(&mut client, "a", Vec::new(), None).unwrap();
    let marking = fixture.marking("injection", "low");
    fixture
        .echo(&mut client, "b", Vec::new(), Some(marking))
        .unwrap_err();
    assert_eq!(fixture.policy.stats().missing_keys, 2);
    let receipts = fixture.policy.tracehound().list();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].source().as_str(), "unknown");
}

/// With the `tonic` feature the layer reads tonic's `TcpConnectInfo` itself: each client is
/// keyed by its address, with no layer in front.
#[cfg(feature = "tonic")]
#[test]
fn with_the_tonic_feature_calls_are_keyed_by_their_peer() {
    let fixture = serve(None, 64 * 1024, false);
    let mut client = fixture.client();
    let marking = fixture.marking("injection", "low");
    fixture
        .echo(&mut client, "b", Vec::new(), Some(marking))
        .unwrap_err();
    assert_eq!(fixture.policy.stats().missing_keys, 0);
    let receipts = fixture.policy.tracehound().list();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].source().as_str(), "127.0.0.1");
}
