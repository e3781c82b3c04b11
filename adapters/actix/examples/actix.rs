//! A small actix-web server protected by tracehound.
//!
//! ```text
//! TRACEHOUND_WAF_SECRET=<32 random bytes> cargo run --release -p tracehound-actix --example actix
//! curl -s 127.0.0.1:3000/                       # hello
//! curl -s -d 'some body' 127.0.0.1:3000/echo    # 9
//! ```
//!
//! Requests your WAF or gateway marked with a valid `Tracehound-Verdict` header (see
//! `tracehound::http::SignedVerdict` for the format) are refused with 403 and their redacted
//! evidence is quarantined; a source over its quota gets 429.
//!
//! Environment: `TRACEHOUND_ADDR` (default `127.0.0.1:3000`), `TRACEHOUND_WAF_SECRET` (the
//! secret verdicts are signed with, 16 bytes or more; 32 random bytes recommended).

use std::error::Error;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use tracehound::http::{HttpConfig, HttpPolicy, SignedVerdict};
use tracehound::{Config, RateLimitConfig, Tracehound};
use tracehound_actix::Protect;

async fn hello() -> &'static str {
    "hello"
}

async fn echo(body: web::Bytes) -> String {
    format!("{}\n", body.len())
}

/// The verdict secret from the environment, or a random one nobody else knows.
fn waf_secret() -> Result<Vec<u8>, Box<dyn Error>> {
    if let Some(secret) = std::env::var_os("TRACEHOUND_WAF_SECRET") {
        return Ok(secret.into_encoded_bytes());
    }
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret)?;
    println!(
        "TRACEHOUND_WAF_SECRET is not set: using a random secret, so no verdict can be \
         verified until it is set (to the secret your WAF signs with)"
    );
    Ok(secret)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::var("TRACEHOUND_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());

    let mut config = Config::default();
    // A browser loading one page fetches dozens of assets, and offices and mobile carriers
    // put many people behind one address: allow 6000 requests a minute per source (100 a
    // second sustained, bursts up to the whole quota), and refuse a source that exhausts it
    // for 60 seconds rather than the default five minutes.
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = NonZeroU32::try_from(6000)?;
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    config.rate_limit = Some(rate_limit);
    let tracehound = Tracehound::builder().config(config).build()?;

    let waf = SignedVerdict::new(waf_secret()?)?;
    let protect = Protect::new(HttpPolicy::new(tracehound, HttpConfig::default(), waf)?);

    let server = HttpServer::new(move || {
        App::new()
            .wrap(protect.clone())
            .route("/", web::get().to(hello))
            .route("/echo", web::post().to(echo))
    })
    .bind(&addr)?;
    for bound in server.addrs() {
        println!("listening on http://{bound}");
    }
    server.run().await?;
    Ok(())
}
