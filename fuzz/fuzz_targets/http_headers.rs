//! Untrusted header values into the HTTP policy's parsers: `Tracehound-Verdict` (repeated,
//! comma-joined, any bytes), `X-Forwarded-For` and `Forwarded` from a trusted proxy.
//!
//! Beyond "never panics" (the policy would catch a panic, so its panic counter must stay
//! at zero):
//! - whatever the client's values, a valid verdict the gateway appends last (as its own
//!   header line) flags the request: nothing before it can strip it.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tracehound::clock::{ManualClock, Timestamp};
use tracehound::http::{
    ClientKeySource, Head, Headers, HttpConfig, HttpPolicy, SignedVerdict, VERDICT_HEADER,
};
use tracehound::Tracehound;

const NOW: u64 = 1_763_800_000;
const NAMES: [&str; 3] = [VERDICT_HEADER, "x-forwarded-for", "forwarded"];
const MAX_LINES: usize = 64;

struct Lines(Vec<(&'static str, Vec<u8>)>);

impl Headers for Lines {
    fn each_value(&self, name: &str, each: &mut dyn FnMut(&[u8])) {
        for (n, v) in &self.0 {
            if *n == name {
                each(v);
            }
        }
    }
}

fn setup() -> &'static (HttpPolicy, SignedVerdict) {
    static SETUP: OnceLock<(HttpPolicy, SignedVerdict)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let clock = ManualClock::new(Timestamp::from_unix_millis(NOW * 1000));
        let tracehound = Tracehound::builder()
            .rate_limit(None)
            .maintenance(None)
            .clock(clock.clone())
            .build()
            .expect("the fuzz configuration is valid");
        let waf = SignedVerdict::new(b"fuzzing secret, 32 bytes long!!!".to_vec())
            .expect("a long secret")
            .with_clock(clock);
        let mut config = HttpConfig::default();
        config.client_key = ClientKeySource::RightmostForwardedFor {
            trusted_proxies: vec!["10.0.0.0/8".parse().expect("a block")],
        };
        let policy = HttpPolicy::new(tracehound, config, waf.clone()).expect("valid");
        (policy, waf)
    })
}

fn head(headers: &Lines) -> Head<'_> {
    Head {
        method: "POST",
        path: "/login",
        query: Some("next=%2F"),
        headers,
        peer: Some("10.0.0.1".parse().expect("an address")),
        body_follows: true,
    }
}

fuzz_target!(|data: &[u8]| {
    let (policy, waf) = setup();
    let mut lines: Vec<(&'static str, Vec<u8>)> = data
        .split(|&b| b == b'\n')
        .take(MAX_LINES)
        .filter_map(|line| {
            let (&selector, value) = line.split_first()?;
            Some((NAMES[usize::from(selector) % NAMES.len()], value.to_vec()))
        })
        .collect();
    let client_only = Lines(lines.clone());
    let _ = policy.inspect(&head(&client_only).with_body(data, false));

    let before = policy.stats().rejected;
    lines.push((
        VERDICT_HEADER,
        waf.sign("POST", "/login?next=%2F", NOW, "injection", "high")
            .into_bytes(),
    ));
    let marked = Lines(lines);
    let inspection = policy.inspect(&head(&marked).with_body(data, false));
    assert!(
        inspection.decision.rejection().is_some(),
        "an appended valid verdict was stripped: {:?}",
        inspection.outcome
    );
    assert_eq!(policy.stats().rejected, before + 1);
    assert_eq!(policy.stats().panics, 0);
});
