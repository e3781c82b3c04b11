//! One hostile-client suite for every adapter: each function drives a real server over raw
//! sockets and asserts what any tracehound adapter must do.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{RawClient, Response, request_bytes};

/// Verdicts for one request (`GET` [`MARKED_TARGET`]) that the server's policy is keyed
/// to check.
#[derive(Debug, Clone)]
pub struct Marks {
    /// Signed with the server's secret, now.
    pub valid: String,
    /// Signed with the server's secret, for another target.
    pub forged: String,
    /// Signed with the server's secret, long ago.
    pub stale: String,
    /// Signed with another secret.
    pub other_key: String,
}

/// The request the [`Marks`] are for.
pub const MARKED_TARGET: &str = "/search?q=1%27%20OR%201%3D1";

/// One served request, the whole quota of a server allowing one a minute.
fn use_up_the_quota(addr: SocketAddr) -> io::Result<()> {
    let response = get(&mut RawClient::connect(addr)?, "/", &[])?;
    assert_eq!(
        response.head.status, 200,
        "the first request is within the quota"
    );
    Ok(())
}

fn get(client: &mut RawClient, target: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    let mut all = vec![("Host", "test"), ("Connection", "close")];
    all.extend_from_slice(headers);
    client.send(&request_bytes("GET", target, &all, b""))?;
    client.read_response()
}

/// A request carrying the valid verdict and any other value, in any arrangement (header
/// lines before or after it, joined with a comma before or after it, the name in any
/// letter case), is refused with 403 by a server whose policy believes that verdict.
/// Returns how many requests were sent.
pub fn no_value_strips_a_valid_verdict(addr: SocketAddr, marks: &Marks) -> io::Result<usize> {
    let valid = marks.valid.as_str();
    let others = [
        "garbage",
        "",
        " ",
        "category=injection",
        "category=injection,severity=low,ts=1,sig=00",
        marks.forged.as_str(),
        marks.stale.as_str(),
        marks.other_key.as_str(),
        valid,
    ];
    let names = [
        "Tracehound-Verdict",
        "tracehound-verdict",
        "TRACEHOUND-VERDICT",
        "TrAcEhOuNd-VeRdIcT",
    ];
    let mut sent = 0;
    for other in others {
        for (i, name) in names.iter().enumerate() {
            // The valid one under the canonical name; the other under every spelling.
            let canonical = names[(i + 1) % names.len()];
            let joined_before = format!("{other}, {valid}");
            let joined_after = format!("{valid},{other}");
            let layouts: [(&str, Vec<(&str, &str)>); 4] = [
                ("line before", vec![(name, other), (canonical, valid)]),
                ("line after", vec![(canonical, valid), (name, other)]),
                ("joined before", vec![(name, &joined_before)]),
                ("joined after", vec![(name, &joined_after)]),
            ];
            for (layout, headers) in layouts {
                let response = get(&mut RawClient::connect(addr)?, MARKED_TARGET, &headers)?;
                sent += 1;
                assert_eq!(
                    response.head.status, 403,
                    "{layout}, {name}: {other:?} must not strip the valid verdict"
                );
            }
        }
    }
    // And the baseline: the valid verdict alone is refused, nothing but hostile values pass.
    let response = get(
        &mut RawClient::connect(addr)?,
        MARKED_TARGET,
        &[("Tracehound-Verdict", valid)],
    )?;
    assert_eq!(response.head.status, 403);
    let hostile = [
        ("Tracehound-Verdict", marks.forged.as_str()),
        ("Tracehound-Verdict", "junk"),
    ];
    let response = get(&mut RawClient::connect(addr)?, MARKED_TARGET, &hostile)?;
    assert_eq!(response.head.status, 200, "only hostile values: unflagged");
    Ok(sent + 2)
}

/// Whether the adapter's server sends `100 Continue` before the middleware runs (actix-web
/// does, for every request that asks; hyper only when the body is first read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continue {
    /// Only once something reads the body.
    OnRead,
    /// Always, before any middleware runs.
    Always,
}

/// On a server that allows 127.0.0.1 one request a minute (the first request here uses it
/// up): a request with a large declared body gets 429 from its head alone, with or without `Expect: 100-continue`
/// and with or without a verdict, while the client has sent no body byte; with `OnRead`,
/// no `100 Continue` comes first.
pub fn a_limited_source_is_refused_from_its_head(
    addr: SocketAddr,
    marked_post: &str,
    server_continue: Continue,
) -> io::Result<()> {
    use_up_the_quota(addr)?;
    for expect in [true, false] {
        for verdict in [None, Some(marked_post)] {
            let mut headers = vec![("Host", "test"), ("Content-Length", "1048576")];
            if expect {
                headers.push(("Expect", "100-continue"));
            }
            if let Some(verdict) = verdict {
                headers.push(("Tracehound-Verdict", verdict));
            }
            let mut client = RawClient::connect(addr)?;
            client.send(&request_bytes("POST", "/echo", &headers, b""))?;
            let response = client.read_response()?;
            let case = format!("expect: {expect}, verdict: {}", verdict.is_some());
            assert_eq!(response.head.status, 429, "{case}");
            assert!(response.head.header("retry-after").is_some(), "{case}");
            assert_eq!(
                response.head.header("connection"),
                Some("close"),
                "{case}: body unread"
            );
            let continued = !response.interim.is_empty();
            match server_continue {
                Continue::OnRead => assert!(!continued, "{case}: no 100 Continue for a refusal"),
                Continue::Always => assert_eq!(continued, expect, "{case}"),
            }
        }
    }
    Ok(())
}

