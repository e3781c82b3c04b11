//! The server `benches/http-load.sh` loads: a hello handler on axum or actix-web, bare or
//! behind the tracehound middleware, so the two can be compared in the same run.
//!
//! ```text
//! http-bench-server --framework axum|actix --layer on|off --addr 127.0.0.1:PORT --workers N
//! ```
//!
//! Every path answers `hello` (`/` has its own route; anything else, such as
//! `/search?q=...`, reaches a fallback with the same handler). It listens on loopback
//! addresses only, prints `listening on http://ADDR` once bound (port 0 picks a free one),
//! and stops on SIGTERM or Ctrl-C. With `--layer on`, it then prints one line of counters:
//!
//! ```text
//! tracehound-stats: requests=.. rejected=.. panics=.. verdicts_accepted=.. verdicts_forged=.. verdicts_stale=.. verdicts_malformed=.. quarantined=..
//! ```
//!
//! The layer is a `Tracehound` with the default configuration except rate limiting, which
//! is off: all the load comes from 127.0.0.1, one source, which the default quota would
//! refuse after 100 requests. The detector is a `SignedVerdict` keyed by the
//! `TRACEHOUND_WAF_SECRET` environment variable (required with `--layer on`).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;

use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{Config, Tracehound};

const USAGE: &str = "usage: http-bench-server --framework axum|actix --layer on|off \
                     --addr 127.0.0.1:PORT --workers N";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("http-bench-server: {message}");
            ExitCode::from(2)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framework {
    Axum,
    Actix,
}

#[derive(Debug)]
struct Args {
    framework: Framework,
    layer: bool,
    addr: SocketAddr,
    workers: NonZeroUsize,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let (mut framework, mut layer, mut addr, mut workers) = (None, None, None, None);
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            match flag.as_str() {
                "--framework" => {
                    framework = Some(match value.as_str() {
                        "axum" => Framework::Axum,
                        "actix" => Framework::Actix,
                        _ => return Err(format!("unknown framework {value:?}\n{USAGE}")),
                    });
                }
                "--layer" => {
                    layer = Some(match value.as_str() {
                        "on" => true,
                        "off" => false,
                        _ => return Err(format!("--layer takes on or off\n{USAGE}")),
                    });
                }
                "--addr" => {
                    let parsed: SocketAddr =
                        value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
                    if !parsed.ip().is_loopback() {
                        return Err(format!(
                            "--addr {value}: a load-test server listens on loopback only"
                        ));
                    }
                    addr = Some(parsed);
                }
                "--workers" => {
                    workers = Some(
                        value
                            .parse()
                            .map_err(|e| format!("--workers {value}: {e}"))?,
                    );
                }
                _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
            }
        }
        Ok(Args {
            framework: framework.ok_or_else(|| format!("--framework is required\n{USAGE}"))?,
            layer: layer.ok_or_else(|| format!("--layer is required\n{USAGE}"))?,
            addr: addr.ok_or_else(|| format!("--addr is required\n{USAGE}"))?,
            workers: workers.ok_or_else(|| format!("--workers is required\n{USAGE}"))?,
        })
    }
}

/// The policy of `--layer on`, and a handle on its detector's counters.
struct Layer {
    policy: Arc<HttpPolicy>,
    verdicts: SignedVerdict,
}

impl Layer {
    fn new() -> Result<Layer, String> {
        let secret = std::env::var_os("TRACEHOUND_WAF_SECRET").ok_or(
            "--layer on needs TRACEHOUND_WAF_SECRET (the secret verdicts are signed with)",
        )?;
        let verdicts = SignedVerdict::new(secret.into_encoded_bytes())
            .map_err(|e| format!("TRACEHOUND_WAF_SECRET: {e}"))?;
        let mut config = Config::default();
        config.rate_limit = None;
        let tracehound = Tracehound::builder()
            .config(config)
            .build()
            .map_err(|e| format!("tracehound: {e}"))?;
        let policy = HttpPolicy::new(tracehound, HttpConfig::default(), verdicts.clone())
            .map_err(|e| format!("http policy: {e}"))?;
        Ok(Layer {
            policy: Arc::new(policy),
            verdicts,
        })
    }

    /// One line `http-load.sh` parses.
    fn report(&self) {
        let http = self.policy.stats();
        let verdicts = self.verdicts.stats();
        let quarantined = self.policy.tracehound().snapshot().quarantine.count;
        println!(
            "tracehound-stats: requests={} rejected={} panics={} verdicts_accepted={} \
             verdicts_forged={} verdicts_stale={} verdicts_malformed={} quarantined={}",
            http.requests,
            http.rejected,
            http.panics,
            verdicts.accepted,
            verdicts.forged,
            verdicts.stale,
            verdicts.malformed,
            quarantined,
        );
    }
}

fn run() -> Result<(), String> {
    let args = Args::parse(std::env::args().skip(1))?;
    let layer = if args.layer {
        Some(Layer::new()?)
    } else {
        None
    };
    let policy = layer.as_ref().map(|layer| Arc::clone(&layer.policy));
    match args.framework {
        Framework::Axum => serve_axum(&args, policy),
        Framework::Actix => serve_actix(&args, policy),
    }
    .map_err(|e| format!("{:?} server: {e}", args.framework))?;
    if let Some(layer) = layer {
        layer.report();
    }
    Ok(())
}

async fn hello() -> &'static str {
    "hello"
}

fn serve_axum(args: &Args, policy: Option<Arc<HttpPolicy>>) -> std::io::Result<()> {
    use axum::Router;
    use axum::routing::get;
    use tracehound_tower::TracehoundLayer;

    let routes = Router::new().route("/", get(hello)).fallback(hello);
    let app = match policy {
        Some(policy) => routes.layer(TracehoundLayer::new(policy)),
        None => routes,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.get())
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(terminated())
        .await
    })
}

/// Resolves on SIGTERM or Ctrl-C; never, if neither handler can be installed.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};

    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = term => {}
        () = interrupt => {}
    }
}

fn serve_actix(args: &Args, policy: Option<Arc<HttpPolicy>>) -> std::io::Result<()> {
    use actix_web::{App, HttpServer, web};
    use tracehound_actix::Protect;

    let (addr, workers) = (args.addr, args.workers.get());
    // actix-web stops gracefully on SIGTERM and Ctrl-C by itself; connections still open
    // then get one second to finish.
    actix_web::rt::System::new().block_on(async move {
        let server = match policy {
            Some(policy) => {
                let protect = Protect::new(policy);
                let bound = HttpServer::new(move || {
                    App::new()
                        .wrap(protect.clone())
                        .route("/", web::get().to(hello))
                        .default_service(web::to(hello))
                })
                .workers(workers)
                .shutdown_timeout(1)
                .bind(addr)?;
                announce(&bound.addrs());
                bound.run()
            }
            None => {
                let bound = HttpServer::new(|| {
                    App::new()
                        .route("/", web::get().to(hello))
                        .default_service(web::to(hello))
                })
                .workers(workers)
                .shutdown_timeout(1)
                .bind(addr)?;
                announce(&bound.addrs());
                bound.run()
            }
        };
        server.await
    })
}

fn announce(addrs: &[SocketAddr]) {
    for addr in addrs {
        println!("listening on http://{addr}");
    }
}
