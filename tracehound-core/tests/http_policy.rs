//! The HTTP policy the adapters share, without any server: client keys, signed verdicts,
//! redaction, the response mapping, dry-run and panics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly
#![allow(clippy::type_complexity)] // the case tables spell out their columns

use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::http::{
    Admission, ClientKeySource, Decision, Head, Headers, HttpConfig, HttpPolicy, Inspection,
    MissingKey, REDACTED, REDACTED_CARD, Refusal, Rejection, Request, SignedVerdict, VerdictStats,
};
use tracehound::{
    CanonicalForm, Category, Config, Outcome, RateLimitConfig, Severity, ThreatSignal, Tracehound,
    signature,
};

const NOW: u64 = 1_763_800_000;
const SECRET: &[u8] = b"test secret: 32 bytes of entropy";

struct List(Vec<(String, Vec<u8>)>);

impl List {
    fn new(pairs: &[(&str, &str)]) -> List {
        List(
            pairs
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
                .collect(),
        )
    }
}

impl Headers for List {
    fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8])) {
        for (n, v) in &self.0 {
            if n == name {
                each(v);
            }
        }
    }
}

fn tracehound(rate_limit: Option<RateLimitConfig>) -> Tracehound {
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit = rate_limit;
    Tracehound::builder()
        .config(config)
        .clock(ManualClock::new(Timestamp::from_unix_millis(NOW * 1000)))
        .build()
        .unwrap()
}

fn waf() -> SignedVerdict {
    SignedVerdict::new(SECRET.to_vec())
        .unwrap()
        .with_clock(ManualClock::new(Timestamp::from_unix_millis(NOW * 1000)))
}

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a List,
    peer: &str,
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        path,
        query,
        headers,
        peer: Some(peer.parse::<IpAddr>().unwrap()),
        body,
        body_truncated: false,
    }
}