/// A request the detector cannot flag (no verdict) reaches a handler that ignores the
/// body without the body being awaited: the response comes although the declared body
/// was never sent, and with `OnRead`, without a `100 Continue`.
pub fn an_unmarked_request_does_not_wait_for_its_body(
    addr: SocketAddr,
    server_continue: Continue,
) -> io::Result<()> {
    for expect in [false, true] {
        let mut headers = vec![("Host", "test"), ("Content-Length", "100000")];
        if expect {
            headers.push(("Expect", "100-continue"));
        }
        let mut client = RawClient::connect(addr)?;
        client.send(&request_bytes("POST", "/ignore", &headers, b""))?;
        let response = client.read_response()?;
        assert_eq!(response.head.status, 200, "expect: {expect}");
        assert_eq!(response.body, b"ignored");
        if server_continue == Continue::OnRead {
            assert!(response.interim.is_empty(), "nothing asked for the body");
        }
    }
    Ok(())
}

/// A marked request whose body trickles in one byte every 200 ms gets 408 once the
/// server's body timeout (`timeout`) has passed, and its connection is closed.
pub fn a_trickled_body_gets_408(
    addr: SocketAddr,
    marked_post: &str,
    timeout: Duration,
) -> io::Result<()> {
    let mut client = RawClient::connect(addr)?;
    let headers = [
        ("Host", "test"),
        ("Content-Length", "100"),
        ("Tracehound-Verdict", marked_post),
    ];
    client.send(&request_bytes("POST", "/echo", &headers, b""))?;
    let started = Instant::now();
    let mut sent = 0;
    // The slow client: a byte, then a pause, until the server answers.
    while sent < 100 && client.silent_for(Duration::from_millis(200))? {
        client.send(b"x")?;
        sent += 1;
    }
    let response = client.read_response()?;
    let elapsed = started.elapsed();
    assert_eq!(
        response.head.status, 408,
        "after {sent} bytes in {elapsed:?}"
    );
    assert_eq!(response.head.header("connection"), Some("close"));
    assert!(
        elapsed >= timeout,
        "answered after {elapsed:?}, before the deadline"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(3),
        "answered only after {elapsed:?}"
    );
    assert!(sent < 100, "the deadline came before the body was complete");
    assert!(
        client.closed_within(Duration::from_secs(3))?,
        "the connection is closed"
    );
    Ok(())
}

/// `connections` marked requests that each send part of their body and stall all get 408
/// within the timeout (plus slack), none waits forever; then the server still answers.
pub fn stalled_bodies_are_all_released(
    addr: SocketAddr,
    marked_post: &str,
    connections: usize,
    timeout: Duration,
) -> io::Result<()> {
    let started = Instant::now();
    let headers = [
        ("Host", "test"),
        ("Content-Length", "1000000"),
        ("Tracehound-Verdict", marked_post),
    ];
    let head = request_bytes("POST", "/echo", &headers, &[b'y'; 16 * 1024]);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut client = RawClient::connect(addr)?;
        client.send(&head)?;
        clients.push(client);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let response = client.read_response()?;
        assert_eq!(response.head.status, 408, "connection {i}");
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < timeout + Duration::from_secs(5),
        "all answered only after {elapsed:?}"
    );
    drop(clients);
    // The server is still serving.
    let response = get(&mut RawClient::connect(addr)?, "/", &[])?;
    assert_eq!(response.head.status, 200);
    Ok(())
}

/// On a server that allows 127.0.0.1 one request a minute (the first request here uses it
/// up): a client that sends its body without asking (`Expect` absent), a moment after its head, as most clients do,
/// still reads its 429. (A server that refused from the head and closed the connection at
/// once would reset it while the body arrives, and the client would lose the answer.)
pub fn a_limited_client_that_sends_its_body_reads_its_answer(addr: SocketAddr) -> io::Result<()> {
    use_up_the_quota(addr)?;
    for len in [10usize, 4096, 60_000, 4_000_000] {
        let length = len.to_string();
        let headers = [("Host", "test"), ("Content-Length", length.as_str())];
        let mut client = RawClient::connect(addr)?;
        client.send(&request_bytes("POST", "/echo", &headers, b""))?;
        std::thread::sleep(Duration::from_millis(50));
        // The server may already have answered; a client writes its body regardless.
        let _ = client.send(&vec![b'z'; len]);
        let response = client.read_response()?;
        assert_eq!(response.head.status, 429, "a {len}-byte body");
    }
    Ok(())
}

/// The body [`a_body_bound_verdict_holds_only_for_its_body`] sends with `verdict`.
pub const BOUND_BODY: &[u8] = br#"{"q":"' OR 1=1 --"}"#;

/// A verdict for `POST /echo` bound to [`BOUND_BODY`] flags that request (403), and the
/// same verdict replayed with another body is not believed: the body is echoed back.
pub fn a_body_bound_verdict_holds_only_for_its_body(
    addr: SocketAddr,
    verdict: &str,
) -> io::Result<()> {
    let send = |body: &[u8]| -> io::Result<Response> {
        let len = body.len().to_string();
        let headers = [
            ("Host", "t"),
            ("Connection", "close"),
            ("Content-Length", len.as_str()),
            ("Tracehound-Verdict", verdict),
        ];
        let mut client = RawClient::connect(addr)?;
        client.send(&request_bytes("POST", "/echo", &headers, body))?;
        client.read_response()
    };
    assert_eq!(send(BOUND_BODY)?.head.status, 403);
    let other = br#"{"q":"the attacker's own body"}"#;
    let replayed = send(other)?;
    assert_eq!(
        replayed.head.status, 200,
        "a replay with another body is not believed"
    );
    assert_eq!(replayed.body, other);
    Ok(())
}