/// The key the policy gives a flagged request, read from the quarantined receipt.
fn key_of(source: ClientKeySource, prefix: u8, headers: &[(&str, &str)], peer: &str) -> String {
    let th = tracehound(None);
    let mut config = HttpConfig::default();
    config.client_key = source;
    config.ipv6_prefix = prefix;
    let flag_all = |_: &Request<'_>| Some(ThreatSignal::new(Category::Injection, Severity::High));
    let policy = HttpPolicy::new(th.clone(), config, flag_all).unwrap();
    let headers = List::new(headers);
    let inspection = policy.inspect(&request("GET", "/", None, &headers, peer, b""));
    match inspection.outcome {
        Some(Outcome::Quarantined(receipt)) => receipt.source().as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_keys_come_from_the_configured_source_only() {
    let trusted = || ClientKeySource::RightmostForwardedFor {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap(), "192.0.2.1".parse().unwrap()],
    };
    let forwarded = || ClientKeySource::RightmostForwarded {
        trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
    };
    let past_the_bound: String = std::iter::once("203.0.113.9".to_owned())
        .chain((0..16).map(|i| format!("10.0.0.{i}")))
        .collect::<Vec<_>>()
        .join(", ");
    let past_the_bound_headers = [("x-forwarded-for", past_the_bound.as_str())];
    let all_trusted: String = (0..16)
        .map(|i| format!("10.0.0.{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let all_trusted_headers = [("x-forwarded-for", all_trusted.as_str())];
    let fifteen_hops: String = std::iter::once("6.6.6.6, 203.0.113.9".to_owned())
        .chain((0..15).map(|i| format!("10.0.0.{i}")))
        .collect::<Vec<_>>()
        .join(", ");
    let fifteen_hops_headers = [("x-forwarded-for", fifteen_hops.as_str())];
    let cases: Vec<(&str, ClientKeySource, &[(&str, &str)], &str, &str)> = vec![
        (
            "peer",
            ClientKeySource::Peer,
            &[],
            "198.51.100.7",
            "198.51.100.7",
        ),
        (
            "peer ignores X-Forwarded-For",
            ClientKeySource::Peer,
            &[("x-forwarded-for", "203.0.113.9")],
            "198.51.100.7",
            "198.51.100.7",
        ),
        (
            "untrusted peer: its X-Forwarded-For is ignored",
            trusted(),
            &[("x-forwarded-for", "203.0.113.9")],
            "198.51.100.7",
            "198.51.100.7",
        ),
        (
            "trusted proxy: the rightmost entry",
            trusted(),
            &[("x-forwarded-for", "1.2.3.4, 203.0.113.9")],
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "a spoofed leftmost entry changes nothing",
            trusted(),
            &[("x-forwarded-for", "6.6.6.6, 7.7.7.7, 203.0.113.9")],
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "trusted hops are skipped from the right",
            trusted(),
            &[(
                "x-forwarded-for",
                "6.6.6.6, 203.0.113.9, 10.9.9.9, 192.0.2.1",
            )],
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "several header lines form one list",
            trusted(),
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "a garbage rightmost entry is no key, never the proxy's",
            trusted(),
            &[("x-forwarded-for", "203.0.113.9, not-an-ip")],
            "10.1.2.3",
            "unknown",
        ),
        (
            "X-Forwarded-For with a port",
            trusted(),
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.9:4711")],
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "X-Forwarded-For IPv6 bare, bracketed, with a port, with a zone, quoted",
            trusted(),
            &[
                ("x-forwarded-for", "2001:db8:9::1"),
                ("x-forwarded-for", "[2001:db8:9::2]"),
                ("x-forwarded-for", "[2001:db8:9::3]:443, 10.0.0.9"),
            ],
            "10.1.2.3",
            "2001:db8:9::/64",
        ),
        (
            "X-Forwarded-For with a zone",
            trusted(),
            &[("x-forwarded-for", "fe80::1:2:3%eth0")],
            "10.1.2.3",
            "fe80::/64",
        ),
        (
            "X-Forwarded-For quoted",
            trusted(),
            &[("x-forwarded-for", "\"203.0.113.9\"")],
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "an empty entry from the proxy is no key",
            trusted(),
            &[("x-forwarded-for", "203.0.113.9, ")],
            "10.1.2.3",
            "unknown",
        ),
        (
            "a chain of trusted hops past the bound is no key",
            trusted(),
            &past_the_bound_headers,
            "10.1.2.3",
            "unknown",
        ),
        (
            "a whole chain of trusted hops within the bound: the leftmost",
            trusted(),
            &all_trusted_headers,
            "10.1.2.3",
            "10.0.0.0",
        ),
        (
            "the client within the bound behind fifteen trusted hops",
            trusted(),
            &fifteen_hops_headers,
            "10.1.2.3",
            "203.0.113.9",
        ),
        (
            "no header from a trusted proxy: the proxy",
            trusted(),
            &[],
            "10.1.2.3",
            "10.1.2.3",
        ),
        (
            "Forwarded for= with port and quotes",
            forwarded(),
            &[(
                "forwarded",
                "for=6.6.6.6, for=\"203.0.113.9:4711\";proto=https",
            )],
            "10.0.0.1",
            "203.0.113.9",
        ),
        (
            "Forwarded IPv6 in brackets, grouped by /64",
            forwarded(),
            &[("forwarded", "for=\"[2001:db8:1:2:3:4:5:6]:443\"")],
            "10.0.0.1",
            "2001:db8:1:2::/64",
        ),
        (
            "Forwarded obfuscated identifier: no key",
            forwarded(),
            &[("forwarded", "for=_hidden")],
            "10.0.0.1",
            "unknown",
        ),
        (
            "Forwarded unknown: no key",
            forwarded(),
            &[("forwarded", "for=203.0.113.9, for=unknown")],
            "10.0.0.1",
            "unknown",
        ),
        (
            "Forwarded quoted bracketed IPv6 without a port, with other parameters",
            forwarded(),
            &[(
                "forwarded",
                "for=6.6.6.6;proto=http, by=10.0.0.1;For=\"[2001:db8:5::1]\"",
            )],
            "10.0.0.1",
            "2001:db8:5::/64",
        ),
        (
            "IPv6 peers are grouped by prefix",
            ClientKeySource::Peer,
            &[],
            "2001:db8:aaaa:bbbb:1:2:3:4",
            "2001:db8:aaaa:bbbb::/64",
        ),
        (
            "IPv4-mapped peers are unmapped",
            ClientKeySource::Peer,
            &[],
            "::ffff:198.51.100.7",
            "198.51.100.7",
        ),
        (
            "a named header holding an address",
            ClientKeySource::Header("CF-Connecting-IP".into()),
            &[("cf-connecting-ip", " 203.0.113.9 ")],
            "10.0.0.1",
            "203.0.113.9",
        ),
        (
            "a named header holding a tenant id",
            ClientKeySource::Header("x-tenant".into()),
            &[("x-tenant", "acme")],
            "10.0.0.1",
            "acme",
        ),
        (
            "a function",
            ClientKeySource::Custom(Arc::new(|r: &Head<'_>| {
                Some(format!("{}-{}", r.method, r.path))
            })),
            &[],
            "10.0.0.1",
            "GET-/",
        ),
    ];
    for (name, source, headers, peer, want) in cases {
        assert_eq!(key_of(source, 64, headers, peer), want, "{name}");
    }
    // Unreadable entries are counted apart from plain missing keys.
    let th = tracehound(None);
    let mut config = HttpConfig::default();
    config.client_key = trusted();
    let policy = HttpPolicy::new(th, config, |_: &Request<'_>| None).unwrap();
    let garbage = List::new(&[("x-forwarded-for", "203.0.113.9, not-an-ip")]);
    let _ = policy.inspect(&request("GET", "/", None, &garbage, "10.1.2.3", b""));
    let _ = policy.inspect(&Request {
        peer: None,
        ..request("GET", "/", None, &garbage, "10.1.2.3", b"")
    });
    let stats = policy.stats();
    assert_eq!((stats.missing_keys, stats.unreadable_keys), (2, 1));
    assert_eq!(
        key_of(ClientKeySource::Peer, 48, &[], "2001:db8:aaaa:bbbb::1"),
        "2001:db8:aaaa::/48"
    );
    assert_eq!(
        key_of(ClientKeySource::Peer, 128, &[], "2001:db8::1"),
        "2001:db8::1"
    );
}

#[test]
fn missing_keys_follow_the_configured_policy() {
    let flag_all = |_: &Request<'_>| Some(ThreatSignal::new(Category::Injection, Severity::High));
    let headers = List::new(&[]);
    let keyless = Request {
        peer: None,
        ..request("GET", "/", None, &headers, "127.0.0.1", b"")
    };
    for (policy, want) in [
        (MissingKey::Shared, Some(403)),
        (MissingKey::Pass, None),
        (MissingKey::Reject(400), Some(400)),
    ] {
        let mut config = HttpConfig::default();
        config.missing_key = policy;
        let th = tracehound(None);
        let http = HttpPolicy::new(th.clone(), config, flag_all).unwrap();
        let inspection = http.inspect(&keyless);
        let status = match inspection.decision {
            Decision::Reject(r) => Some(r.status),
            _ => None,
        };
        assert_eq!(status, want, "{policy:?}");
        assert_eq!(http.stats().missing_keys, 1);
        if policy == MissingKey::Shared {
            assert_eq!(th.list()[0].source().as_str(), "unknown");
        }
    }
}

fn verdict_stats(
    headers: &[(&str, String)],
    method: &str,
    target: &str,
) -> (Option<u16>, VerdictStats) {
    let waf = waf();
    let th = tracehound(None);
    let policy = HttpPolicy::new(th, HttpConfig::default(), waf.clone()).unwrap();
    let headers = List(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
            .collect(),
    );
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let inspection = policy.inspect(&request(method, path, query, &headers, "198.51.100.7", b""));
    let status = match inspection.decision {
        Decision::Reject(r) => Some(r.status),
        Decision::Pass => None,
        _ => unreachable!(),
    };
    (status, waf.stats())
}

#[test]
fn only_signed_fresh_verdicts_for_this_request_are_believed() {
    let waf = waf();
    let sign =
        |method: &str, target: &str, ts: u64, c: &str, s: &str| waf.sign(method, target, ts, c, s);
    let valid = sign("POST", "/login?next=%2F", NOW - 10, "injection", "critical");
    let h = |v: String| vec![("tracehound-verdict", v)];
    let accepted = [1, 0, 0, 0];
    let forged = [0, 0, 0, 1];
    let stale = [0, 0, 1, 0];
    let malformed = [0, 1, 0, 0];
    let other_key = SignedVerdict::new(b"another secret, also 32 bytes!!!".to_vec()).unwrap();
    let cases: Vec<(&str, Vec<(&str, String)>, &str, &str, Option<u16>, [u64; 4])> = vec![
        (
            "valid",
            h(valid.clone()),
            "POST",
            "/login?next=%2F",
            Some(403),
            accepted,
        ),
        (
            "absent",
            vec![],
            "POST",
            "/login?next=%2F",
            None,
            [0, 0, 0, 0],
        ),
        (
            "another method",
            h(valid.clone()),
            "GET",
            "/login?next=%2F",
            None,
            forged,
        ),
        (
            "another path",
            h(valid.clone()),
            "POST",
            "/admin?next=%2F",
            None,
            forged,
        ),
        (
            "another query",
            h(valid.clone()),
            "POST",
            "/login?next=%2Fx",
            None,
            forged,
        ),
        ("no query", h(valid.clone()), "POST", "/login", None, forged),
        (
            "another secret",
            h(other_key.sign("POST", "/login?next=%2F", NOW, "injection", "critical")),
            "POST",
            "/login?next=%2F",
            None,
            forged,
        ),
        (
            "severity changed",
            h(valid.replace("severity=critical", "severity=low")),
            "POST",
            "/login?next=%2F",
            None,
            forged,
        ),
        (
            "stale",
            h(sign("GET", "/", NOW - 301, "injection", "high")),
            "GET",
            "/",
            None,
            stale,
        ),
        (
            "from the future",
            h(sign("GET", "/", NOW + 301, "injection", "high")),
            "GET",
            "/",
            None,
            stale,
        ),
        (
            "edge of the window",
            h(sign("GET", "/", NOW - 300, "ddos", "low")),
            "GET",
            "/",
            Some(403),
            accepted,
        ),
        (
            "garbage",
            h("category=injection".into()),
            "GET",
            "/",
            None,
            malformed,
        ),
        (
            "an unknown field after a verdict",
            h(format!(
                "{},extra=1",
                sign("GET", "/", NOW, "injection", "high")
            )),
            "GET",
            "/",
            Some(403),
            [1, 1, 0, 0],
        ),
        (
            "an unknown field inside a verdict",
            h(sign("GET", "/", NOW, "injection", "high").replace(",ts=", ",extra=1,ts=")),
            "GET",
            "/",
            None,
            [0, 2, 0, 0],
        ),
        (
            "a stray field before a valid verdict",
            h(format!(
                "category=spam,{}",
                sign("GET", "/", NOW, "injection", "high")
            )),
            "GET",
            "/",
            Some(403),
            [1, 1, 0, 0],
        ),
        (
            "a repeated field inside a verdict",
            h(sign("GET", "/", NOW, "injection", "high").replace(",ts=", ",severity=low,ts=")),
            "GET",
            "/",
            None,
            [0, 2, 0, 0],
        ),
        (
            "uppercase hex",
            h(sign("GET", "/", NOW, "injection", "high")
                .to_uppercase()
                .replace(
                    "CATEGORY=INJECTION,SEVERITY=HIGH,TS=",
                    "category=injection,severity=high,ts=",
                )
                .replace(",SIG=", ",sig=")),
            "GET",
            "/",
            Some(403),
            accepted,
        ),
        (
            "two verdict headers",
            vec![
                (
                    "tracehound-verdict",
                    sign("GET", "/", NOW, "injection", "high"),
                ),
                (
                    "tracehound-verdict",
                    sign("GET", "/", NOW, "injection", "high"),
                ),
            ],
            "GET",
            "/",
            Some(403),
            [2, 0, 0, 0],
        ),
        (
            "unknown severity",
            h(sign("GET", "/", NOW, "injection", "extreme")),
            "GET",
            "/",
            None,
            malformed,
        ),
    ];
    for (name, headers, method, target, want, stats) in cases {
        let (status, got) = verdict_stats(&headers, method, target);
        let got = [got.accepted, got.malformed, got.stale, got.forged];
        assert_eq!((status, got), (want, stats), "{name}");
    }
    assert!(SignedVerdict::new(b"short".to_vec()).is_err());
}

#[test]
fn evidence_is_described_and_redacted_before_hashing() {
    let th = tracehound(None);
    let flag = |_: &Request<'_>| Some(ThreatSignal::new(Category::Injection, Severity::High));
    let policy = HttpPolicy::new(th.clone(), HttpConfig::default(), flag).unwrap();
    let headers = List::new(&[
        ("Authorization", "Bearer secret-token"),
        ("Cookie", "session=abc"),
        ("User-Agent", "curl/8 card 4111 1111 1111 1111"),
        ("X-Not-Allowed", "dropped"),
        ("Content-Type", "application/json"),
    ]);
    let body = br#"{"user":"bob","password":"hunter2","card":{"Card-Number":"4111111111111111"},"note":"paid with 5500-0000-0000-0004","q":"' OR 1=1 --"}"#;
    let outcome = policy
        .inspect(&request(
            "POST",
            "/pay",
            Some("token=abc&q=1"),
            &headers,
            "198.51.100.7",
            body,
        ))
        .outcome;
    let Some(Outcome::Quarantined(receipt)) = outcome else {
        panic!("{outcome:?}")
    };
    let expected = json!({
        "method": "POST",
        "path": "/pay",
        "query": "token=[redacted]&q=1",
        "headers": {
            "authorization": REDACTED,
            "cookie": REDACTED,
            "user-agent": format!("curl/8 card {REDACTED_CARD}"),
            "content-type": "application/json",
        },
        "body": {
            "user": "bob",
            "password": REDACTED,
            "card": {"Card-Number": REDACTED},
            "note": format!("paid with {REDACTED_CARD}"),
            "q": "' OR 1=1 --",
        },
    });
    assert_eq!(
        *receipt.signature(),
        signature(Category::Injection, &expected, CanonicalForm::Jcs).unwrap()
    );

    // Text and binary bodies, and a truncated one (never parsed as JSON).
    for (body, truncated, want) in [
        (
            &b"plain 4111111111111111"[..],
            false,
            json!(format!("plain {REDACTED_CARD}")),
        ),
        (&[0xff, 0x00, 0x10][..], false, json!({"base64": "/wAQ"})),
        (&br#"{"a":1}"#[..], true, json!("{\"a\":1}")),
    ] {
        let th = tracehound(None);
        let policy = HttpPolicy::new(th, HttpConfig::default(), flag).unwrap();
        let none = List::new(&[]);
        let mut req = request("PUT", "/x", None, &none, "198.51.100.7", body);
        req.body_truncated = truncated;
        let Some(Outcome::Quarantined(receipt)) = policy.inspect(&req).outcome else {
            panic!()
        };
        let mut expected = json!({"method": "PUT", "path": "/x", "headers": {}, "body": want});
        if truncated {
            expected["body_truncated"] = Value::Bool(true);
        }
        assert_eq!(
            *receipt.signature(),
            signature(Category::Injection, &expected, CanonicalForm::Jcs).unwrap(),
            "{body:?}"
        );
    }
}

#[test]
fn outcomes_map_to_responses_and_dry_run_never_blocks() {
    let flag = |r: &Request<'_>| {
        (r.path != "/clean").then(|| ThreatSignal::new(Category::Injection, Severity::High))
    };
    let none = List::new(&[]);
    let status = |policy: &HttpPolicy, path: &str, body: &[u8]| match policy
        .inspect(&request("POST", path, None, &none, "198.51.100.7", body))
        .decision
    {
        Decision::Reject(r) => Some(r),
        _ => None,
    };
    let mut limited = RateLimitConfig::default();
    limited.requests = NonZeroU32::new(2).unwrap();
    limited.window = Duration::from_secs(5);
    limited.burst = NonZeroU32::new(2);
    limited.block = Duration::from_millis(100);
    let th = tracehound(Some(limited));
    let mut config = HttpConfig::default();
    config.rate_limit_headers = true;
    let policy = HttpPolicy::new(th, config, flag).unwrap();
    assert_eq!(status(&policy, "/clean", b""), None);
    let first = status(&policy, "/a", b"").unwrap();
    assert_eq!((first.status, first.body), (403, "forbidden\n"));
    let limited = status(&policy, "/a", b"").unwrap();
    assert_eq!(limited.status, 429);
    let header = |name| {
        limited
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("retry-after").as_deref(),
        Some("3"),
        "2.5 s rounds up"
    );
    assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header("x-ratelimit-limit").as_deref(), Some("2"));

    // 413, and every blocking outcome can be let through instead.
    let th = Tracehound::builder()
        .config({
            let mut c = Config::default();
            c.rate_limit = None;
            c.maintenance = None;
            c.max_payload_bytes = NonZeroUsize::new(256).unwrap();
            c
        })
        .build()
        .unwrap();
    let policy = HttpPolicy::new(th.clone(), HttpConfig::default(), flag).unwrap();
    let big = vec![b'x'; 1024];
    assert_eq!(status(&policy, "/big", &big).map(|r| r.status), Some(413));
    let mut config = HttpConfig::default();
    config.responses.quarantined = None;
    config.responses.payload_too_large = Some(400);
    let policy = HttpPolicy::new(th.clone(), config, flag).unwrap();
    assert_eq!(status(&policy, "/let-through", b""), None);
    assert_eq!(status(&policy, "/big", &big).map(|r| r.status), Some(400));
    assert_eq!(
        status(&policy, "/let-through", b"").map(|r| r.status),
        Some(403),
        "a known threat is Ignored, which still blocks"
    );

    // Dry run: recorded, counted, never blocked.
    let mut config = HttpConfig::default();
    config.dry_run = true;
    let policy = HttpPolicy::new(th.clone(), config, flag).unwrap();
    let inspection = policy.inspect(&request("GET", "/dry", None, &none, "198.51.100.7", b""));
    assert_eq!(inspection.decision, Decision::Pass);
    assert!(matches!(inspection.outcome, Some(Outcome::Quarantined(_))));
    assert_eq!(policy.stats().dry_run_passed, 1);
    assert_eq!(policy.stats().rejected, 0);

    let mut bad = HttpConfig::default();
    bad.responses.ignored = Some(200);
    assert!(HttpPolicy::new(th, bad, flag).is_err());
}

#[test]
fn a_panicking_detector_lets_the_request_through() {
    let th = tracehound(None);
    let policy = HttpPolicy::new(
        th,
        HttpConfig::default(),
        |_: &Request<'_>| -> Option<ThreatSignal> { panic!("detector bug") },
    )
    .unwrap();
    let none = List::new(&[]);
    let inspection = policy.inspect(&request("GET", "/", None, &none, "198.51.100.7", b""));
    assert_eq!(inspection.decision, Decision::Pass);
    assert!(inspection.outcome.is_none());
    assert_eq!(policy.stats().panics, 1);
    assert_eq!(policy.stats().requests, 1);
}

/// A policy with the verdict detector, and what it did with one request.
struct VerdictCase {
    status: Option<u16>,
    severity: Option<Severity>,
    stats: VerdictStats,
}

fn verdict_case(
    headers: &[(&str, String)],
    method: &str,
    target: &str,
    body: &[u8],
    body_truncated: bool,
) -> VerdictCase {
    let waf = waf();
    let th = tracehound(None);
    let policy = HttpPolicy::new(th.clone(), HttpConfig::default(), waf.clone()).unwrap();
    let headers = List::new(
        &headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let request = Request {
        body_truncated,
        ..request(method, path, query, &headers, "198.51.100.7", body)
    };
    let inspection = policy.inspect(&request);
    VerdictCase {
        status: inspection.decision.rejection().map(|r| r.status),
        severity: th.list().first().map(|r| r.severity()),
        stats: waf.stats(),
    }
}

#[test]
fn no_other_value_can_strip_or_cancel_a_valid_verdict() {
    let waf = waf();
    let valid = waf.sign("POST", "/login", NOW - 5, "injection", "high");
    let others: Vec<(&str, String)> = vec![
        ("garbage", "garbage".into()),
        ("empty", String::new()),
        ("spaces", "   ".into()),
        ("binary-ish", "\u{1}\u{7f}".into()),
        (
            "forged",
            waf.sign("POST", "/other", NOW, "injection", "high"),
        ),
        ("another secret", {
            let other = SignedVerdict::new(b"another secret, also 32 bytes!!!".to_vec()).unwrap();
            other.sign("POST", "/login", NOW, "ddos", "low")
        }),
        (
            "stale",
            waf.sign("POST", "/login", NOW - 3600, "injection", "high"),
        ),
        ("duplicate", valid.clone()),
        ("partial", "category=injection,severity=low".into()),
        ("dangling sig", "sig=00".into()),
        ("long", "x".repeat(10_000)),
    ];
    for (name, other) in &others {
        let layouts: Vec<(&str, Vec<(&str, String)>)> = vec![
            (
                "line before",
                vec![
                    ("tracehound-verdict", other.clone()),
                    ("tracehound-verdict", valid.clone()),
                ],
            ),
            (
                "line after",
                vec![
                    ("tracehound-verdict", valid.clone()),
                    ("tracehound-verdict", other.clone()),
                ],
            ),
            (
                "joined before",
                vec![("tracehound-verdict", format!("{other}, {valid}"))],
            ),
            (
                "joined after",
                vec![("tracehound-verdict", format!("{valid},{other}"))],
            ),
            (
                "joined without a space",
                vec![("tracehound-verdict", format!("{other},{valid}"))],
            ),
        ];
        for (layout, headers) in layouts {
            let case = verdict_case(&headers, "POST", "/login", b"", false);
            assert_eq!(case.status, Some(403), "{name}, {layout}");
            assert!(
                case.stats.accepted >= 1,
                "{name}, {layout}: {:?}",
                case.stats
            );
            let counted =
                case.stats.accepted + case.stats.malformed + case.stats.forged + case.stats.stale;
            assert!(
                counted >= 2,
                "{name}, {layout}: the other value is counted: {:?}",
                case.stats
            );
        }
    }
}

#[test]
fn several_valid_verdicts_resolve_to_the_highest_severity() {
    let waf = waf();
    let sign = |severity: &str| waf.sign("GET", "/a?b=c", NOW, "injection", severity);
    for order in [
        ["low", "critical", "medium"],
        ["critical", "low", "medium"],
        ["medium", "low", "critical"],
    ] {
        let joined = vec![("tracehound-verdict", order.map(sign).join(", "))];
        let lines: Vec<(&str, String)> = order
            .iter()
            .map(|s| ("tracehound-verdict", sign(s)))
            .collect();
        for headers in [joined, lines] {
            let case = verdict_case(&headers, "GET", "/a?b=c", b"", false);
            assert_eq!(case.status, Some(403));
            assert_eq!(case.severity, Some(Severity::Critical), "{order:?}");
            assert_eq!(case.stats.accepted, 3);
        }
    }
}

#[test]
fn verdicts_are_read_from_the_right_within_bounds() {
    let waf = waf();
    let valid = waf.sign("GET", "/", NOW, "injection", "high");
    let forged = waf.sign("GET", "/elsewhere", NOW, "injection", "high");
    // Eight forged verdicts before the gateway's: it is still the rightmost, and read.
    let mut headers: Vec<(&str, String)> = (0..20)
        .map(|_| ("tracehound-verdict", forged.clone()))
        .collect();
    headers.push(("tracehound-verdict", valid.clone()));
    let case = verdict_case(&headers, "GET", "/", b"", false);
    assert_eq!(case.status, Some(403));
    assert_eq!(
        (case.stats.accepted, case.stats.forged, case.stats.ignored),
        (1, 7, 13),
        "the last 8 lines are read, 8 verdicts checked"
    );
    let joined = vec![(
        "tracehound-verdict",
        format!("{}, {valid}", vec![forged.as_str(); 20].join(", ")),
    )];
    let case = verdict_case(&joined, "GET", "/", b"", false);
    assert_eq!(case.status, Some(403));
    assert_eq!((case.stats.accepted, case.stats.forged), (1, 7));
    // Something after the gateway's verdict can only come from the gateway side; past the
    // bound, a valid verdict is not read.
    let mut headers = vec![("tracehound-verdict", valid.clone())];
    headers.extend((0..8).map(|_| ("tracehound-verdict", forged.clone())));
    let case = verdict_case(&headers, "GET", "/", b"", false);
    assert_eq!(case.status, None);
    assert_eq!(
        (case.stats.accepted, case.stats.forged, case.stats.ignored),
        (0, 8, 1)
    );
}

#[test]
fn a_verdict_bound_to_a_body_holds_only_for_that_body() {
    let waf = waf();
    let body = br#"{"user":"admin","password":"' OR 1=1 --"}"#;
    let bound = waf.sign_with_body("POST", "/login", NOW, "injection", "critical", body);
    let h = |v: String| vec![("tracehound-verdict", v)];
    let stats = |c: &VerdictCase| {
        let s = c.stats;
        [
            s.accepted,
            s.malformed,
            s.forged,
            s.body_mismatch,
            s.body_unchecked,
        ]
    };
    let case = verdict_case(&h(bound.clone()), "POST", "/login", body, false);
    assert_eq!((case.status, stats(&case)), (Some(403), [1, 0, 0, 0, 0]));
    let case = verdict_case(
        &h(bound.clone()),
        "POST",
        "/login",
        b"{\"another\":\"body\"}",
        false,
    );
    assert_eq!(
        (case.status, stats(&case)),
        (None, [0, 0, 0, 1, 0]),
        "replayed with another body"
    );
    let case = verdict_case(&h(bound.clone()), "POST", "/login", b"", false);
    assert_eq!(
        (case.status, stats(&case)),
        (None, [0, 0, 0, 1, 0]),
        "replayed without a body"
    );
    let case = verdict_case(&h(bound.clone()), "POST", "/login", &body[..10], true);
    assert_eq!(
        (case.status, stats(&case)),
        (Some(403), [1, 0, 0, 0, 1]),
        "a body longer than the cap cannot be checked; the signed verdict still counts"
    );
    // The binding is signed: swapping in the hash of another body breaks the signature.
    let other = waf.sign_with_body("POST", "/login", NOW, "injection", "critical", b"x");
    let other_hash = other
        .split("body=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let ours = bound
        .split("body=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let swapped = bound.replace(ours, other_hash);
    let case = verdict_case(&h(swapped), "POST", "/login", b"x", false);
    assert_eq!((case.status, stats(&case)), (None, [0, 0, 1, 0, 0]));
    // Removing the binding breaks it too.
    let unbound = bound.replace(&format!(",body={ours}"), "");
    let case = verdict_case(&h(unbound), "POST", "/login", body, false);
    assert_eq!((case.status, stats(&case)), (None, [0, 0, 1, 0, 0]));
    // Upper-case hex in `sig`; a malformed binding.
    let upper_sig = {
        let (fields, sig) = bound.rsplit_once("sig=").unwrap();
        format!("{fields}sig={}", sig.to_uppercase())
    };
    let case = verdict_case(&h(upper_sig), "POST", "/login", body, false);
    assert_eq!((case.status, stats(&case)), (Some(403), [1, 0, 0, 0, 0]));
    let broken = bound.replace(ours, "zz");
    let case = verdict_case(&h(broken), "POST", "/login", body, false);
    assert_eq!((case.status, stats(&case)), (None, [0, 1, 0, 0, 0]));
}

#[test]
fn the_head_decides_what_needs_no_body() {
    let waf = waf();
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = NonZeroU32::new(1).unwrap();
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    let th = tracehound(Some(rate_limit));
    let policy = HttpPolicy::new(th.clone(), HttpConfig::default(), waf.clone()).unwrap();
    let none = List::new(&[]);
    let head = |headers| Head {
        method: "POST",
        path: "/upload",
        query: None,
        headers,
        peer: Some("198.51.100.9".parse().unwrap()),
        body_follows: true,
    };
    // No verdict: clean from the head alone, nothing to buffer.
    match policy.admit(&head(&none)) {
        Admission::Decided(inspection) => {
            assert_eq!(inspection.decision, Decision::Pass);
            assert_eq!(inspection.outcome, Some(Outcome::Clean));
        }
        other => panic!("{other:?}"),
    }
    // Over the quota: refused from the head alone, verdict or not.
    let marked = List::new(&[(
        "tracehound-verdict",
        &waf.sign("POST", "/upload", NOW, "injection", "high"),
    )]);
    for headers in [&none, &marked] {
        match policy.admit(&head(headers)) {
            Admission::Decided(inspection) => {
                let rejection = inspection.decision.rejection().unwrap();
                assert_eq!(rejection.status, 429);
                assert!(
                    rejection
                        .headers
                        .contains(&("connection", "close".to_owned())),
                    "the unread body ends the connection"
                );
                assert!(matches!(
                    inspection.outcome,
                    Some(Outcome::RateLimited { .. })
                ));
            }
            other => panic!("{other:?}"),
        }
    }
    let bodiless = Head {
        body_follows: false,
        ..head(&none)
    };
    let Admission::Decided(inspection) = policy.admit(&bodiless) else {
        panic!("refused from the head");
    };
    let rejection = inspection.decision.rejection().unwrap();
    assert!(
        !rejection.headers.iter().any(|(n, _)| *n == "connection"),
        "nothing unread"
    );
    assert_eq!(th.snapshot().outcomes.rate_limited, 3);
    assert_eq!(th.snapshot().outcomes.clean, 1);

    // A verdict on an admitted source: the body is awaited, counted while it is.
    let policy = HttpPolicy::new(tracehound(None), HttpConfig::default(), waf.clone()).unwrap();
    let Admission::ReadBody(ticket) = policy.admit(&head(&marked)) else {
        panic!("a marked request needs its body");
    };
    assert_eq!(policy.stats().reading_bodies, 1);
    let inspection = policy.inspect_body(ticket, &head(&marked).with_body(b"payload", false));
    assert_eq!(inspection.decision.rejection().map(|r| r.status), Some(403));
    assert_eq!(policy.stats().reading_bodies, 0);

    // A body that does not come in time: 408, the connection closed; nothing examined.
    let Admission::ReadBody(ticket) = policy.admit(&head(&marked)) else {
        panic!("a marked request needs its body");
    };
    let inspection = policy.body_timed_out(ticket);
    let rejection = inspection.decision.rejection().unwrap();
    assert_eq!(rejection.status, 408);
    assert!(
        rejection
            .headers
            .contains(&("connection", "close".to_owned()))
    );
    assert_eq!(inspection.outcome, None);
    // A ticket dropped unused (a client gone mid-body) leaves the gauge too.
    let Admission::ReadBody(ticket) = policy.admit(&head(&marked)) else {
        panic!("a marked request needs its body");
    };
    drop(ticket);
    let stats = policy.stats();
    assert_eq!(
        (stats.reading_bodies, stats.body_timeouts, stats.rejected),
        (0, 1, 2)
    );

    // Dry run serves a request whose body timed out.
    let mut config = HttpConfig::default();
    config.dry_run = true;
    let policy = HttpPolicy::new(tracehound(None), config, waf).unwrap();
    let Admission::ReadBody(ticket) = policy.admit(&head(&marked)) else {
        panic!("a marked request needs its body");
    };
    assert_eq!(policy.body_timed_out(ticket).decision, Decision::Pass);
    assert_eq!(policy.stats().dry_run_passed, 1);
}

#[test]
fn a_detector_that_reads_bodies_gets_every_body() {
    let flag_posts = |r: &Request<'_>| {
        (r.body == b"attack").then(|| ThreatSignal::new(Category::Injection, Severity::High))
    };
    let policy = HttpPolicy::new(tracehound(None), HttpConfig::default(), flag_posts).unwrap();
    let none = List::new(&[]);
    let head = Head {
        method: "POST",
        path: "/",
        query: None,
        headers: &none,
        peer: Some("198.51.100.9".parse().unwrap()),
        body_follows: true,
    };
    let Admission::ReadBody(ticket) = policy.admit(&head) else {
        panic!("a closure detector may read the body");
    };
    let inspection = policy.inspect_body(ticket, &head.with_body(b"attack", false));
    assert_eq!(inspection.decision.rejection().map(|r| r.status), Some(403));
}

#[test]
fn body_timeouts_are_validated() {
    let mut config = HttpConfig::default();
    config.body_timeout = Duration::ZERO;
    assert!(config.validate().is_err());
    config.body_timeout = Duration::from_secs(3601);
    assert!(config.validate().is_err());
    config.body_timeout = Duration::from_millis(1);
    assert!(config.validate().is_ok());
}

#[test]
fn a_grpc_call_is_refused_with_a_grpc_status() {
    let waf = waf();
    let mut rate_limit = RateLimitConfig::default();
    rate_limit.requests = NonZeroU32::new(1).unwrap();
    rate_limit.window = Duration::from_secs(60);
    rate_limit.block = Duration::from_secs(60);
    let policy = HttpPolicy::new(
        tracehound(Some(rate_limit)),
        HttpConfig::default(),
        waf.clone(),
    )
    .unwrap();
    let verdict = waf.sign("POST", "/shop.Cart/Add", NOW, "injection", "high");
    let grpc = List::new(&[
        ("content-type", "application/grpc+proto"),
        ("tracehound-verdict", &verdict),
    ]);
    let head = |headers| Head {
        method: "POST",
        path: "/shop.Cart/Add",
        query: None,
        headers,
        peer: Some("198.51.100.9".parse().unwrap()),
        body_follows: true,
    };
    let grpc_status = |inspection: Inspection| {
        let rejection = inspection.decision.rejection().cloned().unwrap();
        let header = |name: &str| {
            rejection
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            (rejection.status, rejection.body),
            (200, ""),
            "trailers-only"
        );
        assert_eq!(header("content-type").as_deref(), Some("application/grpc"));
        (
            header("grpc-status").unwrap(),
            header("grpc-message").unwrap(),
        )
    };
    let refused = policy.inspect(&head(&grpc).with_body(b"\0\0\0\0\x02hi", false));
    assert_eq!(
        grpc_status(refused),
        ("7".to_owned(), "forbidden".to_owned())
    );
    let Admission::Decided(limited) = policy.admit(&head(&grpc)) else {
        panic!("over the quota");
    };
    assert_eq!(
        grpc_status(limited),
        ("8".to_owned(), "too many requests".to_owned())
    );

    let policy = HttpPolicy::new(tracehound(None), HttpConfig::default(), waf).unwrap();
    let Admission::ReadBody(ticket) = policy.admit(&head(&grpc)) else {
        panic!("a marked call needs its body");
    };
    assert_eq!(grpc_status(policy.body_timed_out(ticket)).0, "4");
    // The same refusal to a plain HTTP request stays an HTTP status.
    let plain = List::new(&[
        ("content-type", "application/json"),
        ("tracehound-verdict", &verdict),
    ]);
    let refused = policy.inspect(&head(&plain).with_body(b"{}", false));
    assert_eq!(refused.decision.rejection().map(|r| r.status), Some(403));
}

/// What an adapter writes for `rejection`, as owned parts.
fn written(rejection: &Rejection) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    let refusal = Refusal::new(rejection);
    let headers = refusal
        .headers()
        .map(|(name, value)| (name, value.to_owned()))
        .collect();
    (refusal.status(), headers, refusal.body().to_vec())
}

#[test]
fn every_refusal_the_policy_makes_is_written_as_it_was_made() {
    const TEXT: (&str, &str) = ("content-type", "text/plain; charset=utf-8");
    let header = |(name, value): (&'static str, &str)| (name, value.to_owned());
    let flag = |r: &Request<'_>| {
        let severity = if r.path == "/low" {
            Severity::Low
        } else {
            Severity::Critical
        };
        Some(ThreatSignal::new(Category::Injection, severity))
    };
    let mut config = Config::default();
    config.maintenance = None;
    config.rate_limit.get_or_insert_default().requests = NonZeroU32::new(6).unwrap();
    config.rate_limit.get_or_insert_default().burst = NonZeroU32::new(6);
    config.rate_limit.get_or_insert_default().window = Duration::from_secs(60);
    config.rate_limit.get_or_insert_default().block = Duration::from_secs(30);
    config.quarantine.max_count = NonZeroUsize::new(1).unwrap();
    config.max_payload_bytes = NonZeroUsize::new(512).unwrap();
    config.max_depth = NonZeroUsize::new(6).unwrap();
    let th = Tracehound::builder()
        .config(config)
        .clock(ManualClock::new(Timestamp::from_unix_millis(NOW * 1000)))
        .build()
        .unwrap();
    let mut http = HttpConfig::default();
    http.responses.dropped = Some(507);
    http.responses.unencodable = Some(422);
    let policy = HttpPolicy::new(th, http, flag).unwrap();
    let plain = List::new(&[]);
    let grpc = List::new(&[("content-type", "application/grpc")]);
    let refuse = |headers: &List, path: &str, body: &[u8]| {
        let inspection =
            policy.inspect(&request("POST", path, None, headers, "198.51.100.7", body));
        let rejection = inspection.decision.rejection().cloned().unwrap();
        let parts = written(&rejection);
        // No refusal the policy makes needs the fallback: each is written as made.
        let made: Vec<_> = rejection.headers.clone();
        assert_eq!(
            parts,
            (rejection.status, made, rejection.body.as_bytes().to_vec())
        );
        parts
    };

    let quarantined = refuse(&plain, "/a", b"");
    assert_eq!(
        quarantined,
        (403, vec![header(TEXT)], b"forbidden\n".to_vec())
    );
    assert_eq!(
        refuse(&plain, "/a", b""),
        quarantined,
        "Ignored: already held"
    );
    let dropped = refuse(&plain, "/low", b"");
    assert_eq!(dropped, (507, vec![header(TEXT)], b"forbidden\n".to_vec()));
    let deep = br#"{"a":[[[[["deep"]]]]]}"#;
    let unencodable = refuse(&plain, "/deep", deep);
    assert_eq!(
        unencodable,
        (422, vec![header(TEXT)], b"forbidden\n".to_vec())
    );
    let too_large = refuse(&plain, "/big", &[b'x'; 1024]);
    assert_eq!(
        too_large,
        (413, vec![header(TEXT)], b"payload too large\n".to_vec())
    );
    let grpc_refused = refuse(&grpc, "/shop.Cart/Add", b"");
    assert_eq!(
        grpc_refused,
        (
            200,
            vec![
                header(("content-type", "application/grpc")),
                header(("grpc-status", "7")),
                header(("grpc-message", "forbidden")),
            ],
            Vec::new()
        ),
        "a gRPC trailers-only refusal"
    );
    // The sixth request used up the quota; the seventh is limited from its head, and its
    // unread body closes the connection.
    let limited = refuse(&plain, "/a", b"body");
    assert_eq!(
        limited,
        (
            429,
            vec![
                header(("retry-after", "30")),
                header(TEXT),
                header(("connection", "close")),
            ],
            b"too many requests\n".to_vec()
        )
    );
    let grpc_limited = refuse(&grpc, "/shop.Cart/Add", b"");
    assert_eq!(grpc_limited.0, 200);
    assert_eq!(
        grpc_limited.1,
        [
            header(("retry-after", "30")),
            header(("content-type", "application/grpc")),
            header(("grpc-status", "8")),
            header(("grpc-message", "too many requests")),
        ]
    );

    // A body that timed out, and a request without a client key.
    let mut http = HttpConfig::default();
    http.missing_key = MissingKey::Reject(401);
    let policy = HttpPolicy::new(tracehound(None), http, flag).unwrap();
    let head = |headers, peer: Option<IpAddr>, body_follows| Head {
        method: "POST",
        path: "/upload",
        query: None,
        headers,
        peer,
        body_follows,
    };
    let peer = Some("198.51.100.7".parse().unwrap());
    for (headers, expected) in [
        (
            &plain,
            (
                408,
                vec![header(("connection", "close")), header(TEXT)],
                b"request body too slow\n".to_vec(),
            ),
        ),
        (
            &grpc,
            (
                200,
                vec![
                    header(("connection", "close")),
                    header(("content-type", "application/grpc")),
                    header(("grpc-status", "4")),
                    header(("grpc-message", "request body too slow")),
                ],
                Vec::new(),
            ),
        ),
    ] {
        let Admission::ReadBody(ticket) = policy.admit(&head(headers, peer, true)) else {
            panic!("a body-reading detector awaits the body");
        };
        let inspection = policy.body_timed_out(ticket);
        assert_eq!(written(inspection.decision.rejection().unwrap()), expected);
    }
    for (body_follows, headers) in [
        (false, vec![]),
        (true, vec![header(("connection", "close"))]),
    ] {
        let Admission::Decided(inspection) = policy.admit(&head(&plain, None, body_follows)) else {
            panic!("no client key: refused from the head");
        };
        let expected = (401, headers, b"no client address\n".to_vec());
        assert_eq!(written(inspection.decision.rejection().unwrap()), expected);
    }
}

#[test]
fn a_refusal_that_is_not_valid_http_falls_back_and_loses_only_what_is_invalid() {
    let th = tracehound(None);
    let flag_all = |_: &Request<'_>| Some(ThreatSignal::new(Category::Injection, Severity::High));
    let policy = HttpPolicy::new(th, HttpConfig::default(), flag_all).unwrap();
    let none = List::new(&[]);
    let inspection = policy.inspect(&request("GET", "/", None, &none, "198.51.100.7", b""));
    let mut rejection = inspection.decision.rejection().cloned().unwrap();
    rejection.status = 1000;
    rejection
        .headers
        .insert(0, ("x-split", "a\r\nset-cookie: x=1".to_owned()));
    rejection.headers.push(("bad name", "1".to_owned()));
    rejection.headers.push(("x-kept", "1".to_owned()));
    assert_eq!(
        written(&rejection),
        (
            Refusal::FALLBACK_STATUS,
            vec![
                ("content-type", "text/plain; charset=utf-8".to_owned()),
                ("x-kept", "1".to_owned()),
            ],
            b"forbidden\n".to_vec()
        )
    );
    assert_eq!(Refusal::FALLBACK_STATUS, 403);
}
